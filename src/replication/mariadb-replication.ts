import { Construct } from 'constructs';
import * as k8s from '../../imports/k8s';
import { BackendTls, BackendTopology, DataVolumes, DEFAULT_SERVER_VERSION, IMariaDbCluster, serverVersionForImage } from '../core/backend';
import { bytesOfMyCnfSize, COMMON_OWNED_OPTIONS, OwnedServerOptions, resolveExtraMyCnf } from '../galera/galera-config';
import { DEFAULT_MARIADB_IMAGE } from '../galera/galera-cluster';
import {
  ANTI_AFFINITY_MODES, AntiAffinityMode, chartNamespace, container, ContainerResources, emptyDir, execProbe, PART_OF, podDisruptionBudget,
  nameFromId, podTemplate, PULL_POLICIES, PullPolicy, resolveImage, resolveName, resolveResources, ResolvedResources,
} from '../core/pod';
import { readScript } from '../core/scripts';
import { commonNodeScripts, envEntries, NODE_PATHS, sharedNodeEnv } from '../core/node-env';
import { Checker, isMapping, quantityValue, resolveOrThrow, show } from '../values/validation';
import { guardUniqueNames } from '../core/unique-names';
import { PodPeer } from '../core/pod-peer';

/** What a primary does when no replica acknowledges a transaction within the semi-sync timeout. */
export type NoReplicaAck = 'block' | 'async';
/** Every NoReplicaAck mode. */
export const NO_REPLICA_ACK_MODES: readonly NoReplicaAck[] = ['block', 'async'];

/** Ports of a primary/replica pod. */
export const REPLICATION_PORTS = { mysql: 3306, clone: 4444, state: 4569 } as const;

/** Paths inside a primary/replica pod: those of every MariaDB pod. @internal */
export const REPLICATION_PATHS = NODE_PATHS;

/** Props of MariaDbReplication; every field is optional, and a values file sets them under `replication`. */
export interface MariaDbReplicationProps {
  /** Name of the StatefulSet, the headless Service and the prefix of every object. @default - the construct id in kebab case */
  readonly name?: string;
  /** Namespace of every object. @default - the namespace of the chart, else 'default' */
  readonly namespace?: string;
  /** Number of nodes (one primary, the rest replicas): odd and at least 3, so a majority can elect a new primary. @default 3 */
  readonly replicas?: number;
  /** Allow an even number or fewer than 3 nodes (tests, development). @default false */
  readonly allowUnsafeReplicaCount?: boolean;
  /** Container image; the scripts need only what the official image ships. @default 'docker.io/library/mariadb:10.11.19' */
  readonly image?: string;
  /** Image pull policy. @default 'IfNotPresent' */
  readonly imagePullPolicy?: PullPolicy;
  /** Size of each node's data volume. @default '10Gi' */
  readonly storageSize?: string;
  /** StorageClass of the data volumes. @default - the cluster's default class */
  readonly storageClassName?: string;
  /** Resources of the MariaDB container. @default - 500m CPU and 1Gi memory requested, 2Gi memory limit, no CPU limit */
  readonly resources?: ContainerResources;
  /** `innodb_buffer_pool_size`. @default '512M' */
  readonly innodbBufferPoolSize?: string;
  /** `max_connections`. @default 500 */
  readonly maxConnections?: number;
  /** Extra lines appended to the `[mysqld]` section of the server configuration; the options the construct and its scripts set (REPLICATION_OWNED_OPTIONS) are refused. @default - none */
  readonly extraMyCnf?: string[];
  /** Name of the Secret holding the passwords. @default '<name>-credentials' */
  readonly secretName?: string;
  /** Application account created with the cluster. @default 'app' */
  readonly appUser?: string;
  /** Database the application account owns. @default 'app' */
  readonly appDatabase?: string;
  /** Pod anti-affinity on the node hostname. @default 'preferred' */
  readonly antiAffinity?: AntiAffinityMode;
  /** Kubernetes cluster DNS domain. @default 'cluster.local' */
  readonly clusterDomain?: string;
  /** Seconds the primary may stay unreachable before the replicas elect a new one. @default 30 */
  readonly failoverSeconds?: number;
  /** Seconds a primary that reaches no majority keeps accepting writes before it fences itself; below failoverSeconds. @default 15 */
  readonly fenceSeconds?: number;
  /** A replica is ready while its lag stays at most this many seconds. @default 30 */
  readonly maxLagSeconds?: number;
  /**
   * When no replica acknowledges a transaction: 'block' (the commit waits until one does; an
   * acknowledged write is always on a replica) or 'async' (after semiSyncTimeoutSeconds the
   * primary acknowledges without one, and a failover may lose those writes). @default 'block'
   */
  readonly noReplicaAck?: NoReplicaAck;
  /** With noReplicaAck 'async': seconds a commit waits for a replica before the primary falls back to asynchronous replication. @default 10 */
  readonly semiSyncTimeoutSeconds?: number;
  /** Seconds Kubernetes waits for a pod to stop. @default 60 */
  readonly terminationGracePeriodSeconds?: number;
}

/** Every prop of MariaDbReplicationProps (the compiler keeps this list complete). @internal */
export const MARIADB_REPLICATION_KEYS = Object.keys({
  name: 0, namespace: 0, replicas: 0, allowUnsafeReplicaCount: 0, image: 0, imagePullPolicy: 0, storageSize: 0, storageClassName: 0, resources: 0,
  innodbBufferPoolSize: 0, maxConnections: 0, extraMyCnf: 0, secretName: 0, appUser: 0, appDatabase: 0, antiAffinity: 0, clusterDomain: 0,
  failoverSeconds: 0, fenceSeconds: 0, maxLagSeconds: 0, noReplicaAck: 0, semiSyncTimeoutSeconds: 0, terminationGracePeriodSeconds: 0,
} satisfies Record<keyof MariaDbReplicationProps, 0>);

/** MariaDbReplicationProps with every default applied and every value checked. @internal */
export interface ResolvedMariaDbReplication {
  readonly name: string;
  readonly namespace: string;
  readonly replicas: number;
  readonly image: string;
  readonly imagePullPolicy: PullPolicy;
  readonly storageSize: string;
  readonly storageClassName?: string;
  readonly resources: ResolvedResources;
  readonly innodbBufferPoolSize: string;
  readonly maxConnections: number;
  readonly extraMyCnf: string[];
  readonly secretName: string;
  readonly appUser: string;
  readonly appDatabase: string;
  readonly antiAffinity: AntiAffinityMode;
  readonly clusterDomain: string;
  readonly failoverSeconds: number;
  readonly fenceSeconds: number;
  readonly maxLagSeconds: number;
  readonly noReplicaAck: NoReplicaAck;
  readonly semiSyncTimeoutSeconds: number;
  readonly terminationGracePeriodSeconds: number;
}

const RESERVED_USERS = ['root', 'repl', 'monitor', 'mysql', 'mariadb.sys'];

/** Checks MariaDbReplicationProps and applies the defaults, reporting every problem into `c`. @internal */
export function resolveMariaDbReplication(input: unknown, c: Checker, defaultNamespace: string,
  keys: readonly string[] = MARIADB_REPLICATION_KEYS, defaultName = 'mariadb'): ResolvedMariaDbReplication {
  if (input !== undefined && !isMapping(input)) c.add(`${c.section} must be a mapping of ${keys.join(', ')}, got ${show(input)}`);
  const p = (c.knownKeys(input, keys) ? input : {}) as MariaDbReplicationProps;
  const name = resolveName(c, p.name, defaultName, 40);
  const unsafe = c.bool('allowUnsafeReplicaCount', p.allowUnsafeReplicaCount, false);
  const replicas = c.int('replicas', p.replicas, 1, 99, 3);
  if (typeof p.replicas === 'number' && Number.isInteger(p.replicas) && p.replicas >= 1 && !unsafe && (p.replicas < 3 || p.replicas % 2 === 0)) {
    c.add(`${c.f('replicas')} must be odd and at least 3 (3, 5, 7, ...), got ${p.replicas}: a failover needs a majority of the nodes, `
      + 'and with an even count a partition into equal halves elects nobody; set allowUnsafeReplicaCount to override');
  }
  const resources = resolveResources(c, 'resources', p.resources, { cpuRequest: '500m', memoryRequest: '1Gi', memoryLimit: '2Gi' },
    { bytes: 256 * 2 ** 20, label: '256Mi', what: 'MariaDB' });
  const innodbBufferPoolSize = c.pattern('innodbBufferPoolSize', p.innodbBufferPoolSize, /^[0-9]+[KMG]?$/,
    "a byte size with an optional K, M or G suffix, such as '512M' or '4G'", '512M');
  c.check(!(bytesOfMyCnfSize(innodbBufferPoolSize) >= quantityValue(resources.memoryLimit)),
    `${c.f('innodbBufferPoolSize')} (${innodbBufferPoolSize}) must be smaller than ${c.f('resources.memoryLimit')} (${resources.memoryLimit}), or the server is OOM-killed`);
  const failoverSeconds = c.int('failoverSeconds', p.failoverSeconds, 5, 3600, 30);
  const fenceSeconds = c.int('fenceSeconds', p.fenceSeconds, 2, 3600, Math.min(15, Math.floor(failoverSeconds / 2)));
  c.check(fenceSeconds < failoverSeconds,
    `${c.f('fenceSeconds')} (${fenceSeconds}) must be below ${c.f('failoverSeconds')} (${failoverSeconds}): a cut-off primary must stop writing before a new one is elected`);
  const appUser = c.pattern('appUser', p.appUser, /^[a-zA-Z_][a-zA-Z0-9_]{0,31}$/, 'a MariaDB user name of letters, digits and _ (at most 32 characters)', 'app');
  c.check(!RESERVED_USERS.includes(appUser), `${c.f('appUser')} must not be one of the reserved accounts ${RESERVED_USERS.join(', ')}, got '${appUser}'`);
  return {
    name,
    namespace: c.dnsLabel('namespace', p.namespace, 63, defaultNamespace),
    replicas,
    image: resolveImage(c, 'image', p.image, DEFAULT_MARIADB_IMAGE),
    imagePullPolicy: c.oneOf('imagePullPolicy', p.imagePullPolicy, PULL_POLICIES, 'IfNotPresent'),
    storageSize: c.quantity('storageSize', p.storageSize, '10Gi'),
    storageClassName: c.dnsSubdomain('storageClassName', p.storageClassName),
    resources,
    innodbBufferPoolSize,
    maxConnections: c.int('maxConnections', p.maxConnections, 10, 100000, 500),
    extraMyCnf: resolveExtraMyCnf(c, 'extraMyCnf', p.extraMyCnf, REPLICATION_OWNED_OPTIONS),
    secretName: c.dnsSubdomain('secretName', p.secretName, `${name}-credentials`),
    appUser,
    appDatabase: c.pattern('appDatabase', p.appDatabase, /^[a-zA-Z_][a-zA-Z0-9_]{0,63}$/, 'a database name of letters, digits and _ (at most 64 characters)', 'app'),
    antiAffinity: c.oneOf('antiAffinity', p.antiAffinity, ANTI_AFFINITY_MODES, 'preferred'),
    clusterDomain: c.pattern('clusterDomain', p.clusterDomain, /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'a DNS domain such as cluster.local', 'cluster.local'),
    failoverSeconds,
    fenceSeconds,
    maxLagSeconds: c.int('maxLagSeconds', p.maxLagSeconds, 1, 86400, 30),
    noReplicaAck: c.oneOf('noReplicaAck', p.noReplicaAck, NO_REPLICA_ACK_MODES, 'block'),
    semiSyncTimeoutSeconds: c.int('semiSyncTimeoutSeconds', p.semiSyncTimeoutSeconds, 1, 3600, 10),
    terminationGracePeriodSeconds: c.int('terminationGracePeriodSeconds', p.terminationGracePeriodSeconds, 10, 3600, 60),
  };
}

/**
 * Options of the primary/replica node's [mysqld] section that the construct (renderReplicationMyCnf)
 * or the scripts (repl-init.sh, repl-start.sh) set; extraMyCnf may not. Its own list: Galera's
 * wsrep and TLS options mean nothing here, and the binlog, GTID, semi-sync and role settings
 * decide who may write and whether a failover loses acknowledged commits.
 */
export const REPLICATION_OWNED_OPTIONS: OwnedServerOptions = {
  ...COMMON_OWNED_OPTIONS,
  sync_binlog: 'the construct (1: an acknowledged commit is in the binlog on disk)',
  log_bin: 'the construct (every node binlogs, so any replica can become the primary)',
  log_slave_updates: 'the construct (replicas binlog what they apply)',
  log_replica_updates: 'the construct (log_slave_updates)',
  gtid_domain_id: 'the construct (replicas follow the primary by GTID)',
  gtid_strict_mode: 'the construct (an errant transaction stops replication instead of diverging)',
  gtid_slave_pos: 'repl-start.sh',
  relay_log: 'the construct',
  relay_log_recovery: 'the construct',
  read_only: 'repl-start.sh (the node scripts give each node its role; only the primary writes)',
  skip_slave_start: 'the construct (repl-start.sh starts replication once it knows the primary)',
  skip_replica_start: 'the construct (skip_slave_start)',
  slave_net_timeout: 'the construct (how soon a replica notices that its primary is gone)',
  rpl_semi_sync_master_enabled: 'repl-start.sh (only the primary waits for acknowledgements)',
  rpl_semi_sync_slave_enabled: 'repl-start.sh',
  rpl_semi_sync_master_wait_point: 'the construct (AFTER_SYNC: lossless failover)',
  rpl_semi_sync_master_wait_no_slave: 'the construct',
  rpl_semi_sync_master_timeout: 'the construct; use noReplicaAck and semiSyncTimeoutSeconds',
  server_id: 'repl-init.sh (1 + the ordinal)',
  report_host: 'repl-init.sh (the pod DNS name)',
};

const SCRIPTS = ['repl-lib.sh', 'repl-election.sh', 'repl-init.sh', 'repl-start.sh', 'repl-state.sh', 'repl-clone.sh', 'repl-probe.sh', 'repl-switchover.sh'];
/** The semi-sync timeout of 'block': about 49 days, so a commit waits for a replica rather than being acknowledged without one. */
const BLOCK_TIMEOUT_MS = 2 ** 32 - 1;

/** The shared server configuration; repl-init.sh adds server_id and report_host. @internal */
export function renderReplicationMyCnf(r: ResolvedMariaDbReplication): string {
  return [
    '# Rendered by the MariaDbReplication construct; repl-init.sh adds the node-specific settings.',
    '[mysqld]',
    `datadir=${REPLICATION_PATHS.data}`,
    `socket=${REPLICATION_PATHS.socketDir}/mysqld.sock`,
    `pid-file=${REPLICATION_PATHS.socketDir}/mysqld.pid`,
    `tmpdir=${REPLICATION_PATHS.tmp}`,
    `port=${REPLICATION_PORTS.mysql}`,
    'bind-address=0.0.0.0',
    'skip-name-resolve',
    'character-set-server=utf8mb4',
    'collation-server=utf8mb4_general_ci',
    'default_storage_engine=InnoDB',
    `innodb_buffer_pool_size=${r.innodbBufferPoolSize}`,
    `max_connections=${r.maxConnections}`,
    // Every acknowledged commit is on disk, binlog included, so a crash never rolls one back.
    'innodb_flush_log_at_trx_commit=1',
    'sync_binlog=1',
    'log_bin=mysql-bin',
    'binlog_format=ROW',
    // Replicas binlog what they apply, so any of them can become the primary and the others follow it by GTID.
    'log_slave_updates=ON',
    'gtid_domain_id=0',
    'gtid_strict_mode=ON',
    'relay_log=relay-bin',
    'relay_log_recovery=ON',
    // Every node starts read-only and without replication; repl-start.sh gives it its role.
    'read_only=ON',
    'skip_slave_start=ON',
    'slave_net_timeout=5',
    // Only the primary waits for acknowledgements (repl-start.sh turns it on there): a replica
    // applying its primary's events must never wait for replicas of its own.
    'rpl_semi_sync_master_enabled=OFF',
    'rpl_semi_sync_slave_enabled=ON',
    // AFTER_SYNC: a commit is visible to nobody before a replica has it (lossless failover).
    'rpl_semi_sync_master_wait_point=AFTER_SYNC',
    'rpl_semi_sync_master_wait_no_slave=ON',
    `rpl_semi_sync_master_timeout=${r.noReplicaAck === 'block' ? BLOCK_TIMEOUT_MS : r.semiSyncTimeoutSeconds * 1000}`,
    ...r.extraMyCnf,
    '',
    '[client]',
    `socket=${REPLICATION_PATHS.socketDir}/mysqld.sock`,
    '',
  ].join('\n');
}

/**
 * One primary and semi-synchronous GTID read replicas: a StatefulSet whose pods take their role
 * by themselves (initialize, clone from a ready peer, follow the primary, elect a new one by
 * majority when it is gone), a headless Service, a `-read` Service over the ready replicas, a
 * ConfigMap with the configuration and the scripts, and a PodDisruptionBudget.
 */
export class MariaDbReplication extends PodPeer implements IMariaDbCluster {
  /** ProxySQL routes by read_only (`mysql_replication_hostgroups`): the primary writes, the replicas read. */
  public readonly topology: BackendTopology = 'replication';
  /** This topology speaks plain text only (TLS is built for the Galera cluster; see docs/replication.md). */
  public readonly tls: BackendTls;
  /** Name of the StatefulSet, the headless Service and the prefix of every object. */
  public readonly name: string;
  /** Namespace of every object. */
  public readonly namespace: string;
  /** Number of database pods. */
  public readonly replicas: number;
  /** The StatefulSet of the database pods. */
  public readonly statefulSet: k8s.KubeStatefulSet;
  /** Headless Service that gives every pod its DNS name, ready or not. */
  public readonly headlessService: k8s.KubeService;
  /** ClusterIP Service spreading reads over the ready nodes (the primary included while it is ready). */
  public readonly readService: k8s.KubeService;
  /** The server configuration and the node scripts. */
  public readonly configMap: k8s.KubeConfigMap;
  /** At most one pod voluntarily evicted at a time. */
  public readonly podDisruptionBudget: k8s.KubePodDisruptionBudget;
  /** Name of the Secret with the passwords. */
  public readonly secretName: string;
  /** The application account. */
  public readonly appUser: string;
  /** The database the application account owns. */
  public readonly appDatabase: string;
  /** Fully qualified DNS names of the pods, ordinal 0 first. */
  public readonly podDnsNames: string[];
  /** MySQL port of the pods. */
  public readonly port: number = REPLICATION_PORTS.mysql;
  /** Every port of a pod by name. */
  public readonly ports = REPLICATION_PORTS;
  /** Labels that select the database pods. */
  public readonly selectorLabels: Record<string, string>;
  /** The MariaDB image of the pods. */
  public readonly image: string;
  /** The version the servers announce (from the image tag). */
  public readonly serverVersion: string;
  /** The data volumes: size and StorageClass of each. */
  public readonly storage: DataVolumes;
  private readonly labels: Record<string, string>;

  constructor(scope: Construct, id: string, props: MariaDbReplicationProps = {}) {
    super(scope, id);
    guardUniqueNames(this);
    const r = resolveOrThrow(`MariaDbReplication '${typeof props?.name === 'string' ? props.name : nameFromId(id)}'`,
      (c) => resolveMariaDbReplication(props, c, chartNamespace(this), MARIADB_REPLICATION_KEYS, nameFromId(id)));
    this.name = r.name;
    this.namespace = r.namespace;
    this.replicas = r.replicas;
    this.secretName = r.secretName;
    this.appUser = r.appUser;
    this.appDatabase = r.appDatabase;
    this.image = r.image;
    this.storage = { name: r.name, storageSize: r.storageSize, storageClassName: r.storageClassName };
    this.serverVersion = serverVersionForImage(r.image) ?? DEFAULT_SERVER_VERSION;
    this.selectorLabels = { 'app.kubernetes.io/name': 'mariadb-replication', 'app.kubernetes.io/instance': r.name };
    this.labels = { ...this.selectorLabels, 'app.kubernetes.io/component': 'database', ...PART_OF };
    this.tls = { enabled: false, requireSecureTransport: false, clusterDomain: r.clusterDomain };
    this.podDnsNames = Array.from({ length: r.replicas }, (_, i) => `${r.name}-${i}.${r.name}.${r.namespace}.svc.${r.clusterDomain}`);

    const configData = this.configData(r);
    this.configMap = new k8s.KubeConfigMap(this, 'config', { metadata: this.metadata(`${r.name}-config`), data: configData });
    this.headlessService = this.addHeadlessService();
    this.readService = this.addReadService();
    this.statefulSet = this.addStatefulSet(r, configData);
    this.podDisruptionBudget = podDisruptionBudget(this, this.metadata(r.name), this.selectorLabels);
  }

  /** `host:port` of the `-read` Service (writes go through ProxySQL, which finds the primary). */
  public get endpoint(): string {
    return `${this.readService.name}.${this.namespace}.svc:${this.port}`;
  }

  private metadata(name: string): k8s.ObjectMeta {
    return { name, namespace: this.namespace, labels: this.labels };
  }

  private configData(r: ResolvedMariaDbReplication): Record<string, string> {
    const data: Record<string, string> = { 'my.cnf': renderReplicationMyCnf(r) };
    for (const script of SCRIPTS) data[script] = readScript(`replication/${script}`);
    return { ...data, ...commonNodeScripts() };
  }

  private addHeadlessService(): k8s.KubeService {
    return new k8s.KubeService(this, 'headless', {
      metadata: this.metadata(this.name),
      spec: {
        clusterIp: 'None',
        // Peers must reach each other before any of them is ready (initialization, cloning, election).
        publishNotReadyAddresses: true,
        selector: this.selectorLabels,
        ports: Object.entries(REPLICATION_PORTS).map(([name, port]) => ({ name, port, targetPort: k8s.IntOrString.fromNumber(port), protocol: 'TCP' })),
      },
    });
  }

  private addReadService(): k8s.KubeService {
    return new k8s.KubeService(this, 'read', {
      metadata: this.metadata(`${this.name}-read`),
      spec: {
        type: 'ClusterIP', selector: this.selectorLabels,
        ports: [{ name: 'mysql', port: REPLICATION_PORTS.mysql, targetPort: k8s.IntOrString.fromString('mysql'), protocol: 'TCP' }],
      },
    });
  }

  private addStatefulSet(r: ResolvedMariaDbReplication, configData: Record<string, string>): k8s.KubeStatefulSet {
    const script = (file: string, ...args: string[]) => ['bash', `${REPLICATION_PATHS.config}/${file}`, ...args];
    const env = this.nodeEnv(r);
    const volumeMounts = [
      { name: 'config', mountPath: REPLICATION_PATHS.config, readOnly: true },
      { name: 'credentials', mountPath: REPLICATION_PATHS.credentials, readOnly: true },
      { name: 'runtime', mountPath: REPLICATION_PATHS.runtime },
      { name: 'socket', mountPath: REPLICATION_PATHS.socketDir },
      { name: 'tmp', mountPath: REPLICATION_PATHS.tmp },
      { name: 'data', mountPath: REPLICATION_PATHS.data },
    ];
    const image = { image: r.image, imagePullPolicy: r.imagePullPolicy, env, volumeMounts };
    return new k8s.KubeStatefulSet(this, 'statefulset', {
      metadata: this.metadata(r.name),
      spec: {
        serviceName: this.headlessService.name,
        replicas: r.replicas,
        // OrderedReady would deadlock a full restart: the most advanced node may not be pod 0.
        podManagementPolicy: 'Parallel',
        updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 0 } },
        selector: { matchLabels: this.selectorLabels },
        template: podTemplate({
          labels: this.labels, selector: this.selectorLabels, configData,
          terminationGracePeriodSeconds: r.terminationGracePeriodSeconds, antiAffinity: r.antiAffinity,
          initContainers: [container({
            name: 'init', ...image, command: script('repl-init.sh'),
            resources: { requests: { cpu: k8s.Quantity.fromString('50m'), memory: k8s.Quantity.fromString('64Mi') }, limits: { memory: k8s.Quantity.fromString(r.resources.memoryLimit) } },
          })],
          containers: [container({
            name: 'mariadb', ...image, command: script('repl-start.sh'), ports: REPLICATION_PORTS, resources: r.resources,
            readinessProbe: execProbe(script('repl-probe.sh', 'readiness'), { periodSeconds: 5, timeoutSeconds: 4, failureThreshold: 2 }),
            // The start script's heartbeat keeps a waiting or cloning node alive; a hung server is restarted.
            livenessProbe: execProbe(script('repl-probe.sh', 'liveness'), { periodSeconds: 10, timeoutSeconds: 8, failureThreshold: 6 }),
          })],
          volumes: [
            { name: 'config', configMap: { name: this.configMap.name, defaultMode: 0o555 } },
            // optional, so that the init container can say which Secret is missing.
            { name: 'credentials', secret: { secretName: r.secretName, defaultMode: 0o440, optional: true } },
            emptyDir('runtime', '16Mi', true),
            emptyDir('socket', '1Mi', true),
            emptyDir('tmp'),
          ],
        }),
        volumeClaimTemplates: [{
          metadata: { name: 'data', labels: this.labels },
          spec: {
            accessModes: ['ReadWriteOnce'],
            storageClassName: r.storageClassName,
            resources: { requests: { storage: k8s.Quantity.fromString(r.storageSize) } },
          },
        }],
      },
    });
  }

  /** The environment the node scripts read their settings from: the shared NODE_* settings, then replication's own. */
  private nodeEnv(r: ResolvedMariaDbReplication): k8s.EnvVar[] {
    return [
      ...sharedNodeEnv({
        peers: this.podDnsNames, statePort: REPLICATION_PORTS.state, secretName: r.secretName,
        appUser: r.appUser, appDatabase: r.appDatabase,
      }),
      ...envEntries({
        REPL_CLONE_PORT: String(REPLICATION_PORTS.clone),
        REPL_MYSQL_PORT: String(REPLICATION_PORTS.mysql),
        REPL_FAILOVER_SECONDS: String(r.failoverSeconds),
        REPL_FENCE_SECONDS: String(r.fenceSeconds),
        REPL_MAX_LAG_SECONDS: String(r.maxLagSeconds),
        REPL_NO_REPLICA_ACK: r.noReplicaAck,
      }),
    ];
  }
}
