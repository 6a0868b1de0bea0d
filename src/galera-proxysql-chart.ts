import { Chart, ChartProps, JsonPatch } from 'cdk8s';
import { Construct } from 'constructs';
import * as k8s from '../imports/k8s';
import { GaleraCluster, GaleraClusterProps } from './galera-cluster';
import { ProxySql, ProxySqlProps } from './proxysql';
import { Storage, StorageProps } from './storage';
import { Checker } from './validation';

export interface GaleraProxySqlChartProps extends ChartProps {
  /** Namespace of every namespaced object. @default 'galera' */
  readonly namespace?: string;
  /** Emit the Namespace object itself. @default true */
  readonly createNamespace?: boolean;
  /** Storage for the data volumes. @default - a 'microk8s-hostpath' StorageClass with reclaimPolicy Retain */
  readonly storage?: StorageProps;
  /** Galera cluster settings. @default - 3 nodes, see GaleraClusterProps */
  readonly galera?: Omit<GaleraClusterProps, 'namespace' | 'storageClassName'>;
  /** ProxySQL settings. @default - 3 replicas, see ProxySqlProps */
  readonly proxysql?: Omit<ProxySqlProps, 'galera'>;
}

/**
 * The whole deployment: a StorageClass (or an existing one), a Galera cluster and ProxySQL in
 * front of it, in one namespace. With no props it is the seed deployment.
 */
export class GaleraProxySqlChart extends Chart {
  public readonly storage: Storage;
  public readonly galera: GaleraCluster;
  public readonly proxysql: ProxySql;

  constructor(scope: Construct, id: string, props: GaleraProxySqlChartProps = {}) {
    const namespace = props.namespace ?? 'galera';
    const c = new Checker('chart');
    c.dnsLabel('namespace', namespace);
    c.check(props.createNamespace === undefined || typeof props.createNamespace === 'boolean',
      `createNamespace must be true or false, got ${JSON.stringify(props.createNamespace)}`);
    c.throwIfAny();
    super(scope, id, { ...props, namespace, disableResourceNameHashes: true });

    if (props.createNamespace ?? true) {
      const ns = new k8s.KubeNamespace(this, 'namespace', { metadata: { name: namespace, labels: { 'app.kubernetes.io/part-of': 'galera-proxysql' } } });
      // A Namespace is cluster-scoped; the chart's namespace would otherwise be stamped on it too.
      if (ns.metadata.namespace !== undefined) ns.addJsonPatch(JsonPatch.remove('/metadata/namespace'));
    }
    this.storage = new Storage(this, 'storage', props.storage);
    this.galera = new GaleraCluster(this, 'galera', { ...props.galera, namespace, storageClassName: this.storage.className });
    this.proxysql = new ProxySql(this, 'proxysql', { ...props.proxysql, galera: this.galera });
  }
}
