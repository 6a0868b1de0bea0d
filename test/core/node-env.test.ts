import { readdirSync, readFileSync } from 'fs';
import { join } from 'path';
import { Chart, Testing } from 'cdk8s';
import { GaleraCluster, MariaDbReplication } from '../../src/index';

// One node library (scripts/common/node-lib.sh) and one environment contract for both topologies:
// the shared settings reach both pods under the same NODE_* names, at the same paths, and each
// ConfigMap ships the common scripts next to the topology's own (one flat directory).
const SCRIPTS = join(__dirname, '..', '..', 'scripts');

interface Env { name: string; value?: string }
interface Container { env: Env[]; volumeMounts: { name: string; mountPath: string }[] }
interface Pod { initContainers: Container[]; containers: Container[] }
interface Manifest { kind: string; spec: { template: { spec: Pod } }; data: Record<string, string> }

function podOf(topology: 'galera' | 'replication'): { pod: Pod; configMap: Manifest } {
  const chart = new Chart(Testing.app(), 'test', { namespace: 'db' });
  // TLS off on both (it is on by default on both): the settings without it
  if (topology === 'galera') new GaleraCluster(chart, 'db', { tls: { enabled: false } });
  else new MariaDbReplication(chart, 'db', { tls: { enabled: false } });
  const objects = Testing.synth(chart) as Manifest[];
  return {
    pod: objects.find((o) => o.kind === 'StatefulSet')!.spec.template.spec,
    configMap: objects.find((o) => o.kind === 'ConfigMap')!,
  };
}

const envOf = (c: Container): Record<string, string> =>
  Object.fromEntries(c.env.filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]));
const shared = (env: Record<string, string>) => Object.fromEntries(Object.entries(env).filter(([name]) => name.startsWith('NODE_')));

/** Function names a folder of scripts defines (`name() {` at the start of a line). */
function functionsOf(folder: string): Set<string> {
  const dir = join(SCRIPTS, folder);
  return new Set(readdirSync(dir).filter((f) => f.endsWith('.sh'))
    .flatMap((f) => [...readFileSync(join(dir, f), 'utf8').matchAll(/^([a-z_][a-z0-9_]*)\(\) \{/gm)].map((m) => m[1])));
}

describe('one environment contract for both topologies', () => {
  test('GIVEN both topologies, same name, no TLS WHEN synthesized THEN the node scripts get the same NODE_* settings and mounts', () => {
    // GIVEN / WHEN
    const galera = podOf('galera').pod;
    const replication = podOf('replication').pod;

    // THEN: every container that runs the node scripts, init included
    for (const pod of [galera, replication]) {
      for (const c of [...pod.initContainers, pod.containers[0]]) {
        expect(shared(envOf(c))).toEqual(shared(envOf(replication.containers[0])));
      }
    }
    expect(shared(envOf(galera.containers[0]))).toMatchObject({
      NODE_CONFIG_DIR: '/opt/mariadb', NODE_CREDENTIALS_DIR: '/etc/mariadb/credentials', NODE_RUNTIME_DIR: '/run/mariadb',
      NODE_DATA_DIR: '/var/lib/mysql', NODE_SOCKET: '/run/mysqld/mysqld.sock', NODE_SECRET_NAME: 'db-credentials', NODE_TLS: 'off',
    });
    const mounts = (pod: Pod) => pod.containers[0].volumeMounts.map((m) => `${m.name}:${m.mountPath}`).sort();
    expect(mounts(galera)).toEqual(mounts(replication));
    // no setting of the old per-topology names is left for a shared one
    const old = /^(GALERA|REPL)_(PEERS|STATE_PORT|SECRET_NAME|CONFIG_DIR|RUNTIME_DIR|DATA_DIR|APP_)/;
    for (const pod of [galera, replication]) expect(Object.keys(envOf(pod.containers[0])).filter((n) => old.test(n))).toEqual([]);
  });

  test.each(['galera', 'replication'] as const)('GIVEN %s WHEN synthesized THEN its ConfigMap holds the common scripts', (topology) => {
    // GIVEN / WHEN
    const { configMap } = podOf(topology);

    // THEN
    for (const file of ['log.sh', 'node-lib.sh', 'accounts.sh']) {
      expect(configMap.data[file]).toBe(readFileSync(join(SCRIPTS, 'common', file), 'utf8'));
    }
  });
});

describe('the topology folders keep only what differs', () => {
  test('GIVEN the scripts WHEN their functions are listed THEN no common one is defined again; the topologies share only main', () => {
    // GIVEN / WHEN
    const common = functionsOf('common');
    const galera = functionsOf('node');
    const replication = functionsOf('replication');

    // THEN
    expect([...galera, ...replication, ...functionsOf('backup')].filter((name) => common.has(name))).toEqual([]);
    expect([...galera].filter((name) => replication.has(name))).toEqual(['main']);
    expect(common.has('state_line') && common.has('initialize_datadir')).toBe(true);
  });
});
