import { Construct } from 'constructs';
import { MariaDbBackup, MariaDbBackupProps, ResolvedGaleraBackup, resolveGaleraBackup } from '../backup/mariadb-backup';
import type { MariaDbCluster, MariaDbClusterProps, ResolvedMariaDbCluster } from '../core/mariadb-cluster';
import { chartNamespace, nameFromId } from '../core/pod';
import { guardUniqueNames } from '../core/unique-names';
import { MariaDbMonitoring, MonitoringProps, ResolvedMonitoringOptions, resolveMonitoringOptions } from '../monitoring/monitoring';
import {
  DEFAULT_SCRAPERS, MariaDbNetworkPolicies, NetworkPolicyProps, ResolvedNetworkPolicy, resolveNetworkPolicy,
} from '../network/network-policy';
import { ProxySql, ProxySqlOptions, resolveProxySql, ResolvedProxySql } from '../proxysql/proxysql';
import type { IProxySqlRouting } from '../proxysql/routing';
import { ResolvedStorage, resolveStorage, Storage, StorageProps } from '../storage/storage';
import { checkProps } from '../values/schema';
import { Checker, isMapping, Resolved, ValidationError } from '../values/validation';
import type { DnsLabel } from '../values/formats';

/** The sections every deployment of a database behind ProxySQL has, whatever its topology. */
export interface DatabaseSections {
  /** Namespace of every namespaced object. @default - the namespace of the chart, else 'default' */
  readonly namespace?: DnsLabel;
  /**
   * Storage for the data volumes.
   * @default - a 'microk8s-hostpath' StorageClass named '<database name>-microk8s-hostpath', reclaimPolicy Retain
   */
  readonly storage?: StorageProps;
  /** ProxySQL settings. @default - 3 replicas, see ProxySqlProps */
  readonly proxysql?: ProxySqlOptions;
  /** NetworkPolicies around the database and ProxySQL. @default - on, see NetworkPolicyProps */
  readonly networkPolicy?: NetworkPolicyProps;
  /** Scheduled backups of the database. @default - none (see BackupOptions) */
  readonly backup?: BackupOptions;
  /** Prometheus metrics, alerts and a Grafana dashboard. @default - off (see MonitoringProps) */
  readonly monitoring?: MonitoringProps;
}

/**
 * The database props a deployment sets itself, so its database section has no such key: the
 * namespace, the StorageClass (the storage section's), the backup endpoint (backup.enabled) and
 * the metrics exporter (monitoring.enabled).
 */
export type ComposedDatabaseProps = 'namespace' | 'storageClassName' | 'backupEndpoint' | 'metrics';

/** MariaDbBackupProps as a deployment takes them (the cluster is its own). */
export interface BackupOptions extends Omit<MariaDbBackupProps, 'cluster'> {
  /** Take scheduled backups (and run the backup endpoint in the database pods). @default false */
  readonly enabled?: boolean;
}

/** The monitoring section, resolved. @internal */
export type ResolvedMonitoring = ResolvedMonitoringOptions & Resolved<Pick<MonitoringProps, 'scrapers' | 'exporterImage'>, 'exporterImage'>;

/** What a topology gives the shared composition. @internal */
export interface DatabaseTopology<R extends ResolvedMariaDbCluster> {
  /** The values-file section of the database ('galera', 'replication'). */
  readonly section: 'galera' | 'replication';
  /** The construct's class name, for messages. */
  readonly kind: string;
  /** The schema of the section (the database's props but ComposedDatabaseProps). */
  readonly schema: 'GaleraSection' | 'ReplicationSection';
  /** ProxySQL's routing for it. */
  readonly routing: IProxySqlRouting;
  /** Resolves the database's props (checked by their schema) into `c`. */
  resolve(props: MariaDbClusterProps, c: Checker, namespace: string, defaultName: string): R;
  /** Builds the database construct. */
  build(scope: Construct, id: string, props: MariaDbClusterProps): MariaDbCluster;
  /** Who reports a mistake in the backup and monitoring sections. */
  readonly subjects: { readonly backup: string; readonly monitoring: string };
}

/** Every section resolved. @internal */
export interface ResolvedDatabaseSections<R extends ResolvedMariaDbCluster> {
  readonly namespace: string;
  readonly storage: ResolvedStorage;
  readonly database: R;
  readonly proxysql: ResolvedProxySql;
  readonly networkPolicy: ResolvedNetworkPolicy;
  readonly backup?: ResolvedGaleraBackup;
  readonly monitoring?: ResolvedMonitoring;
}

/**
 * Resolves every section before anything is built, so that one run reports every mistake of the
 * whole configuration, each under the construct that owns it: first each section against its
 * schema, then the defaults and the rules between fields and sections. The errors go into `checkers`.
 * @internal
 */
export function resolveDatabaseSections<R extends ResolvedMariaDbCluster>(p: DatabaseSections & Record<string, unknown>, namespace: string,
  defaultName: string, checkers: Checker[], t: DatabaseTopology<R>): ResolvedDatabaseSections<R> {
  const add = (c: Checker) => {
    checkers.push(c);
    return c;
  };
  const given = p[t.section];
  const dbName = isMapping(given) && typeof given.name === 'string' ? given.name : defaultName;
  const proxyName = isMapping(p.proxysql) && typeof p.proxysql.name === 'string' ? p.proxysql.name : `${dbName}-proxysql`;
  const c = {
    storage: add(new Checker('Storage', 'storage.')),
    database: add(new Checker(`${t.kind} '${dbName.slice(0, 60)}'`, `${t.section}.`)),
    proxysql: add(new Checker(`ProxySql '${proxyName.slice(0, 60)}'`, 'proxysql.')),
    networkPolicy: add(new Checker('NetworkPolicy')),
    backup: add(new Checker(t.subjects.backup, 'backup.')),
    monitoring: add(new Checker(t.subjects.monitoring, 'monitoring.')),
  };
  const s = {
    storage: checkProps(c.storage, 'Storage', p.storage),
    database: checkProps(c.database, t.schema, given),
    proxysql: checkProps(c.proxysql, 'ProxySqlSection', p.proxysql),
    networkPolicy: checkProps(c.networkPolicy, 'NetworkPolicySection', p.networkPolicy, 'networkPolicy'),
    backup: checkProps(c.backup, 'BackupSection', p.backup),
    monitoring: checkProps(c.monitoring, 'MonitoringSection', p.monitoring),
  };
  const storage = resolveStorage(s.storage, c.storage, dbName);
  const databaseProps = databasePropsOf(s.database, isMapping(p.backup) ? s.backup : undefined, s.monitoring, defaultName);
  const database = t.resolve(databaseProps, c.database, namespace, defaultName);
  const proxysql = resolveProxySql({ ...s.proxysql, metrics: s.monitoring.enabled ?? false }, c.proxysql,
    { ...database, routing: t.routing });
  const networkPolicy = resolveNetworkPolicy(s.networkPolicy);
  let backup: ResolvedGaleraBackup | undefined;
  if (s.backup.enabled) {
    c.backup.check(database.tls.enabled,
      `backup needs ${t.section}.tls.enabled: true (the database pods know the backup job by its client certificate)`);
    backup = resolveGaleraBackup(s.backup, c.backup, database);
  }
  const m = s.monitoring;
  const monitoring = m.enabled
    ? { ...resolveMonitoringOptions(m), scrapers: m.scrapers ?? DEFAULT_SCRAPERS, exporterImage: m.exporterImage }
    : undefined;
  return { namespace, storage, database, proxysql, networkPolicy, backup, monitoring };
}

/** Throws one ValidationError with the problems of every checker, if any. @internal */
export function throwIfInvalid(checkers: Checker[]): void {
  const error = ValidationError.combine(checkers.map((c) => c.error()).filter((e): e is ValidationError => e !== undefined));
  if (error) throw error;
}

/**
 * The database section as the cluster gets it: the backup endpoint on when backups are, the
 * exporter when monitoring is, and a restoreFrom that names no source reads from the backup
 * destination.
 */
function databasePropsOf(section: object | undefined, backup: BackupOptions | undefined, monitoring: MonitoringProps | undefined,
  defaultName: string): MariaDbClusterProps {
  const g: { -readonly [K in keyof MariaDbClusterProps]: MariaDbClusterProps[K] } = { ...section };
  if (backup?.enabled) g.backupEndpoint = true;
  if (monitoring?.enabled) g.metrics = { enabled: true, ...(monitoring.exporterImage ? { image: monitoring.exporterImage } : {}) };
  const from = g.restoreFrom;
  if (from && from.volume === undefined && from.s3 === undefined && backup) {
    const d = backup.destination ?? {};
    const claimName = d.volume?.claimName ?? `${g.name ?? defaultName}-backups`;
    g.restoreFrom = { ...from, ...(d.s3 ? { s3: d.s3 } : { volume: { claimName } }) };
  }
  return g;
}

/** What a composed deployment is made of. @internal */
export interface ComposedDatabase {
  readonly namespace: string;
  readonly storage: Storage;
  readonly cluster: MariaDbCluster;
  readonly proxysql: ProxySql;
  readonly networkPolicies: MariaDbNetworkPolicies;
  readonly backup?: MariaDbBackup;
  readonly monitoring?: MariaDbMonitoring;
}

/**
 * Builds a database of topology `t` behind ProxySQL with everything wired into `scope`: its
 * StorageClass (or an existing one), NetworkPolicies that know every port the other parts expose,
 * and, when asked for, scheduled backups and monitoring. Every section is resolved first, so one
 * error names every mistake.
 * @internal
 */
export function composeDatabase<R extends ResolvedMariaDbCluster>(scope: Construct, id: string,
  props: DatabaseSections & Record<string, unknown>, t: DatabaseTopology<R>, subject: string): ComposedDatabase {
  guardUniqueNames(scope);
  const checkers: Checker[] = [];
  const ns = new Checker(subject);
  checkers.push(ns);
  const given = checkProps(ns, 'Chart', { namespace: isMapping(props) ? props.namespace : undefined }).namespace;
  const namespace = given ?? chartNamespace(scope);
  const p = isMapping(props) ? props : {};
  const r = resolveDatabaseSections(p, namespace, nameFromId(id), checkers, t);
  throwIfInvalid(checkers);

  const storage = new Storage(
    scope, 'storage', 'existingClassName' in r.storage ? p.storage : { ...p.storage, className: r.storage.className },
  );
  const cluster = t.build(scope, t.section, {
    ...databasePropsOf(p[t.section] as object | undefined, p.backup, p.monitoring, r.database.name), name: r.database.name, namespace,
    storageClassName: storage.className,
  });
  const proxysql = new ProxySql(scope, 'proxysql', { ...p.proxysql, backend: cluster, metrics: r.monitoring !== undefined });
  let backup: MariaDbBackup | undefined;
  if (r.backup) {
    const { enabled: _e, ...backupProps } = p.backup!;
    backup = new MariaDbBackup(scope, 'backup', { ...backupProps, cluster });
  }
  const networkPolicies = new MariaDbNetworkPolicies(scope, 'network-policies', {
    ...p.networkPolicy, cluster, proxysql, backup, scrapers: r.monitoring?.scrapers,
  });
  let monitoring: MariaDbMonitoring | undefined;
  if (r.monitoring) {
    const { enabled: _e, scrapers: _sc, exporterImage: _i, ...options } = p.monitoring!;
    monitoring = new MariaDbMonitoring(scope, 'monitoring', { ...options, cluster, proxysql, backup });
  }
  return { namespace, storage, cluster, proxysql, networkPolicies, backup, monitoring };
}
