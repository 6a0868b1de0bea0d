import { join } from 'path';
import { ApiObject, App, Chart, Testing } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { GaleraBackup } from '../../src/backup/mariadb-backup';
import { GaleraCluster } from '../../src/galera/galera-cluster';
import { GaleraProxySql } from '../../src/charts/galera-proxysql';
import { GaleraProxySqlChart } from '../../src/charts/galera-proxysql-chart';
import { MariaDbReplication } from '../../src/replication/mariadb-replication';
import { GaleraMonitoring } from '../../src/monitoring/monitoring';
import { GaleraNetworkPolicies } from '../../src/network/network-policy';
import { ProxySql } from '../../src/proxysql/proxysql';
import { ReplicationProxySql } from '../../src/charts/replication-proxysql';
import { ReplicationProxySqlChart } from '../../src/charts/replication-proxysql-chart';
import { Storage } from '../../src/storage/storage';
import { chartForValues } from '../../src/cli/synth';
import { duplicateObjectNames } from '../../src/core/unique-names';
import { loadValues } from '../../src/values/values';
import type { Manifest } from '../tools/manifest';

// The constructs as a library user composes them: names from construct ids, collisions refused at
// synth time, namespaced charts, and policies that learn their ports from what they protect.

const key = (m: Manifest) => `${m.kind}/${m.metadata.namespace ?? '-'}/${m.metadata.name}`;

function synthApp(build: (app: App) => void): Manifest[] {
  const app = Testing.app();
  build(app);
  app.synth(); // runs the validations, as `cdk8s synth` and App.synth do
  return app.charts.flatMap((c) => c.toJson());
}

describe('names come from construct ids', () => {
  test('two GaleraProxySql in one namespace share no object name', () => {
    // GIVEN
    const manifests = synthApp((app) => {
      const chart = new Chart(app, 'db', { namespace: 'shop', disableResourceNameHashes: true });
      new GaleraProxySql(chart, 'orders');
      new GaleraProxySql(chart, 'users');
    });

    // WHEN
    const keys = manifests.map(key);

    // THEN
    expect(new Set(keys).size).toBe(keys.length);
    expect(keys).toEqual(expect.arrayContaining(['StatefulSet/shop/orders', 'StatefulSet/shop/users', 'Deployment/shop/orders-proxysql',
      'Deployment/shop/users-proxysql', 'ConfigMap/shop/orders-config', 'ConfigMap/shop/users-config',
      'StorageClass/-/orders-microk8s-hostpath',
      'StorageClass/-/users-microk8s-hostpath', 'NetworkPolicy/shop/orders', 'NetworkPolicy/shop/users']));
  });

  test('a construct id in camel case gives a kebab-case name; an id that gives no DNS label asks for a name', () => {
    // GIVEN
    const chart = Testing.chart();

    // WHEN
    const cluster = new GaleraCluster(chart, 'OrdersDb');

    // THEN
    expect(cluster.name).toBe('orders-db');
    expect(new MariaDbReplication(chart, 'Users_DB').name).toBe('users-db');
    expect(() => new GaleraCluster(chart, '---')).toThrow(
      /name is not set and the default derived from the construct id, "", is not a DNS-1123 label .*; set name/,
    );
  });

  test('two Storage constructs with the same preset and other reclaim policies get two StorageClasses', () => {
    // GIVEN / WHEN
    const manifests = synthApp((app) => {
      const chart = new Chart(app, 'c');
      new Storage(chart, 'fast', { preset: 'gke-pd', reclaimPolicy: 'Delete' });
      new Storage(chart, 'kept', { preset: 'gke-pd' });
    });

    // THEN
    expect(manifests.map((m) => [m.metadata.name, m.reclaimPolicy])).toEqual([['fast-gke-pd', 'Delete'], ['kept-gke-pd', 'Retain']]);
  });

  test('the primary/replica chart names its StorageClass after its database, not galera', () => {
    // GIVEN / WHEN
    const manifests = Testing.synth(new ReplicationProxySqlChart(Testing.app(), 'c'));

    // THEN
    expect(manifests.filter((m) => m.kind === 'StorageClass').map((m) => m.metadata.name)).toEqual(['mariadb-microk8s-hostpath']);
  });
});

describe('two objects with one name are refused at synth time', () => {
  test('two clusters given the same name in one namespace: the error names both constructs', () => {
    // GIVEN
    const app = Testing.app();
    const chart = new Chart(app, 'db', { namespace: 'shop' });
    new GaleraCluster(chart, 'orders', { name: 'main' });
    new GaleraCluster(chart, 'users', { name: 'main' });

    // WHEN / THEN
    expect(() => app.synth()).toThrow(
      /StatefulSet 'main' in namespace 'shop' is made twice, by db\/orders\/statefulset and by db\/users\/statefulset/,
    );
  });

  test('a StorageClass named twice collides across namespaces (it is cluster-scoped)', () => {
    // GIVEN
    const app = Testing.app();
    new Storage(new Chart(app, 'a', { namespace: 'one' }), 'storage', { className: 'fast' });
    new Storage(new Chart(app, 'b', { namespace: 'two' }), 'storage', { className: 'fast' });

    // WHEN / THEN
    expect(() => app.synth()).toThrow(
      /StorageClass 'fast' \(cluster-scoped\) is made twice, by a\/storage\/class and by b\/storage\/class/,
    );
  });

  test('the same name in two namespaces, or for two kinds, is no collision', () => {
    // GIVEN
    const app = Testing.app();
    new GaleraCluster(new Chart(app, 'a', { namespace: 'one' }), 'db');
    new GaleraCluster(new Chart(app, 'b', { namespace: 'two' }), 'db');

    // WHEN / THEN
    expect(duplicateObjectNames(app)).toEqual([]);
    expect(() => app.synth()).not.toThrow();
  });

  test('a user object that takes a name of the cluster is refused too', () => {
    // GIVEN
    const app = Testing.app();
    const chart = new GaleraProxySqlChart(app, 'db', { namespace: 'shop' });
    new ApiObject(chart, 'mine', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'galera-config' } });

    // WHEN / THEN
    expect(() => app.synth()).toThrow(
      /ConfigMap 'galera-config' in namespace 'shop' is made twice, by db\/galera\/galera\/config and by db\/mine/,
    );
  });
});

describe('the charts are namespaced charts', () => {
  test.each([
    ['GaleraProxySqlChart', (app: App) => new GaleraProxySqlChart(app, 'db', { namespace: 'shop' })],
    ['ReplicationProxySqlChart', (app: App) => new ReplicationProxySqlChart(app, 'db', { namespace: 'shop' })],
  ])('an object a user adds to %s lands in its namespace; cluster-scoped objects carry none', (_name, build) => {
    // GIVEN
    const app = Testing.app();
    const chart = build(app);

    // WHEN
    new ApiObject(chart, 'web', { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, spec: {} });
    const manifests = Testing.synth(chart);

    // THEN
    expect(manifests.find((m) => m.metadata.name === 'web').metadata.namespace).toBe('shop');
    for (const m of manifests) {
      if (['Namespace', 'StorageClass'].includes(m.kind)) expect(m.metadata.namespace).toBeUndefined();
      else expect(key(m)).toBe(`${m.kind}/shop/${m.metadata.name}`);
    }
  });
});

describe('topology is honoured or refused', () => {
  test('GaleraProxySqlChart refuses topology replication and names the chart that builds it', () => {
    expect(() => new GaleraProxySqlChart(Testing.app(), 'db', { topology: 'replication' } as never))
      .toThrow(/topology 'replication' is not built by GaleraProxySqlChart; use ReplicationProxySqlChart/);
  });

  test('ReplicationProxySqlChart refuses topology galera', () => {
    expect(() => new ReplicationProxySqlChart(Testing.app(), 'db', { topology: 'galera' } as never))
      .toThrow(/topology 'galera' is not built by ReplicationProxySqlChart; use GaleraProxySqlChart/);
  });

  test('a values file picks the chart of its topology', () => {
    // GIVEN / WHEN
    const chart = chartForValues(Testing.app(), 'c', { topology: 'replication' });

    // THEN
    expect(chart).toBeInstanceOf(ReplicationProxySqlChart);
    expect(Testing.synth(chart).filter((m) => m.kind === 'StatefulSet').map((m) => m.metadata.name)).toEqual(['mariadb']);
  });
});

describe('composition wires itself', () => {
  const values = loadValues({ GALERA_VALUES: join(__dirname, '..', '..', 'examples', 'production.yaml') });

  test('building examples/production.yaml by hand from the constructs gives the objects the chart gives', () => {
    // GIVEN the chart from the values file
    const fromValues = Testing.synth(new GaleraProxySqlChart(Testing.app(), 'db', values)).filter((m) => m.kind !== 'Namespace');

    // WHEN the same parts are composed one by one, each told only about the others
    const chart = new Chart(Testing.app(), 'db', { namespace: values.namespace, disableResourceNameHashes: true });
    const storage = new Storage(chart, 'storage', { ...values.storage, className: 'galera-aws-ebs-gp3' });
    const galera = new GaleraCluster(chart, 'galera', {
      ...values.galera, storageClassName: storage.className, backupEndpoint: true, metrics: { enabled: true },
    });
    const proxysql = new ProxySql(chart, 'proxysql', { ...values.proxysql, backend: galera, metrics: true });
    const { enabled: _b, ...backupProps } = values.backup!;
    const backup = new GaleraBackup(chart, 'backup', { ...backupProps, cluster: galera });
    const { enabled: _m, scrapers, ...monitoringProps } = values.monitoring!;
    new GaleraNetworkPolicies(chart, 'policies', { ...values.networkPolicy, galera, proxysql, backup, scrapers });
    new GaleraMonitoring(chart, 'monitoring', { ...monitoringProps, cluster: galera, proxysql, backup });
    const byHand = Testing.synth(chart);

    // THEN
    const sorted = (ms: Manifest[]) => [...ms].sort((a, b) => key(a).localeCompare(key(b)));
    expect(sorted(byHand).map(key)).toEqual(sorted(fromValues).map(key));
    expect(sorted(byHand)).toEqual(sorted(fromValues));
  });

  test('a policy built by hand opens the backup, metrics and restore-bucket ports the constructs expose', () => {
    // GIVEN
    const chart = Testing.chart();
    const galera = new GaleraCluster(chart, 'db', {
      backupEndpoint: true, metrics: { enabled: true }, restoreFrom: {
        backup: 'db-20261130T030000Z', s3: { bucket: 'db-backups', endpoint: 'https://s3.example.com:9000', secretName: 's3' },
      },
    });
    const proxysql = new ProxySql(chart, 'proxysql', { backend: galera, metrics: true });
    const backup = new GaleraBackup(chart, 'backup', { cluster: galera });

    // WHEN
    const policies = new GaleraNetworkPolicies(chart, 'policies', { galera, proxysql, backup });
    const [db, proxy] = [policies.galera!.toJson(), policies.proxysql!.toJson()];

    // THEN
    const ports = (rules: Manifest[]) => rules.flatMap((r) => r.ports.map((p: Manifest) => p.port)).sort((a: number, b: number) => a - b);
    expect(ports(db.spec.ingress)).toEqual(expect.arrayContaining([galera.backupEndpoint!.port, galera.metricsPort!]));
    expect(ports(db.spec.egress)).toContain(9000);
    expect(ports(proxy.spec.ingress)).toContain(proxysql.metricsPort!);
    const metricsRule = db.spec.ingress.find((r: Manifest) => r.ports.some((p: Manifest) => p.port === galera.metricsPort));
    expect(metricsRule.from).toEqual([{ namespaceSelector: {}, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } } }]);
  });

  test('a ReplicationProxySql nests in a user chart next to a GaleraProxySql', () => {
    // GIVEN / WHEN
    const manifests = synthApp((app) => {
      const chart = new Chart(app, 'db', { namespace: 'shop', disableResourceNameHashes: true });
      new GaleraProxySql(chart, 'orders');
      new ReplicationProxySql(chart, 'users');
    });

    // THEN
    expect(manifests.filter((m) => m.kind === 'StatefulSet').map((m) => m.metadata.name)).toEqual(['orders', 'users']);
    expect(manifests.filter((m) => m.kind === 'Deployment').map((m) => m.metadata.name)).toEqual(['orders-proxysql', 'users-proxysql']);
  });
});

describe('Services name their metrics ports', () => {
  test.each([
    ['on', { monitoring: { enabled: true } }, [['galera', 9104], ['galera-proxysql', 6070]]],
    ['off', {}, []],
  ])('with monitoring %s, a ServiceMonitor selecting the port named metrics finds %j', (_on, props, expected) => {
    // GIVEN / WHEN
    const services = Testing.synth(new GaleraProxySqlChart(Testing.app(), 'db', props)).filter((m) => m.kind === 'Service');

    // THEN: the headless Service (every pod) and ProxySQL's Service carry a port named metrics
    const named = services.flatMap((s) => s.spec.ports.filter((p: Manifest) => p.name === 'metrics').map((p: Manifest) => [
      s.metadata.name, p.port,
    ]));
    expect(named).toEqual(expected);
  });
});

describe('cdk8s-plus workloads connect to the constructs with their own API', () => {
  test('a cdk8s-plus Deployment allowed to ProxySQL and to a MariaDbReplication gets egress to exactly their pods', () => {
    // GIVEN
    const chart = new Chart(Testing.app(), 'shop', { namespace: 'shop', disableResourceNameHashes: true });
    const orders = new GaleraProxySql(chart, 'orders');
    const users = new ReplicationProxySql(chart, 'users');
    const web = new kplus.Deployment(chart, 'web', { containers: [{ image: 'registry.example.com/web:1.0.0', portNumber: 8080 }] });

    // WHEN
    web.connections.allowTo(orders.proxysql, { ports: [kplus.NetworkPolicyPort.tcp(3306)], isolation: kplus.PodConnectionsIsolation.POD });
    web.connections.allowTo(users.replication, {
      ports: [kplus.NetworkPolicyPort.tcp(3306)], isolation: kplus.PodConnectionsIsolation.POD,
    });
    const policies = Testing.synth(chart).filter((m) => m.kind === 'NetworkPolicy' && m.spec.egress?.some((e: Manifest) => e.to?.length));

    // THEN
    const egressTo = policies.flatMap((p) => p.spec.egress.flatMap(
      (e: Manifest) => e.to.map((t: Manifest) => ({ pods: t.podSelector.matchLabels, ns: t.namespaceSelector?.matchLabels })),
    ));
    expect(egressTo).toEqual(expect.arrayContaining([
      { pods: orders.proxysql.selectorLabels, ns: { 'kubernetes.io/metadata.name': 'shop' } },
      { pods: users.replication.selectorLabels, ns: { 'kubernetes.io/metadata.name': 'shop' } },
    ]));
  });
});
