import { Construct } from 'constructs';
import type { MariaDbBackup } from '../backup/mariadb-backup';
import { GaleraCluster, GaleraClusterProps, ResolvedGaleraCluster, resolveGaleraCluster } from '../galera/galera-cluster';
import { GALERA_ROUTING } from '../galera/galera-routing';
import type { MariaDbMonitoring } from '../monitoring/monitoring';
import type { MariaDbNetworkPolicies } from '../network/network-policy';
import type { ProxySql } from '../proxysql/proxysql';
import type { Storage } from '../storage/storage';
import type { Checker } from '../values/validation';
import {
  ComposedDatabaseProps, composeDatabase, DatabaseSections, DatabaseTopology, resolveDatabaseSections, ResolvedDatabaseSections,
} from './database-proxysql';

export type { BackupOptions, ComposedDatabaseProps } from './database-proxysql';

/** GaleraClusterProps as the `galera` section of GaleraProxySqlProps (and of a values file) takes them. */
export type GaleraSection = Omit<GaleraClusterProps, ComposedDatabaseProps>;

/** Props of GaleraProxySql, one section per part (the sections of a values file). */
export interface GaleraProxySqlProps extends DatabaseSections {
  /** Galera cluster settings. @default - 3 nodes named after the construct id, see GaleraClusterProps */
  readonly galera?: GaleraSection;
}

/** The Galera topology as the shared composition builds it. @internal */
export const GALERA_TOPOLOGY: DatabaseTopology<ResolvedGaleraCluster> = {
  section: 'galera', kind: 'GaleraCluster', schema: 'GaleraSection', routing: GALERA_ROUTING,
  subjects: { backup: 'GaleraBackup', monitoring: 'GaleraMonitoring' },
  resolve: resolveGaleraCluster,
  build: (scope, id, props) => new GaleraCluster(scope, id, props),
};

/** GaleraProxySqlProps with every section resolved. @internal */
export type ResolvedGaleraProxySql = ResolvedDatabaseSections<ResolvedGaleraCluster>;

/** Resolves every section before anything is built; the errors go into `checkers`. @internal */
export function resolveGaleraProxySqlSections(
  p: GaleraProxySqlProps, namespace: string, defaultName: string, checkers: Checker[],
): ResolvedGaleraProxySql {
  return resolveDatabaseSections(p as GaleraProxySqlProps & Record<string, unknown>, namespace, defaultName, checkers, GALERA_TOPOLOGY);
}

/**
 * A Galera cluster behind ProxySQL with everything wired: its StorageClass (or an existing one),
 * NetworkPolicies that know every port the other parts expose, and, when asked for, scheduled
 * backups and monitoring. A plain construct: it nests in any chart, and its objects are named
 * after its id (or `galera.name`), so several fit in one namespace.
 */
export class GaleraProxySql extends Construct {
  /** The namespace of every namespaced object. */
  public readonly namespace: string;
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

  constructor(scope: Construct, id: string, props: GaleraProxySqlProps = {}) {
    super(scope, id);
    const d = composeDatabase(this, id, props as GaleraProxySqlProps & Record<string, unknown>, GALERA_TOPOLOGY, 'GaleraProxySql');
    this.namespace = d.namespace;
    this.storage = d.storage;
    this.galera = d.cluster as GaleraCluster;
    this.proxysql = d.proxysql;
    this.networkPolicies = d.networkPolicies;
    this.backup = d.backup;
    this.monitoring = d.monitoring;
  }
}
