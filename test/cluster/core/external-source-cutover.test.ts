import { Ack } from '../../../harness/index';
import { NODE_PATHS } from '../../../src/core/node-env';
import { TEST_CREDENTIALS } from '../secrets';
import { waitFor } from '../wait';
import { ALL, MIGRATOR, OLD_HOST, SourceFixture, WRITER } from './source-fixture';

// The cutover from an external source (repl-cutover.sh), as synthesized, on a primary/replica
// cluster that copied a plain MariaDB server and follows it (source-fixture.ts). An application
// writes to the old server and, at the same time, tries the new cluster's primary: the cluster
// refuses it while it follows; the cutover makes the old server read-only, applies everything
// and opens the cluster. Every write either side acknowledged must be in the cluster, and the
// time no side took writes is printed. Then the failback the cutover prints: the old server
// follows the cluster.

jest.setTimeout(20 * 60_000);

const OLD = 0; // the writer's target numbers: the old server, and the cluster's primary
const NEW = 1;
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

/** When a target refused a write because it is read-only, in a writer's log (its lines start with the time). */
const readOnlyRefusals = (log: string, target: number) => log.split('\n')
  .filter((l) => new RegExp(`ERR insert [0-9]+ on pod ${target}: .*read-only`).test(l)).map((l) => Date.parse(l.split(' ')[0]));

const times = (acks: Ack[], target: number) => acks.filter((a) => a.pod === target).map((a) => a.at);

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
  // GIVEN the following cluster, and an application writing to the old server and to the cluster's primary
  const p = await f.primary();
  const writer = await f.cluster.startWriter({
    pods: [OLD, NEW], user: WRITER.user, password: WRITER.password, rateHz: 40,
    targets: [{ pod: OLD, host: f.old.ip, port: 3306 }, { pod: NEW, host: f.pods.podIp(p), port: 3306 }],
  });
  await waitFor('writes on the old server', async () => writer.ackedCount() > 40, 60_000);
  // WHEN the cutover runs on the primary
  const started = Date.now();
  const cutover = await f.pods.exec(p, ['bash', `${NODE_PATHS.config}/repl-cutover.sh`]);
  const ended = Date.now();
  cutoverOutput = cutover.output;
  await waitFor('writes on the cluster', async () => times(writer.acks(), NEW).length > 40, 60_000);
  const result = await writer.stop();
  // THEN it succeeded, and the cluster took no write before it (it refused them)
  expect(cutover.exitCode).toBe(0);
  const acks = writer.acks();
  const lastOld = Math.max(...times(acks, OLD));
  const firstNew = Math.min(...times(acks, NEW));
  expect(firstNew).toBeGreaterThan(started);
  expect(readOnlyRefusals(result.log, NEW).filter((at) => at < started)).not.toHaveLength(0);
  // the writes the source refused until the application could write to the cluster
  const refused = readOnlyRefusals(result.log, OLD).filter((at) => at <= firstNew);
  // every acknowledged write, the old server's and the cluster's, is on every node
  const report = await f.pods.verifyLedger(result.acked, ALL);
  expect(report.acked).toBe(acks.length);
  const own = /cutover done: .* takes writes; the source's writes stopped at GTID (\S+), ([0-9]+) ms before/.exec(cutoverOutput);
  expect(own).not.toBeNull();
  console.log([
    `cutover (repl-cutover.sh on mariadb-${p}): ${((ended - started) / 1000).toFixed(1)} s in all`,
    `  the script's window (the source read-only until the cluster writable): ${own![2]} ms`,
    `  the application's window (its last write on the source to its first on the cluster): ${firstNew - lastOld} ms`,
    `  writes the source refused until the first on the cluster: ${refused.length}; acknowledged: ${times(acks, OLD).length} `
      + `by the source, ${times(acks, NEW).length} by the cluster`,
    'its output:', cutoverOutput,
  ].join('\n'));
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
