import { mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { ApiObject, Testing } from 'cdk8s';
import { GaleraProxySqlChart, GaleraProxySqlChartProps } from '../../src/charts/galera-proxysql-chart';
import { loadValues } from '../../src/values/values';
import type { Manifest } from '../tools/manifest';

const NODE_SCRIPTS = [
  'galera-lib.sh', 'galera-election.sh', 'galera-init.sh', 'galera-start.sh', 'galera-probe.sh', 'galera-state.sh', 'galera-sst.sh',
];
/** Scripts shared by every ConfigMap (scripts/common). */
const COMMON_SCRIPTS = ['log.sh', 'node-lib.sh', 'accounts.sh'];
const CHECKSUM_ANNOTATION = 'galera-proxysql/config-checksum';
const CLUSTER_SCOPED = new Set(['Namespace', 'StorageClass', 'PersistentVolume', 'ClusterRole', 'ClusterRoleBinding', 'PriorityClass']);

function synth(props: GaleraProxySqlChartProps = {}) {
  const chart = new GaleraProxySqlChart(Testing.app(), 'galera-proxysql', props);
  const manifests = Testing.synth(chart);
  // ProxySql is being rewritten separately: its objects are only counted here, not pinned.
  const proxysqlKeys = new Set(
    chart.proxysql.node.findAll().filter((c): c is ApiObject => c instanceof ApiObject).map((o) => `${o.kind}/${o.name}`),
  );
  const isProxySql = (m: Manifest) => proxysqlKeys.has(`${m.kind}/${m.metadata.name}`);
  const sts = manifests.find((m) => m.kind === 'StatefulSet' && m.metadata.name === chart.galera.name);
  return { chart, manifests, sts, proxysqlObjects: manifests.filter(isProxySql), ownObjects: manifests.filter((m) => !isProxySql(m)) };
}

/** Replaces the node scripts (edited separately, compared with the files in galera-cluster.test.ts) and their checksum with markers. */
function stable(manifests: Manifest[]): Manifest[] {
  return JSON.parse(JSON.stringify(manifests), function (this: Manifest, key: string, value: Manifest) {
    if (key === CHECKSUM_ANNOTATION) return '<sha256 of the ConfigMap data>';
    if (this && this['my.cnf'] !== undefined && NODE_SCRIPTS.includes(key)) return `<contents of scripts/node/${key}>`;
    if (this && this['my.cnf'] !== undefined && COMMON_SCRIPTS.includes(key)) return `<contents of scripts/common/${key}>`;
    return value;
  });
}

const kinds = (manifests: Manifest[]) => manifests.map((m) => `${m.kind}/${m.metadata.name}`).sort();

test('the default chart (without the ProxySQL objects) matches the snapshot', () => {
  // GIVEN / WHEN
  const { ownObjects } = synth();

  // THEN
  expect(kinds(ownObjects)).toEqual([
    'ConfigMap/galera-config', 'Namespace/galera', 'NetworkPolicy/galera', 'NetworkPolicy/galera-proxysql', 'PodDisruptionBudget/galera',
    'Service/galera',
    'Service/galera-direct', 'Service/galera-read', 'StatefulSet/galera', 'StorageClass/galera-microk8s-hostpath',
  ]);
  expect(stable(ownObjects)).toMatchSnapshot();
});

test('the chart includes ProxySQL in front of the Galera cluster', () => {
  // GIVEN / WHEN
  const { chart, proxysqlObjects } = synth();

  // THEN
  expect(chart.proxysql).toBeDefined();
  expect(proxysqlObjects.length).toBeGreaterThan(0);
  expect(proxysqlObjects.some((m) => ['Deployment', 'StatefulSet'].includes(m.kind))).toBe(true);
  expect(proxysqlObjects.some((m) => m.kind === 'Service')).toBe(true);
});

test('the default chart is a 3-node cluster in namespace galera on a Retain hostpath class', () => {
  // GIVEN / WHEN
  const { chart, manifests, sts } = synth();

  // THEN
  expect(chart.galera.replicas).toBe(3);
  expect(sts.spec.replicas).toBe(3);
  expect(manifests.filter((m) => m.kind === 'Namespace').map((m) => m.metadata.name)).toEqual(['galera']);
  const classes = manifests.filter((m) => m.kind === 'StorageClass');
  expect(classes).toHaveLength(1);
  expect(classes[0]).toMatchObject({ provisioner: 'microk8s.io/hostpath', reclaimPolicy: 'Retain' });
  expect(chart.galera.podDnsNames[0]).toBe('galera-0.galera.galera.svc.cluster.local');
});

test('object names are not hashed (peers and backends are addressed by name)', () => {
  // GIVEN / WHEN
  const { manifests } = synth();

  // THEN
  for (const m of manifests) expect(m.metadata.name).not.toMatch(/-c[0-9a-f]{7}$/);
});

test('every namespaced object is in the chart namespace', () => {
  // GIVEN / WHEN
  const { manifests } = synth({ namespace: 'shop' });

  // THEN
  for (const m of manifests.filter((o) => !CLUSTER_SCOPED.has(o.kind))) expect(m.metadata.namespace).toBe('shop');
});

test('cluster-scoped objects carry no namespace', () => {
  // GIVEN / WHEN
  const { manifests } = synth({ namespace: 'shop' });

  // THEN
  const clusterScoped = manifests.filter((o) => CLUSTER_SCOPED.has(o.kind));
  expect(clusterScoped.map((m) => m.kind).sort()).toEqual(['Namespace', 'StorageClass']);
  for (const m of clusterScoped) expect(m.metadata.namespace).toBeUndefined();
});

test('createNamespace false emits no Namespace', () => {
  // GIVEN / WHEN
  const { manifests } = synth({ namespace: 'shop', createNamespace: false });

  // THEN
  expect(manifests.filter((m) => m.kind === 'Namespace')).toEqual([]);
  expect(manifests.find((m) => m.kind === 'StatefulSet').metadata.namespace).toBe('shop');
});

test('the claim templates use the class of the storage preset', () => {
  // GIVEN / WHEN
  const { manifests, sts, chart } = synth({ storage: { preset: 'aws-ebs-gp3' } });

  // THEN
  const classes = manifests.filter((m) => m.kind === 'StorageClass');
  expect(classes.map((c) => c.metadata.name)).toEqual(['galera-aws-ebs-gp3']);
  expect(classes[0].volumeBindingMode).toBe('WaitForFirstConsumer');
  expect(sts.spec.volumeClaimTemplates[0].spec.storageClassName).toBe('galera-aws-ebs-gp3');
  expect(chart.storage.className).toBe('galera-aws-ebs-gp3');
});

test('an existing class emits no StorageClass and the claim templates use it', () => {
  // GIVEN / WHEN
  const { manifests, sts } = synth({ storage: { existingClassName: 'standard-rwo' } });

  // THEN
  expect(manifests.filter((m) => m.kind === 'StorageClass')).toEqual([]);
  expect(sts.spec.volumeClaimTemplates[0].spec.storageClassName).toBe('standard-rwo');
});

test('Galera settings flow from the chart props into the cluster', () => {
  // GIVEN / WHEN
  const { sts, chart } = synth({
    namespace: 'shop',
    galera: { name: 'orders', replicas: 5, antiAffinity: 'required', topologySpread: { required: true }, storageSize: '40Gi' },
  });

  // THEN
  expect(sts.metadata.name).toBe('orders');
  expect(sts.spec.replicas).toBe(5);
  expect(sts.spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution).toHaveLength(1);
  expect(sts.spec.template.spec.topologySpreadConstraints[0].whenUnsatisfiable).toBe('DoNotSchedule');
  expect(sts.spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBe('40Gi');
  expect(chart.galera.podDnsNames).toHaveLength(5);
  expect(chart.galera.podDnsNames[4]).toBe('orders-4.orders.shop.svc.cluster.local');
});

test('a values file drives the chart like the equivalent props', () => {
  // GIVEN
  const dir = mkdtempSync(join(tmpdir(), 'galera-values-'));
  const file = join(dir, 'values.yaml');
  writeFileSync(file, [
    'namespace: shop',
    'storage:',
    '  existingClassName: standard-rwo',
    'galera:',
    '  replicas: 5',
    '  antiAffinity: required',
    '  resources:',
    '    cpuLimit: "4"',
    '  extraMyCnf:',
    '    - long_query_time=2',
    '',
  ].join('\n'));

  try {
    // WHEN
    const fromFile = synth(loadValues({ GALERA_VALUES: file }, dir)).manifests;
    const fromProps = synth({
      namespace: 'shop', storage: { existingClassName: 'standard-rwo' },
      galera: { replicas: 5, antiAffinity: 'required', resources: { cpuLimit: '4' }, extraMyCnf: ['long_query_time=2'] },
    }).manifests;

    // THEN
    expect(fromFile).toEqual(fromProps);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('without GALERA_VALUES and without ./values.yaml the seed deployment is synthesized', () => {
  // GIVEN
  const dir = mkdtempSync(join(tmpdir(), 'galera-values-'));

  try {
    // WHEN
    const props = loadValues({}, dir);

    // THEN
    expect(props).toEqual({});
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('./values.yaml in the working directory is used when GALERA_VALUES is not set', () => {
  // GIVEN
  const dir = mkdtempSync(join(tmpdir(), 'galera-values-'));
  writeFileSync(join(dir, 'values.yaml'), 'galera:\n  replicas: 7\n');

  try {
    // WHEN
    const props = loadValues({}, dir);

    // THEN
    expect(props).toEqual({ galera: { replicas: 7 } });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
