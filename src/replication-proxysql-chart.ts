import { Chart } from 'cdk8s';
import { Construct } from 'constructs';
import * as k8s from '../imports/k8s';
import type { GaleraProxySqlChartProps } from './galera-proxysql-chart';
import { MARIADB_REPLICATION_KEYS, MariaDbReplication, MariaDbReplicationProps, resolveMariaDbReplication } from './mariadb-replication';
import { PART_OF } from './pod';
import { PROXYSQL_VALUE_KEYS, ProxySql, resolveProxySql } from './proxysql';
import { resolveStorage, Storage } from './storage';
import { Checker, isMapping, ValidationError } from './validation';

/** The sections a values file with `topology: replication` may have. */
export const REPLICATION_CHART_SECTIONS = ['topology', 'namespace', 'createNamespace', 'storage', 'replication', 'proxysql'] as const;
/** Sections built for the Galera topology only (refused with `topology: replication`). */
const GALERA_ONLY_SECTIONS = ['galera', 'networkPolicy', 'backup', 'monitoring'] as const;

/**
 * Checks every section before anything is built, so one run reports every mistake.
 * @internal
 */
export function resolveReplicationChart(p: GaleraProxySqlChartProps): { namespace: string; createNamespace: boolean } {
  const chart = new Checker('chart');
  for (const section of GALERA_ONLY_SECTIONS) {
    chart.check(p[section] === undefined,
      `${section} is built for topology 'galera' only; with topology 'replication' the sections are ${REPLICATION_CHART_SECTIONS.join(', ')} (see docs/replication.md, Limits)`);
  }
  const namespace = chart.dnsLabel('namespace', p.namespace, 63, 'mariadb');
  const createNamespace = chart.bool('createNamespace', p.createNamespace, true);
  const storageChecker = new Checker('Storage', 'storage.');
  resolveStorage(p.storage, storageChecker);
  const name = isMapping(p.replication) && typeof p.replication.name === 'string' ? p.replication.name : 'mariadb';
  const dbChecker = new Checker(`MariaDbReplication '${name.slice(0, 60)}'`, 'replication.');
  const userKeys = MARIADB_REPLICATION_KEYS.filter((k) => k !== 'namespace' && k !== 'storageClassName');
  const db = resolveMariaDbReplication(p.replication, dbChecker, namespace, userKeys);
  const proxyName = isMapping(p.proxysql) && typeof p.proxysql.name === 'string' ? p.proxysql.name : `${db.name}-proxysql`;
  const proxyChecker = new Checker(`ProxySql '${proxyName.slice(0, 60)}'`, 'proxysql.');
  resolveProxySql(p.proxysql, proxyChecker, { replicas: db.replicas, name: db.name }, PROXYSQL_VALUE_KEYS);
  const error = ValidationError.combine([chart, storageChecker, dbChecker, proxyChecker].map((c) => c.error()).filter((e): e is ValidationError => e !== undefined));
  if (error) throw error;
  return { namespace, createNamespace };
}

/**
 * The primary/replica deployment (`topology: replication` in a values file): a StorageClass (or
 * an existing one), a MariaDbReplication and ProxySQL in front of it, routing by read_only.
 */
export class ReplicationProxySqlChart extends Chart {
  /** The namespace of every namespaced object of the chart. */
  public readonly targetNamespace: string;
  /** The StorageClass of the data volumes (or the existing one). */
  public readonly storage: Storage;
  /** The primary and its replicas. */
  public readonly replication: MariaDbReplication;
  /** ProxySQL in front of them. */
  public readonly proxysql: ProxySql;

  constructor(scope: Construct, id: string, props: GaleraProxySqlChartProps = {}) {
    const r = resolveReplicationChart(props);
    super(scope, id, { disableResourceNameHashes: true });
    this.targetNamespace = r.namespace;
    if (r.createNamespace) new k8s.KubeNamespace(this, 'namespace', { metadata: { name: r.namespace, labels: { ...PART_OF } } });
    this.storage = new Storage(this, 'storage', props.storage);
    this.replication = new MariaDbReplication(this, 'replication', {
      ...(props.replication as MariaDbReplicationProps), namespace: r.namespace, storageClassName: this.storage.className,
    });
    this.proxysql = new ProxySql(this, 'proxysql', { ...props.proxysql, backend: this.replication });
  }
}
