import { Chart, Testing } from 'cdk8s';
import { PodCluster, sqlIn, Workload } from '../../../harness/index';
import { MariaDbReplication } from '../../../src/index';
import { NODE_PATHS } from '../../../src/core/node-env';
import { TEST_CREDENTIALS } from '../secrets';
import { waitFor } from '../wait';
import { OldDatabase, seqOf } from './old-database';

// An external source (the source prop), as synthesized, on a primary/replica cluster: a plain
// MariaDB server plays the database an application runs on today and keeps taking writes. A
// new cluster copies it when it is created (mariadb-dump --single-transaction --gtid by the
// first node, while the writes go on), its primary follows it by GTID in a domain of its own,
// clients may not write, the following moves with the primary role when the primary is lost,
// and a conflicting errant write stops the following with an error instead of diverging.
// The cluster and the old database are this file's own (fresh, TLS off), removed afterwards.

jest.setTimeout(20 * 60_000);

const ALL = [0, 1, 2];
const SECRET = TEST_CREDENTIALS;
const MIGRATOR = { username: 'migrator', password: `mig'rator-Pw\\7-long` };
const WRITER = { user: 'writer', password: 'writer-Pw_7-long-enough' };
const OLD_HOST = 'old-db.legacy.svc';
const DOMAIN = 1;

function manifests(): ReturnType<typeof Testing.synth> {
  const c = new Chart(Testing.app(), 'test', { namespace: 'db' });
  new MariaDbReplication(c, 'db', {
    name: 'mariadb', tls: { enabled: false }, failoverSeconds: 10, fenceSeconds: 5,
    gtidDomainId: DOMAIN, source: { host: OLD_HOST, secretName: 'old-db-source' },
  });
  return Testing.synth(c);
}

let cluster: PodCluster;
let pods: Workload;
let old: OldDatabase;

const sql = (i: number, q: string) => pods.sql(i, q);
const role = async (i: number) => (await pods.exec(i, ['cat', `${NODE_PATHS.runtime}/role`])).output.trim();
const lines = (i: number, needle: string) => pods.logs(i).split('\n').filter((l) => l.includes(needle));

/** The status lines of pod i (repl-state.sh --status, as the status command reads them), by name. */
async function status(i: number): Promise<Record<string, string>> {
  const r = await pods.exec(i, ['bash', `${NODE_PATHS.config}/repl-state.sh`, '--status']);
  return Object.fromEntries(r.output.split('\n').slice(1).filter((l) => l.includes('\t')).map((l) => l.split('\t', 2)));
}

/** Every listed pod has applied the source's history up to what it holds now. */
async function caughtUpWithSource(ordinals: readonly number[]): Promise<void> {
  const target = await old.seq(0);
  for (const i of ordinals) {
    await waitFor(`mariadb-${i} to apply the source up to seq ${target}`, async () => {
      const pos = await sql(i, 'SELECT @@GLOBAL.gtid_current_pos').catch(() => [['']]);
      return seqOf(pos[0][0], 0) >= target;
    }, 120_000);
  }
}

async function primary(): Promise<number> {
  let found = -1;
  await waitFor('a primary', async () => {
    for (const i of ALL) {
      if (pods.isRunning(i) && (await role(i).catch(() => '')) === 'primary') { found = i; return true; }
    }
    return false;
  }, 120_000);
  return found;
}

beforeAll(async () => {
  cluster = new PodCluster({
    manifests: manifests(), secrets: { 'mariadb-credentials': SECRET, 'old-db-source': MIGRATOR }, workloads: ['mariadb'],
  });
  await cluster.setup();
  pods = cluster.workload('mariadb');
  old = await OldDatabase.start(cluster, { host: OLD_HOST, client: 'old', namespace: 'legacy', serverId: 7 });
  // what an application's database holds: tables with rows, a view, a routine, a trigger
  await old.sql(`
    CREATE DATABASE shop;
    USE shop;
    CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(64) NOT NULL, price DECIMAL(10, 2)) ENGINE=InnoDB;
    INSERT INTO shop.items SELECT seq, CONCAT('item ', seq), seq / 10 FROM seq_1_to_2000;
    CREATE TABLE shop.audit (id INT AUTO_INCREMENT PRIMARY KEY, item INT NOT NULL) ENGINE=InnoDB;
    CREATE TRIGGER shop.items_audit AFTER INSERT ON shop.items FOR EACH ROW INSERT INTO shop.audit (item) VALUES (NEW.id);
    CREATE VIEW shop.cheap AS SELECT id, name FROM shop.items WHERE price < 10;
    CREATE FUNCTION shop.double_price(p DECIMAL(10, 2)) RETURNS DECIMAL(12, 2) DETERMINISTIC RETURN p * 2;
    CREATE USER 'migrator'@'%' IDENTIFIED BY '${MIGRATOR.password.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}';
    GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES, RELOAD, BINLOG MONITOR, REPLICATION SLAVE ON *.* TO 'migrator'@'%';
    CREATE USER 'writer'@'%' IDENTIFIED BY '${WRITER.password}';
    GRANT ALL ON ledger.* TO 'writer'@'%';`);
});

afterAll(async () => {
  await cluster?.cleanup();
});

/** A write load on the old database: unique ids into ledger.acks, acknowledged or not. */
const writeToOld = () => cluster.startWriter({
  pods: [0], targets: [{ pod: 0, host: old.ip, port: 3306 }], user: WRITER.user, password: WRITER.password, rateHz: 20,
});

test('1. a new cluster copies the source while it takes writes, then follows it: every write the source acknowledged '
  + 'is on every node, in the source\'s GTID domain; clients may not write', async () => {
  // GIVEN the old database taking writes
  const writer = await writeToOld();
  await waitFor('writes on the old database', async () => writer.ackedCount() > 20, 60_000);
  // WHEN the new cluster starts, all pods at once
  await Promise.all(ALL.map((i) => pods.startPod(i)));
  await Promise.all(ALL.map((i) => pods.waitFor(i, 'readiness', 300_000)));
  const before = writer.ackedCount();
  await waitFor('writes after the cluster is up', async () => writer.ackedCount() > before + 40, 60_000);
  const result = await writer.stop();
  // THEN mariadb-0 copied the source and follows it, and every node has every acknowledged write
  expect(lines(0, 'seed: copied from old-db.legacy.svc:3306')).toHaveLength(1);
  expect(lines(0, 'decision: follow: replicating from the source old-db.legacy.svc:3306')).toHaveLength(1);
  await caughtUpWithSource(ALL);
  const report = await pods.verifyLedger(result.acked, ALL);
  expect(report.acked).toBeGreaterThan(60);
  for (const i of ALL) {
    const items = 'SELECT COUNT(*), SUM(price) FROM shop.items';
    expect(await sql(i, items)).toEqual(await old.sql(items));
    expect(await sql(i, 'SELECT COUNT(*) FROM shop.cheap')).toEqual([['99']]);
    expect(await sql(i, 'SELECT shop.double_price(21)')).toEqual([['42.00']]);
    expect(await sql(i, 'SELECT @@GLOBAL.gtid_domain_id, @@GLOBAL.server_id, @@GLOBAL.read_only'))
      .toEqual([[String(DOMAIN), String(1000 * DOMAIN + i + 1), '1']]);
  }
  // the cluster's own transactions (its accounts) are in its own domain; the source's history keeps its own
  expect(seqOf((await sql(0, 'SELECT @@GLOBAL.gtid_binlog_pos'))[0][0], DOMAIN)).toBeGreaterThan(0);
  // clients may not write, the application account as much as root@%
  const attempts = [
    { user: 'app', password: SECRET['app-password'], statement: 'CREATE TABLE app.t (i INT)' },
    { user: 'root', password: SECRET['root-password'], statement: 'INSERT INTO shop.items VALUES (99999, "client", 1)' },
  ];
  for (const { statement, ...user } of attempts) {
    await expect(sqlIn(cluster.clientNs, statement,
      { ...user, host: pods.podIp(0), port: 3306, ssl: false }, new Set(), `mariadb-0 as ${user.user}`)).rejects.toThrow(/read-only/);
  }
  // the status command's lines say it follows, both threads running
  expect(await status(0)).toMatchObject({
    following: '1', source_Master_Host: OLD_HOST, source_Slave_IO_Running: 'Yes', source_Slave_SQL_Running: 'Yes',
  });
  expect((await status(1)).following).toBe('0');
});

test('2. the primary SIGKILLed while the source takes writes: the new primary follows the source, the old one rejoins '
  + 'as a replica, nothing the source acknowledged is missing anywhere', async () => {
  // GIVEN writes on the old database, and the cluster's primary
  const first = await primary();
  const writer = await writeToOld();
  await waitFor('writes on the old database', async () => writer.ackedCount() > 20, 60_000);
  // WHEN the primary is lost
  await pods.stopPod(first, 'KILL');
  const next = await primary();
  // THEN another node is the primary and follows the source
  expect(next).not.toBe(first);
  await waitFor(`mariadb-${next} to follow the source`, async () => lines(next, 'decision: follow:').length > 0, 120_000);
  await pods.startPod(first);
  await pods.waitFor(first, 'readiness', 240_000);
  expect(await role(first)).toBe('replica');
  const result = await writer.stop();
  await caughtUpWithSource(ALL);
  await pods.verifyLedger(result.acked, ALL);
  expect(await status(next)).toMatchObject({ following: '1', source_Slave_SQL_Running: 'Yes' });
  expect((await status(first)).following).toBe('0');
});

test('3. an errant write on the cluster that the source then contradicts stops the following with an error, '
  + 'instead of diverging silently', async () => {
  // GIVEN the following primary, and a row written on it by hand (the pod's administrator passes read_only)
  const p = await primary();
  const errant = await pods.exec(p, ['bash', '-c',
    `source ${NODE_PATHS.config}/repl-lib.sh && local_sql -e "INSERT INTO shop.items VALUES (5000, 'errant', 1)"`]);
  expect(errant.exitCode).toBe(0);
  // WHEN the source writes the same key
  await old.sql("INSERT INTO shop.items VALUES (5000, 'from the source', 2)");
  // THEN the following stops, and says why
  const stopped = 'following the source old-db.legacy.svc:3306 stopped';
  await waitFor(`mariadb-${p} to report that following stopped`, async () => lines(p, stopped).length > 0, 60_000);
  expect(lines(p, stopped)[0]).toMatch(/Duplicate entry '5000'/);
  const s = await status(p);
  expect(s.source_Slave_SQL_Running).toBe('No');
  expect(s.source_Last_SQL_Error).toMatch(/Duplicate entry '5000'/);
  expect(await sql(p, 'SELECT name FROM shop.items WHERE id = 5000')).toEqual([['errant']]);
});
