import { createHash } from 'crypto';
import { Chart, Testing } from 'cdk8s';
import { PodCluster, sqlIn, Workload } from '../../../harness/index';
import { MariaDbReplication, ProxySql, TlsProps } from '../../../src/index';
import { tlsSecretsFor } from '../../../src/core/secrets';
import { issueCertificate, newCertificateAuthority, PemPair, serialOf } from '../../../src/tls/certificates';
import { NODE_PATHS } from '../../../src/core/node-env';
import { describeWithProxySql } from '../proxysql/proxysql-binary';
import { sleep, untilAcked, waitFor } from '../wait';
import { slaveStatusOf } from '../roles';

// TLS on the primary/replica topology, on the real software: client connections (a plain client
// refused when secure transport is required), the replication channel (shown by the replicas'
// SHOW SLAVE STATUS and by the primary, which refuses a replication login without a certificate
// of the CA), the clone stream (socat's own report on both ends), ProxySQL to the backends, and
// certificates renewed in place under write load without a restart. One cluster of its own.

jest.setTimeout(20 * 60_000);

const SECRET = {
  'proxysql-admin-password': `adm "in" it's \\ $1 # %s`,
  'root-password': `root pw 'with' "quotes" \\ $HOME #x`,
  'app-password': 'app-Pass_1',
  'replication-password': `repl "pw" \\n $x #`,
  'monitor-password': 'mon pw#1 $',
};
const APP = { user: 'app', password: SECRET['app-password'], database: 'app' };
const ALL = [0, 1, 2];
const TLS_DIR = NODE_PATHS.tls;

function build(tls: TlsProps): { chart: Chart; db: MariaDbReplication; proxy: ProxySql } {
  const chart = new Chart(Testing.app(), 'test', { namespace: 'db' });
  const db = new MariaDbReplication(chart, 'mariadb', { failoverSeconds: 10, fenceSeconds: 5, tls });
  const proxy = new ProxySql(chart, 'proxysql', { backend: db, replicas: 1 });
  return { chart, db, proxy };
}

describeWithProxySql('TLS on the primary/replica topology', (proxysqlBin) => {
  let cluster: PodCluster;
  let pods: Workload;
  let proxies: Workload;
  let ca: PemPair;
  let secrets: Record<string, Record<string, string>>;
  const { chart, db, proxy } = build({ enabled: true, requireSecureTransport: true });

  async function waitAllReady(ordinals = ALL, timeoutMs = 240_000): Promise<void> {
    try {
      await Promise.all(ordinals.map((i) => pods.waitFor(i, 'readiness', timeoutMs)));
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${ordinals.map((i) => `--- mariadb-${i}\n${pods.logs(i).slice(-4000)}`).join('\n')}`);
    }
  }

  const slaveStatus = (i: number): Promise<Record<string, string>> => slaveStatusOf(pods, i);

  /** Every replica has applied everything the primary (mariadb-0) has binlogged, with both threads still running. */
  async function caughtUp(replicas: readonly number[]): Promise<void> {
    const pos = (await pods.sql(0, 'SELECT @@GLOBAL.gtid_binlog_pos'))[0][0];
    for (const i of replicas) {
      expect([i, (await pods.sql(i, `SELECT MASTER_GTID_WAIT('${pos}', 60)`, { timeoutMs: 70_000 }))[0][0]]).toEqual([i, '0']);
      const s = await slaveStatus(i);
      expect([i, s.Slave_IO_Running, s.Slave_SQL_Running, s.Last_SQL_Error]).toEqual([i, 'Yes', 'Yes', '']);
    }
  }

  /** The certificate serial a TLS server presents (openssl s_client from the client namespace). */
  async function servedSerial(host: string, port: number, starttls: boolean): Promise<string> {
    const script = `openssl s_client -connect ${host}:${port} ${starttls ? '-starttls mysql' : ''} </dev/null 2>/dev/null`
      + ' | openssl x509 -noout -serial';
    const output = (await cluster.clientExec(['bash', '-c', script], { timeoutMs: 20_000 })).stdout;
    const serial = /serial=([0-9A-F]+)/.exec(output)?.[1];
    if (!serial) throw new Error(`no certificate from ${host}:${port}: ${output}`);
    return serial;
  }

  /** Logs in as repl to mariadb-0 from pod `from`, the password from the environment; the client's TLS options as given. */
  function replLogin(from: number, tlsArgs: string[]): Promise<{ exitCode: number; output: string }> {
    return pods.exec(from, ['mariadb', '--no-defaults', '-h', pods.podFqdn(0), '-u', 'repl', ...tlsArgs, '-N', '-e', 'SELECT 1'],
      { env: { MYSQL_PWD: SECRET['replication-password'] }, timeoutMs: 20_000 });
  }

  beforeAll(async () => {
    // GIVEN a primary/replica cluster with TLS on and plain clients refused, its certificates from
    // tlsSecretsFor (what `npm run -s new-tls` prints) signed by one CA, and ProxySQL in front
    ca = await newCertificateAuthority('test cluster CA');
    secrets = { 'mariadb-credentials': SECRET };
    const printed = await tlsSecretsFor(chart, { caFor: () => ca }) as { metadata: { name: string }; stringData: Record<string, string> }[];
    for (const s of printed) secrets[s.metadata.name] = s.stringData;
    cluster = new PodCluster({
      manifests: Testing.synth(chart), secrets, workloads: ['mariadb', 'mariadb-proxysql'], binaries: { proxysql: proxysqlBin },
    });
    await cluster.setup();
    pods = cluster.workload('mariadb');
    proxies = cluster.workload('mariadb-proxysql');
    // WHEN the three pods start at once on empty volumes, then ProxySQL
    await Promise.all(ALL.map((i) => pods.startPod(i)));
    await waitAllReady();
    await proxies.startPod(0);
    await proxies.waitFor(0, 'readiness', 120_000);
  });

  afterAll(async () => {
    await cluster?.cleanup();
  });

  test('(a) the servers present the node certificate; a TLS client sees a cipher, a plain client is refused', async () => {
    expect(Object.keys(secrets).sort()).toEqual(['mariadb-ca', 'mariadb-credentials', 'mariadb-proxysql-tls', 'mariadb-tls']);
    for (const i of ALL) {
      expect(await pods.sql(i, 'SELECT @@ssl_cert, @@ssl_key, @@ssl_ca, @@require_secure_transport'))
        .toEqual([[`${TLS_DIR}/tls.crt`, `${TLS_DIR}/tls.key`, `${TLS_DIR}/ca.crt`, '1']]);
      expect(await servedSerial(pods.podIp(i), 3306, true)).toBe(serialOf(secrets['mariadb-tls']['tls.crt']));
      const cipher = await sqlIn(cluster.clientNs, "SHOW SESSION STATUS LIKE 'Ssl_cipher'",
        { user: 'root', password: SECRET['root-password'], host: pods.podIp(i) }, new Set(), 'client');
      expect(cipher[0][1]).not.toBe('');
      // the same account and password: only the transport differs (10.11 answers "Access denied")
      await expect(sqlIn(cluster.clientNs, 'SELECT 1', { user: 'root', password: SECRET['root-password'], host: pods.podIp(i), ssl: false },
        new Set(), 'client')).rejects.toThrow(/insecure transport are prohibited|Access denied/);
    }
  });

  test('(b) the replication channel is TLS, the primary verified; the primary refuses a replica without a CA certificate', async () => {
    // THEN each replica's own status: TLS on, the CA and the primary's name verified, both threads running
    for (const i of [1, 2]) {
      const s = await slaveStatus(i);
      expect({
        host: s.Master_Host, io: s.Slave_IO_Running, sql: s.Slave_SQL_Running, ssl: s.Master_SSL_Allowed, ca: s.Master_SSL_CA_File,
        cert: s.Master_SSL_Cert, verify: s.Master_SSL_Verify_Server_Cert,
      }).toEqual({
        host: pods.podFqdn(0), io: 'Yes', sql: 'Yes', ssl: 'Yes', ca: `${TLS_DIR}/ca.crt`, cert: `${TLS_DIR}/tls.crt`, verify: 'Yes',
      });
    }
    // and the primary's: repl@% requires a client certificate of the CA...
    expect((await pods.sql(0, "SHOW CREATE USER 'repl'@'%'"))[0][0]).toMatch(/REQUIRE X509/);
    // ...so the replication password alone, in plain text or with TLS but no certificate, is refused; the node certificate is let in
    for (const args of [['--skip-ssl'], ['--ssl', `--ssl-ca=${TLS_DIR}/ca.crt`]]) {
      const r = await replLogin(1, args);
      expect([args, r.exitCode, r.output]).toEqual([args, 1, expect.stringMatching(/Access denied|insecure transport/)]);
    }
    const withCert = await replLogin(1, ['--ssl', `--ssl-ca=${TLS_DIR}/ca.crt`, `--ssl-cert=${TLS_DIR}/tls.crt`,
      `--ssl-key=${TLS_DIR}/tls.key`]);
    expect([withCert.exitCode, withCert.output.trim()]).toEqual([0, '1']);
    // writes on the primary reach both replicas over that channel
    const writer = await pods.startWriter({ pods: [0], sslCa: ca.cert, table: 'acks_channel' });
    await untilAcked(writer, 20, 'writes on the primary over TLS');
    const result = await writer.stop();
    expect(result.acked.length).toBeGreaterThan(0);
    await caughtUp([1, 2]);
    await pods.verifyLedger(result.acked, ALL, { table: 'acks_channel' });
  });

  test('(c) the replicas cloned over TLS, each end verifying the other by the CA; a plain-text request gets nothing', async () => {
    for (const i of [1, 2]) {
      const log = pods.logs(i);
      expect(log).toMatch(/decision: clone: mariadb-\d is the most advanced ready node/);
      // the name the receiver expects is the source's pod name
      const cloning = /clone INFO: cloning from (mariadb-\d) with TLS, the source verified by the CA as (\S+)$/m.exec(log);
      expect(cloning?.[2]).toBe(`${cloning?.[1]}.mariadb.db.svc.cluster.local`);
      // socat's own report of the connection: the source's certificate checked, TLS negotiated
      expect(log).toMatch(/clone INFO: socat: N trusting certificate, commonName matches/);
      expect(log).toMatch(/clone INFO: socat: N SSL proto version used: TLSv1\.[23]/);
      expect(log).toMatch(/clone INFO: socat: N SSL connection using TLS/);
      expect(log).toMatch(/clone INFO: cloned from mariadb-\d, prepared/);
    }
    // the source saw the receiver's certificate (the cluster's name, which only node certificates carry)
    const served = ALL.map((i) => pods.logs(i)).join('\n');
    expect(served).toMatch(/clone requested by mariadb-[12] \([0-9.:]+, TLS, certificate mariadb\.db\.svc\.cluster\.local\)/);
    // a plain-text request with the right token: no TLS handshake, no answer
    const token = createHash('sha256').update(`${SECRET['replication-password']}:mariadb-2`).digest('hex');
    const plain = await pods.exec(2, ['bash', '-c',
      `printf 'CLONE mariadb-2 ${token}\\n' | timeout 10 socat -t 5 - TCP:${pods.podFqdn(0)}:4444,connect-timeout=3 | head -c 100;`
      + ' echo "[rc=$?]"'],
    { timeoutMs: 20_000 });
    expect(plain.output).not.toMatch(/OK mariadb-0/);
    expect(plain.output).toMatch(/\[rc=\d+\]/);
  });

  test('(e) ProxySQL speaks TLS to the replication backends; a plain client is refused by ProxySQL', async () => {
    // the session status a statement through ProxySQL reads is the backend's: ProxySQL's own connection to the node
    const viaProxy = await sqlIn(cluster.clientNs, "SHOW SESSION STATUS LIKE 'Ssl_cipher'", { ...APP, host: proxies.podIp(0), port: 6033 },
      new Set(), 'client');
    expect(viaProxy[0][1]).not.toBe('');
    const proxied = { ...APP, host: proxies.podIp(0), port: 6033 };
    await sqlIn(cluster.clientNs, 'CREATE TABLE IF NOT EXISTS via_proxy (id INT PRIMARY KEY)', proxied, new Set(), 'client');
    await sqlIn(cluster.clientNs, 'INSERT INTO via_proxy VALUES (1)', proxied, new Set(), 'client');
    expect(await pods.sql(0, 'SELECT id FROM app.via_proxy')).toEqual([['1']]);
    await expect(sqlIn(cluster.clientNs, 'SELECT 1', { ...APP, host: proxies.podIp(0), port: 6033, ssl: false }, new Set(), 'client'))
      .rejects.toThrow(/Access denied|SSL/i);
  });

  test('(d) renewed certificates served without a restart under write load; replication reconnects, a clone works with them', async () => {
    // GIVEN the serials served now and a writer through ProxySQL with TLS
    const before = serialOf(secrets['mariadb-tls']['tls.crt']);
    expect(await servedSerial(pods.podIp(0), 4444, false)).toBe(before);
    const restarts = [...ALL.map((i) => pods.restarts(i)), proxies.restarts(0)];
    const writer = await proxies.startWriter({
      pods: [0], port: 6033, user: APP.user, password: APP.password, database: 'app', rateHz: 20, sslCa: ca.cert, table: 'acks_rotation',
    });
    await sleep(2000);
    // WHEN cert-manager renews both Secrets in place (same CA, new keys and serials)
    const renewed = { node: await issueCertificate(ca, db.certificateSpec!), proxy: await issueCertificate(ca, proxy.certificateSpec!) };
    expect(cluster.updateSecret('mariadb-tls', { 'ca.crt': ca.cert, 'tls.crt': renewed.node.cert, 'tls.key': renewed.node.key })).toBe(3);
    expect(cluster.updateSecret('mariadb-proxysql-tls', { 'ca.crt': ca.cert, 'tls.crt': renewed.proxy.cert, 'tls.key': renewed.proxy.key }))
      .toBe(1);
    // THEN every node reloads its server certificate and restarts its clone listener, ProxySQL reloads its own
    await waitFor('every pod to reload its certificate', async () =>
      ALL.every((i) => /TLS: the certificate .* changed; reloaded \(FLUSH LOCAL SSL\) without a restart/.test(pods.logs(i))
        && /the certificate .* changed; restarting the clone listener with it/.test(pods.logs(i)))
      && /TLS: the certificate .* changed; ProxySQL reloaded it/.test(proxies.logs(0, 'agent')), 90_000);
    for (const i of ALL) {
      expect(await servedSerial(pods.podIp(i), 3306, true)).toBe(serialOf(renewed.node.cert));
      await waitFor(`mariadb-${i}'s clone port to serve the new certificate`,
        async () => (await servedSerial(pods.podIp(i), 4444, false)) === serialOf(renewed.node.cert), 30_000);
    }
    expect(await servedSerial(proxies.podIp(0), 6033, true)).toBe(serialOf(renewed.proxy.cert));
    // the replicas' next connections present and verify the renewed certificates
    for (const i of [1, 2]) await pods.sql(i, 'STOP SLAVE IO_THREAD; START SLAVE IO_THREAD');
    await waitFor('both replicas to reconnect over TLS', async () => {
      const s = await Promise.all([1, 2].map((i) => slaveStatus(i)));
      return s.every((x) => x.Slave_IO_Running === 'Yes' && x.Master_SSL_Allowed === 'Yes');
    }, 60_000);
    await untilAcked(writer, writer.ackedCount() + 20, 'writes through ProxySQL after the replicas reconnected');
    const result = await writer.stop();
    expect(result.errors).toBe(0);
    expect(result.acked.length).toBeGreaterThan(0);
    // a reload is no transaction: no replica holds a GTID of its own (strict mode would stop its SQL thread)
    await caughtUp([1, 2]);
    for (const i of ALL) {
      expect([i, (await pods.sql(i, 'SELECT @@GLOBAL.gtid_binlog_state'))[0][0]]).toEqual([i, expect.stringMatching(/^0-1-\d+$/)]);
    }
    await pods.verifyLedger(result.acked, ALL, { database: 'app', table: 'acks_rotation' });
    expect([...ALL.map((i) => pods.restarts(i)), proxies.restarts(0)]).toEqual(restarts);
    // a wiped replica clones with the renewed certificates on both ends and replicates again
    const clonesBefore = pods.logs(2).split('SSL connection using TLS').length;
    await pods.stopPod(2, 'KILL');
    pods.wipeVolume(2);
    await pods.startPod(2);
    await waitAllReady([2]);
    expect(pods.logs(2).split('SSL connection using TLS').length).toBeGreaterThan(clonesBefore);
    const s = await slaveStatus(2);
    expect([s.Slave_IO_Running, s.Master_SSL_Allowed]).toEqual(['Yes', 'Yes']);
     
    console.log(`rotation: serials ${before} -> ${serialOf(renewed.node.cert)} (nodes); `
      + `${result.acked.length} writes through ProxySQL, 0 errors`);
  });

  test('(f) TLS turned off and on again by a full stop (docs/replication.md): replication follows, no write lost', async () => {
    /** Stops every pod (SIGTERM), applies the chart with `tls`, starts them all again. */
    const restartWith = async (tls: TlsProps) => {
      await pods.stopAll('TERM');
      cluster.setManifests(Testing.synth(build(tls).chart));
      await Promise.all(ALL.map((i) => pods.startPod(i)));
      await waitAllReady();
    };
    const primary = async (plain: boolean) => {
      for (const i of ALL) if ((await pods.exec(i, ['cat', `${NODE_PATHS.runtime}/role`])).output.trim() === 'primary') return i;
      throw new Error(`no primary (${plain ? 'TLS off' : 'TLS on'})`);
    };
    for (const [tls, ssl, require] of [[{ enabled: false }, 'No', /REQUIRE/], [{ enabled: true }, 'Yes', /REQUIRE X509/]] as const) {
      // WHEN the cluster is stopped and started with the other setting
      await restartWith(tls);
      const p = await primary(!tls.enabled);
      const replicas = ALL.filter((i) => i !== p);
      // THEN the replicas replicate with or without TLS, and the primary brings repl@%'s requirement in line
      await waitFor(`repl@% to match TLS ${tls.enabled ? 'on' : 'off'}`, async () => {
        const show = ['mariadb', '--defaults-file=/run/mariadb/my.cnf', '-N', '-e', "SHOW CREATE USER 'repl'@'%'"];
        const user = (await pods.exec(p, show)).output;
        return tls.enabled ? require.test(user) : !require.test(user);
      }, 60_000);
      for (const i of replicas) {
        await waitFor(`mariadb-${i} to replicate`, async () => (await slaveStatus(i)).Slave_IO_Running === 'Yes', 60_000);
        expect([i, (await slaveStatus(i)).Master_SSL_Allowed]).toEqual([i, ssl]);
      }
      const writer = await pods.startWriter({ pods: [p], ...(tls.enabled ? { sslCa: ca.cert } : {}), table: `acks_full_${ssl}` });
      await untilAcked(writer, 20, `writes on mariadb-${p} after the full stop`);
      const result = await writer.stop();
      expect(result.acked.length).toBeGreaterThan(0);
      const pos = (await pods.sql(p, 'SELECT @@GLOBAL.gtid_binlog_pos', { ssl: tls.enabled }))[0][0];
      for (const i of replicas) {
        const waited = await pods.sql(i, `SELECT MASTER_GTID_WAIT('${pos}', 60)`, { timeoutMs: 70_000, ssl: tls.enabled });
        expect([i, waited[0][0]]).toEqual([i, '0']);
      }
      for (const i of ALL) {
        const rows = await pods.sql(i, `SELECT COUNT(*) FROM ledger.acks_full_${ssl}`, { ssl: tls.enabled });
        expect([i, Number(rows[0][0])]).toEqual([i, expect.any(Number)]);
        expect(Number(rows[0][0])).toBeGreaterThanOrEqual(result.acked.length);
      }
    }
  });
});
