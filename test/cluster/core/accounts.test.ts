import { ChildProcess, execFileSync, spawn, spawnSync } from 'child_process';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { waitFor } from '../wait';

// The declared users and databases (scripts/common/accounts.sh) on one real MariaDB server: what
// the node that takes writes runs at every start. Created as declared, grants enforced, a user
// removed from the declaration dropped only if the script created it, passwords rotated with
// their Secret, a missing password refused before anything changes.

const SCRIPTS = join(__dirname, '../../../scripts/common');
const PORT = 23306;

let dir: string;
let server: ChildProcess;
let socket: string;

/** Runs statements as root over the socket (on stdin). */
function root(statements: string): string {
  const args = ['--no-defaults', '-S', socket, '-uroot', '-N', '-B'];
  return execFileSync('mariadb', args, { input: statements, encoding: 'utf8', timeout: 10_000, stdio: ['pipe', 'pipe', 'pipe'] });
}

/** A statement as `user` over TCP on loopback (the password in a defaults file); the exit status and output. */
function as(user: string, password: string, statement: string): { ok: boolean; out: string } {
  const cnf = join(dir, `client-${user}.cnf`);
  writeFileSync(cnf, `[client]\nuser=${user}\npassword=${password}\n`, { mode: 0o600 });
  const args = [`--defaults-extra-file=${cnf}`, '-h', '127.0.0.1', '-P', String(PORT), '-N', '-B', '-e', statement];
  const r = spawnSync('mariadb', args, { encoding: 'utf8', timeout: 10_000 });
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}`.trim() };
}

/** The declaration file and the password files, as the pod receives them. */
function declare(lines: string[], passwords: Record<string, string>): void {
  for (const [user, pw] of Object.entries(passwords)) writeFileSync(join(dir, `pw-${user}`), pw, { mode: 0o600 });
  writeFileSync(join(dir, 'accounts.list'), lines.map((l) => `${l.split('|').join('\t')}\n`).join(''));
}

/** apply_declared_accounts as the start scripts call it; its exit status and log. */
function apply(env: Record<string, string> = {}): { ok: boolean; log: string } {
  const r = spawnSync('bash', ['-c', `source ${SCRIPTS}/node-lib.sh && apply_declared_accounts`], {
    encoding: 'utf8', timeout: 60_000,
    env: {
      ...process.env, POD_NAME: 'mariadb-0', NODE_PEERS: 'mariadb-0', NODE_SOCKET: socket, NODE_RUNTIME_DIR: dir,
      ACCOUNTS_FILE: join(dir, 'accounts.list'), ...env,
    },
  });
  return { ok: r.status === 0, log: `${r.stdout}${r.stderr}` };
}

const users = () => root("SELECT User FROM mysql.global_priv WHERE Host = '%' ORDER BY User").trim().split('\n').filter(Boolean);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'accounts-'));
  socket = join(dir, 'mysqld.sock');
  execFileSync('mariadb-install-db', ['--no-defaults', `--datadir=${dir}/data`, '--user=root'], { stdio: 'ignore' });
  writeFileSync(join(dir, 'my.cnf'), ['[mysqld]', `datadir=${dir}/data`, `socket=${socket}`, `pid-file=${dir}/mysqld.pid`,
    'bind-address=127.0.0.1', `port=${PORT}`, 'user=root', 'skip-name-resolve', ''].join('\n'));
  server = spawn('mariadbd', [`--defaults-file=${dir}/my.cnf`], { stdio: 'ignore' });
  await waitFor('mariadbd to answer', async () => { try { root('SELECT 1'); return true; } catch { return false; } }, 60_000);
  root("CREATE DATABASE app; CREATE TABLE app.events (id INT PRIMARY KEY); CREATE USER legacy@'%' IDENTIFIED BY 'legacy-Pass_1'");
}, 120_000);

afterAll(() => {
  server?.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('declared: the database, the users with their grants, enforced; applying again changes nothing', () => {
  // GIVEN a database, a writer of it and a reader of one table of the application database
  declare([
    'database|orders|utf8mb4|utf8mb4_unicode_ci',
    `user|orders_rw|0|${dir}/pw-orders_rw`,
    `user|reporting|5|${dir}/pw-reporting`,
    'grant|orders_rw|SELECT,INSERT,DELETE,CREATE|orders|*',
    'grant|reporting|SELECT|app|events',
  ], { orders_rw: 'rw-Pass_1', reporting: 'rep-Pass_2' });
  // WHEN applied, twice
  const first = apply();
  const second = apply();
  // THEN
  expect(first).toMatchObject({ ok: true });
  expect(first.log).toContain('declared accounts applied: users orders_rw reporting , 1 database(s)');
  expect(second.ok).toBe(true);
  expect(root("SELECT DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'orders'").trim())
    .toBe('utf8mb4_unicode_ci');
  expect(as('orders_rw', 'rw-Pass_1', 'CREATE TABLE orders.o (id INT PRIMARY KEY); INSERT INTO orders.o VALUES (1); DELETE FROM orders.o'))
    .toMatchObject({ ok: true });
  // a denied statement is denied
  expect(as('orders_rw', 'rw-Pass_1', 'DROP TABLE orders.o').out).toMatch(/ERROR 1142 .*DROP command denied/);
  expect(as('reporting', 'rep-Pass_2', 'SELECT COUNT(*) FROM app.events')).toEqual({ ok: true, out: '0' });
  expect(as('reporting', 'rep-Pass_2', 'INSERT INTO app.events VALUES (1)').out).toMatch(/ERROR 1142 .*INSERT command denied/);
  expect(root("SELECT max_user_connections FROM mysql.user WHERE User = 'reporting'").trim()).toBe('5');
  // grants are rewritten only when the declared grants change: a grant made by hand stays until then
  root("GRANT DROP ON orders.* TO orders_rw@'%'");
  expect(apply().ok).toBe(true);
  expect(root("SHOW GRANTS FOR orders_rw@'%'")).toMatch(/DROP/);
  declare([
    'database|orders|utf8mb4|utf8mb4_unicode_ci', `user|orders_rw|0|${dir}/pw-orders_rw`, `user|reporting|5|${dir}/pw-reporting`,
    'grant|orders_rw|SELECT,INSERT,DELETE,CREATE,UPDATE|orders|*', 'grant|reporting|SELECT|app|events',
  ], {});
  expect(apply().ok).toBe(true);
  expect(root("SHOW GRANTS FOR orders_rw@'%'")).toMatch(/GRANT SELECT, INSERT, UPDATE, DELETE, CREATE ON `orders`\.\* TO `orders_rw`@`%`/);
  expect(root("SHOW GRANTS FOR orders_rw@'%'")).not.toMatch(/DROP/);
});

test('a rotated password takes effect; a missing password file is refused before anything changes', () => {
  declare([`user|orders_rw|0|${dir}/pw-orders_rw`, `user|reporting|5|${dir}/pw-reporting`, 'database|orders|utf8mb4|utf8mb4_unicode_ci',
    'grant|orders_rw|SELECT,INSERT,DELETE,CREATE,UPDATE|orders|*', 'grant|reporting|SELECT|app|events',
  ], { orders_rw: 'rw-Pass_NEW' });
  expect(apply().ok).toBe(true);
  expect(as('orders_rw', 'rw-Pass_NEW', 'SELECT 1').ok).toBe(true);
  expect(as('orders_rw', 'rw-Pass_1', 'SELECT 1').ok).toBe(false);
  // WHEN a password file is missing
  unlinkSync(join(dir, 'pw-reporting'));
  const r = apply();
  // THEN it fails naming the user, and the other user's password is unchanged
  expect(r.ok).toBe(false);
  expect(r.log).toContain(`declared user reporting: its password file ${dir}/pw-reporting is missing or empty`);
  expect(as('orders_rw', 'rw-Pass_NEW', 'SELECT 1').ok).toBe(true);
});

test('removed from the declaration: dropped if the cluster created it; an account it did not create is never dropped', () => {
  // GIVEN legacy (made by someone else) declared for a while, and reporting (created by the script)
  declare([`user|orders_rw|0|${dir}/pw-orders_rw`, `user|legacy|0|${dir}/pw-legacy`, 'database|orders|utf8mb4|utf8mb4_unicode_ci',
    'grant|orders_rw|SELECT,INSERT,DELETE,CREATE|orders|*'], { orders_rw: 'rw-Pass_NEW', legacy: 'legacy-Pass_2' });
  // WHEN applied without reporting, and then without legacy
  const r = apply();
  declare([`user|orders_rw|0|${dir}/pw-orders_rw`, 'database|orders|utf8mb4|utf8mb4_unicode_ci',
    'grant|orders_rw|SELECT,INSERT,DELETE,CREATE|orders|*'], {});
  const again = apply();
  // THEN reporting was dropped, legacy (adopted while declared: its password was set) is still there
  expect(r).toMatchObject({ ok: true });
  expect(r.log).toContain('dropped: reporting');
  expect(again.ok).toBe(true);
  expect(users()).toEqual(expect.arrayContaining(['legacy', 'orders_rw']));
  expect(users()).not.toContain('reporting');
  expect(as('legacy', 'legacy-Pass_2', 'SELECT 1').ok).toBe(true);
});

test('nothing declared any more (no accounts.list): every user the script created is dropped, the others stay', () => {
  // GIVEN orders_rw recorded as created by the script, legacy adopted
  expect(root("SELECT name FROM mysql.declared_accounts WHERE kind = 'user'").trim()).toBe('orders_rw');
  // WHEN the declaration file is gone (the users and databases props emptied)
  unlinkSync(join(dir, 'accounts.list'));
  const r = apply();
  // THEN orders_rw is dropped, legacy and the database stay, and a second apply has nothing to do
  expect(r).toMatchObject({ ok: true });
  expect(r.log).toContain('dropped: orders_rw');
  expect(users()).toContain('legacy');
  expect(users()).not.toContain('orders_rw');
  expect(root("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'orders'").trim()).toBe('1');
  expect(apply()).toEqual({ ok: true, log: '' });
});

test('a cluster that follows an external source: the declared databases are left alone (they are the source\'s), '
  + 'the users and grants are applied', () => {
  // GIVEN a database the source has with its own defaults, one it has not created yet, and a user of both
  root('CREATE DATABASE shop CHARACTER SET latin1 COLLATE latin1_swedish_ci');
  declare(['database|shop|utf8mb4|utf8mb4_unicode_ci', 'database|later|utf8mb4|utf8mb4_unicode_ci',
    `user|shopper|0|${dir}/pw-shopper`, 'grant|shopper|SELECT|shop|*', 'grant|shopper|SELECT|later|*'], { shopper: 'shop-Pass_1' });
  // WHEN applied while following (ACCOUNTS_SKIP_DATABASES=1, as repl-start.sh sets it)
  const r = apply({ ACCOUNTS_SKIP_DATABASES: '1' });
  // THEN neither database changed or appeared, and the user reads the one that exists
  expect(r).toMatchObject({ ok: true });
  expect(r.log).toContain('the databases left to the source it follows');
  const schemas = "SELECT SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME IN ('shop', 'later')";
  expect(root(schemas).trim()).toBe('shop\tlatin1');
  expect(as('shopper', 'shop-Pass_1', 'SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = \'shop\'').out).toBe('1');
  // AND after the cutover (applied as usual) both are as declared
  expect(apply()).toMatchObject({ ok: true });
  expect(root(schemas).trim().split('\n').sort()).toEqual(['later\tutf8mb4', 'shop\tutf8mb4']);
});
