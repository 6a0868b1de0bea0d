import { execFileSync } from 'child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';

// The state transfer method `stream` (scripts/node/galera-sst.sh), its parsing driven directly:
// what mariadbd passes, the joiner's address, the TLS mode from my.cnf and the socat addresses
// that follow. The cluster tests run every transfer for real (lifecycle, TLS).
const SST = join(__dirname, '..', '..', 'scripts', 'node', 'galera-sst.sh');
const PEERS = 'galera-0.galera.db.svc.cluster.local,galera-1.galera.db.svc.cluster.local,galera-2.galera.db.svc.cluster.local';
const dir = mkdtempSync(join(tmpdir(), 'sst-method-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs bash code with galera-sst.sh sourced (main does not run) as pod galera-1. */
function sst(code: string): string {
  return execFileSync('bash', ['-c', `source "${SST}"; ${code}`], {
    encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH, POD_NAME: 'galera-1', NODE_PEERS: PEERS, NODE_RUNTIME_DIR: dir },
  }).trim();
}

/** Like sst(), but returns the exit status and the error output (the log). */
function sstFails(code: string): { status: number; log: string } {
  try {
    sst(code);
    return { status: 0, log: '' };
  } catch (e) {
    const err = e as { status: number; stderr: string };
    return { status: err.status, log: err.stderr };
  }
}

describe('the arguments mariadbd passes', () => {
  test('a joiner: role, address, datadir without its slash, my.cnf and the parent; mariadbd\'s own arguments are not read', () => {
    // GIVEN the command line of sql/wsrep_sst.cc (sst_prepare_other), as the pod logs show it
    const args = "--role 'joiner' --address '10.250.40.12' --datadir '/var/lib/mysql/' --defaults-file '/run/mariadb/my.cnf' --parent "
      + "'572' "
      + "--progress 0 --mysqld-args --defaults-file=/run/mariadb/my.cnf --role donor";
    // WHEN / THEN
    expect(sst(`eval "parse_args ${args.replace(/"/g, '\\"')}"; echo "$ROLE|$ADDRESS|$DATA|$CNF|$PARENT|$BYPASS"`))
      .toBe('joiner|10.250.40.12|/var/lib/mysql|/run/mariadb/my.cnf|572|0');
  });

  test('a donor of an IST: the joiner\'s address, the socket, the position and --bypass', () => {
    const args = "--role 'donor' --address '10.250.40.12:4444/stream1/galera-2.galera.db.svc.cluster.local' --local-port 3306 "
      + "--socket '/run/mysqld/mysqld.sock' --progress 0 --datadir '/var/lib/mysql/' --defaults-file '/run/mariadb/my.cnf' "
      + "--gtid 'f21403ea-f134-11f1-8b1a-6e4e5964d5a5:2' --gtid-domain-id '0' --bypass --mysqld-args --defaults-file=/run/mariadb/my.cnf";
    expect(sst(`eval "parse_args ${args}"; echo "$ROLE|$ADDRESS|$SOCKET|$GTID|$DOMAIN|$BYPASS"`))
      .toBe(['donor', '10.250.40.12:4444/stream1/galera-2.galera.db.svc.cluster.local', '/run/mysqld/mysqld.sock',
        'f21403ea-f134-11f1-8b1a-6e4e5964d5a5:2', '0', '1'].join('|'));
  });
});

describe('the joiner\'s address', () => {
  test.each([
    ['an IPv4 address: the default port', '10.0.0.5', '10.0.0.5:4444/stream1/galera-1.galera.db.svc.cluster.local'],
    ['with a port', '10.0.0.5:5555', '10.0.0.5:5555/stream1/galera-1.galera.db.svc.cluster.local'],
    ['an IPv6 address in brackets, with a port', '[fd00::5]:5555', '[fd00::5]:5555/stream1/galera-1.galera.db.svc.cluster.local'],
  ])('%s', (_what, address, ready) => {
    // GIVEN --address / WHEN the joiner says ready / THEN it names its own pod, for the donor's check
    expect(sst(`ADDRESS='${address}'; parse_own_address; joiner_address`)).toBe(ready);
  });

  test('the donor takes host, port and name apart', () => {
    const address = '[fd00::5]:5555/stream1/galera-2.galera.db.svc.cluster.local';
    expect(sst(`ADDRESS='${address}'; parse_joiner_address; echo "$JOINER_HOST|$JOINER_PORT|$JOINER_NAME"`))
      .toBe('[fd00::5]|5555|galera-2.galera.db.svc.cluster.local');
  });

  test.each([
    ['another format version', '10.0.0.5:4444/stream2/galera-2.galera.db.svc.cluster.local', 'is not a stream1 address'],
    ['an address of the mariabackup method', '10.0.0.5:4444/xtrabackup_sst//1', 'is not a stream1 address'],
    ['a name outside the cluster', '10.0.0.5:4444/stream1/galera-2.other.db.svc.cluster.local',
      'is not a pod of galera.db.svc.cluster.local'],
    ['no port', '10.0.0.5/stream1/galera-2.galera.db.svc.cluster.local', 'has no host:port'],
  ])('the donor refuses %s', (_what, address, message) => {
    // GIVEN a request this donor cannot serve / WHEN it reads it / THEN it fails, saying why
    const r = sstFails(`ADDRESS='${address}'; parse_joiner_address`);
    expect(r.status).toBe(1);
    expect(r.log).toContain(message);
  });
});

describe('TLS from my.cnf, and the socat addresses', () => {
  const TLS_FILES = 'ssl_cert=/etc/mariadb/tls/tls.crt\nssl_key=/etc/mariadb/tls/tls.key\nssl_ca=/etc/mariadb/tls/ca.crt\n';
  function cnf(name: string, text: string): string {
    const file = join(dir, name);
    writeFileSync(file, text);
    return file;
  }

  test('ssl-mode=VERIFY_CA in [sst]: both ends verify the other\'s certificate by the CA and by name', () => {
    // GIVEN a TLS node's my.cnf (renderMyCnf, with galera-start.sh's [sst] section)
    const file = cnf('tls.cnf', `[mysqld]\n${TLS_FILES}innodb_buffer_pool_size=512M\n[sst]\nssl-mode=VERIFY_CA\n`);
    // WHEN the joiner and the donor read it
    const out = sst(`CNF='${file}'; read_settings; ADDRESS=10.0.0.5; parse_own_address; echo "$TLS|$BUFFER_POOL"; listen_address; echo;`
      + " ADDRESS='10.0.0.6:4444/stream1/galera-2.galera.db.svc.cluster.local'; parse_joiner_address; connect_address").split('\n');
    // THEN
    expect(out[0]).toBe('1|512M');
    expect(out[1]).toBe('OPENSSL-LISTEN:4444,reuseaddr,cert=/etc/mariadb/tls/tls.crt,key=/etc/mariadb/tls/tls.key,'
      + 'cafile=/etc/mariadb/tls/ca.crt,verify=1,commonname=galera.db.svc.cluster.local');
    expect(out[2]).toBe('OPENSSL:10.0.0.6:4444,cert=/etc/mariadb/tls/tls.crt,key=/etc/mariadb/tls/tls.key,cafile=/etc/mariadb/tls/ca.crt,'
      + 'verify=1,commonname=galera-2.galera.db.svc.cluster.local,connect-timeout=10');
  });

  test.each([
    ['TLS off (no [sst] section)', `[mysqld]\ndatadir=/var/lib/mysql\n`],
    ['transitional (the certificates, no [sst] section)', `[mysqld]\n${TLS_FILES}`],
    ['a TLS rollout that receives in plain text (galera-start.sh set_sst_mode)', `[mysqld]\n${TLS_FILES}[sst]\nssl-mode=DISABLED\n`],
  ])('%s: plain socat', (_what, text) => {
    const file = cnf('plain.cnf', text);
    expect(sst(`CNF='${file}'; read_settings; ADDRESS=10.0.0.5; parse_own_address; echo "$TLS"; listen_address`).split('\n'))
      .toEqual(['0', 'TCP-LISTEN:4444,reuseaddr']);
  });

  test('TLS asked for without the certificates fails, naming what is missing', () => {
    const r = sstFails(`CNF='${cnf('broken.cnf', '[mysqld]\nssl_ca=/x/ca.crt\n[sst]\nssl-mode=VERIFY_CA\n')}'; read_settings`);
    expect(r.status).toBe(1);
    expect(r.log).toContain('ssl_cert, ssl_key and ssl_ca are not all set');
  });
});
