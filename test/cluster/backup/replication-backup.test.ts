import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { Chart, Testing } from 'cdk8s';
import { PodCluster, sqlIn, Workload, WriterResult } from '../../../harness/index';
import { MariaDbBackup, MariaDbBackupProps, MariaDbReplication, MariaDbReplicationProps } from '../../../src/index';
import { newCertificateAuthority, PemPair, tlsSecrets } from '../../../src/tls/certificates';
import { sleep, waitFor } from '../wait';
import { Bucket, S3, S3_LOCATION } from './s3';
import { roleOf } from '../roles';

// Backups of the primary/replica topology on the real software: the synthesized CronJob's pod
// streams mariadb-backup from a ready replica's backup endpoint (never the primary) over mutual
// TLS while a writer keeps writing to the primary, proves the backup and keeps it with its GTID
// position in the manifest, on a claim or in an S3 bucket (s3rver, rclone); a new cluster is
// created from it: mariadb-0 restores it and is the primary, the replicas clone from it. A
// corrupted backup is refused before anything changes. The scripts are the ones the Galera
// backups run (scripts/backup), with the topology's functions in backup-replication.sh.

jest.setTimeout(30 * 60_000);

const SECRET = {
  'root-password': `root pw 'with' "quotes" \\ $HOME`,
  'app-password': 'app-Pass_1',
  'replication-password': `repl "pw" \\n $x #`,
  'monitor-password': 'mon-Pass_3',
};
/** The restored cluster's Secret: other passwords (the restore resets the accounts to them). */
const NEW_SECRET = {
  ...SECRET, 'root-password': 'new-root-Pass_5', 'app-password': 'new app "pw" 6', 'replication-password': 'new-repl-7',
};
const ALL = [0, 1, 2];
const NS = 'db';
const JOB = 'mariadb-backup';
const CLAIM = 'mariadb-backups';
const ROWS = 20_000;

interface Built { manifests: object[]; db: MariaDbReplication; backup: MariaDbBackup }

/** A TLS primary/replica cluster with the backup endpoint and a backup CronJob (the scenario's props on top). */
function build(props: MariaDbReplicationProps = {}, backup: Omit<MariaDbBackupProps, 'cluster'> = {}): Built {
  const chart = new Chart(Testing.app(), 'test', { namespace: NS });
  const db = new MariaDbReplication(chart, 'mariadb', {
    failoverSeconds: 10, fenceSeconds: 5, tls: { enabled: true }, backupEndpoint: true, ...props,
  });
  const job = new MariaDbBackup(chart, 'backup', { cluster: db, retention: { count: 2 }, ...backup });
  return { manifests: Testing.synth(chart), db, backup: job };
}

/** The credentials Secret and the certificates (the nodes', the backup job's) signed by `ca`. */
async function secretsFor(b: Built, ca: PemPair, credentials: Record<string, string>): Promise<Record<string, Record<string, string>>> {
  const out: Record<string, Record<string, string>> = { [b.db.secretName]: credentials };
  const requests = [b.db.certificateSpec!, b.db.backupEndpoint!.clientCertificateSpec];
  const secrets = await tlsSecrets(NS, ca, 'mariadb-ca', requests) as { metadata: { name: string }; stringData: Record<string, string> }[];
  for (const s of secrets) out[s.metadata.name] = s.stringData;
  return out;
}

interface Manifest { name: string; file: string; topology: string; gtid: string; sizeBytes: number; sha256: string; sourcePod: string }

/** The domain-0 sequence number of a GTID list. */
function seqOf(gtids: string): number {
  const d0 = gtids.split(',').map((g) => g.trim()).find((g) => g.startsWith('0-'));
  return d0 ? Number(d0.split('-')[2]) : -1;
}

describe('primary/replica backups and restores', () => {
  let ca: PemPair;
  let source: PodCluster;
  let pods: Workload;
  let restored: PodCluster | undefined;
  const claimDir = () => join(source.runDir, 'pvc', CLAIM);
  const manifests = (dir = claimDir()): Manifest[] => readdirSync(dir).filter((f) => f.endsWith('.json')).sort()
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as Manifest);

  const role = roleOf;

  async function waitAllReady(w: Workload, timeoutMs = 300_000): Promise<void> {
    try {
      await Promise.all(ALL.map((i) => w.waitFor(i, 'readiness', timeoutMs)));
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${ALL.map((i) => `--- mariadb-${i}\n${w.logs(i).slice(-3000)}`).join('\n')}`);
    }
  }

  /** A new cluster (its own namespaces and volumes) created from a backup; `prepare` fills its claim or bucket before the pods start. */
  async function newRestoredCluster(from: MariaDbReplicationProps['restoreFrom'], destination?: MariaDbBackupProps['destination'],
    prepare: (cluster: PodCluster) => Promise<void> | void = () => undefined): Promise<{ cluster: PodCluster; pods: Workload }> {
    const b = build({ restoreFrom: from }, { destination });
    const cluster = new PodCluster({ manifests: b.manifests, secrets: await secretsFor(b, ca, NEW_SECRET), workloads: ['mariadb'] });
    restored = cluster;
    await cluster.setup();
    await prepare(cluster);
    return { cluster, pods: cluster.workload('mariadb') };
  }

  beforeAll(async () => {
    // GIVEN a TLS primary/replica cluster with the backup endpoint, and a table of ROWS rows
    ca = await newCertificateAuthority('test cluster CA');
    const b = build();
    source = new PodCluster({ manifests: b.manifests, secrets: await secretsFor(b, ca, SECRET), workloads: ['mariadb'] });
    await source.setup();
    pods = source.workload('mariadb');
    await Promise.all(ALL.map((i) => pods.startPod(i)));
    await waitAllReady(pods);
    await pods.sql(0, `USE app; CREATE TABLE app.bulk (id INT PRIMARY KEY, payload VARCHAR(200)) ENGINE=InnoDB;
      INSERT INTO app.bulk SELECT seq, SHA2(seq, 256) FROM seq_1_to_${ROWS}`);
  });

  afterAll(async () => {
    await restored?.cleanup();
    await source?.cleanup();
  });

  test('a backup from a ready replica under write load restores into a new cluster: mariadb-0 the primary, '
    + 'the replicas restored from it too (no clone), every write acknowledged before the backup started on every node, '
    + 'none from after it finished', async () => {
    // GIVEN writes acknowledged before the backup, and a writer that keeps writing to the primary through it
    const before = await pods.startWriter({ pods: [0], rateHz: 20 });
    await sleep(3000);
    const beforeResult = await before.stop();
    const during = await pods.startWriter({ pods: [0], rateHz: 20 });
    await sleep(2000);
    const ackedAtStart = during.ackedSoFar();
    const primaryAtStart = (await pods.sql(0, 'SELECT @@GLOBAL.gtid_binlog_pos'))[0][0];

    // WHEN the backup job runs
    const job = await source.runCronJob(JOB, build().manifests, 15 * 60_000);
    const duringResult: WriterResult = await during.stop();
    const after = await pods.startWriter({ pods: [0], rateHz: 20, table: 'acks' });
    await sleep(3000);
    const afterResult = await after.stop();

    // THEN it came from the highest ready replica, not the primary, which took writes throughout
    const logs = job.pod.logs();
    expect(job.succeeded).toBe(true);
    expect(logs).toMatch(/source: mariadb-2 \(a ready replica \(lag \d+s\), not the primary; ready replicas: (mariadb-1 )?mariadb-2\)/);
    expect(logs).toMatch(/verified \(extracted and prepared\): position GTID 0-\d+-\d+/);
    expect(pods.logs(2, 'backup')).toMatch(/applied everything mariadb-0 had committed when the backup was requested \(GTID 0-\d+-\d+\)/);
    expect(duringResult.errors).toBe(0);
    expect(await role(pods, 0)).toBe('primary');
    // the manifest records the replica's GTID position: at least the primary's when the backup started
    const [m] = manifests();
    expect(m).toMatchObject({ topology: 'replication', sourcePod: 'mariadb-2' });
    expect(m.gtid).toMatch(/^0-\d+-\d+$/);
    expect(seqOf(m.gtid)).toBeGreaterThanOrEqual(seqOf(primaryAtStart));
    expect(m.sha256).toMatch(/^[0-9a-f]{64}$/);
    await pods.verifyLedger([...beforeResult.acked, ...duringResult.acked, ...afterResult.acked], ALL);
    const bulkChecksum = (await pods.sql(0, 'CHECKSUM TABLE app.bulk'))[0][1];

    // WHEN a new cluster (other passwords in its Secret) is created from the latest backup on its claim
    const r = await newRestoredCluster({ backup: 'latest', volume: { claimName: CLAIM } }, undefined, (c) => {
      mkdirSync(join(c.runDir, 'pvc', CLAIM), { recursive: true });
      cpSync(claimDir(), join(c.runDir, 'pvc', CLAIM), { recursive: true });
    });
    await Promise.all(ALL.map((i) => r.pods.startPod(i)));
    await waitAllReady(r.pods);

    // THEN mariadb-0 restored it and is the primary; the others restored it at the same time and replicate from its GTID
    expect(r.pods.logs(0, 'restore'))
      .toMatch(new RegExp(`restore: backup ${m.name} restored at GTID ${m.gtid}; this node becomes the primary`));
    expect(r.pods.logs(0)).toMatch(new RegExp(`decision: primary: restored from a backup at GTID ${m.gtid}`));
    expect(await role(r.pods, 0)).toBe('primary');
    for (const i of [1, 2]) {
      expect(r.pods.logs(i, 'restore')).toMatch(
        new RegExp(`restore: backup ${m.name} restored at GTID ${m.gtid}; this node replicates from mariadb-0 from that position`),
      );
      expect(r.pods.logs(i)).toMatch(/decision: replicate: mariadb-0 is the primary/);
      expect(r.pods.logs(i)).not.toMatch(/decision: clone:/);
      expect(await role(r.pods, i)).toBe('replica');
    }
    // every node holds the writes acknowledged before the backup started, none acknowledged after it ended
    await r.pods.verifyLedger([...beforeResult.acked, ...ackedAtStart], ALL);
    for (const i of ALL) {
      const ids = new Set((await r.pods.sql(i, 'SELECT id FROM ledger.acks')).map((row) => Number(row[0])));
      expect(afterResult.acked.filter((id) => ids.has(id))).toEqual([]);
      expect((await r.pods.sql(i, 'CHECKSUM TABLE app.bulk'))[0][1]).toBe(bulkChecksum);
    }
    // the GTID history continues from the backup's position: new writes replicate to the replicas by GTID
    const more = await r.pods.startWriter({ pods: [0], rateHz: 20, table: 'more' });
    await sleep(2000);
    const moreResult = await more.stop();
    await r.pods.verifyLedger(moreResult.acked, ALL, { table: 'more' });
    expect(seqOf((await r.pods.sql(0, 'SELECT @@GLOBAL.gtid_binlog_pos'))[0][0])).toBeGreaterThan(seqOf(m.gtid));
    // the accounts carry the new Secret's passwords, not the backed-up ones
    const app = { user: 'app', database: 'app', host: r.pods.podIp(1) };
    const appSql = (query: string, password: string) => sqlIn(r.cluster.clientNs, query, { ...app, password }, new Set(), 'client');
    expect(await appSql('SELECT COUNT(*) FROM bulk', NEW_SECRET['app-password'])).toEqual([[String(ROWS)]]);
    await expect(appSql('SELECT 1', SECRET['app-password'])).rejects.toThrow(/Access denied/);
     
    console.log(`backup ${m.name}: ${m.sizeBytes} bytes at GTID ${m.gtid} (the primary at ${primaryAtStart} when it started); `
      + `${beforeResult.acked.length + ackedAtStart.length} writes before it, ${duringResult.acked.length} during it (0 errors), `
      + `${afterResult.acked.length} after it (none restored)`);
    // a restored volume is not restored again: mariadb-0 (its role handed over) restarts from its own data
    await r.pods.stopPod(0, 'TERM');
    await r.pods.startPod(0);
    await r.pods.waitFor(0, 'readiness', 240_000);
    expect(r.pods.logs(0, 'restore')).toMatch(new RegExp(`this volume was restored from ${m.name} already; starting normally`));
    await r.cluster.cleanup();
    restored = undefined;
  });

  test('backups to an S3 bucket: a corrupted copy is refused before anything changes, the intact one restores a new cluster', async () => {
    // GIVEN a bucket, and the backup's destination set to it
    const bucketDir = mkdtempSync(join(tmpdir(), 's3rver-'));
    const work = mkdtempSync(join(tmpdir(), 'stream-'));
    try {
      const bucket = await Bucket.serve(source, bucketDir);
      const destination = { s3: S3_LOCATION };
      // WHEN a backup runs
      const job = await source.runCronJob(JOB, build({}, { destination }).manifests, 15 * 60_000);
      // THEN it came from a ready replica and was uploaded, stream and manifest
      expect(job.succeeded).toBe(true);
      expect(job.pod.logs()).toMatch(/source: mariadb-2 \(a ready replica/);
      expect(job.pod.logs()).toMatch(/backup-upload INFO: uploaded mariadb-\d{8}T\d{6}Z to backup:db-backups\/mariadb/);
      const files = await bucket.rclone(['lsf', '--files-only', `b:${S3.bucket}/mariadb`]);
      const name = files.split('\n').filter((f) => f.endsWith('.json')).sort().pop()!.replace(/\.json$/, '');
      expect(files.split('\n').filter(Boolean).sort()).toEqual([`${name}.json`, `${name}.xb.zst`]);
      const object = `b:${S3.bucket}/mariadb/${name}.xb.zst`;
      await source.cleanup(); // the source is done; two clusters need more memory than CI has to spare

      // GIVEN a new cluster to be created from the bucket's latest backup (its own s3rver on the same files), whose
      // stream in the bucket has one byte changed (uploaded again, so the store's own hashes agree: only the manifest disagrees)
      const intact = join(work, 'intact');
      let restoredBucket: Bucket | undefined;
      const r = await newRestoredCluster({ backup: 'latest', s3: S3_LOCATION }, destination, async (c) => {
        const b = restoredBucket = await Bucket.serve(c, bucketDir);
        await b.rclone(['copyto', object, intact]);
        const bytes = readFileSync(intact);
        bytes[Math.floor(bytes.length / 2)] ^= 0xff;
        writeFileSync(join(work, 'corrupt'), bytes);
        await b.rclone(['copyto', join(work, 'corrupt'), object]);
      });
      // WHEN its pods start
      await Promise.all(ALL.map((i) => r.pods.startPod(i)));
      // THEN mariadb-0's fetch refuses the copy, naming the checksum, before the restore container runs; its volume stays
      // empty, no node is ready, none initialized or cloned
      const refusal = /backup .* is corrupt: sha256 [0-9a-f]+, the manifest says [0-9a-f]+; nothing was changed/;
      await waitFor('the corrupt backup to be refused', async () => refusal.test(r.pods.logs(0, 'restore-fetch')), 240_000);
      expect(r.pods.logs(0, 'restore')).toBe('');
      expect(readdirSync(r.pods.dataDir(0)).filter((f) => f !== 'lost+found')).toEqual([]);
      expect(ALL.some((i) => r.pods.isReady(i))).toBe(false);
      for (const i of [1, 2]) expect(r.pods.logs(i)).not.toMatch(/decision: (initialize|primary|clone|promote):/);
      // WHEN the intact stream is put back in the bucket, the crash-looping fetch takes it on its next try
      await restoredBucket!.rclone(['copyto', intact, object]);
      await waitAllReady(r.pods);
      // THEN mariadb-0 restored the latest backup and is the primary; every node has the data
      expect(r.pods.logs(0, 'restore-fetch')).toMatch(new RegExp(`latest backup in backup:db-backups/mariadb is ${name}`));
      expect(r.pods.logs(0, 'restore'))
        .toMatch(new RegExp(`restore: backup ${name} restored at GTID 0-\\d+-\\d+; this node becomes the primary`));
      expect(await role(r.pods, 0)).toBe('primary');
      for (const i of ALL) expect((await r.pods.sql(i, 'SELECT COUNT(*) FROM app.bulk'))[0][0]).toBe(String(ROWS));
    } finally {
      rmSync(bucketDir, { recursive: true, force: true });
      rmSync(work, { recursive: true, force: true });
    }
  });
});
