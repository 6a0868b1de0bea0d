import { Chart, Testing } from 'cdk8s';
import { PodCluster, sqlIn, Workload } from '../../../harness/index';
import { DeclaredDatabase, DeclaredUser, GaleraCluster, MariaDbReplication, ProxySql } from '../../../src/index';
import { describeWithProxySql } from '../proxysql/proxysql-binary';
import { TEST_CREDENTIALS } from '../secrets';
import { waitFor } from '../wait';

// Declared users and databases (the users and databases props) on both topologies, as
// synthesized: the node that takes writes creates them from the ConfigMap's declaration and the
// password Secrets mounted as files, ProxySQL's mysql_users carries every one, and a rollout
// with a changed declaration drops the user it no longer names, adopts one an administrator
// made by hand, and leaves an account it never declared alone. Each topology establishes its
// own cluster (a fresh install, TLS off) and removes it afterwards.

jest.setTimeout(20 * 60_000);

const ALL = [0, 1, 2];
const SECRET = TEST_CREDENTIALS;
// the users' passwords: a quote and a backslash among them, as a Secret may hold
const USERS_SECRET = { reporter: `rep'orter-Pw\\7-long`, loader: 'loader-Pw_7-long-enough', legacy: 'legacy-Pw_7-long-enough' };

const DATABASES: DeclaredDatabase[] = [{ name: 'reports' }, { name: 'archive', characterSet: 'latin1', collation: 'latin1_swedish_ci' }];
const passwordOf = (key: keyof typeof USERS_SECRET) => ({ name: 'app-users', key });
const REPORTER: DeclaredUser = {
  name: 'reporter', passwordSecret: passwordOf('reporter'), grants: [{ privileges: ['SELECT'], database: 'reports' }], maxConnections: 5,
};
const LOADER: DeclaredUser = {
  name: 'loader', passwordSecret: passwordOf('loader'),
  grants: [{ privileges: ['SELECT', 'INSERT'], database: 'reports' }, { privileges: ['ALL PRIVILEGES'], database: 'archive' }],
};
const LEGACY: DeclaredUser = {
  name: 'legacy', passwordSecret: passwordOf('legacy'), grants: [{ privileges: ['SELECT'], database: 'reports' }],
};

type Topology = 'galera' | 'replication';

function chart(topology: Topology, users: DeclaredUser[]): Chart {
  const c = new Chart(Testing.app(), 'test', { namespace: 'db' });
  const props = { name: 'mariadb', tls: { enabled: false }, users, databases: DATABASES };
  const db = topology === 'galera'
    ? new GaleraCluster(c, 'db', props)
    : new MariaDbReplication(c, 'db', { ...props, failoverSeconds: 10, fenceSeconds: 5 });
  new ProxySql(c, 'proxysql', { backend: db, replicas: 1 });
  return c;
}

const TOPOLOGIES = ['galera', 'replication'] as const;
for (const topology of TOPOLOGIES) describeWithProxySql(`declared users and databases, ${topology}`, (proxysqlBin) => {
  let cluster: PodCluster;
  let pods: Workload;
  let proxies: Workload;
  let writable = 0;

  /** A statement through ProxySQL as a declared user. */
  const proxied = (user: keyof typeof USERS_SECRET, query: string) => sqlIn(cluster.clientNs, query,
    { user, password: USERS_SECRET[user], host: proxies.podIp(0), port: 6033, ssl: false }, new Set(), `proxysql as ${user}`);
  const root = (i: number, query: string) => pods.sql(i, query);
  const usersOn = async (i: number) => (await root(i, "SELECT User FROM mysql.global_priv WHERE Host = '%' ORDER BY User"))
    .map((r) => r[0]);

  /** The pod that takes writes: any Galera node, the primary of the other topology. */
  async function writableNode(): Promise<number> {
    let found = -1;
    await waitFor('a writable node', async () => {
      for (const i of ALL) {
        const ro = await root(i, 'SELECT @@GLOBAL.read_only').catch(() => [['1']]);
        if (ro[0][0] === '0') { found = i; return true; }
      }
      return false;
    }, 120_000);
    return found;
  }

  /** The declaration applied on every node: the user list of each is `want`. */
  async function everywhere(want: string[]): Promise<void> {
    for (const i of ALL) {
      await waitFor(`mariadb-${i} to hold the users ${want.join(', ')}`, async () => {
        const have = await usersOn(i).catch(() => []);
        return JSON.stringify(have) === JSON.stringify(want);
      }, 120_000);
    }
  }

  async function rollOut(users: DeclaredUser[]): Promise<void> {
    cluster.setManifests(Testing.synth(chart(topology, users)));
    for (const i of [2, 1, 0]) {
      await pods.stopPod(i, 'TERM');
      await pods.startPod(i);
      await pods.waitFor(i, 'readiness', 240_000);
    }
    await proxies.stopPod(0, 'TERM');
    await proxies.startPod(0);
    await proxies.waitFor(0, 'readiness', 120_000);
  }

  beforeAll(async () => {
    cluster = new PodCluster({
      manifests: Testing.synth(chart(topology, [REPORTER, LOADER])),
      secrets: { 'mariadb-credentials': SECRET, 'app-users': USERS_SECRET },
      workloads: ['mariadb', 'mariadb-proxysql'], binaries: { proxysql: proxysqlBin },
    });
    await cluster.setup();
    pods = cluster.workload('mariadb');
    proxies = cluster.workload('mariadb-proxysql');
    await Promise.all(ALL.map((i) => pods.startPod(i)));
    await Promise.all(ALL.map((i) => pods.waitFor(i, 'readiness', 240_000)));
    await proxies.startPod(0);
    await proxies.waitFor(0, 'readiness', 120_000);
    writable = await writableNode();
  });

  afterAll(async () => {
    await cluster?.cleanup();
  });

  test('the declared databases and users are on every node, and connect through ProxySQL with their grants enforced', async () => {
    // GIVEN the cluster started with reporter and loader declared
    await everywhere(['app', 'loader', 'monitor', 'reporter', 'root', ...(topology === 'replication' ? ['repl'] : [])].sort());
    // THEN the databases are there with their character sets
    expect(await root(writable, "SELECT SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA "
      + "WHERE SCHEMA_NAME IN ('reports', 'archive') ORDER BY 1")).toEqual([
      ['archive', 'latin1', 'latin1_swedish_ci'], ['reports', 'utf8mb4', 'utf8mb4_general_ci']]);
    // and reporter's limit is set
    expect(await root(writable, "SELECT max_user_connections FROM mysql.user WHERE User = 'reporter'")).toEqual([['5']]);
    await root(writable, 'CREATE TABLE reports.events (id INT PRIMARY KEY, what VARCHAR(40))');
    // WHEN each user works through ProxySQL
    await proxied('loader', "INSERT INTO reports.events VALUES (1, 'loaded')");
    await proxied('loader', 'CREATE TABLE archive.old (id INT PRIMARY KEY)');
    // THEN what is granted works (reporter's first database is its default schema) ...
    await waitFor('reporter to read the row through ProxySQL (a reader may lag)', async () => {
      const rows = await proxied('reporter', 'SELECT what FROM events WHERE id = 1').catch(() => []);
      return rows.length === 1 && rows[0][0] === 'loaded';
    }, 30_000);
    // ... and what is not is denied
    await expect(proxied('loader', 'DELETE FROM reports.events')).rejects.toThrow(/DELETE command denied/);
    await expect(proxied('reporter', "INSERT INTO reports.events VALUES (2, 'x')")).rejects.toThrow(/INSERT command denied/);
    await expect(proxied('reporter', 'SELECT * FROM archive.old')).rejects.toThrow(/SELECT command denied|Access denied/);
    // and no password is on any process's command line
    expect(cluster.commandLinesWith(Object.values(USERS_SECRET))).toEqual([]);
  });

  test('a rollout without loader drops it, adopts a hand-made user it now declares, and never drops one it did not declare', async () => {
    // GIVEN accounts an administrator made by hand: legacy (declared by the next rollout) and other (never declared)
    await root(writable, "CREATE USER 'legacy'@'%' IDENTIFIED BY 'old-Pw_7'; CREATE USER 'other'@'%' IDENTIFIED BY 'other-Pw_7'");
    // WHEN the declaration loses loader and gains legacy, rolled out to every pod and to ProxySQL
    await rollOut([REPORTER, LEGACY]);
    // THEN loader is gone everywhere, legacy has the declared password and grant, other is untouched
    await everywhere(['app', 'legacy', 'monitor', 'other', 'reporter', 'root', ...(topology === 'replication' ? ['repl'] : [])].sort());
    await waitFor('legacy to read through ProxySQL with its declared password', async () => {
      const rows = await proxied('legacy', 'SELECT COUNT(*) FROM reports.events').catch(() => []);
      return rows.length === 1 && rows[0][0] === '1';
    }, 30_000);
    await expect(proxied('loader', 'SELECT 1')).rejects.toThrow(/Access denied/);
    // and a rollout of the same declaration again changes nothing: legacy, adopted, stays unrecorded
    writable = await writableNode();
    expect(await root(writable, "SELECT name FROM mysql.declared_accounts WHERE kind = 'user' ORDER BY name")).toEqual([['reporter']]);
  });
});
