import { execFileSync } from 'child_process';
import { createHash } from 'crypto';
import { existsSync, readdirSync, readFileSync } from 'fs';
import { join } from 'path';
import { Testing } from 'cdk8s';
import { PodCluster, Workload } from '../../../harness/index';
import { GaleraProxySqlChart } from '../../../src/index';
import { newCertificateAuthority } from '../../../src/tls/certificates';
import { chartSecrets } from '../secrets';
import { sleep, waitFor } from '../wait';

// The binlog archiver on the real servers: the synthesized Deployment's pod ships the closed
// binlog files of a Synced node, through the nodes' binlog endpoints (mutual TLS), to the backup
// claim as segments with manifests, while a writer writes. Its source node is SIGKILLed mid-way;
// afterwards the whole archive, decoded with mariadb-binlog as a restore reads it, holds every
// transaction of the cluster's GTID domain exactly once, in order, up to the cluster's position.

jest.setTimeout(20 * 60_000);

const SECRET = {
  'root-password': 'root-Pass_1', 'app-password': 'app-Pass_1', 'sst-password': 'sst-Pass_2-long-enough',
  'monitor-password': 'mon-Pass_3', 'proxysql-admin-password': 'adm-Pass_4',
};
const GALERA = [0, 1, 2];
const ARCHIVER = 'galera-binlog-archiver';
const CLAIM = 'galera-backups';
const DIRECT_CLIENT = { 'test-role': 'direct-client' };

interface Segment { name: string; startAfter: string; firstGtid: string; lastGtid: string; sourcePod: string; gapBefore: boolean;
  sizeBytes: number; sha256: string; firstEventTime: string; lastEventTime: string }

const seqOf = (gtid: string): number => (gtid ? Number(gtid.split('-')[2]) : 0);

/** The domain-0 seqs a restore replays from a segment: those of its file after startAfter. */
function replayedSeqs(dir: string, s: Segment): number[] {
  const text = execFileSync('mariadb-binlog', ['--no-defaults', join(dir, `${s.name}.binlog`)], { encoding: 'utf8', maxBuffer: 1 << 28 });
  return [...text.matchAll(/\sGTID 0-\d+-(\d+)/g)].map((m) => Number(m[1])).filter((n) => n > seqOf(s.startAfter));
}

describe('binlog archiver', () => {
  let cluster: PodCluster;
  let galera: Workload;
  let archiver: Workload;
  const archiveDir = () => join(cluster.runDir, 'pvc', CLAIM, 'binlogs');
  const segments = (): Segment[] => (existsSync(archiveDir()) ? readdirSync(archiveDir()) : []).filter((f) => f.endsWith('.json')).sort()
    .map((f) => JSON.parse(readFileSync(join(archiveDir(), f), 'utf8')) as Segment);
  const clusterSeq = async () => seqOf((await galera.sql(0, 'SELECT @@gtid_binlog_pos'))[0][0].split(',')
    .find((g) => g.startsWith('0-')) ?? '');

  beforeAll(async () => {
    // GIVEN a TLS cluster with backups and point-in-time archiving every 2 s
    const c = new GaleraProxySqlChart(Testing.app(), 'test', {
      galera: { nonPrimaryRestartSeconds: 20, tls: { enabled: true } },
      networkPolicy: { directClients: [{ podSelector: { matchLabels: DIRECT_CLIENT } }] },
      backup: { enabled: true, pointInTime: { enabled: true, archiveSeconds: 2 } },
    });
    const ca = await newCertificateAuthority('test cluster CA');
    cluster = new PodCluster({ manifests: Testing.synth(c), secrets: await chartSecrets(c, SECRET, ca), workloads: ['galera', ARCHIVER],
      clientLabels: DIRECT_CLIENT });
    await cluster.setup();
    galera = cluster.workload('galera');
    archiver = cluster.workload(ARCHIVER);
    await Promise.all(GALERA.map((i) => galera.startPod(i)));
    await Promise.all(GALERA.map((i) => galera.waitFor(i, 'readiness', 240_000)));
  });

  afterAll(async () => {
    await cluster?.cleanup();
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
    await sleep(5000);
    const result = await writer.stop();
    expect(result.acked.length).toBeGreaterThan(0);

    // THEN the archive catches up with the cluster's position
    const target = await clusterSeq();
    await waitFor(`the archive to reach seq ${target}`, async () => seqOf(segments().at(-1)?.lastGtid ?? '') >= target, 120_000);

    // and, decoded as a restore replays it, holds seq 1..target exactly once each, in order
    const all = segments();
    const seqs = all.flatMap((s) => replayedSeqs(archiveDir(), s));
    expect(seqs[0]).toBe(1);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    expect(seqs.at(-1)).toBeGreaterThanOrEqual(target);
    expect(all.filter((s) => s.gapBefore)).toEqual([]);
    // each manifest says what its file holds: its range follows the previous one, size and sha256 match
    for (const [i, s] of all.entries()) {
      expect(seqOf(s.startAfter)).toBe(i === 0 ? 0 : seqOf(all[i - 1].lastGtid));
      expect(seqOf(s.firstGtid)).toBe(seqOf(s.startAfter) + 1);
      const bytes = readFileSync(join(archiveDir(), `${s.name}.binlog`));
      expect(bytes.length).toBe(s.sizeBytes);
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(s.sha256);
      expect(s.firstEventTime <= s.lastEventTime).toBe(true);
    }
    const sources = [...new Set(all.map((s) => s.sourcePod))];
    expect(sources.length).toBeGreaterThan(1);
    const log = archiver.logs(0);
    console.log(`archive: ${all.length} segments, seq 1..${seqs.at(-1)} (cluster at ${target}), from ${sources.join(', ')}; `
      + `${result.acked.length} writes acknowledged; ${source} SIGKILLed while it was the source`);

    // and the metrics say the archive is current
    const metrics = (await archiver.exec(0, ['bash', '-c', `exec 3<>/dev/tcp/127.0.0.1/9106; cat <&3`])).output;
    expect(metrics).toMatch(/^mariadb_binlog_archive_lag_transactions 0$/m);
    expect(metrics).toMatch(new RegExp(`^mariadb_binlog_archive_last_seq\\{domain="0",gtid="0-1-${seqs.at(-1)}"\\} ${seqs.at(-1)}$`, 'm'));
    expect(metrics).toMatch(/^mariadb_binlog_archive_gaps_total 0$/m);
    expect(log).not.toMatch(/ ERROR: /);
  });
});
