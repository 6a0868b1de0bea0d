import { execFileSync } from 'child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { collectStatus, formatStatus, StatusClient, StatusPod, statusProblems } from '../../src/cli';

// The status command on the primary/replica topology, driven by a stand-in client. What each pod
// answers is made by repl-state.sh's own functions (the state line, and replication_status on a
// stand-in mariadb client that prints what MariaDB prints), so the parsing is tested against
// the script's real format; the cluster suite runs the script in real pods
// (test/cluster/monitoring/replication-metrics.test.ts).
const SCRIPTS = join(__dirname, '..', '..', 'scripts', 'replication');
const PEERS = [0, 1, 2].map((i) => `mariadb-${i}.mariadb.db.svc.cluster.local`).join(',');

/**
 * A stand-in `mariadb` on PATH: the variables query prints VARS, SHOW SLAVE STATUS prints SLAVE (vertical), the
 * follow record's queries print FOLLOW_RECORD (no record table without one).
 */
function fakeMariadb(dir: string): void {
  const file = join(dir, 'mariadb');
  writeFileSync(file, [
    '#!/usr/bin/env bash',
    'case "$*" in',
    '  *"SHOW SLAVE STATUS"*) printf "%s" "${FAKE_SLAVE:-}" ;;',
    '  *"SHOW SLAVE \'source\' STATUS"*) printf "%s" "${FAKE_SOURCE:-}" ;;',
    '  *gtid_current_pos*) printf "%b" "$FAKE_VARS" ;;',
    '  *information_schema.TABLES*) if [[ -n ${FAKE_FOLLOW_RECORD:-} ]]; then echo 1; else echo 0; fi ;;',
    '  *"FROM mysql.external_source"*) printf "%s\\n" "$FAKE_FOLLOW_RECORD" ;;',
    '  *) exit 1 ;;',
    'esac',
    '',
  ].join('\n'));
  chmodSync(file, 0o755);
}

/**
 * What `repl-state.sh --status` prints on a pod: the state line (fields given), then replication_status's lines. With
 * `following` (the connection to the source) or `record` (the follow record), the cluster has an external source.
 */
function statusOutput(pod: string, fields: string, vars: Record<string, string>, slave?: Record<string, string>,
  following?: Record<string, string>, record?: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'repl-status-'));
  try {
    fakeMariadb(dir);
    const vertical = (x?: Record<string, string>) => (x ? `*************************** 1. row ***************************\n${
      Object.entries(x).map(([k, v]) => `${k.padStart(30)}: ${v}`).join('\n')}\n` : '');
    const slaveText = vertical(slave);
    // a cluster with an external source: its primary follows it while the runtime file says so
    if (following) writeFileSync(join(dir, 'following'), '');
    const script = 'source "$1/repl-state.sh"; shift; state_line "$@"; replication_status';
    return execFileSync('bash', ['-c', script, 'x', SCRIPTS, ...fields.split(' ')], {
      encoding: 'utf8',
      env: {
        PATH: `${dir}:${process.env.PATH}`, POD_NAME: pod, POD_NAMESPACE: 'db', NODE_PEERS: PEERS, NODE_RUNTIME_DIR: dir,
        FAKE_VARS: Object.entries(vars).map(([k, v]) => `${k}\t${v}\n`).join(''), FAKE_SLAVE: slaveText,
        ...(following || record ? { NODE_SOURCE_HOST: 'old-db.legacy.svc', FAKE_SOURCE: vertical(following) } : {}),
        ...(record ? { FAKE_FOLLOW_RECORD: record } : {}),
      },
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const pod = (name: string, opts: Partial<StatusPod> = {}): StatusPod =>
  ({ name, component: 'database', app: 'mariadb-replication', ready: true, restarts: 0, phase: 'Running', ...opts });

function client(exec: Record<string, string | Error>, pods: StatusPod[], logs: Record<string, string> = {}):
  StatusClient & { calls: string[][] } {
  const calls: string[][] = [];
  return {
    calls,
    pods: async () => pods,
    exec: async (name, container, command) => {
      calls.push([name, container, ...command]);
      const key = `${name}/${command.includes('admin') ? /FROM (\S+)/.exec(command[command.length - 1])![1] : container}`;
      const out = exec[key];
      if (out instanceof Error) throw out;
      if (out === undefined) throw new Error(`no stand-in output for ${key}`);
      return out;
    },
    logs: async (name) => logs[name] ?? '',
  };
}

const SLAVE = (lag: string, sql = 'Yes', sqlErrno = '0', sqlError = '') => ({
  Slave_IO_State: 'Waiting for master to send event', Master_Host: 'mariadb-0.mariadb.db.svc.cluster.local', Slave_IO_Running: 'Yes',
  Slave_SQL_Running: sql, Last_Errno: sqlErrno, Last_Error: sqlError, Seconds_Behind_Master: lag, Last_IO_Errno: '0', Last_IO_Error: '',
  Last_SQL_Errno: sqlErrno, Last_SQL_Error: sqlError, Gtid_IO_Pos: '0-1-57',
});
const REPLICA_VARS = (current: string, slavePos: string) => ({
  gtid_current_pos: current, gtid_slave_pos: slavePos, gtid_binlog_pos: current, read_only: '1',
  rpl_semi_sync_master_status: 'OFF', rpl_semi_sync_master_clients: '0', rpl_semi_sync_slave_status: 'ON',
});
const HOST = (i: number) => `mariadb-${i}.mariadb.db.svc.cluster.local`;

describe('status command, primary/replica topology', () => {
  test('GIVEN a primary, a replica and a replica whose SQL thread stopped WHEN collected '
    + 'THEN the report names the primary, each lag and GTID', async () => {
    // GIVEN what repl-state.sh --status prints on each pod, and ProxySQL routing by read_only
    const c = client({
      'mariadb-0/mariadb': statusOutput('mariadb-0', 'phase=running role=primary writable=1 gtid=0-1-57 seq=57 ready=1', {
        gtid_current_pos: '0-1-57', gtid_slave_pos: '', gtid_binlog_pos: '0-1-57', read_only: '0',
        rpl_semi_sync_master_status: 'ON', rpl_semi_sync_master_clients: '2', rpl_semi_sync_slave_status: 'OFF',
      }),
      'mariadb-1/mariadb': statusOutput('mariadb-1',
        'phase=running role=replica gtid=0-1-57 seq=57 io=1 sql=1 lag=0 source=mariadb-0 ready=1',
        REPLICA_VARS('0-1-57', '0-1-57'), SLAVE('0')),
      'mariadb-2/mariadb': statusOutput('mariadb-2', 'phase=running role=replica gtid=0-1-50 seq=57 io=1 sql=0 source=mariadb-0 ready=0',
        REPLICA_VARS('0-1-50', '0-1-50'), SLAVE('NULL', 'No', '1062', "Duplicate entry '7' for key 'PRIMARY'")),
      'mariadb-proxysql-abc/runtime_mysql_galera_hostgroups': '',
      'mariadb-proxysql-abc/runtime_mysql_replication_hostgroups': '10\t30\n',
      'mariadb-proxysql-abc/runtime_mysql_servers': `10\t${HOST(0)}\tONLINE\n30\t${HOST(1)}\tONLINE\n30\t${HOST(2)}\tSHUNNED\n`,
    }, [pod('mariadb-2', { ready: false }), pod('mariadb-0'), pod('mariadb-1', { restarts: 3 }),
      { name: 'mariadb-proxysql-abc', component: 'proxy', ready: true, restarts: 0, phase: 'Running' }],
    {
      'mariadb-1': 'x replication INFO: decision: clone: mariadb-0 is the most advanced ready node\n'
        + 'x replication INFO: decision: replicate: mariadb-0 is the primary\n',
    });

    // WHEN
    const status = await collectStatus(c);
    const report = formatStatus(status, 'db');

    // THEN every node in ordinal order, with its role, lag and GTID positions
    expect(status.nodes).toEqual([]);
    const rows = status.replication!.map((n) => [n.pod, n.role, n.source, n.io, n.sql, n.lag, n.gtidCurrentPos, n.gtidSlavePos,
      n.semiSync]);
    expect(rows).toEqual([
      ['mariadb-0', 'primary', '-', '-', '-', '-', '0-1-57', '-', 'ON (2 acknowledging)'],
      ['mariadb-1', 'replica', 'mariadb-0', 'Yes', 'Yes', '0', '0-1-57', '0-1-57', 'ON'],
      ['mariadb-2', 'replica', 'mariadb-0', 'Yes', 'No', 'NULL', '0-1-50', '0-1-50', 'ON'],
    ]);
    expect(status.replication![1]).toMatchObject({ restarts: 3, lastDecision: 'replicate: mariadb-0 is the primary' });
    expect(status.replication![2]).toMatchObject({ ready: false, error: "SQL 1062: Duplicate entry '7' for key 'PRIMARY'" });
    expect(status.replication![0].error).toBeUndefined();
    expect(report).toContain('Primary/replica nodes in namespace db: primary mariadb-0\n');
    expect(report).not.toContain('Galera nodes');
    expect(report).toMatch(/^ {2}mariadb-0 +true +0 +primary +- +- +- +- +0-1-57 +- +ON \(2 acknowledging\) +-$/m);
    expect(report).toMatch(/^ {2}mariadb-2 +false +0 +replica +mariadb-0 +Yes +No +NULL +0-1-50 +0-1-50 +ON +-$/m);
    expect(report).toContain("  mariadb-2: SQL 1062: Duplicate entry '7' for key 'PRIMARY'\n");
    // ProxySQL's view from mysql_replication_hostgroups: the writer, the readers, the one ONLINE in neither
    expect(status.proxies).toEqual([
      { pod: 'mariadb-proxysql-abc', ready: true, restarts: 0, writers: ['mariadb-0'], readers: ['mariadb-1'], offline: ['mariadb-2'] }]);
    // and only the pods' own scripts ran
    expect(c.calls.filter((x) => x[1] === 'mariadb').map((x) => x.slice(2))).toEqual(
      ['mariadb-0', 'mariadb-1', 'mariadb-2'].map(() => ['bash', '/opt/mariadb/repl-state.sh', '--status']));
  });

  test('GIVEN a node that is cloning and one that does not answer WHEN formatted THEN they show their phase and no primary is named',
    async () => {
    const c = client({
      'mariadb-0/mariadb': statusOutput('mariadb-0', 'phase=cloning', {}).split('\n')[0],
      'mariadb-1/mariadb': new Error('container not found'),
    }, [pod('mariadb-0', { ready: false }), pod('mariadb-1', { ready: false, phase: 'Pending' })]);
    const status = await collectStatus(c);
    expect(status.replication!.map((n) => [n.role, n.io, n.lag, n.gtidCurrentPos, n.semiSync])).toEqual([
      ['cloning', '-', '-', '-', '-'], ['Pending', '-', '-', '-', '-']]);
    expect(formatStatus(status, 'db')).toContain('Primary/replica nodes in namespace db: primary none\n');
  });

  test('GIVEN two writable primaries WHEN formatted THEN the header says there is more than one', async () => {
    const line = (p: string) => statusOutput(p, 'phase=running role=primary writable=1 gtid=0-1-9 seq=9 ready=1', {
      gtid_current_pos: '0-1-9', gtid_slave_pos: '', gtid_binlog_pos: '0-1-9', read_only: '0',
      rpl_semi_sync_master_status: 'ON', rpl_semi_sync_master_clients: '0', rpl_semi_sync_slave_status: 'OFF',
    });
    const status = await collectStatus(client({ 'mariadb-0/mariadb': line('mariadb-0'), 'mariadb-1/mariadb': line('mariadb-1') },
      [pod('mariadb-0'), pod('mariadb-1')]));
    expect(formatStatus(status, 'db')).toContain('primary mariadb-0, mariadb-1 (more than one!)');
  });

  test('GIVEN Galera and primary/replica pods in one namespace WHEN collected THEN each is read with its own script', async () => {
    const c = client({
      'galera-0/mariadb': 'v1 name=galera-0 phase=waiting peers=3\n', 'mariadb-0/mariadb': 'v1 name=mariadb-0 phase=waiting peers=3\n',
    },
      [{ name: 'galera-0', component: 'database', ready: false, restarts: 0, phase: 'Running' }, pod('mariadb-0', { ready: false })]);
    const status = await collectStatus(c);
    expect([status.nodes.map((n) => n.pod), status.replication!.map((n) => n.pod)]).toEqual([['galera-0'], ['mariadb-0']]);
    expect(c.calls.map((x) => x[3])).toEqual(['/opt/mariadb/galera-state.sh', '/opt/mariadb/repl-state.sh']);
    const report = formatStatus(status, 'db');
    expect(report.indexOf('Galera nodes')).toBeLessThan(report.indexOf('Primary/replica nodes'));
  });

  test('GIVEN a cluster that follows an external source WHEN its primary\'s connection runs, then stops THEN the report says so, '
    + 'and a stopped one is a problem', async () => {
    const PRIMARY_VARS = {
      gtid_current_pos: '0-7-1200,1-1001-14', gtid_slave_pos: '0-7-1200,1-1001-12', gtid_binlog_pos: '0-7-1200,1-1001-14',
      read_only: '1',
      rpl_semi_sync_master_status: 'ON', rpl_semi_sync_master_clients: '1', rpl_semi_sync_slave_status: 'OFF',
    };
    const SOURCE = (sql: string, lag: string, errno = '0', error = '') => ({
      Master_Host: 'old-db.legacy.svc', Slave_IO_Running: 'Yes', Slave_SQL_Running: sql, Seconds_Behind_Master: lag,
      Gtid_IO_Pos: '0-7-1203', Last_IO_Errno: '0', Last_IO_Error: '', Last_SQL_Errno: errno, Last_SQL_Error: error,
    });
    const collect = async (source: Record<string, string>) => collectStatus(client({
      'mariadb-0/mariadb': statusOutput('mariadb-0', 'phase=running role=primary writable=1 gtid=0-7-1200 seq=1214 ready=1', PRIMARY_VARS,
        undefined, source),
      'mariadb-1/mariadb': statusOutput('mariadb-1', 'phase=running role=replica gtid=0-7-1200 seq=1214 io=1 sql=1 lag=0 source=mariadb-0 '
        + 'ready=1', REPLICA_VARS('0-7-1200,1-1001-14', '0-7-1200,1-1001-14'), SLAVE('0')),
    }, [pod('mariadb-0'), pod('mariadb-1')]));

    // WHEN the connection runs, 2 s behind
    const running = await collect(SOURCE('Yes', '2'));
    // THEN the primary's line says it follows, the replica has none, and nothing is wrong
    expect(running.replication![0].following).toEqual(
      { host: 'old-db.legacy.svc', io: 'Yes', sql: 'Yes', lag: '2', received: '0-7-1203' });
    expect(running.replication![1].following).toBeUndefined();
    expect(formatStatus(running, 'db')).toContain('  mariadb-0 follows the external source old-db.legacy.svc '
      + '(clients may not write until the cutover): IO Yes, SQL Yes, lag 2s, received 0-7-1203\n');
    expect(statusProblems(running)).toEqual([]);

    // WHEN its SQL thread stopped on a conflict
    const stopped = await collect(SOURCE('No', 'NULL', '1062', "Duplicate entry '5000' for key 'PRIMARY'"));
    // THEN the report and the problems name it
    expect(formatStatus(stopped, 'db'))
      .toContain("SQL No, lag NULL, received 0-7-1203; SQL 1062: Duplicate entry '5000' for key 'PRIMARY'");
    expect(statusProblems(stopped)).toEqual(
      ["mariadb-0: following the source old-db.legacy.svc stopped (SQL 1062: Duplicate entry '5000' for key 'PRIMARY')"]);
    expect(formatStatus(stopped, 'db')).not.toContain('left the external source');
  });

  test('GIVEN a cluster cut over from its external source WHEN the status is read THEN the report says when it left it, '
    + 'once, and nothing is wrong', async () => {
    const VARS = {
      gtid_current_pos: '0-7-1300,1-1001-14', gtid_slave_pos: '1-1001-14', gtid_binlog_pos: '0-7-1300,1-1001-14', read_only: '0',
      rpl_semi_sync_master_status: 'ON', rpl_semi_sync_master_clients: '1', rpl_semi_sync_slave_status: 'OFF',
    };
    const RECORD = 'promoted old-db.legacy.svc:3306 2026-12-07T14:20:01Z';
    const status = await collectStatus(client({
      'mariadb-0/mariadb': statusOutput('mariadb-0', 'phase=running role=primary writable=1 gtid=0-7-1300 seq=1314 ready=1', VARS,
        undefined, undefined, RECORD),
      'mariadb-1/mariadb': statusOutput('mariadb-1', 'phase=running role=replica gtid=0-7-1300 seq=1314 io=1 sql=1 lag=0 source=mariadb-0 '
        + 'ready=1', REPLICA_VARS('0-7-1300,1-1001-14', '0-7-1300,1-1001-14'), SLAVE('0'), undefined, RECORD),
    }, [pod('mariadb-0'), pod('mariadb-1')]));
    expect(status.replication!.map((n) => [n.following, n.promotedFrom])).toEqual([
      [undefined, { host: 'old-db.legacy.svc:3306', at: '2026-12-07T14:20:01Z' }],
      [undefined, { host: 'old-db.legacy.svc:3306', at: '2026-12-07T14:20:01Z' }],
    ]);
    const report = formatStatus(status, 'db');
    const line = '  the cluster left the external source old-db.legacy.svc:3306 at 2026-12-07T14:20:01Z (a cutover or a forced promotion) '
      + 'and follows it no more';
    expect(report.split('\n').filter((l) => l === line)).toHaveLength(1);
    expect(report).not.toContain('follows the external source');
    expect(statusProblems(status)).toEqual([]);
  });
});
