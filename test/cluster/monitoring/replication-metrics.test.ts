import { writeFileSync } from 'fs';
import { join } from 'path';
import { Chart, Testing } from 'cdk8s';
import { stringify } from 'yaml';
import { PodCluster, Workload } from '../../../harness/index';
import { collectStatus, formatStatus } from '../../../src/cli';
import { MariaDbMonitoring, MariaDbReplication, ProxySql } from '../../../src/index';
import { tlsSecretsFor } from '../../../src/core/secrets';
import { dashboardPanels } from '../../../src/monitoring/monitoring';
import { metricNamesOf, parseExposition, promtool, Sample, seriesOf, tempDir, valueOf, writeRules } from '../../tools/prometheus';
import { proxysqlBinary } from '../proxysql/proxysql-binary';
import { harnessStatusClient } from '../status-client';
import { sleep, waitFor } from '../wait';

// Metrics and the status command of the primary/replica topology on the real software: the
// synthesized exporter sidecar (Debian's mysqld_exporter 0.14, run from the pod spec with the
// flags of the replication topology, --collect.slave_status among them) scrapes a real primary
// and two replicas. Every metric name the replication rules and panels use is one these scrapes
// hold; samples scraped while a replica's SQL thread is stopped drive a promtool rule test, and
// samples of the healthy cluster fire nothing. The status command runs the pods' own
// repl-state.sh --status and must name the real primary and the real GTID positions.
// It establishes its own cluster (a fresh install) and removes it afterwards.

jest.setTimeout(20 * 60_000);

const NAMESPACE = 'db';
const SECRET = {
  'root-password': 'root-Pass_3-long-enough',
  'app-password': 'app-Pass_3-long-enough',
  'replication-password': 'repl-Pass_3-long-enough',
  'monitor-password': 'monitor-Pass_3-long-enough',
  'proxysql-admin-password': 'admin-Pass_3-long-enough',
  // every character a DSN or a shell could trip over
  'exporter-password': `ex/p@rt:er "pw" it's \\ $HOME (x) #1 ?a=b&c`,
};
const ALL = [0, 1, 2];
const EXPORTER_BIN = '/usr/bin/prometheus-mysqld-exporter';
// The status command's ProxySQL part runs when the binary the ProxySQL suite runs is here.
const PROXYSQL = proxysqlBinary();
const PROXIES = PROXYSQL.path ? [0] : [];

function build(): { chart: Chart; db: MariaDbReplication; monitoring: MariaDbMonitoring } {
  const chart = new Chart(Testing.app(), 'test', { namespace: NAMESPACE });
  const db = new MariaDbReplication(chart, 'mariadb', { failoverSeconds: 10, fenceSeconds: 5, metrics: { enabled: true } });
  const proxysql = PROXYSQL.path ? new ProxySql(chart, 'proxysql', { backend: db, replicas: 1, metrics: true }) : undefined;
  const monitoring = new MariaDbMonitoring(chart, 'monitoring', { cluster: db, proxysql });
  return { chart, db, monitoring };
}

/** One round of scrapes: each pod's samples (undefined when its scrape failed), 30 s apart in the rule tests. */
type Step = (Sample[] | undefined)[];

describe('metrics and status of a real primary with two replicas', () => {
  const { chart, db, monitoring } = build();
  let cluster: PodCluster;
  let pods: Workload;
  let proxies: Workload | undefined;
  const seen = new Set<string>();
  const passwordsOnCommandLines: string[] = [];
  let scanner: NodeJS.Timeout | undefined;

  async function scrape(i: number): Promise<Sample[]> {
    const url = `http://${pods.podIp(i)}:${db.metricsPort}/metrics`;
    const r = await cluster.clientExec(['curl', '-sS', '--max-time', '8', url], { timeoutMs: 15_000 });
    if (r.exitCode !== 0) throw new Error(`scrape of mariadb-${i} failed: ${r.stderr}`);
    const samples = parseExposition(r.stdout);
    for (const s of samples) seen.add(s.name);
    return samples;
  }
  const scrapeAll = (): Promise<Step> => Promise.all(ALL.map((i) => scrape(i).catch(() => undefined)));
  const variable = async (i: number, name: string) => (await pods.sql(i, `SELECT @@GLOBAL.${name}`))[0][0];
  const rules = () => monitoring.ruleGroups[0].rules;
  const rule = (name: string) => {
    const r = rules().find((x) => x.alert === name);
    if (!r) throw new Error(`no rule ${name} among ${rules().map((x) => x.alert).join(', ')}`);
    return r;
  };
  /** The replication alerts (those of the topology, not the volume's, ProxySQL's, backups' or certificates'). */
  const REPLICATION_ALERTS = ['MariaDbNoSinglePrimary', 'MariaDbReplicaLagging', 'MariaDbReplicationThreadStopped',
    'MariaDbErrantTransactionsRefused', 'MariaDbSemiSyncFellBackToAsync'];

  /**
   * The scraped steps as promtool input series of the metric names `names`, labelled as the
   * PodMonitor labels them (namespace, pod, container) besides the exporter's own labels. A series
   * missing from a scrape gets a stale marker, as Prometheus writes one.
   */
  function inputSeries(steps: Step[], names: readonly string[]): { series: string; values: string }[] {
    const keyOf = (s: Sample) => JSON.stringify(Object.entries(s.labels).sort());
    const out: { series: string; values: string }[] = [];
    for (const i of ALL) {
      for (const name of names) {
        const keys = new Set(steps.flatMap((st) => (st[i] ?? []).filter((s) => s.name === name).map(keyOf)));
        for (const key of keys) {
          const at = (k: number) => steps[k][i]?.find((s) => s.name === name && keyOf(s) === key)?.value;
          out.push({
            series: seriesOf(name, { ...Object.fromEntries(JSON.parse(key)), namespace: NAMESPACE, pod: `mariadb-${i}`,
              container: 'metrics' }),
            values: steps.map((_s, k) => (at(k) !== undefined ? String(at(k)) : k > 0 && at(k - 1) !== undefined ? 'stale' : '_'))
              .join(' '),
          });
        }
      }
    }
    return out;
  }
  const ruleNames = () => [...new Set(rules().filter((r) => REPLICATION_ALERTS.includes(r.alert)).flatMap((r) => metricNamesOf(r.expr)))];

  /** Runs `promtool test rules` on the steps with the given alert expectations; its output. */
  function promtoolTest(file: string, steps: Step[], alertTests: object[]): string {
    const dir = tempDir('replication-metrics-');
    writeRules(dir, monitoring.ruleGroups);
    writeFileSync(join(dir, file), stringify({
      rule_files: ['rules.yaml'],
      evaluation_interval: '30s',
      tests: [{ interval: '30s', input_series: inputSeries(steps, ruleNames()), alert_rule_test: alertTests }],
    }));
    const r = promtool(['test', 'rules', file], dir);
    expect(r.output).toContain('SUCCESS');
    expect(r.status).toBe(0);
    return r.output;
  }

  beforeAll(async () => {
    // the Secrets a user creates: the credentials, and the certificates `npm run -s new-tls` prints (TLS is on by default)
    const secrets: Record<string, Record<string, string>> = { 'mariadb-credentials': SECRET };
    for (const s of await tlsSecretsFor(chart) as { metadata: { name: string }; stringData: Record<string, string> }[]) {
      secrets[s.metadata.name] = s.stringData;
    }
    cluster = new PodCluster({
      manifests: Testing.synth(chart), secrets,
      workloads: ['mariadb', ...(PROXYSQL.path ? ['mariadb-proxysql'] : [])],
      binaries: { mysqld_exporter: EXPORTER_BIN, ...(PROXYSQL.path ? { proxysql: PROXYSQL.path } : {}) },
    });
    await cluster.setup();
    pods = cluster.workload('mariadb');
    scanner = setInterval(() => passwordsOnCommandLines.push(...cluster.commandLinesWith([SECRET['exporter-password']])), 1000);
    await Promise.all(ALL.map((i) => pods.startPod(i)));
    try {
      await Promise.all(ALL.map((i) => pods.waitFor(i, 'readiness', 240_000)));
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${ALL.map((i) => `--- mariadb-${i}\n${pods.logs(i).slice(-3000)}`).join('\n')}`);
    }
    if (PROXYSQL.path) {
      proxies = cluster.workload('mariadb-proxysql');
      await proxies.startPod(0);
      await proxies.waitFor(0, 'readiness', 120_000);
    }
  });

  afterAll(async () => {
    if (scanner) clearInterval(scanner);
    await cluster?.cleanup();
  });

  test('the exporter runs in every pod as synthesized; the primary made exporter@localhost, which replicated; '
    + 'the scrapes show the roles', async () => {
    // GIVEN the sidecar of the synthesized pod, with the replication collectors
    const sidecar = db.statefulSet.toJson().spec.template.spec.containers.find((x: { name: string }) => x.name === 'metrics');
    expect(sidecar.command).toEqual(['mysqld_exporter']);
    expect(sidecar.args).toContain('--collect.slave_status');
    // WHEN every exporter reaches its server (the replicas only once the account has replicated)
    for (const i of ALL) {
      await waitFor(`mariadb-${i}'s exporter to reach its server`,
        async () => valueOf(await scrape(i).catch(() => []), 'mysql_up') === 1, 120_000);
    }
    // THEN the primary is the only writable node and waits for 2 semi-sync replicas; each replica runs both threads
    const s = await Promise.all(ALL.map(scrape));
    const primaryOf = s.map((x) => valueOf(x, 'mysql_global_variables_read_only'));
    expect(primaryOf).toEqual([0, 1, 1]);
    expect(valueOf(s[0], 'mysql_global_status_rpl_semi_sync_master_status')).toBe(1);
    expect(valueOf(s[0], 'mysql_global_status_rpl_semi_sync_master_clients')).toBe(2);
    expect(s[0].filter((x) => x.name.startsWith('mysql_slave_status_'))).toEqual([]);
    for (const i of [1, 2]) {
      const labels = s[i].find((x) => x.name === 'mysql_slave_status_slave_sql_running')?.labels;
      expect({
        pod: i,
        io: valueOf(s[i], 'mysql_slave_status_slave_io_running'),
        sql: valueOf(s[i], 'mysql_slave_status_slave_sql_running'),
        lag: valueOf(s[i], 'mysql_slave_status_seconds_behind_master'),
        ioErrno: valueOf(s[i], 'mysql_slave_status_last_io_errno'),
        host: labels?.master_host,
      }).toEqual({ pod: i, io: 1, sql: 1, lag: 0, ioErrno: 0, host: pods.podFqdn(0) });
       
      if (i === 1) console.log(`labels of the slave status series: ${JSON.stringify(labels)}`);
    }
    // the account is the exporter's own, made on the primary (its log) and replicated (not made there)
    expect(pods.logs(0)).toContain("metrics exporter account 'exporter'@'localhost' is up to date");
    for (const i of [1, 2]) {
      expect(pods.logs(i)).not.toContain('metrics exporter account');
      const grants = (await pods.sql(i, "SHOW GRANTS FOR 'exporter'@'localhost'")).map((r) => r[0]).join('\n');
      // SLAVE MONITOR: SHOW SLAVE STATUS needs it (MariaDB 10.5.9 and later), without it no mysql_slave_status_* series
      expect(grants).toMatch(/GRANT PROCESS, (BINLOG MONITOR|REPLICATION CLIENT), SLAVE MONITOR ON \*\.\*.*WITH MAX_USER_CONNECTIONS 3/);
    }
  });

  test('every mysqld metric name the replication rules and panels use is in a real scrape', async () => {
    await scrapeAll();
    const exprs = [...rules().map((r) => r.expr), ...dashboardPanels(monitoring.monitored).flatMap((p) => p.targets.map((t) => t.expr))];
    const used = [...new Set(exprs.flatMap(metricNamesOf))].filter((n) => /^mysql_/.test(n)).sort();
    const replicationSeen = [...seen].filter((n) => /slave|semi|read_only/.test(n)).sort();
     
    console.log(`metric names used: ${used.join(' ')}\nreplication names seen: ${replicationSeen.join(' ')}`);
    expect(used.length).toBeGreaterThan(8);
    expect(used.filter((n) => !seen.has(n))).toEqual([]);
  });

  test('healthy samples scraped from the cluster fire no replication alert in promtool', async () => {
    // GIVEN 12 rounds of scrapes of the healthy cluster (6 minutes in the rule test, past every `for`)
    const steps: Step[] = [];
    for (let k = 0; k < 12; k++) {
      steps.push(await scrapeAll());
      await sleep(1000);
    }
    expect(steps.every((st) => st.every((x) => x !== undefined))).toBe(true);
    // WHEN / THEN no replication alert fires at any step
    const last = (steps.length - 1) * 30;
    promtoolTest('healthy.test.yaml', steps, REPLICATION_ALERTS.flatMap((alertname) =>
      [60, 150, last].map((t) => ({ eval_time: `${t}s`, alertname, exp_alerts: [] }))));
  });

  test('STOP SLAVE SQL_THREAD on a replica: its samples fire MariaDbReplicationThreadStopped after its 2 m, and only that alert',
    async () => {
    // GIVEN writes on the primary, scraped every second
    await pods.sql(0, 'CREATE TABLE IF NOT EXISTS app.ticks (id INT AUTO_INCREMENT PRIMARY KEY, at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)');
    const steps: Step[] = [];
    const round = async () => {
      await pods.sql(0, 'INSERT INTO app.ticks () VALUES ()');
      steps.push(await scrapeAll());
      await sleep(1000);
    };
    for (let k = 0; k < 4; k++) await round();
    // WHEN the SQL thread of mariadb-2 is stopped
    await pods.sql(2, 'STOP SLAVE SQL_THREAD');
    const stoppedAt = steps.length;
    try {
      for (let k = 0; k < 9; k++) await round();
      // THEN the scrapes say so: SQL thread 0 and, with it, no lag figure (Seconds_Behind_Master is NULL)
      const sqlRunning = steps.map((st) => valueOf(st[2] ?? [], 'mysql_slave_status_slave_sql_running'));
       
      console.log(`mariadb-2 slave_sql_running per step (stopped before step ${stoppedAt}): ${sqlRunning.join(' ')}`);
      expect(sqlRunning.slice(0, stoppedAt)).toEqual(Array(stoppedAt).fill(1));
      expect(sqlRunning.slice(stoppedAt)).toEqual(Array(steps.length - stoppedAt).fill(0));
      expect(valueOf(steps[steps.length - 1][2]!, 'mysql_slave_status_seconds_behind_master')).toBeUndefined();
      // the other replica, still applying, has a lag figure (its value under load is not the point)
      expect(valueOf(steps[steps.length - 1][1]!, 'mysql_slave_status_seconds_behind_master')).toEqual(expect.any(Number));

      // and the status command shows it from the pod's own script, once the kubelet's probes have
      // marked the pod unready (failureThreshold 2 at periodSeconds 5: polled, a loaded machine is slower)
      await waitFor('mariadb-2 unready as the kubelet sees it', async () => !pods.status(2).ready, 120_000);
      const status = await collectStatus(harnessStatusClient([{ w: pods, ordinals: ALL }]));
      const replica = status.replication!.find((n) => n.pod === 'mariadb-2')!;
      expect({ role: replica.role, sql: replica.sql, io: replica.io, lag: replica.lag, ready: replica.ready })
        .toEqual({ role: 'replica', sql: 'No', io: 'Yes', lag: 'NULL', ready: false });
      expect(replica.gtidSlavePos).toBe(await variable(2, 'gtid_slave_pos'));
    } finally {
      await pods.sql(2, 'START SLAVE SQL_THREAD');
    }

    // promtool: thread stopped fires on mariadb-2 once 2 m (4 steps) have passed; nothing else fires
    const stopped = rule('MariaDbReplicationThreadStopped');
    const firesAt = stoppedAt + 4;
    expect(firesAt).toBeLessThan(steps.length);
    const sample = steps[firesAt][2]!.find((x) => x.name === 'mysql_slave_status_slave_sql_running')!;
    // an empty label is no label in Prometheus (the exporter sends channel_name="" and others)
    const own = Object.fromEntries(Object.entries(sample.labels).filter(([, v]) => v !== ''));
    const labels = { ...own, namespace: NAMESPACE, pod: 'mariadb-2', container: 'metrics', severity: stopped.labels.severity };
    const annotations = { ...stopped.annotations, description: stopped.annotations.description.replace('{{ $labels.pod }}', 'mariadb-2') };
    const others = REPLICATION_ALERTS.filter((a) => a !== stopped.alert);
    promtoolTest('sql-thread-stopped.test.yaml', steps, [
      { eval_time: `${(stoppedAt - 1) * 30}s`, alertname: stopped.alert, exp_alerts: [] },
      { eval_time: `${(firesAt - 1) * 30}s`, alertname: stopped.alert, exp_alerts: [] },
      { eval_time: `${firesAt * 30}s`, alertname: stopped.alert, exp_alerts: [{ exp_labels: labels, exp_annotations: annotations }] },
      ...others.map((alertname) => ({ eval_time: `${(steps.length - 1) * 30}s`, alertname, exp_alerts: [] })),
    ]);
    // the replica catches up again
    await pods.waitFor(2, 'readiness', 120_000);
  });

  test('the status command names the real primary and each node\'s real GTID positions, from repl-state.sh --status in the pods',
    async () => {
    // GIVEN every node is ready and every replica has applied all the primary wrote
    // (as the kubelet sees it: the status command reads the pods' ready condition)
    await waitFor('every pod to be ready', async () => ALL.every((i) => pods.status(i).ready), 120_000);
    const pos = await variable(0, 'gtid_binlog_pos');
    for (const i of [1, 2]) expect((await pods.sql(i, `SELECT MASTER_GTID_WAIT('${pos}', 60)`, { timeoutMs: 70_000 }))[0][0]).toBe('0');
    // WHEN the status command reads the pods
    const sets = [{ w: pods, ordinals: ALL }, ...(proxies ? [{ w: proxies, ordinals: PROXIES }] : [])];
    const status = await collectStatus(harnessStatusClient(sets));
    const report = formatStatus(status, NAMESPACE);
     
    console.log(report);
    // THEN it names the primary and shows what each server itself says
    expect(report).toContain(`Primary/replica nodes in namespace ${NAMESPACE}: primary mariadb-0\n`);
    const real = await Promise.all(ALL.map(async (i) => [await variable(i, 'gtid_current_pos'), await variable(i, 'gtid_slave_pos')]));
    expect(status.replication!.map((n) => [n.pod, n.role, n.source, n.io, n.sql, n.lag, n.gtidCurrentPos, n.gtidSlavePos || '-'])).toEqual([
      ['mariadb-0', 'primary', '-', '-', '-', '-', real[0][0], real[0][1] || '-'],
      ['mariadb-1', 'replica', 'mariadb-0', 'Yes', 'Yes', '0', real[1][0], real[1][1]],
      ['mariadb-2', 'replica', 'mariadb-0', 'Yes', 'Yes', '0', real[2][0], real[2][1]],
    ]);
    expect(real[1][0]).toBe(pos);
    expect(status.replication![0].semiSync).toBe('ON (2 acknowledging)');
    expect(status.replication!.every((n) => n.ready && n.error === undefined)).toBe(true);
    for (const i of ALL) expect(report).toContain(real[i][0]);
    // ProxySQL's view, from its mysql_replication_hostgroups
    if (proxies) {
      expect(status.proxies).toEqual([
        { pod: proxies.podName(0), ready: true, restarts: 0, writers: ['mariadb-0'], readers: ['mariadb-1', 'mariadb-2'], offline: [] }]);
    }
  });

  test('a replica with a transaction the primary lacks is refused (IO error 1236): its samples fire MariaDbErrantTransactionsRefused',
    async () => {
      // GIVEN mariadb-2 writes a transaction of its own (as the node scripts' local account, past read_only), then asks the
      // primary for what follows its own GTID position, as a former primary with an unacknowledged tail does
      const local = (sql: string) => pods.exec(2, ['bash', '-c', `source ${db.paths.config}/repl-lib.sh && local_sql -e "$1"`, 'x', sql]);
      const steps: Step[] = [];
      for (let k = 0; k < 3; k++) {
        steps.push(await scrapeAll());
        await sleep(1000);
      }
      const mark = pods.logs(2).length;
      const errant = await local('INSERT INTO app.ticks () VALUES (); STOP SLAVE; CHANGE MASTER TO MASTER_USE_GTID=current_pos; '
        + 'START SLAVE');
      expect(errant.output).toBe('');
      const refusedAt = steps.length;
      // WHEN the primary refuses it and its start script holds it refused
      await waitFor('mariadb-2 to be refused', async () => pods.logs(2).slice(mark).includes('decision: refuse:'), 60_000);
      for (let k = 0; k < 6; k++) {
        steps.push(await scrapeAll());
        await sleep(1000);
      }
      // THEN its scrapes carry the IO error 1236 from the first one after the refusal on (the replica stopped: both threads 0)
      const errno = steps.map((st) => valueOf(st[2] ?? [], 'mysql_slave_status_last_io_errno'));
       
      console.log(`mariadb-2 last_io_errno per step (errant write before step ${refusedAt}): ${errno.join(' ')}`);
      expect(errno.slice(0, refusedAt)).toEqual(Array(refusedAt).fill(0));
      const firstRefused = errno.indexOf(1236);
      expect(firstRefused).toBeGreaterThanOrEqual(refusedAt);
      expect(errno.slice(firstRefused)).toEqual(Array(steps.length - firstRefused).fill(1236));

      // promtool: MariaDbErrantTransactionsRefused fires for mariadb-2 after its 1 m (2 steps)
      const refused = rule('MariaDbErrantTransactionsRefused');
      const firesAt = firstRefused + 2;
      expect(firesAt).toBeLessThan(steps.length);
      const sample = steps[firesAt][2]!.find((x) => x.name === 'mysql_slave_status_last_io_errno')!;
      const own = Object.fromEntries(Object.entries(sample.labels).filter(([, v]) => v !== ''));
      promtoolTest('errant.test.yaml', steps, [
        { eval_time: `${(firesAt - 1) * 30}s`, alertname: refused.alert, exp_alerts: [] },
        {
          eval_time: `${firesAt * 30}s`, alertname: refused.alert, exp_alerts: [{
            exp_labels: { ...own, namespace: NAMESPACE, pod: 'mariadb-2', container: 'metrics', severity: refused.labels.severity },
            exp_annotations: {
              ...refused.annotations, description: refused.annotations.description.replace('{{ $labels.pod }}', 'mariadb-2'),
            },
          }],
        },
      ]);
      // the status command shows the refusal and the error
      const status = await collectStatus(harnessStatusClient([{ w: pods, ordinals: ALL }]));
      expect(status.replication![2]).toMatchObject({ role: 'refused', error: expect.stringMatching(/^IO 1236: /) });

      // the documented override clones it again, and it replicates
      pods.touchInVolume(2, 'replication-reclone'); // as kubectl exec … touch does, without an exec that can time out
      await pods.waitFor(2, 'readiness', 240_000);
    });

  test('the exporter password is on no command line', () => {
    expect(passwordsOnCommandLines).toEqual([]);
  });
});
