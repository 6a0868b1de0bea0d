import { AlertRule, databaseSelector, MonitoredCluster } from './topology-metrics';

/** The replication connection to an external source (scripts/common/source.sh, SOURCE_CONNECTION): the exporter's connection_name. */
export const SOURCE_CONNECTION = 'source';
/** How far behind its external source a following cluster may fall before the SourceFollowingLags alert. */
const SOURCE_LAG_SECONDS = 300;

/**
 * The alerts of a cluster that follows an external source, either topology (the source prop), on
 * the series of its connection 'source' (mysql_slave_status_*, on the node that follows only):
 * stopped on an error, the source unreadable, lagging. Alert names start with `prefix`. @internal
 */
export function sourceFollowingRules(m: MonitoredCluster, prefix: string): AlertRule[] {
  const s = `${databaseSelector(m)}, connection_name="${SOURCE_CONNECTION}"`;
  return [
    {
      alert: `${prefix}SourceFollowingStopped`,
      // the SQL thread of the connection to an external source stops on an error only: it waits for a human
      expr: `mysql_slave_status_slave_sql_running{${s}} == 0`,
      for: '1m',
      labels: { severity: 'critical' },
      annotations: {
        summary: `${m.namespace}/${m.name} no longer follows its external source`,
        description: '{{ $labels.pod }} stopped applying the source {{ $labels.master_host }} on an error: the cluster '
          + 'falls behind it and cannot be cut over (docs/migration.md, "When following stops").',
      },
    },
    {
      alert: `${prefix}SourceUnreachable`,
      expr: `mysql_slave_status_slave_io_running{${s}} == 0`,
      for: '5m',
      labels: { severity: 'warning' },
      annotations: {
        summary: `${m.namespace}/${m.name} cannot read its external source`,
        description: '{{ $labels.pod }} has not read the source {{ $labels.master_host }} for 5 minutes (it retries); '
          + 'the cluster falls behind it.',
      },
    },
    {
      alert: `${prefix}SourceFollowingLags`,
      expr: `mysql_slave_status_seconds_behind_master{${s}} > ${SOURCE_LAG_SECONDS}`,
      for: '10m',
      labels: { severity: 'warning' },
      annotations: {
        summary: `${m.namespace}/${m.name} lags behind its external source`,
        description: `{{ $labels.pod }} is {{ $value }} s behind the source {{ $labels.master_host }} (more than `
          + `${SOURCE_LAG_SECONDS} s); a cutover now waits that long, with the source read-only.`,
      },
    },
  ];
}
