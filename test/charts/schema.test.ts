import { readFileSync } from 'fs';
import { join } from 'path';
import { Testing } from 'cdk8s';
import { parseAllDocuments } from 'yaml';
import { GaleraProxySqlChartProps } from '../../src/charts/galera-proxysql-chart';
import { chartForValues } from '../../src/cli/synth';
import { ValuesFile } from '../../src/values/values';
import { SCHEMA_VERSION, schemaErrors } from '../tools/schema';
import type { Manifest } from '../tools/manifest';

function synth(props: ValuesFile = {}): Manifest[] {
  return Testing.synth(chartForValues(Testing.app(), 'c', props));
}

const CRDS: GaleraProxySqlChartProps = {
  galera: { tls: { issuer: { name: 'cluster-ca', kind: 'ClusterIssuer' } } },
  monitoring: { enabled: true },
};

const NON_DEFAULT: GaleraProxySqlChartProps = {
  namespace: 'shop',
  storage: { existingClassName: 'standard-rwo' },
  galera: {
    replicas: 5, antiAffinity: 'required', topologySpread: { topologyKey: 'topology.kubernetes.io/zone', maxSkew: 1, required: true },
  },
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
    ['the default primary/replica chart (topology: replication)', { topology: 'replication' }],
    ['a chart with the custom resources (cert-manager Certificates, PodMonitors, a PrometheusRule)', CRDS],
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

  test('the charts validated have both topologies and the custom resources', () => {
    expect(synth({ topology: 'replication' }).find(
      (m) => m.kind === 'ConfigMap' && m.metadata.name === 'mariadb-proxysql-config',
    ).data['proxysql.cnf.tmpl']).toContain('mysql_replication_hostgroups');
    expect(synth(CRDS).map((m) => m.kind)).toEqual(expect.arrayContaining(['Certificate', 'PodMonitor', 'PrometheusRule']));
  });

  describe('rejects invalid objects', () => {
    test('the fixture of deliberately wrong objects fails with every wrong field named', () => {
      // GIVEN test/fixtures/schema/invalid-objects.yaml: a misspelt field, a wrong type, a field newer than 1.28, a misspelt CRD field
      const [sts, svc, podMonitor] = parseAllDocuments(
        readFileSync(join(__dirname, '..', 'fixtures', 'schema', 'invalid-objects.yaml'), 'utf8'),
      ).map((d) => d.toJSON());

      // WHEN / THEN
      expect(schemaErrors(sts)).toEqual([
        expect.stringMatching(/spec\/replicas must be integer/),
        '/spec/template/spec/containers/0/imagePullPolicyy is not a field of the schema (Kubernetes 1.33)',
        '/spec/template/spec/containers/0/imagePullPolicyy is not a field of the schema (Kubernetes 1.28)',
      ]);
      expect(schemaErrors(svc)).toEqual(['/spec/trafficDistribution is not a field of the schema (Kubernetes 1.28)']);
      expect(schemaErrors(podMonitor)).toEqual([
        expect.stringMatching(/spec must have required property .?podMetricsEndpoints/),
        '/spec/podMetricsEndpoint is not a field of the schema (@kubernetes-models/prometheus-operator)',
      ]);
    });

    test('the fixture is valid once its mistakes are corrected (labels and clusterIP are fields, not mistakes)', () => {
      // GIVEN
      const [sts, svc, podMonitor] = parseAllDocuments(
        readFileSync(join(__dirname, '..', 'fixtures', 'schema', 'invalid-objects.yaml'), 'utf8'),
      ).map((d) => d.toJSON());
      sts.spec.replicas = 3;
      const c = sts.spec.template.spec.containers[0];
      c.imagePullPolicy = c.imagePullPolicyy;
      delete c.imagePullPolicyy;
      delete svc.spec.trafficDistribution;
      podMonitor.spec.podMetricsEndpoints = podMonitor.spec.podMetricsEndpoint;
      delete podMonitor.spec.podMetricsEndpoint;

      // WHEN / THEN
      expect([sts, svc, podMonitor].map(schemaErrors)).toEqual([[], [], []]);
    });

    test('a misspelt field deep in a synthesized object is named with its path', () => {
      // GIVEN
      const sts = JSON.parse(JSON.stringify(synth().find((m) => m.kind === 'StatefulSet')));
      sts.spec.template.spec.containers[0].readinessProbe.exec.commands = sts.spec.template.spec.containers[0].readinessProbe.exec.command;
      sts.spec.volumeClaimTemplates[0].spec.storageClass = 'fast';

      // WHEN / THEN
      expect(schemaErrors(sts)).toEqual(expect.arrayContaining([
        '/spec/template/spec/containers/0/readinessProbe/exec/commands is not a field of the schema (Kubernetes 1.33)',
        '/spec/volumeClaimTemplates/0/spec/storageClass is not a field of the schema (Kubernetes 1.33)',
      ]));
    });

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
      expect(
        schemaErrors({ apiVersion: 'v1', kind: 'Sekret', metadata: { name: 'x' } }),
      ).toEqual(['v1/Sekret is not a type of the schema']);
      expect(schemaErrors({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'x' }, spec: { ports: [{ name: 'mysql' }] } }))
        .toEqual([expect.stringMatching(/spec\/ports\/0 must have required property .?port/)]);
    });
  });
});
