import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { Chart, Testing } from 'cdk8s';
import { Ack, PodCluster, Workload } from '../../../harness/index';
import { MariaDbBackup, MariaDbReplication, MariaDbReplicationProps } from '../../../src/index';
import { NODE_PATHS } from '../../../src/core/node-env';
import { newCertificateAuthority, PemPair, tlsSecrets } from '../../../src/tls/certificates';
import { sleep, waitFor } from '../wait';
import { dropGtidFound, noteTimeThenDrop, segmentsIn, seqOf } from './archive';

// Point-in-time recovery on the real servers, primary/replica: a full backup from a replica under
// write load, the binlog archiver shipping to the backup claim, a mistaken DROP TABLE on the
// primary; a new cluster restored to a time before it, one restored to just before the DROP's
// GTID found with binlog-find.sh, and one from a claim with an altered archive segment. In the
// new cluster mariadb-0 restores the backup and replays the archive; the replicas restore the
// same backup and receive the replayed transactions from it by replication (their GTID position
// is the backup's). Last, every pod of the source is
// SIGKILLed under write load and a cluster restored to the latest archived point.

jest.setTimeout(30 * 60_000);

const SECRET = {
  'root-password': 'root-Pass_1', 'app-password': 'app-Pass_1', 'replication-password': 'repl-Pass_2', 'monitor-password': 'mon-Pass_3',
};
const ALL = [0, 1, 2];
const NS = 'db';
const ARCHIVER = 'mariadb-binlog-archiver';
const CLAIM = 'mariadb-backups';
const ROWS = 2000;
/** What a total loss may cost at most here (archiveSeconds 2). */
const RPO_BOUND_MS = 15_000;

/** A TLS primary/replica cluster with backups to its claim; archiving unless it is restored to a point. */
function build(props: MariaDbReplicationProps = {}): { manifests: object[]; db: MariaDbReplication; backup: MariaDbBackup } {
  const chart = new Chart(Testing.app(), 'test', { namespace: NS });
  const db = new MariaDbReplication(chart, 'mariadb', {
    failoverSeconds: 10, fenceSeconds: 5, tls: { enabled: true }, backupEndpoint: true, ...props,
  });
  // (a cluster restored to an earlier point may not archive where it was restored from: it does not archive)
  const pointInTime = props.restoreFrom ? undefined : { enabled: true, archiveSeconds: 2 };
  const backup = new MariaDbBackup(chart, 'backup', { cluster: db, pointInTime });
  return { manifests: Testing.synth(chart), db, backup };
}

async function secretsFor(db: MariaDbReplication, ca: PemPair): Promise<Record<string, Record<string, string>>> {
  const out: Record<string, Record<string, string>> = { [db.secretName]: SECRET };
  const tls = await tlsSecrets(NS, ca, 'mariadb-ca', [db.certificateSpec!, db.backupEndpoint!.clientCertificateSpec]);
  for (const s of tls as { metadata: { name: string }; stringData: Record<string, string> }[]) out[s.metadata.name] = s.stringData;
  return out;
}

describe('point-in-time recovery, primary/replica', () => {
  let ca: PemPair;
  let source: PodCluster;
  let pods: Workload;
  let restored: PodCluster | undefined;
  let acks: Ack[] = [];
  let pointMs = 0;
  let dropGtid = '';
  let ackedBeforeDrop: number[] = [];
  const role = async (w: Workload, i: number) => (await w.exec(i, ['cat', `${NODE_PATHS.runtime}/role`])).output.trim();
  const position = async (w: Workload, i: number) => (await w.sql(i, 'SELECT @@gtid_binlog_pos'))[0][0];

  /** The pods of a new cluster restoring from a copy of the source's backup claim (backups and archive), `spoil` run on its claim first. */
  async function startRestoring(to: { pointInTime?: string; gtid?: string }, claimCopy: string,
    spoil: (claim: string) => void = () => undefined): Promise<Workload> {
    const b = build({ restoreFrom: { backup: 'latest', volume: { claimName: CLAIM }, ...to } });
    restored = new PodCluster({ manifests: b.manifests, secrets: await secretsFor(b.db, ca), workloads: ['mariadb'] });
    await restored.setup();
    const claim = join(restored.runDir, 'pvc', CLAIM);
    mkdirSync(claim, { recursive: true });
    cpSync(claimCopy, claim, { recursive: true });
    spoil(claim);
    const w = restored.workload('mariadb');
    await Promise.all(ALL.map((i) => w.startPod(i)));
    return w;
  }

  /** A new cluster restored from a copy of the source's backup claim, once every pod is ready. */
  async function restore(to: { pointInTime?: string; gtid?: string }, claimCopy = join(source.runDir, 'pvc', CLAIM)): Promise<Workload> {
    const w = await startRestoring(to, claimCopy);
    await Promise.all(ALL.map((i) => w.waitFor(i, 'readiness', 300_000)));
    // mariadb-0 replayed, then reset the accounts (binlogged after the replayed seqs), and is the
    // primary; the replicas restored the backup and replicate from it
    expect(w.logs(0, 'restore')).toContain("reset to the passwords of Secret 'mariadb-credentials', after the replayed transactions");
    expect(await role(w, 0)).toBe('primary');
    for (const i of [1, 2]) {
      expect(await role(w, i)).toBe('replica');
      expect(w.logs(i)).not.toMatch(/decision: clone:/);
    }
    // every node has applied everything the primary holds (the replayed transactions included)
    const primaryAt = await position(w, 0);
    await waitFor(`the replicas at ${primaryAt}`, async () => (await Promise.all([1, 2].map((i) => position(w, i))))
      .every((p) => p === primaryAt), 120_000);
    return w;
  }

  async function ids(w: Workload, i: number): Promise<Set<number>> {
    return new Set((await w.sql(i, 'SELECT id FROM ledger.acks')).map((r) => Number(r[0])));
  }

  beforeAll(async () => {
    // GIVEN a primary/replica cluster with backups and binlog archiving, a table of ROWS rows, a
    // writer on the primary, the archive started, a full backup, a noted time T, then a mistaken
    // DROP TABLE of that table, all archived
    ca = await newCertificateAuthority('test cluster CA');
    const b = build();
    source = new PodCluster({ manifests: b.manifests, secrets: await secretsFor(b.db, ca), workloads: ['mariadb', ARCHIVER] });
    await source.setup();
    pods = source.workload('mariadb');
    await Promise.all(ALL.map((i) => pods.startPod(i)));
    await Promise.all(ALL.map((i) => pods.waitFor(i, 'readiness', 300_000)));
    expect(await role(pods, 0)).toBe('primary');
    await pods.sql(0, `USE app; CREATE TABLE app.bulk (id INT PRIMARY KEY, payload VARCHAR(64)) ENGINE=InnoDB;
      INSERT INTO app.bulk SELECT seq, SHA2(seq, 256) FROM seq_1_to_${ROWS}`);
    const archiver = source.workload(ARCHIVER);
    await archiver.startPod(0);
    const writer = await pods.startWriter({ pods: [0], rateHz: 20 });
    // the archive starts where a replica's binlog starts (its clone), before the backup's position
    await waitFor('the first segment', async () => segmentsIn(join(source.runDir, 'pvc', CLAIM, 'binlogs')).length >= 1, 120_000);
    const job = await source.runCronJob('mariadb-backup', b.manifests, 15 * 60_000);
    expect(job.succeeded).toBe(true);
    ({ pointMs, ackedBeforeDrop, acks } = await noteTimeThenDrop(writer, () => pods.sql(0, 'DROP TABLE app.bulk')));
    dropGtid = await dropGtidFound(archiver);
  });

  afterAll(async () => {
    await restored?.cleanup();
    await source?.cleanup();
  });

  test('restore to a time T: every write acknowledged before T on every node, none started after it, the dropped table there', async () => {
    const w = await restore({ pointInTime: new Date(pointMs).toISOString().replace(/\.000Z$/, 'Z') });
    const before = acks.filter((a) => a.at < pointMs).map((a) => a.id);
    const lastBefore = Math.max(...before);
    // the writer writes to one pod, one write at a time: ids past the last acknowledged before T,
    // bar the one in flight at T, started after T
    const after = acks.filter((a) => a.id > lastBefore + 1).map((a) => a.id);
    expect(before.length).toBeGreaterThan(0);
    expect(after.length).toBeGreaterThan(0);
    await w.verifyLedger(before, ALL);
    for (const i of ALL) {
      const have = await ids(w, i);
      expect(after.filter((id) => have.has(id))).toEqual([]);
      expect((await w.sql(i, 'SELECT COUNT(*) FROM app.bulk'))[0][0]).toBe(String(ROWS));
    }
    const inFlight = (await ids(w, 0)).has(lastBefore + 1);
    console.log(`restored to ${new Date(pointMs).toISOString()}: ${before.length} writes acknowledged before it all there on every node, `
      + `${after.length} started after it all absent; the write in flight at T ${inFlight ? 'there' : 'absent'}`);
    expect(w.logs(0, 'restore')).toMatch(/restore: replayed the archived binlogs up to seq \d+/);
    await restored!.cleanup();
    restored = undefined;
  });

  test('restore to the GTID of the DROP TABLE found with binlog-find.sh: the table with every row, every write acknowledged before it; '
    + 'new writes replicate', async () => {
    const w = await restore({ gtid: dropGtid });
    const dropSeq = seqOf(dropGtid);
    await w.verifyLedger(ackedBeforeDrop, ALL);
    expect(w.logs(0, 'restore')).toContain(`restore: replayed the archived binlogs up to seq ${dropSeq - 1}`);
    for (const i of ALL) expect((await w.sql(i, 'SELECT COUNT(*) FROM app.bulk'))[0][0]).toBe(String(ROWS));
    // AND the GTIDs go on from the replayed ones: a new write on the primary gets a later seq, and replicates
    await w.sql(0, 'CREATE TABLE app.after_restore (id INT PRIMARY KEY); INSERT INTO app.after_restore VALUES (1)');
    const primaryAt = await position(w, 0);
    expect(seqOf(primaryAt.split(',').find((g) => g.startsWith('0-'))!)).toBeGreaterThan(dropSeq);
    await waitFor(`the replicas at ${primaryAt}`, async () => (await Promise.all([1, 2].map((i) => position(w, i))))
      .every((p) => p === primaryAt), 60_000);
    for (const i of [1, 2]) expect(await w.sql(i, 'SELECT id FROM app.after_restore')).toEqual([['1']]);
    console.log(`restored to before ${dropGtid}: app.bulk with ${ROWS} rows, ${ackedBeforeDrop.length} writes; new writes at ${primaryAt}`);
    await restored!.cleanup();
    restored = undefined;
  });

  test('an archived segment altered on the claim is refused by name before anything changes; put back, the restore goes on', async () => {
    // GIVEN a copy of the claim where one byte changed in a segment the restore to the DROP's GTID replays
    const dropSeq = seqOf(dropGtid);
    const segment = segmentsIn(join(source.runDir, 'pvc', CLAIM, 'binlogs'))
      .find((g) => seqOf(g.lastGtid) >= dropSeq - 1 && seqOf(g.startAfter) < dropSeq - 1)!;
    const file = (claim: string) => join(claim, 'binlogs', `${segment.name}.binlog`);
    let claimDir = '';
    // WHEN a new cluster restores from it
    const w = await startRestoring({ gtid: dropGtid }, join(source.runDir, 'pvc', CLAIM), (claim) => {
      claimDir = claim;
      const bytes = readFileSync(file(claim));
      bytes[Math.floor(bytes.length / 2)] ^= 0xff;
      writeFileSync(file(claim), bytes);
    });
    // THEN mariadb-0's restore refuses it, naming the segment, before it changed anything: its
    // volume holds no data, no pod is ready
    const refusal = new RegExp(`archived binlog segment ${segment.name}\\.binlog is corrupt: sha256 [0-9a-f]{64}, `
      + 'its manifest says [0-9a-f]{64}; nothing was changed');
    await waitFor('the altered segment refused', async () => refusal.test(w.logs(0, 'restore')), 240_000);
    expect(readdirSync(w.dataDir(0)).filter((f) => f !== 'lost+found')).toEqual([]);
    expect(ALL.some((i) => w.isReady(i))).toBe(false);
    // WHEN the intact segment is put back, the crash-looping restore takes it on its next try
    cpSync(file(join(source.runDir, 'pvc', CLAIM)), file(claimDir));
    await Promise.all(ALL.map((i) => w.waitFor(i, 'readiness', 300_000)));
    // THEN the restore is whole: every write acknowledged before the DROP, the table with its rows
    await w.verifyLedger(ackedBeforeDrop, ALL);
    expect((await w.sql(0, 'SELECT COUNT(*) FROM app.bulk'))[0][0]).toBe(String(ROWS));
    await restored!.cleanup();
    restored = undefined;
  });

  test('every pod lost under write load, the node volumes too: a cluster restored from the backup claim to the latest point '
    + 'lacks only the last seconds of acknowledged writes (RPO printed)', async () => {
    // GIVEN writes for 30 s after the backup, archived behind it every 2 s from a replica
    const writer = await pods.startWriter({ pods: [0], rateHz: 20 });
    await sleep(30_000);
    // WHEN every pod is SIGKILLed at once, the archiver's with its outbox, and only the backup claim is kept
    const lostAt = Date.now();
    await Promise.all([pods.stopAll('KILL'), source.workload(ARCHIVER).stopPod(0, 'KILL')]);
    const lost = writer.acks();
    await writer.stop();
    const claimCopy = mkdtempSync(join(tmpdir(), 'replication-pitr-claim-'));
    try {
      cpSync(join(source.runDir, 'pvc', CLAIM), claimCopy, { recursive: true });
      await source.cleanup();
      // and a new cluster is created from it, to the latest point archived
      const w = await restore({ pointInTime: 'latest' }, claimCopy);

      // THEN it lacks only writes acknowledged in the last seconds before the loss
      expect(w.logs(0, 'restore')).toMatch(/restore: replayed the archived binlogs up to seq \d+/);
      const have = await ids(w, 0);
      const missing = lost.filter((a) => !have.has(a.id));
      const rpoMs = missing.length > 0 ? lostAt - Math.min(...missing.map((a) => a.at)) : 0;
      console.log(`every pod lost ${lost.length} acknowledged writes in: restored to the latest archived point, ${missing.length} `
        + `missing, the oldest acknowledged ${(rpoMs / 1000).toFixed(1)} s before the loss (archiveSeconds 2)`);
      expect(lost.length).toBeGreaterThan(100);
      // a bound far above what 2 s rounds and the replica's lag give, far below what the backup alone loses (30 s)
      expect(rpoMs).toBeLessThan(RPO_BOUND_MS);
      await w.verifyLedger(lost.filter((a) => a.at < lostAt - RPO_BOUND_MS).map((a) => a.id), ALL);
    } finally {
      rmSync(claimCopy, { recursive: true, force: true });
    }
  });
});
