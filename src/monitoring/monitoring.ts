import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import * as k8s from '../../imports/k8s';
import { GaleraBackup } from '../backup/mariadb-backup';
import type { MariaDbCluster } from '../core/mariadb-cluster';
import { EXPORTER_PORT } from './metrics-exporter';
import { AlertRule, DashboardPanel, databaseSelector, MonitoredCluster, TopologyMetrics } from './topology-metrics';
import { GALERA_METRICS } from '../galera/galera-metrics';
import { REPLICATION_METRICS } from '../replication/replication-metrics';
import type { BackendTopology } from '../core/backend';
import { NetworkPeer } from '../network/network-policy';
import { PART_OF } from '../core/pod';
import { PROXYSQL_METRICS_PORT } from '../proxysql/proxysql-config';
import { ProxySql } from '../proxysql/proxysql';
import { Resolved, resolveOrThrow, withDefaults } from '../values/validation';
import { checkProps } from '../values/schema';
import type { DnsLabel, ImageReference, Labels, PrometheusDuration } from '../values/formats';
import { guardUniqueNames } from '../core/unique-names';

/** The thresholds of the alerts and what is emitted besides the exporters. */
export interface MonitoringOptions {
  /** Emit a PodMonitor (monitoring.coreos.com/v1) for the Galera pods and one for the ProxySQL pods. @default true */
  readonly podMonitors?: boolean;
  /** Emit the PrometheusRule (monitoring.coreos.com/v1) with the alerts. @default true */
  readonly rules?: boolean;
  /** Emit the Grafana dashboard, a ConfigMap labelled `grafana_dashboard: "1"`. @default true */
  readonly dashboard?: boolean;
  /**
   * Namespace of the dashboard ConfigMap (Grafana's sidecar watches its own namespace unless told otherwise).
   * @default - the cluster's namespace
   */
  readonly dashboardNamespace?: DnsLabel;
  /**
   * Labels added to the PodMonitors, the PrometheusRule and the dashboard, e.g. the `release` label your Prometheus selects by.
   * @default - none
   */
  readonly labels?: Labels;
  /** Scrape interval of the PodMonitors. @default '30s' */
  readonly scrapeInterval?: PrometheusDuration;
  /** Minutes a node may stay out of Synced before GaleraNodeNotSynced fires. @default 5 @asType integer @minimum 1 @maximum 1440 */
  readonly notSyncedMinutes?: number;
  /**
   * Percent of the time flow control may pause replication (over 5 minutes) before GaleraFlowControlPaused fires.
   * @default 10 @asType integer @minimum 1 @maximum 100
   */
  readonly flowControlPausedPercent?: number;
  /** Percent full of a data volume at which GaleraDataVolumeFilling fires. @default 85 @asType integer @minimum 1 @maximum 99 */
  readonly volumeFullPercent?: number;
  /**
   * Days before a cert-manager certificate expires at which GaleraCertificateExpiring fires (cert-manager renews 30 days before).
   * @default 21 @asType integer @minimum 1 @maximum 89
   */
  readonly certificateExpiryDays?: number;
  /**
   * Seconds of committed transactions the binlog archive may lack (backup.pointInTime) before
   * BinlogArchiveLagging fires: past it, a restore to the latest point loses more than that.
   * @default 60 @asType integer @minimum 5 @maximum 86400
   */
  readonly binlogArchiveLagSeconds?: number;
}

export type { AlertRule } from './topology-metrics';

/** Each topology's alerts and panels. */
const TOPOLOGY_METRICS: Record<BackendTopology, TopologyMetrics> = { galera: GALERA_METRICS, replication: REPLICATION_METRICS };

/** Props of MariaDbMonitoring: what it monitors, and the labels and thresholds of its objects. */
export interface MariaDbMonitoringProps extends MonitoringOptions {
  /** The cluster (either topology); it must run the metrics exporter (its `metrics` prop, or a MetricsExporter). */
  readonly cluster: MariaDbCluster;
  /** ProxySQL in front of it, serving its metrics (ProxySqlProps.metrics). @default - none */
  readonly proxysql?: ProxySql;
  /**
   * The scheduled backups: an alert when the last success is older than twice the schedule; with
   * pointInTime, the archiver's metrics scraped and alerts on its lag, absence and gaps. @default - none
   */
  readonly backup?: GaleraBackup;
}

/** @internal */
export type ResolvedMonitoringOptions = Resolved<MonitoringOptions, 'dashboardNamespace'>;

/** MonitoringOptions (checked by their schema, see checkProps) with the defaults applied. @internal */
export function resolveMonitoringOptions(p: MonitoringOptions): ResolvedMonitoringOptions {
  return withDefaults({
    podMonitors: true, rules: true, dashboard: true, labels: {}, scrapeInterval: '30s', notSyncedMinutes: 5, flowControlPausedPercent: 10,
    volumeFullPercent: 85, certificateExpiryDays: 21, binlogArchiveLagSeconds: 60,
  }, p);
}

/** A rule group as Prometheus and the PrometheusRule take it. */
export interface RuleGroup {
  readonly name: string;
  readonly rules: AlertRule[];
}

/** Label matchers of the database pods' series and of the ProxySQL pods' series. @internal */
export function selectors(m: MonitoredCluster): { galera: string; proxysql: string } {
  return {
    galera: databaseSelector(m),
    proxysql: m.proxysql ? `namespace="${m.namespace}", pod=~"${m.proxysql.name}-[a-z0-9]+-[a-z0-9]+"` : '',
  };
}

/** The alerting rules: the topology's own, then ProxySQL's, the backup's and the certificates'. @internal */
export function alertRules(m: MonitoredCluster, o: ResolvedMonitoringOptions): RuleGroup[] {
  const s = selectors(m);
  const t = TOPOLOGY_METRICS[m.topology];
  const rules: AlertRule[] = [...t.rules(m, o), volumeRule(m, o, t)];
  if (m.proxysql) {
    const p = s.proxysql;
    const hg = m.proxysql.hostgroups;
    rules.push({
      alert: 'ProxySQLNoWriter',
      // status 1 is ONLINE; a ProxySQL pod without an ONLINE server in the writer hostgroup fails every write
      expr: `count by (namespace, pod) (proxysql_uptime_seconds_total{${p}}) unless count by (namespace, pod) `
        + `(proxysql_connpool_conns_status{${p}, hostgroup="${hg.writer}"} == 1)`,
      for: '1m',
      labels: { severity: 'critical' },
      annotations: {
        summary: 'ProxySQL has no writer',
        description: `{{ $labels.pod }} has no ONLINE server in its writer hostgroup ${hg.writer}: every write through it fails.`,
      },
    }, {
      alert: 'ProxySQLBackendsOffline',
      // A node ProxySQL's Galera check took out sits in the offline hostgroup (not OFFLINE_HARD, 4);
      // one that stopped answering pings is SHUNNED (2) in the backup writer or reader hostgroup.
      // Not the writer hostgroup: there the nodes that are not the writer are SHUNNED or
      // OFFLINE_HARD all the time (seen in real scrapes of a healthy cluster).
      expr: `count by (namespace, pod) (proxysql_connpool_conns_status{${p}, hostgroup="${hg.offline}"} != 4`
        + ` or proxysql_connpool_conns_status{${p}, hostgroup=~"${hg.backupWriter}|${hg.reader}"} == 2) > 0`,
      for: '5m',
      labels: { severity: 'warning' },
      annotations: {
        summary: 'ProxySQL has backends offline',
        description: `{{ $labels.pod }} has {{ $value }} backend(s) in the offline hostgroup ${hg.offline} or SHUNNED.`,
      },
    });
  }
  if (m.backup) {
    const period = maxCronGapSeconds(m.backup.schedule);
    rules.push({
      alert: `${t.alertPrefix}BackupTooOld`,
      // kube-state-metrics: the CronJob's last successful run (a backup job succeeds only when the backup was verified)
      expr: `time() - kube_cronjob_status_last_successful_time{namespace="${m.namespace}", cronjob="${m.backup.cronJob}"} > ${2 * period}`,
      for: '10m',
      labels: { severity: 'warning' },
      annotations: {
        summary: `The last verified backup of ${m.namespace}/${m.name} is too old`,
        description: `The last successful run of CronJob ${m.backup.cronJob} is more than ${2 * period} s ago, `
          + `twice the longest gap of its schedule '${m.backup.schedule}'.`,
      },
    });
  }
  if (m.binlogArchiver) rules.push(...binlogArchiveRules(m, o, t));
  if (m.certificates.length > 0) {
    rules.push({
      alert: `${t.alertPrefix}CertificateExpiring`,
      // cert-manager's own metric; it renews 30 days before expiry, so this means renewal failed
      expr: `certmanager_certificate_expiration_timestamp_seconds{namespace="${m.namespace}", `
        + `name=~"${m.certificates.join('|')}"} - time() < ${o.certificateExpiryDays * 86400}`,
      for: '1h',
      labels: { severity: 'warning' },
      annotations: {
        summary: `A certificate of ${m.namespace}/${m.name} expires soon`,
        description: `Certificate {{ $labels.name }} expires in less than ${o.certificateExpiryDays} days: cert-manager did not renew it.`,
      },
    });
  }
  return [{ name: `${t.groupPrefix}.${m.namespace}.${m.name}`, rules }];
}

/**
 * The binlog archive (point-in-time recovery): behind by more than binlogArchiveLagSeconds (the
 * bucket or volume unreachable, no node to archive from), not scraped at all (no archiver), or
 * with a gap (a restore cannot cross it).
 */
function binlogArchiveRules(m: MonitoredCluster, o: ResolvedMonitoringOptions, t: TopologyMetrics): AlertRule[] {
  const a = `namespace="${m.namespace}", pod=~"${m.binlogArchiver!.deployment}-[a-z0-9]+-[a-z0-9]+"`;
  const of = `${m.namespace}/${m.name}`;
  return [{
    alert: `${t.alertPrefix}BinlogArchiveLagging`,
    expr: `max by (namespace) (mariadb_binlog_archive_lag_seconds{${a}}) > ${o.binlogArchiveLagSeconds}`,
    for: '1m',
    labels: { severity: 'warning' },
    annotations: {
      summary: `The binlog archive of ${of} is behind`,
      description: `The archive lacks the last {{ $value }} s of committed transactions (more than ${o.binlogArchiveLagSeconds} s): `
        + 'a restore to the latest point would lose them. The destination may be unreachable; the archiver\'s log says why.',
    },
  }, {
    alert: `${t.alertPrefix}BinlogArchiverDown`,
    expr: `absent(mariadb_binlog_archive_lag_seconds{${a}})`,
    for: '5m',
    labels: { severity: 'warning' },
    annotations: {
      summary: `The binlog archiver of ${of} is not running`,
      description: `No metrics from Deployment ${m.binlogArchiver!.deployment} for 5 minutes: the binary logs are not archived.`,
    },
  }, {
    alert: `${t.alertPrefix}BinlogArchiveGap`,
    expr: `increase(mariadb_binlog_archive_gaps_total{${a}}[1h]) > 0`,
    for: '0m',
    labels: { severity: 'critical' },
    annotations: {
      summary: `The binlog archive of ${of} has a gap`,
      description: 'Transactions no node still had are missing from the archive: a restore to a point after the gap is refused. '
        + 'Take a full backup now; points after it can be restored again.',
    },
  }];
}

/** A data volume filling up (kubelet's volume stats), named after the topology. */
function volumeRule(m: MonitoredCluster, o: ResolvedMonitoringOptions, t: TopologyMetrics): AlertRule {
  const claims = `namespace="${m.namespace}", persistentvolumeclaim=~"data-${m.name}-[0-9]+"`;
  return {
    alert: `${t.alertPrefix}DataVolumeFilling`,
    expr: `kubelet_volume_stats_used_bytes{${claims}} / kubelet_volume_stats_capacity_bytes{${claims}} > ${o.volumeFullPercent / 100}`,
    for: '5m',
    labels: { severity: 'warning' },
    annotations: {
      summary: `A data volume of ${m.namespace}/${m.name} is filling up`,
      description: `{{ $labels.persistentvolumeclaim }} is more than ${o.volumeFullPercent}% full; a full volume stops the node.`,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Cron schedules: the longest gap between two runs

const CRON_MACROS: Record<string, string> = {
  '@yearly': '0 0 1 1 *', '@annually': '0 0 1 1 *', '@monthly': '0 0 1 * *', '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *', '@midnight': '0 0 * * *', '@hourly': '0 * * * *',
};
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

function cronField(spec: string, min: number, max: number, names: string[] = [], nameBase = 0): Set<number> {
  const out = new Set<number>();
  const value = (v: string): number => {
    const i = names.indexOf(v.toLowerCase());
    const n = i >= 0 ? i + nameBase : /^[0-9]+$/.test(v) ? Number(v) : NaN;
    if (Number.isNaN(n) || n < min || n > max) throw new Error(`${JSON.stringify(v)} is not in ${min}-${max}`);
    return n;
  };
  for (const part of spec.split(',')) {
    const [range, stepText] = part.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1) throw new Error(`bad step in ${JSON.stringify(part)}`);
    let lo: number; let hi: number;
    if (range === '*' || range === '?') { lo = min; hi = max; } else if (range.includes('-')) {
      const [a, b] = range.split('-');
      lo = value(a); hi = value(b);
    } else { lo = value(range); hi = stepText === undefined ? lo : max; }
    for (let v = lo; v <= hi; v += step) out.add(v);
  }
  return out;
}

/**
 * The longest time between two consecutive runs of a cron schedule (five fields or a macro),
 * in seconds, found by walking every scheduled minute of two years (a leap day and every weekday included).
 * @internal
 */
export function maxCronGapSeconds(schedule: string): number {
  const fields = (CRON_MACROS[schedule.trim()] ?? schedule).trim().split(/\s+/);
  if (fields.length !== 5) throw new Error(`cron schedule ${JSON.stringify(schedule)} does not have five fields`);
  const [mi, h, dom, mon, dow] = fields;
  const minutes = cronField(mi, 0, 59);
  const hours = cronField(h, 0, 23);
  const doms = cronField(dom, 1, 31);
  const months = cronField(mon, 1, 12, MONTHS, 1);
  const dows = new Set([...cronField(dow, 0, 7, DAYS)].map((d) => d % 7));
  // Vixie cron: when both day fields are restricted, a day matching either runs
  const domStar = dom === '*' || dom === '?';
  const dowStar = dow === '*' || dow === '?';
  const start = Date.UTC(2024, 0, 1);
  const end = Date.UTC(2026, 0, 1);
  const runs: number[] = [];
  for (let day = start; day < end; day += 86_400_000) {
    const d = new Date(day);
    if (!months.has(d.getUTCMonth() + 1)) continue;
    const domOk = doms.has(d.getUTCDate());
    const dowOk = dows.has(d.getUTCDay());
    if (!(domStar || dowStar ? domOk && dowOk : domOk || dowOk)) continue;
    for (const hh of [...hours].sort((a, b) => a - b)) {
      for (const mm of [...minutes].sort((a, b) => a - b)) runs.push(day / 1000 + hh * 3600 + mm * 60);
    }
  }
  if (runs.length < 2) throw new Error(`cron schedule ${JSON.stringify(schedule)} runs fewer than twice in two years`);
  let gap = 0;
  for (let i = 1; i < runs.length; i++) gap = Math.max(gap, runs[i] - runs[i - 1]);
  return gap;
}

// ---------------------------------------------------------------------------------------------
// The dashboard

/** The panels of the dashboard. @internal */
export function dashboardPanels(m: MonitoredCluster): DashboardPanel[] {
  const { galera: g, proxysql: p } = selectors(m);
  const panels: DashboardPanel[] = [
    ...TOPOLOGY_METRICS[m.topology].panels(m),
    { title: 'Client connections per node', type: 'timeseries', targets: [
      { expr: `mysql_global_status_threads_connected{${g}}`, legend: '{{pod}}' },
    ] },
    { title: 'Queries per second per node', type: 'timeseries', targets: [
      { expr: `rate(mysql_global_status_queries{${g}}[5m])`, legend: '{{pod}}' },
    ] },
    {
      title: 'Data volume used', type: 'timeseries', unit: 'percentunit', targets: [{
        expr: `kubelet_volume_stats_used_bytes{namespace="${m.namespace}", persistentvolumeclaim=~"data-${m.name}-[0-9]+"}`
          + ` / kubelet_volume_stats_capacity_bytes{namespace="${m.namespace}", persistentvolumeclaim=~"data-${m.name}-[0-9]+"}`,
        legend: '{{persistentvolumeclaim}}',
      }],
    },
  ];
  if (m.proxysql) {
    const hg = m.proxysql.hostgroups;
    panels.push(
      {
        title: 'ProxySQL servers by hostgroup (ONLINE)', type: 'timeseries', targets: [
          { expr: `count by (pod) (proxysql_connpool_conns_status{${p}, hostgroup="${hg.writer}"} == 1)`, legend: '{{pod}} writer' },
          { expr: `count by (pod) (proxysql_connpool_conns_status{${p}, hostgroup="${hg.reader}"} == 1)`, legend: '{{pod}} readers' },
          { expr: `count by (pod) (proxysql_connpool_conns_status{${p}, hostgroup="${hg.offline}"} != 4)`, legend: '{{pod}} offline' },
        ],
      },
      { title: 'ProxySQL client connections', type: 'timeseries', targets: [
        { expr: `proxysql_client_connections_connected{${p}}`, legend: '{{pod}}' },
      ] },
      { title: 'ProxySQL questions per second', type: 'timeseries', targets: [
        { expr: `rate(proxysql_questions_total{${p}}[5m])`, legend: '{{pod}}' },
      ] },
      { title: 'ProxySQL backend connections', type: 'timeseries', targets: [
        { expr: `proxysql_server_connections_connected{${p}}`, legend: '{{pod}}' },
      ] },
    );
  }
  return panels;
}

/** The Grafana dashboard model (schema 39), with a Prometheus data source variable. @internal */
export function dashboardJson(m: MonitoredCluster): Record<string, unknown> {
  const panels = dashboardPanels(m).map((panel, i) => ({
    id: i + 1,
    title: panel.title,
    type: panel.type,
    datasource: { type: 'prometheus', uid: '${datasource}' },
    gridPos: panel.type === 'stat' ? { h: 4, w: 8, x: (i % 3) * 8, y: 0 } : {
      h: 8, w: 12, x: ((i - 3) % 2) * 12, y: 4 + Math.floor((i - 3) / 2) * 8,
    },
    fieldConfig: { defaults: { ...(panel.unit ? { unit: panel.unit } : {}) }, overrides: [] },
    targets: panel.targets.map((t, j) => ({
      refId: String.fromCharCode(65 + j), expr: t.expr, legendFormat: t.legend, datasource: { type: 'prometheus', uid: '${datasource}' },
    })),
  }));
  const t = TOPOLOGY_METRICS[m.topology];
  return {
    uid: `${m.topology}-${m.namespace}-${m.name}`.slice(0, 40),
    title: `${t.dashboardTitle} ${m.namespace}/${m.name}`,
    tags: [m.topology, 'mariadb', 'proxysql'],
    timezone: 'browser',
    schemaVersion: 39,
    version: 1,
    refresh: '30s',
    time: { from: 'now-6h', to: 'now' },
    templating: { list: [{ name: 'datasource', type: 'datasource', query: 'prometheus', label: 'Data source' }] },
    panels,
  };
}

// ---------------------------------------------------------------------------------------------

/**
 * What Prometheus and Grafana need to watch a cluster of either topology and its ProxySQL:
 * PodMonitors for the exporter sidecars and ProxySQL's REST API, a PrometheusRule with the
 * topology's alerts and the shared ones, and a Grafana dashboard in a ConfigMap that
 * kube-prometheus-stack's dashboard sidecar picks up.
 */
export class MariaDbMonitoring extends Construct {
  /** The alerting rules (as in the PrometheusRule, emitted or not). */
  public readonly ruleGroups: RuleGroup[];
  /** The dashboard model (as in the ConfigMap, emitted or not). */
  public readonly dashboard: Record<string, unknown>;
  /** The PrometheusRule, when rules is on. */
  public readonly prometheusRule?: ApiObject;
  /** The PodMonitors, when podMonitors is on. */
  public readonly podMonitors: ApiObject[] = [];
  /** The dashboard ConfigMap, when dashboard is on. */
  public readonly dashboardConfigMap?: k8s.KubeConfigMap;
  /** What the rules and the dashboard are written for. @internal */
  public readonly monitored: MonitoredCluster;

  constructor(scope: Construct, id: string, props: MariaDbMonitoringProps) {
    super(scope, id);
    guardUniqueNames(this);
    const { cluster, proxysql, backup, ...options } = props;
    const kind = this.constructor.name;
    const o = resolveOrThrow(kind, (c) => resolveMonitoringOptions(checkProps(c, 'MariaDbMonitoring', options)));
    if (!cluster.metricsPort) {
      throw new Error(
        `${kind} '${id}': the ${cluster.constructor.name} '${cluster.name}' runs no metrics exporter; set metrics: { enabled: true } on it`,
      );
    }
    if (proxysql && !proxysql.metricsPort) throw new Error(
      `${kind} '${id}': the ProxySql '${proxysql.name}' serves no metrics; set metrics: true on it`,
    );
    const monitored: MonitoredCluster = this.monitored = {
      topology: cluster.topology, namespace: cluster.namespace, name: cluster.name, replicas: cluster.replicas, 
      maxLagSeconds: (cluster as { maxLagSeconds?: number }).maxLagSeconds, source: cluster.source !== undefined,
      proxysql: proxysql ? { name: proxysql.name, hostgroups: proxysql.hostgroups } : undefined,
      backup: backup ? { cronJob: backup.cronJob.name, schedule: backup.schedule } : undefined,
      binlogArchiver: backup?.archiver ? { deployment: backup.archiver.name } : undefined,
      certificates: [cluster.certificate, cluster.backupEndpoint?.clientCertificate, proxysql?.certificate]
        .filter((x): x is ApiObject => x !== undefined).map((x) => x.name),
    };
    this.ruleGroups = alertRules(monitored, o);
    this.dashboard = dashboardJson(monitored);
    const labels = { ...PART_OF, 'app.kubernetes.io/component': 'monitoring', ...o.labels };
    const metadata = (name: string, namespace = cluster.namespace) => ({ name, namespace, labels });

    if (o.podMonitors) {
      const podMonitor = (name: string, selector: Record<string, string>) => new ApiObject(this, `pod-monitor-${name}`, {
        apiVersion: 'monitoring.coreos.com/v1',
        kind: 'PodMonitor',
        metadata: metadata(name),
        spec: {
          selector: { matchLabels: selector },
          podMetricsEndpoints: [{ port: 'metrics', path: '/metrics', interval: o.scrapeInterval, scrapeTimeout: '10s' }],
        },
      });
      this.podMonitors.push(podMonitor(cluster.name, cluster.selectorLabels));
      if (proxysql) this.podMonitors.push(podMonitor(proxysql.name, proxysql.selectorLabels));
      if (backup?.archiver) this.podMonitors.push(podMonitor(backup.archiver.name, backup.archiver.selectorLabels));
    }
    if (o.rules) {
      this.prometheusRule = new ApiObject(this, 'rules', {
        apiVersion: 'monitoring.coreos.com/v1',
        kind: 'PrometheusRule',
        metadata: metadata(cluster.name),
        spec: { groups: this.ruleGroups },
      });
    }
    if (o.dashboard) {
      this.dashboardConfigMap = new k8s.KubeConfigMap(this, 'dashboard', {
        metadata: {
          ...metadata(`${cluster.name}-dashboard`, o.dashboardNamespace ?? cluster.namespace),
          labels: { ...labels, grafana_dashboard: '1' },
        },
        data: { [`${cluster.namespace}-${cluster.name}.json`]: `${JSON.stringify(this.dashboard, null, 2)}\n` },
      });
    }
  }
}

/** @deprecated use MariaDbMonitoringProps, whose cluster is either topology. */
export type GaleraMonitoringProps = MariaDbMonitoringProps;
/** @deprecated use MariaDbMonitoring, which monitors either topology. */
export class GaleraMonitoring extends MariaDbMonitoring {}

/** The chart's monitoring section. */
export interface MonitoringProps extends MonitoringOptions {
  /**
   * Turn monitoring on: a mysqld-exporter sidecar in every Galera pod (port 9104, its own account
   * `exporter@localhost` with the Secret key `exporter-password`), ProxySQL's Prometheus metrics
   * (port 6070), the scrape ports open to `scrapers`, and the objects of MonitoringOptions.
   * @default false
   */
  readonly enabled?: boolean;
  /** Who may scrape the metrics ports (the NetworkPolicies). @default - pods labelled app.kubernetes.io/name=prometheus in any namespace */
  readonly scrapers?: NetworkPeer[];
  /**
   * Image of the exporter sidecar; its flags are those of mysqld_exporter 0.14 (DEFAULT_MYSQLD_EXPORTER_IMAGE).
   * @default 'docker.io/prom/mysqld-exporter:v0.14.0'
   */
  readonly exporterImage?: ImageReference;
}


/** The metrics ports. */
export const METRICS_PORTS = { galera: EXPORTER_PORT, proxysql: PROXYSQL_METRICS_PORT } as const;
