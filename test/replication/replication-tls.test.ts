import { execFileSync } from 'child_process';
import { join } from 'path';
import { Chart, Testing } from 'cdk8s';
import { MariaDbReplication, MariaDbReplicationProps, ProxySql, TlsProps } from '../../src/index';
import { tlsSecretsFor } from '../../src/core/secrets';

// TLS on the primary/replica topology as synthesized, and the scripts' choice of the replication
// channel's and the clone stream's transport; test/cluster/tls/replication-tls.test.ts runs them
// on real servers.

const DIR = join(__dirname, '..', '..', 'scripts', 'replication');
const PEERS = [0, 1, 2].map((i) => `mariadb-${i}.mariadb.db.svc.cluster.local`).join(',');

function build(props: MariaDbReplicationProps = {}): { chart: Chart; db: MariaDbReplication } {
  const chart = new Chart(Testing.app(), 'test', { namespace: 'db' });
  const db = new MariaDbReplication(chart, 'mariadb', props);
  new ProxySql(chart, 'proxysql', { backend: db, replicas: 1 });
  return { chart, db };
}

interface Container { name: string; env: { name: string; value?: string }[]; volumeMounts: object[] }
interface PodSpec { volumes: { name: string }[]; initContainers: Container[]; containers: Container[] }
interface StatefulSet { spec: { template: { spec: PodSpec } } }

function statefulSet(tls: TlsProps): StatefulSet {
  return Testing.synth(build({ tls }).chart).find((o) => o.kind === 'StatefulSet' && o.metadata.name === 'mariadb') as StatefulSet;
}

const TLS = '/etc/mariadb/tls';

/** Runs a function of a replication script (sourced, so main never runs) with NODE_TLS set. */
function scriptFunction(script: string, tls: string, call: string): string {
  return execFileSync('bash', ['-c', `source "$1/${script}"; ${call}`, 'run', DIR], {
    encoding: 'utf8', env: { PATH: process.env.PATH, POD_NAME: 'mariadb-1', NODE_PEERS: PEERS, NODE_TLS: tls },
  }).trim();
}

describe('MariaDbReplication with TLS', () => {
  test('GIVEN tls on WHEN synthesized THEN the server has the node certificate and every node container mounts it', () => {
    const sts = statefulSet({ enabled: true, requireSecureTransport: true });
    const cnf = Testing.synth(build({ tls: { enabled: true, requireSecureTransport: true } }).chart)
      .find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'mariadb-config').data['my.cnf'].split('\n');
    for (const line of [`ssl_cert=${TLS}/tls.crt`, `ssl_key=${TLS}/tls.key`, `ssl_ca=${TLS}/ca.crt`, 'require_secure_transport=ON']) {
      expect(cnf).toContain(line);
    }
    expect(sts.spec.template.spec.volumes)
      .toContainEqual({ name: 'tls', secret: { secretName: 'mariadb-tls', defaultMode: 0o440, optional: true } });
    for (const c of [...sts.spec.template.spec.initContainers, ...sts.spec.template.spec.containers]) {
      expect([c.name, c.volumeMounts]).toEqual([c.name, expect.arrayContaining([{ name: 'tls', mountPath: TLS, readOnly: true }])]);
      const env = Object.fromEntries(c.env.filter((e) => e.value !== undefined).map((e) => [e.name, e.value]));
      expect(env).toMatchObject({ NODE_TLS: 'on', NODE_TLS_DIR: '/etc/mariadb/tls', NODE_TLS_SECRET_NAME: 'mariadb-tls' });
    }
  });

  test('GIVEN the default WHEN synthesized THEN TLS is on, as on Galera; off only when said so', () => {
    const on = statefulSet({});
    expect(on.spec.template.spec.volumes.map((v) => v.name)).toContain('tls');
    expect(on.spec.template.spec.containers[0].env).toContainEqual({ name: 'NODE_TLS', value: 'on' });
    const off = statefulSet({ enabled: false });
    expect(off.spec.template.spec.volumes.map((v) => v.name)).not.toContain('tls');
    expect(off.spec.template.spec.containers[0].env).toContainEqual({ name: 'NODE_TLS', value: 'off' });
  });

  test('GIVEN tls on WHEN the Secrets are printed THEN a CA, the nodes\' certificate with every name, and ProxySQL\'s', async () => {
    const secrets = await tlsSecretsFor(build({ tls: { enabled: true } }).chart) as { metadata: { name: string } }[];
    expect(secrets.map((s) => s.metadata.name).sort()).toEqual(['mariadb-ca', 'mariadb-proxysql-tls', 'mariadb-tls']);
    const node = build({ tls: { enabled: true } }).db.certificateSpec!;
    expect(node.usages).toEqual(['server', 'client']);
    expect(node.commonName).toBe('mariadb.db.svc.cluster.local');
    expect(node.dnsNames).toEqual(expect.arrayContaining([...PEERS.split(','), '*.mariadb.db.svc.cluster.local', 'mariadb-read.db.svc']));
  });

  test('tls.transitional is refused on this topology, named, with the other mistakes of the same props', () => {
    expect(() => build({ tls: { enabled: true, transitional: true }, fenceSeconds: 40 }))
      .toThrow(/tls\.transitional is not available on this topology: a primary\/replica cluster turns TLS on or off[\s\S]*fenceSeconds/);
  });
});

describe('the replication channel and the clone stream follow NODE_TLS', () => {
  test.each([
    ['on', 'X509', `, MASTER_SSL=1, MASTER_SSL_CA='${TLS}/ca.crt', MASTER_SSL_CERT='${TLS}/tls.crt', MASTER_SSL_KEY='${TLS}/tls.key', `
      + 'MASTER_SSL_VERIFY_SERVER_CERT=1'],
    ['off', 'NONE', ', MASTER_SSL=0, MASTER_SSL_VERIFY_SERVER_CERT=0'],
  ])('NODE_TLS=%s: repl@%% REQUIRE %s and CHANGE MASTER with the matching options', (tls, require, options) => {
    expect(scriptFunction('repl-start.sh', tls, 'repl_require')).toBe(require);
    expect(scriptFunction('repl-start.sh', tls, 'master_tls_options')).toBe(options);
    expect(scriptFunction('repl-start.sh', tls, 'replication_accounts_sql 2>/dev/null || true')).toBe('');
  });

  test('NODE_TLS=on: the clone port is socat OpenSSL, each end verifying the other by the CA and by name', () => {
    expect(scriptFunction('repl-clone.sh', 'on', 'clone_listen_address')).toBe(`OPENSSL-LISTEN:4444,reuseaddr,fork,cert=${TLS}/tls.crt,`
      + `key=${TLS}/tls.key,cafile=${TLS}/ca.crt,verify=1,commonname=mariadb.db.svc.cluster.local`);
    expect(scriptFunction('repl-clone.sh', 'on', 'clone_connect_address mariadb-0.mariadb.db.svc.cluster.local')).toBe(
      `OPENSSL:mariadb-0.mariadb.db.svc.cluster.local:4444,cert=${TLS}/tls.crt,key=${TLS}/tls.key,`
      + `cafile=${TLS}/ca.crt,verify=1,commonname=mariadb-0.mariadb.db.svc.cluster.local,connect-timeout=5`);
  });

  test('NODE_TLS=off: the clone port is plain TCP', () => {
    expect(scriptFunction('repl-clone.sh', 'off', 'clone_listen_address')).toBe('TCP-LISTEN:4444,reuseaddr,fork');
    expect(scriptFunction('repl-clone.sh', 'off', 'clone_connect_address mariadb-0.x')).toBe('TCP:mariadb-0.x:4444,connect-timeout=5');
  });
});
