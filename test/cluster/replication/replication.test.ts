import { readFileSync } from 'fs';
import { Testing } from 'cdk8s';
import { Chart } from 'cdk8s';
import { ReplicationProxySql, ReplicationSection } from '../../../src/index';
import { NODE_PATHS } from '../../../src/core/node-env';
import { tlsSecretsFor } from '../../../src/core/secrets';
import { formatOpsReport, PodCluster, sqlIn, Workload } from '../../../harness/index';
import { proxysqlBinary } from '../proxysql/proxysql-binary';
import { untilAcked, waitFor } from '../wait';
import type { Manifest } from '../../tools/manifest';
import { roleOf } from '../roles';

// The primary/replica topology on the real software: every pod of the synthesized StatefulSet
// runs in its own network namespace with its init container, command, env, ConfigMap and Secret
// files, a data volume that survives restarts and the exec probes; an acknowledged-write ledger
// checks that no committed write is ever lost. Scenarios run in order on one cluster, each
// leaving it healthy for the next, numbered as in the issue. Every scenario runs under the
// NetworkPolicies the deployment synthesizes (enforced with nftables in every pod's namespace,
// see harness/network-policy.ts); scenario 15 proves they keep out a pod they do not name.

jest.setTimeout(15 * 60_000);

const SECRET = {
  'proxysql-admin-password': `adm "in" it's \\ $1 # %s`,
  'root-password': `root pw 'with' "quotes" \\ $HOME #x`,
  'app-password': 'app-Pass_1',
  'replication-password': `repl "pw" \\n $x #`,
  'monitor-password': 'mon pw#1 $',
};

// The writers reach the nodes' 3306 directly, which the NetworkPolicy allows only to ProxySQL,
// the nodes themselves (the replication channel), `directClients` and `allowFrom`: the client
// namespace carries this label, the policy names it in directClients.
const LEDGER_CLIENT = { 'test-role': 'ledger-client' };
// An application let in to the nodes' 3306 in code, after construction (allowFrom), as a user would.
const REPORTING_APP = { app: 'reporting' };

/** The deployment as ReplicationProxySql composes it: the nodes, one ProxySQL, their NetworkPolicies. */
function chart(props: ReplicationSection = {}): Chart {
  const c = new Chart(Testing.app(), 'test', { namespace: 'db' });
  const d = new ReplicationProxySql(c, 'mariadb', {
    replication: { failoverSeconds: 10, fenceSeconds: 5, ...props }, proxysql: { replicas: 1 },
    networkPolicy: { directClients: [{ podSelector: { matchLabels: LEDGER_CLIENT } }] },
  });
  d.networkPolicies.allowFrom({ podSelector: { matchLabels: REPORTING_APP } }, 'database');
  return c;
}

function manifests(props: ReplicationSection = {}): Manifest[] {
  return Testing.synth(chart(props));
}

/** The Secrets a user creates: the credentials, and the certificates `npm run -s new-tls` prints (TLS is on by default). */
async function secrets(): Promise<Record<string, Record<string, string>>> {
  const out: Record<string, Record<string, string>> = { 'mariadb-credentials': SECRET };
  for (const s of await tlsSecretsFor(chart()) as { metadata: { name: string }; stringData: Record<string, string> }[]) {
    out[s.metadata.name] = s.stringData;
  }
  return out;
}

// ProxySQL (scenario 12) runs the binary the ProxySQL suite runs; CI sets PROXYSQL_BIN.
const PROXYSQL = proxysqlBinary();

let cluster: PodCluster;
let pods: Workload;
const ALL = [0, 1, 2];
const app = { user: 'app', password: SECRET['app-password'], database: 'app' };

beforeAll(async () => {
  const objects = manifests();
  // the harness enforces what was synthesized: a run without the policies would prove nothing
  expect(objects.filter((o) => o.kind === 'NetworkPolicy').map((o) => o.metadata.name).sort()).toEqual(['mariadb', 'mariadb-proxysql']);
  cluster = new PodCluster({
    manifests: objects, secrets: await secrets(), workloads: ['mariadb', 'mariadb-proxysql'],
    binaries: PROXYSQL.path ? { proxysql: PROXYSQL.path } : {}, networkPolicies: true, clientLabels: LEDGER_CLIENT,
  });
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

const role = (i: number): Promise<string> => roleOf(pods, i);

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

test('4b. both replicas wiped at once under write load clone from the primary: its commits waiting for an acknowledgement '
  + 'no replica can give are closed unacknowledged instead of blocking the copy; no acknowledged write lost', async () => {
  // GIVEN writes to the primary, and both replicas lost with their volumes
  const writer = await pods.startWriter({ pods: [0] });
  await untilAcked(writer, 30, 'writes before the replicas are lost');
  const mark = pods.logs(0).length;
  await Promise.all([1, 2].map((i) => pods.stopPod(i, 'KILL')));
  for (const i of [1, 2]) pods.wipeVolume(i);
  // WHEN both start again with empty volumes, the primary the only ready node to clone from
  await Promise.all([1, 2].map((i) => pods.startPod(i)));
  await waitAllReady([1, 2], 300_000);
  const result = await writer.stop();
  // THEN both cloned from the primary; the commit that waited for an acknowledgement with no replica connected
  // (noReplicaAck block) was closed rather than holding the copy's backup lock; every acknowledged write is everywhere
  for (const i of [1, 2]) expect(pods.logs(i)).toContain('cloned from mariadb-0, prepared');
  expect(logSince(0, mark)).toMatch(/commit\(s\) wait for a replica's acknowledgement while no replica is connected, and block the clone/);
  expect(result.acked.length).toBeGreaterThan(0);
  await caughtUp(0, [1, 2]);
  await pods.verifyLedger(result.acked, ALL);
});

/** The pod whose role file says primary among `candidates`, polled until `timeoutMs`; -1 if none. */
async function waitForPrimary(candidates: readonly number[], timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const i of candidates) if ((await role(i).catch(() => '')) === 'primary'
      && (await variable(i, 'read_only').catch(() => '')).match(/^(0|OFF)$/)) return i;
    await sleep(250);
  }
  return -1;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const others = (i: number, among = ALL) => among.filter((j) => j !== i);

/** The log of pod i written after `mark` (a length of pods.logs(i) taken earlier). */
function logSince(i: number, mark: number): string {
  return pods.logs(i).slice(mark);
}

/**
 * A former primary comes back: it follows the new primary, or, when it holds a transaction no
 * replica acknowledged (killed or cut off mid-commit), it is refused with the documented log line
 * and the documented override clones it again. Returns whether the override was needed.
 */
async function rejoinAsReplica(i: number, mark: number): Promise<boolean> {
  const deadline = Date.now() + 180_000;
  while (!(await pods.probe(i, 'readiness')).ok && !logSince(i, mark).includes('decision: refuse:')) {
    if (Date.now() > deadline) throw new Error(`mariadb-${i} neither ready nor refused:\n${logSince(i, mark).slice(-3000)}`);
    await sleep(1000);
  }
  const refused = logSince(i, mark).includes('decision: refuse:');
  if (refused) {
    expect(logSince(i, mark)).toMatch(
      new RegExp(
        String.raw`decision: refuse: this node holds transactions the primary does not have .*kubectl exec mariadb-\d -c mariadb -- `
        + String.raw`touch \/var\/lib\/mysql\/replication-reclone`,
      ),
    );
    // a restart does not lift the refusal: the node takes no role and no vote until the override
    const restartMark = pods.logs(i).length;
    await pods.stopPod(i, 'KILL');
    await pods.startPod(i);
    await waitFor(`mariadb-${i} to be refused again after its restart\n${logSince(i, restartMark).slice(-3000)}`,
      async () => logSince(i, restartMark).includes('decision: refuse: refused before this start'), 120_000);
    expect((await pods.probe(i, 'readiness')).ok).toBe(false);
    expect(await variable(i, 'read_only')).toMatch(/^(1|ON)$/);
    pods.touchInVolume(i, 'replication-reclone'); // as kubectl exec … touch does, without an exec that can time out
  }
  await waitAllReady([i], 240_000);
  expect(await role(i)).toBe('replica');
  expect(await variable(i, 'read_only')).toMatch(/^(1|ON)$/);
  return refused;
}

let primary = 0;
let lastAcked: number[] = [];

test('5. the primary SIGKILLed under write load: the most advanced replica is promoted, the other follows it, '
  + 'no acknowledged write lost', async () => {
  // GIVEN writes offered to every pod (only the primary accepts them)
  const writer = await pods.startWriter({ pods: ALL });
  await untilAcked(writer, 30, 'writes before the fault');
  // WHEN the primary is SIGKILLed
  const old = primary;
  const mark = pods.logs(old).length;
  const killedAt = Date.now();
  await pods.stopPod(old, 'KILL');
  const promoted = await waitForPrimary(others(old), 120_000);
  const failoverMs = Date.now() - killedAt;
  expect(promoted).toBeGreaterThanOrEqual(0);
  primary = promoted;
  await pods.waitFor(primary, 'readiness', 60_000).catch(() => undefined);
  await untilAckAfter(writer.ledgerFile, killedAt, 'the kill', primary);
  const result = await writer.stop();
  // THEN the promoted replica was the most advanced, it takes writes, the other follows it
  const firstAfter = readAcks(writer.ledgerFile).find((a) => a.at > killedAt && a.pod === primary);
  console.log(`primary SIGKILL to a promoted replica: ${failoverMs} ms; `
    + `to the first write acknowledged by it: ${firstAfter ? firstAfter.at - killedAt : 'none'} ms`);
  expect(firstAfter).toBeDefined();
  expect(decisions(primary).join('\n')).toMatch(
    /decision: promote: the primary has been unreachable for \d+s; this node is the most advanced/,
  );
  const follower = others(primary).find((i) => i !== old)!;
  await waitAllReady([follower]);
  expect(await role(follower)).toBe('replica');
  await caughtUp(primary, [follower]);
  await pods.verifyLedger(result.acked, [primary, follower]);
  // and the old primary is back as a replica (or refused, then cloned by the override)
  await pods.startPod(old);
  const refused = await rejoinAsReplica(old, mark);
  if (refused) console.log('the old primary held a transaction no replica acknowledged: refused, then cloned again by the override');
  await caughtUp(primary, others(primary));
  await pods.verifyLedger(result.acked, ALL);
  lastAcked = result.acked;
});

test('6. the old primary comes back and becomes a replica of the new one (nothing errant: it was killed idle)', async () => {
  // GIVEN no write in flight / WHEN the primary is killed, a replica promoted, and the old one restarted
  const old = primary;
  await pods.stopPod(old, 'KILL');
  primary = await waitForPrimary(others(old), 120_000);
  expect(primary).toBeGreaterThanOrEqual(0);
  const mark = pods.logs(old).length;
  await pods.startPod(old);
  // THEN it follows the new primary without a refusal, and holds every row
  expect(await rejoinAsReplica(old, mark)).toBe(false);
  expect(logSince(old, mark)).toContain(`decision: replicate: mariadb-${primary} is the primary`);
  expect(await variable(old, 'rpl_semi_sync_master_enabled')).toMatch(/^(0|OFF)$/);
  expect(await variable(primary, 'rpl_semi_sync_master_enabled')).toMatch(/^(1|ON)$/);
  await caughtUp(primary, others(primary));
  await pods.verifyLedger(lastAcked, ALL);
});

test('7. the primary cut off from both replicas while a client still reaches it: it acknowledges nothing after the election, '
  + 'the majority fails over', async () => {
  // GIVEN writes offered to every pod from a client that reaches all of them
  const writer = await pods.startWriter({ pods: ALL, queryTimeoutMs: 5000 });
  let result: Awaited<ReturnType<typeof writer.stop>> | undefined;
  const old = primary;
  const mark = pods.logs(old).length;
  try {
    await untilAcked(writer, 30, 'writes before the cut');
    // WHEN the primary loses both replicas (the client still reaches it)
    const cutAt = Date.now();
    for (const j of others(old)) cluster.block(pods.slot(old), pods.slot(j));
    try {
      primary = await waitForPrimary(others(old), 120_000);
      const electedAt = Date.now();
      expect(primary).toBeGreaterThanOrEqual(0);
      // THEN the cut-off primary fences itself: read-only (how soon is a figure, not a deadline)
      await waitFor(`mariadb-${old} (cut off) to turn read-only\n${logSince(old, mark).slice(-3000)}`,
        async () => /^(1|ON)$/.test(await variable(old, 'read_only')), 60_000);
      const readOnlyAt = Date.now();
      expect(logSince(old, mark)).toMatch(/decision: fence: only 1 of 3 nodes reachable/);
      await sleep(5000);
      // and it acknowledged nothing after the election (semi-sync: no replica to acknowledge)
      const acks = readAcks(writer.ledgerFile);
      const lateFromOld = acks.filter((a) => a.pod === old && a.at >= electedAt);
      expect(lateFromOld).toEqual([]);
      const lastFromOld = acks.filter((a) => a.pod === old).pop();
      console.log(`partition: the old primary's last acknowledgement ${lastFromOld ? lastFromOld.at - cutAt : 'none'} ms after the cut; `
        + `election after ${electedAt - cutAt} ms; read-only seen ${readOnlyAt - cutAt} ms after the cut`);
      expect(acks.some((a) => a.pod === primary && a.at > electedAt)).toBe(true);
    } finally {
      for (const j of others(old)) cluster.unblock(pods.slot(old), pods.slot(j));
    }
  } finally {
    result = await writer.stop();
  }
  // and once the network heals it comes back as a replica (refused and cloned again if it holds a write cut off mid-commit)
  await rejoinAsReplica(old, mark);
  await caughtUp(primary, others(primary));
  await pods.verifyLedger(result.acked, ALL);
});

test('8. a full crash (every pod SIGKILLed under write load): the most advanced node becomes the primary, '
  + 'no acknowledged write lost', async () => {
  const writer = await pods.startWriter({ pods: ALL });
  await untilAcked(writer, 30, 'writes before the fault');
  const marks = ALL.map((i) => pods.logs(i).length);
  await pods.stopAll('KILL');
  const result = await writer.stop();
  await Promise.all(ALL.map((i) => pods.startPod(i)));
  primary = await waitForPrimary(ALL, 240_000);
  expect(primary).toBeGreaterThanOrEqual(0);
  // THEN every node voted, and the winner held the highest GTID sequence of the votes
  const line = logSince(primary, marks[primary]).split('\n').find((l) => l.includes('decision: promote:'))!;
  const votes = [...line.matchAll(/mariadb-(\d)=(-?\d+)/g)].map((m) => ({ pod: Number(m[1]), seq: Number(m[2]) }));
  expect(votes.map((v) => v.pod).sort()).toEqual(ALL);
  expect(votes.find((v) => v.pod === primary)!.seq).toBe(Math.max(...votes.map((v) => v.seq)));
  await waitAllReady(ALL, 240_000);
  await caughtUp(primary, others(primary));
  await pods.verifyLedger(result.acked, ALL);
});

test('9. a graceful full stop and restart: the same rows everywhere, one primary, two replicas', async () => {
  const writer = await pods.startWriter({ pods: ALL });
  await untilAcked(writer, 30, 'writes before the fault');
  const stops = await pods.stopAll('TERM');
  const result = await writer.stop();
  expect(stops.map((s) => s.graceful)).toEqual([true, true, true]);
  await Promise.all(ALL.map((i) => pods.startPod(i)));
  primary = await waitForPrimary(ALL, 240_000);
  expect(primary).toBeGreaterThanOrEqual(0);
  await waitAllReady(ALL, 240_000);
  expect((await Promise.all(others(primary).map(role)))).toEqual(['replica', 'replica']);
  await caughtUp(primary, others(primary));
  await pods.verifyLedger(result.acked, ALL);
});

test('9b. SIGTERM of the primary alone (a rolling update, a drain): it hands its role over before it stops, '
  + 'nothing is refused or lost', async () => {
  const writer = await pods.startWriter({ pods: ALL });
  await untilAcked(writer, 30, 'writes before the fault');
  const old = primary;
  const mark = pods.logs(old).length;
  const marks = ALL.map((i) => pods.logs(i).length);
  // WHEN the primary gets SIGTERM
  const stop = await pods.stopPod(old, 'TERM');
  expect(stop.graceful).toBe(true);
  primary = await waitForPrimary(others(old), 60_000);
  expect(primary).toBeGreaterThanOrEqual(0);
  await sleep(3000);
  // THEN it handed over (a switchover, not a failover after failoverSeconds)
  expect(logSince(old, mark)).toContain(`decision: switchover: stopping (SIGTERM): handing the primary role to mariadb-${primary}`);
  expect(logSince(primary, marks[primary])).toMatch(/decision: promote: switchover: mariadb-\d handed over the primary role at GTID/);
  // and comes back as a replica without a refusal
  await pods.startPod(old);
  expect(await rejoinAsReplica(old, mark)).toBe(false);
  const result = await writer.stop();
  console.log(`SIGTERM of the primary: stopped in ${stop.ms} ms; writes stalled at most ${result.maxStallMs} ms`);
  await caughtUp(primary, others(primary));
  await pods.verifyLedger(result.acked, ALL);
});

test('10. a planned switchover under write load moves the primary role to the named replica, no acknowledged write lost', async () => {
  const writer = await pods.startWriter({ pods: ALL });
  await untilAcked(writer, 30, 'writes before the fault');
  const old = primary;
  const target = others(old)[1];
  const startedAt = Date.now();
  // WHEN the documented command runs on the primary
  const r = await pods.exec(old, ['bash', `${NODE_PATHS.config}/repl-switchover.sh`, `mariadb-${target}`], { timeoutMs: 120_000 });
  const tookMs = Date.now() - startedAt;
  expect({ exit: r.exitCode, output: r.output }).toMatchObject({ exit: 0 });
  expect(r.output).toContain(`switchover done: mariadb-${target} is the primary`);
  // THEN the target is the primary, the old primary and the third node follow it
  primary = target;
  expect(await role(target)).toBe('primary');
  await waitAllReady(ALL, 120_000);
  for (const i of others(target)) expect(await role(i)).toBe('replica');
  await untilAckAfter(writer.ledgerFile, startedAt, 'the switchover started', target);
  const result = await writer.stop();
  const acks = readAcks(writer.ledgerFile);
  expect(acks.some((a) => a.pod === target && a.at > startedAt)).toBe(true);
  console.log(`switchover: the command returned after ${tookMs} ms; writes stalled at most ${result.maxStallMs} ms`);
  await caughtUp(primary, others(primary));
  await pods.verifyLedger(result.acked, ALL);
});

test('11. scale from 3 to 5 and back to 3 under write load: new pods clone, acknowledge once every node knows them, '
  + 'and the rollout hands the primary role over', async () => {
  const FIVE_PODS = [0, 1, 2, 3, 4];
  const semiSyncClients = async () => (await pods.sql(primary, "SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_clients'"))[0][1];
  // a rolling update, one pod at a time as the StatefulSet controller does it: 2, 1, 0
  const rollOldPods = async () => {
    for (const i of [2, 1, 0]) {
      await pods.stopPod(i, 'TERM');
      await pods.startPod(i);
      await waitAllReady([i], 300_000);
    }
  };
  const writer = await pods.startWriter({ pods: ALL });
  let result: Awaited<ReturnType<typeof writer.stop>>;
  try {
    // GIVEN the StatefulSet at 5 replicas: pods 3 and 4 start, then the rolling update of 2, 1, 0
    cluster.setManifests(manifests({ replicas: 5 }));
    await Promise.all([3, 4].map((i) => pods.startPod(i)));
    await waitAllReady([3, 4], 300_000);
    // THEN while pods 0-2 still know 3 nodes, the new pods replicate without acknowledging
    for (const i of [3, 4]) expect(await variable(i, 'rpl_semi_sync_slave_enabled')).toMatch(/^(0|OFF)$/);
    await rollOldPods();
    primary = await waitForPrimary(FIVE_PODS, 60_000);
    // and the primary stays among the pods every node knew (a handover never picks a pod the old size lacks)
    expect(primary).toBeGreaterThanOrEqual(0);
    expect(primary).toBeLessThan(3);
    // and once every node knows 5, every replica acknowledges
    await waitFor('4 semi-sync replicas on the primary', async () => (await semiSyncClients()) === '4', 90_000);
    await waitAllReady(FIVE_PODS, 120_000);
    await caughtUp(primary, others(primary, FIVE_PODS));
    // WHEN back to 3: Kubernetes deletes pods 4 and 3 at once, then rolls 2, 1, 0
    cluster.setManifests(manifests());
    await Promise.all([4, 3].map((i) => pods.stopPod(i, 'TERM')));
    await rollOldPods();
    primary = await waitForPrimary(ALL, 60_000);
    expect(primary).toBeGreaterThanOrEqual(0);
  } finally {
    result = await writer.stop();
  }
  // THEN three nodes, two acknowledging replicas, every acknowledged write everywhere
  await waitFor('2 semi-sync replicas on the primary', async () => (await semiSyncClients()) === '2', 60_000);
  console.log(`scale 3 -> 5 -> 3 under load: writes stalled at most ${result.maxStallMs} ms`);
  await waitAllReady(ALL, 120_000);
  await caughtUp(primary, others(primary));
  await pods.verifyLedger(result.acked, ALL);
});

// ProxySQL in front of the topology (scenarios 12 and 13): its one pod, its admin interface
// through the agent container, and the routes it runs.
const WRITER_HG = 10;
const READER_HG = 30;
const proxies = (): Workload => cluster.workload('mariadb-proxysql');
const viaProxy = (query: string) => sqlIn(
  cluster.clientNs, query, { ...app, host: proxies().podIp(0), port: 6033 }, new Set(), 'proxysql (client)',
);
async function admin(query: string): Promise<string[]> {
  const r = await proxies().exec(0, ['bash', '/opt/proxysql/proxysql-agent.sh', 'admin', query], { container: 'agent', timeoutMs: 15_000 });
  if (r.exitCode !== 0) throw new Error(`admin SQL failed (${r.exitCode}): ${r.output}`);
  return r.output.split('\n').filter((l) => l !== '').map((l) => l.split('\t')[0].split('.')[0]);
}
const online = (hg: number) => admin(
  `SELECT hostname FROM runtime_mysql_servers WHERE hostgroup_id=${hg} AND status='ONLINE' ORDER BY hostname`,
);
/** Waits until ProxySQL writes to `writer` only and reads from the others. */
async function routes(writer: number): Promise<void> {
  const want = JSON.stringify([[`mariadb-${writer}`], others(writer).map((i) => `mariadb-${i}`)]);
  const deadline = Date.now() + 90_000;
  let seen = '';
  while (Date.now() < deadline) {
    // ProxySQL brings a shunned server (one that restarted) back when traffic asks for one
    // (after shun_recovery_time_sec), so reads go through while we wait
    for (let k = 0; k < 4; k++) await viaProxy('SELECT 1').catch(() => undefined);
    seen = JSON.stringify([await online(WRITER_HG).catch(() => []), await online(READER_HG).catch(() => [])]);
    if (seen === want) return;
    await sleep(500);
  }
  throw new Error(`ProxySQL routes ${seen}, expected [writer, readers] ${want}`);
}

test('12. through the real ProxySQL: writes go to the primary and follow it through a switchover and a failover, reads go to the replicas, '
  + 'a fenced primary takes no write', async () => {
  if (!PROXYSQL.path) throw new Error(`ProxySQL is required for this scenario: ${PROXYSQL.problem}`);
  // GIVEN ProxySQL in front of the three nodes
  await proxies().startPod(0);
  await proxies().waitFor(0, 'readiness', 120_000);
  await routes(primary);
  // THEN writes reach the primary and plain SELECTs only the replicas
  await viaProxy("INSERT INTO items VALUES (100, 'via proxysql')");
  const serverIds = new Set<string>();
  for (let k = 0; k < 30; k++) serverIds.add(
    (await viaProxy("SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_VARIABLES WHERE VARIABLE_NAME='SERVER_ID'"))[0][0],
  );
  expect([...serverIds].sort()).toEqual(others(primary).map((i) => String(i + 1)));

  // WHEN the primary role moves by switchover (to a ready replica: the command refuses any other), writes through ProxySQL follow it
  const target = others(primary)[0];
  await waitAllReady(ALL, 120_000);
  const writer1 = await proxies().startWriter({
    pods: [0], port: 6033, user: 'app', password: app.password, database: 'app', table: 'proxied',
  });
  await untilAcked(writer1, 20, 'writes through ProxySQL before the switchover');
  const sw = await pods.exec(primary, ['bash', `${NODE_PATHS.config}/repl-switchover.sh`, `mariadb-${target}`], { timeoutMs: 120_000 });
  expect({ exit: sw.exitCode, output: sw.output }).toMatchObject({ exit: 0 });
  primary = target;
  await routes(primary);
  const switchedAt = Date.now();
  await untilAckAfter(writer1.ledgerFile, switchedAt, 'the switchover');
  const r1 = await writer1.stop();
  expect(readAcks(writer1.ledgerFile).some((a) => a.at > switchedAt)).toBe(true);
  console.log(`ProxySQL through a switchover: writes stalled at most ${r1.maxStallMs} ms`);
  await waitAllReady(ALL, 120_000);
  await caughtUp(primary, others(primary));
  await pods.verifyLedger(r1.acked, ALL, { database: 'app', table: 'proxied' });

  // WHEN the primary is cut off from both replicas (ProxySQL still reaches it) and the majority fails over
  const writer2 = await proxies().startWriter({
    pods: [0], port: 6033, user: 'app', password: app.password, database: 'app', table: 'proxied', queryTimeoutMs: 5000,
  });
  await untilAcked(writer2, 20, 'writes through ProxySQL before the cut');
  const old = primary;
  const mark = pods.logs(old).length;
  for (const j of others(old)) cluster.block(pods.slot(old), pods.slot(j));
  let r2;
  try {
    primary = await waitForPrimary(others(old), 120_000);
    expect(primary).toBeGreaterThanOrEqual(0);
    await routes(primary);
    const routedAt = Date.now();
    await untilAckAfter(writer2.ledgerFile, routedAt, 'the failover');
    r2 = await writer2.stop();
    expect(readAcks(writer2.ledgerFile).some((a) => a.at > routedAt)).toBe(true);
    console.log(`ProxySQL through a partition failover: writes stalled at most ${r2.maxStallMs} ms`);
    // THEN every write acknowledged through ProxySQL is on the new primary; whatever the fenced
    // old primary holds beyond it was never acknowledged
    await pods.verifyLedger(r2.acked, others(old), { database: 'app', table: 'proxied' });
    const onNew = new Set((await pods.sql(primary, 'SELECT id FROM app.proxied')).map((row) => Number(row[0])));
    const onlyOld = (await pods.sql(old, 'SELECT id FROM app.proxied')).map((row) => Number(row[0])).filter((id) => !onNew.has(id));
    const acked = new Set([...r1.acked, ...r2.acked]);
    expect(onlyOld.filter((id) => acked.has(id))).toEqual([]);
  } finally {
    for (const j of others(old)) cluster.unblock(pods.slot(old), pods.slot(j));
  }
  await rejoinAsReplica(old, mark);
  await routes(primary);
  await caughtUp(primary, others(primary));
  await pods.verifyLedger([...r1.acked, ...r2!.acked], ALL, { database: 'app', table: 'proxied' });
});

test('13. through ProxySQL, a call in flight when the primary is SIGKILLed is not re-sent: it committed its increment once, '
  + 'and its client saw the error', async () => {
  if (!PROXYSQL.path) throw new Error(`ProxySQL is required for this scenario: ${PROXYSQL.problem}`);
  // GIVEN ProxySQL as shipped (no statement re-sent once its backend died) in front of the primary
  if (!(await proxies().probe(0, 'readiness').catch(() => ({ ok: false }))).ok) {
    if (!proxies().isRunning(0)) await proxies().startPod(0);
    await proxies().waitFor(0, 'readiness', 120_000);
  }
  expect(
    await admin("SELECT variable_value FROM runtime_global_variables WHERE variable_name='mysql-query_retries_on_failure'"),
  ).toEqual(['0']);
  await waitAllReady(ALL, 120_000);
  await routes(primary);
  // WHEN a call is in flight when the primary dies, after its first statement committed an increment
  await viaProxy(`CREATE TABLE IF NOT EXISTS inflight (k INT PRIMARY KEY, n INT NOT NULL);
    REPLACE INTO inflight VALUES (1, 0);
    DELIMITER //
    CREATE OR REPLACE PROCEDURE bump_then_wait() BEGIN UPDATE inflight SET n = n + 1 WHERE k = 1; DO SLEEP(5); END//
    DELIMITER ;`);
  await caughtUp(primary, others(primary));
  const counter = async (i: number) => (await pods.sql(i, 'SELECT n FROM app.inflight WHERE k = 1'))[0][0];
  const call = viaProxy('CALL bump_then_wait()').then(() => 'no error', (e: Error) => e.message);
  await waitFor('the increment to reach a replica', async () => (await counter(others(primary)[0])) === '1', 10_000);
  const first = primary;
  const firstMark = pods.logs(first).length;
  await pods.stopPod(first, 'KILL');
  // THEN its client sees an error, and the increment is there once, on the promoted replica
  const outcome = await call;
  expect(outcome).not.toBe('no error');
  console.log(`the call in flight when its primary died: ${outcome.split('\n').find((l) => /ERROR/.test(l)) ?? outcome.split('\n')[0]}`);
  primary = await waitForPrimary(others(first), 120_000);
  expect(primary).toBeGreaterThanOrEqual(0);
  await sleep(6000); // longer than the call: a re-sent one would have finished by now
  expect(await counter(primary)).toBe('1');
  await pods.startPod(first);
  await rejoinOrReclone(first, firstMark);
  await routes(primary);
});

/** How long a node rejoining as a replica must stay ready before it counts as rejoined (rejoinOrReclone). */
const READY_HOLD_MS = 3000;

/**
 * A former primary back after a SIGKILL: a replica of the new one, or refused (it holds a
 * transaction no replica acknowledged) and cloned again by the documented override (scenario 5
 * checks the refusal itself). Returns whether it was cloned again.
 */
async function rejoinOrReclone(i: number, mark: number): Promise<boolean> {
  // A node about to be refused can pass one readiness probe: its replication threads run for the
  // moment between its start and the primary's 1236. So it must stay ready for READY_HOLD_MS (its
  // watch refuses it within a second of the error), and a refusal seen at any time is answered.
  let refused = false;
  let readySince = 0;
  await waitFor(`mariadb-${i} ready for ${READY_HOLD_MS} ms in a row (cloned again if refused)`, async () => {
    if (!refused && logSince(i, mark).includes('decision: refuse:')) {
      pods.touchInVolume(i, 'replication-reclone'); // as kubectl exec … touch does, without an exec that can time out
      refused = true;
    }
    if (!(await pods.probe(i, 'readiness')).ok) {
      readySince = 0;
      return false;
    }
    readySince ||= Date.now();
    return Date.now() - readySince >= READY_HOLD_MS;
  }, 420_000).catch((e: Error) => {
    throw new Error(`${e.message}\n${logSince(i, mark).slice(-3000)}`);
  });
  expect(await role(i)).toBe('replica');
  return refused;
}

const RETRIES_ON_FAILURE = "SELECT variable_value FROM runtime_global_variables WHERE variable_name='mysql-query_retries_on_failure'";

/** The last 3000 characters of each pod's log, for a failure message that says why. */
function logTails(ordinals: readonly number[]): string {
  return ordinals.map((i) => `--- mariadb-${i}\n${pods.logs(i).slice(-3000)}`).join('\n');
}

/**
 * The state scenario 14 starts from, whatever ran before it (it also runs alone, with -t): the
 * 3-pod template, pods 3 and 4 gone, mariadb-0..2 running and ready with one writable primary,
 * and ProxySQL ready and routing to it. Pods that are not running start as a fresh install does
 * (or rejoin with their data). Returns the primary.
 */
async function healthyBehindProxySql(): Promise<number> {
  cluster.setManifests(manifests());
  await Promise.all([3, 4].filter((i) => pods.isRunning(i)).map((i) => pods.stopPod(i, 'TERM')));
  await Promise.all(ALL.filter((i) => !pods.isRunning(i)).map((i) => pods.startPod(i)));
  await waitAllReady(ALL, 240_000);
  const p = await waitForPrimary(ALL, 120_000);
  if (p < 0) throw new Error(`no writable primary among ready pods:\n${logTails(ALL)}`);
  if (!proxies().isRunning(0)) await proxies().startPod(0);
  await proxies().waitFor(0, 'readiness', 120_000);
  await routes(p);
  return p;
}

test('14. the primary SIGKILLed 20 times under non-idempotent writes through ProxySQL: no write applied twice, none lost', async () => {
  if (!PROXYSQL.path) throw new Error(`ProxySQL is required for this scenario: ${PROXYSQL.problem}`);
  // GIVEN a healthy cluster behind ProxySQL as shipped (no statement re-sent once its backend died)
  primary = await healthyBehindProxySql();
  expect(await admin(RETRIES_ON_FAILURE)).toEqual(['0']);
  // and three clients of ProxySQL, each a counter increment and an INSERT without a unique key per operation
  await pods.createOpsSchema(primary, { database: 'app', table: 'ops' });
  const proxy = proxies().podIp(0);
  const writer = await cluster.startWriter({
    pods: [0, 1, 2], targets: [0, 1, 2].map((c) => ({ pod: c, host: proxy, port: 6033 })),
    user: 'app', password: app.password, database: 'app', table: 'ops', mode: 'ops', rateHz: 30,
  });
  const kills: string[] = [];
  const failoverMs: number[] = [];
  const writesAgainMs: number[] = [];
  let recloned = 0;
  try {
    for (let k = 0; k < 20; k++) {
      // WHEN the primary is SIGKILLed; a replica is promoted and writes flow through ProxySQL
      // again; the killed pod restarts and is a replica again (cloned anew if it held a commit
      // no replica acknowledged), before the next kill
      const old = primary;
      const mark = pods.logs(old).length;
      const before = writer.ackedCount();
      const killedAt = Date.now();
      await pods.stopPod(old, 'KILL');
      kills.push(`mariadb-${old}`);
      primary = await waitForPrimary(others(old), 120_000);
      if (primary < 0) {
        throw new Error(`kill ${k + 1} of mariadb-${old}: no replica promoted within 120 s\n${logTails(others(old))}`);
      }
      failoverMs.push(Date.now() - killedAt);
      await waitFor(`writes through ProxySQL after kill ${k + 1} (mariadb-${old} killed, mariadb-${primary} promoted)`,
        async () => writer.ackedCount() > before + 10, 120_000);
      writesAgainMs.push(Date.now() - killedAt);
      await pods.startPod(old);
      if (await rejoinOrReclone(old, mark)) recloned += 1;
    }
  } finally {
    await writer.stop();
  }
  // THEN on every node: no operation id twice among the INSERTs or the increments applied, every
  // acknowledged statement once, none applied whose error proves it never ran, and the counter
  // equal to the increments applied
  await caughtUp(primary, others(primary));
  const report = await pods.verifyOpsLedger(writer, ALL, { database: 'app', table: 'ops' });
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log(`20 primary SIGKILLs through ProxySQL (${kills.join(' ')}): ${formatOpsReport(report)}; `
    + `median kill to promotion ${median(failoverMs)} ms, to writes through ProxySQL again ${median(writesAgainMs)} ms; `
    + `${recloned} killed primaries held a commit no replica acknowledged and were cloned again`);
  await routes(primary);
}, 90 * 60_000);

/** 0: connected; 1: refused; 124: no answer in 3 s (the policy drops the packets). A real TCP connect from a pod or client. */
async function connect(from: { client?: string; node?: number; proxysql?: number }, ip: string, port: number): Promise<number> {
  const script = `timeout 3 bash -c '</dev/tcp/${ip}/${port}' 2>/dev/null; echo $?`;
  const command = ['bash', '-c', script];
  const run = async (): Promise<string> => {
    if (from.node !== undefined) return (await pods.exec(from.node, command, { timeoutMs: 10_000 })).output;
    if (from.proxysql !== undefined) return (await proxies().exec(from.proxysql, command, { timeoutMs: 10_000, container: 'agent' }))
      .output;
    return (await cluster.clientExec(command, { client: from.client, timeoutMs: 10_000 })).stdout;
  };
  return Number((await run()).trim().split('\n').pop());
}

test('15. NetworkPolicies: a foreign pod reaches no SQL, state or clone port; the allowFrom app and ProxySQL reach 3306', async () => {
  if (!PROXYSQL.path) throw new Error(`ProxySQL is required for this scenario: ${PROXYSQL.problem}`);
  // GIVEN a healthy cluster behind ProxySQL, under its synthesized policies
  primary = await healthyBehindProxySql();
  // and a pod of another application in the namespace, the application allowFrom lets in, and a
  // pod with that application's labels in another namespace (allowFrom named the policy's own)
  const foreign = await cluster.addClient('fo', { labels: { app: 'shop' } });
  const reporting = await cluster.addClient('rep', { labels: REPORTING_APP });
  await cluster.addClient('far', { labels: REPORTING_APP, namespace: 'elsewhere' });
  const PORTS = { sql: 3306, clone: 4444, state: 4569 };
  const drops = ALL.map((i) => cluster.droppedPackets(pods.podNs(i)));
  const seen: Record<string, number> = {};
  const probe = async (who: string, from: Parameters<typeof connect>[0], i: number, port: number) => {
    seen[`${who} -> mariadb-${i}:${port}`] = await connect(from, pods.podIp(i), port);
  };
  // the three nodes at once (a dropped connect waits its 3 s), each node's probes one by one
  await Promise.all(ALL.map(async (i) => {
    for (const port of Object.values(PORTS)) {
      await probe('foreign', { client: 'fo' }, i, port);
      await probe('far', { client: 'far' }, i, port);
      // the control: the port listens, and the nodes reach each other on it
      await probe('peer', { node: others(i)[0] }, i, port);
    }
    for (const port of [PORTS.clone, PORTS.state]) {
      await probe('reporting', { client: 'rep' }, i, port);
      await probe('proxysql', { proxysql: 0 }, i, port);
    }
    await probe('reporting', { client: 'rep' }, i, PORTS.sql);
    await probe('proxysql', { proxysql: 0 }, i, PORTS.sql);
  }));
  // THEN the foreign pods reach no port of any node (no answer: dropped, not refused); the nodes
  // reach every one of each other's; allowFrom's application and ProxySQL reach 3306 and nothing else
  const want: Record<string, number> = {};
  for (const i of ALL) {
    for (const port of Object.values(PORTS)) {
      want[`foreign -> mariadb-${i}:${port}`] = 124;
      want[`far -> mariadb-${i}:${port}`] = 124;
      want[`peer -> mariadb-${i}:${port}`] = 0;
      want[`reporting -> mariadb-${i}:${port}`] = port === PORTS.sql ? 0 : 124;
      want[`proxysql -> mariadb-${i}:${port}`] = port === PORTS.sql ? 0 : 124;
    }
  }
  expect(seen).toEqual(want);
  ALL.forEach((i) => expect(cluster.droppedPackets(pods.podNs(i))).toBeGreaterThan(drops[i]));
  // and allowFrom's application queries the primary over SQL, where the foreign pod cannot even connect
  const row = await sqlIn(reporting.ns, 'SELECT @@server_id', { ...app, host: pods.podIp(primary), port: 3306 }, new Set(), 'reporting');
  expect(row).toEqual([[String(primary + 1)]]);
  await expect(sqlIn(foreign.ns, 'SELECT 1', { ...app, host: pods.podIp(primary), port: 3306, timeoutMs: 6000 }, new Set(), 'foreign'))
    .rejects.toThrow(/Can't connect/);
  // and ProxySQL, which reaches the nodes' 3306, serves the foreign pod of the namespace (clients: the namespace, by default)
  const proxy = { ...app, host: proxies().podIp(0), port: 6033 };
  const viaProxySql = await sqlIn(foreign.ns, 'SELECT 1', proxy, new Set(), 'foreign via proxysql');
  expect(viaProxySql).toEqual([['1']]);
  expect(await connect({ client: 'far' }, proxies().podIp(0), 6033)).toBe(124);
});

/**
 * Waits up to 120 s for a write acknowledged after AT (by mariadb-POD, if given). It never throws:
 * the scenario's own assertion on the ledger then says what was missing.
 */
async function untilAckAfter(ledgerFile: string, at: number, event: string, pod?: number): Promise<void> {
  const by = pod === undefined ? '' : ` by mariadb-${pod}`;
  await waitFor(`a write acknowledged${by} after ${event}`,
    async () => readAcks(ledgerFile).some((a) => a.at > at && (pod === undefined || a.pod === pod)), 120_000).catch(() => undefined);
}

function readAcks(file: string): { id: number; pod: number; at: number }[] {
  return readFileSync(file, 'utf8').split('\n').map((l) => /^(\d+) (\d+) (\d+)$/.exec(l)).filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ id: Number(m[1]), pod: Number(m[2]), at: Number(m[3]) }));
}
