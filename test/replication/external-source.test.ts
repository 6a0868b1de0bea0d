import { execFileSync } from 'child_process';
import { writeFileSync } from 'fs';
import { join } from 'path';

// The pure parts of the external source's scripts (scripts/common/source.sh) and of the position
// the elections compare (gtid_seq, scripts/replication/repl-lib.sh), driven directly; the
// cluster test (test/cluster/core/external-source.test.ts) runs them against real servers.
const DIR = join(__dirname, '..', '..', 'scripts', 'replication');
const PEERS = 'mariadb-0.mariadb.db.svc.cluster.local,mariadb-1.mariadb.db.svc.cluster.local,mariadb-2.mariadb.db.svc.cluster.local';

function bash(script: string, args: string[] = [], env: Record<string, string> = {}): string {
  return execFileSync('bash', ['-c', `source "$0/repl-lib.sh"; ${script}`, DIR, ...args], {
    encoding: 'utf8', env: { PATH: process.env.PATH, POD_NAME: 'mariadb-0', NODE_PEERS: PEERS, ...env },
  }).trim();
}

describe('how far a GTID position goes (gtid_seq): the sum of each domain\'s highest seq', () => {
  test.each([
    ['one domain', '0-1-57', 57],
    ['two domains: the cluster\'s own and a source\'s', '0-7-1200,1-1001-9', 1209],
    ['one domain written by two servers (a binlog state): its highest seq counts once', '0-1-74,0-2-102', 102],
    ['spaces and a trailing newline, as the server prints a list', ' 0-1-5,\n 1-1002-3\n', 8],
    ['nothing', '', -1],
    ['no GTID at all', 'garbage', -1],
  ])('%s: %s -> %d', (_what, list, want) => {
    expect(Number(bash('gtid_seq "$1"', [list]))).toBe(want);
  });

  test('a node ahead in every domain is ahead; a node that only lacks the source\'s last transactions is behind', () => {
    const ahead = Number(bash('gtid_seq "$1"', ['0-7-1200,1-1001-9']));
    expect(ahead).toBeGreaterThan(Number(bash('gtid_seq "$1"', ['0-7-1199,1-1001-9'])));
    expect(ahead).toBeGreaterThan(Number(bash('gtid_seq "$1"', ['0-7-1200,1-1001-8'])));
  });
});

describe('a source the cluster can follow without diverging (source_conflicts)', () => {
  const conflicts = (serverId: string, logBin: string, pos: string, domain = '1') => bash(
    'source_conflicts "$(printf "%s\\t%s\\t%s" "$1" "$2" "$3")"', [serverId, logBin, pos], { NODE_GTID_DOMAIN: domain },
  );

  test('GIVEN a source with a binary log in domain 0, server id 7 WHEN the cluster is domain 1 THEN nothing stands in the way', () => {
    expect(conflicts('7', '1', '0-7-1200')).toBe('');
    expect(conflicts('7', 'ON', '')).toBe('');
  });

  test('GIVEN no binary log THEN it says so, and what to set', () => {
    expect(conflicts('7', '0', '')).toMatch(/writes no binary log \(log_bin is off\)/);
  });

  test('GIVEN a history in the cluster\'s own domain THEN it names the domain and gtidDomainId', () => {
    expect(conflicts('7', '1', '0-7-1200,1-9-3')).toMatch(/GTID domain 1, the cluster's own \(gtidDomainId\)/);
    expect(conflicts('7', '1', '0-7-1200', '0')).toMatch(/GTID domain 0, the cluster's own/);
  });

  test('GIVEN a server id of the cluster\'s (its own or in its history) THEN it names the id and the cluster\'s range', () => {
    expect(conflicts('1002', '1', '0-7-5')).toMatch(/server id 1002 .* is one of the cluster's \(1001\.\.1003\)/);
    expect(conflicts('7', '1', '0-1003-5')).toMatch(/server id 1003/);
    // the range is the cluster's: 1000 x its domain + 1..N
    expect(conflicts('1', '1', '0-1-5', '2')).toBe('');
    expect(conflicts('2001', '1', '0-1-5', '2')).toMatch(/server id 2001 .* \(2001\.\.2003\)/);
  });

  test('every problem at once, one line each', () => {
    expect(conflicts('1001', 'OFF', '1-1001-5').split('\n')).toHaveLength(3);
  });
});

describe('the source account\'s client settings (source_client_args): the password only in an option file', () => {
  test('GIVEN TLS on WHEN the arguments are built THEN the CA and the host name are verified, and no password is among them', () => {
    const dir = execFileSync('mktemp', ['-d'], { encoding: 'utf8' }).trim();
    writeFileSync(join(dir, 'username'), 'migrator');
    writeFileSync(join(dir, 'password'), 'p"w\'\\1');
    const args = bash('source_client_args', [], {
      NODE_SOURCE_HOST: 'old-db.legacy.svc', NODE_SOURCE_PORT: '3307', NODE_SOURCE_DIR: dir, NODE_SOURCE_TLS: 'on', NODE_RUNTIME_DIR: dir,
    }).split('\n');
    expect(args).toEqual([`--defaults-extra-file=${dir}/source-client.cnf`, '--host=old-db.legacy.svc', '--port=3307', '--ssl',
      `--ssl-ca=${dir}/ca.crt`, '--ssl-verify-server-cert']);
    const cnf = execFileSync('cat', [`${dir}/source-client.cnf`], { encoding: 'utf8' });
    expect(cnf).toBe('[client]\nuser="migrator"\npassword="p\\"w\'\\\\1"\n');
    expect(execFileSync('stat', ['-c', '%a', `${dir}/source-client.cnf`], { encoding: 'utf8' }).trim()).toBe('600');
    execFileSync('rm', ['-rf', dir]);
  });

  test('GIVEN a missing key WHEN the arguments are built THEN it fails naming the key', () => {
    let out = '';
    try {
      bash('source_client_args', [], { NODE_SOURCE_HOST: 'old-db', NODE_SOURCE_DIR: '/nonexistent', NODE_RUNTIME_DIR: '/tmp' });
    } catch (e) {
      out = String((e as { stderr: string }).stderr);
    }
    expect(out).toMatch(/the source Secret has no key 'username'/);
  });
});

describe('the cutover command refuses what it cannot do, before it asks the primary for anything (repl-cutover.sh)', () => {
  const cutover = (args: string[], env: Record<string, string> = {}) => {
    try {
      execFileSync('bash', [join(DIR, 'repl-cutover.sh'), ...args], {
        encoding: 'utf8', stdio: 'pipe', env: { PATH: process.env.PATH, POD_NAME: 'mariadb-0', NODE_PEERS: PEERS, ...env },
      });
      return { code: 0, err: '' };
    } catch (e) {
      const err = e as { status: number; stderr: string };
      return { code: err.status, err: err.stderr };
    }
  };

  test.each([
    ['an unknown option', ['--now']],
    ['a wait that is not a number of seconds', ['--seconds', 'soon']],
    ['a wait of none', ['--seconds', '0']],
    ['both a source made read-only by hand and a forced promotion', ['--source-is-read-only', '--force']],
  ])('GIVEN %s THEN it prints its usage and exits 1', (_what, args) => {
    const r = cutover(args, { NODE_SOURCE_HOST: 'old-db.legacy.svc' });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/usage: repl-cutover.sh \[--source-is-read-only \| --force\] \[--seconds N/);
  });

  test('GIVEN a pod that is not the primary (no state here) THEN it says so, and where to run it', () => {
    const r = cutover([], { NODE_SOURCE_HOST: 'old-db.legacy.svc', NODE_CONFIG_DIR: DIR, NODE_RUNTIME_DIR: '/nonexistent' });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/mariadb-0 is not the primary \(role ''\)/);
    expect(r.err).not.toMatch(/command not found/);
  });

  test('GIVEN a cluster without a source THEN it says there is nothing to cut over from', () => {
    const r = cutover([]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/mariadb-0 has no source \(the source prop\): nothing to cut over from/);
  });
});

describe('where a node\'s history ends, to replicate from (history_position)', () => {
  test.each([
    ['a replica: its binary log and gtid_slave_pos agree', '0-1-57', '0-1-57', '0-1-57'],
    ['a former primary: its own transactions are in its binary log only', '0-1-60', '0-1-57', '0-1-60'],
    ['a following primary that skipped the source\'s last account statement: the binary log\'s entry wins',
      '0-7-20,1-1001-13', '0-7-21,1-1001-13', '0-7-20,1-1001-13'],
    ['a clone before it binlogged anything: gtid_slave_pos', '', '0-1-57,1-1002-4', '0-1-57,1-1002-4'],
    ['a domain only in gtid_slave_pos is kept, one only in the binary log is added', '1-1001-9', '0-7-21', '0-7-21,1-1001-9'],
    ['nothing at all', '', '', ''],
  ])('%s', (_what, binlog, slave, want) => {
    const got = bash('history_position "$1" "$2"', [binlog, slave]);
    expect(got.split(',').filter(Boolean).sort()).toEqual(want.split(',').filter(Boolean).sort());
  });
});
