import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { Testing } from 'cdk8s';
import { PodCluster, sqlIn, Workload } from '../../../harness/index';
import { GaleraProxySqlChart, GaleraProxySqlChartProps } from '../../../src/index';
import { newCertificateAuthority, PemPair } from '../../../src/tls/certificates';
import { GALERA_HEALTHCHECK_QUERY, proxysqlVerdict } from '../proxysql/proxysql-monitor';
import { chartSecrets } from '../secrets';
import { Bucket, S3_LOCATION } from './s3';
import { sleep, waitFor } from '../wait';

// Backups on the real software: the synthesized CronJob's pod streams mariadb-backup from a node's
// backup endpoint over mutual TLS while a writer keeps writing, proves the backup, keeps it with
// a manifest on its claim and applies the retention; a new cluster is created from it by the
// synthesized restore init container. A corrupted backup is refused before anything changes;
// a restore never lands on a volume that holds data; only the backup job's certificate gets a
// stream.

jest.setTimeout(30 * 60_000);

const SECRET = {
  'root-password': `root pw 'with' "quotes" \\ $HOME`,
  'app-password': 'app-Pass_1',
  'sst-password': 'sst-Pass_2-long-enough',
  'monitor-password': 'mon-Pass_3',
  'proxysql-admin-password': 'adm-Pass_4',
};
/** The restored cluster's Secret: other passwords (the restore resets the accounts to them). */
const NEW_SECRET = { ...SECRET, 'root-password': 'new-root-Pass_5', 'app-password': 'new app "pw" 6' };
const GALERA = [0, 1, 2];
const DIRECT_CLIENT = { 'test-role': 'direct-client' };
const JOB = 'galera-backup';
const CLAIM = 'galera-backups';
const ROWS = 20_000;

const S3_DESTINATION = { s3: S3_LOCATION };

function chart(extra: Partial<GaleraProxySqlChartProps> = {}): GaleraProxySqlChart {
  return new GaleraProxySqlChart(Testing.app(), 'test', {
    galera: { nonPrimaryRestartSeconds: 20, tls: { enabled: true }, ...extra.galera },
    networkPolicy: { directClients: [{ podSelector: { matchLabels: DIRECT_CLIENT } }] },
    backup: { enabled: true, retention: { count: 2 }, ...extra.backup },
  });
}

interface Manifest {
  name: string; file: string; clusterUuid: string; seqno: number; gtid: string; sizeBytes: number; sha256: string; sourcePod: string;
}

describe('backups and restores', () => {
  let ca: PemPair;
  let source: PodCluster;
  let galera: Workload;
  let restored: PodCluster | undefined;
  let secrets: Record<string, Record<string, string>>;
  const claimDir = () => join(source.runDir, 'pvc', CLAIM);
  const manifests = (dir = claimDir()): Manifest[] => readdirSync(dir).filter((f) => f.endsWith('.json')).sort()
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as Manifest);

  async function runBackup(c = chart()): Promise<{ succeeded: boolean; logs: string }> {
    const job = await source.runCronJob(JOB, Testing.synth(c), 15 * 60_000);
    return { succeeded: job.succeeded, logs: job.pod.logs() };
  }

  /** A new cluster (its own namespaces and volumes) whose backup claim holds a copy of the source's. */
  async function newRestoredCluster(
    c = chart({ galera: { restoreFrom: { backup: 'latest' } } }), copyClaim = true,
  ): Promise<{ cluster: PodCluster; galera: Workload; claim: string }> {
    const cluster = new PodCluster({
      manifests: Testing.synth(c), secrets: await chartSecrets(c, NEW_SECRET, ca), workloads: ['galera'], clientLabels: DIRECT_CLIENT,
    });
    restored = cluster;
    await cluster.setup();
    const claim = join(cluster.runDir, 'pvc', CLAIM);
    mkdirSync(claim, { recursive: true });
    if (copyClaim) cpSync(claimDir(), claim, { recursive: true });
    return { cluster, galera: cluster.workload('galera'), claim };
  }

  beforeAll(async () => {
    // GIVEN a TLS cluster with backups on, and a table of ROWS rows
    ca = await newCertificateAuthority('test cluster CA');
    const c = chart();
    secrets = await chartSecrets(c, SECRET, ca);
    source = new PodCluster({ manifests: Testing.synth(c), secrets, workloads: ['galera'], clientLabels: DIRECT_CLIENT });
    await source.setup();
    galera = source.workload('galera');
    await Promise.all(GALERA.map((i) => galera.startPod(i)));
    await Promise.all(GALERA.map((i) => galera.waitFor(i, 'readiness', 240_000)));
    await galera.sql(0, `USE app; CREATE TABLE app.bulk (id INT PRIMARY KEY, payload VARCHAR(200)) ENGINE=InnoDB;
      INSERT INTO app.bulk SELECT seq, SHA2(seq, 256) FROM seq_1_to_${ROWS}`);
  });

  afterAll(async () => {
    await restored?.cleanup();
    await source?.cleanup();
  });

  test('a backup taken under write load restores into a new cluster: writes acknowledged before it started are there, '
    + 'none from after it finished', async () => {
    // GIVEN writes acknowledged before the backup, and a writer that keeps writing through it
    const before = await galera.startWriter({ pods: GALERA, rateHz: 20 });
    await sleep(3000);
    const beforeResult = await before.stop();
    const during = await galera.startWriter({ pods: GALERA, rateHz: 20 });
    await sleep(2000);
    const ackedAtStart = during.ackedSoFar();
    // The other nodes stay ready and writer candidates for ProxySQL's monitor all along. The
    // source leaves only while the server holds the backup's BACKUP STAGE lock: MariaDB desyncs
    // and pauses a Galera node for it (local state 2, Donor/Desynced). Polled every 500 ms.
    const out: string[] = [];
    let polls = 0;
    let lockedPolls = 0;
    let polling = true;
    const poller = (async () => {
      while (polling) {
        for (const i of GALERA) {
          const ready = await galera.probe(i, 'readiness');
          const row = await galera.sql(i, GALERA_HEALTHCHECK_QUERY, { user: 'monitor', password: SECRET['monitor-password'] })
            .then((rows) => rows[0], (e: Error) => e);
          const verdict = proxysqlVerdict(row);
          if (ready.ok && verdict === 'writer-candidate') continue;
          // each check either passed or failed on local state 2 (the state may change between them)
          const lockExplains = (ready.ok || /local state 2\b/.test(ready.output))
            && (verdict === 'writer-candidate' || (!(row instanceof Error) && row[0] === '2'));
          const locked = i === 2 && lockExplains;
          if (locked) lockedPolls += 1;
          else out.push(`galera-${i} ${ready.ok ? 'ready' : `unready (${ready.output.trim()})`}, ${verdict}`);
        }
        polls += 1;
        await sleep(500);
      }
    })();
    // WHEN the backup job runs
    const job = await runBackup();
    polling = false;
    await poller;
    const duringResult = await during.stop();
    const after = await galera.startWriter({ pods: GALERA, rateHz: 20, table: 'acks' });
    await sleep(3000);
    const afterResult = await after.stop();

    // THEN it succeeded from the highest-ordinal node (not ProxySQL's writer), and only the
    // source left service, only for the lock
    expect(job.succeeded).toBe(true);
    expect(job.logs).toMatch(/source: galera-2 \(Synced, not ProxySQL's writer \(galera-0\)/);
    expect(job.logs).toMatch(/verified \(extracted and prepared\)/);
    expect(out).toEqual([]);
    // the poller saw the cluster while the job ran (how many rounds depends on how fast the
    // backup is: a fixed count failed a fresh-clone CI run by chance with 3)
    expect(polls).toBeGreaterThan(0);
    // the lock is released with the backup: the source is back in service by itself
    await galera.waitFor(2, 'readiness', 60_000);
    console.log(`backup source out of service for the BACKUP STAGE lock in ${lockedPolls} of ${polls} polls (every ~500 ms)`);
    expect(duringResult.errors).toBe(0);
    const [m] = manifests();
    expect(m.sourcePod).toBe('galera-2');
    expect(m.sha256).toMatch(/^[0-9a-f]{64}$/);
    const sourceUuid = (await galera.sql(0, "SHOW GLOBAL STATUS LIKE 'wsrep_cluster_state_uuid'"))[0][1];
    expect(m.clusterUuid).toBe(sourceUuid);
    await galera.verifyLedger([...beforeResult.acked, ...duringResult.acked, ...afterResult.acked], GALERA);
    const bulkChecksum = (await galera.sql(0, 'CHECKSUM TABLE app.bulk'))[0][1];

    // WHEN a new cluster (other passwords in its Secret) is created from the latest backup
    const r = await newRestoredCluster();
    await Promise.all(GALERA.map((i) => r.galera.startPod(i)));
    await Promise.all(GALERA.map((i) => r.galera.waitFor(i, 'readiness', 300_000)));

    // THEN every node holds the writes acknowledged before the backup started, none acknowledged after it ended
    await r.galera.verifyLedger([...beforeResult.acked, ...ackedAtStart], GALERA);
    for (const i of GALERA) {
      const ids = new Set((await r.galera.sql(i, 'SELECT id FROM ledger.acks')).map((row) => Number(row[0])));
      expect(afterResult.acked.filter((id) => ids.has(id))).toEqual([]);
      expect((await r.galera.sql(i, 'CHECKSUM TABLE app.bulk'))[0][1]).toBe(bulkChecksum);
      // the same cluster history, continued from the backup's position
      expect((await r.galera.sql(i, "SHOW GLOBAL STATUS LIKE 'wsrep_cluster_state_uuid'"))[0][1]).toBe(m.clusterUuid);
      expect(Number((await r.galera.sql(i, "SHOW GLOBAL STATUS LIKE 'wsrep_last_committed'"))[0][1])).toBeGreaterThanOrEqual(m.seqno);
    }
    expect(r.galera.logs(0)).toMatch(new RegExp(`restore: backup ${m.name} restored at position ${m.clusterUuid}:${m.seqno}`));
    // the accounts carry the new Secret's passwords, not the backed-up ones
    const app = { user: 'app', database: 'app', host: r.galera.podIp(1) };
    expect(
      await sqlIn(r.cluster.clientNs, 'SELECT COUNT(*) FROM bulk', { ...app, password: NEW_SECRET['app-password'] }, new Set(), 'client'),
    ).toEqual([[String(ROWS)]]);
    await expect(
      sqlIn(r.cluster.clientNs, 'SELECT 1', { ...app, password: SECRET['app-password'] }, new Set(), 'client'),
    ).rejects.toThrow(/Access denied/);
    console.log(`backup ${m.name}: ${m.sizeBytes} bytes at ${m.clusterUuid}:${m.seqno}; ${beforeResult.acked.length + ackedAtStart.length} `
      + `writes before it, `
      + `${duringResult.acked.length} during it (0 errors), ${afterResult.acked.length} after it (none restored)`);
    // a restored volume is not restored again: galera-0 restarts from its own data
    await r.galera.stopPod(0, 'TERM');
    await r.galera.startPod(0);
    await r.galera.waitFor(0, 'readiness', 240_000);
    expect(r.galera.logs(0, 'restore')).toMatch(new RegExp(`this volume was restored from ${m.name} already; starting normally`));
    await r.cluster.cleanup();
    restored = undefined;
  });

  test('a restore is refused when the volume holds data', async () => {
    // GIVEN the source cluster's own pods, whose volumes hold data, told to restore
    const c = chart({ galera: { restoreFrom: { backup: 'latest' } } });
    source.setManifests(Testing.synth(c));
    galera = source.workload('galera');
    // WHEN galera-0 restarts with restoreFrom
    await galera.stopPod(0, 'TERM');
    await galera.startPod(0);
    // THEN it refuses (its init container fails, naming the reason) and its data is untouched
    await waitFor(
      'the restore to refuse',
      async () => /refusing to restore backup latest onto the volume of galera-0: it holds data/.test(galera.logs(0, 'restore')), 120_000,
    );
    expect(galera.isReady(0)).toBe(false);
    // WHEN restoreFrom is removed again, the pod starts normally with its own data
    source.setManifests(Testing.synth(chart()));
    galera = source.workload('galera');
    await galera.stopPod(0, 'KILL');
    await galera.startPod(0);
    await galera.waitFor(0, 'readiness', 240_000);
    expect((await galera.sql(0, 'SELECT COUNT(*) FROM app.bulk'))[0][0]).toBe(String(ROWS));
  });

  test('a corrupted backup is refused before anything changes; the intact one restores', async () => {
    // GIVEN a restored cluster's copy of the latest backup with one byte changed
    const r = await newRestoredCluster();
    const [m] = manifests(r.claim).slice(-1);
    const stream = join(r.claim, m.file);
    copyFileSync(stream, `${stream}.intact`);
    const bytes = readFileSync(stream);
    bytes[Math.floor(bytes.length / 2)] ^= 0xff;
    writeFileSync(stream, bytes);
    // WHEN the new cluster starts
    await Promise.all(GALERA.map((i) => r.galera.startPod(i)));
    // THEN galera-0 refuses the backup, naming the checksum, and its volume stays empty
    await waitFor(
      'the corrupt backup to be refused',
      async () => /backup .* is corrupt: sha256 [0-9a-f]+, the manifest says [0-9a-f]+; nothing was changed/.test(r.galera.logs(
        0, 'restore',
      )),
      240_000,
    );
    expect(readdirSync(r.galera.dataDir(0)).filter((f) => f !== 'lost+found')).toEqual([]);
    expect(GALERA.some((i) => r.galera.isReady(i))).toBe(false);
    // WHEN the intact file is put back, the crash-looping init container succeeds on its next try
    copyFileSync(`${stream}.intact`, stream);
    await Promise.all(GALERA.map((i) => r.galera.waitFor(i, 'readiness', 300_000)));
    expect((await r.galera.sql(2, 'SELECT COUNT(*) FROM app.bulk'))[0][0]).toBe(String(ROWS));
    await r.cluster.cleanup();
    restored = undefined;
  });

  test('with the preferred node down the backup comes from another Synced node; the retention keeps the newest two', async () => {
    // GIVEN galera-2 stopped
    await galera.stopPod(2, 'TERM');
    // WHEN two more backups run (three in all)
    const second = await runBackup();
    await galera.startPod(2);
    await galera.waitFor(2, 'readiness', 240_000);
    await sleep(1100); // names have one-second resolution
    const third = await runBackup();
    // THEN the second came from galera-1, and only the newest two are kept, each with its stream
    expect(second.succeeded).toBe(true);
    expect(second.logs).toMatch(/source: galera-1 \(Synced, not ProxySQL's writer \(galera-0\)/);
    expect(third.succeeded).toBe(true);
    expect(third.logs).toMatch(/retention: removed galera-\d{8}T\d{6}Z/);
    const kept = manifests();
    expect(kept.map((m) => m.sourcePod)).toEqual(['galera-1', 'galera-2']);
    expect(readdirSync(claimDir()).sort()).toEqual(kept.flatMap((m) => [`${m.name}.json`, m.file]).sort());
  });

  test('the backup endpoint streams only to the backup job\'s certificate', async () => {
    // GIVEN a pod with the backup job's labels (the policy lets it in) holding a node's certificate (same CA)
    const c = chart();
    await source.addClient('imp', { labels: c.backup!.selectorLabels });
    const dir = mkdtempSync(join(tmpdir(), 'impostor-'));
    try {
      for (const [file, pem] of Object.entries(secrets['galera-tls'])) writeFileSync(join(dir, file), pem, { mode: 0o600 });
      // WHEN it asks galera-2's endpoint for a backup
      const ask = `socat -u OPENSSL:${galera.podFqdn(2)}:4445,cert=${dir}/tls.crt,key=${dir}/tls.key,cafile=${dir}/ca.crt STDOUT | head -c `
        + `300`;
      const answer = (await source.clientExec(['bash', '-c', ask], { client: 'imp', timeoutMs: 30_000 })).stdout;
      // THEN it gets one refusal line and nothing of the database
      expect(answer).toMatch(/^ERROR client .* presented the certificate '[^']+', not the backup job's \('galera-backup'\)\n?$/);
      // and the job's own certificate gets a stream (the control)
      for (const [file, pem] of Object.entries(secrets['galera-backup-tls'])) writeFileSync(join(dir, file), pem, { mode: 0o600 });
      const ok = (await source.clientExec(['bash', '-c', `${ask} | head -n 1`], { client: 'imp', timeoutMs: 60_000 })).stdout;
      expect(ok).toMatch(/^OK galera-2 10\./);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  test('backups to an S3 bucket (s3rver, rclone): stream and manifest uploaded, the retention applied to the bucket, '
    + 'a new cluster restored from it', async () => {
    // GIVEN a bucket, and the backup's destination set to it
    const bucketDir = mkdtempSync(join(tmpdir(), 's3rver-'));
    try {
      const bucket = await Bucket.serve(source, bucketDir);
      const s3Chart = chart({ backup: { enabled: true, retention: { count: 2 }, destination: S3_DESTINATION } });
      // WHEN three backups run
      const jobs = [];
      for (let n = 0; n < 3; n++) {
        if (n > 0) await sleep(1100); // names have one-second resolution
        jobs.push(await runBackup(s3Chart));
      }
      // THEN each succeeded and was uploaded; the bucket keeps the newest two, each stream with its manifest
      for (const job of jobs) {
        expect(job.succeeded).toBe(true);
        expect(job.logs).toMatch(/backup-upload INFO: uploaded galera-\d{8}T\d{6}Z to backup:db-backups\/galera/);
      }
      expect(jobs[2].logs).toMatch(/backup-upload INFO: retention: removed galera-\d{8}T\d{6}Z/);
      const files = await bucket.files('galera');
      const names = files.filter((f) => f.endsWith('.json')).map((f) => f.replace(/\.json$/, ''));
      expect(names).toHaveLength(2);
      expect(files).toEqual(names.flatMap((n) => [`${n}.json`, `${n}.xb.zst`]).sort());

      // WHEN a new cluster is created from the bucket's latest backup (its own s3rver on the same files)
      await source.cleanup(); // the source is done; two clusters need more memory than CI has to spare
      const r = await newRestoredCluster(
        chart({ galera: { restoreFrom: { backup: 'latest' } }, backup: { enabled: true, destination: S3_DESTINATION } }), false,
      );
      await Bucket.serve(r.cluster, bucketDir);
      await Promise.all(GALERA.map((i) => r.galera.startPod(i)));
      await Promise.all(GALERA.map((i) => r.galera.waitFor(i, 'readiness', 300_000)));
      // THEN galera-0 fetched the newest one and every node has the data
      const latest = names[names.length - 1];
      expect(r.galera.logs(0, 'restore-fetch')).toMatch(new RegExp(`latest backup in backup:db-backups/galera is ${latest}`));
      expect(r.galera.logs(0, 'restore')).toMatch(new RegExp(`restore: backup ${latest} restored at position`));
      for (const i of GALERA) expect((await r.galera.sql(i, 'SELECT COUNT(*) FROM app.bulk'))[0][0]).toBe(String(ROWS));
    } finally {
      rmSync(bucketDir, { recursive: true, force: true });
    }
  });
});
