import { Construct } from 'constructs';
import { GALERA_BACKUP_KEYS, GaleraBackup, GaleraBackupProps, ResolvedGaleraBackup, resolveGaleraBackup } from '../backup/galera-backup';
import { GALERA_CLUSTER_KEYS, GaleraCluster, GaleraClusterProps, resolveGaleraCluster, ResolvedGaleraCluster } from '../galera/galera-cluster';
import { DEFAULT_MYSQLD_EXPORTER_IMAGE } from '../monitoring/metrics-exporter';
import { GALERA_ROUTING } from '../galera/galera-routing';
import { GaleraMonitoring, MONITORING_OPTION_KEYS, MonitoringProps, ResolvedMonitoringOptions, resolveMonitoringOptions } from '../monitoring/monitoring';
import { DEFAULT_SCRAPERS, GaleraNetworkPolicies, NetworkPeer, NetworkPolicyProps, ResolvedNetworkPolicy, resolveNetworkPolicy, resolvePeers } from '../network/network-policy';
import { chartNamespace, isImageReference, nameFromId, resolveImage } from '../core/pod';
import { PROXYSQL_VALUE_KEYS, ProxySql, ProxySqlOptions, resolveProxySql, ResolvedProxySql } from '../proxysql/proxysql';
import { ResolvedStorage, resolveStorage, Storage, StorageProps } from '../storage/storage';
import { Checker, isMapping, ValidationError } from '../values/validation';
import { guardUniqueNames } from '../core/unique-names';

/** Props of GaleraProxySql, one section per part (the sections of a values file). */
export interface GaleraProxySqlProps {
  /** Namespace of every namespaced object. @default - the namespace of the chart, else 'default' */
  readonly namespace?: string;
  /** Storage for the data volumes. @default - a 'microk8s-hostpath' StorageClass named '<galera name>-microk8s-hostpath', reclaimPolicy Retain */
  readonly storage?: StorageProps;
  /** Galera cluster settings. @default - 3 nodes named after the construct id, see GaleraClusterProps */
  readonly galera?: Omit<GaleraClusterProps, 'namespace' | 'storageClassName'>;
  /** ProxySQL settings. @default - 3 replicas, see ProxySqlProps */
  readonly proxysql?: ProxySqlOptions;
  /** NetworkPolicies around both. @default - on, see NetworkPolicyProps */
  readonly networkPolicy?: NetworkPolicyProps;
  /** Scheduled backups of the Galera cluster. @default - none (see BackupOptions) */
  readonly backup?: BackupOptions;
  /** Prometheus metrics, alerts and a Grafana dashboard. @default - off (see MonitoringProps) */
  readonly monitoring?: MonitoringProps;
}

/** GaleraBackupProps as GaleraProxySql takes them (the cluster is its own). */
export interface BackupOptions extends Omit<GaleraBackupProps, 'cluster'> {
  /** Take scheduled backups (and run the backup endpoint in the Galera pods). @default false */
  readonly enabled?: boolean;
}

/** The sections of GaleraProxySqlProps. @internal */
export const GALERA_PROXYSQL_SECTIONS = ['namespace', 'storage', 'galera', 'proxysql', 'networkPolicy', 'backup', 'monitoring'] as const;
/** GaleraClusterProps the composition sets itself. */
const OWNED_GALERA_KEYS = ['namespace', 'storageClassName', 'backupEndpoint', 'metrics'];
const MONITORING_KEYS = ['enabled', 'scrapers', 'exporterImage', ...MONITORING_OPTION_KEYS];

/** The monitoring section, resolved. @internal */
export interface ResolvedMonitoring extends ResolvedMonitoringOptions {
  readonly scrapers: NetworkPeer[];
  readonly exporterImage?: string;
}

/** GaleraProxySqlProps with every section resolved. @internal */
export interface ResolvedGaleraProxySql {
  readonly namespace: string;
  readonly storage: ResolvedStorage;
  readonly galera: ResolvedGaleraCluster;
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
export function resolveGaleraProxySqlSections(p: GaleraProxySqlProps, namespace: string, defaultName: string, checkers: Checker[]): ResolvedGaleraProxySql {
  const add = (c: Checker) => {
    checkers.push(c);
    return c;
  };
  const galeraName = isMapping(p.galera) && typeof p.galera.name === 'string' ? p.galera.name : defaultName;
  const storage = resolveStorage(p.storage, add(new Checker('Storage', 'storage.')), galeraName);
  const galeraChecker = add(new Checker(`GaleraCluster '${galeraName.slice(0, 60)}'`, 'galera.'));
  const backupEnabled = isMapping(p.backup) && p.backup.enabled === true;
  const monitoringEnabled = isMapping(p.monitoring) && p.monitoring.enabled === true;
  // backupEndpoint (with backup.enabled) and metrics (with monitoring.enabled) are set here; a user's own is an unknown key
  const userGaleraKeys = GALERA_CLUSTER_KEYS.filter((k) => !OWNED_GALERA_KEYS.includes(k));
  for (const [on, key] of [[backupEnabled, 'backupEndpoint'], [monitoringEnabled, 'metrics']] as const) {
    if (on && isMapping(p.galera) && key in p.galera) galeraChecker.add(`galera.${key} is not a known setting; allowed here: ${userGaleraKeys.join(', ')}`);
  }
  const galera = resolveGaleraCluster(galeraPropsOf(p, defaultName), galeraChecker, namespace,
    [...userGaleraKeys, ...(backupEnabled ? ['backupEndpoint'] : []), ...(monitoringEnabled ? ['metrics'] : [])], defaultName);
  const proxyName = isMapping(p.proxysql) && typeof p.proxysql.name === 'string' ? p.proxysql.name : `${galera.name}-proxysql`;
  const proxyChecker = add(new Checker(`ProxySql '${proxyName.slice(0, 60)}'`, 'proxysql.'));
  if (monitoringEnabled && isMapping(p.proxysql) && 'metrics' in p.proxysql) proxyChecker.add(`proxysql.metrics is not a known setting; allowed here: ${PROXYSQL_VALUE_KEYS.join(', ')}`);
  const proxysql = resolveProxySql(proxysqlPropsOf(p, monitoringEnabled), proxyChecker, { ...galera, routing: GALERA_ROUTING }, [...PROXYSQL_VALUE_KEYS, ...(monitoringEnabled ? ['metrics'] : [])]);
  const networkPolicy = resolveNetworkPolicy(add(new Checker('NetworkPolicy')), 'networkPolicy', p.networkPolicy);
  const backup = resolveBackupSection(p.backup, add(new Checker('GaleraBackup', 'backup.')), galera);
  const monitoring = resolveMonitoringSection(p.monitoring, add(new Checker('GaleraMonitoring', 'monitoring.')));
  return { namespace, storage, galera, proxysql, networkPolicy, backup, monitoring };
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
function proxysqlPropsOf(p: GaleraProxySqlProps, monitoringEnabled: boolean): unknown {
  if (!monitoringEnabled || (p.proxysql !== undefined && !isMapping(p.proxysql))) return p.proxysql;
  return { ...p.proxysql, metrics: true };
}

/**
 * The Galera section as the cluster gets it: the backup endpoint on when backups are, and a
 * restoreFrom that names no source reads from the backup destination.
 */
function galeraPropsOf(p: GaleraProxySqlProps, defaultName: string): unknown {
  if (p.galera !== undefined && !isMapping(p.galera)) return p.galera;
  const g = { ...p.galera } as Record<string, unknown>;
  if (isMapping(p.backup) && p.backup.enabled === true) g.backupEndpoint = true;
  if (isMapping(p.monitoring) && p.monitoring.enabled === true) {
    // a bad exporterImage is reported under monitoring.exporterImage, not again under galera.metrics.image
    g.metrics = { enabled: true, ...(isImageReference(p.monitoring.exporterImage) ? { image: p.monitoring.exporterImage } : {}) };
  }
  const from = g.restoreFrom;
  if (isMapping(from) && from.volume === undefined && from.s3 === undefined && isMapping(p.backup)) {
    const d = isMapping(p.backup.destination) ? p.backup.destination : {};
    const name = typeof g.name === 'string' ? g.name : defaultName;
    g.restoreFrom = { ...from, ...(isMapping(d.s3) ? { s3: d.s3 } : { volume: { claimName: isMapping(d.volume) && typeof d.volume.claimName === 'string' ? d.volume.claimName : `${name}-backups` } }) };
  }
  return g;
}

function resolveBackupSection(input: unknown, c: Checker, galera: ResolvedGaleraCluster): ResolvedGaleraBackup | undefined {
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
  c.check(galera.tls.enabled, 'backup needs galera.tls.enabled: true (the Galera pods know the backup job by its client certificate)');
  return resolveGaleraBackup(rest, c, galera, keys);
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
  public readonly networkPolicies: GaleraNetworkPolicies;
  /** Scheduled backups, when backup.enabled is set. */
  public readonly backup?: GaleraBackup;
  /** PodMonitors, alerts and dashboard, when monitoring.enabled is set. */
  public readonly monitoring?: GaleraMonitoring;

  constructor(scope: Construct, id: string, props: GaleraProxySqlProps = {}) {
    super(scope, id);
    guardUniqueNames(this);
    const checkers: Checker[] = [];
    const namespace = new Checker('GaleraProxySql');
    checkers.push(namespace);
    const ns = namespace.dnsLabel('namespace', props?.namespace, 63, chartNamespace(this));
    const r = resolveGaleraProxySqlSections(isMapping(props) ? props : {}, ns, nameFromId(id), checkers);
    throwIfInvalid(checkers);
    this.namespace = r.namespace;

    this.storage = new Storage(this, 'storage', 'existingClassName' in r.storage ? props.storage : { ...props.storage, className: r.storage.className });
    this.galera = new GaleraCluster(this, 'galera', {
      ...galeraPropsOf(props, r.galera.name) as GaleraClusterProps, name: r.galera.name, namespace: r.namespace, storageClassName: this.storage.className,
    });
    this.proxysql = new ProxySql(this, 'proxysql', { ...props.proxysql, backend: this.galera, metrics: r.monitoring !== undefined });
    if (r.backup) {
      const { enabled: _e, ...backupProps } = props.backup!;
      this.backup = new GaleraBackup(this, 'backup', { ...backupProps, cluster: this.galera });
    }
    this.networkPolicies = new GaleraNetworkPolicies(this, 'network-policies', {
      ...props.networkPolicy, galera: this.galera, proxysql: this.proxysql, backup: this.backup, scrapers: r.monitoring?.scrapers,
    });
    if (r.monitoring) {
      const { enabled: _e, scrapers: _sc, exporterImage: _i, ...options } = props.monitoring!;
      this.monitoring = new GaleraMonitoring(this, 'monitoring', { ...options, cluster: this.galera, proxysql: this.proxysql, backup: this.backup });
    }
  }
}
