import { sqlIn } from '../../../harness/index';
import { NODE_PATHS } from '../../../src/core/node-env';
import { TEST_CREDENTIALS } from '../secrets';
import { waitFor } from '../wait';
import { seqOf } from './old-database';
import { ALL, DOMAIN, MIGRATOR, OLD_HOST, SourceFixture, WRITER } from './source-fixture';

// An external source (the source prop), as synthesized, on a Galera cluster: a plain MariaDB
// server plays the database an application runs on today and keeps taking writes. The node that
// creates the cluster copies it (mariadb-dump --single-transaction --gtid, before the cluster
// exists; the others join by state transfer), one node replicates from it (the lowest ordinal
// that is Synced) and Galera carries every transaction to the other nodes with the source's GTID,
// clients may not write on any node, the following moves to another node when that one is lost
// and back when it returns, a conflicting errant write stops the following with an error, and the
// cutover (galera-cutover.sh) runs while an application writes. The cluster and the old database
// are this file's own (source-fixture.ts), removed afterwards.

jest.setTimeout(25 * 60_000);

const SECRET = TEST_CREDENTIALS;
let f: SourceFixture;
let cutoverOutput = '';
let cutoverNode = -1;

const sql = (i: number, q: string) => f.sql(i, q);
const lines = (i: number, needle: string) => f.lines(i, needle);
const FOLLOWS = 'decision: follow: replicating from the source old-db.legacy.svc:3306';

beforeAll(async () => {
  f = await SourceFixture.start({ topology: 'galera' });
});

afterAll(async () => {
  await f?.cleanup();
});

/** A write load on the old database: unique ids into ledger.acks, acknowledged or not. */
const writeToOld = () => f.cluster.startWriter({
  pods: [0], targets: [{ pod: 0, host: f.old.ip, port: 3306 }], user: WRITER.user, password: WRITER.password, rateHz: 20,
});

/** The one node that replicates from the source, once exactly one does (2 minutes). */
async function theFollower(): Promise<number> {
  let found: number[] = [];
  await waitFor('exactly one node to follow the source', async () => (found = await f.followers()).length === 1, 120_000);
  return found[0];
}

test('1. a new Galera cluster copies the source while it takes writes, then one node follows it: every write the source '
  + 'acknowledged is on every node, in the source\'s GTID; clients may not write on any node', async () => {
  // GIVEN the old database taking writes WHEN the new cluster starts, all pods at once
  const result = await f.seedUnderWrites();
  // THEN mariadb-0 copied the source and replicates from it, alone
  expect(lines(0, 'seed: copied from old-db.legacy.svc:3306')).toHaveLength(1);
  expect(lines(1, 'seed: ')).toHaveLength(0);
  expect(await theFollower()).toBe(0);
  expect(lines(0, FOLLOWS)).toHaveLength(1);
  // every node has every acknowledged write, and the source's GTIDs as the source wrote them
  await f.caughtUpWithSource(ALL);
  const report = await f.pods.verifyLedger(result.acked, ALL);
  expect(report.acked).toBeGreaterThan(60);
  const sourcePos = (await f.old.sql('SELECT @@GLOBAL.gtid_binlog_pos'))[0][0];
  for (const i of ALL) {
    const items = 'SELECT COUNT(*), SUM(price) FROM shop.items';
    expect(await sql(i, items)).toEqual(await f.old.sql(items));
    expect(await sql(i, 'SELECT COUNT(*) FROM shop.cheap')).toEqual([['99']]);
    expect(await sql(i, 'SELECT shop.double_price(21)')).toEqual([['42.00']]);
    expect(await sql(i, 'SELECT @@GLOBAL.wsrep_gtid_domain_id, @@GLOBAL.server_id, @@GLOBAL.read_only'))
      .toEqual([[String(DOMAIN), String(1000 * DOMAIN + 1), '1']]);
    expect(seqOf((await sql(i, 'SELECT @@GLOBAL.gtid_slave_pos'))[0][0], 0)).toBe(seqOf(sourcePos, 0));
  }
  // clients may not write, on any node, the application account as much as root@%
  for (const i of ALL) {
    for (const { statement, ...user } of [
      { user: 'app', password: SECRET['app-password'], statement: 'CREATE TABLE app.t (i INT)' },
      { user: 'root', password: SECRET['root-password'], statement: 'INSERT INTO shop.items VALUES (99999, "client", 1)' },
    ]) {
      await expect(sqlIn(f.cluster.clientNs, statement,
        { ...user, host: f.pods.podIp(i), port: 3306, ssl: false }, new Set(), `mariadb-${i} as ${user.user}`))
        .rejects.toThrow(/read-only/);
    }
  }
  // the source's account statements were skipped, not applied
  expect(await sql(0, "SELECT COUNT(*) FROM mysql.user WHERE User = 'reporting'")).toEqual([['0']]);
  // the status lines say which node follows, both threads running, and the record
  expect(await f.status(0)).toMatchObject({
    following: '1', follow_record: expect.stringMatching(new RegExp(`^following ${OLD_HOST}:3306 `)),
    source_Slave_IO_Running: 'Yes', source_Slave_SQL_Running: 'Yes',
  });
  expect(await f.status(1)).toMatchObject({ following: '0' });
});

test('2. the following node is killed while the source takes writes: the next node follows from where it stopped, and '
  + 'hands back when the first is Synced again; nothing is missing and nothing applied twice', async () => {
  // GIVEN the cluster following from mariadb-0, and writes on the old database
  const writer = await writeToOld();
  await waitFor('writes on the old database', async () => writer.ackedCount() > 20, 60_000);
  const startsOf0 = lines(0, FOLLOWS).length;
  // WHEN mariadb-0 is killed
  await f.pods.stopPod(0, 'KILL');
  // THEN mariadb-1 follows, and the writes go on arriving on the survivors
  await waitFor('mariadb-1 to follow the source', async () => lines(1, FOLLOWS).length === 1, 120_000);
  let acked = writer.ackedCount();
  await waitFor('more writes on the old database', async () => writer.ackedCount() > acked + 40, 60_000);
  await f.caughtUpWithSource([1, 2]);
  expect(await f.followers()).toEqual([1]);
  // WHEN mariadb-0 comes back
  await f.pods.startPod(0);
  await f.pods.waitFor(0, 'readiness', 300_000);
  // THEN it takes the following back, once mariadb-1 has stopped
  await waitFor('mariadb-0 to follow again', async () => lines(0, FOLLOWS).length === startsOf0 + 1, 120_000);
  expect(lines(1, 'decision: follow: this node stopped replicating from the source')).toHaveLength(1);
  acked = writer.ackedCount();
  await waitFor('more writes on the old database', async () => writer.ackedCount() > acked + 20, 60_000);
  const result = await writer.stop();
  await f.caughtUpWithSource(ALL);
  expect(await theFollower()).toBe(0);
  await f.pods.verifyLedger(result.acked, ALL);
  // the ledger's rows are the source's exactly (a transaction applied twice stops the connection on its key)
  const ledger = 'SELECT COUNT(*), SUM(id) FROM ledger.acks';
  for (const i of ALL) expect(await sql(i, ledger)).toEqual(await f.old.sql(ledger));
  expect(await f.status(0)).toMatchObject({ source_Slave_SQL_Running: 'Yes', source_Last_SQL_Errno: '0' });
});

test('3. an errant write on the cluster that conflicts with the source stops the following with an error instead of '
  + 'diverging; a human repairs it and the following goes on', async () => {
  // GIVEN the cluster following from mariadb-0
  const follower = await theFollower();
  await f.old.sql('CREATE TABLE shop.codes (id INT PRIMARY KEY, owner VARCHAR(16) NOT NULL) ENGINE=InnoDB');
  await f.caughtUpWithSource(ALL);
  // WHEN the pod's administrator (over the socket: the only account that may write) writes a row on the cluster,
  // and the source writes the same key
  const errant = await f.pods.exec(2, ['bash', '-c',
    `source ${NODE_PATHS.config}/galera-lib.sh && local_sql -e "INSERT INTO shop.codes VALUES (77777, 'errant')"`]);
  expect(errant.exitCode).toBe(0);
  await f.old.sql("INSERT INTO shop.codes VALUES (77777, 'source')");
  // THEN the following stops with the duplicate key, said in the log and the status lines
  await waitFor('the following to stop', async () => (await f.status(follower)).source_Slave_SQL_Running === 'No', 60_000);
  await waitFor('the error in the log', async () => lines(follower, 'following the source old-db.legacy.svc:3306 stopped:').length === 1,
    30_000);
  expect((await f.status(follower)).source_Last_SQL_Error).toMatch(/Duplicate entry '77777'/);
  // and no other node starts following meanwhile
  expect(await f.followers()).toEqual([follower]);
  // WHEN a human removes the errant row and starts the connection again
  for (const statement of ['DELETE FROM shop.codes WHERE id = 77777', "START SLAVE 'source'"]) {
    const repair = await f.pods.exec(statement.startsWith('DELETE') ? 2 : follower, ['bash', '-c',
      `source ${NODE_PATHS.config}/galera-lib.sh && local_sql -e "${statement}"`]);
    expect(repair.exitCode).toBe(0);
  }
  // THEN the source's row arrives
  await f.caughtUpWithSource(ALL);
  for (const i of ALL) expect(await sql(i, 'SELECT owner FROM shop.codes WHERE id = 77777')).toEqual([['source']]);
  await waitFor('the log to say it follows again',
    async () => lines(follower, 'following the source old-db.legacy.svc:3306 again').length === 1, 30_000);
});

test('4. the cutover while the application writes to the source: every write the source acknowledged is in the cluster, '
  + 'every node takes writes after it, and the time without writes is printed', async () => {
  // GIVEN the following cluster, and an application writing to the old server and to a node that does not follow
  const follower = await theFollower();
  const other = ALL.find((i) => i !== follower)!;
  const elsewhere = await f.pods.exec(other, ['bash', `${NODE_PATHS.config}/galera-cutover.sh`]);
  expect(elsewhere.exitCode).toBe(1);
  expect(elsewhere.output).toContain(`mariadb-${other} does not replicate from the source; run this on mariadb-${follower}`);
  // WHEN the cutover runs on the following node, the application writing to the old server and to that other node
  // THEN it succeeded, the cluster refused writes until then, and every acknowledged write is on every node (the fixture's checks)
  cutoverOutput = await f.cutoverUnderWrites('galera-cutover.sh', follower, other);
  cutoverNode = follower;
  // the old server is read-only; every node takes writes and none follows, for good (the record)
  expect(await f.old.sql('SELECT @@GLOBAL.read_only')).toEqual([['1']]);
  for (const i of ALL) {
    await waitFor(`mariadb-${i} to take writes`, async () => (await sql(i, 'SELECT @@GLOBAL.read_only'))[0][0] === '0', 30_000);
    expect(await sql(i, "SELECT state FROM mysql.external_source WHERE name = 'source'")).toEqual([['promoted']]);
  }
  await waitFor('no node to follow', async () => (await f.followers()).length === 0, 30_000);
  expect(await f.status(follower)).toMatchObject({
    follow_record: expect.stringMatching(new RegExp(`^promoted ${OLD_HOST}:3306 \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ$`)),
  });
  // what the application must change, and the failback, are printed; no password is
  expect(cutoverOutput).toContain(`instead of ${OLD_HOST}:3306`);
  expect(cutoverOutput).toMatch(/SET GLOBAL gtid_slave_pos = '[0-9-,]+';/);
  for (const secret of [...Object.values(TEST_CREDENTIALS), MIGRATOR.password]) expect(cutoverOutput).not.toContain(secret);
});

test('5. after the cutover the old server follows the cluster (the failback the cutover printed)', async () => {
  // GIVEN the cluster after the cutover (test 4)
  expect(cutoverOutput).toContain('Failback');
  // WHEN its administrator makes the account the cutover names, and the old server runs what it printed
  const password = 'failback-Pw_7-long-enough';
  const account = cutoverOutput.slice(cutoverOutput.indexOf('CREATE USER'), cutoverOutput.indexOf("TO 'failback'@'%';") + 19)
    .replace('<a password, quoted>', `'${password}'`);
  const made = await f.pods.exec(cutoverNode,
    ['bash', '-c', `source ${NODE_PATHS.config}/galera-lib.sh && local_sql -e "$STATEMENTS"`], { env: { STATEMENTS: account } });
  expect(made.exitCode).toBe(0);
  const failback = cutoverOutput.slice(cutoverOutput.indexOf('STOP SLAVE;'), cutoverOutput.indexOf('START SLAVE;') + 'START SLAVE;'.length)
    .replace(/MASTER_HOST='[^']*'/, `MASTER_HOST='${f.pods.podIp(cutoverNode)}'`).replace('<that password, quoted>', `'${password}'`);
  await f.old.sql(failback);
  // THEN a write on any node of the cluster reaches the old server, and so does everything the cluster took since the cutover
  const other = ALL.find((i) => i !== cutoverNode)!;
  await sql(other, 'CREATE TABLE ledger.after_cutover (i INT PRIMARY KEY) ENGINE=InnoDB;'
    + ' INSERT INTO ledger.after_cutover VALUES (1), (2)');
  await waitFor('the old server to apply the cluster\'s write', async () =>
    (await f.old.sql('SELECT COUNT(*) FROM ledger.after_cutover').catch(() => [['0']]))[0][0] === '2', 60_000);
  const ledger = 'SELECT COUNT(*), SUM(id) FROM ledger.acks';
  await waitFor('the old server to hold the cluster\'s ledger', async () =>
    JSON.stringify(await f.old.sql(ledger)) === JSON.stringify(await sql(other, ledger)), 60_000);
});

test('6. after the cutover, a node whose server its watchdog restarts takes writes again once it is back: with a '
  + 'source configured it starts read-only, and its watch reads the record anew', async () => {
  // GIVEN the cluster after the cutover, every node writable
  const node = ALL.find((i) => i !== cutoverNode)!;
  const restarts = () => lines(node, 'restarting it to take part in the election').length;
  const before = restarts();
  // WHEN its server leaves the cluster (Disconnected next to a Primary component) until its watchdog restarts it
  // (nonPrimaryRestartSeconds 10)
  const leave = await f.pods.exec(node, ['bash', '-c',
    `source ${NODE_PATHS.config}/galera-lib.sh && local_sql -e "SET GLOBAL wsrep_cluster_address = ''"`]);
  expect(leave.exitCode).toBe(0);
  await waitFor(`mariadb-${node}'s watchdog to restart its server`, async () => restarts() > before, 120_000);
  // THEN it rejoins and takes writes again, without following
  await f.pods.waitFor(node, 'readiness', 300_000);
  await waitFor(`mariadb-${node} to take writes`, async () => (await sql(node, 'SELECT @@GLOBAL.read_only'))[0][0] === '0', 30_000);
  expect(await f.followers()).toEqual([]);
});
