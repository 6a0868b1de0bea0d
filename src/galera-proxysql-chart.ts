import { Chart, ChartProps } from 'cdk8s';
import { Construct } from 'constructs';
import * as k8s from '../imports/k8s';
import { GALERA_CLUSTER_KEYS, GaleraCluster, GaleraClusterProps, resolveGaleraCluster, ResolvedGaleraCluster } from './galera-cluster';
import { PART_OF } from './pod';
import { PROXYSQL_VALUE_KEYS, ProxySql, ProxySqlOptions, resolveProxySql, ResolvedProxySql } from './proxysql';
import { ResolvedStorage, resolveStorage, Storage, StorageProps } from './storage';
import { Checker, isMapping, ValidationError } from './validation';

export interface GaleraProxySqlChartProps extends Omit<ChartProps, 'namespace'> {
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
}

/** The sections of the chart (and of a values file). */
export const CHART_SECTIONS = ['namespace', 'createNamespace', 'storage', 'galera', 'proxysql'] as const;
/** GaleraClusterProps the chart sets itself. */
const CHART_OWNED_GALERA_KEYS = ['namespace', 'storageClassName'];

/** The chart's props with every section resolved. @internal */
export interface ResolvedChart {
  readonly namespace: string;
  readonly createNamespace: boolean;
  readonly storage: ResolvedStorage;
  readonly galera: ResolvedGaleraCluster;
  readonly proxysql: ResolvedProxySql;
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
  const storageChecker = new Checker('Storage', 'storage.');
  const storage = resolveStorage(p.storage, storageChecker);
  const galeraName = isMapping(p.galera) && typeof p.galera.name === 'string' ? p.galera.name : 'galera';
  const galeraChecker = new Checker(`GaleraCluster '${galeraName.slice(0, 60)}'`, 'galera.');
  const galera = resolveGaleraCluster(p.galera, galeraChecker, namespace, GALERA_CLUSTER_KEYS.filter((k) => !CHART_OWNED_GALERA_KEYS.includes(k)));
  const proxyName = isMapping(p.proxysql) && typeof p.proxysql.name === 'string' ? p.proxysql.name : `${galera.name}-proxysql`;
  const proxyChecker = new Checker(`ProxySql '${proxyName.slice(0, 60)}'`, 'proxysql.');
  const proxysql = resolveProxySql(p.proxysql, proxyChecker, galera, PROXYSQL_VALUE_KEYS);
  const error = ValidationError.combine([chart, storageChecker, galeraChecker, proxyChecker]
    .map((c) => c.error()).filter((e): e is ValidationError => e !== undefined));
  if (error) throw error;
  return { namespace, createNamespace, storage, galera, proxysql };
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

  constructor(scope: Construct, id: string, props: GaleraProxySqlChartProps = {}) {
    const r = resolveChart(props);
    // Not a namespaced chart: each construct puts its namespaced objects into r.namespace itself,
    // and the cluster-scoped ones (Namespace, StorageClass) never get one.
    const { namespace: _ns, createNamespace: _cn, storage: _s, galera: _g, proxysql: _p, ...chartProps } = props;
    super(scope, id, { ...chartProps, disableResourceNameHashes: true });
    this.targetNamespace = r.namespace;

    if (r.createNamespace) new k8s.KubeNamespace(this, 'namespace', { metadata: { name: r.namespace, labels: { ...PART_OF } } });
    this.storage = new Storage(this, 'storage', props.storage);
    this.galera = new GaleraCluster(this, 'galera', { ...props.galera, namespace: r.namespace, storageClassName: this.storage.className });
    this.proxysql = new ProxySql(this, 'proxysql', { ...props.proxysql, backend: this.galera });
  }
}
