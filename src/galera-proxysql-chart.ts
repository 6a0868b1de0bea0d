import { Chart, ChartProps } from 'cdk8s';
import { Construct } from 'constructs';
import * as k8s from '../imports/k8s';
import { GALERA_BACKUP_KEYS, GaleraBackup, GaleraBackupProps, ResolvedGaleraBackup, resolveGaleraBackup } from './galera-backup';
import { DEFAULT_MYSQLD_EXPORTER_IMAGE, GALERA_CLUSTER_KEYS, GaleraCluster, GaleraClusterProps, resolveGaleraCluster, ResolvedGaleraCluster } from './galera-cluster';
import type { MariaDbReplicationProps } from './mariadb-replication';
import { isImageReference, PART_OF, resolveImage } from './pod';
import {
  DEFAULT_SCRAPERS, GaleraMonitoring, METRICS_PORTS, MONITORING_OPTION_KEYS, MonitoringProps, ResolvedMonitoringOptions, resolveMonitoringOptions,
} from './monitoring';
import { GaleraNetworkPolicies, NetworkPeer, NetworkPolicyProps, ResolvedNetworkPolicy, resolveNetworkPolicy, resolvePeers } from './network-policy';
import { PROXYSQL_VALUE_KEYS, ProxySql, ProxySqlOptions, resolveProxySql, ResolvedProxySql } from './proxysql';
import { ResolvedStorage, resolveStorage, Storage, StorageProps } from './storage';
import { Checker, isMapping, ValidationError } from './validation';

export interface GaleraProxySqlChartProps extends Omit<ChartProps, 'namespace'> {
  /**
   * The database topology: a Galera cluster, or one primary with semi-synchronous replicas
   * (ReplicationProxySqlChart; synthesizeTo picks the chart). @default 'galera'
   */
  readonly topology?: ChartTopology;
  /** Primary/replica settings, with topology 'replication'. @default - 3 nodes, see MariaDbReplicationProps */
  readonly replication?: Omit<MariaDbReplicationProps, 'namespace' | 'storageClassName'>;
  /** Namespace of every namespaced object. @default 'galera' */
  readonly namespace?: string;
  /** Emit the Namespace object itself. @default true */
  readonly createNamespace?: boolean;
  /** Storage for the data volumes. @default - a 'microk8s-hostpath' StorageClass with reclaimPolicy Retain */
  readonly storage?: StorageProps;
  /** Galera cluster settings. @default - 3 nodes, see GaleraClusterProps */
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

/** GaleraBackupProps as the chart takes them (the cluster is the chart's). */
export interface BackupOptions extends Omit<GaleraBackupProps, 'cluster'> {
  /** Take scheduled backups (and run the backup endpoint in the Galera pods). @default false */
  readonly enabled?: boolean;
}

/** The sections of the chart (and of a values file). */
export const CHART_SECTIONS = ['topology', 'namespace', 'createNamespace', 'storage', 'galera', 'replication', 'proxysql', 'networkPolicy', 'backup', 'monitoring'] as const;
/** The database topologies a values file chooses between. */
export const CHART_TOPOLOGIES = ['galera', 'replication'] as const;
export type ChartTopology = typeof CHART_TOPOLOGIES[number];
/** GaleraClusterProps the chart sets itself. */
const CHART_OWNED_GALERA_KEYS = ['namespace', 'storageClassName', 'backupEndpoint', 'metrics'];
const MONITORING_KEYS = ['enabled', 'scrapers', 'exporterImage', ...MONITORING_OPTION_KEYS];

/** The monitoring section, resolved. @internal */
export interface ResolvedMonitoring extends ResolvedMonitoringOptions {
  readonly scrapers: NetworkPeer[];
  readonly exporterImage?: string;
}

/** The chart's props with every section resolved. @internal */
export interface ResolvedChart {
  readonly namespace: string;
  readonly createNamespace: boolean;
  readonly storage: ResolvedStorage;
  readonly galera: ResolvedGaleraCluster;
  readonly proxysql: ResolvedProxySql;
  readonly networkPolicy: ResolvedNetworkPolicy;
  readonly backup?: ResolvedGaleraBackup;
  readonly monitoring?: ResolvedMonitoring;
}

/**
 * Resolves every section before anything is built, so that one run reports every mistake of
 * the whole configuration, each under the construct that owns it.
 * @internal
 */
export function resolveChart(input: unknown): ResolvedChart {
  const chart = new Checker('chart');
  const p = (isMapping(input) ? input : {}) as GaleraProxySqlChartProps;
  const namespace = chart.dnsLabel('namespace', p.namespace, 63, 'galera');
  const createNamespace = chart.bool('createNamespace', p.createNamespace, true);
  chart.oneOf('topology', p.topology, CHART_TOPOLOGIES, 'galera');
  chart.check(p.replication === undefined || p.topology !== 'galera' && p.topology !== undefined,
    'replication is the section of topology \'replication\'; set topology: replication, or remove it');
  const storageChecker = new Checker('Storage', 'storage.');
  const storage = resolveStorage(p.storage, storageChecker);
  const galeraName = isMapping(p.galera) && typeof p.galera.name === 'string' ? p.galera.name : 'galera';
  const galeraChecker = new Checker(`GaleraCluster '${galeraName.slice(0, 60)}'`, 'galera.');
  const backupEnabled = isMapping(p.backup) && p.backup.enabled === true;
  const monitoringEnabled = isMapping(p.monitoring) && p.monitoring.enabled === true;
  const galeraProps = galeraPropsOf(p, backupEnabled);
  // the chart sets backupEndpoint (with backup.enabled) and metrics (with monitoring.enabled) itself; a user's own is an unknown key
  const userGaleraKeys = GALERA_CLUSTER_KEYS.filter((k) => !CHART_OWNED_GALERA_KEYS.includes(k));
  for (const [on, key] of [[backupEnabled, 'backupEndpoint'], [monitoringEnabled, 'metrics']] as const) {
    if (on && isMapping(p.galera) && key in p.galera) galeraChecker.add(`galera.${key} is not a known setting; allowed here: ${userGaleraKeys.join(', ')}`);
  }
  const galera = resolveGaleraCluster(galeraProps, galeraChecker, namespace,
    [...userGaleraKeys, ...(backupEnabled ? ['backupEndpoint'] : []), ...(monitoringEnabled ? ['metrics'] : [])]);
  const proxyName = isMapping(p.proxysql) && typeof p.proxysql.name === 'string' ? p.proxysql.name : `${galera.name}-proxysql`;
  const proxyChecker = new Checker(`ProxySql '${proxyName.slice(0, 60)}'`, 'proxysql.');
  if (monitoringEnabled && isMapping(p.proxysql) && 'metrics' in p.proxysql) proxyChecker.add(`proxysql.metrics is not a known setting; allowed here: ${PROXYSQL_VALUE_KEYS.join(', ')}`);
  const proxysql = resolveProxySql(proxysqlPropsOf(p, monitoringEnabled), proxyChecker, galera, [...PROXYSQL_VALUE_KEYS, ...(monitoringEnabled ? ['metrics'] : [])]);
  const policyChecker = new Checker('NetworkPolicy');
  const networkPolicy = resolveNetworkPolicy(policyChecker, 'networkPolicy', p.networkPolicy);
  const backupChecker = new Checker('GaleraBackup', 'backup.');
  const backup = resolveBackupSection(p.backup, backupChecker, galera);
  const monitoringChecker = new Checker('GaleraMonitoring', 'monitoring.');
  const monitoring = resolveMonitoringSection(p.monitoring, monitoringChecker);
  const error = ValidationError.combine([chart, storageChecker, galeraChecker, proxyChecker, policyChecker, backupChecker, monitoringChecker]
    .map((c) => c.error()).filter((e): e is ValidationError => e !== undefined));
  if (error) throw error;
  return { namespace, createNamespace, storage, galera, proxysql, networkPolicy, backup, monitoring };
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
function proxysqlPropsOf(p: GaleraProxySqlChartProps, monitoringEnabled: boolean): unknown {
  if (!monitoringEnabled || (p.proxysql !== undefined && !isMapping(p.proxysql))) return p.proxysql;
  return { ...p.proxysql, metrics: true };
}

/**
 * The Galera section as the cluster gets it: the backup endpoint on when backups are, and a
 * restoreFrom that names no source reads from the backup destination.
 */
function galeraPropsOf(p: GaleraProxySqlChartProps, backupEnabled: boolean): unknown {
  if (p.galera !== undefined && !isMapping(p.galera)) return p.galera;
  const g = { ...p.galera } as Record<string, unknown>;
  if (backupEnabled) g.backupEndpoint = true;
  if (isMapping(p.monitoring) && p.monitoring.enabled === true) {
    // a bad exporterImage is reported under monitoring.exporterImage, not again under galera.metrics.image
    g.metrics = { enabled: true, ...(isImageReference(p.monitoring.exporterImage) ? { image: p.monitoring.exporterImage } : {}) };
  }
  const from = g.restoreFrom;
  if (isMapping(from) && from.volume === undefined && from.s3 === undefined && isMapping(p.backup)) {
    const d = isMapping(p.backup.destination) ? p.backup.destination : {};
    const name = typeof g.name === 'string' ? g.name : 'galera';
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
 * The whole deployment: a StorageClass (or an existing one), a Galera cluster and ProxySQL in
 * front of it, in one namespace. With no props it is the seed deployment.
 */
export class GaleraProxySqlChart extends Chart {
  /** The namespace of every namespaced object of the chart. */
  public readonly targetNamespace: string;
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

  constructor(scope: Construct, id: string, props: GaleraProxySqlChartProps = {}) {
    const r = resolveChart(props);
    // Not a namespaced chart: each construct puts its namespaced objects into r.namespace itself,
    // and the cluster-scoped ones (Namespace, StorageClass) never get one.
    const { topology: _t, replication: _r, namespace: _ns, createNamespace: _cn, storage: _s, galera: _g, proxysql: _p, networkPolicy: _np, backup: _b, monitoring: _m, ...chartProps } = props;
    super(scope, id, { ...chartProps, disableResourceNameHashes: true });
    this.targetNamespace = r.namespace;

    if (r.createNamespace) new k8s.KubeNamespace(this, 'namespace', { metadata: { name: r.namespace, labels: { ...PART_OF } } });
    this.storage = new Storage(this, 'storage', props.storage);
    const galeraProps = galeraPropsOf(props, r.backup !== undefined) as GaleraClusterProps;
    this.galera = new GaleraCluster(this, 'galera', { ...galeraProps, namespace: r.namespace, storageClassName: this.storage.className });
    this.proxysql = new ProxySql(this, 'proxysql', { ...props.proxysql, backend: this.galera, metrics: r.monitoring !== undefined });
    if (r.backup) {
      const { enabled: _e, ...backupProps } = props.backup!;
      this.backup = new GaleraBackup(this, 'backup', { ...backupProps, cluster: this.galera });
    }
    this.networkPolicies = new GaleraNetworkPolicies(this, 'network-policies', {
      ...props.networkPolicy, galera: this.galera, proxysql: this.proxysql,
      jobs: this.backup ? { selectorLabels: this.backup.selectorLabels, ports: this.backup.ports } : undefined,
      restoreBucketPort: this.galera.restoreBucketPort,
      metrics: r.monitoring ? { from: r.monitoring.scrapers, galeraPort: METRICS_PORTS.galera, proxysqlPort: METRICS_PORTS.proxysql } : undefined,
    });
    if (r.monitoring) {
      const { enabled: _e, scrapers: _sc, exporterImage: _i, ...options } = props.monitoring!;
      this.monitoring = new GaleraMonitoring(this, 'monitoring', { ...options, cluster: this.galera, proxysql: this.proxysql, backup: this.backup });
    }
  }
}
