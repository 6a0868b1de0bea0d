import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'fs';
import { cpus, tmpdir } from 'os';
import { join } from 'path';
import { Testing } from 'cdk8s';
import { GaleraProxySqlChart, GaleraProxySqlChartProps } from '../src/index';
import { newCertificateAuthority } from '../src/tls/certificates';
import { chartSecrets } from '../test/cluster/secrets';
import { PodCluster, Workload } from '../harness/index';
import { parseExposition, valueOf } from '../test/tools/prometheus';
import { segmentsIn, seqOf } from '../test/cluster/backup/archive';
import { median, sleep, untilSynced } from './common';

// Point-in-time recovery on the real software (Galera, TLS; the restore's scripts are the ones
// the primary/replica topology runs too). Not a test: it prints figures. Usage:
//   npm run bench:pitr [-- --archive-seconds 5 --lag-seconds 60 --rate 50 --volumes 50,200 --rpo-rounds 1]
// 1. archive lag under steady write load (RATE single-row transactions a second to every node):
//    the archiver's own metrics (mariadb_binlog_archive_lag_seconds, _transactions) scraped
//    every second for LAG_SECONDS, median and p95;
// 2. restore time to the latest point as a function of the binlog volume replayed after the
//    full backup: a new three-node cluster from a copy of the backup claim, to all Synced, after
//    the lag phase's writes, then after each cumulative VOLUMES MB of row events;
// 3. RPO after losing everything: writes for 30 s, every pod SIGKILLed at once (the archiver's
//    too), a new cluster restored to the latest point; the acknowledged writes it lacks, and how
//    long before the loss the oldest of them was acknowledged. RPO_ROUNDS rounds, each on a new
//    source cluster.

const arg = (name: string, d: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : d;
};
const ARCHIVE_SECONDS = Number(arg('archive-seconds', '5'));
const LAG_SECONDS = Number(arg('lag-seconds', '60'));
const RATE = Number(arg('rate', '50'));
const VOLUMES_MB = arg('volumes', '50,200').split(',').map(Number);
const RPO_ROUNDS = Number(arg('rpo-rounds', '1'));
const ALL = [0, 1, 2];
const CLAIM = 'galera-backups';
const ARCHIVER = 'galera-binlog-archiver';
const BENCH_CLIENT = { 'bench-role': 'direct-client' };
const SECRET = {
  'root-password': 'bench-root', 'app-password': 'bench-app', 'sst-password': 'bench-sst', 'monitor-password': 'bench-mon',
  'proxysql-admin-password': 'bench-adm',
};
/** Rows of two 128-character hex digests and an id: about 260 bytes of row event; 10,000 per transaction (2.6 MB). */
const ROW_BYTES = 260;
const CHUNK = 10_000;

function chart(extra: Partial<GaleraProxySqlChartProps['galera']> = {}): GaleraProxySqlChart {
  return new GaleraProxySqlChart(Testing.app(), 'bench', {
    galera: { storageSize: '20Gi', innodbBufferPoolSize: '256M', ...extra },
    networkPolicy: { directClients: [{ podSelector: { matchLabels: BENCH_CLIENT } }] },
    // a cluster restored to a point does not archive (it would write seqs the archive holds)
    backup: extra.restoreFrom ? { enabled: true } : { enabled: true, pointInTime: { enabled: true, archiveSeconds: ARCHIVE_SECONDS } },
  });
}

function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

/** The domain seq of the newest full backup on a claim (its manifest's GTID; none yet: 0). */
function backupSeqIn(claim: string): number {
  const m = readdirSync(claim).filter((f) => f.endsWith('.json')).sort().map((f) => JSON.parse(readFileSync(join(claim, f), 'utf8')))
    .at(-1) as { gtid?: string } | undefined;
  if (!m) throw new Error(`no backup manifest in ${claim}`);
  return seqOf(m.gtid?.split(',').find((g) => g.startsWith('0-')) ?? '');
}

/** Bytes of the archive's segments. */
function archivedBytes(claim: string): number {
  return segmentsIn(join(claim, 'binlogs')).reduce((n, s) => n + s.sizeBytes, 0);
}

class Source {
  public readonly pods: Workload;
  public readonly archiver: Workload;
  constructor(public readonly cluster: PodCluster) {
    this.pods = cluster.workload('galera');
    this.archiver = cluster.workload(ARCHIVER);
  }

  get claim(): string {
    return join(this.cluster.runDir, 'pvc', CLAIM);
  }

  /** One scrape of the archiver's metrics: the values of `names`. */
  async metrics(...names: string[]): Promise<number[]> {
    const series = parseExposition((await this.archiver.exec(0, ['bash', '-c', 'exec 3<>/dev/tcp/127.0.0.1/9106; cat <&3'])).output);
    return names.map((name) => valueOf(series, name) ?? NaN);
  }

  /** Until the archive holds every transaction galera-0 committed. */
  async caughtUp(): Promise<number> {
    const target = seqOf((await this.pods.sql(0, 'SELECT @@gtid_binlog_pos'))[0][0].split(',').find((g) => g.startsWith('0-'))!);
    const t = Date.now();
    while (seqOf(segmentsIn(join(this.claim, 'binlogs')).at(-1)?.lastGtid ?? '') < target) {
      if (Date.now() - t > 600_000) throw new Error(`the archive did not reach seq ${target} in 10 min`);
      await sleep(500);
    }
    return target;
  }
}

async function newSource(ca: Awaited<ReturnType<typeof newCertificateAuthority>>): Promise<Source> {
  const c = chart();
  const cluster = new PodCluster({
    manifests: Testing.synth(c), secrets: await chartSecrets(c, SECRET, ca), workloads: ['galera', ARCHIVER], clientLabels: BENCH_CLIENT,
  });
  await cluster.setup();
  const s = new Source(cluster);
  await Promise.all(ALL.map((i) => s.pods.startPod(i)));
  await untilSynced(s.pods, ALL, Date.now(), 3, 600_000);
  await s.archiver.startPod(0);
  const job = await cluster.runCronJob('galera-backup', Testing.synth(c), 3_600_000);
  if (!job.succeeded) throw new Error(`backup job failed:\n${job.pod.logs()}`);
  return s;
}

interface Restored { seconds: number; replaySeconds: number; pods: Workload; cluster: PodCluster }

/** A new cluster restored to the latest archived point from a copy of `claim`, timed to all Synced. */
async function restoreLatest(ca: Awaited<ReturnType<typeof newCertificateAuthority>>, claim: string): Promise<Restored> {
  const c = chart({ restoreFrom: { backup: 'latest', pointInTime: 'latest' } });
  const cluster = new PodCluster({
    manifests: Testing.synth(c), secrets: await chartSecrets(c, SECRET, ca), workloads: ['galera'], clientLabels: BENCH_CLIENT,
  });
  await cluster.setup();
  mkdirSync(join(cluster.runDir, 'pvc', CLAIM), { recursive: true });
  cpSync(claim, join(cluster.runDir, 'pvc', CLAIM), { recursive: true });
  const pods = cluster.workload('galera');
  const t = Date.now();
  await Promise.all(ALL.map((i) => pods.startPod(i)));
  const ms = await untilSynced(pods, ALL, t, 3, 3_600_000);
  const replayed = /replayed the archived binlogs up to seq \d+ in (\d+) s/.exec(pods.logs(0, 'restore'));
  if (!replayed) throw new Error(`galera-0 did not replay:\n${pods.logs(0, 'restore').slice(-3000)}`);
  return { seconds: ms / 1000, replaySeconds: Number(replayed[1]), pods, cluster };
}

/** About `mb` MB of row events written to app.big in transactions of CHUNK rows; the next row's id. */
async function writeRows(pods: Workload, fromRow: number, mb: number): Promise<number> {
  const rows = Math.ceil((mb * 2 ** 20) / ROW_BYTES);
  for (let from = fromRow; from < fromRow + rows; from += CHUNK) {
    const to = Math.min(fromRow + rows - 1, from + CHUNK - 1);
    await pods.sql(0, `USE app; INSERT INTO big SELECT seq, LEFT(SHA2(seq, 512), 200), RIGHT(SHA2(seq * 7, 512), 200) `
      + `FROM seq_${from}_to_${to}`, { timeoutMs: 600_000 });
  }
  return fromRow + rows;
}

async function main(): Promise<void> {
  const ca = await newCertificateAuthority('bench CA');
  const work = mkdtempSync(join(tmpdir(), 'pitr-bench-'));
  const clusters: PodCluster[] = [];
  const lagSeconds: number[] = [];
  const lagTxns: number[] = [];
  const restores: { mb: number; txns: number; seconds: number; replaySeconds: number }[] = [];
  const rpo: { missing: number; acked: number; oldestMs: number }[] = [];
  try {
    // 1. archive lag under steady load
    const s = await newSource(ca);
    clusters.push(s.cluster);
    await s.caughtUp();
    const backupSeq = backupSeqIn(s.claim);
    const backupBytes = archivedBytes(s.claim);
    console.log(`source cluster up, backup taken at seq ${backupSeq}; archive lag under ${RATE} writes/s for ${LAG_SECONDS} s ...`);
    const writer = await s.pods.startWriter({ pods: ALL, rateHz: RATE });
    await sleep(5000);
    for (let t = 0; t < LAG_SECONDS; t++) {
      const started = Date.now();
      const [seconds, txns] = await s.metrics('mariadb_binlog_archive_lag_seconds', 'mariadb_binlog_archive_lag_transactions');
      lagSeconds.push(seconds);
      lagTxns.push(txns);
      await sleep(Math.max(0, 1000 - (Date.now() - started)));
    }
    const w = await writer.stop();
    console.log(`lag (s) every second: ${lagSeconds.join(' ')} (${w.acked.length} writes acknowledged, ${w.errors} errors)`);

    // 2. restore time against the binlog volume replayed after the backup
    await s.pods.sql(0, 'CREATE TABLE app.big (id INT PRIMARY KEY, a VARCHAR(200), b VARCHAR(200)) ENGINE=InnoDB');
    let nextRow = 1;
    for (const mb of [0, ...VOLUMES_MB]) {
      if (mb > 0) nextRow = await writeRows(s.pods, nextRow, mb - (restores.at(-1)?.mb ?? 0));
      const seq = await s.caughtUp();
      const copy = join(work, `claim-${mb}`);
      cpSync(s.claim, copy, { recursive: true });
      const bytes = archivedBytes(copy) - backupBytes;
      const r = await restoreLatest(ca, copy);
      clusters.push(r.cluster);
      const count = Number((await r.pods.sql(0, 'SELECT COUNT(*) FROM app.big'))[0][0]);
      if (count !== nextRow - 1) throw new Error(`restored app.big has ${count} rows, ${nextRow - 1} written`);
      restores.push({ mb: bytes / 2 ** 20, txns: seq - backupSeq, seconds: r.seconds, replaySeconds: r.replaySeconds });
      console.log(`restore after ${(bytes / 2 ** 20).toFixed(1)} MB of archived binlog (${seq - backupSeq} transactions): `
        + `all Synced in ${r.seconds.toFixed(1)} s, the replay ${r.replaySeconds} s`);
      await r.cluster.cleanup();
      rmSync(copy, { recursive: true, force: true });
    }
    await s.cluster.cleanup();

    // 3. RPO after losing every pod
    for (let round = 1; round <= RPO_ROUNDS; round++) {
      const src = await newSource(ca);
      clusters.push(src.cluster);
      const wr = await src.pods.startWriter({ pods: ALL, rateHz: 20 });
      await sleep(30_000);
      const lostAt = Date.now();
      await Promise.all([src.pods.stopAll('KILL'), src.archiver.stopPod(0, 'KILL')]);
      const acks = wr.acks();
      await wr.stop();
      const copy = join(work, `claim-rpo-${round}`);
      cpSync(src.claim, copy, { recursive: true });
      await src.cluster.cleanup();
      const r = await restoreLatest(ca, copy);
      clusters.push(r.cluster);
      const have = new Set((await r.pods.sql(0, 'SELECT id FROM ledger.acks')).map((row) => Number(row[0])));
      const missing = acks.filter((a) => !have.has(a.id));
      const oldestMs = missing.length ? lostAt - Math.min(...missing.map((a) => a.at)) : 0;
      rpo.push({ missing: missing.length, acked: acks.length, oldestMs });
      console.log(`RPO round ${round}/${RPO_ROUNDS}: ${missing.length} of ${acks.length} acknowledged writes missing, the oldest `
        + `acknowledged ${(oldestMs / 1000).toFixed(1)} s before the loss`);
      await r.cluster.cleanup();
      rmSync(copy, { recursive: true, force: true });
    }
  } finally {
    for (const c of clusters) await c.cleanup();
    rmSync(work, { recursive: true, force: true });
  }

  console.log(`\nPoint-in-time recovery, Galera, 3 nodes (TLS), archiveSeconds ${ARCHIVE_SECONDS}, ${cpus().length} cores\n`);
  console.log('| measure | median | p95 | max |');
  console.log('|---|---|---|---|');
  const row = (what: string, xs: number[], unit: string) => console.log(`| ${what} | ${median(xs).toFixed(1)}${unit} | `
    + `${percentile(xs, 95).toFixed(1)}${unit} | ${Math.max(...xs).toFixed(1)}${unit} |`);
  row(`archive lag, ${RATE} writes/s (${lagSeconds.length} samples, 1 s apart)`, lagSeconds, ' s');
  row('archive lag in transactions (the metric counts at each round: above 0 only while a round\'s copy is behind)', lagTxns, '');
  console.log('\n| binlog replayed after the backup | transactions | restore to all Synced | of it the replay (galera-0) |');
  console.log('|---|---|---|---|');
  for (const r of restores) {
    console.log(`| ${r.mb.toFixed(1)} MB | ${r.txns} | ${r.seconds.toFixed(1)} s | ${r.replaySeconds} s |`);
  }
  console.log('\n| RPO after losing every pod (20 writes/s) | acknowledged writes missing | oldest missing acknowledged before the loss |');
  console.log('|---|---|---|');
  rpo.forEach((r, i) => console.log(`| round ${i + 1} | ${r.missing} of ${r.acked} | ${(r.oldestMs / 1000).toFixed(1)} s |`));
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
