import { Testing } from 'cdk8s';
import { Chart } from 'cdk8s';
import { MariaDbReplication, MariaDbReplicationProps } from '../../src';
import { PodCluster, Workload } from '../../harness';

// The primary/replica topology on the real software: every pod of the synthesized StatefulSet
// runs in its own network namespace with its init container, command, env, ConfigMap and Secret
// files, a data volume that survives restarts and the exec probes; an acknowledged-write ledger
// checks that no committed write is ever lost. Scenarios run in order on one cluster, each
// leaving it healthy for the next, numbered as in the issue.

jest.setTimeout(15 * 60_000);

const SECRET = {
  'root-password': `root pw 'with' "quotes" \\ $HOME #x`,
  'app-password': 'app-Pass_1',
  'replication-password': `repl "pw" \\n $x #`,
  'monitor-password': 'mon pw#1 $',
};

function manifests(props: MariaDbReplicationProps = {}): any[] {
  const chart = new Chart(Testing.app(), 'test', { namespace: 'db' });
  new MariaDbReplication(chart, 'mariadb', { failoverSeconds: 10, fenceSeconds: 5, ...props });
  return Testing.synth(chart);
}

let cluster: PodCluster;
let pods: Workload;
const ALL = [0, 1, 2];
const app = { user: 'app', password: SECRET['app-password'], database: 'app' };

beforeAll(async () => {
  cluster = new PodCluster({ manifests: manifests(), secrets: { 'mariadb-credentials': SECRET }, workloads: ['mariadb'] });
  await cluster.setup();
  pods = cluster.workload('mariadb');
});

afterAll(async () => {
  await cluster?.cleanup();
});

function decisions(i: number): string[] {
  return pods.logs(i).split('\n').filter((l) => l.includes('decision:'));
}

async function variable(i: number, name: string): Promise<string> {
  return (await pods.sql(i, `SELECT @@GLOBAL.${name}`))[0][0];
}

async function role(i: number): Promise<string> {
  const r = await pods.exec(i, ['cat', '/run/replication/role']);
  return r.output.trim();
}

async function waitAllReady(ordinals = ALL, timeoutMs = 180_000): Promise<number> {
  const start = Date.now();
  try {
    await Promise.all(ordinals.map((i) => pods.waitFor(i, 'readiness', timeoutMs)));
  } catch (e) {
    throw new Error(`${(e as Error).message}\n${ordinals.map((i) => `--- mariadb-${i}\n${pods.logs(i).slice(-3000)}`).join('\n')}`);
  }
  return Date.now() - start;
}

/** Every replica has applied everything the primary has binlogged. */
async function caughtUp(primary: number, replicas: readonly number[]): Promise<void> {
  const pos = await variable(primary, 'gtid_binlog_pos');
  for (const i of replicas) {
    const rows = await pods.sql(i, `SELECT MASTER_GTID_WAIT('${pos}', 60)`, { timeoutMs: 70_000 });
    expect(rows[0][0]).toBe('0');
  }
}

test('1. fresh install, all pods at once: mariadb-0 initializes and is the primary, the others clone and replicate', async () => {
  // GIVEN three empty volumes / WHEN the three pods start at once
  await Promise.all(ALL.map((i) => pods.startPod(i)));
  const ms = await waitAllReady();
  // THEN mariadb-0 is the writable primary, the others read-only replicas of it, cloned from a peer
  expect(decisions(0).join('\n')).toContain('decision: initialize:');
  expect(await role(0)).toBe('primary');
  expect(await variable(0, 'read_only')).toMatch(/^(0|OFF)$/);
  for (const i of [1, 2]) {
    expect(decisions(i).join('\n')).toMatch(/decision: clone: mariadb-\d is the most advanced ready node/);
    expect(decisions(i).join('\n')).toContain('decision: replicate: mariadb-0 is the primary');
    expect(await role(i)).toBe('replica');
    expect(await variable(i, 'read_only')).toMatch(/^(1|ON)$/);
    expect(await variable(i, 'server_id')).toBe(String(i + 1));
  }
  const semi = await pods.sql(0, "SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_clients'");
  expect(semi[0][1]).toBe('2');
  console.log(`fresh install to all ready: ${ms} ms`);
});

test('2. INSERT and DELETE through the primary; every replica returns the same rows and refuses writes', async () => {
  await pods.sql(0, 'CREATE TABLE items (id INT PRIMARY KEY, note VARCHAR(40))', app);
  await pods.sql(0, "INSERT INTO items VALUES (1, 'a'), (2, 'b'), (3, 'c')", app);
  await pods.sql(0, 'DELETE FROM items WHERE id = 2', app);
  await caughtUp(0, [1, 2]);
  for (const i of ALL) expect(await pods.sql(i, 'SELECT id, note FROM items ORDER BY id', app)).toEqual([['1', 'a'], ['3', 'c']]);
  for (const i of [1, 2]) {
    await expect(pods.sql(i, "INSERT INTO items VALUES (9, 'x')", app)).rejects.toThrow(/read-only/i);
    await expect(pods.sql(i, "INSERT INTO app.items VALUES (9, 'x')")).rejects.toThrow(/read-only/i);
  }
});

test('3. a replica SIGKILLed under write load and restarted catches up; no acknowledged write lost', async () => {
  const writer = await pods.startWriter({ pods: [0] });
  await new Promise((r) => setTimeout(r, 3000));
  await pods.stopPod(2, 'KILL');
  await new Promise((r) => setTimeout(r, 3000));
  await pods.startPod(2);
  await waitAllReady([2]);
  const result = await writer.stop();
  expect(result.acked.length).toBeGreaterThan(0);
  await caughtUp(0, [1, 2]);
  await pods.verifyLedger(result.acked, ALL);
});

test('4. a wiped replica clones again from a ready peer and replicates', async () => {
  const writer = await pods.startWriter({ pods: [0] });
  await pods.stopPod(1, 'KILL');
  pods.wipeVolume(1);
  await pods.startPod(1);
  await waitAllReady([1]);
  const result = await writer.stop();
  expect(pods.logs(1).split('decision: clone:').length).toBeGreaterThan(2);
  await caughtUp(0, [1, 2]);
  await pods.verifyLedger(result.acked, ALL);
});

test('5. the primary SIGKILLed under write load: the most advanced replica is promoted, the other follows it, no acknowledged write lost', async () => {
  const writer = await pods.startWriter({ pods: [0, 1, 2] });
  await new Promise((r) => setTimeout(r, 3000));
  const killedAt = Date.now();
  await pods.stopPod(0, 'KILL');
  let primary = -1;
  const deadline = Date.now() + 120_000;
  while (primary < 0 && Date.now() < deadline) {
    for (const i of [1, 2]) if ((await role(i).catch(() => '')) === 'primary') primary = i;
    await new Promise((r) => setTimeout(r, 250));
  }
  expect(primary).toBeGreaterThan(0);
  const other = primary === 1 ? 2 : 1;
  await pods.waitFor(primary, 'readiness', 60_000).catch(() => undefined);
  console.log(`primary SIGKILL to a promoted replica: ${Date.now() - killedAt} ms`);
  const result = await writer.stop();
  await new Promise((r) => setTimeout(r, 2000));
  expect(await variable(primary, 'read_only')).toMatch(/^(0|OFF)$/);
  expect(await role(other)).toBe('replica');
  await caughtUp(primary, [other]);
  await pods.verifyLedger(result.acked, [primary, other]);
  // THEN the old primary comes back as a replica of the new one. Killed under load, it may hold
  // a transaction it binlogged but no replica acknowledged (never acknowledged to a client): it
  // is then refused, named, until the documented override discards its data and clones again.
  await pods.startPod(0);
  const deadline0 = Date.now() + 120_000;
  while (!(await pods.probe(0, 'readiness')).ok && !pods.logs(0).includes('decision: refuse:')) {
    if (Date.now() > deadline0) throw new Error(`mariadb-0 neither ready nor refused:\n${pods.logs(0).slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
  if (pods.logs(0).includes('decision: refuse:')) {
    expect(pods.logs(0)).toMatch(/decision: refuse: this node holds transactions the primary does not have/);
    console.log('the old primary held an unacknowledged transaction: refused, then cloned again by the override');
    await pods.exec(0, ['touch', '/var/lib/mysql/replication-reclone']);
  }
  await waitAllReady([0]);
  expect(await role(0)).toBe('replica');
  await caughtUp(primary, [0, other]);
  await pods.verifyLedger(result.acked, ALL);
});
