import { execFileSync, spawnSync } from 'child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { collectStatus, formatStatus, statusProblems, StatusClient, StatusPod } from '../../src/cli';
import type { ArchiverStatus, ClusterStatus, ProxyStatus, ReplicationNodeStatus } from '../../src/cli';

// The status command's reading and report, driven by a stand-in client. The state lines are made
// by the node scripts' own formatter, as galera-state.sh serves them; the cluster suite runs the
// command against real pods (proxysql.test.ts).
const NODE = join(__dirname, '..', '..', 'scripts', 'node');
const UUID = 'e746a603-ed07-11f1-bfc9-b77576728816';

function stateLine(pod: string, fields: string): string {
  return execFileSync('bash', ['-c', 'source "$1/galera-lib.sh"; shift; state_line "$@"', 'x', NODE, ...fields.split(' ')],
    { encoding: 'utf8', env: { PATH: process.env.PATH, POD_NAME: pod, POD_NAMESPACE: 'galera', NODE_PEERS: 'galera-0,galera-1,galera-2' } },
  ).trim();
}

const wsrep = (comment: string, cluster: string, size: number) =>
  `wsrep_cluster_status\t${cluster}\nwsrep_cluster_size\t${size}\nwsrep_local_state_comment\t${comment}\nwsrep_ready\tON\n`;

const HOST = (i: number) => `galera-${i}.galera-headless.galera.svc.cluster.local`;

function client(
  opts: { exec?: Record<string, string | Error>; logs?: Record<string, string>; pods: StatusPod[] },
): StatusClient & { calls: string[][] } {
  const calls: string[][] = [];
  return {
    calls,
    pods: async () => opts.pods,
    exec: async (pod, container, command) => {
      calls.push([pod, container, ...command]);
      const key = `${pod}/${command.includes('admin') ? /FROM (\S+)/.exec(command[command.length - 1])![1] : container}`;
      const out = opts.exec?.[key];
      if (out instanceof Error) throw out;
      if (out === undefined) throw new Error(`no stand-in output for ${key}`);
      return out;
    },
    logs: async (pod) => opts.logs?.[pod] ?? '',
  };
}

const pod = (
  name: string, component: string, ready = true, restarts = 0,
): StatusPod => ({ name, component, ready, restarts, phase: 'Running' });

describe('status command', () => {
  test('GIVEN three Synced nodes and a ProxySQL pod WHEN collected THEN each line holds state, size, position, '
    + 'last decision and the proxy view', async () => {
    // GIVEN
    const c = client({
      pods: [
        pod('galera-1', 'database'), pod('galera-0', 'database'), pod('galera-2', 'database', false, 2),
        pod('galera-proxysql-abc', 'proxy'),
      ],
      exec: {
        'galera-0/mariadb': `${stateLine('galera-0', `phase=running primary=1 uuid=${UUID} seqno=51 local_state=4`)}\n`
          + `${wsrep('Synced', 'Primary', 3)}`,
        'galera-1/mariadb': `${stateLine('galera-1', `phase=running primary=1 uuid=${UUID} seqno=51 local_state=4`)}\n`
          + `${wsrep('Synced', 'Primary', 3)}`,
        'galera-2/mariadb': `${stateLine('galera-2', `phase=running primary=1 uuid=${UUID} seqno=50 local_state=2`)}\n`
          + `${wsrep('Donor/Desynced', 'Primary', 3)}`,
        'galera-proxysql-abc/runtime_mysql_galera_hostgroups': '10\t20\t30\t9999\n',
        // as ProxySQL keeps them: the nodes that are not the writer stay SHUNNED in the writer hostgroup
        'galera-proxysql-abc/runtime_mysql_servers': `10\t${HOST(0)}\tONLINE\n10\t${HOST(1)}\tSHUNNED\n`
          + `30\t${HOST(0)}\tONLINE\n30\t${HOST(1)}\tONLINE\n9999\t${HOST(2)}\tONLINE\n`,
      },
      logs: {
        'galera-0': '2026-11-30T21:49:18Z galera-0 galera INFO: decision: bootstrap: new cluster: all 3 nodes are empty\n',
        'galera-1': 'x galera INFO: decision: wait: waiting for galera-0\nx galera INFO: decision: join: galera-0 is Primary\nother line\n',
      },
    });
    // WHEN
    const status = await collectStatus(c);
    const report = formatStatus(status, 'galera');
    // THEN nodes in ordinal order, with what each pod said
    expect(status.nodes.map((n) => [n.pod, n.state, n.component, n.clusterSize, n.position, n.lastDecision])).toEqual([
      ['galera-0', 'Synced', 'Primary', '3', `${UUID}:51`, 'bootstrap: new cluster: all 3 nodes are empty'],
      ['galera-1', 'Synced', 'Primary', '3', `${UUID}:51`, 'join: galera-0 is Primary'],
      ['galera-2', 'Donor/Desynced', 'Primary', '3', `${UUID}:50`, '-'],
    ]);
    expect(status.nodes[2]).toMatchObject({ ready: false, restarts: 2 });
    expect(status.proxies).toEqual([{
      pod: 'galera-proxysql-abc', ready: true, restarts: 0, writers: ['galera-0'], readers: ['galera-0', 'galera-1'], offline: ['galera-2'],
    }]);
    expect(report).toMatch(/^ {2}galera-2 +false +2 +Donor\/Desynced +Primary +3 +e746a603-\S+:50 +-$/m);
    expect(report).toMatch(/^ {2}galera-proxysql-abc +true +0 +galera-0 +galera-0,galera-1 +galera-2$/m);
    // and it only ran the pods' own status scripts, never a client with credentials
    expect(c.calls.map((x) => x.slice(2, 4)))
      .toEqual(expect.arrayContaining([['bash', '/opt/mariadb/galera-state.sh'], ['bash', '/opt/proxysql/proxysql-agent.sh']]));
  });

  test('GIVEN a node whose mariadbd does not answer and a proxy whose admin fails WHEN collected THEN the others are still '
    + 'reported', async () => {
    const c = client({
      pods: [pod('galera-0', 'database', false), pod('galera-1', 'database'), pod('galera-proxysql-x', 'proxy', false)],
      exec: {
        'galera-0/mariadb': `${stateLine('galera-0', `phase=waiting uuid=${UUID} seqno=40 safe=0 empty=0`)}\n`,
        'galera-1/mariadb': new Error('container not found'),
        'galera-proxysql-x/runtime_mysql_galera_hostgroups': new Error('ERROR 2013 (HY000): Lost connection\nmore'),
      },
      logs: { 'galera-0': 'x galera INFO: decision: wait: waiting for galera-2 (last seen at e746:41)\n' },
    });
    const status = await collectStatus(c);
    expect(status.nodes[0]).toMatchObject({
      state: 'waiting', component: '-', clusterSize: '-', position: `${UUID}:40`,
      lastDecision: 'wait: waiting for galera-2 (last seen at e746:41)',
    });
    expect(status.nodes[1]).toMatchObject({ state: 'Running', position: '-' });
    expect(status.proxies[0].error).toBe('admin interface: ERROR 2013 (HY000): Lost connection');
    expect(formatStatus(status, 'db')).toContain('? (admin interface: ERROR 2013 (HY000): Lost connection)');
  });

  test('GIVEN a Galera cluster that follows an external source WHEN collected THEN the node that follows, its threads and '
    + 'the lag are reported, and a stopped connection is a problem', async () => {
    // GIVEN galera-1 follows (its connection stopped on an errant write), the others do not; lines as source.sh prints them
    const follow = 'follow_record\tfollowing old-db.legacy.svc:3306 2026-12-07T14:20:01Z\n';
    const following = (sql: string, errno: string, error: string) => `${follow}following\t1\n`
      + `source_Master_Host\told-db.legacy.svc\nsource_Slave_IO_Running\tYes\nsource_Slave_SQL_Running\t${sql}\n`
      + `source_Seconds_Behind_Master\t${sql === 'Yes' ? '3' : 'NULL'}\nsource_Gtid_IO_Pos\t0-7-761\n`
      + `source_Last_IO_Errno\t0\nsource_Last_IO_Error\t\nsource_Last_SQL_Errno\t${errno}\nsource_Last_SQL_Error\t${error}\n`;
    const line = (i: number) => stateLine(`galera-${i}`, `phase=running primary=1 uuid=${UUID} seqno=51 local_state=4`);
    const node = (i: number, extra: string) => `${line(i)}\n${wsrep('Synced', 'Primary', 3)}${extra}`;
    const c = (sql: string, errno: string, error: string) => client({
      pods: [pod('galera-0', 'database'), pod('galera-1', 'database'), pod('galera-2', 'database')],
      exec: {
        'galera-0/mariadb': node(0, `${follow}following\t0\n`), 'galera-1/mariadb': node(1, following(sql, errno, error)),
        'galera-2/mariadb': node(2, `${follow}following\t0\n`),
      },
    });
    // WHEN the connection runs
    const healthy = await collectStatus(c('Yes', '0', ''));
    // THEN
    expect(healthy.nodes.map((n) => n.following?.host ?? '-')).toEqual(['-', 'old-db.legacy.svc', '-']);
    expect(healthy.nodes[1]).toMatchObject({ state: 'Synced', following: { io: 'Yes', sql: 'Yes', lag: '3', received: '0-7-761' } });
    expect(formatStatus(healthy, 'db')).toContain('  galera-1 follows the external source old-db.legacy.svc (clients may not write '
      + 'until the cutover): IO Yes, SQL Yes, lag 3s, received 0-7-761');
    expect(statusProblems(healthy).filter((p) => p.includes('source'))).toEqual([]);
    // WHEN it stopped on a duplicate key THEN that is a problem, with the error
    const stopped = await collectStatus(c('No', '1062', "Duplicate entry '77777' for key 'PRIMARY'"));
    expect(statusProblems(stopped)).toContain(
      "galera-1: following the source old-db.legacy.svc stopped (SQL 1062: Duplicate entry '77777' for key 'PRIMARY')");
  });

  test('GIVEN a binlog archiver WHEN collected THEN its line holds the last archived GTID, the lag, gaps and errors, '
    + 'from the metrics binlog-archive.sh serves', async () => {
    // GIVEN the archiver's own metrics output: archived up to seq 412, the node at 415, the last complete round 7 s ago
    const work = mkdtempSync(join(tmpdir(), 'archiver-'));
    const now = Math.floor(Date.now() / 1000);
    writeFileSync(join(work, 'started'), `${now - 600}\n`);
    writeFileSync(join(work, 'archived'), '412 0-1-412\n');
    writeFileSync(join(work, 'node-seq'), '415\n');
    writeFileSync(join(work, 'cycles'), `${now - 9} 400\n${now - 7} 412\n${now - 5} 415\n`);
    writeFileSync(join(work, 'gaps'), '0\n');
    writeFileSync(join(work, 'errors'), '2\n');
    const metrics = execFileSync('bash', [join(__dirname, '..', '..', 'scripts', 'backup', 'binlog-archive.sh'), 'metrics'], {
      encoding: 'utf8', env: {
        PATH: process.env.PATH, BACKUP_TOPOLOGY: 'galera', POD_NAME: 'galera-binlog-archiver-x', NODE_PEERS: 'galera-0',
        NODE_CLUSTER_NAME: 'galera', ARCHIVE_DIR: work, ARCHIVE_WORK: work,
      },
    });
    rmSync(work, { recursive: true, force: true });
    const [current, old] = ['galera-binlog-archiver-7c5f9d6b8-qwxyz', 'galera-binlog-archiver-old'];
    const c = client({
      pods: [pod(current, 'binlog-archiver', true, 1), pod(old, 'binlog-archiver', false)],
      exec: { [`${current}/archiver`]: metrics, [`${old}/archiver`]: new Error('container not found') },
    });
    // WHEN
    const status = await collectStatus(c);
    // THEN
    expect(status.archivers?.[0]).toMatchObject({ lastGtid: '0-1-412', lagTransactions: '3', gaps: '0', errors: '2', restarts: 1 });
    expect(Number(status.archivers?.[0].lagSeconds)).toBeGreaterThanOrEqual(7);
    expect(Number(status.archivers?.[0].lagSeconds)).toBeLessThan(60);
    expect(status.archivers?.[1].error).toBe('metrics: container not found');
    const report = formatStatus(status, 'galera');
    expect(report).toContain('Binlog archive (point-in-time recovery)');
    expect(report).toMatch(/^ {2}galera-binlog-archiver-7c5f9d6b8-qwxyz +true +1 +0-1-412 +\d+s +3 +0 +2$/m);
    expect(report).toMatch(/^ {2}galera-binlog-archiver-old +false +0 +\? \(metrics: container not found\)/m);
    // and without an archiver there is no such section
    expect(formatStatus({ nodes: [], proxies: [] }, 'galera')).not.toContain('Binlog archive');
  });

  test('GIVEN what the command collected WHEN judged THEN every problem is named, and a healthy cluster has none', () => {
    // GIVEN a healthy primary/replica cluster with ProxySQL and a binlog archiver
    const node = (p: string, role: string, ready = true): ReplicationNodeStatus => ({
      pod: p, ready, restarts: 0, role, source: '-', io: '-', sql: '-', lag: '-', gtidCurrentPos: '0-1-5', gtidSlavePos: '-',
      semiSync: '-', lastDecision: '',
    });
    const proxy = (p: string, writers: string[], ready = true): ProxyStatus => ({
      pod: p, ready, restarts: 0, writers, readers: [], offline: [],
    });
    const archiver = (p: string, ready: boolean, error?: string): ArchiverStatus => ({
      pod: p, ready, restarts: 0, lastGtid: '0-1-5', lagSeconds: '3', lagTransactions: '0', gaps: '0', errors: '0',
      ...(error ? { error } : {}),
    });
    const healthy: ClusterStatus = {
      nodes: [], replication: [node('mariadb-0', 'primary'), node('mariadb-1', 'replica'), node('mariadb-2', 'replica')],
      proxies: [proxy('mariadb-proxysql-a', ['mariadb-0'])],
      archivers: [archiver('mariadb-binlog-archiver-new', true), archiver('old', false)],
    };
    // WHEN / THEN: nothing wrong (an old archiver pod of a rollout may be unready)
    expect(statusProblems(healthy)).toEqual([]);
    // and each fault is named
    expect(statusProblems({ nodes: [], proxies: [] })).toEqual(['no database pod found']);
    expect(statusProblems({
      ...healthy,
      replication: [node('mariadb-0', 'primary'), node('mariadb-1', 'primary'), node('mariadb-2', 'cloning', false)],
      proxies: [proxy('mariadb-proxysql-a', [], false)],
      archivers: [archiver('mariadb-binlog-archiver-new', false)],
    })).toEqual([
      'mariadb-2 is not ready', 'mariadb-proxysql-a is not ready', 'mariadb-proxysql-a sees no writer',
      '2 primaries among the primary/replica nodes (mariadb-0, mariadb-1), expected 1',
      'no binlog archiver pod is ready: nothing is archived for point-in-time recovery',
    ]);
    expect(statusProblems({ ...healthy, replication: healthy.replication!.map((n) => ({ ...n, role: 'replica' })) }))
      .toEqual(['0 primaries among the primary/replica nodes (none), expected 1']);
    expect(statusProblems({ ...healthy, archivers: [archiver('mariadb-binlog-archiver-new', true, 'metrics: connection refused')] }))
      .toEqual(['mariadb-binlog-archiver-new (binlog archiver): metrics: connection refused']);
  });

  test('the command refuses an unknown argument and a missing value, naming them', () => {
    for (const [args, message] of [[['--bogus'], "unknown argument '--bogus'"], [['-n'], '-n needs a value']] as const) {
      const r = spawnSync(
        'npx', ['ts-node', '--transpile-only', join(__dirname, '..', '..', 'src', 'cli', 'bin', 'status.ts'), ...args],
        { encoding: 'utf8' },
      );
      expect(r.status).toBe(2);
      expect(r.stderr).toContain(message);
      expect(r.stderr).toContain('usage: status');
    }
  });
});
