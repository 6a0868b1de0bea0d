import { Construct } from 'constructs';
import { MARIADB_REPLICATION_KEYS, MariaDbReplication, MariaDbReplicationProps, resolveMariaDbReplication } from '../replication/mariadb-replication';
import { chartNamespace, nameFromId } from '../core/pod';
import { PROXYSQL_VALUE_KEYS, ProxySql, ProxySqlOptions, resolveProxySql } from '../proxysql/proxysql';
import { ResolvedStorage, resolveStorage, Storage, StorageProps } from '../storage/storage';
import { Checker, isMapping } from '../values/validation';
import { REPLICATION_ROUTING } from '../replication/replication-routing';
import { throwIfInvalid } from './galera-proxysql';
import { guardUniqueNames } from '../core/unique-names';

/** Props of ReplicationProxySql, one section per part. */
export interface ReplicationProxySqlProps {
  /** Namespace of every namespaced object. @default - the namespace of the chart, else 'default' */
  readonly namespace?: string;
  /** Storage for the data volumes. @default - a 'microk8s-hostpath' StorageClass named '<replication name>-microk8s-hostpath', reclaimPolicy Retain */
  readonly storage?: StorageProps;
  /** Primary/replica settings. @default - 3 nodes named after the construct id, see MariaDbReplicationProps */
  readonly replication?: Omit<MariaDbReplicationProps, 'namespace' | 'storageClassName'>;
  /** ProxySQL settings. @default - 3 replicas, see ProxySqlProps */
  readonly proxysql?: ProxySqlOptions;
}

/** The sections of ReplicationProxySqlProps. @internal */
export const REPLICATION_PROXYSQL_SECTIONS = ['namespace', 'storage', 'replication', 'proxysql'] as const;

/**
 * Resolves every section before anything is built; the errors go into `checkers`.
 * @internal
 */
export function resolveReplicationProxySqlSections(p: ReplicationProxySqlProps, namespace: string, defaultName: string,
  checkers: Checker[]): { storage: ResolvedStorage; name: string } {
  const add = (c: Checker) => {
    checkers.push(c);
    return c;
  };
  const name = isMapping(p.replication) && typeof p.replication.name === 'string' ? p.replication.name : defaultName;
  const storage = resolveStorage(p.storage, add(new Checker('Storage', 'storage.')), name);
  const dbChecker = add(new Checker(`MariaDbReplication '${name.slice(0, 60)}'`, 'replication.'));
  const userKeys = MARIADB_REPLICATION_KEYS.filter((k) => k !== 'namespace' && k !== 'storageClassName');
  const db = resolveMariaDbReplication(p.replication, dbChecker, namespace, userKeys, defaultName);
  const proxyName = isMapping(p.proxysql) && typeof p.proxysql.name === 'string' ? p.proxysql.name : `${db.name}-proxysql`;
  resolveProxySql(p.proxysql, add(new Checker(`ProxySql '${proxyName.slice(0, 60)}'`, 'proxysql.')), { replicas: db.replicas, name: db.name, routing: REPLICATION_ROUTING },
    PROXYSQL_VALUE_KEYS);
  return { storage, name: db.name };
}

/**
 * One primary with semi-synchronous replicas behind ProxySQL (routing by read_only), with its
 * StorageClass (or an existing one). A plain construct: it nests in any chart, and its objects
 * are named after its id (or `replication.name`).
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

  constructor(scope: Construct, id: string, props: ReplicationProxySqlProps = {}) {
    super(scope, id);
    guardUniqueNames(this);
    const c = new Checker('ReplicationProxySql');
    const checkers = [c];
    const namespace = c.dnsLabel('namespace', props?.namespace, 63, chartNamespace(this));
    const r = resolveReplicationProxySqlSections(isMapping(props) ? props : {}, namespace, nameFromId(id), checkers);
    throwIfInvalid(checkers);
    this.namespace = namespace;
    this.storage = new Storage(this, 'storage', 'existingClassName' in r.storage ? props.storage : { ...props.storage, className: r.storage.className });
    this.replication = new MariaDbReplication(this, 'replication', {
      ...props.replication, name: r.name, namespace, storageClassName: this.storage.className,
    });
    this.proxysql = new ProxySql(this, 'proxysql', { ...props.proxysql, backend: this.replication });
  }
}
