import { join } from 'path';
import { Chart, Testing } from 'cdk8s';
import { PodCluster, Workload } from '../../../harness/index';
import { MariaDbBackup, MariaDbReplication } from '../../../src/index';
import { NODE_PATHS } from '../../../src/core/node-env';
import { newCertificateAuthority, tlsSecrets } from '../../../src/tls/certificates';
import { waitFor } from '../wait';
import { binlogSeqsIn, expectWholeArchive, segmentsIn, seqOf } from './archive';

// The binlog archiver on a primary/replica cluster (TLS, semi-sync): it archives from a replica,
// never from the primary while a replica acknowledges its commits (the primary's binlog holds a
// commit before any replica has it; one no replica received dies with a failed-over primary, and
// its seq is given to another transaction). The primary is SIGKILLed under write load and a
// replica promoted; the whole archive then holds every seq the surviving nodes wrote exactly once,
// in order, up to the new primary's position (from where the replicas' binlogs start: their clone).

jest.setTimeout(20 * 60_000);

const SECRET = {
  'root-password': 'root-Pass_1', 'app-password': 'app-Pass_1', 'replication-password': 'repl-Pass_2', 'monitor-password': 'mon-Pass_3',
};
const ALL = [0, 1, 2];
const NS = 'db';
const ARCHIVER = 'mariadb-binlog-archiver';
const CLAIM = 'mariadb-backups';

describe('binlog archiver, primary/replica', () => {
  let cluster: PodCluster;
  let pods: Workload;
  let archiver: Workload;
  const archiveDir = () => join(cluster.runDir, 'pvc', CLAIM, 'binlogs');
  const role = async (i: number) => (await pods.exec(i, ['cat', `${NODE_PATHS.runtime}/role`])).output.trim();
  const position = async (i: number) => seqOf((await pods.sql(i, 'SELECT @@gtid_binlog_pos'))[0][0].split(',')
    .find((g) => g.startsWith('0-')) ?? '');

  beforeAll(async () => {
    // GIVEN a TLS primary/replica cluster with backups and point-in-time archiving every 2 s
    const chart = new Chart(Testing.app(), 'test', { namespace: NS });
    const db = new MariaDbReplication(chart, 'mariadb', {
      failoverSeconds: 10, fenceSeconds: 5, tls: { enabled: true }, backupEndpoint: true,
    });
    new MariaDbBackup(chart, 'backup', { cluster: db, pointInTime: { enabled: true, archiveSeconds: 2 } });
    const ca = await newCertificateAuthority('test cluster CA');
    const secrets: Record<string, Record<string, string>> = { [db.secretName]: SECRET };
    const tls = await tlsSecrets(NS, ca, 'mariadb-ca', [db.certificateSpec!, db.backupEndpoint!.clientCertificateSpec]);
    for (const s of tls as { metadata: { name: string }; stringData: Record<string, string> }[]) secrets[s.metadata.name] = s.stringData;
    cluster = new PodCluster({ manifests: Testing.synth(chart), secrets, workloads: ['mariadb', ARCHIVER] });
    await cluster.setup();
    pods = cluster.workload('mariadb');
    archiver = cluster.workload(ARCHIVER);
    await Promise.all(ALL.map((i) => pods.startPod(i)));
    await Promise.all(ALL.map((i) => pods.waitFor(i, 'readiness', 300_000)));
  });

  afterAll(async () => {
    await cluster?.cleanup();
  });

  test('archives from a replica; the primary SIGKILLed under write load and a replica promoted: no gap and no duplicate '
    + 'over the whole archive', async () => {
    const primary = (await Promise.all(ALL.map(role))).indexOf('primary');
    expect(primary).toBeGreaterThanOrEqual(0);
    // writes offered to every pod: only the primary takes them
    const writer = await pods.startWriter({ pods: ALL, rateHz: 20 });
    await archiver.startPod(0);
    await waitFor('the first segments', async () => segmentsIn(archiveDir()).length >= 3, 120_000);
    // THEN the archive comes from a replica, and the primary refused to serve it
    expect(segmentsIn(archiveDir()).map((s) => s.sourcePod)).not.toContain(`mariadb-${primary}`);
    expect(pods.logs(primary, 'binlog')).toMatch(/is the primary and \d replica\(s\) acknowledge its commits/);

    // WHEN the primary is SIGKILLed and a replica promoted
    await pods.stopPod(primary, 'KILL');
    const survivors = ALL.filter((i) => i !== primary);
    let promoted = -1;
    await waitFor('a replica promoted', async () => {
      for (const i of survivors) if ((await role(i).catch(() => '')) === 'primary') promoted = i;
      return promoted >= 0;
    }, 120_000);
    await pods.waitFor(promoted, 'readiness', 120_000);
    const before = segmentsIn(archiveDir()).length;
    await waitFor('more segments after the failover', async () => segmentsIn(archiveDir()).length >= before + 2, 120_000);
    const result = await writer.stop();
    expect(result.acked.length).toBeGreaterThan(0);

    // THEN the archive catches up with the new primary, and holds what the surviving nodes wrote, once each, in order
    const target = await position(promoted);
    await waitFor(`the archive to reach seq ${target}`, async () => seqOf(segmentsIn(archiveDir()).at(-1)?.lastGtid ?? '') >= target,
      120_000);
    const written = [...new Set(survivors.flatMap((i) => binlogSeqsIn(pods.dataDir(i))))].sort((a, b) => a - b);
    const seqs = expectWholeArchive(archiveDir(), written);
    expect(seqs.at(-1)).toBeGreaterThanOrEqual(target);
    // it starts where a replica's binlog starts (its clone: the first seq, or later, as the clone
    // went), with no gap counted
    if (seqs[0] > 1) expect(archiver.logs(0)).toMatch(/the archive starts at 0-\d+-\d+: no node that serves it has an earlier/);
    const sources = [...new Set(segmentsIn(archiveDir()).map((s) => s.sourcePod))];
    console.log(`archive: ${segmentsIn(archiveDir()).length} segments, seq ${seqs[0]}..${seqs.at(-1)} (new primary mariadb-${promoted} at `
      + `${target}), from ${sources.join(', ')}; ${result.acked.length} writes acknowledged; mariadb-${primary} SIGKILLed`);
    // and every acknowledged write is in the archive's history: on the new primary
    await pods.verifyLedger(result.acked, [promoted]);
    expect(archiver.logs(0)).not.toMatch(/ ERROR: /);
  });
});
