import { NODE_PATHS } from '../../../src/core/node-env';
import { TEST_CREDENTIALS } from '../secrets';
import { waitFor } from '../wait';
import { ALL, MIGRATOR, OLD_HOST, SourceFixture } from './source-fixture';

// The cutover from an external source (repl-cutover.sh), as synthesized, on a primary/replica
// cluster that copied a plain MariaDB server and follows it (source-fixture.ts). An application
// writes to the old server and, at the same time, tries the new cluster's primary: the cluster
// refuses it while it follows; the cutover makes the old server read-only, applies everything
// and opens the cluster. Every write either side acknowledged must be in the cluster, and the
// time no side took writes is printed. Then the failback the cutover prints: the old server
// follows the cluster.

jest.setTimeout(20 * 60_000);

let f: SourceFixture;
let cutoverOutput = '';

// GIVEN a new cluster that copied the old server and follows it, over TLS (the source account requires it, the
// cluster verifies the old server's certificate and name)
beforeAll(async () => {
  f = await SourceFixture.start({ sourceTls: true });
  await f.startAll();
  const p = await f.primary();
  await waitFor(`mariadb-${p} to follow the source`, async () => f.lines(p, 'decision: follow:').length > 0, 120_000);
  await f.caughtUpWithSource(ALL);
});

afterAll(async () => {
  await f?.cleanup();
});

test('1. a cutover that cannot make the source read-only fails and changes nothing: the source takes writes, '
  + 'the cluster follows it', async () => {
  // GIVEN a source account without READ_ONLY ADMIN
  const p = await f.primary();
  await f.old.sql("REVOKE READ_ONLY ADMIN ON *.* FROM 'migrator'@'%'");
  try {
    // WHEN the cutover runs
    const cutover = await f.pods.exec(p, ['bash', `${NODE_PATHS.config}/repl-cutover.sh`]);
    // THEN it fails naming the privilege, and the source and the cluster are as they were
    expect(cutover.exitCode).toBe(1);
    expect(cutover.output).toMatch(/cutover failed: could not make the source read-only .*: its account needs READ_ONLY ADMIN/);
    expect(await f.old.sql('SELECT @@GLOBAL.read_only')).toEqual([['0']]);
    expect(await f.sql(p, 'SELECT @@GLOBAL.read_only')).toEqual([['1']]);
    await f.old.sql('INSERT INTO shop.audit (item) VALUES (1)');
    await f.caughtUpWithSource(ALL);
    expect(await f.status(p)).toMatchObject({ following: '1', source_Slave_IO_Running: 'Yes', source_Slave_SQL_Running: 'Yes' });
    // over TLS, the old server's certificate verified with its name
    const connection = (await f.pods.exec(p, ['bash', '-c', `source ${NODE_PATHS.config}/repl-lib.sh && source_status`])).output;
    expect(connection).toMatch(/^Master_SSL_Allowed: Yes$/m);
    expect(connection).toMatch(/^Master_SSL_Verify_Server_Cert: Yes$/m);
  } finally {
    await f.old.sql("GRANT READ_ONLY ADMIN ON *.* TO 'migrator'@'%'");
  }
});

test('2. the cutover while the application writes to the source: every write the source acknowledged is in the cluster, '
  + 'the cluster refused writes until it took over, and the time without writes is printed', async () => {
  // GIVEN the following cluster WHEN the cutover runs on the primary, an application writing to the old server and
  // to the primary THEN it succeeded, the cluster refused writes until then, and every acknowledged write is on
  // every node (the fixture's checks)
  const p = await f.primary();
  cutoverOutput = await f.cutoverUnderWrites('repl-cutover.sh', p, p);
  // the old server is read-only (set over TLS, as the source account requires), the cluster is not and no longer
  // follows, for good (the record)
  expect(await f.old.sql('SELECT @@GLOBAL.read_only')).toEqual([['1']]);
  expect(await f.sql(p, 'SELECT @@GLOBAL.read_only')).toEqual([['0']]);
  expect(await f.status(p)).toMatchObject({
    following: '0',
    follow_record: expect.stringMatching(new RegExp(`^promoted ${OLD_HOST}:3306 \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ$`)),
  });
  for (const i of ALL) {
    expect(await f.sql(i, "SELECT state FROM mysql.external_source WHERE name = 'source'")).toEqual([['promoted']]);
  }
  // what the application must change, and the failback, are printed; no password is
  expect(cutoverOutput).toContain(`instead of ${OLD_HOST}:3306`);
  expect(cutoverOutput).toMatch(/SET GLOBAL gtid_slave_pos = '[0-9-,]+';/);
  for (const secret of [...Object.values(TEST_CREDENTIALS), MIGRATOR.password]) expect(cutoverOutput).not.toContain(secret);
});

test('3. after the cutover: a new primary takes writes without following, and the old server follows the cluster '
  + '(the failback printed by the cutover)', async () => {
  // GIVEN the cluster after the cutover (test 2)
  expect(cutoverOutput).toContain('Failback');
  const first = await f.primary();
  // WHEN its primary is lost, and the old server runs what the cutover printed for a failback
  await f.pods.stopPod(first, 'KILL');
  const next = await f.primary();
  await waitFor(`mariadb-${next} to take writes`,
    async () => (await f.sql(next, 'SELECT @@GLOBAL.read_only').catch(() => [['1']]))[0][0] === '0', 120_000);
  const failback = cutoverOutput.slice(cutoverOutput.indexOf('STOP SLAVE;'), cutoverOutput.indexOf('START SLAVE;') + 'START SLAVE;'.length)
    .replace(/MASTER_HOST='[^']*'/, `MASTER_HOST='${f.pods.podIp(next)}'`)
    .replace(/MASTER_PASSWORD=<[^>]*>/, `MASTER_PASSWORD='${TEST_CREDENTIALS['replication-password']}'`);
  await f.old.sql(failback);
  // THEN the new primary follows nothing, and a write on it reaches the old server
  expect(f.lines(next, 'decision: follow:')).toHaveLength(0);
  expect(await f.status(next)).toMatchObject({ following: '0' });
  await f.sql(next, 'CREATE TABLE ledger.after_cutover (i INT PRIMARY KEY) ENGINE=InnoDB;'
    + ' INSERT INTO ledger.after_cutover VALUES (1), (2)');
  await waitFor('the old server to apply the cluster\'s write', async () =>
    (await f.old.sql('SELECT COUNT(*) FROM ledger.after_cutover').catch(() => [['0']]))[0][0] === '2', 60_000);
  // and everything the cluster took since the cutover: the same ledger on both
  const ledger = 'SELECT COUNT(*), SUM(id) FROM ledger.acks';
  await waitFor('the old server to hold the cluster\'s ledger', async () =>
    JSON.stringify(await f.old.sql(ledger)) === JSON.stringify(await f.sql(next, ledger)), 60_000);
});
