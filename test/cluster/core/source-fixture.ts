import { Chart, Testing } from 'cdk8s';
import { Ack, PodCluster, Workload } from '../../../harness/index';
import { parseExposition, Sample } from '../../tools/prometheus';
import { GaleraCluster, MariaDbClusterProps, MariaDbReplication } from '../../../src/index';
import { issueCertificate, newCertificateAuthority } from '../../../src/tls/certificates';
import { NODE_PATHS } from '../../../src/core/node-env';
import { TEST_CREDENTIALS } from '../secrets';
import { waitFor } from '../wait';
import { primaryOf, roleOf } from '../roles';

export { primaryOf, roleOf };
import { OldDatabase, seqOf } from './old-database';

// What the external-source suites share: a cluster of either topology (primary/replica unless
// asked) with a source (the source prop, as synthesized: fresh, TLS off) and the old database it copies, holding what an
// application's database holds (rows, a view, a routine, a trigger), and the reads the tests
// make of both. Each suite makes its own, removed afterwards.

export const ALL = [0, 1, 2];
export const OLD_HOST = 'old-db.legacy.svc';
export const DOMAIN = 1;
/** The source account: what the seed and the following need, and READ_ONLY ADMIN for the cutover. */
export const MIGRATOR = { username: 'migrator', password: `mig'rator-Pw\\7-long` };
/** The application's account, on the old database and declared on the cluster (the seed and the following copy no account). */
export const WRITER = { user: 'writer', password: 'writer-Pw_7-long-enough' };

const quoted = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

export type Topology = 'replication' | 'galera';

export class SourceFixture {
  /**
   * The cluster, its pods and the old database, started (the pods are not). With sourceTls the old
   * database serves a certificate for its name, the source account requires TLS, and the cluster
   * verifies it (source.tls, the CA in the source Secret).
   */
  public static async start(opts: { sourceTls?: boolean; topology?: Topology } = {}): Promise<SourceFixture> {
    const topology = opts.topology ?? 'replication';
    const { objects, metricsPort } = manifests(opts.sourceTls ?? false, topology);
    const ca = opts.sourceTls ? await newCertificateAuthority('old database CA') : undefined;
    const cluster = new PodCluster({
      manifests: objects, workloads: ['mariadb'], binaries: { mysqld_exporter: EXPORTER_BIN },
      secrets: {
        'mariadb-credentials': { ...TEST_CREDENTIALS, 'exporter-password': 'exporter-Pass_7-long-enough' },
        'old-db-source': { ...MIGRATOR, ...(ca ? { 'ca.crt': ca.cert } : {}) }, 'app-users': { writer: WRITER.password },
      },
    });
    const f = new SourceFixture(cluster, metricsPort, topology);
    await cluster.setup();
    f.pods = cluster.workload('mariadb');
    const leaf = ca ? await issueCertificate(ca, { commonName: OLD_HOST, dnsNames: [OLD_HOST], usages: ['server'] }) : undefined;
    f.old = await OldDatabase.start(cluster, {
      host: OLD_HOST, client: 'old', namespace: 'legacy', serverId: 7, tls: ca && leaf ? { ...leaf, ca: ca.cert } : undefined,
    });
    await f.old.sql(`
      CREATE DATABASE shop;
      USE shop;
      CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(64) NOT NULL, price DECIMAL(10, 2)) ENGINE=InnoDB;
      INSERT INTO shop.items SELECT seq, CONCAT('item ', seq), seq / 10 FROM seq_1_to_2000;
      CREATE TABLE shop.audit (id INT AUTO_INCREMENT PRIMARY KEY, item INT NOT NULL) ENGINE=InnoDB;
      CREATE TRIGGER shop.items_audit AFTER INSERT ON shop.items FOR EACH ROW INSERT INTO shop.audit (item) VALUES (NEW.id);
      CREATE VIEW shop.cheap AS SELECT id, name FROM shop.items WHERE price < 10;
      CREATE FUNCTION shop.double_price(p DECIMAL(10, 2)) RETURNS DECIMAL(12, 2) DETERMINISTIC RETURN p * 2;
      CREATE USER 'migrator'@'%' IDENTIFIED BY ${quoted(MIGRATOR.password)} ${opts.sourceTls ? 'REQUIRE SSL' : ''};
      GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES, RELOAD, BINLOG MONITOR, REPLICATION SLAVE, READ_ONLY ADMIN
        ON *.* TO 'migrator'@'%';
      CREATE USER 'writer'@'%' IDENTIFIED BY ${quoted(WRITER.password)};
      GRANT ALL ON ledger.* TO 'writer'@'%';`);
    return f;
  }

  public pods!: Workload;
  public old!: OldDatabase;

  private constructor(public readonly cluster: PodCluster, private readonly metricsPort: number, public readonly topology: Topology) {}

  /** What the metrics exporter of pod i (mysqld_exporter, the sidecar as synthesized) serves now. */
  public async scrape(i: number): Promise<Sample[]> {
    const r = await this.cluster.clientExec(['curl', '-sS', '--max-time', '8', `http://${this.pods.podIp(i)}:${this.metricsPort}/metrics`],
      { timeoutMs: 15_000 });
    if (r.exitCode !== 0) throw new Error(`scrape of mariadb-${i} failed: ${r.stderr}`);
    return parseExposition(r.stdout);
  }

  public sql(i: number, q: string): Promise<string[][]> { return this.pods.sql(i, q); }

  public role(i: number): Promise<string> {
    return roleOf(this.pods, i);
  }

  /** Log lines of pod i that hold `needle`. */
  public lines(i: number, needle: string): string[] {
    return this.pods.logs(i).split('\n').filter((l) => l.includes(needle));
  }

  /** The status lines of pod i (repl-state.sh or galera-state.sh --status, as the status command reads them), by name. */
  public async status(i: number): Promise<Record<string, string>> {
    const script = this.topology === 'galera' ? 'galera-state.sh' : 'repl-state.sh';
    const r = await this.pods.exec(i, ['bash', `${NODE_PATHS.config}/${script}`, '--status']);
    return Object.fromEntries(r.output.split('\n').slice(1).filter((l) => l.includes('\t'))
      .map((l) => [l.slice(0, l.indexOf('\t')), l.slice(l.indexOf('\t') + 1)]));
  }

  /** The pods whose status says they replicate from the source now (following 1). */
  public async followers(): Promise<number[]> {
    const found: number[] = [];
    for (const i of ALL) {
      if (this.pods.isRunning(i) && (await this.status(i).catch(() => ({} as Record<string, string>))).following === '1') found.push(i);
    }
    return found;
  }

  /**
   * The old database takes writes (unique ids into ledger.acks, 20 a second) while the whole
   * cluster starts and seeds from it, and its own account statements go on meanwhile (a user and a
   * grant the cluster does not have); the writer is stopped once 40 more writes went through.
   */
  public async seedUnderWrites(): Promise<{ acked: number[] }> {
    const writer = await this.cluster.startWriter({
      pods: [0], targets: [{ pod: 0, host: this.old.ip, port: 3306 }], user: WRITER.user, password: WRITER.password, rateHz: 20,
    });
    await waitFor('writes on the old database', async () => writer.ackedCount() > 20, 60_000);
    await this.startAll();
    await this.old.sql("CREATE USER 'reporting'@'%' IDENTIFIED BY 'Reporting-Pw-7'; GRANT SELECT ON shop.* TO 'writer'@'%'");
    const before = writer.ackedCount();
    await waitFor('writes after the cluster is up', async () => writer.ackedCount() > before + 40, 60_000);
    return writer.stop();
  }

  /**
   * The cutover (`script` run on pod `runOn`) while an application writes to the old server and
   * tries pod `writeTo` of the cluster, 40 statements a second, and the checks both topologies
   * share: it succeeded, the cluster took no write before it (it refused them), and every write
   * either side acknowledged is on every node. Prints its windows; returns its output.
   */
  public async cutoverUnderWrites(script: string, runOn: number, writeTo: number): Promise<string> {
    const [old, cluster] = [0, 1]; // the writer's targets
    const writer = await this.cluster.startWriter({
      pods: [old, cluster], user: WRITER.user, password: WRITER.password, rateHz: 40,
      targets: [{ pod: old, host: this.old.ip, port: 3306 }, { pod: cluster, host: this.pods.podIp(writeTo), port: 3306 }],
    });
    await waitFor('writes on the old server', async () => writer.ackedCount() > 40, 60_000);
    const started = Date.now();
    const cutover = await this.pods.exec(runOn, ['bash', `${NODE_PATHS.config}/${script}`]);
    const ended = Date.now();
    await waitFor('writes on the cluster', async () => times(writer.acks(), cluster).length > 40, 60_000);
    const result = await writer.stop();
    expect(cutover.exitCode).toBe(0);
    const acks = writer.acks();
    const lastOld = Math.max(...times(acks, old));
    const firstNew = Math.min(...times(acks, cluster));
    expect(firstNew).toBeGreaterThan(started);
    expect(readOnlyRefusals(result.log, cluster).filter((at) => at < started)).not.toHaveLength(0);
    // the writes the source refused until the application could write to the cluster
    const refused = readOnlyRefusals(result.log, old).filter((at) => at <= firstNew);
    const report = await this.pods.verifyLedger(result.acked, ALL);
    expect(report.acked).toBe(acks.length);
    const own = /cutover done: .* takes writes.*; the source's writes stopped at GTID (\S+), ([0-9]+) ms before/.exec(cutover.output);
    expect(own).not.toBeNull();
    console.log([
      `cutover of the ${this.topology} cluster (${script} on mariadb-${runOn}, the application on mariadb-${writeTo}): `
        + `${((ended - started) / 1000).toFixed(1)} s in all`,
      `  the script's window (the source read-only until mariadb-${runOn} writable): ${own![2]} ms`,
      `  the application's window (its last write on the source to its first on mariadb-${writeTo}): ${firstNew - lastOld} ms`,
      `  writes the source refused until the first on the cluster: ${refused.length}; acknowledged: ${times(acks, old).length} `
        + `by the source, ${times(acks, cluster).length} by the cluster`,
      'its output:', cutover.output,
    ].join('\n'));
    return cutover.output;
  }

  /** Every listed pod has applied the source's history up to what it holds now. */
  public async caughtUpWithSource(ordinals: readonly number[]): Promise<void> {
    const target = await this.old.seq(0);
    for (const i of ordinals) {
      await waitFor(`mariadb-${i} to apply the source up to seq ${target}`, async () => {
        const pos = await this.sql(i, 'SELECT @@GLOBAL.gtid_current_pos').catch(() => [['']]);
        return seqOf(pos[0][0], 0) >= target;
      }, 120_000);
    }
  }

  /** The ordinal of the primary, once there is one. */
  public primary(): Promise<number> {
    return primaryOf(this.pods);
  }

  /** The whole cluster started at once, ready. */
  public async startAll(): Promise<void> {
    await Promise.all(ALL.map((i) => this.pods.startPod(i)));
    await Promise.all(ALL.map((i) => this.pods.waitFor(i, 'readiness', 300_000)));
  }

  public async cleanup(): Promise<void> {
    await this.cluster.cleanup();
  }
}

/** When a writer's target refused a write because it is read-only, from the writer's log (its lines start with the time). */
const readOnlyRefusals = (log: string, target: number) => log.split('\n')
  .filter((l) => new RegExp(`ERR insert [0-9]+ on pod ${target}: .*read-only`).test(l)).map((l) => Date.parse(l.split(' ')[0]));

const times = (acks: Ack[], target: number) => acks.filter((a) => a.pod === target).map((a) => a.at);

const EXPORTER_BIN = '/usr/bin/prometheus-mysqld-exporter';

function manifests(sourceTls: boolean, topology: Topology): { objects: ReturnType<typeof Testing.synth>; metricsPort: number } {
  const c = new Chart(Testing.app(), 'test', { namespace: 'db' });
  const props: MariaDbClusterProps = {
    name: 'mariadb', tls: { enabled: false }, metrics: { enabled: true },
    gtidDomainId: DOMAIN, source: { host: OLD_HOST, secretName: 'old-db-source', tls: sourceTls },
    // the source's database the writer's grants name (declaring it creates nothing the seed copied)
    databases: [{ name: 'ledger' }],
    users: [{
      name: WRITER.user, passwordSecret: { name: 'app-users', key: 'writer' },
      grants: [{ privileges: ['ALL PRIVILEGES'], database: 'ledger' }],
    }],
  };
  // a Galera node cut off restarts its server after 10 s (galera-external-source.test.ts reads what it opens after)
  const db = topology === 'galera' ? new GaleraCluster(c, 'db', { ...props, nonPrimaryRestartSeconds: 10 })
    : new MariaDbReplication(c, 'db', { ...props, failoverSeconds: 10, fenceSeconds: 5 });
  return { objects: Testing.synth(c), metricsPort: db.metricsPort! };
}
