import { sqlIn } from '../../../harness/index';
import { NODE_PATHS } from '../../../src/core/node-env';
import { TEST_CREDENTIALS } from '../secrets';
import { waitFor } from '../wait';
import { valueOf } from '../../tools/prometheus';
import { seqOf } from './old-database';
import { ALL, DOMAIN, OLD_HOST, SourceFixture, WRITER } from './source-fixture';

// An external source (the source prop), as synthesized, on a primary/replica cluster: a plain
// MariaDB server plays the database an application runs on today and keeps taking writes. A
// new cluster copies it when it is created (mariadb-dump --single-transaction --gtid by the
// first node, while the writes go on), its primary follows it by GTID in a domain of its own,
// clients may not write, the following moves with the primary role when the primary is lost,
// and a conflicting errant write stops the following with an error instead of diverging.
// The cluster and the old database are this file's own (source-fixture.ts), removed afterwards.
// The cutover is external-source-cutover.test.ts.

jest.setTimeout(20 * 60_000);

const SECRET = TEST_CREDENTIALS;
let f: SourceFixture;

const sql = (i: number, q: string) => f.sql(i, q);
const lines = (i: number, needle: string) => f.lines(i, needle);

beforeAll(async () => {
  f = await SourceFixture.start();
});

afterAll(async () => {
  await f?.cleanup();
});

/** A write load on the old database: unique ids into ledger.acks, acknowledged or not. */
const writeToOld = () => f.cluster.startWriter({
  pods: [0], targets: [{ pod: 0, host: f.old.ip, port: 3306 }], user: WRITER.user, password: WRITER.password, rateHz: 20,
});

test('1. a new cluster copies the source while it takes writes, then follows it: every write the source acknowledged '
  + 'is on every node, in the source\'s GTID domain; clients may not write', async () => {
  // GIVEN the old database taking writes WHEN the new cluster starts, all pods at once
  const result = await f.seedUnderWrites();
  // THEN mariadb-0 copied the source and follows it, and every node has every acknowledged write
  expect(lines(0, 'seed: copied from old-db.legacy.svc:3306')).toHaveLength(1);
  expect(lines(0, 'decision: follow: replicating from the source old-db.legacy.svc:3306')).toHaveLength(1);
  await f.caughtUpWithSource(ALL);
  const report = await f.pods.verifyLedger(result.acked, ALL);
  expect(report.acked).toBeGreaterThan(60);
  for (const i of ALL) {
    const items = 'SELECT COUNT(*), SUM(price) FROM shop.items';
    expect(await sql(i, items)).toEqual(await f.old.sql(items));
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
    await expect(sqlIn(f.cluster.clientNs, statement,
      { ...user, host: f.pods.podIp(0), port: 3306, ssl: false }, new Set(), `mariadb-0 as ${user.user}`)).rejects.toThrow(/read-only/);
  }
  // the cluster's accounts are its own: the source's account statements were skipped, not applied
  expect(await sql(0, "SELECT COUNT(*) FROM mysql.user WHERE User = 'reporting'")).toEqual([['0']]);
  // the status command's lines say it follows, both threads running
  expect(await f.status(0)).toMatchObject({
    following: '1', follow_record: expect.stringMatching(new RegExp(`^following ${OLD_HOST}:3306 `)),
    source_Master_Host: OLD_HOST, source_Slave_IO_Running: 'Yes', source_Slave_SQL_Running: 'Yes',
  });
  expect((await f.status(1)).following).toBe('0');
  // and so does the metrics exporter, as the MariaDbSource* alerts read it: one connection named 'source', on the primary only
  const following = { connection_name: 'source', master_host: OLD_HOST };
  expect(valueOf(await f.scrape(0), 'mysql_slave_status_slave_sql_running', following)).toBe(1);
  expect(valueOf(await f.scrape(0), 'mysql_slave_status_seconds_behind_master', following)).toEqual(expect.any(Number));
  expect(valueOf(await f.scrape(1), 'mysql_slave_status_slave_sql_running', following)).toBeUndefined();
});

test('2. the primary SIGKILLed while the source takes writes: the new primary follows the source, the old one rejoins '
  + 'as a replica (its history ends at a skipped account statement of the source), nothing the source acknowledged is missing '
  + 'anywhere', async () => {
  // GIVEN the cluster's primary, whose last transaction of the source is an account statement it skipped: no
  // binary log of the cluster holds it
  const first = await f.primary();
  await f.old.sql("ALTER USER 'reporting'@'%' IDENTIFIED BY 'Reporting-Pw-8'");
  const skipped = await f.old.seq(0);
  await waitFor(`mariadb-${first} to pass the account statement`, async () =>
    seqOf((await sql(first, 'SELECT @@GLOBAL.gtid_slave_pos'))[0][0], 0) === skipped, 60_000);
  expect(seqOf((await sql(first, 'SELECT @@GLOBAL.gtid_binlog_pos'))[0][0], 0)).toBeLessThan(skipped);
  // WHEN it is lost, and the source takes writes
  await f.pods.stopPod(first, 'KILL');
  const writer = await writeToOld();
  await waitFor('writes on the old database', async () => writer.ackedCount() > 20, 60_000);
  const next = await f.primary();
  // THEN another node is the primary and follows the source
  expect(next).not.toBe(first);
  await waitFor(`mariadb-${next} to follow the source`, async () => lines(next, 'decision: follow:').length > 0, 120_000);
  await f.pods.startPod(first);
  await f.pods.waitFor(first, 'readiness', 240_000);
  expect(await f.role(first)).toBe('replica');
  const result = await writer.stop();
  await f.caughtUpWithSource(ALL);
  await f.pods.verifyLedger(result.acked, ALL);
  expect(await f.status(next)).toMatchObject({ following: '1', source_Slave_SQL_Running: 'Yes' });
  expect((await f.status(first)).following).toBe('0');
});

test('3. an errant write on the cluster that the source then contradicts stops the following with an error, '
  + 'instead of diverging silently', async () => {
  // GIVEN the following primary, and a row written on it by hand (the pod's administrator passes read_only)
  const p = await f.primary();
  const errant = await f.pods.exec(p, ['bash', '-c',
    `source ${NODE_PATHS.config}/repl-lib.sh && local_sql -e "INSERT INTO shop.items VALUES (5000, 'errant', 1)"`]);
  expect(errant.exitCode).toBe(0);
  // WHEN the source writes the same key
  await f.old.sql("INSERT INTO shop.items VALUES (5000, 'from the source', 2)");
  // THEN the following stops, and says why
  const stopped = 'following the source old-db.legacy.svc:3306 stopped';
  await waitFor(`mariadb-${p} to report that following stopped`, async () => lines(p, stopped).length > 0, 60_000);
  expect(lines(p, stopped)[0]).toMatch(/Duplicate entry '5000'/);
  const s = await f.status(p);
  expect(s.source_Slave_SQL_Running).toBe('No');
  expect(s.source_Last_SQL_Error).toMatch(/Duplicate entry '5000'/);
  expect(await sql(p, 'SELECT name FROM shop.items WHERE id = 5000')).toEqual([['errant']]);
  // the exporter says so (MariaDbSourceFollowingStopped reads it)
  expect(valueOf(await f.scrape(p), 'mysql_slave_status_slave_sql_running', { connection_name: 'source' })).toBe(0);
});
