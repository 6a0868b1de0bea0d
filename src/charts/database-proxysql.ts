import { Construct } from 'constructs';
import { GALERA_BACKUP_KEYS, MariaDbBackup, MariaDbBackupProps, ResolvedGaleraBackup, resolveGaleraBackup } from '../backup/mariadb-backup';
import type { MariaDbCluster, MariaDbClusterProps, ResolvedMariaDbCluster } from '../core/mariadb-cluster';
import { chartNamespace, isImageReference, nameFromId, resolveImage } from '../core/pod';
import { guardUniqueNames } from '../core/unique-names';
import { DEFAULT_MYSQLD_EXPORTER_IMAGE } from '../monitoring/metrics-exporter';
import { MariaDbMonitoring, MONITORING_OPTION_KEYS, MonitoringProps, ResolvedMonitoringOptions, resolveMonitoringOptions } from '../monitoring/monitoring';
import {
  DEFAULT_SCRAPERS, MariaDbNetworkPolicies, NetworkPeer, NetworkPolicyProps, ResolvedNetworkPolicy, resolveNetworkPolicy, resolvePeers,
} from '../network/network-policy';
import { PROXYSQL_VALUE_KEYS, ProxySql, ProxySqlOptions, resolveProxySql, ResolvedProxySql } from '../proxysql/proxysql';
import type { IProxySqlRouting } from '../proxysql/routing';
import { ResolvedStorage, resolveStorage, Storage, StorageProps } from '../storage/storage';
import { Checker, isMapping, ValidationError } from '../values/validation';

/** The sections every deployment of a database behind ProxySQL has, whatever its topology. */
export interface DatabaseSections {
  /** Namespace of every namespaced object. @default - the namespace of the chart, else 'default' */
  readonly namespace?: string;
  /** Storage for the data volumes. @default - a 'microk8s-hostpath' StorageClass named '<database name>-microk8s-hostpath', reclaimPolicy Retain */
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

/** MariaDbBackupProps as a deployment takes them (the cluster is its own). */
export interface BackupOptions extends Omit<MariaDbBackupProps, 'cluster'> {
  /** Take scheduled backups (and run the backup endpoint in the database pods). @default false */
  readonly enabled?: boolean;
}

/** The sections of every deployment besides the topology's own. @internal */
export const DATABASE_SECTIONS = ['namespace', 'storage', 'proxysql', 'networkPolicy', 'backup', 'monitoring'] as const;
/** Database props the composition sets itself. */
const OWNED_DATABASE_KEYS = ['namespace', 'storageClassName', 'backupEndpoint', 'metrics'];
const MONITORING_KEYS = ['enabled', 'scrapers', 'exporterImage', ...MONITORING_OPTION_KEYS];

/** The monitoring section, resolved. @internal */
export interface ResolvedMonitoring extends ResolvedMonitoringOptions {
  readonly scrapers: NetworkPeer[];
  readonly exporterImage?: string;
}

/** What a topology gives the shared composition. @internal */
export interface DatabaseTopology<R extends ResolvedMariaDbCluster> {
  /** The values-file section of the database ('galera', 'replication'). */
  readonly section: string;
  /** The construct's class name, for messages. */
  readonly kind: string;
  /** Every key of the database's props. */
  readonly keys: readonly string[];
  /** ProxySQL's routing for it. */
  readonly routing: IProxySqlRouting;
  /** Resolves the database's props into `c`. */
  resolve(input: unknown, c: Checker, namespace: string, keys: readonly string[], defaultName: string): R;
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
 * whole configuration, each under the construct that owns it. The errors go into `checkers`.
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
  const storage = resolveStorage(p.storage, add(new Checker('Storage', 'storage.')), dbName);
  const dbChecker = add(new Checker(`${t.kind} '${dbName.slice(0, 60)}'`, `${t.section}.`));
  const backupEnabled = isMapping(p.backup) && p.backup.enabled === true;
  const monitoringEnabled = isMapping(p.monitoring) && p.monitoring.enabled === true;
  // backupEndpoint (with backup.enabled) and metrics (with monitoring.enabled) are set here; a user's own is an unknown key
  const userKeys = t.keys.filter((k) => !OWNED_DATABASE_KEYS.includes(k));
  for (const [on, key] of [[backupEnabled, 'backupEndpoint'], [monitoringEnabled, 'metrics']] as const) {
    if (on && isMapping(given) && key in given) dbChecker.add(`${t.section}.${key} is not a known setting; allowed here: ${userKeys.join(', ')}`);
  }
  const database = t.resolve(databasePropsOf(p, t.section, defaultName), dbChecker, namespace,
    [...userKeys, ...(backupEnabled ? ['backupEndpoint'] : []), ...(monitoringEnabled ? ['metrics'] : [])], defaultName);
  const proxyName = isMapping(p.proxysql) && typeof p.proxysql.name === 'string' ? p.proxysql.name : `${database.name}-proxysql`;
  const proxyChecker = add(new Checker(`ProxySql '${proxyName.slice(0, 60)}'`, 'proxysql.'));
  if (monitoringEnabled && isMapping(p.proxysql) && 'metrics' in p.proxysql) {
    proxyChecker.add(`proxysql.metrics is not a known setting; allowed here: ${PROXYSQL_VALUE_KEYS.join(', ')}`);
  }
  const proxysql = resolveProxySql(proxysqlPropsOf(p, monitoringEnabled), proxyChecker, { ...database, routing: t.routing },
    [...PROXYSQL_VALUE_KEYS, ...(monitoringEnabled ? ['metrics'] : [])]);
  const networkPolicy = resolveNetworkPolicy(add(new Checker('NetworkPolicy')), 'networkPolicy', p.networkPolicy);
  const backup = resolveBackupSection(p.backup, add(new Checker(t.subjects.backup, 'backup.')), database, t.section);
  const monitoring = resolveMonitoringSection(p.monitoring, add(new Checker(t.subjects.monitoring, 'monitoring.')));
  return { namespace, storage, database, proxysql, networkPolicy, backup, monitoring };
}

/** Throws one ValidationError with the problems of every checker, if any. @internal */
export function throwIfInvalid(checkers: Checker[]): void {
  const error = ValidationError.combine(checkers.map((c) => c.error()).filter((e): e is ValidationError => e !== undefined));
  if (error) throw error;
}

function resolveMonitoringSection(input: unknown, c: Checker): ResolvedMonitoring | undefined {
  if (input === undefined) return undefined;
  if (!isMapping(input)) {
    c.add(`monitoring must be a mapping of ${MONITORING_KEYS.join(', ')}, got ${JSON.stringify(input)}`);
    return undefined;
  }
  if (!c.knownKeys(input, MONITORING_KEYS)) return undefined;
  const m = input as MonitoringProps;
  if (!c.bool('enabled', m.enabled, false)) return undefined;
  return {
    ...resolveMonitoringOptions(c, m),
    scrapers: resolvePeers(c, 'scrapers', m.scrapers, DEFAULT_SCRAPERS),
    exporterImage: m.exporterImage === undefined ? undefined : resolveImage(c, 'exporterImage', m.exporterImage, DEFAULT_MYSQLD_EXPORTER_IMAGE),
  };
}

/** The ProxySQL section as the ProxySql construct gets it: metrics on when monitoring is. */
function proxysqlPropsOf(p: DatabaseSections, monitoringEnabled: boolean): unknown {
  if (!monitoringEnabled || (p.proxysql !== undefined && !isMapping(p.proxysql))) return p.proxysql;
  return { ...p.proxysql, metrics: true };
}

/**
 * The database section as the cluster gets it: the backup endpoint on when backups are, the
 * exporter when monitoring is, and a restoreFrom that names no source reads from the backup
 * destination.
 */
function databasePropsOf(p: DatabaseSections & Record<string, unknown>, section: string, defaultName: string): unknown {
  const given = p[section];
  if (given !== undefined && !isMapping(given)) return given;
  const g = { ...given } as Record<string, unknown>;
  if (isMapping(p.backup) && p.backup.enabled === true) g.backupEndpoint = true;
  if (isMapping(p.monitoring) && p.monitoring.enabled === true) {
    // a bad exporterImage is reported under monitoring.exporterImage, not again under <section>.metrics.image
    g.metrics = { enabled: true, ...(isImageReference(p.monitoring.exporterImage) ? { image: p.monitoring.exporterImage } : {}) };
  }
  const from = g.restoreFrom;
  if (isMapping(from) && from.volume === undefined && from.s3 === undefined && isMapping(p.backup)) {
    const d = isMapping(p.backup.destination) ? p.backup.destination : {};
    const name = typeof g.name === 'string' ? g.name : defaultName;
    g.restoreFrom = {
      ...from,
      ...(isMapping(d.s3) ? { s3: d.s3 } : { volume: { claimName: isMapping(d.volume) && typeof d.volume.claimName === 'string' ? d.volume.claimName : `${name}-backups` } }),
    };
  }
  return g;
}

function resolveBackupSection(input: unknown, c: Checker, database: ResolvedMariaDbCluster, section: string): ResolvedGaleraBackup | undefined {
  if (input === undefined) return undefined;
  const keys = ['enabled', ...GALERA_BACKUP_KEYS.filter((k) => k !== 'cluster')];
  if (!isMapping(input)) {
    c.add(`backup must be a mapping of ${keys.join(', ')}, got ${JSON.stringify(input)}`);
    return undefined;
  }
  const { enabled, ...rest } = input;
  if (!c.bool('enabled', enabled as boolean | undefined, false)) {
    c.knownKeys(input, keys); // a disabled section is still checked for typos
    return undefined;
  }
  c.check(database.tls.enabled, `backup needs ${section}.tls.enabled: true (the database pods know the backup job by its client certificate)`);
  return resolveGaleraBackup(rest, c, database, keys);
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
export function composeDatabase<R extends ResolvedMariaDbCluster>(scope: Construct, id: string, props: DatabaseSections & Record<string, unknown>,
  t: DatabaseTopology<R>, subject: string): ComposedDatabase {
  guardUniqueNames(scope);
  const checkers: Checker[] = [];
  const ns = new Checker(subject);
  checkers.push(ns);
  const namespace = ns.dnsLabel('namespace', props?.namespace, 63, chartNamespace(scope));
  const p = isMapping(props) ? props : {};
  const r = resolveDatabaseSections(p, namespace, nameFromId(id), checkers, t);
  throwIfInvalid(checkers);

  const storage = new Storage(scope, 'storage', 'existingClassName' in r.storage ? p.storage : { ...p.storage, className: r.storage.className });
  const cluster = t.build(scope, t.section, {
    ...databasePropsOf(p, t.section, r.database.name) as MariaDbClusterProps, name: r.database.name, namespace, storageClassName: storage.className,
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
