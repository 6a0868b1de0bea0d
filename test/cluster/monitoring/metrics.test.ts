import { writeFileSync } from 'fs';
import { join } from 'path';
import { Testing } from 'cdk8s';
import { stringify } from 'yaml';
import { PodCluster, Workload } from '../../../harness/index';
import { GaleraProxySqlChart } from '../../../src/index';
import { dashboardPanels } from '../../../src/monitoring/monitoring';
import { metricNamesOf, parseExposition, promtool, Sample, seriesOf, tempDir, valueOf, writeRules } from '../../tools/prometheus';
import { describeWithProxySql } from '../proxysql/proxysql-binary';
import { chartSecrets } from '../secrets';
import { sleep, waitFor } from '../wait';

// Monitoring on the real software: the synthesized exporter sidecar (Debian's mysqld_exporter
// 0.14, run from the pod spec with its flags, environment and socket mount) scrapes every real
// Galera node, ProxySQL's REST API serves /metrics, both through the synthesized NetworkPolicies
// to a client labelled as a scraper. Every metric name the rules and the dashboard use is one
// these scrapes hold; samples scraped while a node is SIGKILLed drive a promtool rule test.

jest.setTimeout(20 * 60_000);

const SCRAPER = { 'test-role': 'scraper' };
const SECRET = {
  'root-password': 'root-Pass_2-long-enough',
  'app-password': 'app-Pass_2-long-enough',
  'sst-password': 'sst-Pass_2-long-enough',
  'monitor-password': 'monitor-Pass_2-long-enough',
  'proxysql-admin-password': 'admin-Pass_2-long-enough',
  // every character a DSN or a shell could trip over
  'exporter-password': `ex/p@rt:er "pw" it's \\ $HOME (x) #1 ?a=b&c`,
};
const GALERA = [0, 1, 2];
const PROXIES = [0, 1];
const EXPORTER_BIN = '/usr/bin/prometheus-mysqld-exporter';

function chart(): GaleraProxySqlChart {
  return new GaleraProxySqlChart(Testing.app(), 'test', {
    galera: { nonPrimaryRestartSeconds: 20 },
    proxysql: { replicas: PROXIES.length },
    monitoring: { enabled: true, scrapers: [{ podSelector: { matchLabels: SCRAPER } }] },
  });
}

describeWithProxySql('Prometheus metrics of the real nodes and ProxySQL', (proxysqlBin) => {
  const c = chart();
  let cluster: PodCluster;
  let galera: Workload;
  let proxies: Workload;
  const seen = new Set<string>();
  const passwordsOnCommandLines: string[] = [];
  let scanner: NodeJS.Timeout | undefined;

  async function scrape(ip: string, port: number): Promise<Sample[]> {
    const r = await cluster.clientExec(['curl', '-sS', '--max-time', '8', `http://${ip}:${port}/metrics`], { timeoutMs: 15_000 });
    if (r.exitCode !== 0) throw new Error(`scrape of ${ip}:${port} failed: ${r.stderr}`);
    const samples = parseExposition(r.stdout);
    for (const s of samples) seen.add(s.name);
    return samples;
  }
  const scrapeNode = (i: number) => scrape(galera.podIp(i), c.galera.metricsPort!);
  const scrapeProxy = (p: number) => scrape(proxies.podIp(p), c.proxysql.metricsPort!);

  beforeAll(async () => {
    cluster = new PodCluster({
      manifests: Testing.synth(c), secrets: await chartSecrets(c, SECRET),
      binaries: { proxysql: proxysqlBin, mysqld_exporter: EXPORTER_BIN }, clientLabels: SCRAPER,
    });
    await cluster.setup();
    galera = cluster.workload('galera');
    proxies = cluster.workload('galera-proxysql');
    scanner = setInterval(() => passwordsOnCommandLines.push(...cluster.commandLinesWith([SECRET['exporter-password']])), 1000);
    await Promise.all(GALERA.map((i) => galera.startPod(i)));
    await Promise.all(GALERA.map((i) => galera.waitFor(i, 'readiness', 240_000)));
    await Promise.all(PROXIES.map((p) => proxies.startPod(p)));
    await Promise.all(PROXIES.map((p) => proxies.waitFor(p, 'readiness', 120_000)));
  });

  afterAll(async () => {
    if (scanner) clearInterval(scanner);
    await cluster?.cleanup();
  });

  test('the exporter sidecar runs as synthesized and reports every node Synced in a cluster of 3', async () => {
    const sidecar = c.galera.statefulSet.toJson().spec.template.spec.containers.find((x: { name: string }) => x.name === 'metrics');
    expect(sidecar.command).toEqual(['mysqld_exporter']);
    for (const i of GALERA) {
      await waitFor(`galera-${i}'s exporter to reach its server`, async () => valueOf(await scrapeNode(i), 'mysql_up') === 1, 90_000);
      const s = await scrapeNode(i);
      expect({
        pod: i,
        size: valueOf(s, 'mysql_global_status_wsrep_cluster_size'),
        state: valueOf(s, 'mysql_global_status_wsrep_local_state'),
        primary: valueOf(s, 'mysql_global_status_wsrep_cluster_status'),
        ready: valueOf(s, 'mysql_global_status_wsrep_ready'),
      }).toEqual({ pod: i, size: 3, state: 4, primary: 1, ready: 1 });
      for (const name of ['mysql_global_status_wsrep_flow_control_paused_ns', 'mysql_global_status_wsrep_local_recv_queue',
        'mysql_global_status_wsrep_local_send_queue', 'mysql_global_status_wsrep_local_cert_failures']) {
        expect(`${name}: ${valueOf(s, name) !== undefined}`).toBe(`${name}: true`);
      }
    }
    // the account is the exporter's own, limited as documented
    const grants = (await galera.sql(0, "SHOW GRANTS FOR 'exporter'@'localhost'")).map((r) => r[0]).join('\n');
    expect(grants).toMatch(/GRANT PROCESS, (BINLOG MONITOR|REPLICATION CLIENT) ON \*\.\*.*WITH MAX_USER_CONNECTIONS 3/);
    expect(grants).toContain('GRANT SELECT ON `performance_schema`.*');
    expect(galera.logs(0, 'mariadb')).toContain("metrics exporter account 'exporter'@'localhost' is up to date");
  });

  test('each container finds only the programs of its image on its PATH (harness/images), not this machine\'s others', async () => {
    // GIVEN: this machine has curl, ps and bash; the images' lists say who else has them
    const found = async (w: Workload, container: string, program: string) =>
      (await w.exec(0, ['bash', '-c', 'command -v -- "$1"', 'bash', program], { container })).exitCode === 0;

    // WHEN
    const mariadb = { rsync: await found(galera, 'mariadb', 'rsync'), ps: await found(galera, 'mariadb', 'ps'), curl: await found(
      galera, 'mariadb', 'curl',
    ) };
    const proxysql = {
      proxysql: await found(proxies, 'proxysql', 'proxysql'), ps: await found(proxies, 'proxysql', 'ps'),
      curl: await found(proxies, 'proxysql', 'curl'),
    };
    const exporter = (await galera.exec(0, ['mysqld_exporter', '--version'], { container: 'metrics' })).exitCode;
    const shell = (await galera.exec(0, ['bash', '-c', 'true'], { container: 'metrics' })).exitCode;

    // THEN
    expect({ mariadb, proxysql, exporter, shellInExporter: shell === 0 }).toEqual({
      mariadb: { rsync: true, ps: true, curl: false }, proxysql: { proxysql: true, ps: false, curl: false }, exporter: 0,
      shellInExporter: false,
    });
  });

  test('ProxySQL serves /metrics on its metrics port with a writer ONLINE; the admin port stays on loopback', async () => {
    const hg = c.proxysql.hostgroups;
    for (const p of PROXIES) {
      const s = await scrapeProxy(p);
      const writers = s.filter(
        (x) => x.name === 'proxysql_connpool_conns_status' && x.labels.hostgroup === String(hg.writer) && x.value === 1,
      );
      expect(writers).toHaveLength(1);
      expect(valueOf(s, 'proxysql_uptime_seconds_total')).toBeGreaterThan(0);
    }
    const admin = await cluster.clientExec([
      'bash', '-c', `timeout 3 bash -c '</dev/tcp/${proxies.podIp(0)}/6032' && echo open || echo closed`,
    ]);
    expect(admin.stdout.trim()).toBe('closed');
  });

  test('a client that is not a scraper cannot reach the metrics ports (NetworkPolicy)', async () => {
    const other = await cluster.addClient('app', { labels: { 'test-role': 'app' } });
    for (const [ip, port] of [[galera.podIp(0), 9104], [proxies.podIp(0), 6070]] as const) {
      const r = await cluster.clientExec(['curl', '-sS', '--max-time', '3', `http://${ip}:${port}/metrics`], { client: 'app' });
      expect(`${port}: ${r.exitCode === 0 ? 'reached' : 'blocked'}`).toBe(`${port}: blocked`);
    }
    expect(other.ns).toBeDefined();
  });

  test('after a SIGKILL the survivors report 2; the samples scraped meanwhile fire GaleraClusterSizeBelowReplicas and '
    + 'ProxySQLBackendsOffline in promtool', async () => {
    // GIVEN samples every 2 s (each stands for one 30 s scrape interval of the PodMonitor in the rule test)
    const steps: { size: (number | undefined)[]; proxyOffline: number; proxy: Sample[] }[] = [];
    const sample = async () => {
      const size = await Promise.all(GALERA.map(async (i) => {
        if (!galera.isRunning(i)) return undefined;
        return valueOf(await scrapeNode(i).catch(() => []), 'mysql_global_status_wsrep_cluster_size');
      }));
      const proxy = await scrapeProxy(0).catch(() => [] as Sample[]);
      steps.push({
        size, proxy: proxy.filter((x) => x.name === 'proxysql_connpool_conns_status'),
        proxyOffline: proxy.filter((x) => x.name === 'proxysql_connpool_conns_status'
          && x.labels.hostgroup === String(c.proxysql.hostgroups.offline) && x.value !== 4).length,
      });
    };
    for (let k = 0; k < 6; k++) { await sample(); await sleep(2000); }
    // WHEN galera-2 is killed
    await galera.stopPod(2, 'KILL');
    const killedAt = steps.length;
    await waitFor('the survivors to report a cluster of 2', async () => {
      await sample();
      const last = steps[steps.length - 1].size;
      return last[0] === 2 && last[1] === 2;
    }, 60_000);
    for (let k = 0; k < 8; k++) { await sleep(2000); await sample(); }
    // THEN the survivors report 2 to the end
    for (const s of steps.slice(-8)) expect(s.size.slice(0, 2)).toEqual([2, 2]);
    console.log(`cluster sizes scraped (galera-0,1,2 per step; `
      + `kill before step ${killedAt}): ${steps.map((s) => s.size.map((v) => v ?? '_').join('/')).join(' ')}`);

    // promtool: the real samples as series, 30 s apart
    const m = c.monitoring!;
    const rule = m.ruleGroups[0].rules.find((r) => r.alert === 'GaleraClusterSizeBelowReplicas')!;
    const maxAt = steps.map((s) => Math.max(...s.size.filter((v): v is number => v !== undefined)));
    const firstBelow = maxAt.findIndex((v) => v < 3);
    expect(firstBelow).toBeGreaterThanOrEqual(killedAt);
    expect(maxAt.slice(firstBelow).every((v) => v < 3)).toBe(true);
    const firesAt = firstBelow + 4; // for: 2m = 4 steps of 30 s
    expect(firesAt).toBeLessThan(steps.length);
    // A failed scrape marks the target's series stale in Prometheus (a stale marker, then nothing)
    const input_series = GALERA.map((i) => ({
      series: seriesOf('mysql_global_status_wsrep_cluster_size', { namespace: 'galera', pod: `galera-${i}`, container: 'metrics' }),
      values: steps.map(
        (s, k) => (s.size[i] !== undefined ? String(s.size[i]) : k > 0 && steps[k - 1].size[i] !== undefined ? 'stale' : '_'),
      ).join(' '),
    }));
    const dir = tempDir('metrics-real-');
    writeRules(dir, m.ruleGroups);
    const description = rule.annotations.description.replace('{{ $value }}', '2');
    writeFileSync(join(dir, 'real.test.yaml'), stringify({
      rule_files: ['rules.yaml'],
      evaluation_interval: '30s',
      tests: [{
        interval: '30s',
        input_series,
        alert_rule_test: [
          { eval_time: `${(killedAt - 1) * 30}s`, alertname: rule.alert, exp_alerts: [] },
          { eval_time: `${(firesAt - 1) * 30}s`, alertname: rule.alert, exp_alerts: [] },
          { eval_time: `${firesAt * 30}s`, alertname: rule.alert, exp_alerts: [
            { exp_labels: { namespace: 'galera', severity: 'critical' }, exp_annotations: { ...rule.annotations, description } },
          ] },
        ],
      }],
    }));
    console.log(`ProxySQL (galera-proxysql pod 0) backends outside OFFLINE_HARD in the offline hostgroup per `
      + `step: ${steps.map((s) => s.proxyOffline).join(' ')}`);
    const r = promtool(['test', 'rules', 'real.test.yaml'], dir);
    expect(r.output).toContain('SUCCESS');
    expect(r.status).toBe(0);

    // and ProxySQL's own series (pod 0) during the same failure fire ProxySQLBackendsOffline after its 5 m
    const offline = m.ruleGroups[0].rules.find((x) => x.alert === 'ProxySQLBackendsOffline')!;
    // the rule matches a Deployment's pod names (<name>-<hash>-<suffix>), which the harness does not give
    const podName = 'galera-proxysql-6c9f8d7b5-x2k4q';
    const keys = [...new Set(steps.flatMap((s) => s.proxy.map((x) => `${x.labels.endpoint}|${x.labels.hostgroup}`)))];
    const proxySeries = keys.map((k) => {
      const [endpoint, hostgroup] = k.split('|');
      return {
        series: seriesOf('proxysql_connpool_conns_status', { namespace: 'galera', pod: podName, endpoint, hostgroup }),
        // a series gone from a scrape gets a stale marker in Prometheus
        values: steps.map((_s, i) => {
          const at = (j: number) => steps[j].proxy.find((x) => `${x.labels.endpoint}|${x.labels.hostgroup}` === k)?.value;
          return at(i) !== undefined ? String(at(i)) : i > 0 && at(i - 1) !== undefined ? 'stale' : '_';
        }).join(' '),
      };
    });
    const firstOffline = steps.findIndex((s) => s.proxyOffline > 0);
    expect(firstOffline).toBeGreaterThanOrEqual(killedAt);
    expect(steps.slice(firstOffline).every((s) => s.proxyOffline > 0)).toBe(true);
    const offlineFiresAt = firstOffline + 10; // for: 5m = 10 steps of 30 s
    expect(offlineFiresAt).toBeLessThan(steps.length);
    const hg = c.proxysql.hostgroups;
    const offlineCount = (s: typeof steps[number]) => s.proxy.filter((x) => (x.labels.hostgroup === String(hg.offline) && x.value !== 4)
      || ([hg.backupWriter, hg.reader].map(String).includes(x.labels.hostgroup) && x.value === 2)).length;
    writeFileSync(join(dir, 'real-proxysql.test.yaml'), stringify({
      rule_files: ['rules.yaml'],
      evaluation_interval: '30s',
      tests: [{
        interval: '30s',
        input_series: proxySeries,
        alert_rule_test: [
          { eval_time: `${(killedAt - 1) * 30}s`, alertname: offline.alert, exp_alerts: [] },
          { eval_time: `${(offlineFiresAt - 1) * 30}s`, alertname: offline.alert, exp_alerts: [] },
          {
            eval_time: `${offlineFiresAt * 30}s`, alertname: offline.alert,
            exp_alerts: [{
              exp_labels: { namespace: 'galera', pod: podName, severity: 'warning' },
              exp_annotations: {
                ...offline.annotations,
                description: offline.annotations.description.replace('{{ $labels.pod }}', podName).replace(
                  '{{ $value }}', String(offlineCount(steps[offlineFiresAt])),
                ),
              },
            }],
          },
        ],
      }],
    }));
    const rp = promtool(['test', 'rules', 'real-proxysql.test.yaml'], dir);
    expect(rp.output).toContain('SUCCESS');
    expect(rp.status).toBe(0);
  });

  test('every mysqld and ProxySQL metric name the rules and the dashboard use was seen in a real scrape', () => {
    const m = c.monitoring!;
    const exprs = [
      ...m.ruleGroups.flatMap((g) => g.rules.map((r) => r.expr)),
      ...dashboardPanels(m.monitored).flatMap((p) => p.targets.map((t) => t.expr)),
    ];
    const used = [...new Set(exprs.flatMap(metricNamesOf))].filter((n) => /^(mysql|proxysql)_/.test(n)).sort();
    expect(used.length).toBeGreaterThan(10);
    console.log(`metric names used and seen: ${used.join(' ')}\nnames seen in the scrapes `
      + `(${seen.size}): ${[...seen].filter((n) => /wsrep|proxysql_connpool|mysql_up/.test(n)).sort().join(' ')}`);
    expect(used.filter((n) => !seen.has(n))).toEqual([]);
  });

  test('the exporter password is on no command line', () => {
    expect(passwordsOnCommandLines).toEqual([]);
  });
});
