import { AlertRule, DashboardPanel, databaseSelector, MonitoredCluster, TopologyMetrics } from '../monitoring/topology-metrics';
import { SOURCE_CONNECTION, sourceFollowingRules } from '../monitoring/source-metrics';


/**
 * The alerts and dashboard panels of one primary with replicas, on the exporter's series
 * (mysqld_exporter 0.14 with --collect.slave_status: mysql_slave_status_*, one series per
 * replication connection, none on the primary). @internal
 */
export const REPLICATION_METRICS: TopologyMetrics = {
  alertPrefix: 'MariaDb',
  groupPrefix: 'mariadb-replication',
  dashboardTitle: 'MariaDB primary/replica',
  rules(m: MonitoredCluster): AlertRule[] {
    const g = databaseSelector(m);
    // the replication of the cluster (connection ''), not the following of an external source
    const r = `${g}, connection_name!="${SOURCE_CONNECTION}"`;
    const s = `${g}, connection_name="${SOURCE_CONNECTION}"`;
    const lag = m.maxLagSeconds ?? 30;
    // the primary: read_only is 0 on it alone, or it follows an external source (read-only for clients until the cutover)
    const primaries = `(mysql_global_variables_read_only{${g}} == 0 or on (namespace, pod) mysql_slave_status_slave_sql_running{${s}})`;
    return [
      {
        alert: 'MariaDbNoSinglePrimary',
        // no primary, or two, needs a look at once
        expr: `count by (namespace) ${primaries} != 1 or (absent(mysql_global_variables_read_only{${g}} == 0) `
          + `unless on () mysql_slave_status_slave_sql_running{${s}})`,
        for: '1m',
        labels: { severity: 'critical' },
        annotations: {
          summary: `${m.namespace}/${m.name} has no single primary`,
          description: '{{ $value }} writable nodes (read_only=0); exactly one is expected. With none, '
            + 'every write fails until a failover or a human.',
        },
      },
      {
        alert: 'MariaDbReplicaLagging',
        expr: `mysql_slave_status_seconds_behind_master{${r}} > ${lag}`,
        for: '2m',
        labels: { severity: 'warning' },
        annotations: {
          summary: 'A replica lags behind the primary',
          description: `{{ $labels.pod }} is {{ $value }} s behind its primary (more than ${lag} s); `
            + `it is out of the read Service until it catches up.`,
        },
      },
      {
        alert: 'MariaDbReplicationThreadStopped',
        expr: `mysql_slave_status_slave_io_running{${r}} == 0 or mysql_slave_status_slave_sql_running{${r}} == 0`,
        for: '2m',
        labels: { severity: 'critical' },
        annotations: {
          summary: 'A replica stopped replicating',
          description: '{{ $labels.pod }}: the replication IO or SQL thread is stopped; it falls behind and cannot become the primary.',
        },
      },
      {
        alert: 'MariaDbErrantTransactionsRefused',
        // a replica whose GTIDs the primary never had is refused: its IO thread fails with 1236
        expr: `mysql_slave_status_last_io_errno{${r}} == 1236`,
        for: '1m',
        labels: { severity: 'critical' },
        annotations: {
          summary: 'A node holds transactions the primary does not have',
          description: '{{ $labels.pod }} was refused (errant GTIDs, error 1236): '
            + 'it stays out of service until it is cloned again (docs/replication.md).',
        },
      },
      ...sourceFollowingRules(m, 'MariaDb'),
      {
        alert: 'MariaDbSemiSyncFellBackToAsync',
        // on the primary only (read_only=0): with noReplicaAck async, commits are acknowledged without a replica
        expr: `mysql_global_status_rpl_semi_sync_master_status{${g}} == 0 and on (namespace, pod) `
          + `mysql_global_variables_read_only{${g}} == 0`,
        for: '1m',
        labels: { severity: 'critical' },
        annotations: {
          summary: 'The primary acknowledges commits without a replica',
          description: '{{ $labels.pod }} fell back from semi-synchronous to asynchronous replication: '
            + 'a failover now may lose acknowledged writes.',
        },
      },
    ];
  },
  panels(m: MonitoredCluster): DashboardPanel[] {
    const g = databaseSelector(m);
    return [
      { title: 'Writable nodes (primaries)', type: 'stat', targets: [
        { expr: `count(mysql_global_variables_read_only{${g}} == 0)`, legend: 'primaries' },
      ] },
      {
        title: 'Replicas replicating', type: 'stat',
        targets: [{
          expr: `count(mysql_slave_status_slave_sql_running{${g}} == 1 and mysql_slave_status_slave_io_running{${g}} == 1)`,
          legend: 'replicas',
        }],
      },
      {
        title: 'Semi-sync replicas of the primary', type: 'stat',
        targets: [{ expr: `max(mysql_global_status_rpl_semi_sync_master_clients{${g}})`, legend: 'acknowledging' }],
      },
      {
        title: 'Replica lag', type: 'timeseries', unit: 's',
        targets: [{ expr: `mysql_slave_status_seconds_behind_master{${g}}`, legend: '{{pod}}' }],
      },
      {
        title: 'Replication threads (1 running)', type: 'timeseries', targets: [
          { expr: `mysql_slave_status_slave_io_running{${g}}`, legend: '{{pod}} IO' },
          { expr: `mysql_slave_status_slave_sql_running{${g}}`, legend: '{{pod}} SQL' },
        ],
      },
    ];
  },
};
