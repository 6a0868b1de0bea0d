import type { BackendTopology } from '../core/backend';

/** One Prometheus alerting rule. */
export interface AlertRule {
  readonly alert: string;
  readonly expr: string;
  readonly for: string;
  readonly labels: { readonly severity: 'critical' | 'warning' };
  readonly annotations: { readonly summary: string; readonly description: string };
}

/** One panel of the dashboard: a title and its PromQL expressions with legends. @internal */
export interface DashboardPanel {
  readonly title: string;
  readonly type: 'timeseries' | 'stat';
  readonly unit?: string;
  readonly targets: { readonly expr: string; readonly legend: string }[];
}

/** What the rules and the dashboard are written for. @internal */
export interface MonitoredCluster {
  readonly topology: BackendTopology;
  readonly namespace: string;
  readonly name: string;
  readonly replicas: number;
  readonly proxysql?: { readonly name: string; readonly hostgroups: {
    readonly writer: number; readonly backupWriter: number; readonly reader: number; readonly offline: number;
  } };
  readonly backup?: { readonly cronJob: string; readonly schedule: string };
  /** The binlog archiver's Deployment (point-in-time recovery). */
  readonly binlogArchiver?: { readonly deployment: string };
  /** cert-manager Certificate names, when cert-manager issues the certificates. */
  readonly certificates: string[];
  /** A replica is lagging past this many seconds (primary/replica). */
  readonly maxLagSeconds?: number;
  /** The cluster has an external source (the source prop): it follows it until the cutover. */
  readonly source?: boolean;
}

/** The thresholds the topologies' rules read. @internal */
export interface TopologyAlertOptions {
  readonly notSyncedMinutes: number;
  readonly flowControlPausedPercent: number;
}

/** Label matcher of a cluster's database pods' series. @internal */
export function databaseSelector(m: MonitoredCluster): string {
  return `namespace="${m.namespace}", pod=~"${m.name}-[0-9]+"`;
}

/**
 * What a topology contributes to monitoring: its alerts and dashboard panels on the exporter's
 * series, and how its alerts are named. The shared rules (volumes, ProxySQL, backups,
 * certificates) come from MariaDbMonitoring. @internal
 */
export interface TopologyMetrics {
  /** Prefix of the alert names (Galera, MariaDb). */
  readonly alertPrefix: string;
  /** Prefix of the rule group's name. */
  readonly groupPrefix: string;
  /** Title of the dashboard and prefix of its uid. */
  readonly dashboardTitle: string;
  /** The topology's own alerts. */
  rules(m: MonitoredCluster, o: TopologyAlertOptions): AlertRule[];
  /** The topology's own panels (the stat panels first). */
  panels(m: MonitoredCluster): DashboardPanel[];
}
