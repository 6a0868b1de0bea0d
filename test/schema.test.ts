import { Testing } from 'cdk8s';
import { GaleraProxySqlChart, GaleraProxySqlChartProps } from '../src/galera-proxysql-chart';
import { SCHEMA_VERSION, schemaErrors } from './tools/schema';

function synth(props: GaleraProxySqlChartProps = {}): any[] {
  return Testing.synth(new GaleraProxySqlChart(Testing.app(), 'galera-proxysql', props));
}

const NON_DEFAULT: GaleraProxySqlChartProps = {
  namespace: 'shop',
  storage: { existingClassName: 'standard-rwo' },
  galera: { replicas: 5, antiAffinity: 'required', topologySpread: { topologyKey: 'topology.kubernetes.io/zone', maxSkew: 1, required: true } },
};

const EVERY_OPTION: GaleraProxySqlChartProps = {
  namespace: 'orders',
  createNamespace: false,
  storage: { preset: 'aws-ebs-gp3', reclaimPolicy: 'Delete', className: 'orders-gp3' },
  galera: {
    name: 'orders', replicas: 7, image: 'registry.example.com/mariadb:11.4.12', imagePullPolicy: 'Always', storageSize: '100Gi',
    accessMode: 'ReadWriteOncePod', resources: { cpuRequest: '2', cpuLimit: '4', memoryRequest: '4Gi', memoryLimit: '8Gi' },
    innodbBufferPoolSize: '4G', maxConnections: 2000, extraMyCnf: ['long_query_time=2'], providerOptions: { 'gcache.size': '2G' },
    secretName: 'orders-secrets', appUser: 'orders', appDatabase: 'orders', antiAffinity: 'none', topologySpread: { maxSkew: 2 },
    readyWhenDonor: true, sstSecondsPerGi: 30, clusterDomain: 'example.internal', terminationGracePeriodSeconds: 600,
  },
};

describe(`schema validation against the ${SCHEMA_VERSION}`, () => {
  test.each([
    ['the default chart', {}],
    ['a chart with 5 replicas, required anti-affinity, topology spread and an existing storage class', NON_DEFAULT],
    ['a chart with every Galera and storage option set', EVERY_OPTION],
  ])('every object of %s is valid', (_name, props) => {
    // GIVEN
    const manifests = synth(props as GaleraProxySqlChartProps);

    // WHEN
    const errors = manifests.map((m) => ({ object: `${m.kind}/${m.metadata?.name}`, errors: schemaErrors(m) }));

    // THEN
    expect(manifests.length).toBeGreaterThanOrEqual(7);
    expect(errors.filter((e) => e.errors.length > 0)).toEqual([]);
  });

  test('the non-default chart really has the settings that were validated', () => {
    // GIVEN / WHEN
    const manifests = synth(NON_DEFAULT);

    // THEN
    const sts = manifests.find((m) => m.kind === 'StatefulSet');
    expect(sts.spec.replicas).toBe(5);
    expect(sts.spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution).toBeDefined();
    expect(sts.spec.template.spec.topologySpreadConstraints).toHaveLength(1);
    expect(sts.spec.volumeClaimTemplates[0].spec.storageClassName).toBe('standard-rwo');
    expect(manifests.filter((m) => m.kind === 'StorageClass')).toEqual([]);
  });

  describe('rejects invalid objects', () => {
    const statefulSet = () => JSON.parse(JSON.stringify(synth().find((m) => m.kind === 'StatefulSet')));

    test('a StatefulSet with a string replica count, an unknown pod management policy and no selector', () => {
      // GIVEN
      const sts = statefulSet();
      sts.spec.replicas = 'three';
      sts.spec.podManagementPolicy = 'Sometimes';
      delete sts.spec.selector;

      // WHEN
      const errors = schemaErrors(sts);

      // THEN
      expect(errors).toEqual(expect.arrayContaining([
        expect.stringMatching(/spec\/replicas must be integer/),
        expect.stringMatching(/spec\/podManagementPolicy must be equal to one of the allowed values/),
        expect.stringMatching(/spec must have required property .?selector/),
      ]));
    });

    test('a container without a name and a probe with a fractional period', () => {
      // GIVEN
      const sts = statefulSet();
      delete sts.spec.template.spec.containers[0].name;
      sts.spec.template.spec.containers[0].readinessProbe.periodSeconds = 2.5;

      // WHEN
      const errors = schemaErrors(sts);

      // THEN
      expect(errors).toEqual(expect.arrayContaining([
        expect.stringMatching(/containers\/0 must have required property .?name/),
        expect.stringMatching(/readinessProbe\/periodSeconds must be integer/),
      ]));
    });

    test('a claim template with a malformed storage quantity', () => {
      // GIVEN
      const sts = statefulSet();
      sts.spec.volumeClaimTemplates[0].spec.resources.requests.storage = '10 gigabytes';

      // WHEN / THEN
      expect(schemaErrors(sts).join('\n')).toMatch(/volumeClaimTemplates\/0\/spec\/resources\/requests\/storage/);
    });

    test('a Service whose port is a string and a PodDisruptionBudget whose maxUnavailable is an object', () => {
      // GIVEN
      const manifests = synth();
      const svc = JSON.parse(JSON.stringify(manifests.find((m) => m.kind === 'Service')));
      svc.spec.ports[0].port = '3306';
      const pdb = JSON.parse(JSON.stringify(manifests.find((m) => m.kind === 'PodDisruptionBudget')));
      pdb.spec.maxUnavailable = { count: 1 };

      // WHEN / THEN
      expect(schemaErrors(svc).join('\n')).toMatch(/spec\/ports\/0\/port must be integer/);
      expect(schemaErrors(pdb).join('\n')).toMatch(/spec\/maxUnavailable/);
    });

    test('an API version that Kubernetes no longer serves, an unknown kind and a Service port without a number', () => {
      // GIVEN: policy/v1beta1 PodDisruptionBudget was removed in Kubernetes 1.25
      const pdb = { ...synth().find((m) => m.kind === 'PodDisruptionBudget'), apiVersion: 'policy/v1beta1' };

      // WHEN / THEN
      expect(schemaErrors(pdb)).toEqual(['policy/v1beta1 is not a GA API version']);
      expect(schemaErrors({ apiVersion: 'v1', kind: 'Sekret', metadata: { name: 'x' } })).toEqual(['v1/Sekret is not a type of the schema']);
      expect(schemaErrors({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'x' }, spec: { ports: [{ name: 'mysql' }] } }))
        .toEqual([expect.stringMatching(/spec\/ports\/0 must have required property .?port/)]);
    });
  });
});
