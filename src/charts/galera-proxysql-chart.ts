import { Chart, ChartProps } from 'cdk8s';
import { Construct } from 'constructs';
import * as k8s from '../../imports/k8s';
import { MariaDbBackup } from '../backup/mariadb-backup';
import { GaleraCluster } from '../galera/galera-cluster';
import { GaleraProxySql, GaleraProxySqlProps, resolveGaleraProxySqlSections } from './galera-proxysql';
import { throwIfInvalid } from './database-proxysql';
import { MariaDbMonitoring } from '../monitoring/monitoring';
import { MariaDbNetworkPolicies } from '../network/network-policy';
import { PART_OF } from '../core/pod';
import { ProxySql } from '../proxysql/proxysql';
import { Storage } from '../storage/storage';
import { Checker, isMapping } from '../values/validation';
import { checkProps } from '../values/schema';
import type { DnsLabel } from '../values/formats';

/** Props of GaleraProxySqlChart: the sections of GaleraProxySqlProps, the namespace and whether to emit it. */
export interface GaleraProxySqlChartProps extends GaleraProxySqlProps, Omit<ChartProps, 'namespace'> {
  /** Namespace of the chart: of every namespaced object in it, the ones added to it by the user included. @default 'galera' */
  readonly namespace?: DnsLabel;
  /** Emit the Namespace object itself. @default true */
  readonly createNamespace?: boolean;
}

/**
 * A Namespace is cluster-scoped: its manifest never carries a namespace of its own, even in a
 * namespaced chart (which gives every object the chart's).
 * @internal
 */
export class ClusterScopedNamespace extends k8s.KubeNamespace {
  public toJson(): Record<string, unknown> {
    const json = super.toJson();
    const { namespace: _namespace, ...metadata } = json.metadata ?? {};
    return { ...json, metadata };
  }
}

/** The chart-level settings both topologies' charts share: namespace and createNamespace. @internal */
export function resolveChartNamespace(
  c: Checker, p: { namespace?: string; createNamespace?: boolean }, dflt: string,
): { namespace: string; createNamespace: boolean } {
  const checked = checkProps(c, 'Chart', { namespace: p.namespace, createNamespace: p.createNamespace });
  return { namespace: checked.namespace ?? dflt, createNamespace: checked.createNamespace ?? true };
}

/**
 * Refuses a `topology` the chart does not build (a JavaScript caller or a values file passed as
 * props), naming the chart that does.
 * @internal
 */
export function refuseOtherTopology(c: Checker, props: object, own: 'galera' | 'replication'): void {
  const topology = (props as { topology?: unknown }).topology;
  if (topology === undefined || topology === own) return;
  const other = own === 'galera' ? 'replication' : 'galera';
  if (topology === other) {
    c.add(`topology '${other}' is not built by ${own === 'galera' ? 'GaleraProxySqlChart' : 'ReplicationProxySqlChart'}; `
      + `use ${other === 'galera' ? 'GaleraProxySqlChart' : 'ReplicationProxySqlChart'} (a values file picks it through synthesizeTo)`);
  } else {
    checkProps(c, 'ValuesFile', { topology });
  }
}

/**
 * The whole Galera deployment as a namespaced chart: the Namespace and a GaleraProxySql. Objects
 * a user adds to the chart land in its namespace too. With no props it is the seed deployment.
 */
export class GaleraProxySqlChart extends Chart {
  /** The namespace of every namespaced object of the chart. */
  public readonly targetNamespace: string;
  /** Everything the chart deploys, wired together. */
  public readonly deployment: GaleraProxySql;
  /** The StorageClass of the data volumes (or the existing one). */
  public readonly storage: Storage;
  /** The Galera cluster. */
  public readonly galera: GaleraCluster;
  /** ProxySQL in front of it. */
  public readonly proxysql: ProxySql;
  /** The NetworkPolicies (none emitted when networkPolicy.enabled is false). */
  public readonly networkPolicies: MariaDbNetworkPolicies;
  /** Scheduled backups, when backup.enabled is set. */
  public readonly backup?: MariaDbBackup;
  /** PodMonitors, alerts and dashboard, when monitoring.enabled is set. */
  public readonly monitoring?: MariaDbMonitoring;

  constructor(scope: Construct, id: string, props: GaleraProxySqlChartProps = {}) {
    // Every mistake of the whole configuration in one error, before anything is built.
    const p = (isMapping(props) ? props : {}) as GaleraProxySqlChartProps;
    const chart = new Checker('chart');
    refuseOtherTopology(chart, p, 'galera');
    chart.check((p as { replication?: unknown }).replication === undefined,
      'replication is the section of topology \'replication\'; set topology: replication, or remove it');
    const { namespace, createNamespace } = resolveChartNamespace(chart, p, 'galera');
    const checkers = [chart];
    resolveGaleraProxySqlSections(p, namespace, 'galera', checkers);
    throwIfInvalid(checkers);

    const { namespace: _ns, createNamespace: _cn, storage, galera, proxysql, networkPolicy, backup, monitoring, ...chartProps } = p;
    delete (chartProps as { topology?: unknown }).topology;
    super(scope, id, { disableResourceNameHashes: true, ...chartProps, namespace });
    this.targetNamespace = namespace;
    if (createNamespace) new ClusterScopedNamespace(this, 'namespace', { metadata: { name: namespace, labels: { ...PART_OF } } });
    this.deployment = new GaleraProxySql(this, 'galera', { storage, galera, proxysql, networkPolicy, backup, monitoring });
    this.storage = this.deployment.storage;
    this.galera = this.deployment.galera;
    this.proxysql = this.deployment.proxysql;
    this.networkPolicies = this.deployment.networkPolicies;
    this.backup = this.deployment.backup;
    this.monitoring = this.deployment.monitoring;
  }
}
