import { ChildProcess, execFileSync, spawn } from 'child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { waitFor } from '../wait';

// Why the primary/replica scripts end client sessions in a set order (kill_client_sessions,
// scripts/replication/repl-lib.sh), on one real MariaDB server with semi-sync waits on and no
// replica: every commit waits for an acknowledgement that never comes. A binlog group commit of
// four is formed on purpose (binlog_commit_wait_count=4): its leader waits for the
// acknowledgement, the three others wait for their leader.
//  - MariaDB 10.11 answers a KILL of the waiting leader with OK to the three others: committed
//    and acknowledged without any replica. (If a MariaDB release stops doing this, this test
//    says so, and the ordering below is no longer needed.)
//  - kill_client_sessions kills the waiting session last: the others' connections are already
//    shut when their commits are released, and no client gets an acknowledgement.

const REPL_LIB = join(__dirname, '../../../scripts/replication/repl-lib.sh');
const WAITING = 'Waiting for semi-sync ACK from slave';

let dir: string;
let server: ChildProcess;
let socket: string;

/** Runs statements as root over the socket (on stdin: the test account's password stays off command lines). */
function sql(statements: string): string {
  const args = ['--no-defaults', '-S', socket, '-uroot', '-N', '-B'];
  return execFileSync('mariadb', args, { input: statements, encoding: 'utf8', timeout: 10_000 });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'semi-sync-kill-'));
  socket = join(dir, 'mysqld.sock');
  execFileSync('mariadb-install-db', ['--no-defaults', `--datadir=${dir}/data`, '--user=root', '--auth-root-authentication-method=socket'],
    { stdio: 'ignore' });
  writeFileSync(join(dir, 'my.cnf'), [
    '[mysqld]', `datadir=${dir}/data`, `socket=${socket}`, `pid-file=${dir}/mysqld.pid`, 'skip-networking', 'user=root',
    `log_bin=${dir}/data/mysql-bin`, 'server_id=1',
    // the primary's settings (src/replication/mariadb-replication.ts): lossless, no acknowledgement without a replica
    'rpl_semi_sync_master_wait_point=AFTER_SYNC', 'rpl_semi_sync_master_wait_no_slave=ON',
    'rpl_semi_sync_master_timeout=4294967295', '',
  ].join('\n'));
  writeFileSync(join(dir, 'app.cnf'), '[client]\nuser=app\npassword=app-Pass_1\n', { mode: 0o600 });
  server = spawn('mariadbd', [`--defaults-file=${dir}/my.cnf`], { stdio: 'ignore' });
  await waitFor('mariadbd to answer', async () => { try { sql('SELECT 1'); return true; } catch { return false; } }, 60_000);
  sql("CREATE DATABASE t; CREATE TABLE t.a (i INT PRIMARY KEY) ENGINE=InnoDB; CREATE USER app@localhost IDENTIFIED BY 'app-Pass_1'; "
    + 'GRANT ALL ON t.* TO app@localhost');
  // from here on every commit waits for a replica; four at once form one group
  sql('SET GLOBAL rpl_semi_sync_master_enabled = ON; SET GLOBAL binlog_commit_wait_count = 4; '
    + 'SET GLOBAL binlog_commit_wait_usec = 10000000');
}, 120_000);

afterAll(() => {
  server?.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Four app clients inserting at once, each one statement (an autocommit INSERT); resolves to their exit codes. */
function fourCommits(base: number): { rows: number[]; done: Promise<number[]> } {
  const rows = [0, 1, 2, 3].map((k) => base + k);
  const done = Promise.all(rows.map((i) => new Promise<number>((resolve) => {
    // the password in a defaults file, not on the command line
    const args = [`--defaults-extra-file=${dir}/app.cnf`, '-S', socket, '-e', `INSERT INTO t.a VALUES (${i})`];
    const c = spawn('mariadb', args, { stdio: 'ignore' });
    c.on('exit', (code) => resolve(code ?? -1));
  })));
  return { rows, done };
}

/** The group is formed: its leader waits for the acknowledgement, the three others for their leader. */
async function groupWaiting(): Promise<number> {
  let leader = 0;
  await waitFor('one commit waiting for a semi-sync acknowledgement and three for their group', async () => {
    const states = sql("SELECT ID, STATE FROM information_schema.PROCESSLIST WHERE USER = 'app'").trim().split('\n').filter(Boolean)
      .map((l) => l.split('\t'));
    const waiting = states.filter(([, s]) => s === WAITING);
    if (states.length !== 4 || waiting.length !== 1) return false;
    leader = Number(waiting[0][0]);
    return true;
  }, 30_000);
  return leader;
}

function committed(rows: number[]): number[] {
  return sql(`SELECT i FROM t.a WHERE i IN (${rows.join(',')}) ORDER BY i`).trim().split('\n').filter(Boolean).map(Number);
}

test('MariaDB: a KILL of the commit waiting for the acknowledgement returns OK to the rest of its group', async () => {
  // GIVEN a group of four commits, waiting for a replica that is not there
  const { rows, done } = fourCommits(100);
  const leader = await groupWaiting();
  // WHEN the waiting one's connection is killed
  sql(`KILL CONNECTION ${leader}`);
  const codes = await done;
  // THEN its client got an error, and the three others OK: acknowledged without any replica
  expect(codes.filter((c) => c === 0)).toHaveLength(3);
  expect(committed(rows)).toEqual(rows);
});

test('kill_client_sessions: the waiting session last, so no client of the group gets an acknowledgement', async () => {
  // GIVEN a group of four commits, waiting for a replica that is not there
  const { done } = fourCommits(200);
  await groupWaiting();
  // WHEN the scripts' function ends the client sessions
  execFileSync('bash', ['-c', `source ${REPL_LIB} && kill_client_sessions`], {
    env: { ...process.env, POD_NAME: 'mariadb-0', NODE_PEERS: 'mariadb-0', NODE_SOCKET: socket, NODE_RUNTIME_DIR: dir },
    stdio: 'ignore', timeout: 30_000,
  });
  // THEN every client got an error
  expect(await done).not.toContain(0);
});
