import { Chart, ChartProps } from 'cdk8s';
import { Construct } from 'constructs';
import { ClusterScopedNamespace, refuseOtherTopology, resolveChartNamespace } from './galera-proxysql-chart';
import { throwIfInvalid } from './galera-proxysql';
import { MariaDbReplication } from '../replication/mariadb-replication';
import { PART_OF } from '../core/pod';
import { ProxySql } from '../proxysql/proxysql';
import { ReplicationProxySql, ReplicationProxySqlProps, resolveReplicationProxySqlSections } from './replication-proxysql';
import { Storage } from '../storage/storage';
import { Checker, isMapping } from '../values/validation';

/** Props of ReplicationProxySqlChart: the sections of ReplicationProxySqlProps, the namespace and whether to emit it. */
export interface ReplicationProxySqlChartProps extends ReplicationProxySqlProps, Omit<ChartProps, 'namespace'> {
  /** Namespace of the chart: of every namespaced object in it, the ones added to it by the user included. @default 'mariadb' */
  readonly namespace?: string;
  /** Emit the Namespace object itself. @default true */
  readonly createNamespace?: boolean;
}

/** Sections built for the Galera topology only (refused here, each by name). */
const GALERA_ONLY_SECTIONS = ['galera', 'networkPolicy', 'backup', 'monitoring'] as const;
/** The sections a values file with `topology: replication` may have. @internal */
export const REPLICATION_CHART_SECTIONS = ['topology', 'namespace', 'createNamespace', 'storage', 'replication', 'proxysql'] as const;

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

  constructor(scope: Construct, id: string, props: ReplicationProxySqlChartProps = {}) {
    const p = (isMapping(props) ? props : {}) as ReplicationProxySqlChartProps;
    const chart = new Checker('chart');
    refuseOtherTopology(chart, p, 'replication');
    for (const section of GALERA_ONLY_SECTIONS) {
      chart.check((p as Record<string, unknown>)[section] === undefined,
        `${section} is built for topology 'galera' only; with topology 'replication' the sections are ${REPLICATION_CHART_SECTIONS.join(', ')} (see docs/replication.md, Limits)`);
    }
    const { namespace, createNamespace } = resolveChartNamespace(chart, p, 'mariadb');
    const checkers = [chart];
    resolveReplicationProxySqlSections(p, namespace, 'mariadb', checkers);
    throwIfInvalid(checkers);

    const { namespace: _ns, createNamespace: _cn, storage, replication, proxysql, ...chartProps } = p;
    for (const key of ['topology', ...GALERA_ONLY_SECTIONS]) delete (chartProps as Record<string, unknown>)[key];
    super(scope, id, { disableResourceNameHashes: true, ...chartProps, namespace });
    this.targetNamespace = namespace;
    if (createNamespace) new ClusterScopedNamespace(this, 'namespace', { metadata: { name: namespace, labels: { ...PART_OF } } });
    this.deployment = new ReplicationProxySql(this, 'mariadb', { storage, replication, proxysql });
    this.storage = this.deployment.storage;
    this.replication = this.deployment.replication;
    this.proxysql = this.deployment.proxysql;
  }
}
