import { Testing } from 'cdk8s';
import { GaleraProxySqlChart, GaleraProxySqlChartProps } from '../../src/charts/galera-proxysql-chart';
import type { Manifest } from '../tools/manifest';
import { ReplicationProxySqlChart, ReplicationProxySqlChartProps } from '../../src/charts/replication-proxysql-chart';

// The policies' shape; the cluster tests enforce them with nftables in every pod's network
// namespace and run every lifecycle scenario under them.

function policies(props: GaleraProxySqlChartProps = {}) {
  return byName(Testing.synth(new GaleraProxySqlChart(Testing.app(), 'test', props)));
}

function replicationPolicies(props: ReplicationProxySqlChartProps = {}) {
  return byName(Testing.synth(new ReplicationProxySqlChart(Testing.app(), 'test', props)));
}

function byName(manifests: Manifest[]): Record<string, Manifest> {
  const byName: Record<string, Manifest> = Object.fromEntries(
    manifests.filter((m) => m.kind === 'NetworkPolicy').map((m) => [m.metadata.name, m]),
  );
  return byName;
}

/** Every (from, port) pair an ingress list allows, as strings. */
function ingressPorts(policy: Manifest): Array<[string, number]> {
  return policy.spec.ingress.flatMap((rule: Manifest) => rule.from.flatMap(
    (f: Manifest) => rule.ports.map((p: Manifest) => [JSON.stringify(f), p.port] as [string, number]),
  ));
}

// (keys in the order cdk8s writes them: sorted)
const GALERA_PODS = JSON.stringify({
  podSelector: { matchLabels: { 'app.kubernetes.io/instance': 'galera', 'app.kubernetes.io/name': 'mariadb-galera' } },
});
const PROXYSQL_PODS = JSON.stringify({
  podSelector: { matchLabels: { 'app.kubernetes.io/instance': 'galera-proxysql', 'app.kubernetes.io/name': 'proxysql' } },
});

describe('NetworkPolicies, on by default', () => {
  const p = policies();

  test('one policy per workload, each denying ingress and egress it does not list', () => {
    expect(Object.keys(p).sort()).toEqual(['galera', 'galera-proxysql']);
    for (const policy of Object.values(p) as Manifest[]) {
      expect(policy.metadata.namespace).toBe('galera');
      expect(policy.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    }
  });

  test('Galera: replication, IST, SST and the state port from Galera pods only; 3306 from ProxySQL only', () => {
    expect(ingressPorts(p.galera).sort()).toEqual([
      [GALERA_PODS, 4444], [GALERA_PODS, 4567], [GALERA_PODS, 4568], [GALERA_PODS, 4569], [PROXYSQL_PODS, 3306],
    ].sort());
    expect(p.galera.spec.podSelector).toEqual(JSON.parse(GALERA_PODS).podSelector);
  });

  test('ProxySQL: the client port from every pod of the namespace; the admin port from nobody', () => {
    expect(ingressPorts(p['galera-proxysql'])).toEqual([[JSON.stringify({ podSelector: {} }), 6033]]);
    // egress: the nodes' SQL port and DNS, nothing else
    const egress = p['galera-proxysql'].spec.egress;
    expect(egress[0]).toEqual({ to: [JSON.parse(GALERA_PODS)], ports: [{ protocol: 'TCP', port: 3306 }] });
    expect(egress[1].ports).toEqual([{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }]);
    expect(egress[1].to).toEqual([{
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
      podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
    }]);
  });
});

describe('NetworkPolicies, configured', () => {
  test('clients and directClients name who may connect to ProxySQL and straight to the nodes', () => {
    // GIVEN
    const shop = { namespaceSelector: { matchLabels: { team: 'shop' } }, podSelector: { matchLabels: { app: 'web' } } }; // (sorted keys)
    const admin = { ipBlock: { cidr: '10.1.0.0/16' } };

    // WHEN
    const p = policies({ networkPolicy: { clients: [shop], directClients: [admin] } });

    // THEN
    expect(ingressPorts(p['galera-proxysql'])).toEqual([[JSON.stringify(shop), 6033]]);
    expect(ingressPorts(p.galera)).toContainEqual([JSON.stringify(admin), 3306]);
    expect(ingressPorts(p.galera)).toContainEqual([PROXYSQL_PODS, 3306]);
  });

  test('enabled: false emits none', () => {
    expect(policies({ networkPolicy: { enabled: false } })).toEqual({});
  });
});

describe('NetworkPolicies of the primary/replica topology, on by default', () => {
  // (keys in the order cdk8s writes them: sorted)
  const pods = (instance: string, name: string) => JSON.stringify({ podSelector: { matchLabels: {
    'app.kubernetes.io/instance': instance, 'app.kubernetes.io/name': name } } });
  const NODES = pods('mariadb', 'mariadb-replication');
  const PROXIES = pods('mariadb-proxysql', 'proxysql');
  const p = replicationPolicies();

  test('the nodes: the replication channel (3306), the clone stream and the state port between the nodes only; 3306 from ProxySQL', () => {
    expect(Object.keys(p).sort()).toEqual(['mariadb', 'mariadb-proxysql']);
    expect(ingressPorts(p.mariadb).sort()).toEqual([
      [NODES, 3306], [NODES, 4444], [NODES, 4569], [PROXIES, 3306],
    ].sort());
    // a replica connects out to its primary's 3306, a joiner to its donor's clone port, every node to the others' state port
    const peerPorts = [3306, 4444, 4569].map((port) => ({ protocol: 'TCP', port }));
    expect(p.mariadb.spec.egress[0]).toEqual({ to: [JSON.parse(NODES)], ports: peerPorts });
    expect(p.mariadb.spec.egress).toHaveLength(2); // and DNS
  });

  test('ProxySQL: out to the nodes\' 3306 only', () => {
    expect(p['mariadb-proxysql'].spec.egress[0]).toEqual({ to: [JSON.parse(NODES)], ports: [{ protocol: 'TCP', port: 3306 }] });
  });

  test('monitoring on: the exporters\' port from the scrapers, no other port opens', () => {
    const m = replicationPolicies({ monitoring: { enabled: true } });
    const scrapers = JSON.stringify({ namespaceSelector: {}, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } } });
    expect(ingressPorts(m.mariadb).sort()).toEqual([
      [NODES, 3306], [NODES, 4444], [NODES, 4569], [PROXIES, 3306], [scrapers, 9104],
    ].sort());
  });
});
