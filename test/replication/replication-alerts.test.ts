import { writeFileSync } from 'fs';
import { join } from 'path';
import { Chart, Testing } from 'cdk8s';
import { stringify } from 'yaml';
import { GaleraCluster, MariaDbMonitoring, MariaDbReplication } from '../../src/index';
import type { AlertRule } from '../../src/monitoring/monitoring';
import { promtool, seriesOf, tempDir, writeRules } from '../tools/prometheus';

// The alerts around an external source, in promtool. On the primary/replica topology: the exporter's series of a
// following primary (mysqld_exporter 0.14 runs SHOW ALL SLAVES STATUS and labels each connection
// with connection_name; the external-source cluster test scrapes the real one and finds
// connection_name="source" there) count as the primary, the connection to the source is not a
// replica's, and its own alerts fire when it stops, cannot read the source, or lags.

const chart = new Chart(Testing.app(), 'test', { namespace: 'db' });
const db = new MariaDbReplication(chart, 'mariadb', {
  metrics: { enabled: true }, gtidDomainId: 1, source: { host: 'old-db.legacy.svc', secretName: 'old-db-source' },
});
const monitoring = new MariaDbMonitoring(chart, 'monitoring', { cluster: db });
const dir = tempDir('replication-alerts-');
writeRules(dir, monitoring.ruleGroups);

const pod = (i: number) => ({ namespace: 'db', pod: `mariadb-${i}`, container: 'metrics' });
/** A replication connection's labels as the exporter writes them (empty labels dropped, as Prometheus drops them). */
const connection = (i: number, name: string, host: string) => ({
  ...pod(i), master_host: host, ...(name ? { connection_name: name } : {}),
});
const source = (i: number) => connection(i, 'source', 'old-db.legacy.svc');
const replica = (i: number) => connection(i, '', 'mariadb-0.mariadb.db.svc.cluster.local');
const repeat = (v: number, n: number) => Array.from({ length: n }, () => String(v)).join(' ');

/** A following cluster, healthy: every node read-only, the primary's connection to the source running, the replicas'. */
function following(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    ...Object.fromEntries([0, 1, 2].map((i) => [seriesOf('mysql_global_variables_read_only', pod(i)), repeat(1, 20)])),
    [seriesOf('mysql_slave_status_slave_sql_running', source(0))]: repeat(1, 20),
    [seriesOf('mysql_slave_status_slave_io_running', source(0))]: repeat(1, 20),
    [seriesOf('mysql_slave_status_seconds_behind_master', source(0))]: repeat(0, 20),
    ...Object.fromEntries([1, 2].flatMap((i) => ['slave_sql_running', 'slave_io_running']
      .map((m) => [seriesOf(`mysql_slave_status_${m}`, replica(i)), repeat(1, 20)]))),
    ...Object.fromEntries([1, 2].map((i) => [seriesOf('mysql_slave_status_seconds_behind_master', replica(i)), repeat(0, 20)])),
    ...overrides,
  };
}

/** The annotations of an alert as Prometheus fills them for these labels and value. */
function annotations(alert: string, labels: Record<string, string>, value = '', m = monitoring): Record<string, string> {
  const rule = m.ruleGroups.flatMap((g) => g.rules).find((r: AlertRule) => r.alert === alert)!;
  const fill = (t: string) => t.replace(/\{\{ \$labels\.([a-z_]+) \}\}/g, (_m, l: string) => labels[l] ?? '')
    .replace(/\{\{ \$value \}\}/g, value);
  return { summary: fill(rule.annotations.summary), description: fill(rule.annotations.description) };
}

/** promtool test rules of the series at evalTime: the alerts named fire with the labels given, every other named alert stays quiet. */
function check(file: string, series: Record<string, string>, evalTime: string, expect_: Record<string, Record<string, string>[]>,
  m = monitoring, rulesDir = dir): void {
  writeFileSync(join(rulesDir, file), stringify({
    rule_files: ['rules.yaml'],
    evaluation_interval: '1m',
    tests: [{
      interval: '1m',
      input_series: Object.entries(series).map(([s, values]) => ({ series: s, values })),
      alert_rule_test: Object.entries(expect_).map(([alertname, alerts]) => ({
        eval_time: evalTime, alertname, exp_alerts: alerts.map(({ $value, ...labels }) => ({
          exp_labels: labels, exp_annotations: annotations(alertname, labels, $value, m),
        })),
      })),
    }],
  }));
  const r = promtool(['test', 'rules', file], rulesDir);
  expect(r.output).toContain('SUCCESS');
  expect(r.status).toBe(0);
}

const REPLICA_ALERTS = ['MariaDbReplicaLagging', 'MariaDbReplicationThreadStopped', 'MariaDbErrantTransactionsRefused'];
const SOURCE_ALERTS = ['MariaDbSourceFollowingStopped', 'MariaDbSourceUnreachable', 'MariaDbSourceFollowingLags'];
const quiet = (names: string[]) => Object.fromEntries(names.map((n) => [n, []]));

test('a healthy following cluster fires nothing: its read-only primary follows the source, so it is the one primary', () => {
  check('healthy.test.yaml', following(), '15m', quiet(['MariaDbNoSinglePrimary', ...REPLICA_ALERTS, ...SOURCE_ALERTS]));
});

test('GIVEN every node read-only and no connection to a source THEN MariaDbNoSinglePrimary fires (as before)', () => {
  const none = Object.fromEntries([0, 1, 2].map((i) => [seriesOf('mysql_global_variables_read_only', pod(i)), repeat(1, 5)]));
  // (absent() of an expression carries no label: the alert has none but its severity, as before the source existed)
  check('no-primary.test.yaml', none, '3m', { MariaDbNoSinglePrimary: [{ severity: 'critical', $value: '1' }] });
});

test('GIVEN the source\'s SQL thread stopped (an errant write) THEN MariaDbSourceFollowingStopped fires, no replica alert does', () => {
  const series = following({ [seriesOf('mysql_slave_status_slave_sql_running', source(0))]: `1 1 ${repeat(0, 18)}` });
  check('stopped.test.yaml', series, '5m', {
    MariaDbSourceFollowingStopped: [{ ...source(0), severity: 'critical' }], ...quiet(['MariaDbNoSinglePrimary', ...REPLICA_ALERTS]),
  });
});

test('GIVEN the source unreachable (IO thread connecting) THEN MariaDbSourceUnreachable fires after 5 minutes, not before', () => {
  const series = following({ [seriesOf('mysql_slave_status_slave_io_running', source(0))]: `1 ${repeat(0, 19)}` });
  check('unreachable-early.test.yaml', series, '4m', quiet(['MariaDbSourceUnreachable', ...REPLICA_ALERTS]));
  check('unreachable.test.yaml', series, '8m', {
    MariaDbSourceUnreachable: [{ ...source(0), severity: 'warning' }], ...quiet(REPLICA_ALERTS),
  });
});

test('GIVEN the primary 10 minutes behind the source THEN MariaDbSourceFollowingLags fires; a replica alert does not', () => {
  const series = following({ [seriesOf('mysql_slave_status_seconds_behind_master', source(0))]: '0+60x19' });
  check('lags.test.yaml', series, '18m', {
    MariaDbSourceFollowingLags: [{ ...source(0), severity: 'warning', $value: '1080' }], ...quiet(REPLICA_ALERTS),
  });
  check('lags-short.test.yaml', following({ [seriesOf('mysql_slave_status_seconds_behind_master', source(0))]: repeat(200, 20) }), '18m',
    quiet(['MariaDbSourceFollowingLags']));
});

test('after the cutover (the primary writable, no connection to the source) nothing fires', () => {
  const series = following();
  for (const k of Object.keys(series).filter((s) => s.includes('connection_name="source"'))) delete series[k];
  series[seriesOf('mysql_global_variables_read_only', pod(0))] = repeat(0, 20);
  check('after-cutover.test.yaml', series, '15m', quiet(['MariaDbNoSinglePrimary', ...REPLICA_ALERTS, ...SOURCE_ALERTS]));
});

describe('a Galera cluster with a source', () => {
  // GIVEN a Galera cluster that follows a source: one node (here mariadb-1) has the connection 'source'
  const galeraChart = new Chart(Testing.app(), 'test', { namespace: 'db' });
  const galera = new GaleraCluster(galeraChart, 'mariadb', {
    name: 'mariadb', metrics: { enabled: true }, gtidDomainId: 1, source: { host: 'old-db.legacy.svc', secretName: 'old-db-source' },
  });
  const galeraMonitoring = new MariaDbMonitoring(galeraChart, 'monitoring', { cluster: galera });
  const galeraDir = tempDir('galera-source-alerts-');
  writeRules(galeraDir, galeraMonitoring.ruleGroups);
  const names = ['GaleraSourceFollowingStopped', 'GaleraSourceUnreachable', 'GaleraSourceFollowingLags'];
  const healthy = (overrides: Record<string, string> = {}) => ({
    [seriesOf('mysql_slave_status_slave_sql_running', source(1))]: repeat(1, 20),
    [seriesOf('mysql_slave_status_slave_io_running', source(1))]: repeat(1, 20),
    [seriesOf('mysql_slave_status_seconds_behind_master', source(1))]: repeat(0, 20),
    ...overrides,
  });

  test('THEN its exporter reads SHOW SLAVE STATUS, and a Galera cluster without a source has neither the flag nor the alerts', () => {
    const exporter = (c: GaleraCluster) => Testing.synth(Chart.of(c)).find((o) => o.kind === 'StatefulSet')
      .spec.template.spec.containers.find((x: { name: string }) => x.name === 'metrics').args;
    expect(exporter(galera)).toContain('--collect.slave_status');
    const plainChart = new Chart(Testing.app(), 'test', { namespace: 'db' });
    const plain = new GaleraCluster(plainChart, 'mariadb', { name: 'mariadb', metrics: { enabled: true } });
    const plainMonitoring = new MariaDbMonitoring(plainChart, 'monitoring', { cluster: plain });
    expect(exporter(plain)).toContain('--no-collect.slave_status');
    expect(plainMonitoring.ruleGroups.flatMap((g) => g.rules).map((r) => r.alert).filter((a) => names.includes(a))).toEqual([]);
  });

  test('GIVEN the following node healthy THEN no source alert fires', () => {
    check('galera-healthy.test.yaml', healthy(), '15m', quiet(names), galeraMonitoring, galeraDir);
  });

  test('GIVEN its SQL thread stopped (an errant write) THEN GaleraSourceFollowingStopped fires for that node', () => {
    const series = healthy({ [seriesOf('mysql_slave_status_slave_sql_running', source(1))]: `1 1 ${repeat(0, 18)}` });
    check('galera-stopped.test.yaml', series, '5m', {
      GaleraSourceFollowingStopped: [{ ...source(1), severity: 'critical' }], ...quiet(names.slice(1)),
    }, galeraMonitoring, galeraDir);
  });
});
