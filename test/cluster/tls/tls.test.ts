import { Testing } from 'cdk8s';
import { PodCluster, sqlIn, Workload } from '../../../harness/index';
import { issueCertificate, newCertificateAuthority, PemPair, serialOf } from '../../../src/tls/certificates';
import { GaleraProxySqlChart, GaleraProxySqlChartProps } from '../../../src/index';
import { describeWithProxySql } from '../proxysql/proxysql-binary';
import { chartSecrets } from '../secrets';
import { sleep, waitFor } from '../wait';

// TLS on the real software, under the synthesized NetworkPolicies: a plain cluster turned to TLS
// by two rolling restarts under write load; clients with and without TLS; a node whose
// certificate comes from another CA; certificates renewed in place and served without a
// restart; and no password on any process's command line.

jest.setTimeout(20 * 60_000);

const SECRET = {
  'root-password': `root pw 'with' "quotes" \\ $HOME #x`,
  'app-password': `app 'pw' "q" \\ x: y`,
  'sst-password': 'sst-Pass_2-long-enough',
  'monitor-password': `mon "pw" it's \\ #1 $`,
  'proxysql-admin-password': `adm "in" it's \\ $1 # %s`,
};
const APP = { user: 'app', password: SECRET['app-password'], database: 'app' };
const GALERA = [0, 1, 2];
const PROXIES = [0, 1, 2];
/** The ledger writers and the s_client checks reach the nodes' 3306 directly: the policy names them. */
const DIRECT_CLIENT = { 'test-role': 'direct-client' };

function chart(tls: NonNullable<GaleraProxySqlChartProps['galera']>['tls']): GaleraProxySqlChart {
  return new GaleraProxySqlChart(Testing.app(), 'test', {
    galera: { nonPrimaryRestartSeconds: 20, tls },
    networkPolicy: { directClients: [{ podSelector: { matchLabels: DIRECT_CLIENT } }] },
  });
}

describeWithProxySql('TLS everywhere', (proxysqlBin) => {
  let cluster: PodCluster;
  let galera: Workload;
  let proxies: Workload;
  let ca: PemPair;
  let tlsSecrets: Record<string, Record<string, string>>;

  async function rollingRestart(w: Workload, ordinals: number[]): Promise<void> {
    for (const i of ordinals) {
      await w.stopPod(i, 'TERM');
      await w.startPod(i);
      await w.waitFor(i, 'readiness', 240_000);
    }
  }

  /**
   * The certificate serial a TLS server presents (openssl s_client). MySQL ports are asked from
   * the client namespace; Galera's replication port only takes Galera pods, so galera-1 asks it.
   */
  async function servedSerial(host: string, port: number, starttls: boolean): Promise<string> {
    const script = `openssl s_client -connect ${host}:${port} ${starttls ? '-starttls mysql' : ''} </dev/null 2>/dev/null | openssl x509 `
      + `-noout -serial`;
    const output = port === 4567
      ? (await galera.exec(1, ['bash', '-c', script], { timeoutMs: 20_000 })).output
      : (await cluster.clientExec(['bash', '-c', script], { timeoutMs: 20_000 })).stdout;
    const serial = /serial=([0-9A-F]+)/.exec(output)?.[1];
    if (!serial) throw new Error(`no certificate from ${host}:${port}: ${output}`);
    return serial;
  }

  const passwordsOnCommandLines: string[] = [];
  let scanner: NodeJS.Timeout | undefined;

  beforeAll(async () => {
    // GIVEN a plain-text cluster (TLS explicitly off) with ProxySQL in front
    const plain = chart({ enabled: false });
    ca = await newCertificateAuthority('test cluster CA');
    tlsSecrets = await chartSecrets(chart({ enabled: true }), SECRET, ca);
    cluster = new PodCluster({
      manifests: Testing.synth(plain), secrets: { 'galera-credentials': SECRET }, binaries: { proxysql: proxysqlBin },
      clientLabels: DIRECT_CLIENT,
    });
    await cluster.setup();
    galera = cluster.workload('galera');
    proxies = cluster.workload('galera-proxysql');
    await Promise.all(GALERA.map((i) => galera.startPod(i)));
    await Promise.all(GALERA.map((i) => galera.waitFor(i, 'readiness', 240_000)));
    await Promise.all(PROXIES.map((p) => proxies.startPod(p)));
    await Promise.all(PROXIES.map((p) => proxies.waitFor(p, 'readiness', 120_000)));
    // every second, every process of every pod: no password on a command line
    scanner = setInterval(() => passwordsOnCommandLines.push(...cluster.commandLinesWith(Object.values(SECRET))), 1000);
  });

  afterAll(async () => {
    if (scanner) clearInterval(scanner);
    await cluster?.cleanup();
  });

  test('TLS turned on for the running cluster by two rolling restarts under write load: no acknowledged write lost', async () => {
    // step 1: the Secrets, then transitional TLS (nodes accept plain and TLS peers), rolled out
    for (const [name, data] of Object.entries(tlsSecrets)) if (name !== 'galera-credentials') cluster.setSecret(name, data);
    const plainWriter = await galera.startWriter({ pods: GALERA, rateHz: 20 });
    const proxiedPlain = await proxies.startWriter({
      pods: PROXIES, port: 6033, user: APP.user, password: APP.password, database: 'app', rateHz: 20, table: 'acks_proxied',
    });
    cluster.setManifests(Testing.synth(chart({ enabled: true, transitional: true })));
    await rollingRestart(galera, [2, 1, 0]);
    await rollingRestart(proxies, PROXIES);
    const step1 = [await plainWriter.stop(), await proxiedPlain.stop()];
    await galera.verifyLedger(step1[0].acked, GALERA);
    await galera.verifyLedger(step1[1].acked, GALERA, { database: 'app', table: 'acks_proxied' });
    // step 2: TLS only, plain-text clients refused; the writers now speak TLS and verify the CA
    const tlsWriter = await galera.startWriter({ pods: GALERA, rateHz: 20, sslCa: ca.cert, table: 'acks_tls' });
    const proxiedTls = await proxies.startWriter({
      pods: PROXIES, port: 6033, user: APP.user, password: APP.password, database: 'app', rateHz: 20, sslCa: ca.cert,
      table: 'acks_proxied_tls',
    });
    cluster.setManifests(Testing.synth(chart({ enabled: true, requireSecureTransport: true })));
    await rollingRestart(galera, [2, 1, 0]);
    await rollingRestart(proxies, PROXIES);
    const step2 = [await tlsWriter.stop(), await proxiedTls.stop()];
    await galera.verifyLedger(step2[0].acked, GALERA, { table: 'acks_tls' });
    await galera.verifyLedger(step2[1].acked, GALERA, { database: 'app', table: 'acks_proxied_tls' });
    console.log(`TLS turned on: ${step1[0].acked.length + step1[1].acked.length} + ${step2[0].acked.length + step2[1].acked.length} writes `
      + `acknowledged, `
      + `${step1[0].errors + step1[1].errors} + ${step2[0].errors + step2[1].errors} client errors during the two rollouts`);
    // replication between the nodes is TLS now
    expect(galera.logs(0)).toMatch(/connection established to [0-9a-f-]+ ssl:\/\//);
  });

  test('a TLS client sees a cipher; a plain-text client is refused, straight and through ProxySQL', async () => {
    const direct = await sqlIn(
      cluster.clientNs, "SHOW STATUS LIKE 'Ssl_cipher'", { user: 'root', password: SECRET['root-password'], host: galera.podIp(0) },
      new Set(), 'client',
    );
    expect(direct[0][1]).not.toBe('');
    const viaProxy = await sqlIn(
      cluster.clientNs, "SHOW SESSION STATUS LIKE 'Ssl_cipher'", { ...APP, host: proxies.podIp(0), port: 6033 }, new Set(), 'client',
    );
    expect(viaProxy[0][1]).not.toBe(''); // ProxySQL's own session to the node is TLS too
    // the same account and password that just connected with TLS: only the transport differs
    // (MariaDB 10.11 answers "Access denied" to it, later versions name the transport rule)
    await expect(sqlIn(
      cluster.clientNs, 'SELECT 1', { user: 'root', password: SECRET['root-password'], host: galera.podIp(0), ssl: false }, new Set(),
      'client',
    ))
      .rejects.toThrow(/insecure transport are prohibited|Access denied/);
    await expect(sqlIn(cluster.clientNs, 'SELECT 1', { ...APP, host: proxies.podIp(0), port: 6033, ssl: false }, new Set(), 'client'))
      .rejects.toThrow(/Access denied|SSL/i);
    // the node scripts and probes work over the socket, whatever the transport rule
    for (const i of GALERA) expect((await galera.probe(i, 'readiness')).ok).toBe(true);
  });

  test('IST and SST run over TLS', async () => {
    await galera.stopPod(1, 'KILL');
    await galera.startPod(1);
    await galera.waitFor(1, 'readiness', 240_000);
    expect(galera.logs(1)).toMatch(/IST receiver using ssl/);
    await galera.stopPod(2, 'TERM');
    galera.wipeVolume(2);
    await galera.startPod(2);
    await galera.waitFor(2, 'readiness', 240_000);
    // socat's own report of the SST connection: TLS negotiated, the donor's certificate checked
    // against the CA and the cluster's name, and the backup received over it
    const sst = galera.logs(2);
    expect(sst).toMatch(/galera-sst INFO: ready: receiving on port 4444 with TLS, the donor verified by \/etc\/mariadb\/tls\/ca.crt/);
    expect(sst).toMatch(/galera-sst INFO: socat: N trusting certificate, commonName matches/);
    expect(sst).toMatch(/galera-sst INFO: socat: N SSL proto version used: TLSv1\.[23]/);
    expect(sst).toMatch(/galera-sst INFO: socat: N SSL connection using TLS/);
    expect(sst).toMatch(/galera-sst INFO: received \S+ \(sst\)/);
  });

  test('a node whose certificate comes from another CA cannot join', async () => {
    // GIVEN galera-2 restarted with a certificate of a foreign CA (the others keep theirs)
    const foreignCa = await newCertificateAuthority('someone else');
    const spec = chart({ enabled: true }).galera.certificateSpec!;
    const foreign = await issueCertificate(foreignCa, spec);
    await galera.stopPod(2, 'TERM');
    cluster.setSecret('galera-tls', { 'ca.crt': foreignCa.cert, 'tls.crt': foreign.cert, 'tls.key': foreign.key });
    await galera.startPod(2);
    // WHEN it tries for a while / THEN it never joins, and the others stay two
    await sleep(30_000);
    expect((await galera.probe(2, 'readiness')).ok).toBe(false);
    for (const i of [0, 1]) expect((await galera.sql(i, "SHOW GLOBAL STATUS LIKE 'wsrep_cluster_size'"))[0][1]).toBe('2');
    expect(`${galera.logs(0)}${galera.logs(1)}${galera.logs(2)}`).toMatch(/certificate verify failed|unknown ca|handshake/i);
    // the right certificate: it joins
    await galera.stopPod(2, 'KILL');
    cluster.setSecret('galera-tls', tlsSecrets['galera-tls']);
    await galera.startPod(2);
    await galera.waitFor(2, 'readiness', 240_000);
  });

  test('renewed certificates are served without a restart and without a failed write', async () => {
    // GIVEN the serials served now
    const before = {
      mysql: await servedSerial(galera.podFqdn(0), 3306, true),
      galera: await servedSerial(galera.podFqdn(0), 4567, false),
      proxysql: await servedSerial(proxies.podIp(0), 6033, true),
    };
    expect(before.mysql).toBe(serialOf(tlsSecrets['galera-tls']['tls.crt']));
    expect(before.proxysql).toBe(serialOf(tlsSecrets['galera-proxysql-tls']['tls.crt']));
    const restarts = [...GALERA.map((i) => galera.restarts(i)), ...PROXIES.map((p) => proxies.restarts(p))];
    const writer = await proxies.startWriter({
      pods: PROXIES, port: 6033, user: APP.user, password: APP.password, database: 'app', rateHz: 20, sslCa: ca.cert,
      table: 'acks_rotation',
    });
    // WHEN cert-manager renews both Secrets in place (same CA, new keys and serials)
    const c = chart({ enabled: true });
    const renewed = {
      galera: await issueCertificate(ca, c.galera.certificateSpec!),
      proxysql: await issueCertificate(ca, c.proxysql.certificateSpec!),
    };
    expect(
      cluster.updateSecret('galera-tls', { 'ca.crt': ca.cert, 'tls.crt': renewed.galera.cert, 'tls.key': renewed.galera.key }),
    ).toBe(3);
    expect(
      cluster.updateSecret('galera-proxysql-tls', { 'ca.crt': ca.cert, 'tls.crt': renewed.proxysql.cert, 'tls.key': renewed.proxysql.key }),
    ).toBe(3);
    // THEN every pod reloads it and serves the new serial
    await waitFor('every pod to reload its certificate', async () => GALERA.every(
      (i) => /TLS: the certificate .* changed; reloaded/.test(galera.logs(i)),
    )
      && PROXIES.every((p) => /TLS: the certificate .* changed; ProxySQL reloaded it/.test(proxies.logs(p, 'agent'))), 60_000);
    expect(await servedSerial(galera.podFqdn(0), 3306, true)).toBe(serialOf(renewed.galera.cert));
    expect(await servedSerial(galera.podFqdn(0), 4567, false)).toBe(serialOf(renewed.galera.cert));
    expect(await servedSerial(proxies.podIp(0), 6033, true)).toBe(serialOf(renewed.proxysql.cert));
    await sleep(3000);
    const result = await writer.stop();
    expect(result.errors).toBe(0);
    await galera.verifyLedger(result.acked, GALERA, { database: 'app', table: 'acks_rotation' });
    expect([...GALERA.map((i) => galera.restarts(i)), ...PROXIES.map((p) => proxies.restarts(p))]).toEqual(restarts);
    console.log(`rotation: serials ${before.mysql} -> ${serialOf(renewed.galera.cert)} (nodes), ${before.proxysql} `
      + `-> ${serialOf(renewed.proxysql.cert)} (ProxySQL); ${result.acked.length} writes, 0 errors`);
  });

  test('the NetworkPolicies: a pod outside the allowed set reaches neither 3306 nor Galera\'s ports; '
    + 'ProxySQL only from the namespace', async () => {
    // GIVEN a pod of another application in the namespace, and a pod in another namespace
    await cluster.addClient('app', { labels: { app: 'shop' } });
    await cluster.addClient('far', { labels: { app: 'shop' }, namespace: 'elsewhere' });
    /** 0: connected; 124: no answer in 3 s (the policy drops the packets). */
    const connect = async (from: { client?: string; galera?: number; proxysql?: number }, ip: string, port: number) => {
      const script = `timeout 3 bash -c '</dev/tcp/${ip}/${port}' 2>/dev/null; echo $?`;
      let out: string;
      if (from.galera !== undefined) out = (await galera.exec(from.galera, ['bash', '-c', script], { timeoutMs: 10_000 })).output;
      else if (from.proxysql !== undefined) out = (await proxies.exec(
        from.proxysql, ['bash', '-c', script], { timeoutMs: 10_000, container: 'agent' },
      )).output;
      else out = (await cluster.clientExec(['bash', '-c', script], { client: from.client, timeoutMs: 10_000 })).stdout;
      return Number(out.trim().split('\n').pop());
    };
    const node = galera.podIp(0);
    const dropsBefore = cluster.droppedPackets(galera.podNs(0));

    // THEN each port answers where the policy allows it (the control) and nowhere else
    for (const port of [3306, 4567, 4569]) {
      expect([port, await connect({ client: 'app' }, node, port)]).toEqual([port, 124]);
      expect([port, await connect({ client: 'far' }, node, port)]).toEqual([port, 124]);
    }
    expect(await connect({ galera: 1 }, node, 4567)).toBe(0); // Galera peers: replication
    expect(await connect({ galera: 1 }, node, 4569)).toBe(0); // ...and the state port
    expect(await connect({ galera: 1 }, node, 3306)).toBe(124); // but not each other's SQL port
    expect(await connect({ proxysql: 0 }, node, 3306)).toBe(0); // ProxySQL: the SQL port
    expect(await connect({ proxysql: 0 }, node, 4567)).toBe(124); // ...only
    expect(await connect({}, node, 3306)).toBe(0); // the direct client the policy names
    expect(await connect({}, node, 4567)).toBe(124); // ...which is no Galera peer
    // ProxySQL: its client port to the namespace, not to other namespaces; its admin port to nobody
    expect(await connect({ client: 'app' }, proxies.podIp(0), 6033)).toBe(0);
    expect(await connect({ client: 'far' }, proxies.podIp(0), 6033)).toBe(124);
    expect(await connect({ client: 'app' }, proxies.podIp(0), 6032)).toBe(124);
    expect(cluster.droppedPackets(galera.podNs(0))).toBeGreaterThan(dropsBefore);
  });

  test('no password appeared on any process\'s command line in any pod, all along', () => {
    passwordsOnCommandLines.push(...cluster.commandLinesWith(Object.values(SECRET)));
    expect(passwordsOnCommandLines).toEqual([]);
  });
});
