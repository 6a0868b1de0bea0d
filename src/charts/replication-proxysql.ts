import { Construct } from 'constructs';
import type { MariaDbBackup } from '../backup/mariadb-backup';
import type { MariaDbMonitoring } from '../monitoring/monitoring';
import type { MariaDbNetworkPolicies } from '../network/network-policy';
import type { ProxySql } from '../proxysql/proxysql';
import {
  MariaDbReplication, MariaDbReplicationProps, ResolvedMariaDbReplication, resolveMariaDbReplication,
} from '../replication/mariadb-replication';
import { REPLICATION_ROUTING } from '../replication/replication-routing';
import type { Storage } from '../storage/storage';
import type { Checker } from '../values/validation';
import {
  ComposedDatabaseProps, composeDatabase, DatabaseSections, DatabaseTopology, resolveDatabaseSections, ResolvedDatabaseSections,
} from './database-proxysql';

/** MariaDbReplicationProps as the `replication` section of ReplicationProxySqlProps (and of a values file) takes them. */
export type ReplicationSection = Omit<MariaDbReplicationProps, ComposedDatabaseProps>;

/** Props of ReplicationProxySql, one section per part (the sections of a values file with `topology: replication`). */
export interface ReplicationProxySqlProps extends DatabaseSections {
  /** Primary/replica settings. @default - 3 nodes named after the construct id, see MariaDbReplicationProps */
  readonly replication?: ReplicationSection;
}

/** The primary/replica topology as the shared composition builds it. @internal */
export const REPLICATION_TOPOLOGY: DatabaseTopology<ResolvedMariaDbReplication> = {
  section: 'replication', kind: 'MariaDbReplication', schema: 'ReplicationSection', routing: REPLICATION_ROUTING,
  subjects: { backup: 'MariaDbBackup', monitoring: 'MariaDbMonitoring' },
  resolve: resolveMariaDbReplication,
  build: (scope, id, props) => new MariaDbReplication(scope, id, props),
};

/** Resolves every section before anything is built; the errors go into `checkers`. @internal */
export function resolveReplicationProxySqlSections(p: ReplicationProxySqlProps, namespace: string, defaultName: string,
  checkers: Checker[]): ResolvedDatabaseSections<ResolvedMariaDbReplication> {
  return resolveDatabaseSections(
    p as ReplicationProxySqlProps & Record<string, unknown>, namespace, defaultName, checkers, REPLICATION_TOPOLOGY,
  );
}

/**
 * One primary with semi-synchronous replicas behind ProxySQL (routing by read_only), wired as
 * GaleraProxySql wires a Galera cluster: its StorageClass (or an existing one), NetworkPolicies,
 * and, when asked for, scheduled backups and monitoring. A plain construct: it nests in any
 * chart, and its objects are named after its id (or `replication.name`).
 */
export class ReplicationProxySql extends Construct {
  /** The namespace of every namespaced object. */
  public readonly namespace: string;
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

  constructor(scope: Construct, id: string, props: ReplicationProxySqlProps = {}) {
    super(scope, id);
    const d = composeDatabase(
      this, id, props as ReplicationProxySqlProps & Record<string, unknown>, REPLICATION_TOPOLOGY, 'ReplicationProxySql',
    );
    this.namespace = d.namespace;
    this.storage = d.storage;
    this.replication = d.cluster as MariaDbReplication;
    this.proxysql = d.proxysql;
    this.networkPolicies = d.networkPolicies;
    this.backup = d.backup;
    this.monitoring = d.monitoring;
  }
}
