import { cpSync, mkdirSync } from 'fs';
import { join } from 'path';
import { Testing } from 'cdk8s';
import { Ack, PodCluster, Workload } from '../../../harness/index';
import { dropGtidFound, noteTimeThenDrop } from './archive';
import { GaleraProxySqlChart, GaleraProxySqlChartProps } from '../../../src/index';
import { newCertificateAuthority, PemPair } from '../../../src/tls/certificates';
import { chartSecrets } from '../secrets';
import { sleep, waitFor } from '../wait';

// Point-in-time recovery on the real servers (Galera): a full backup under write load, the binlog
// archiver shipping to the backup claim, a mistaken DROP TABLE; a new cluster restored to a time
// before it, and one restored to just before the DROP's GTID found with binlog-find.sh.

jest.setTimeout(30 * 60_000);

const SECRET = {
  'root-password': 'root-Pass_1', 'app-password': 'app-Pass_1', 'sst-password': 'sst-Pass_2-long-enough',
  'monitor-password': 'mon-Pass_3', 'proxysql-admin-password': 'adm-Pass_4',
};
const GALERA = [0, 1, 2];
const ARCHIVER = 'galera-binlog-archiver';
const CLAIM = 'galera-backups';
const DIRECT_CLIENT = { 'test-role': 'direct-client' };
const ROWS = 2000;
/** Writes in flight at one moment: the writer keeps at most one per pod. */
const IN_FLIGHT = GALERA.length;

function chart(extra: Partial<GaleraProxySqlChartProps> = {}): GaleraProxySqlChart {
  return new GaleraProxySqlChart(Testing.app(), 'test', {
    galera: { nonPrimaryRestartSeconds: 20, tls: { enabled: true }, ...extra.galera },
    networkPolicy: { directClients: [{ podSelector: { matchLabels: DIRECT_CLIENT } }] },
    backup: { enabled: true, pointInTime: { enabled: true, archiveSeconds: 2 } },
    ...(extra.backup ? { backup: extra.backup } : {}),
  });
}

describe('point-in-time recovery', () => {
  let ca: PemPair;
  let source: PodCluster;
  let galera: Workload;
  let restored: PodCluster | undefined;
  let acks: Ack[] = [];
  let pointMs = 0;
  let dropGtid = '';
  let ackedBeforeDrop: number[] = [];

  /** A new cluster restored from a copy of the source's backup claim (backups and archive). */
  async function restore(from: Record<string, string>): Promise<Workload> {
    // (restored to an earlier point, it may not archive where it was restored from: it does not archive)
    const c = chart({ galera: { restoreFrom: { backup: 'latest', ...from } }, backup: { enabled: true } });
    restored = new PodCluster({ manifests: Testing.synth(c), secrets: await chartSecrets(c, SECRET, ca), workloads: ['galera'],
      clientLabels: DIRECT_CLIENT });
    await restored.setup();
    const claim = join(restored.runDir, 'pvc', CLAIM);
    mkdirSync(claim, { recursive: true });
    cpSync(join(source.runDir, 'pvc', CLAIM), claim, { recursive: true });
    const g = restored.workload('galera');
    await Promise.all(GALERA.map((i) => g.startPod(i)));
    await Promise.all(GALERA.map((i) => g.waitFor(i, 'readiness', 300_000)));
    return g;
  }

  async function ids(g: Workload, i: number): Promise<Set<number>> {
    return new Set((await g.sql(i, 'SELECT id FROM ledger.acks')).map((r) => Number(r[0])));
  }

  beforeAll(async () => {
    // GIVEN a cluster with backups and binlog archiving, a table of ROWS rows, a writer, a full
    // backup, a noted time T, then a mistaken DROP TABLE of that table, all archived
    ca = await newCertificateAuthority('test cluster CA');
    const c = chart();
    source = new PodCluster({ manifests: Testing.synth(c), secrets: await chartSecrets(c, SECRET, ca), workloads: ['galera', ARCHIVER],
      clientLabels: DIRECT_CLIENT });
    await source.setup();
    galera = source.workload('galera');
    await Promise.all(GALERA.map((i) => galera.startPod(i)));
    await Promise.all(GALERA.map((i) => galera.waitFor(i, 'readiness', 240_000)));
    await galera.sql(0, `USE app; CREATE TABLE app.bulk (id INT PRIMARY KEY, payload VARCHAR(64)) ENGINE=InnoDB;
      INSERT INTO app.bulk SELECT seq, SHA2(seq, 256) FROM seq_1_to_${ROWS}`);
    const archiver = source.workload(ARCHIVER);
    await archiver.startPod(0);
    const writer = await galera.startWriter({ pods: GALERA, rateHz: 20 });
    await sleep(2000);
    const job = await source.runCronJob('galera-backup', Testing.synth(c), 15 * 60_000);
    expect(job.succeeded).toBe(true);
    ({ pointMs, ackedBeforeDrop, acks } = await noteTimeThenDrop(writer, () => galera.sql(0, 'DROP TABLE app.bulk')));
    dropGtid = await dropGtidFound(archiver);
  });

  afterAll(async () => {
    await restored?.cleanup();
    await source?.cleanup();
  });

  test('restore to a time T: every write acknowledged before T, none started after it, the dropped table there', async () => {
    const g = await restore({ pointInTime: new Date(pointMs).toISOString().replace(/\.000Z$/, 'Z') });
    const before = acks.filter((a) => a.at < pointMs).map((a) => a.id);
    const lastBefore = Math.max(...before);
    // ids are given in the order the writes start: any id past the last acknowledged before T
    // plus the writes that could be in flight at T started after T
    const after = acks.filter((a) => a.id > lastBefore + IN_FLIGHT).map((a) => a.id);
    const inFlight = acks.filter((a) => a.id > lastBefore && a.id <= lastBefore + IN_FLIGHT).map((a) => a.id);
    expect(before.length).toBeGreaterThan(0);
    expect(after.length).toBeGreaterThan(0);
    await g.verifyLedger(before, GALERA);
    for (const i of GALERA) {
      const have = await ids(g, i);
      expect(after.filter((id) => have.has(id))).toEqual([]);
      expect((await g.sql(i, 'SELECT COUNT(*) FROM app.bulk'))[0][0]).toBe(String(ROWS));
    }
    const have = await ids(g, 0);
    console.log(`restored to ${new Date(pointMs).toISOString()}: ${before.length} writes acknowledged before it all there, `
      + `${after.length} started after it all absent; in flight at T: ${inFlight.filter((id) => have.has(id)).length} of `
      + `${inFlight.length} there`);
    expect(g.logs(0, 'restore')).toMatch(/restore: replayed the archived binlogs up to seq \d+/);
    await restored!.cleanup();
    restored = undefined;
  });

  test('restore to the GTID of the DROP TABLE found with binlog-find.sh: the table with every row, every write acknowledged before it',
    async () => {
    const g = await restore({ gtid: dropGtid });
    const dropSeq = Number(dropGtid.split('-')[2]);
    await g.verifyLedger(ackedBeforeDrop, GALERA);
    expect(g.logs(0, 'restore')).toContain(`restore: replayed the archived binlogs up to seq ${dropSeq - 1}`);
    // AND the restored cluster's GTIDs go on from the replayed ones: its first transaction (the
    // bootstrap node's seed) is the next seq, then the seed table's DROP, on every node alike
    expect(g.logs(0)).toContain(`seq ${dropSeq} is its first transaction`);
    for (const i of GALERA) {
      expect((await g.sql(i, 'SELECT COUNT(*) FROM app.bulk'))[0][0]).toBe(String(ROWS));
      expect((await g.sql(i, 'SELECT @@gtid_binlog_pos'))[0][0]).toMatch(new RegExp(`(^|,)0-1-${dropSeq + 1}(,|$)`));
      expect(g.volumeHas(i, 'galera-gtid-seed')).toBe(false);
    }
    await g.sql(0, 'CREATE TABLE app.after_restore (id INT PRIMARY KEY)');
    await g.sql(1, 'INSERT INTO app.after_restore VALUES (1)');
    const next = async () => (await g.sql(2, 'SELECT @@gtid_binlog_pos'))[0][0];
    const applied = new RegExp(`(^|,)0-1-${dropSeq + 3}(,|$)`);
    await waitFor(`seq ${dropSeq + 3} applied on galera-2`, async () => applied.test(await next()), 30_000);
    console.log(`restored to before ${dropGtid}: app.bulk with ${ROWS} rows, ${ackedBeforeDrop.length} writes; `
      + `new writes at ${await next()}`);
  });
});
