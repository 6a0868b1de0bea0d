import { Chart, Testing } from 'cdk8s';
import { Storage, StoragePreset, STORAGE_PRESETS } from '../../src/storage/storage';

function synth(props: ConstructorParameters<typeof Storage>[2], chart: Chart = Testing.chart()) {
  const storage = new Storage(chart, 'storage', props);
  const manifests = Testing.synth(chart);
  return { storage, manifests, classes: manifests.filter((m) => m.kind === 'StorageClass') };
}

/** Provisioners that create the volume only once the pod is scheduled, on the pod's node or zone. */
const WAIT_FOR_FIRST_CONSUMER: Record<StoragePreset, boolean> = {
  'microk8s-hostpath': false, // microk8s' hostpath provisioner ignores topology and provisions at once
  'aws-ebs-gp2': true,
  'aws-ebs-gp3': true,
  'gke-pd': true,
  'azure-disk': true,
  'local-path': true, // rancher local-path requires it
};

const PROVISIONERS: Record<StoragePreset, string> = {
  'microk8s-hostpath': 'microk8s.io/hostpath',
  'aws-ebs-gp2': 'ebs.csi.aws.com',
  'aws-ebs-gp3': 'ebs.csi.aws.com',
  'gke-pd': 'pd.csi.storage.gke.io',
  'azure-disk': 'disk.csi.azure.com',
  'local-path': 'rancher.io/local-path',
};

test('every preset is covered by this test', () => {
  // GIVEN / WHEN / THEN
  expect([...STORAGE_PRESETS].sort()).toEqual(Object.keys(WAIT_FOR_FIRST_CONSUMER).sort());
});

describe.each([...STORAGE_PRESETS])('preset %s', (preset) => {
  test('matches the snapshot', () => {
    // GIVEN / WHEN
    const { manifests } = synth({ preset });

    // THEN
    expect(manifests).toMatchSnapshot();
  });

  test('emits one StorageClass named <construct id>-<preset> with reclaimPolicy Retain', () => {
    // GIVEN / WHEN
    const { classes, storage } = synth({ preset });

    // THEN
    expect(classes).toHaveLength(1);
    const sc = classes[0];
    expect(sc.apiVersion).toBe('storage.k8s.io/v1');
    expect(sc.metadata.name).toBe(`storage-${preset}`);
    expect(storage.className).toBe(`storage-${preset}`);
    expect(storage.storageClass?.name).toBe(`storage-${preset}`);
    expect(sc.reclaimPolicy).toBe('Retain');
    expect(sc.provisioner).toBe(PROVISIONERS[preset]);
    expect(sc.metadata.labels['app.kubernetes.io/part-of']).toBe('galera-proxysql');
  });

  test(`volumeBindingMode is ${WAIT_FOR_FIRST_CONSUMER[preset] ? 'WaitForFirstConsumer' : 'Immediate'}`, () => {
    // GIVEN / WHEN
    const { classes } = synth({ preset });

    // THEN
    expect(classes[0].volumeBindingMode).toBe(WAIT_FOR_FIRST_CONSUMER[preset] ? 'WaitForFirstConsumer' : 'Immediate');
  });

  test('the StorageClass is cluster-scoped: no namespace even in a namespaced chart', () => {
    // GIVEN
    const app = Testing.app();
    const chart = new Chart(app, 'namespaced', { namespace: 'shop' });

    // WHEN
    const { classes } = synth({ preset }, chart);

    // THEN
    expect(classes[0].metadata.namespace).toBeUndefined();
  });
});

test('the default is the microk8s-hostpath preset', () => {
  // GIVEN / WHEN
  const { classes, storage } = synth({});

  // THEN
  expect(classes).toHaveLength(1);
  expect(classes[0].provisioner).toBe('microk8s.io/hostpath');
  expect(storage.className).toBe('storage-microk8s-hostpath');
});

test('cloud presets allow volume expansion, node-local ones do not', () => {
  // GIVEN / WHEN
  const expansion = Object.fromEntries(STORAGE_PRESETS.map((preset) => [preset, synth({ preset }).classes[0].allowVolumeExpansion]));

  // THEN
  expect(expansion).toEqual({
    'microk8s-hostpath': false, 'aws-ebs-gp2': true, 'aws-ebs-gp3': true, 'gke-pd': true, 'azure-disk': true, 'local-path': false,
  });
});

test('cloud presets set the disk type', () => {
  // GIVEN / WHEN / THEN
  expect(synth({ preset: 'aws-ebs-gp3' }).classes[0].parameters).toEqual({ type: 'gp3', fsType: 'ext4' });
  expect(synth({ preset: 'aws-ebs-gp2' }).classes[0].parameters).toEqual({ type: 'gp2', fsType: 'ext4' });
  expect(synth({ preset: 'gke-pd' }).classes[0].parameters).toEqual({ type: 'pd-balanced' });
  expect(synth({ preset: 'azure-disk' }).classes[0].parameters).toEqual({ skuname: 'StandardSSD_LRS' });
});

test('reclaimPolicy Delete and a custom class name', () => {
  // GIVEN / WHEN
  const { classes, storage } = synth({ preset: 'aws-ebs-gp3', reclaimPolicy: 'Delete', className: 'db-gp3' });

  // THEN
  expect(classes[0].reclaimPolicy).toBe('Delete');
  expect(classes[0].metadata.name).toBe('db-gp3');
  expect(storage.className).toBe('db-gp3');
});

test('an existing class emits no StorageClass and is the class name', () => {
  // GIVEN / WHEN
  const { manifests, storage } = synth({ existingClassName: 'standard-rwo' });

  // THEN
  expect(manifests).toEqual([]);
  expect(manifests).toMatchSnapshot();
  expect(storage.className).toBe('standard-rwo');
  expect(storage.storageClass).toBeUndefined();
});
