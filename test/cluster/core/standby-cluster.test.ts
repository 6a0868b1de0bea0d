import { execFileSync } from 'child_process';
import { readdirSync } from 'fs';
import { join } from 'path';
import { Chart, Testing } from 'cdk8s';
import { PodCluster, Workload } from '../../../harness/index';
import { GaleraCluster, MariaDbReplication } from '../../../src/index';
import { NODE_PATHS } from '../../../src/core/node-env';
import { TEST_CREDENTIALS } from '../secrets';
import { waitFor } from '../wait';
import { seqOf } from './old-database';
import { ALL, primaryOf, Topology } from './source-fixture';

// A standby cluster (the source prop naming a cluster made by this project, as in another
// Kubernetes cluster), as synthesized, of either topology: a primary/replica cluster 'origin'
// (namespace dc1) takes writes; the standby 'mariadb' (namespace db, GTID domain 1) was created
// from its first pod and follows it (its primary, or on Galera the node that follows). The origin
// is cut off from that node for a while (the writes of that time never arrive), then killed
// entirely; the forced promotion (repl-cutover.sh or galera-cutover.sh --force) runs on it, and
// the standby then serves writes. What it printed as possibly lost (everything after one GTID
// of the origin) must be exactly the acknowledged writes the standby lacks: the origin's binary
// log says which transaction carried which id. Both clusters are this file's own, TLS off.

jest.setTimeout(20 * 60_000);

const ORIGIN_FIRST = 'origin-0.origin.dc1.svc.cluster.local';
const MIGRATOR = { username: 'standby', password: 'standby-Pass_7-long-enough' };

function manifests(topology: Topology): object[] {
  const app = Testing.app();
  const common = { tls: { enabled: false }, failoverSeconds: 10, fenceSeconds: 5 } as const;
  const dc1 = new Chart(app, 'dc1', { namespace: 'dc1' });
  new MariaDbReplication(dc1, 'origin', { ...common, name: 'origin' });
  const db = new Chart(app, 'db', { namespace: 'db' });
  const standbyProps = {
    name: 'mariadb', tls: { enabled: false }, gtidDomainId: 1, source: { host: ORIGIN_FIRST, secretName: 'origin-source' },
  };
  if (topology === 'galera') new GaleraCluster(db, 'standby', standbyProps);
  else new MariaDbReplication(db, 'standby', { ...common, ...standbyProps });
  return [...Testing.synth(dc1), ...Testing.synth(db)];
}

/** The standby's node that follows the origin: its primary, or the Galera node whose log says it started following. */
async function followerOf(standby: Workload, topology: Topology): Promise<number> {
  if (topology === 'replication') return primaryOf(standby);
  let found = -1;
  await waitFor('a Galera node to follow the origin', async () => (found = ALL.find((i) => standby.logs(i)
    .includes('decision: follow: replicating from the source')) ?? -1) >= 0, 120_000);
  return found;
}

/** Which transaction (the seq of its GTID in domain 0) inserted each ledger id, from a data directory's binary logs. */
function idsByTransaction(dataDir: string): Map<number, number> {
  const logs = readdirSync(dataDir).filter((f) => /^mysql-bin\.[0-9]+$/.test(f)).sort().map((f) => join(dataDir, f));
  const text = execFileSync('mariadb-binlog', ['--no-defaults', '-v', '--base64-output=DECODE-ROWS', ...logs],
    { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  const out = new Map<number, number>();
  let seq = -1;
  let inLedger = false;
  for (const line of text.split('\n')) {
    const gtid = /\bGTID 0-[0-9]+-([0-9]+)\b/.exec(line);
    if (gtid) { seq = Number(gtid[1]); inLedger = false; continue; }
    if (line.startsWith('### INSERT INTO')) inLedger = line.includes('`ledger`.`acks`');
    const id = /^###\s+@1=([0-9]+)/.exec(line);
    if (id && inLedger) out.set(Number(id[1]), seq);
  }
  return out;
}

describe.each(['replication', 'galera'] as const)('a %s standby', (topology) => {
  let cluster: PodCluster;
  let origin: Workload;
  let standby: Workload;

  beforeAll(async () => {
    cluster = new PodCluster({
      manifests: manifests(topology), workloads: ['origin', 'mariadb'],
      secrets: { 'origin-credentials': TEST_CREDENTIALS, 'mariadb-credentials': TEST_CREDENTIALS, 'origin-source': MIGRATOR },
    });
    await cluster.setup();
    origin = cluster.workload('origin');
    standby = cluster.workload('mariadb');
  });

  afterAll(async () => {
    await cluster?.cleanup();
  });

  test('the origin cluster lost entirely: the forced promotion prints the last GTID it holds, the standby serves writes, '
    + 'and every acknowledged write it lacks came after that GTID', async () => {
    // GIVEN the origin cluster taking writes, with an account for the standby (made on its primary, like any account)
    await Promise.all(ALL.map((i) => origin.startPod(i)));
    await Promise.all(ALL.map((i) => origin.waitFor(i, 'readiness', 300_000)));
    const o = await primaryOf(origin);
    await origin.sql(o, `CREATE USER '${MIGRATOR.username}'@'%' IDENTIFIED BY '${MIGRATOR.password}';
      GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES, RELOAD, BINLOG MONITOR, REPLICATION SLAVE
        ON *.* TO '${MIGRATOR.username}'@'%'`);
    const writer = await origin.startWriter({ pods: [o], rateHz: 20 });
    await waitFor('writes on the origin', async () => writer.ackedCount() > 20, 60_000);
    // ... and the standby created from it, following it
    await Promise.all(ALL.map((i) => standby.startPod(i)));
    await Promise.all(ALL.map((i) => standby.waitFor(i, 'readiness', 300_000)));
    const s = await followerOf(standby, topology);
    await waitFor(`mariadb-${s} to follow the origin`, async () => standby.logs(s).includes('decision: follow:'), 120_000);
    await waitFor('the standby to catch up', async () => seqOf((await standby.sql(s, 'SELECT @@GLOBAL.gtid_slave_pos'))[0][0], 0)
      >= seqOf((await origin.sql(o, 'SELECT @@GLOBAL.gtid_binlog_pos'))[0][0], 0) - 5, 120_000);
    // WHEN the origin is cut off from the standby (the pod it follows) while it takes writes, then lost entirely
    cluster.block(origin.slot(0), standby.slot(s));
    const before = writer.ackedCount();
    await waitFor('writes the standby cannot receive', async () => writer.ackedCount() > before + 20, 60_000);
    await origin.stopAll('KILL');
    const result = await writer.stop();
    const script = topology === 'galera' ? 'galera-cutover.sh' : 'repl-cutover.sh';
    const promotion = await standby.exec(s, ['bash', `${NODE_PATHS.config}/${script}`, '--force']);
    // THEN the standby takes writes, and said what it may lack
    expect(promotion.exitCode).toBe(0);
    const printed = /POSSIBLY LOST: every transaction the source committed after GTID (\S+) /.exec(promotion.output);
    expect(printed).not.toBeNull();
    const kept = seqOf(printed![1], 0);
    expect(await standby.sql(s, 'SELECT @@GLOBAL.read_only')).toEqual([['0']]);
    const after = await standby.startWriter({ pods: [s], rateHz: 20 });
    await waitFor('writes on the standby', async () => after.ackedCount() > 10, 60_000);
    const local = await after.stop();
    await standby.verifyLedger(local.acked, ALL);
    // ... and what it lacks of the origin is exactly the acknowledged writes after that GTID
    const carriedBy = idsByTransaction(origin.dataDir(o));
    const onStandby = new Set((await standby.sql(s, 'SELECT id FROM ledger.acks')).map((r) => Number(r[0])));
    const missing = result.acked.filter((id) => !onStandby.has(id));
    const lostPerBinlog = result.acked.filter((id) => (carriedBy.get(id) ?? Infinity) > kept);
    console.log(`forced promotion of the ${topology} standby's mariadb-${s}: it holds the origin up to seq ${kept}; `
      + `${result.acked.length} writes acknowledged `
      + `by the origin, ${missing.length} missing on the standby, ${lostPerBinlog.length} after seq ${kept} per the origin's binary log`);
    expect(result.acked.every((id) => carriedBy.has(id))).toBe(true);
    expect(missing.sort()).toEqual(lostPerBinlog.sort());
    expect(missing.length).toBeGreaterThan(0);
  });
});
