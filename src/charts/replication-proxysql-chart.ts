import { Chart, ChartProps } from 'cdk8s';
import { Construct } from 'constructs';
import { ClusterScopedNamespace, refuseOtherTopology, resolveChartNamespace } from './galera-proxysql-chart';
import { throwIfInvalid } from './database-proxysql';
import type { MariaDbBackup } from '../backup/mariadb-backup';
import type { MariaDbMonitoring } from '../monitoring/monitoring';
import type { MariaDbNetworkPolicies } from '../network/network-policy';
import { MariaDbReplication } from '../replication/mariadb-replication';
import { PART_OF } from '../core/pod';
import { ProxySql } from '../proxysql/proxysql';
import { ReplicationProxySql, ReplicationProxySqlProps, resolveReplicationProxySqlSections } from './replication-proxysql';
import { Storage } from '../storage/storage';
import { schemaKeys } from '../values/schema';
import { Checker, isMapping } from '../values/validation';
import type { DnsLabel } from '../values/formats';

/** Props of ReplicationProxySqlChart: the sections of ReplicationProxySqlProps, the namespace and whether to emit it. */
export interface ReplicationProxySqlChartProps extends ReplicationProxySqlProps, Omit<ChartProps, 'namespace'> {
  /** Namespace of the chart: of every namespaced object in it, the ones added to it by the user included. @default 'mariadb' */
  readonly namespace?: DnsLabel;
  /** Emit the Namespace object itself. @default true */
  readonly createNamespace?: boolean;
}

/** The sections a values file with `topology: replication` may have. @internal */
export const REPLICATION_CHART_SECTIONS: readonly string[] = schemaKeys('ValuesFile').filter((k) => k !== 'galera');

/**
 * The primary/replica deployment as a namespaced chart (`topology: replication` in a values
 * file): the Namespace and a ReplicationProxySql.
 */
export class ReplicationProxySqlChart extends Chart {
  /** The namespace of every namespaced object of the chart. */
  public readonly targetNamespace: string;
  /** Everything the chart deploys, wired together. */
  public readonly deployment: ReplicationProxySql;
  /** The StorageClass of the data volumes (or the existing one). */
  public readonly storage: Storage;
  /** The primary and its replicas. */
  public readonly replication: MariaDbReplication;
  /** ProxySQL in front of them. */
  public readonly proxysql: ProxySql;
  /** The NetworkPolicies (none emitted when networkPolicy.enabled is false). */
  public readonly networkPolicies: MariaDbNetworkPolicies;
  /** Scheduled backups, when backup.enabled is set. */
  public readonly backup?: MariaDbBackup;
  /** PodMonitors, alerts and dashboard, when monitoring.enabled is set. */
  public readonly monitoring?: MariaDbMonitoring;

  constructor(scope: Construct, id: string, props: ReplicationProxySqlChartProps = {}) {
    const p = (isMapping(props) ? props : {}) as ReplicationProxySqlChartProps;
    const chart = new Checker('chart');
    refuseOtherTopology(chart, p, 'replication');
    chart.check((p as { galera?: unknown }).galera === undefined,
      `galera is the section of topology 'galera'; with topology 'replication' the sections are ${REPLICATION_CHART_SECTIONS.join(', ')}`);
    const { namespace, createNamespace } = resolveChartNamespace(chart, p, 'mariadb');
    const checkers = [chart];
    resolveReplicationProxySqlSections(p, namespace, 'mariadb', checkers);
    throwIfInvalid(checkers);

    const { namespace: _ns, createNamespace: _cn, storage, replication, proxysql, networkPolicy, backup, monitoring, ...chartProps } = p;
    for (const key of ['topology', 'galera']) delete (chartProps as Record<string, unknown>)[key];
    super(scope, id, { disableResourceNameHashes: true, ...chartProps, namespace });
    this.targetNamespace = namespace;
    if (createNamespace) new ClusterScopedNamespace(this, 'namespace', { metadata: { name: namespace, labels: { ...PART_OF } } });
    this.deployment = new ReplicationProxySql(this, 'mariadb', { storage, replication, proxysql, networkPolicy, backup, monitoring });
    this.storage = this.deployment.storage;
    this.replication = this.deployment.replication;
    this.proxysql = this.deployment.proxysql;
    this.networkPolicies = this.deployment.networkPolicies;
    this.backup = this.deployment.backup;
    this.monitoring = this.deployment.monitoring;
  }
}
