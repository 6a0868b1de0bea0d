import { spawnSync } from 'child_process';
import { readFileSync, writeFileSync } from 'fs';
import { join } from 'path';
import { Testing } from 'cdk8s';
import { stringify } from 'yaml';
import { GaleraProxySqlChart, GaleraProxySqlChartProps } from '../../src/charts/galera-proxysql-chart';
import { AlertRule, dashboardPanels, maxCronGapSeconds } from '../../src/monitoring/monitoring';
import { MonitoredCluster } from '../../src/monitoring/topology-metrics';
import { loadValues } from '../../src/values/values';
import { dashboardAsRecordingRules, metricNamesOf, promtool, seriesOf, tempDir, writeRules } from '../tools/prometheus';
import type { Container } from '../../harness/spec';
import type { Manifest } from '../tools/manifest';

// The monitoring section: what it emits when on and that nothing of it is emitted when off; the
// alert rules checked and unit-tested with promtool (every alert fires on some series and stays
// quiet on others); every dashboard expression parsed by promtool.

const ROOT = join(__dirname, '..', '..');
const synthChart = (props: GaleraProxySqlChartProps) => {
  const chart = new GaleraProxySqlChart(Testing.app(), 'c', props);
  return { chart, manifests: Testing.synth(chart) };
};
const production = () => {
  const chart = new GaleraProxySqlChart(Testing.app(), 'c', loadValues({ GALERA_VALUES: join(ROOT, 'examples', 'production.yaml') }));
  return { chart, manifests: Testing.synth(chart) };
};
const kinds = (manifests: Manifest[]) => manifests.map((m) => m.kind);
const podSpec = (manifests: Manifest[], kind: string) => manifests.find((m) => m.kind === kind).spec.template.spec;

describe('monitoring off (the default)', () => {
  const { manifests } = synthChart({});

  test('emits no PodMonitor, PrometheusRule or dashboard, no exporter and no metrics port', () => {
    expect(kinds(manifests)).not.toContain('PodMonitor');
    expect(kinds(manifests)).not.toContain('PrometheusRule');
    expect(manifests.filter((m) => m.metadata?.labels?.grafana_dashboard)).toEqual([]);
    expect(podSpec(manifests, 'StatefulSet').containers.map((c: Container) => c.name)).not.toContain('metrics');
    const text = JSON.stringify(manifests);
    expect(text).not.toContain('9104');
    expect(text).not.toContain('6070');
    expect(
      manifests.find((m) => m.metadata?.name === 'galera-proxysql-config').data['proxysql.cnf.tmpl'],
    ).toContain('restapi_enabled=false');
  });

  test('a disabled section is still checked for typos', () => {
    expect(
      () => synthChart({ monitoring: { enabled: false, notSyncedMinuts: 3 } as never }),
    ).toThrow(/notSyncedMinuts is not a known setting/);
  });
});

describe('monitoring on', () => {
  const { chart, manifests } = synthChart({ monitoring: { enabled: true, labels: { release: 'kube-prometheus-stack' } } });

  test('every Galera pod runs the exporter sidecar: pinned 0.14 image, socket, password from the Secret by reference', () => {
    const pod = podSpec(manifests, 'StatefulSet');
    const sidecar = pod.containers.find((c: Container) => c.name === 'metrics');
    expect(sidecar).toMatchObject({
      image: 'docker.io/prom/mysqld-exporter:v0.14.0',
      command: ['mysqld_exporter'],
      ports: [{ name: 'metrics', containerPort: 9104, protocol: 'TCP' }],
      volumeMounts: [{ name: 'socket', mountPath: '/run/mysqld', readOnly: true }],
      securityContext: {
        allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] },
      },
    });
    expect(sidecar.args).toEqual(expect.arrayContaining(['--web.listen-address=:9104', '--collect.global_status']));
    expect(sidecar.env).toEqual([
      { name: 'EXPORTER_PASSWORD', valueFrom: { secretKeyRef: { name: 'galera-credentials', key: 'exporter-password' } } },
      { name: 'DATA_SOURCE_NAME', value: 'exporter:$(EXPORTER_PASSWORD)@unix(/run/mysqld/mysqld.sock)/?timeout=5s' },
    ]);
    // the node scripts create the account and the init container requires its key
    for (const c of [...pod.initContainers, pod.containers.find((x: Container) => x.name === 'mariadb')]) {
      expect(c.env).toContainEqual({ name: 'NODE_EXPORTER_USER', value: 'exporter' });
    }
  });

  test('the exporter flags are ones mysqld_exporter 0.14.0 accepts', () => {
    // Debian's prometheus-mysqld-exporter is 0.14.0; kingpin rejects an unknown flag before anything else
    const sidecar = podSpec(manifests, 'StatefulSet').containers.find((c: Container) => c.name === 'metrics');
    const version = spawnSync('prometheus-mysqld-exporter', ['--version'], { encoding: 'utf8' });
    expect(`${version.stdout}${version.stderr}`).toContain('version 0.14.0');
    const help = spawnSync('prometheus-mysqld-exporter', ['--help-long'], { encoding: 'utf8' });
    const known = `${help.stdout}${help.stderr}`;
    for (const arg of sidecar.args as string[]) {
      const flag = arg.replace(/=.*$/, '').replace(/^--no-/, '--');
      expect(`${arg}: ${known.includes(`${flag}`)}`).toBe(`${arg}: true`);
    }
  });

  test('ProxySQL serves its metrics on a named port 6070; its admin interface stays on loopback', () => {
    const proxysql = podSpec(manifests, 'Deployment').containers.find((c: Container) => c.name === 'proxysql');
    expect(proxysql.ports).toContainEqual({ name: 'metrics', containerPort: 6070, protocol: 'TCP' });
    const cnf = manifests.find((m) => m.metadata?.name === 'galera-proxysql-config').data['proxysql.cnf.tmpl'];
    expect(cnf).toContain('restapi_enabled=true');
    expect(cnf).toContain('restapi_port=6070');
    expect(cnf).toContain('prometheus_memory_metrics_interval=30');
    expect(cnf).toContain('mysql_ifaces="127.0.0.1:6032"');
  });

  test('the NetworkPolicies open the metrics ports to the scrapers only', () => {
    const scrapers = [{ namespaceSelector: {}, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } } }];
    for (const [name, port] of [['galera', 9104], ['galera-proxysql', 6070]] as const) {
      const policy = manifests.find((m) => m.kind === 'NetworkPolicy' && m.metadata.name === name);
      expect(policy.spec.ingress).toContainEqual({ from: scrapers, ports: [{ protocol: 'TCP', port }] });
    }
  });

  test('PodMonitors for both workloads, the PrometheusRule and the dashboard carry the given labels', () => {
    const monitors = manifests.filter((m) => m.kind === 'PodMonitor');
    expect(monitors.map((m) => m.metadata.name).sort()).toEqual(['galera', 'galera-proxysql']);
    for (const m of monitors) {
      expect(m.metadata.labels.release).toBe('kube-prometheus-stack');
      expect(m.spec.podMetricsEndpoints).toEqual([{ port: 'metrics', path: '/metrics', interval: '30s', scrapeTimeout: '10s' }]);
    }
    expect(monitors.find((m) => m.metadata.name === 'galera').spec.selector.matchLabels).toEqual(chart.galera.selectorLabels);
    const rule = manifests.find((m) => m.kind === 'PrometheusRule');
    expect(rule.metadata.labels.release).toBe('kube-prometheus-stack');
    const dashboard = manifests.find((m) => m.kind === 'ConfigMap' && m.metadata.labels?.grafana_dashboard === '1');
    expect(dashboard.metadata.name).toBe('galera-dashboard');
    const json = JSON.parse(dashboard.data['galera-galera.json']);
    expect(json.panels.length).toBeGreaterThan(10);
  });

  test('the objects the CRDs or the sidecar need can be turned off one by one', () => {
    const { manifests: m } = synthChart({ monitoring: { enabled: true, podMonitors: false, rules: false, dashboard: false } });
    expect(kinds(m)).not.toContain('PodMonitor');
    expect(kinds(m)).not.toContain('PrometheusRule');
    expect(m.filter((o) => o.metadata?.labels?.grafana_dashboard)).toEqual([]);
    expect(podSpec(m, 'StatefulSet').containers.map((c: Container) => c.name)).toContain('metrics');
  });

  test.each([
    [{ notSyncedMinutes: 0 }, /monitoring\.notSyncedMinutes must be an integer from 1 to 1440/],
    [{ volumeFullPercent: 100 }, /monitoring\.volumeFullPercent must be an integer from 1 to 99/],
    [{ scrapeInterval: '30' }, /monitoring\.scrapeInterval must be a Prometheus duration/],
    [{ scrapers: [{ podSelectr: {} }] }, /monitoring\.scrapers\[0\]\.podSelectr is not a known setting/],
    [{ enabled: 'yes' }, /monitoring\.enabled must be true or false/],
    [{ labels: { 'bad key!': 'x' } }, /monitoring\.labels key must be a label key such as 'app' or .*, got "bad key!"/],
    [{ labels: { app: 'my shop' } }, /monitoring\.labels\.app must be a label value .*, got "my shop"/],
    [{ exporterImage: 'Not An Image' }, /monitoring\.exporterImage must be an image reference such as .*, got "Not An Image"/],
  ])('bad input %j is a synth-time error naming the field', (bad, message) => {
    expect(() => synthChart({ monitoring: { enabled: true, ...bad } as never })).toThrow(message);
  });

  test('galera.metrics and proxysql.metrics belong to the monitoring section', () => {
    expect(() => synthChart({
      monitoring: { enabled: true }, galera: { metrics: { enabled: true } } as never,
    })).toThrow(/galera\.metrics is not a known setting/);
    expect(() => synthChart({
      monitoring: { enabled: true }, proxysql: { metrics: true } as never,
    })).toThrow(/proxysql\.metrics is not a known setting/);
  });
});

describe('cron schedules: the longest gap between two runs', () => {
  test.each([
    ['0 3 * * *', 86400],
    ['@hourly', 3600],
    ['*/15 * * * *', 900],
    ['0 3 * * 1-5', 3 * 86400],
    ['30 2 * * sun', 7 * 86400],
    ['0 0 1 * *', 31 * 86400],
    ['0 0,12 * * *', 12 * 3600],
  ])('%s: %d s', (schedule, gap) => {
    expect(maxCronGapSeconds(schedule)).toBe(gap);
  });
});

// ---------------------------------------------------------------------------------------------
// promtool

/** The rules of production.yaml (every alert: backups and cert-manager certificates are on). */
const prod = production();
const groups = prod.chart.monitoring!.ruleGroups;
const monitored: MonitoredCluster = prod.chart.monitoring!.monitored;
const rules: AlertRule[] = groups[0].rules;
const ruleOf = (alert: string) => rules.find((r) => r.alert === alert)!;
const NS = monitored.namespace;
const node = (i: number) => ({ namespace: NS, pod: `galera-${i}`, container: 'metrics' });
const proxy = (i: number) => ({ namespace: NS, pod: `galera-proxysql-5d9c7b8f6-${['abcde', 'fghij'][i]}`, container: 'proxysql' });
const hg = monitored.proxysql!.hostgroups;
const archiver = { namespace: NS, pod: 'galera-binlog-archiver-7c5f9d6b8-qwxyz', container: 'archiver' };
const repeat = (v: number | string, n: number) => Array.from({ length: n }, () => String(v)).join(' ');

/** The annotations promtool must see: the rule's, with the templates filled as Prometheus fills them. */
function annotations(rule: AlertRule, labels: Record<string, string>, value?: number): Record<string, string> {
  const fill = (t: string) => t.replace(/\{\{ \$labels\.([a-z_]+) \}\}/g, (_m, l: string) => labels[l] ?? '').replace(
    /\{\{ \$value \}\}/g, String(value),
  );
  return { summary: fill(rule.annotations.summary), description: fill(rule.annotations.description) };
}

interface Case {
  readonly alert: string;
  readonly fire: { series: Record<string, string>; evalTime: string; alerts: { labels: Record<string, string>; value?: number }[] };
  readonly quiet: { series: Record<string, string>; evalTime: string };
}

const PVC = (i: number) => ({ namespace: NS, persistentvolumeclaim: `data-galera-${i}` });
const CASES: Case[] = [
  {
    alert: 'GaleraNodeNotSynced',
    // a Donor (2) for 6 minutes fires; a node that was Donor for 3 minutes and is Synced again does not
    fire: { series: { [seriesOf('mysql_global_status_wsrep_local_state', node(1))]: `4 4 ${repeat(2, 13)}`, [seriesOf(
      'mysql_global_status_wsrep_local_state', node(0),
    )]: repeat(4, 15) }, evalTime: '7m', alerts: [{ labels: { ...node(1), severity: 'warning' }, value: 2 }] },
    quiet: {
      series: { [seriesOf('mysql_global_status_wsrep_local_state', node(1))]: `4 ${repeat(2, 6)} ${repeat(4, 8)}` }, evalTime: '7m',
    },
  },
  {
    alert: 'GaleraClusterSizeBelowReplicas',
    fire: { series: { [seriesOf('mysql_global_status_wsrep_cluster_size', node(0))]: `3 3 ${repeat(2, 8)}`, [seriesOf(
      'mysql_global_status_wsrep_cluster_size', node(1),
    )]: `3 3 ${repeat(2, 8)}` }, evalTime: '4m', alerts: [{ labels: { namespace: NS, severity: 'critical' }, value: 2 }] },
    quiet: { series: Object.fromEntries([
      0, 1, 2,
    ].map((i) => [seriesOf('mysql_global_status_wsrep_cluster_size', node(i)), repeat(3, 10)])), evalTime: '4m' },
  },
  {
    alert: 'GaleraNodeNotPrimary',
    fire: {
      series: {
        [seriesOf('mysql_global_status_wsrep_cluster_status', node(2))]: `1 ${repeat(0, 5)}`,
        [seriesOf('mysql_global_status_wsrep_ready', node(2))]: `1 ${repeat(0, 5)}`,
      },
      evalTime: '3m',
      // both conditions hold: one alert per series that matched, with the same labels (deduplicated by promtool as one)
      alerts: [{ labels: { ...node(2), severity: 'critical' } }],
    },
    quiet: { series: { [seriesOf(
      'mysql_global_status_wsrep_cluster_status', node(2),
    )]: repeat(1, 6), [seriesOf('mysql_global_status_wsrep_ready', node(2))]: repeat(1, 6) }, evalTime: '3m' },
  },
  {
    alert: 'GaleraFlowControlPaused',
    // paused 30 s of every minute (50 %) fires; 1 s of every minute does not
    fire: {
      series: { [seriesOf('mysql_global_status_wsrep_flow_control_paused_ns', node(0))]: '0+30000000000x20' }, evalTime: '15m',
      alerts: [{ labels: { ...node(0), severity: 'warning' } }],
    },
    quiet: { series: { [seriesOf('mysql_global_status_wsrep_flow_control_paused_ns', node(0))]: '0+1000000000x20' }, evalTime: '15m' },
  },
  {
    alert: 'GaleraDataVolumeFilling',
    fire: { series: { [seriesOf('kubelet_volume_stats_used_bytes', PVC(0))]: repeat(90, 10), [seriesOf(
      'kubelet_volume_stats_capacity_bytes', PVC(0),
    )]: repeat(100, 10) }, evalTime: '7m', alerts: [{ labels: { ...PVC(0), severity: 'warning' } }] },
    quiet: { series: { [seriesOf(
      'kubelet_volume_stats_used_bytes', PVC(0),
    )]: repeat(80, 10), [seriesOf('kubelet_volume_stats_capacity_bytes', PVC(0))]: repeat(100, 10) }, evalTime: '7m' },
  },
  {
    alert: 'ProxySQLNoWriter',
    fire: {
      series: {
        [seriesOf('proxysql_uptime_seconds_total', proxy(0))]: '0+60x5', [seriesOf('proxysql_uptime_seconds_total', proxy(1))]: '0+60x5',
        [seriesOf('proxysql_connpool_conns_status', {
          ...proxy(0), endpoint: 'galera-0:3306', hostgroup: String(hg.writer),
        })]: `1 ${repeat(4, 4)}`,
        [seriesOf('proxysql_connpool_conns_status', { ...proxy(1), endpoint: 'galera-0:3306', hostgroup: String(hg.writer) })]: repeat(
          1, 5,
        ),
      },
      evalTime: '3m',
      alerts: [{ labels: { namespace: NS, pod: proxy(0).pod, severity: 'critical' } }],
    },
    quiet: {
      series: {
        [seriesOf('proxysql_uptime_seconds_total', proxy(0))]: '0+60x5',
        [seriesOf('proxysql_connpool_conns_status', {
          ...proxy(0), endpoint: 'galera-0:3306', hostgroup: String(hg.writer),
        })]: `1 ${repeat(4, 4)}`,
        [seriesOf('proxysql_connpool_conns_status', {
          ...proxy(0), endpoint: 'galera-1:3306', hostgroup: String(hg.writer),
        })]: `4 ${repeat(1, 4)}`,
      },
      evalTime: '3m',
    },
  },
  {
    alert: 'ProxySQLBackendsOffline',
    fire: {
      series: {
        [seriesOf('proxysql_connpool_conns_status', { ...proxy(0), endpoint: 'galera-2:3306', hostgroup: String(hg.offline) })]: repeat(
          1, 10,
        ),
        [seriesOf('proxysql_connpool_conns_status', { ...proxy(0), endpoint: 'galera-1:3306', hostgroup: String(hg.reader) })]: repeat(
          2, 10,
        ),
      },
      evalTime: '7m',
      alerts: [{ labels: { namespace: NS, pod: proxy(0).pod, severity: 'warning' }, value: 2 }],
    },
    quiet: {
      // a healthy cluster as a real scrape shows it: the nodes that are not the writer are SHUNNED in the writer hostgroup
      series: {
        [seriesOf('proxysql_connpool_conns_status', { ...proxy(0), endpoint: 'galera-2:3306', hostgroup: String(hg.offline) })]: repeat(
          4, 10,
        ),
        [seriesOf('proxysql_connpool_conns_status', { ...proxy(0), endpoint: 'galera-2:3306', hostgroup: String(hg.reader) })]: repeat(
          1, 10,
        ),
        [seriesOf('proxysql_connpool_conns_status', { ...proxy(0), endpoint: 'galera-0:3306', hostgroup: String(hg.writer) })]: repeat(
          1, 10,
        ),
        [seriesOf('proxysql_connpool_conns_status', { ...proxy(0), endpoint: 'galera-1:3306', hostgroup: String(hg.writer) })]: repeat(
          2, 10,
        ),
        [seriesOf('proxysql_connpool_conns_status', { ...proxy(0), endpoint: 'galera-2:3306', hostgroup: String(hg.writer) })]: repeat(
          2, 10,
        ),
      },
      evalTime: '7m',
    },
  },
  {
    alert: 'GaleraBackupTooOld',
    // production.yaml backs up daily: a last success 3 days ago fires, one 1 day ago does not
    fire: { series: {
      [seriesOf('kube_cronjob_status_last_successful_time', { namespace: NS, cronjob: 'galera-backup' })]: repeat(-3 * 86400, 20),
    }, evalTime: '15m', alerts: [{ labels: { namespace: NS, cronjob: 'galera-backup', severity: 'warning' } }] },
    quiet: {
      series: { [seriesOf('kube_cronjob_status_last_successful_time', { namespace: NS, cronjob: 'galera-backup' })]: repeat(-86400, 20) },
      evalTime: '15m',
    },
  },
  {
    alert: 'GaleraBinlogArchiveLagging',
    // the archive 5 minutes behind (the bucket unreachable) fires; a few seconds behind, as between rounds, does not
    fire: {
      series: { [seriesOf('mariadb_binlog_archive_lag_seconds', archiver)]: '3 4 60+60x8' }, evalTime: '5m',
      alerts: [{ labels: { namespace: NS, severity: 'warning' }, value: 240 }],
    },
    quiet: { series: { [seriesOf('mariadb_binlog_archive_lag_seconds', archiver)]: repeat(4, 10) }, evalTime: '5m' },
  },
  {
    alert: 'GaleraBinlogArchiverDown',
    // no archiver scraped for 6 minutes fires; an archiver scraped all along does not
    fire: {
      series: { [seriesOf('mariadb_binlog_archive_lag_seconds', archiver)]: `3 ${repeat('stale', 1)} ${repeat('_', 8)}` }, evalTime: '7m',
      alerts: [{ labels: { namespace: NS, severity: 'warning' } }],
    },
    quiet: { series: { [seriesOf('mariadb_binlog_archive_lag_seconds', archiver)]: repeat(3, 10) }, evalTime: '7m' },
  },
  {
    alert: 'GaleraBinlogArchiveGap',
    // a gap found fires; a counter that restarted at 0 with the archiver (no new gap) does not
    fire: {
      series: { [seriesOf('mariadb_binlog_archive_gaps_total', archiver)]: '0 0 0 1 1' }, evalTime: '4m',
      alerts: [{ labels: { ...archiver, severity: 'critical' } }],
    },
    quiet: { series: { [seriesOf('mariadb_binlog_archive_gaps_total', archiver)]: '0 0 0 0 0' }, evalTime: '4m' },
  },
  {
    alert: 'GaleraCertificateExpiring',
    // 10 days left fires; 40 days left (before cert-manager's renewal) does not; another namespace's certificate does not
    fire: { series: {
      [seriesOf('certmanager_certificate_expiration_timestamp_seconds', { namespace: NS, name: 'galera-tls' })]: repeat(10 * 86400, 80),
    }, evalTime: '70m', alerts: [{ labels: { namespace: NS, name: 'galera-tls', severity: 'warning' } }] },
    quiet: {
      series: {
        [seriesOf('certmanager_certificate_expiration_timestamp_seconds', { namespace: NS, name: 'galera-tls' })]: repeat(40 * 86400, 80),
        [seriesOf('certmanager_certificate_expiration_timestamp_seconds', { namespace: 'other', name: 'galera-tls' })]: repeat(86400, 80),
      },
      evalTime: '70m',
    },
  },
];

describe('alert rules (promtool)', () => {
  const dir = tempDir('monitoring-rules-');
  writeRules(dir, groups);

  test('production.yaml has every alert, each with a fire and a quiet case below', () => {
    expect(rules.map((r) => r.alert).sort()).toEqual(CASES.map((c) => c.alert).sort());
  });

  test('promtool check rules accepts the rule groups', () => {
    const r = promtool(['check', 'rules', 'rules.yaml'], dir);
    expect(r.output).toContain(`SUCCESS: ${rules.length} rules found`);
    expect(r.status).toBe(0);
  });

  test.each(CASES)('$alert fires on its series and stays quiet on others (promtool test rules)', (c) => {
    const rule = ruleOf(c.alert);
    const test = (series: Record<string, string>, evalTime: string, alerts: Case['fire']['alerts']) => ({
      interval: '1m',
      input_series: Object.entries(series).map(([s, values]) => ({ series: s, values })),
      alert_rule_test: [{
        eval_time: evalTime, alertname: c.alert,
        exp_alerts: alerts.map((a) => ({ exp_labels: a.labels, exp_annotations: annotations(rule, a.labels, a.value) })),
      }],
    });
    const file = `${c.alert}.test.yaml`;
    writeFileSync(join(dir, file), stringify({
      rule_files: ['rules.yaml'],
      evaluation_interval: '1m',
      tests: [test(c.fire.series, c.fire.evalTime, c.fire.alerts), test(c.quiet.series, c.quiet.evalTime, [])],
    }));
    const r = promtool(['test', 'rules', file], dir);
    expect(r.output).toContain('SUCCESS');
    expect(r.status).toBe(0);
  });

  test('a rule test that expects the wrong outcome fails (the harness can fail)', () => {
    const c = CASES[0];
    writeFileSync(join(dir, 'wrong.test.yaml'), stringify({
      rule_files: ['rules.yaml'],
      evaluation_interval: '1m',
      tests: [{
        interval: '1m', input_series: Object.entries(c.quiet.series).map(([series, values]) => ({ series, values })),
        alert_rule_test: [{ eval_time: c.quiet.evalTime, alertname: c.alert, exp_alerts: [{ exp_labels: node(1) }] }],
      }],
    }));
    expect(promtool(['test', 'rules', 'wrong.test.yaml'], dir).status).not.toBe(0);
  });
});

describe('dashboard', () => {
  test('every PromQL expression of the dashboard parses (promtool check rules, as recording rules)', () => {
    const dir = tempDir('monitoring-dashboard-');
    const recording = dashboardAsRecordingRules(monitored);
    writeFileSync(join(dir, 'dashboard.yaml'), stringify(recording));
    const r = promtool(['check', 'rules', 'dashboard.yaml'], dir);
    expect(r.output).toContain(`SUCCESS: ${recording.groups[0].rules.length} rules found`);
    expect(r.status).toBe(0);
  });

  test('a broken expression is refused (the check can fail)', () => {
    const dir = tempDir('monitoring-dashboard-');
    writeFileSync(join(dir, 'bad.yaml'), stringify({ groups: [{ name: 'x', rules: [{ record: 'x:y', expr: 'rate(mysql_up[5m]' }] }] }));
    expect(promtool(['check', 'rules', 'bad.yaml'], dir).status).not.toBe(0);
  });

  test('the emitted ConfigMap holds the panels of dashboardPanels, with a data source variable', () => {
    const cm = prod.manifests.find((m) => m.kind === 'ConfigMap' && m.metadata.labels?.grafana_dashboard === '1');
    const json = JSON.parse(Object.values(cm.data)[0] as string);
    expect(json.templating.list[0]).toMatchObject({ name: 'datasource', type: 'datasource', query: 'prometheus' });
    expect(json.panels.flatMap((p: Manifest) => p.targets.map((t: Manifest) => t.expr))).toEqual(
      dashboardPanels(monitored).flatMap((p) => p.targets.map((t) => t.expr)),
    );
  });
});

describe('docs/monitoring.md', () => {
  test('lists every alert and every metric name the rules and the dashboard use', () => {
    const section = readFileSync(join(ROOT, 'docs', 'monitoring.md'), 'utf8');
    for (const r of rules) expect(`${r.alert}: ${section.includes(r.alert)}`).toBe(`${r.alert}: true`);
    const names = [...new Set(
      [...rules.map((r) => r.expr), ...dashboardPanels(monitored).flatMap((p) => p.targets.map((t) => t.expr))].flatMap(metricNamesOf),
    )];
    for (const n of names) expect(`${n}: ${section.includes(n)}`).toBe(`${n}: true`);
  });
});
