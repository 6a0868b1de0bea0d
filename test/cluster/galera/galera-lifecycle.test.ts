import { readFileSync, writeFileSync } from 'fs';
import { Testing } from 'cdk8s';
import { GaleraProxySqlChart, GaleraProxySqlChartProps } from '../../../src/index';
import { execFileSync, spawn } from 'child_process';
import { PodCluster, Workload } from '../../../harness/index';
import { GALERA_HEALTHCHECK_QUERY, proxysqlVerdict } from '../proxysql/proxysql-monitor';
import { chartSecrets } from '../secrets';
import { untilAcked } from '../wait';
import type { Manifest } from '../../tools/manifest';

// The Galera node lifecycle on the real software: every pod of the synthesized StatefulSet runs
// in its own network namespace (init container, command, env, ConfigMap and Secret files, a data
// directory that survives restarts, the exec probes), and an acknowledged-write ledger checks
// that no committed write is ever lost. Scenarios run in order on one cluster; after the fresh
// install, each starts from three nodes Synced in one view of three, which it establishes itself
// (beforeEach), so that a failed scenario leaves nothing behind for the next. Each asserts the
// behaviour the issue lists, numbered as there.

jest.setTimeout(15 * 60_000);

const SECRET = {
  'root-password': `root pw 'with' "quotes" \\ $HOME #x`,
  'app-password': 'app-Pass_1',
  'sst-password': `sst "pw" \\n $x #`,
  'monitor-password': 'mon pw#1 $',
  'proxysql-admin-password': 'adm',
};

// Shorter watchdog delays than the defaults (60 s non-Primary, 600 s stuck desynced) keep
// scenarios 9b to 9d short.
// The writers reach the nodes' 3306 directly, which the NetworkPolicy allows only to ProxySQL and
// `directClients`: the client namespace carries this label, the policy names it.
const LEDGER_CLIENT = { 'test-role': 'ledger-client' };
function chart(props: GaleraProxySqlChartProps = {}): GaleraProxySqlChart {
  return new GaleraProxySqlChart(Testing.app(), 'test', {
    ...props,
    galera: { nonPrimaryRestartSeconds: 20, stuckDesyncRestartSeconds: 20, ...props.galera },
    networkPolicy: { directClients: [{ podSelector: { matchLabels: LEDGER_CLIENT } }], ...props.networkPolicy },
  });
}

function manifests(props: GaleraProxySqlChartProps = {}): Manifest[] {
  return Testing.synth(chart(props));
}
const DEFAULT_MANIFESTS = manifests();

let cluster: PodCluster;
let pods: Workload;
const ALL = [0, 1, 2];

async function waitAllReady(ordinals = ALL, timeoutMs = 180_000): Promise<number> {
  const start = Date.now();
  try {
    await Promise.all(ordinals.map((i) => pods.waitFor(i, 'readiness', timeoutMs)));
  } catch (e) {
    // a CI log must say why: every node's current log, not only the probe's verdict
    throw new Error(`${(e as Error).message}\n${logTails(ordinals)}`);
  }
  return Date.now() - start;
}

/**
 * Waits until every node is Synced in a cluster of all of them. A node found ready may donate a
 * state transfer to a later joiner right after (readiness and Synced are both true only at the
 * end); a node that never gets there fails with every node's state and log tail, for CI.
 */
async function waitAllSynced(ordinals = ALL, timeoutMs = 120_000): Promise<void> {
  const t0 = Date.now();
  const view = async () => Promise.all(ordinals.map(async (i) => {
    try {
      return `${await status(i, 'wsrep_local_state_comment')}/${await status(i, 'wsrep_cluster_size')}`;
    } catch (e) {
      return `error: ${(e as Error).message.split('\n')[0]}`;
    }
  }));
  for (;;) {
    const states = await view();
    if (states.every((st) => st === `Synced/${ordinals.length}`)) return;
    if (Date.now() - t0 > timeoutMs) {
      throw new Error(`not every node Synced after ${timeoutMs} ms: ${states.join(', ')}\n${logTails(ordinals)}`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** The last lines of each node's current log, for a failure message that says why. */
function logTails(ordinals: number[], lines = 60): string {
  return ordinals.map((i) => `--- galera-${i}\n${currentLog(i).split('\n').slice(-lines).join('\n')}`).join('\n');
}

async function status(i: number, name: string): Promise<string> {
  const rows = await pods.sql(i, `SHOW GLOBAL STATUS LIKE '${name}'`);
  return rows[0]?.[1] ?? '';
}

/** The log of the pod's current run (since its init container last rendered the configuration). */
function currentLog(i: number): string {
  const log = pods.logs(i);
  const at = log.lastIndexOf('galera INFO: configuration rendered for');
  return at < 0 ? log : log.slice(log.lastIndexOf('\n', at) + 1);
}

function decisions(i: number): string[] {
  return currentLog(i).split('\n').filter((l) => l.includes(' galera INFO: decision: ') && !l.includes('decision: wait'));
}

function lastDecision(i: number): string {
  const d = decisions(i);
  return d[d.length - 1] ?? '';
}

async function clusterUuid(i: number): Promise<string> {
  return status(i, 'wsrep_cluster_state_uuid');
}

/** Stops the writer and checks every acknowledged id on every listed node. */
async function stopAndVerify(writer: Awaited<ReturnType<Workload['startWriter']>>, ordinals = ALL) {
  const result = await writer.stop();
  expect(result.acked.length).toBeGreaterThan(0);
  await pods.verifyLedger(result.acked, ordinals);
  return result;
}

beforeAll(async () => {
  // the default chart: TLS on, with the certificates a user creates with `npm run -s new-tls`
  cluster = new PodCluster({
    manifests: DEFAULT_MANIFESTS, secrets: await chartSecrets(chart(), SECRET), workloads: ['galera'], clientLabels: LEDGER_CLIENT,
  });
  await cluster.setup();
  pods = cluster.workload('galera');
});

afterAll(async () => {
  await cluster?.cleanup();
});

/** Set by scenario 1 once it started the pods; the scenarios after it start from three Synced nodes. */
let installed = false;
/** Whether the scenario before this one passed (set by `scenario`). */
let previousPassed = true;

/** A scenario: a test whose outcome the next one's precondition reads. */
function scenario(name: string, fn: () => Promise<void>): void {
  test(name, async () => {
    previousPassed = false;
    await fn();
    previousPassed = true;
  });
}

// GIVEN, for every scenario after the fresh install: three nodes ready and Synced in one view of
// three. After a passing scenario this holds already (or is reached by the product alone: a pod
// stopped, started again); what a failed one left behind, which may not settle by itself, is
// cleared by a full restart and, for a node that still does not join, a new volume. A passing
// scenario that left a cluster its own recovery cannot settle fails the next one, which says so.
beforeEach(async () => {
  if (!installed) return;
  const unsettled = await threeNodesSynced().then(() => undefined, (e: Error) => e);
  if (!unsettled) return;
  await restoreThreeNodes();
  if (previousPassed) {
    throw new Error(`the cluster the previous (passing) scenario left did not settle by itself: ${unsettled.message}`);
  }
});

scenario('1. fresh install, all pods at once: one bootstrap, the others join by SST, accounts once, all Synced', async () => {
  // GIVEN three empty volumes / WHEN the three pods start at once
  await Promise.all(ALL.map((i) => pods.startPod(i)));
  installed = true;
  const ms = await waitAllReady();
  await waitAllSynced();
  // THEN exactly galera-0 bootstrapped and the two others joined by state transfer
  expect(lastDecision(0)).toContain('decision: bootstrap: new cluster');
  for (const i of [1, 2]) {
    expect(lastDecision(i)).toContain('decision: join:');
    // TLS is on: the stream method over socat with OpenSSL, the peer verified by the CA (never plain
    // text), as socat itself reports the session on the SST port
    expect(lastDecision(i)).toContain('full state transfer (SST)');
    expect(currentLog(i)).toMatch(/galera-sst INFO: ready: receiving on port 4444 with TLS, the donor verified by \/etc\/mariadb\/tls\/ca/);
    expect(currentLog(i)).toMatch(/galera-sst INFO: socat: N SSL connection using TLS/);
    expect(currentLog(i)).toMatch(/IST receiver using ssl/);
  }
  const accountsCreated = ALL.map((i) => pods.logs(i).split('\n').filter((l) => l.includes('accounts created')).length);
  expect(accountsCreated).toEqual([1, 0, 0]);
  for (const i of ALL) {
    expect(await status(i, 'wsrep_local_state_comment')).toBe('Synced');
    expect(await status(i, 'wsrep_cluster_size')).toBe('3');
    const users = await pods.sql(i, "SELECT CONCAT(user,'@',host) FROM mysql.user WHERE user IN ('root','app','sst','monitor') ORDER BY 1");
    expect(users.map((r) => r[0])).toEqual(['app@%', 'monitor@%', 'root@%', 'root@localhost', 'sst@localhost']);
  }
  console.log(`fresh bootstrap to all ready: ${ms} ms`);
});

scenario('2. INSERT, SELECT and DELETE on every node as the application account; all nodes return the same rows', async () => {
  const app = { user: 'app', password: SECRET['app-password'], database: 'app' };
  await pods.sql(0, 'CREATE TABLE items (id INT PRIMARY KEY, node INT, note VARCHAR(40))', app);
  for (const i of ALL) {
    await pods.sql(i, `INSERT INTO items VALUES (${i * 10 + 1}, ${i}, 'a'), (${i * 10 + 2}, ${i}, 'b')`, app);
    await pods.sql(i, `DELETE FROM items WHERE id = ${i * 10 + 2}`, app);
  }
  const views = await Promise.all(
    ALL.map((i) => pods.sql(i, 'SET SESSION wsrep_sync_wait=1; SELECT id, node FROM items ORDER BY id', app)),
  );
  for (const v of views) expect(v).toEqual([['1', '0'], ['11', '1'], ['21', '2']]);
  // the monitor account can read the wsrep status but cannot write
  const monitor = { user: 'monitor', password: SECRET['monitor-password'] };
  await expect(pods.sql(1, 'INSERT INTO app.items VALUES (99, 9, "x")', monitor)).rejects.toThrow(/denied/i);
});

/** ProxySQL's Galera health check, run as the monitor account with the Secret's password. */
async function monitorVerdict(i: number) {
  try {
    const rows = await pods.sql(i, GALERA_HEALTHCHECK_QUERY, { user: 'monitor', password: SECRET['monitor-password'] });
    return proxysqlVerdict(rows[0]);
  } catch (e) {
    return proxysqlVerdict(e as Error);
  }
}

scenario('probes and ProxySQL health check: Synced nodes can write, a desynced (donor-like) node is out, '
  + 'a hung server fails liveness', async () => {
  // GIVEN the healthy cluster: every node answers the monitor as a writer candidate
  for (const i of ALL) expect(await monitorVerdict(i)).toBe('writer-candidate');
  // WHEN node 1 is desynced, as a donor is during an SST
  await pods.sql(1, 'SET GLOBAL wsrep_desync=ON');
  // THEN ProxySQL and readiness take it out, liveness keeps it
  expect(await monitorVerdict(1)).toBe('offline');
  expect((await pods.probe(1, 'readiness')).output).toContain('local state 2');
  expect((await pods.probe(1, 'liveness')).ok).toBe(true);
  await pods.sql(1, 'SET GLOBAL wsrep_desync=OFF');
  await pods.waitFor(1, 'readiness', 30_000);
  expect(await monitorVerdict(1)).toBe('writer-candidate');
  // WHEN mariadbd hangs (SIGSTOP) THEN liveness fails within its timeout; it recovers on SIGCONT
  const pid = pods.processPid(2, 'mariadbd');
  process.kill(pid, 'SIGSTOP');
  try {
    const live = await pods.probe(2, 'liveness');
    expect(live.ok).toBe(false);
    expect(live.output).toContain('did not answer');
  } finally {
    process.kill(pid, 'SIGCONT');
  }
  await pods.waitFor(2, 'liveness', 30_000);
  await pods.waitFor(2, 'readiness', 60_000);
  // A node frozen longer than the eviction timeout wakes up in its old view and looks Synced for
  // a moment; the next scenario needs every node back in one view of three.
  await waitUntil(async () => (await Promise.all(
    ALL.map(async (i) => `${await status(i, 'wsrep_cluster_size')}/${await status(i, 'wsrep_local_state_comment')}`),
  ))
    .every((s) => s === '3/Synced'), 120_000);
});

scenario('3. one node SIGKILLed under write load and restarted: survivors keep writing, it rejoins by IST, '
  + 'no acknowledged write lost', async () => {
  // GIVEN three nodes Synced in one view of three, established by beforeEach (a joiner that settles
  // slowly on a loaded machine can be evicted for a moment and rejoin: killing a second node then
  // leaves no Primary component)
  const writer = await pods.startWriter({ pods: ALL });
  await untilAcked(writer, 30, 'writes before the kill');
  await pods.stopPod(1, 'KILL');
  // THEN the survivors take writes (polled up to a generous bound: a loaded machine may take seconds)
  await untilAcked(writer, writer.ackedCount() + 10, 'the survivors\' writes after galera-1 was killed');
  await pods.startPod(1);
  await pods.waitFor(1, 'readiness', 120_000);
  expect(currentLog(1)).toMatch(/Receiving IST|IST received/);
  expect(lastDecision(1)).toContain('decision: join:');
  await stopAndVerify(writer);
});

scenario('4. a wiped volume (pod 0) joins the running cluster by SST with the same cluster UUID, never bootstraps', async () => {
  const uuid = await clusterUuid(1);
  await pods.stopPod(0, 'TERM');
  pods.wipeVolume(0);
  const writer = await pods.startWriter({ pods: [1, 2] });
  await pods.startPod(0);
  await pods.waitFor(0, 'readiness', 180_000);
  expect(lastDecision(0)).toContain('no data and joins by full state transfer');
  expect(await clusterUuid(0)).toBe(uuid);
  expect(await status(0, 'wsrep_cluster_size')).toBe('3');
  await stopAndVerify(writer);
});

describe('5. graceful full stop, each node last out once, then all started together', () => {
  for (const last of ALL) {
    scenario(`galera-${last} last out`, async () => {
      const others = ALL.filter((i) => i !== last);
      const writer = await pods.startWriter({ pods: ALL });
      await sleep(2000);
      for (const i of others) await pods.stopPod(i, 'TERM');
      // a write acknowledged by the last node alone must survive the restart
      await pods.sql(last, `INSERT INTO ledger.acks (id, writer, pod) VALUES (${900000 + last}, 'last-out', ${last})`);
      const result = await writer.stop();
      await pods.stopPod(last, 'TERM');
      const start = Date.now();
      await Promise.all(ALL.map((i) => pods.startPod(i)));
      await waitAllReady();
      console.log(`graceful full stop (galera-${last} last) to all ready: ${Date.now() - start} ms`);
      expect(lastDecision(last)).toMatch(/decision: bootstrap: this node (has the most advanced position|left the cluster last)/);
      for (const i of others) expect(lastDecision(i)).toContain('decision: join:');
      await pods.verifyLedger([...result.acked, 900000 + last], ALL);
    });
  }
});

scenario('6. full crash under write load: the cluster comes back by itself from the most advanced node', async () => {
  const writer = await pods.startWriter({ pods: ALL });
  await sleep(4000);
  await pods.stopAll('KILL');
  const result = await writer.stop();
  const start = Date.now();
  await Promise.all(ALL.map((i) => pods.startPod(i)));
  await waitAllReady();
  console.log(`full crash to all ready: ${Date.now() - start} ms`);
  const bootstrappers = ALL.filter((i) => lastDecision(i).includes('decision: bootstrap'));
  expect(bootstrappers).toHaveLength(1);
  expect(lastDecision(bootstrappers[0])).toContain('most advanced position');
  for (const i of ALL) expect(currentLog(i)).toContain('with --wsrep-recover');
  await pods.verifyLedger(result.acked, ALL);
});

scenario('7. full crash with a node that does not come back: wait and say why; the override works once', async () => {
  const writer = await pods.startWriter({ pods: ALL });
  await sleep(3000);
  const result = await writer.stop();
  // every node has applied everything before the crash, so the override loses nothing here and
  // galera-2 (not beyond the forced position) may rejoin
  await waitUntil(async () => new Set(await Promise.all(ALL.map((i) => status(i, 'wsrep_last_committed')))).size === 1, 30_000);
  await pods.stopAll('KILL');
  await Promise.all([0, 1].map((i) => pods.startPod(i)));
  await sleep(15_000);
  for (const i of [0, 1]) {
    expect((await pods.probe(i, 'readiness')).ok).toBe(false);
    expect((await pods.probe(i, 'liveness')).ok).toBe(true); // waiting is not a reason to kill
    expect((await pods.probe(i, 'startup')).ok).toBe(true);
    expect(decisions(i)).toEqual([]); // no bootstrap or join yet
  }
  const waitLine = currentLog(0).split('\n').reverse().find((l) => l.includes('decision: wait: full-cluster restart')) ?? '';
  expect(waitLine).toContain('galera-2 not reachable');
  const hint = /kubectl exec -n \S+ (galera-\d) -c mariadb -- touch (\S+)/.exec(waitLine);
  expect(hint).not.toBeNull();
  const chosen = Number(hint![1].split('-')[1]);
  // WHEN a human follows the hint on the named pod
  pods.touchInVolume(chosen, 'galera-force-bootstrap');
  await pods.waitFor(chosen, 'readiness', 120_000);
  const other = chosen === 0 ? 1 : 0;
  await pods.waitFor(other, 'readiness', 120_000);
  // THEN it bootstrapped once, the file is gone, and galera-2 joins when it comes back
  expect(lastDecision(chosen)).toContain('human override');
  expect(pods.volumeHas(chosen, 'galera-force-bootstrap')).toBe(false);
  await pods.startPod(2);
  await pods.waitFor(2, 'readiness', 120_000);
  expect(lastDecision(2)).toContain('decision: join:');
  await pods.verifyLedger(result.acked, ALL);
  // a later restart of the chosen pod joins; the consumed override cannot re-bootstrap
  await pods.stopPod(chosen, 'TERM');
  await pods.startPod(chosen);
  await pods.waitFor(chosen, 'readiness', 120_000);
  expect(lastDecision(chosen)).toContain('decision: join:');
  // AND a node that joins the forced cluster by SST and is restarted as soon as it is ready (a
  // rollout right behind it: no watchdog round in between) joins again: its new history is the
  // forced cluster's own, recorded before its state transfer
  await pods.stopPod(2, 'TERM');
  pods.wipeVolume(2);
  await pods.startPod(2);
  await waitUntil(async () => lastDecision(2).includes('no data and joins by full state transfer'), 60_000);
  expect(pods.volumeHas(2, 'galera-forced-from')).toBe(true); // recorded with the decision, before the SST
  await pods.waitFor(2, 'readiness', 180_000);
  await pods.stopPod(2, 'TERM');
  expect(pods.volumeHas(2, 'galera-forced-from')).toBe(true); // and the SST kept it
  await pods.startPod(2);
  await pods.waitFor(2, 'readiness', 120_000);
  expect(lastDecision(2)).toContain('decision: join:');
});

scenario('8. a node whose data belongs to another cluster is refused, never merged, never chosen to bootstrap', async () => {
  const foreign = 'f0f0f0f0-0000-11f1-8000-0000000000ff';
  await pods.stopPod(2, 'TERM');
  const grastate = pods.volumePath(2, 'grastate.dat');
  writeFileSync(
    grastate, readFileSync(grastate, 'utf8').replace(/^uuid:.*$/m, `uuid:    ${foreign}`).replace(/^seqno:.*$/m, 'seqno:   999999'),
  );
  // WHEN it starts next to the running cluster
  await pods.startPod(2);
  await waitForLog(2, `refuse: the local data belongs to cluster ${foreign}`, 60_000);
  expect((await pods.probe(2, 'readiness')).ok).toBe(false);
  expect((await pods.probe(2, 'liveness')).ok).toBe(true);
  expect(await status(0, 'wsrep_cluster_size')).toBe('2');
  expect(readFileSync(grastate, 'utf8')).toContain(foreign); // untouched
  // AND in a full restart it is never the bootstrap node, even with the highest seqno
  for (const i of ALL) await pods.stopPod(i, 'TERM');
  await Promise.all(ALL.map((i) => pods.startPod(i)));
  await waitAllReady([0, 1]);
  expect(decisions(2).some((l) => l.includes('bootstrap'))).toBe(false);
  expect((await pods.probe(2, 'readiness')).ok).toBe(false);
  // a human clears the foreign data: the node then joins by SST
  await pods.stopPod(2, 'TERM');
  pods.wipeVolume(2);
  await pods.startPod(2);
  await pods.waitFor(2, 'readiness', 180_000);
  expect(await status(0, 'wsrep_cluster_size')).toBe('3');
});

scenario('9. network partition of one node: the two keep writing, the one refuses and is unready, then rejoins', async () => {
  const writer = await pods.startWriter({ pods: [0, 1] });
  await untilAcked(writer, 30, 'writes before the partition');
  pods.partition(2);
  // the two evict it and the one finds itself alone (Galera's suspect and inactive timeouts)
  await waitUntil(async () => (await status(2, 'wsrep_cluster_status')) === 'non-Primary'
    && (await status(0, 'wsrep_cluster_size')) === '2' && (await status(1, 'wsrep_cluster_size')) === '2', 120_000);
  await waitUntil(async () => !(await pods.probe(2, 'readiness')).ok, 60_000);
  expect((await pods.probe(2, 'readiness')).ok).toBe(false);
  expect((await pods.probe(2, 'liveness')).ok).toBe(true);
  expect(await status(2, 'wsrep_cluster_status')).toBe('non-Primary');
  expect(await monitorVerdict(2)).toBe('offline');
  for (const i of [0, 1]) expect(await monitorVerdict(i)).toBe('writer-candidate');
  await expect(
    pods.sql(2, "INSERT INTO ledger.acks (id, writer, pod) VALUES (800000, 'isolated', 2)"),
  ).rejects.toThrow(/WSREP|1047|prepared/i);
  await untilAcked(writer, writer.ackedCount() + 10, 'the two\'s writes while galera-2 is cut off');
  expect(await status(0, 'wsrep_cluster_size')).toBe('2');
  pods.heal(2);
  await pods.waitFor(2, 'readiness', 120_000);
  await stopAndVerify(writer);
});

scenario('9b. a partitioned node whose partners then crash waits for them, then rejoins the election with them and never bootstraps '
  + 'alone', async () => {
  const writer = await pods.startWriter({ pods: [0, 1] });
  await untilAcked(writer, 30, 'writes before the partition');
  pods.partition(2);
  await waitUntil(async () => (await status(2, 'wsrep_cluster_status')) === 'non-Primary', 120_000);
  await pods.stopPod(0, 'KILL');
  await pods.stopPod(1, 'KILL');
  const result = await writer.stop();
  pods.heal(2);
  // WHEN its partners are simply gone, it keeps mariadbd as it is (they may come back as the
  // whole last Primary component); the watchdog (nonPrimaryRestartSeconds=20 here) does not fire
  await sleep(25_000);
  expect(currentLog(2)).not.toContain('restarting it to take part in the election');
  expect((await pods.probe(2, 'readiness')).ok).toBe(false);
  expect((await pods.probe(2, 'liveness')).ok).toBe(true);
  // WHEN the partners restart and wait in the election for it
  await Promise.all([0, 1].map((i) => pods.startPod(i)));
  await waitForLog(2, 'restarting it to take part in the election', 90_000);
  await waitAllReady();
  // THEN the most advanced of all three bootstrapped, and it was not the stranded node
  const bootstrappers = ALL.filter((i) => lastDecision(i).includes('decision: bootstrap'));
  expect(bootstrappers).toHaveLength(1);
  expect(bootstrappers[0]).not.toBe(2);
  expect(currentLog(2).split('restarting it to take part in the election')[1]).toContain('decision: join:');
  await pods.verifyLedger(result.acked, ALL);
});

scenario('9c. a node left Disconnected next to a Primary, as after a failed IST, '
  + 'restarts into the election by itself and rejoins', async () => {
  // Galera keeps mariadbd running, Disconnected, when a join fails after its state transfer
  // ("IST didn't contain all write sets" when another joiner's view change lands during the IST:
  // "node restart required"). Emptying wsrep_cluster_address makes the same state on demand.
  const writer = await pods.startWriter({ pods: [0, 1] });
  await sleep(2000);
  await pods.sql(2, "SET GLOBAL wsrep_cluster_address = ''");
  await waitUntil(async () => (await status(2, 'wsrep_cluster_status')) === 'Disconnected', 30_000);
  expect((await pods.probe(2, 'readiness')).ok).toBe(false);
  // WHEN it stays out longer than nonPrimaryRestartSeconds (20 s here) next to a running Primary
  await waitForLog(2, 'restarting it to take part in the election', 90_000);
  await pods.waitFor(2, 'readiness', 120_000);
  // THEN it joined again, within the same container, and no acknowledged write was lost
  expect(currentLog(2).split('restarting it to take part in the election')[1]).toContain('decision: join:');
  expect(await status(2, 'wsrep_cluster_size')).toBe('3');
  await stopAndVerify(writer);
});

scenario('9d. a node left Donor/Desynced inside the Primary component, as a donor whose transfer lost its view, '
  + 'restarts by itself and rejoins', async () => {
  // Galera leaves a donor desynced for good when a view change takes it out of the Primary
  // component during its transfer ("sst sent called when not SST donor"). A backup lock held by
  // a client makes the same state on demand: local state 2, no SST script, wsrep_desync OFF.
  const writer = await pods.startWriter({ pods: [0, 1] });
  await sleep(2000);
  const release = await holdBackupLock(2);
  try {
    await waitUntil(async () => (await status(2, 'wsrep_local_state')) === '2', 30_000);
    expect((await pods.probe(2, 'readiness')).ok).toBe(false);
    // WHEN it stays so longer than stuckDesyncRestartSeconds (20 s here)
    await waitForLog(2, 'restarting it to rejoin', 90_000);
    // The lock also pauses the provider (a real stuck donor's runs), so the graceful stop never
    // ends: the watchdog kills mariadbd after GALERA_WATCHDOG_STOP_SECONDS (45 s)
    await waitForLog(2, 'killing it', 90_000);
  } finally {
    release();
  }
  await pods.waitFor(2, 'readiness', 180_000);
  // THEN it rejoined, within the same container, Synced in a cluster of three, and no
  // acknowledged write was lost
  expect(currentLog(2).split('restarting it to rejoin')[1]).toContain('decision: join:');
  expect(pods.status(2).restarts).toBe(0);
  expect(await status(2, 'wsrep_local_state_comment')).toBe('Synced');
  expect(await status(2, 'wsrep_cluster_size')).toBe('3');
  await stopAndVerify(writer);
});

/** A client session on pod i that holds BACKUP STAGE BLOCK_DDL until the returned function ends it. */
async function holdBackupLock(i: number): Promise<() => void> {
  const client = spawn('ip', [
    'netns', 'exec', pods.nsName(i), 'mariadb', '--no-defaults', '-N', '-B', '--unbuffered', '--protocol=TCP', '-h', '127.0.0.1', '-u',
    'root', '--ssl',
  ], {
    env: { PATH: process.env.PATH, MYSQL_PWD: SECRET['root-password'] }, stdio: ['pipe', 'pipe', 'inherit'],
  });
  const release = () => { client.stdin.end(); setTimeout(() => client.kill('SIGKILL'), 5000).unref(); };
  client.stdin.write("BACKUP STAGE START;\nBACKUP STAGE BLOCK_DDL;\nSELECT 'locked';\n");
  const locked = await new Promise<boolean>((resolve) => {
    client.stdout.on('data', (d: Buffer) => { if (d.toString().includes('locked')) resolve(true); });
    client.on('exit', () => resolve(false));
    setTimeout(() => resolve(false), 30_000).unref();
  });
  if (!locked) {
    client.kill('SIGKILL');
    throw new Error(`galera-${i}: the backup lock was not held within 30 s`);
  }
  return release;
}

scenario('9e. non-Primary fragments next to a node that restarted into the election: they restart into it too, '
  + 'and the most advanced bootstraps', async () => {
  // A graceful leave under heavy load once ended so: the install of the view without the leaver
  // timed out, the other members fell apart into non-Primary fragments and merged again as one
  // non-Primary component, while the leaver restarted and waited in the election for them.
  // Galera restores a lost Primary component by itself only when all its members are back, and
  // the leaver came back as a new member; without the watchdog, both sides would wait forever.
  // Isolating every node, then killing one, makes that state on demand.
  const writer = await pods.startWriter({ pods: [0, 1] });
  await sleep(2000);
  ALL.forEach((i) => pods.partition(i));
  await waitUntil(
    async () => (await Promise.all(ALL.map((i) => status(i, 'wsrep_cluster_status')))).every((s) => s === 'non-Primary'), 30_000,
  );
  const result = await writer.stop();
  await pods.stopPod(2, 'KILL');
  ALL.forEach((i) => pods.heal(i));
  await pods.startPod(2);
  await waitForLog(2, 'decision: wait: full-cluster restart', 60_000);
  // GIVEN galera-0 and galera-1 together again, still non-Primary (galera-2's old member is gone)
  await waitUntil(async () => (await status(0, 'wsrep_cluster_size')) === '2', 30_000);
  expect(await status(0, 'wsrep_cluster_status')).toBe('non-Primary');
  // WHEN they stay so longer than nonPrimaryRestartSeconds (20 s here)
  await Promise.all([0, 1].map((i) => waitForLog(i, 'restarting it to take part in the election', 90_000)));
  await waitAllReady();
  // THEN one node bootstrapped, from a full election, and no acknowledged write was lost
  const bootstrappers = ALL.filter((i) => lastDecision(i).includes('decision: bootstrap'));
  expect(bootstrappers).toHaveLength(1);
  expect(await status(0, 'wsrep_cluster_size')).toBe('3');
  await pods.verifyLedger(result.acked, ALL);
});

scenario('9f. a donor cut off from its peers during a state transfer reports it once it is back: '
  + 'no node stays Donor/Desynced', async () => {
  // Galera takes a donor's report of its transfer only while the donor is in a Primary component;
  // reported from outside one, it is refused ("sst sent called when not SST donor") and the node
  // stays Donor/Desynced for good (issue 20 item 6, reproduced so with the rsync method and with
  // this one before galera-sst.sh waited). The donor's mariadb-backup held stopped keeps the
  // transfer going while the donor loses its Galera peers (port 4567 only).
  const writer = await pods.startWriter({ pods: [0, 1] });
  await pods.stopPod(2, 'TERM');
  pods.wipeVolume(2);
  await pods.startPod(2);
  let held: { donor: number; pids: number[] } | undefined;
  let cut: number | undefined;
  try {
    // GIVEN galera-2 joining by SST, its donor's backup held (it runs for seconds; polled every 20 ms)
    const deadline = Date.now() + 120_000;
    while (!held) {
      if (Date.now() > deadline) throw new Error(`no donor's mariadb-backup seen within 120 s\n${logTails(ALL)}`);
      for (const donor of [0, 1]) {
        const pids = pods.processes(donor, (cmd) => cmd.includes('mariadb-backup') && cmd.includes('--backup'));
        if (pids.length > 0) {
          pids.forEach((pid) => process.kill(pid, 'SIGSTOP'));
          held = { donor, pids };
          break;
        }
      }
      if (!held) await sleep(20);
    }
    // WHEN the donor loses its Galera peers until it is out of the Primary component, its
    // transfer then ends (the backup released), and the peers come back
    const donor = held.donor;
    galeraPort(donor, 'block');
    cut = donor;
    await waitUntil(async () => (await status(donor, 'wsrep_cluster_status')) === 'non-Primary', 60_000);
    // the transfer ends while the donor is out: its report is made (mariadbd logs it) or held back
    const mark = currentLog(donor).length;
    held.pids.forEach((pid) => process.kill(pid, 'SIGCONT'));
    const reported = /reporting the end of the transfer once it is back|WSREP: SST sen(t|ding failed)/;
    await waitUntil(async () => reported.test(currentLog(donor).slice(mark)), 60_000);
  } finally {
    held?.pids.forEach((pid) => { try { process.kill(pid, 'SIGCONT'); } catch { /* exited */ } });
    if (cut !== undefined) galeraPort(cut, 'unblock');
  }
  // THEN every node is Synced in a cluster of three, with no watchdog restart: the donor reported
  // once back in a Primary component (never refused as CONNECTED, the state outside one; a late
  // report Galera refuses as SYNCED is harmless), and no acknowledged write was lost
  await waitAllSynced(ALL, 240_000);
  expect(currentLog(held.donor)).not.toMatch(/sst sent called when not SST donor, state CONNECTED/);
  expect(currentLog(held.donor)).not.toMatch(/Donor\/Desynced for \d+s with no state transfer running/);
  await stopAndVerify(writer);
});

/** Drops (or lets through again) pod i's Galera replication traffic, port 4567, in its own network namespace. */
function galeraPort(i: number, action: 'block' | 'unblock'): void {
  const rules = action === 'block'
    ? 'table inet cut4567 {\n chain o {\n type filter hook output priority -10;\n tcp dport 4567 drop\n tcp sport 4567 drop\n }\n'
      + ' chain i {\n type filter hook input priority -10;\n tcp dport 4567 drop\n tcp sport 4567 drop\n }\n}\n'
    : 'delete table inet cut4567\n';
  execFileSync('ip', ['netns', 'exec', pods.nsName(i), 'nft', '-f', '-'], { input: rules });
}

scenario('10. rolling restart under write load, one node at a time: no acknowledged write lost', async () => {
  const writer = await pods.startWriter({ pods: ALL });
  for (const i of [2, 1, 0]) {
    await pods.stopPod(i, 'TERM');
    await pods.startPod(i);
    await pods.waitFor(i, 'readiness', 120_000);
    expect(lastDecision(i)).toContain('decision: join:');
  }
  await stopAndVerify(writer);
});

/**
 * The state scenarios 11 and 11b start from, whatever ran before them (they also run alone, with
 * -t): the 3-pod template, pods 3 and 4 gone, galera-0..2 running, ready and Synced in one view of
 * three. Pods that are not running start as a fresh install does (or rejoin with their data).
 */
async function threeNodesSynced(): Promise<void> {
  cluster.setManifests(DEFAULT_MANIFESTS);
  await Promise.all([3, 4].filter((i) => pods.isRunning(i)).map((i) => pods.stopPod(i, 'TERM')));
  await Promise.all(ALL.filter((i) => !pods.isRunning(i)).map((i) => pods.startPod(i)));
  await waitAllReady();
  await waitAllSynced();
}

/**
 * Three nodes Synced again after a scenario that failed halfway (a partition not healed, Galera's
 * port still blocked, a node stopped, foreign data): every cut healed, a full restart (the
 * product's own recovery from a full crash), then a new volume for a node that still does not join.
 */
async function restoreThreeNodes(): Promise<void> {
  for (const i of ALL) {
    pods.heal(i);
    try { galeraPort(i, 'unblock'); } catch { /* not blocked */ }
  }
  await Promise.all([0, 1, 2, 3, 4].filter((i) => pods.isRunning(i)).map((i) => pods.stopPod(i, 'KILL')));
  cluster.setManifests(DEFAULT_MANIFESTS);
  await Promise.all(ALL.map((i) => pods.startPod(i)));
  const stuck = (await Promise.all(ALL.map((i) => pods.waitFor(i, 'readiness', 180_000).then(() => -1, () => i))))
    .filter((i) => i >= 0);
  for (const i of stuck) {
    await pods.stopPod(i, 'KILL');
    pods.wipeVolume(i);
    await pods.startPod(i);
  }
  await waitAllReady();
  await waitAllSynced();
}

scenario('11. scale from 3 to 5 and back to 3', async () => {
  await threeNodesSynced();
  const writer = await pods.startWriter({ pods: [0, 1] });
  // the StatefulSet with 5 replicas: new pods 3 and 4, then the rolling update of 0..2
  cluster.setManifests(manifests({ galera: { replicas: 5 } }));
  await Promise.all([3, 4].map((i) => pods.startPod(i)));
  await waitAllReady([3, 4]);
  for (const i of [2, 1, 0]) {
    await pods.stopPod(i, 'TERM');
    await pods.startPod(i);
    await pods.waitFor(i, 'readiness', 300_000);
  }
  expect(await status(0, 'wsrep_cluster_size')).toBe('5');
  // back to 3: with podManagementPolicy Parallel, Kubernetes deletes pods 3 and 4 at once, then rolls the rest
  cluster.setManifests(manifests());
  await Promise.all([4, 3].map((i) => pods.stopPod(i, 'TERM')));
  for (const i of [2, 1, 0]) {
    await pods.stopPod(i, 'TERM');
    await pods.startPod(i);
    await pods.waitFor(i, 'readiness', 300_000);
  }
  expect(await status(0, 'wsrep_cluster_size')).toBe('3');
  await stopAndVerify(writer);
});

scenario('11b. a scale-down rollout that loses its Primary component: the pods of both templates restart into the election, '
  + 'and the deleted pods are not waited for', async () => {
  // GIVEN a cluster of 5 (pods 3 and 4 new, galera-0 rolled onto the 5-pod template), scaled
  // down again: pods 3 and 4 deleted, galera-2 and galera-1 already on the 3-pod template (as
  // after scenario 11), galera-0 not yet, as the rollout updates it last
  await threeNodesSynced();
  cluster.setManifests(manifests({ galera: { replicas: 5 } }));
  await Promise.all([3, 4].map((i) => pods.startPod(i)));
  await waitAllReady([3, 4]);
  await pods.stopPod(0, 'TERM');
  await pods.startPod(0);
  await pods.waitFor(0, 'readiness', 300_000);
  cluster.setManifests(manifests());
  await Promise.all([4, 3].map((i) => pods.stopPod(i, 'TERM')));
  await waitUntil(async () => (await Promise.all(ALL.map((i) => status(i, 'wsrep_cluster_size')))).every((n) => n === '3'), 60_000);
  await sleep(3000); // the watchdogs record the view of 3
  // WHEN the rollout's next pod (galera-1) restarts while the others fall apart into non-Primary
  // fragments (as a graceful leave under load once left them; isolating every node makes that on demand)
  const writer = await pods.startWriter({ pods: [0, 2] });
  await sleep(2000);
  ALL.forEach((i) => pods.partition(i));
  await waitUntil(
    async () => (await Promise.all(ALL.map((i) => status(i, 'wsrep_cluster_status')))).every((st) => st === 'non-Primary'), 30_000,
  );
  const result = await writer.stop();
  await pods.stopPod(1, 'KILL');
  ALL.forEach((i) => pods.heal(i));
  await pods.startPod(1);
  // THEN galera-1 waits, and says that the others run outside a Primary component (it once called them unreachable)
  await waitForLog(1, 'galera-0, galera-2 running outside a Primary component, not yet in the election', 60_000);
  await waitUntil(async () => (await status(0, 'wsrep_cluster_size')) === '2', 30_000);
  expect(await status(0, 'wsrep_cluster_status')).toBe('non-Primary');
  // AND galera-0 (configured for 5) and galera-2 (for 3) restart into the election: neither waits
  // for the deleted pods, and the most advanced bootstraps once
  await Promise.all([0, 2].map((i) => waitForLog(i, 'restarting it to take part in the election', 120_000)));
  await waitAllReady();
  const bootstrappers = ALL.filter((i) => lastDecision(i).includes('decision: bootstrap'));
  expect(bootstrappers).toHaveLength(1);
  expect(await status(0, 'wsrep_cluster_size')).toBe('3');
  for (const i of ALL) expect(currentLog(i)).not.toMatch(/galera-[34] not reachable/);
  await pods.verifyLedger(result.acked, ALL);
  // the rollout ends: galera-0 onto the 3-pod template
  await pods.stopPod(0, 'TERM');
  await pods.startPod(0);
  await pods.waitFor(0, 'readiness', 300_000);
  expect(await status(0, 'wsrep_cluster_size')).toBe('3');
});

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(500);
  }
}

async function waitForLog(i: number, text: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!currentLog(i).includes(text)) {
    if (Date.now() > deadline) throw new Error(`galera-${i} did not log '${text}' within ${timeoutMs} ms:\n${currentLog(i).slice(-3000)}`);
    await sleep(500);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
