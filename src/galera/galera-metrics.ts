import {
  AlertRule, DashboardPanel, databaseSelector, MonitoredCluster, TopologyAlertOptions, TopologyMetrics,
} from '../monitoring/topology-metrics';
import { sourceFollowingRules } from '../monitoring/source-metrics';

/** The alerts and dashboard panels of a Galera cluster, on the exporter's wsrep series. @internal */
export const GALERA_METRICS: TopologyMetrics = {
  alertPrefix: 'Galera',
  groupPrefix: 'galera-proxysql',
  dashboardTitle: 'Galera',
  rules(m: MonitoredCluster, o: TopologyAlertOptions): AlertRule[] {
    const g = databaseSelector(m);
    return [
      {
        alert: 'GaleraNodeNotSynced',
        expr: `mysql_global_status_wsrep_local_state{${g}} != 4`,
        for: `${o.notSyncedMinutes}m`,
        labels: { severity: 'warning' },
        annotations: {
          summary: 'A Galera node is not Synced',
          description: `{{ $labels.pod }} has been in wsrep_local_state {{ $value }} (1 Joining, 2 Donor, 3 Joined, 4 Synced) `
            + `for ${o.notSyncedMinutes} minutes; it takes no clients meanwhile.`,
        },
      },
      {
        alert: 'GaleraClusterSizeBelowReplicas',
        expr: `max by (namespace) (mysql_global_status_wsrep_cluster_size{${g}}) < ${m.replicas}`
          + ` or absent(mysql_global_status_wsrep_cluster_size{${g}})`,
        for: '2m',
        labels: { severity: 'critical' },
        annotations: {
          summary: `The Galera cluster ${m.namespace}/${m.name} has fewer than ${m.replicas} members`,
          description: `The largest component counts {{ $value }} of ${m.replicas} nodes (no value: no node reports); `
            + `one more loss may stop the cluster.`,
        },
      },
      {
        alert: 'GaleraNodeNotPrimary',
        // the exporter maps wsrep_cluster_status Primary to 1, non-Primary and Disconnected to 0
        expr: `mysql_global_status_wsrep_cluster_status{${g}} != 1 or mysql_global_status_wsrep_ready{${g}} != 1`,
        for: '1m',
        labels: { severity: 'critical' },
        annotations: {
          summary: 'A Galera node is outside the Primary component',
          description: '{{ $labels.pod }} is non-Primary or not ready (wsrep_cluster_status or wsrep_ready); it refuses statements. '
            + 'It restarts itself into the election after nonPrimaryRestartSeconds.',
        },
      },
      {
        alert: 'GaleraFlowControlPaused',
        expr: `rate(mysql_global_status_wsrep_flow_control_paused_ns{${g}}[5m]) / 1e9 > ${o.flowControlPausedPercent / 100}`,
        for: '5m',
        labels: { severity: 'warning' },
        annotations: {
          summary: 'Flow control pauses Galera replication',
          description: `Flow control paused replication more than ${o.flowControlPausedPercent}% of the time over 5 minutes `
            + `on {{ $labels.pod }}: a slow node throttles every write of the cluster.`,
        },
      },
      ...(m.source ? sourceFollowingRules(m, 'Galera') : []),
    ];
  },
  panels(m: MonitoredCluster): DashboardPanel[] {
    const g = databaseSelector(m);
    return [
      { title: 'Cluster size', type: 'stat', targets: [{ expr: `max(mysql_global_status_wsrep_cluster_size{${g}})`, legend: 'members' }] },
      { title: 'Nodes Synced', type: 'stat', targets: [
        { expr: `count(mysql_global_status_wsrep_local_state{${g}} == 4)`, legend: 'Synced' },
      ] },
      {
        title: 'Nodes in the Primary component', type: 'stat',
        targets: [{ expr: `sum(mysql_global_status_wsrep_cluster_status{${g}})`, legend: 'Primary' }],
      },
      {
        title: 'wsrep local state (4 Synced, 2 Donor, 1 Joining)', type: 'timeseries',
        targets: [{ expr: `mysql_global_status_wsrep_local_state{${g}}`, legend: '{{pod}}' }],
      },
      {
        title: 'Flow control paused (share of time)', type: 'timeseries', unit: 'percentunit',
        targets: [{ expr: `rate(mysql_global_status_wsrep_flow_control_paused_ns{${g}}[5m]) / 1e9`, legend: '{{pod}}' }],
      },
      {
        title: 'Receive and send queues', type: 'timeseries', targets: [
          { expr: `mysql_global_status_wsrep_local_recv_queue{${g}}`, legend: '{{pod}} receive' },
          { expr: `mysql_global_status_wsrep_local_send_queue{${g}}`, legend: '{{pod}} send' },
        ],
      },
      {
        title: 'Certification failures per second', type: 'timeseries',
        targets: [{ expr: `rate(mysql_global_status_wsrep_local_cert_failures{${g}}[5m])`, legend: '{{pod}}' }],
      },
      {
        title: 'Write sets per second', type: 'timeseries', targets: [
          { expr: `rate(mysql_global_status_wsrep_replicated{${g}}[5m])`, legend: '{{pod}} replicated' },
          { expr: `rate(mysql_global_status_wsrep_received{${g}}[5m])`, legend: '{{pod}} received' },
        ],
      },
    ];
  },
};
