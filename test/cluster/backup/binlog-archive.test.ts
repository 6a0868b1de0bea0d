import { mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { Testing } from 'cdk8s';
import { stringify } from 'yaml';
import { PodCluster, Workload } from '../../../harness/index';
import { GaleraProxySqlChart, GaleraProxySqlChartProps } from '../../../src/index';
import { newCertificateAuthority, PemPair } from '../../../src/tls/certificates';
import { parseExposition, promtool, seriesOf, tempDir, valueOf, writeRules } from '../../tools/prometheus';
import { collectStatus, formatStatus } from '../../../src/cli';
import { chartSecrets } from '../secrets';
import { harnessStatusClient } from '../status-client';
import { sleep, untilAcked, waitFor } from '../wait';
import { binlogSeqsIn, expectWholeArchive, Segment, segmentsIn, seqOf } from './archive';
import { Bucket, S3, S3_LOCATION } from './s3';

// The binlog archiver on the real servers: the synthesized Deployment's pod ships the closed
// binlog files of a Synced node, through the nodes' binlog endpoints (mutual TLS), to the backup
// claim as segments with manifests, while a writer writes. Its source node is SIGKILLed mid-way;
// afterwards the whole archive, decoded with mariadb-binlog as a restore reads it, holds every
// transaction of the cluster's GTID domain exactly once, in order, up to the cluster's position.
// Then the same archiver ships to an S3 bucket (s3rver) that goes away for a while: the lag it
// reports meanwhile fires the lag alert in promtool, and the bucket's archive catches up whole.

jest.setTimeout(20 * 60_000);

const SECRET = {
  'root-password': 'root-Pass_1', 'app-password': 'app-Pass_1', 'sst-password': 'sst-Pass_2-long-enough',
  'monitor-password': 'mon-Pass_3', 'proxysql-admin-password': 'adm-Pass_4',
};
const GALERA = [0, 1, 2];
const ARCHIVER = 'galera-binlog-archiver';
const CLAIM = 'galera-backups';
const DIRECT_CLIENT = { 'test-role': 'direct-client' };
/** What a restore to the latest point may lack, in ms before the loss: 2 s rounds, an upload each, on a busy machine. */
const RPO_BOUND_MS = 15_000;

function chart(extra: Partial<GaleraProxySqlChartProps> = {}): GaleraProxySqlChart {
  return new GaleraProxySqlChart(Testing.app(), 'test', {
    galera: { nonPrimaryRestartSeconds: 20, tls: { enabled: true } },
    networkPolicy: { directClients: [{ podSelector: { matchLabels: DIRECT_CLIENT } }] },
    backup: { enabled: true, pointInTime: { enabled: true, archiveSeconds: 2 } },
    ...extra,
  });
}

describe('binlog archiver', () => {
  let ca: PemPair;
  let cluster: PodCluster;
  let galera: Workload;
  let archiver: Workload;
  let restored: PodCluster | undefined;
  /** The bucket's files (tests 2 and 3), and the chart that archives and backs up to it. */
  const bucketDir = mkdtempSync(join(tmpdir(), 's3rver-'));
  const s3Chart = () => chart({
    backup: { enabled: true, destination: { s3: S3_LOCATION }, pointInTime: { enabled: true, archiveSeconds: 2 } },
    monitoring: { enabled: true, binlogArchiveLagSeconds: 20 },
  });
  const archiveDir = () => join(cluster.runDir, 'pvc', CLAIM, 'binlogs');
  const segments = (): Segment[] => segmentsIn(archiveDir());
  const metrics = async () => (await archiver.exec(0, ['bash', '-c', 'exec 3<>/dev/tcp/127.0.0.1/9106; cat <&3'])).output;
  /** Every seq of domain 0 in any node's binlog, once, in order. */
  const written = () => [...new Set(GALERA.flatMap((i) => binlogSeqsIn(galera.dataDir(i))))].sort((a, b) => a - b);
  const clusterSeq = async () => seqOf((await galera.sql(0, 'SELECT @@gtid_binlog_pos'))[0][0].split(',')
    .find((g) => g.startsWith('0-')) ?? '');

  beforeAll(async () => {
    // GIVEN a TLS cluster with backups and point-in-time archiving every 2 s
    const c = chart();
    ca = await newCertificateAuthority('test cluster CA');
    cluster = new PodCluster({ manifests: Testing.synth(c), secrets: await chartSecrets(c, SECRET, ca), workloads: ['galera', ARCHIVER],
      clientLabels: DIRECT_CLIENT });
    await cluster.setup();
    galera = cluster.workload('galera');
    archiver = cluster.workload(ARCHIVER);
    await Promise.all(GALERA.map((i) => galera.startPod(i)));
    await Promise.all(GALERA.map((i) => galera.waitFor(i, 'readiness', 240_000)));
  });

  afterAll(async () => {
    await restored?.cleanup();
    await cluster?.cleanup();
    rmSync(bucketDir, { recursive: true, force: true });
  });

  test('archives under write load; its source node SIGKILLed mid-way: no gap and no duplicate over the whole archive', async () => {
    const writer = await galera.startWriter({ pods: GALERA, rateHz: 20 });
    await archiver.startPod(0);
    await waitFor('the first segments', async () => segments().length >= 2, 120_000);

    // WHEN the node the archiver reads from is SIGKILLed, and comes back
    const source = segments().at(-1)!.sourcePod;
    const victim = Number(source.split('-').at(-1));
    await galera.stopPod(victim, 'KILL');
    const before = segments().length;
    await waitFor('segments from another node', async () => segments().slice(before).some((s) => s.sourcePod !== source), 120_000);
    await galera.startPod(victim);
    await galera.waitFor(victim, 'readiness', 300_000);
    await untilAcked(writer, writer.ackedCount() + 20, `writes after galera-${victim} came back`);
    const result = await writer.stop();
    expect(result.acked.length).toBeGreaterThan(0);

    // THEN the archive catches up with the cluster's position
    const target = await clusterSeq();
    await waitFor(`the archive to reach seq ${target}`, async () => seqOf(segments().at(-1)?.lastGtid ?? '') >= target, 120_000);

    // and, decoded as a restore replays it, holds seq 1..target exactly once each, in order, each
    // manifest saying what its file holds
    const all = segments();
    const seqs = expectWholeArchive(archiveDir(), written());
    expect(seqs[0]).toBe(1); // every Galera node binlogged from the cluster's first transaction on
    expect(seqs.at(-1)).toBeGreaterThanOrEqual(target);
    const sources = [...new Set(all.map((s) => s.sourcePod))];
    expect(sources.length).toBeGreaterThan(1);
    const log = archiver.logs(0);
    console.log(`archive: ${all.length} segments, seq 1..${seqs.at(-1)} (cluster at ${target}), from ${sources.join(', ')}; `
      + `${result.acked.length} writes acknowledged; ${source} SIGKILLed while it was the source`);

    // and the metrics say the archive is current
    const text = await metrics();
    expect(text).toMatch(/^mariadb_binlog_archive_lag_transactions 0$/m);
    expect(text).toMatch(new RegExp(`^mariadb_binlog_archive_last_seq\\{domain="0",gtid="0-1-${seqs.at(-1)}"\\} ${seqs.at(-1)}$`, 'm'));
    expect(text).toMatch(/^mariadb_binlog_archive_gaps_total 0$/m);
    expect(log).not.toMatch(/ ERROR: /);
  });
  test('to an S3 bucket that goes away for a while: the lag scraped meanwhile fires the lag alert (promtool), and the '
    + 'bucket\'s archive catches up with no gap and no duplicate', async () => {
    // GIVEN the archiver moved to a bucket (s3rver), its lag alert at 20 s, under write load
    await archiver.stopPod(0, 'TERM');
    const local = mkdtempSync(join(tmpdir(), 'bucket-archive-'));
    try {
      const bucket = await Bucket.serve(cluster, bucketDir);
      const c = s3Chart();
      cluster.setManifests(Testing.synth(c));
      const inBucket = async () => (await bucket.files('galera/binlogs')).filter((f) => f.endsWith('.json'));
      const writer = await galera.startWriter({ pods: GALERA, rateHz: 20 });
      await archiver.startPod(0);
      await waitFor('the first segments in the bucket', async () => (await inBucket()).length >= 2, 120_000);

      // the archiver's lag every 2 s (each sample stands for one 30 s scrape in the rule test)
      const lag: number[] = [];
      const sample = async () => {
        lag.push(valueOf(parseExposition(await metrics()), 'mariadb_binlog_archive_lag_seconds') ?? NaN);
        await sleep(2000);
      };
      for (let k = 0; k < 4; k++) await sample();
      const before = (await inBucket()).length;
      // WHEN the bucket is gone for 60 s
      await bucket.stop();
      const downAt = lag.length;
      const downUntil = Date.now() + 60_000;
      while (Date.now() < downUntil) await sample();
      await bucket.start();
      const upAt = lag.length;
      // THEN once it is back the archive catches up: the lag falls back under the threshold
      await waitFor('the lag to fall back', async () => { await sample(); return lag[lag.length - 1] < 10; }, 120_000);
      for (let k = 0; k < 3; k++) await sample();
      const result = await writer.stop();
      expect(result.acked.length).toBeGreaterThan(0);
      console.log(`archive lag (s) every 2 s, bucket down from step ${downAt} to ${upAt}: ${lag.join(' ')}`);
      expect(lag.some((v) => Number.isNaN(v))).toBe(false);
      expect(Math.max(...lag.slice(0, downAt))).toBeLessThan(20);
      const upload = archiver.logs(0, 'upload');
      expect(upload).toMatch(/binlog-upload ERROR: uploading to backup:db-backups\/galera\/binlogs failed; the segments wait/);
      expect(upload).toMatch(/binlog-upload INFO: the bucket answers again; the outbox is uploaded/);
      expect((await inBucket()).length).toBeGreaterThan(before);

      // and the bucket's archive reaches the cluster's position and, decoded, holds seq 1..n exactly once each
      const target = await clusterSeq();
      await waitFor(`the bucket's archive to reach seq ${target}`, async () => {
        const last = (await inBucket()).at(-1)!;
        return seqOf(JSON.parse(await bucket.rclone(['cat', `b:${S3.bucket}/galera/binlogs/${last}`])).lastGtid) >= target;
      }, 120_000);
      await bucket.rclone(['copy', `b:${S3.bucket}/galera/binlogs`, local]);
      const seqs = expectWholeArchive(local, written());
      expect(seqs[0]).toBe(1);
      expect(seqs.at(-1)).toBeGreaterThanOrEqual(target);
      console.log(`bucket archive: ${segmentsIn(local).length} segments, seq 1..${seqs.at(-1)} (cluster at ${target}), `
        + `${result.acked.length} writes acknowledged meanwhile`);
      // and the status command shows where the archive stands
      const status = await collectStatus(harnessStatusClient([{ w: galera, ordinals: GALERA }, { w: archiver, ordinals: [0] }]));
      expect(status.archivers).toHaveLength(1);
      expect(status.archivers![0]).toMatchObject({ lastGtid: `0-1-${seqs.at(-1)}`, lagTransactions: '0', gaps: '0' });
      expect(formatStatus(status, 'galera')).toContain('Binlog archive (point-in-time recovery)');

      // and in promtool, those samples fire GaleraBinlogArchiveLagging 1 m after the lag passed 20 s, not before, and resolve
      const rule = c.monitoring!.ruleGroups[0].rules.find((r) => r.alert === 'GaleraBinlogArchiveLagging')!;
      const over = lag.findIndex((v) => v > 20);
      expect(over).toBeGreaterThanOrEqual(downAt);
      const firesAt = over + 2; // for: 1m = 2 steps of 30 s
      expect(firesAt).toBeLessThan(upAt);
      expect(lag.slice(over, firesAt + 1).every((v) => v > 20)).toBe(true);
      const pod = 'galera-binlog-archiver-6d8f7c9b5-k2x4q'; // a Deployment's pod name, which the harness does not give
      const dir = tempDir('archive-alert-');
      writeRules(dir, c.monitoring!.ruleGroups);
      const description = rule.annotations.description.replace('{{ $value }}', String(lag[firesAt]));
      writeFileSync(join(dir, 'lag.test.yaml'), stringify({
        rule_files: ['rules.yaml'],
        evaluation_interval: '30s',
        tests: [{
          interval: '30s',
          input_series: [{
            series: seriesOf('mariadb_binlog_archive_lag_seconds', { namespace: 'galera', pod, container: 'archiver' }),
            values: lag.join(' '),
          }],
          alert_rule_test: [
            { eval_time: `${(downAt - 1) * 30}s`, alertname: rule.alert, exp_alerts: [] },
            { eval_time: `${(firesAt - 1) * 30}s`, alertname: rule.alert, exp_alerts: [] },
            { eval_time: `${firesAt * 30}s`, alertname: rule.alert, exp_alerts: [
              { exp_labels: { namespace: 'galera', severity: 'warning' }, exp_annotations: { ...rule.annotations, description } },
            ] },
            { eval_time: `${(lag.length - 1) * 30}s`, alertname: rule.alert, exp_alerts: [] },
          ],
        }],
      }));
      const r = promtool(['test', 'rules', 'lag.test.yaml'], dir);
      expect(r.output).toContain('SUCCESS');
      expect(r.status).toBe(0);
    } finally {
      rmSync(local, { recursive: true, force: true });
    }
  });

  test('every pod and volume lost under write load: a cluster restored from the bucket to the latest point lacks only the '
    + 'last seconds of acknowledged writes (RPO printed)', async () => {
    // GIVEN a full backup in the bucket, then writes for 30 s, archived behind it every 2 s
    const job = await cluster.runCronJob('galera-backup', Testing.synth(s3Chart()), 15 * 60_000);
    expect(job.succeeded).toBe(true);
    const writer = await galera.startWriter({ pods: GALERA, rateHz: 20 });
    await sleep(30_000);
    // WHEN every pod is SIGKILLed at once, the archiver's with its outbox, and every volume is gone
    const lostAt = Date.now();
    await Promise.all([galera.stopAll('KILL'), archiver.stopPod(0, 'KILL')]);
    const acks = writer.acks();
    await writer.stop();
    await cluster.cleanup();
    // and a new cluster is created from the bucket, to the latest point archived
    const c = chart({
      galera: { nonPrimaryRestartSeconds: 20, tls: { enabled: true }, restoreFrom: { backup: 'latest', pointInTime: 'latest' } },
      backup: { enabled: true, destination: { s3: S3_LOCATION } },
    });
    restored = new PodCluster({ manifests: Testing.synth(c), secrets: await chartSecrets(c, SECRET, ca), workloads: ['galera'],
      clientLabels: DIRECT_CLIENT });
    await restored.setup();
    await Bucket.serve(restored, bucketDir);
    const g = restored.workload('galera');
    await Promise.all(GALERA.map((i) => g.startPod(i)));
    await Promise.all(GALERA.map((i) => g.waitFor(i, 'readiness', 300_000)));

    // THEN it lacks only writes acknowledged in the last seconds before the loss
    expect(g.logs(0, 'restore')).toMatch(/restore: replayed the archived binlogs up to seq \d+/);
    const have = new Set((await g.sql(0, 'SELECT id FROM ledger.acks')).map((r) => Number(r[0])));
    const missing = acks.filter((a) => !have.has(a.id));
    const rpoMs = missing.length > 0 ? lostAt - Math.min(...missing.map((a) => a.at)) : 0;
    console.log(`every pod and volume lost ${acks.length} acknowledged writes in: restored to the latest archived point, `
      + `${missing.length} missing, the oldest acknowledged ${(rpoMs / 1000).toFixed(1)} s before the loss (archiveSeconds 2)`);
    expect(acks.length).toBeGreaterThan(100);
    // a bound far above what 2 s rounds give, and far below what the backup alone would lose (30 s)
    expect(rpoMs).toBeLessThan(RPO_BOUND_MS);
    await g.verifyLedger(acks.filter((a) => a.at < lostAt - RPO_BOUND_MS).map((a) => a.id), GALERA);
  });
});
