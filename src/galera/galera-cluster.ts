import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import * as k8s from '../../imports/k8s';
import { SECRET_KEYS } from '../core/credentials';
import { BackendTls, BackendTopology, DataVolumes, DEFAULT_SERVER_VERSION, IMariaDbCluster, serverVersionForImage } from '../core/backend';
import { DEFAULT_RCLONE_IMAGE, rcloneEnv, ResolvedRestore, resolveRestore, RestoreSource } from '../backup/backup-location';
import {
  BACKUP_PORT, bytesOfMyCnfSize, GALERA_METRICS_PORT, FAILURE_DETECTION_MODES, FailureDetection, GALERA_PATHS, GALERA_PORTS, renderMyCnf, resolveExtraMyCnf, GALERA_OWNED_OPTIONS,
  resolveProviderOptions, tlsProviderOptions,
} from './galera-config';
import {
  ANTI_AFFINITY_MODES, AntiAffinityMode, chartNamespace, container, nameFromId, resolveName, ContainerResources, emptyDir, execProbe, PART_OF, podDisruptionBudget,
  podTemplate, PULL_POLICIES, PullPolicy, resolveImage, resolveResources, ResolvedResources, ResolvedTopologySpread, resolveTopologySpread,
  TopologySpread,
} from '../core/pod';
import { readScript } from '../core/scripts';
import { CertificateSpec, certificate, ResolvedTls, resolveTls, serviceDnsNames, TlsProps } from '../tls/tls';
import { Checker, isMapping, quantityToBytes, quantityValue, resolveOrThrow, show } from '../values/validation';
import { guardUniqueNames } from '../core/unique-names';
import { PodPeer } from '../core/pod-peer';

/** Access modes a Galera data volume may use (one writer pod per volume). */
export type DataAccessMode = 'ReadWriteOnce' | 'ReadWriteOncePod';
/** Every DataAccessMode. */
export const DATA_ACCESS_MODES: readonly DataAccessMode[] = ['ReadWriteOnce', 'ReadWriteOncePod'];

/** Props of GaleraCluster; every field is optional, and a values file sets them under `galera`. */
export interface GaleraClusterProps {
  /** Name of the StatefulSet, the headless Service and the prefix of every object. @default - the construct id in kebab case */
  readonly name?: string;
  /** Namespace of every object. @default - the namespace of the chart, else 'default' */
  readonly namespace?: string;
  /** Number of Galera nodes: odd and at least 3, so a majority survives the loss of any one. @default 3 */
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
  /** Access mode of the data volumes. @default 'ReadWriteOnce' */
  readonly accessMode?: DataAccessMode;
  /** Resources of the MariaDB container. @default - 500m CPU and 1Gi memory requested, 2Gi memory limit, no CPU limit */
  readonly resources?: ContainerResources;
  /** `innodb_buffer_pool_size`. @default '512M' */
  readonly innodbBufferPoolSize?: string;
  /** `max_connections`. @default 500 */
  readonly maxConnections?: number;
  /** Extra lines appended to the `[mysqld]` section of the server configuration; the options the construct and its scripts set (GALERA_OWNED_OPTIONS) are refused. @default - none */
  readonly extraMyCnf?: string[];
  /** Failure detector timeouts (see FAILURE_DETECTION_OPTIONS). @default 'balanced' */
  readonly failureDetection?: FailureDetection;
  /** Galera provider options, merged over the defaults and failureDetection (keys such as 'gcache.size'). @default - see DEFAULT_PROVIDER_OPTIONS */
  readonly providerOptions?: Record<string, string>;
  /** Name of the Secret holding the passwords (keys in SECRET_KEYS). @default '<name>-credentials' */
  readonly secretName?: string;
  /** Application account created at first bootstrap. @default 'app' */
  readonly appUser?: string;
  /** Database the application account owns. @default 'app' */
  readonly appDatabase?: string;
  /** Pod anti-affinity on the node hostname. @default 'preferred' */
  readonly antiAffinity?: AntiAffinityMode;
  /** Topology spread constraint. @default - none */
  readonly topologySpread?: TopologySpread;
  /**
   * Keep a node that is an SST donor in the ready endpoints and in ProxySQL's hostgroups. When
   * false, a donor refuses client statements while it donates (`wsrep_sst_donor_rejects_queries`),
   * which takes it out of ProxySQL too. @default false
   */
  readonly readyWhenDonor?: boolean;
  /** Seconds the startup probe allows per GiB of data for a state transfer (SST). @default 60 */
  readonly sstSecondsPerGi?: number;
  /** Kubernetes cluster DNS domain. @default 'cluster.local' */
  readonly clusterDomain?: string;
  /**
   * Seconds a running node may stay out of a Primary component (non-Primary or Disconnected)
   * before it shuts mariadbd down and goes through the start-up election again.
   * @default 60
   */
  readonly nonPrimaryRestartSeconds?: number;
  /**
   * Seconds a node inside a Primary component may stay Donor/Desynced with no state transfer
   * running and wsrep_desync OFF before it restarts mariadbd and rejoins (Galera can lose the end
   * of a transfer when the donor changes views during it). Keep it above the longest locked phase
   * of a backup (BACKUP STAGE BLOCK_DDL to END), which desyncs the source node the same way.
   * @default 600
   */
  readonly stuckDesyncRestartSeconds?: number;
  /** Seconds Kubernetes waits for a graceful shutdown before SIGKILL. @default 120 */
  readonly terminationGracePeriodSeconds?: number;
  /** TLS for clients, replication, IST and SST (see TlsProps). @default - on, certificates from the Secret '<name>-tls' */
  readonly tls?: TlsProps;
  /**
   * Run the backup endpoint in every pod (a "backup" sidecar that streams mariadb-backup over
   * mutual TLS to the backup job's certificate only); GaleraBackup needs it. Requires TLS.
   * @default false
   */
  readonly backupEndpoint?: boolean;
  /** Create this cluster from a backup: the first pod restores it, the others join by SST (see the README). @default - none */
  readonly restoreFrom?: RestoreSource;
  /** Image of the container that fetches a backup from S3 for restoreFrom. @default DEFAULT_RCLONE_IMAGE */
  readonly rcloneImage?: string;
  /** The mysqld-exporter sidecar (Prometheus metrics on port 9104, named `metrics`). @default - none */
  readonly metrics?: MetricsExporterProps;
}

/** The mysqld-exporter sidecar of every Galera pod. */
export interface MetricsExporterProps {
  /**
   * Run the exporter: it connects over the node's socket as `exporter@localhost` (created by the
   * node scripts with the Secret key `exporter-password`) and serves /metrics on port 9104.
   * @default false
   */
  readonly enabled?: boolean;
  /** Image; the flags given are those of mysqld_exporter 0.14. @default DEFAULT_MYSQLD_EXPORTER_IMAGE */
  readonly image?: string;
}

/** The backup endpoint of the pods, for the backup job. */
export interface BackupEndpoint {
  /** Port of the endpoint on every pod. */
  readonly port: number;
  /** The common name the endpoint streams to (the backup job's client certificate). */
  readonly clientCommonName: string;
  /** The Secret with the backup job's client certificate (ca.crt, tls.crt, tls.key). */
  readonly clientSecretName: string;
  /** The client certificate that Secret must hold. */
  readonly clientCertificateSpec: CertificateSpec;
  /** The cert-manager Certificate of the client, when tls.issuer is set. */
  readonly clientCertificate?: ApiObject;
}

/** Every prop of GaleraClusterProps (the compiler keeps this list complete). @internal */
export const GALERA_CLUSTER_KEYS = Object.keys({
  name: 0, namespace: 0, replicas: 0, allowUnsafeReplicaCount: 0, image: 0, imagePullPolicy: 0, storageSize: 0, storageClassName: 0, accessMode: 0,
  resources: 0, innodbBufferPoolSize: 0, maxConnections: 0, extraMyCnf: 0, failureDetection: 0, providerOptions: 0, secretName: 0, appUser: 0,
  appDatabase: 0, antiAffinity: 0, topologySpread: 0, readyWhenDonor: 0, sstSecondsPerGi: 0, clusterDomain: 0, nonPrimaryRestartSeconds: 0, stuckDesyncRestartSeconds: 0,
  terminationGracePeriodSeconds: 0, tls: 0, backupEndpoint: 0, restoreFrom: 0, rcloneImage: 0, metrics: 0,
} satisfies Record<keyof GaleraClusterProps, 0>);

/** GaleraClusterProps with every default applied and every value checked. @internal */
export interface ResolvedGaleraCluster {
  readonly name: string;
  readonly namespace: string;
  readonly replicas: number;
  readonly image: string;
  readonly imagePullPolicy: PullPolicy;
  readonly storageSize: string;
  readonly storageClassName?: string;
  readonly accessMode: DataAccessMode;
  readonly resources: ResolvedResources;
  readonly innodbBufferPoolSize: string;
  readonly maxConnections: number;
  readonly extraMyCnf: string[];
  readonly failureDetection: FailureDetection;
  readonly providerOptions: Record<string, string>;
  readonly secretName: string;
  readonly appUser: string;
  readonly appDatabase: string;
  readonly antiAffinity: AntiAffinityMode;
  readonly topologySpread?: ResolvedTopologySpread;
  readonly readyWhenDonor: boolean;
  readonly sstSecondsPerGi: number;
  readonly clusterDomain: string;
  readonly nonPrimaryRestartSeconds: number;
  readonly stuckDesyncRestartSeconds: number;
  readonly terminationGracePeriodSeconds: number;
  readonly tls: ResolvedTls;
  readonly backupEndpoint: boolean;
  readonly restoreFrom?: ResolvedRestore;
  readonly rcloneImage: string;
  readonly metrics?: { readonly image: string };
}

/** The MariaDB image of the database pods by default. */
export const DEFAULT_MARIADB_IMAGE = 'docker.io/library/mariadb:10.11.19';
const RESERVED_USERS = ['root', 'sst', 'monitor', 'exporter', 'mysql', 'mariadb.sys'];
/** mysqld_exporter 0.14.0, the version whose flags the tests run (Debian's prometheus-mysqld-exporter). */
export const DEFAULT_MYSQLD_EXPORTER_IMAGE = 'docker.io/prom/mysqld-exporter:v0.14.0';
/** The exporter's account, `exporter@localhost`. @internal */
export const EXPORTER_USER = 'exporter';
/**
 * The flags of the exporter (mysqld_exporter 0.14): SHOW GLOBAL STATUS (every wsrep_* figure)
 * and VARIABLES, the process list; no SHOW SLAVE STATUS (no asynchronous replication here); its
 * own statements kept out of the slow log. @internal
 */
export const EXPORTER_ARGS = [
  `--web.listen-address=:${GALERA_METRICS_PORT}`, '--collect.global_status', '--collect.global_variables', '--no-collect.slave_status',
  '--collect.info_schema.processlist', '--exporter.log_slow_filter',
];

/**
 * Checks GaleraClusterProps (from TypeScript or a values-file section) and applies the defaults,
 * reporting every problem into `c`.
 * @internal
 */
export function resolveGaleraCluster(input: unknown, c: Checker, defaultNamespace: string, keys: readonly string[] = GALERA_CLUSTER_KEYS,
  defaultName = 'galera'): ResolvedGaleraCluster {
  if (input !== undefined && !isMapping(input)) c.add(`${c.section} must be a mapping of ${keys.join(', ')}, got ${show(input)}`);
  const p = (c.knownKeys(input, keys) ? input : {}) as GaleraClusterProps;
  const name = resolveName(c, p.name, defaultName, 40);
  const unsafe = c.bool('allowUnsafeReplicaCount', p.allowUnsafeReplicaCount, false);
  const replicas = c.int('replicas', p.replicas, 1, 99, 3);
  if (typeof p.replicas === 'number' && Number.isInteger(p.replicas) && p.replicas >= 1 && !unsafe && (p.replicas < 3 || p.replicas % 2 === 0)) {
    c.add(`${c.f('replicas')} must be odd and at least 3 (3, 5, 7, ...), got ${p.replicas}: with an even count a partition into equal halves `
      + 'stops every node, and fewer than 3 cannot survive the loss of one node; set allowUnsafeReplicaCount to override');
  }
  const storageSize = c.quantity('storageSize', p.storageSize, '10Gi');
  if (p.storageSize !== undefined && storageSize === p.storageSize) {
    const sized = c.pattern('storageSize', p.storageSize, /^[0-9.]+(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$/, 'a storage size such as 10Gi (no millis)');
    if (sized !== undefined) c.check(quantityValue(sized) > 0, `${c.f('storageSize')} must be larger than zero, got ${show(sized)}`);
  }
  const resources = resolveResources(c, 'resources', p.resources, { cpuRequest: '500m', memoryRequest: '1Gi', memoryLimit: '2Gi' },
    { bytes: 256 * 2 ** 20, label: '256Mi', what: 'MariaDB' });
  const innodbBufferPoolSize = c.pattern('innodbBufferPoolSize', p.innodbBufferPoolSize, /^[0-9]+[KMG]?$/,
    "a byte size with an optional K, M or G suffix, such as '512M' or '4G'", '512M');
  c.check(!(bytesOfMyCnfSize(innodbBufferPoolSize) >= quantityValue(resources.memoryLimit)),
    `${c.f('innodbBufferPoolSize')} (${innodbBufferPoolSize}) must be smaller than ${c.f('resources.memoryLimit')} (${resources.memoryLimit}), or the server is OOM-killed`);
  const failureDetection = c.oneOf('failureDetection', p.failureDetection, FAILURE_DETECTION_MODES, 'balanced');
  const tls = resolveTls(c, 'tls', p.tls);
  const backupEndpoint = c.bool('backupEndpoint', p.backupEndpoint, false);
  c.check(!backupEndpoint || tls.enabled, `${c.f('backupEndpoint')} needs ${c.f('tls.enabled')}: true (the endpoint knows the backup job by its client certificate)`);
  const appUser = c.pattern('appUser', p.appUser, /^[a-zA-Z_][a-zA-Z0-9_]{0,31}$/, 'a MariaDB user name of letters, digits and _ (at most 32 characters)', 'app');
  c.check(!RESERVED_USERS.includes(appUser), `${c.f('appUser')} must not be one of the reserved accounts ${RESERVED_USERS.join(', ')}, got '${appUser}'`);
  return {
    name,
    namespace: c.dnsLabel('namespace', p.namespace, 63, defaultNamespace),
    replicas,
    image: resolveImage(c, 'image', p.image, DEFAULT_MARIADB_IMAGE),
    imagePullPolicy: c.oneOf('imagePullPolicy', p.imagePullPolicy, PULL_POLICIES, 'IfNotPresent'),
    storageSize,
    storageClassName: c.dnsSubdomain('storageClassName', p.storageClassName),
    accessMode: c.oneOf('accessMode', p.accessMode, DATA_ACCESS_MODES, 'ReadWriteOnce'),
    resources,
    innodbBufferPoolSize,
    maxConnections: c.int('maxConnections', p.maxConnections, 10, 100000, 500),
    extraMyCnf: resolveExtraMyCnf(c, 'extraMyCnf', p.extraMyCnf, GALERA_OWNED_OPTIONS),
    failureDetection,
    providerOptions: resolveProviderOptions(c, 'providerOptions', p.providerOptions, failureDetection),
    secretName: c.dnsSubdomain('secretName', p.secretName, `${name}-credentials`),
    appUser,
    appDatabase: c.pattern('appDatabase', p.appDatabase, /^[a-zA-Z_][a-zA-Z0-9_]{0,63}$/, 'a database name of letters, digits and _ (at most 64 characters)', 'app'),
    antiAffinity: c.oneOf('antiAffinity', p.antiAffinity, ANTI_AFFINITY_MODES, 'preferred'),
    topologySpread: resolveTopologySpread(c, 'topologySpread', p.topologySpread),
    readyWhenDonor: c.bool('readyWhenDonor', p.readyWhenDonor, false),
    sstSecondsPerGi: c.int('sstSecondsPerGi', p.sstSecondsPerGi, 1, 3600, 60),
    clusterDomain: c.pattern('clusterDomain', p.clusterDomain, /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'a DNS domain such as cluster.local', 'cluster.local'),
    nonPrimaryRestartSeconds: c.int('nonPrimaryRestartSeconds', p.nonPrimaryRestartSeconds, 10, 86400, 60),
    stuckDesyncRestartSeconds: c.int('stuckDesyncRestartSeconds', p.stuckDesyncRestartSeconds, 10, 86400, 600),
    terminationGracePeriodSeconds: c.int('terminationGracePeriodSeconds', p.terminationGracePeriodSeconds, 10, 3600, 120),
    tls,
    backupEndpoint,
    restoreFrom: resolveRestore(c, 'restoreFrom', p.restoreFrom, name),
    rcloneImage: resolveImage(c, 'rcloneImage', p.rcloneImage, DEFAULT_RCLONE_IMAGE),
    metrics: resolveMetrics(c, 'metrics', p.metrics),
  };
}

function resolveMetrics(c: Checker, field: string, given: MetricsExporterProps | undefined): { image: string } | undefined {
  const m = c.mapping(field, given, ['enabled', 'image']);
  if (!m || !c.bool(`${field}.enabled`, m.enabled, false)) return undefined;
  return { image: resolveImage(c, `${field}.image`, m.image, DEFAULT_MYSQLD_EXPORTER_IMAGE) };
}

/** The node scripts; galera-sst.sh is the state transfer method `stream` (galera-start.sh puts it on mariadbd's PATH). */
const NODE_SCRIPTS = [
  'galera-lib.sh', 'galera-election.sh', 'galera-init.sh', 'galera-start.sh', 'galera-probe.sh', 'galera-state.sh', 'galera-sst.sh',
];
/** Scripts of scripts/backup the pods run: the endpoint, the restore. */
const POD_BACKUP_SCRIPTS = ['galera-backup-endpoint.sh', 'galera-restore.sh', 'galera-restore-fetch.sh'];

/**
 * A MariaDB Galera cluster: StatefulSet with a headless Service for peer discovery, data
 * volumes from claim templates, a ConfigMap with the server configuration and node scripts,
 * Services for direct and read access, and a PodDisruptionBudget.
 */
export class GaleraCluster extends PodPeer implements IMariaDbCluster {
  /** ProxySQL routes by the wsrep status of every node (`mysql_galera_hostgroups`). */
  public readonly topology: BackendTopology = 'galera';
  /** Name of the StatefulSet, the headless Service and the prefix of every object. */
  public readonly name: string;
  /** Namespace of every object. */
  public readonly namespace: string;
  /** Number of Galera nodes. */
  public readonly replicas: number;
  /** The StatefulSet of the Galera pods. */
  public readonly statefulSet: k8s.KubeStatefulSet;
  /** Headless Service that gives every pod its DNS name, ready or not. */
  public readonly headlessService: k8s.KubeService;
  /** ClusterIP Service over the ready nodes, sticky per client, for direct (non-proxied) access. */
  public readonly directService: k8s.KubeService;
  /** ClusterIP Service spreading connections over all ready nodes, for reads. */
  public readonly readService: k8s.KubeService;
  /** The server configuration and the node scripts. */
  public readonly configMap: k8s.KubeConfigMap;
  /** At most one Galera pod voluntarily evicted at a time. */
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
  public readonly port: number = GALERA_PORTS.mysql;
  /** Every port of a Galera pod by name. */
  public readonly ports = GALERA_PORTS;
  /** Labels that select the Galera pods. */
  public readonly selectorLabels: Record<string, string>;
  /** The MariaDB image of the pods. */
  public readonly image: string;
  /** The version the servers announce (from the image tag). */
  public readonly serverVersion: string;
  /** How the nodes speak TLS (ProxySQL follows it). */
  public readonly tls: BackendTls;
  /** The Secret with the nodes' certificate (ca.crt, tls.crt, tls.key), or undefined without TLS. */
  public readonly tlsSecretName?: string;
  /** The certificate the Secret must hold (the names `npm run -s new-tls` and cert-manager put in it). */
  public readonly certificateSpec?: CertificateSpec;
  /** The cert-manager Certificate, when tls.issuer is set. */
  public readonly certificate?: ApiObject;
  /** The backup endpoint of the pods, when backupEndpoint is set. */
  public readonly backupEndpoint?: BackupEndpoint;
  /** The port of the bucket the pods fetch a backup from (restoreFrom.s3): their NetworkPolicy lets them out to it. */
  public readonly restoreBucketPort?: number;
  /** The port of the exporter sidecar (named `metrics`), when metrics is on. */
  public readonly metricsPort?: number;
  /** The data volumes: size and StorageClass of each. */
  public readonly storage: DataVolumes;
  private readonly labels: Record<string, string>;

  constructor(scope: Construct, id: string, props: GaleraClusterProps = {}) {
    super(scope, id);
    guardUniqueNames(this);
    const r = resolveOrThrow(`GaleraCluster '${typeof props?.name === 'string' ? props.name : nameFromId(id)}'`,
      (c) => resolveGaleraCluster(props, c, chartNamespace(this), GALERA_CLUSTER_KEYS, nameFromId(id)));
    this.name = r.name;
    this.namespace = r.namespace;
    this.replicas = r.replicas;
    this.secretName = r.secretName;
    this.appUser = r.appUser;
    this.appDatabase = r.appDatabase;
    this.image = r.image;
    this.storage = { name: r.name, storageSize: r.storageSize, storageClassName: r.storageClassName };
    this.serverVersion = serverVersionForImage(r.image) ?? DEFAULT_SERVER_VERSION;
    this.selectorLabels = { 'app.kubernetes.io/name': 'mariadb-galera', 'app.kubernetes.io/instance': this.name };
    this.labels = { ...this.selectorLabels, 'app.kubernetes.io/component': 'database', ...PART_OF };
    this.podDnsNames = Array.from({ length: r.replicas }, (_, i) => `${r.name}-${i}.${r.name}.${r.namespace}.svc.${r.clusterDomain}`);
    this.tls = { enabled: r.tls.enabled, requireSecureTransport: r.tls.requireSecureTransport, issuer: r.tls.issuer, clusterDomain: r.clusterDomain };
    if (r.tls.enabled) {
      this.tlsSecretName = `${r.name}-tls`;
      this.certificateSpec = this.nodeCertificate(r, this.tlsSecretName);
      if (r.tls.issuer) this.certificate = certificate(this, 'certificate', r.namespace, this.labels, r.tls.issuer, this.certificateSpec);
    }
    if (r.backupEndpoint) this.backupEndpoint = this.backupClient(r);
    if (r.restoreFrom?.s3) this.restoreBucketPort = bucketPort(r.restoreFrom.s3.endpoint);
    if (r.metrics) this.metricsPort = GALERA_METRICS_PORT;

    const configData = this.configData(r);
    this.configMap = new k8s.KubeConfigMap(this, 'config', { metadata: this.metadata(`${r.name}-config`), data: configData });
    this.headlessService = this.addHeadlessService();
    this.directService = this.addClientService('direct', { sessionAffinity: 'ClientIP' });
    this.readService = this.addClientService('read', {});
    this.statefulSet = this.addStatefulSet(r, configData);
    this.podDisruptionBudget = podDisruptionBudget(this, this.metadata(r.name), this.selectorLabels);
  }

  /** `host:port` of the direct-access Service. */
  public get endpoint(): string {
    return `${this.directService.name}.${this.namespace}.svc:${this.port}`;
  }

  private metadata(name: string): k8s.ObjectMeta {
    return { name, namespace: this.namespace, labels: this.labels };
  }

  /** Every pod's FQDN (and a wildcard for pods added by a scale-up) and every Service name. */
  private nodeCertificate(r: ResolvedGaleraCluster, secretName: string): CertificateSpec {
    const domain = `${r.name}.${r.namespace}.svc.${r.clusterDomain}`;
    return {
      secretName,
      commonName: domain,
      dnsNames: [
        ...this.podDnsNames, `*.${domain}`, `*.${r.name}.${r.namespace}.svc`,
        ...[r.name, `${r.name}-direct`, `${r.name}-read`].flatMap((svc) => serviceDnsNames(svc, r.namespace, r.clusterDomain)),
      ],
      // A node is a server to clients and to its peers, and a client of its peers (IST, SST, gcomm).
      usages: ['server', 'client'],
    };
  }

  /** The backup job's client certificate: its common name is what the endpoint streams to. */
  private backupClient(r: ResolvedGaleraCluster): BackupEndpoint {
    const clientCommonName = `${r.name}-backup`;
    const spec: CertificateSpec = { secretName: `${r.name}-backup-tls`, commonName: clientCommonName, dnsNames: [clientCommonName], usages: ['client'] };
    return {
      port: BACKUP_PORT, clientCommonName, clientSecretName: spec.secretName, clientCertificateSpec: spec,
      clientCertificate: r.tls.issuer ? certificate(this, 'backup-client-certificate', r.namespace, this.labels, r.tls.issuer, spec) : undefined,
    };
  }

  private configData(r: ResolvedGaleraCluster): Record<string, string> {
    const data: Record<string, string> = {
      'my.cnf': renderMyCnf({
        clusterName: r.name, peers: this.podDnsNames, bufferPool: r.innodbBufferPoolSize, maxConnections: r.maxConnections,
        providerOptions: r.tls.enabled ? { ...r.providerOptions, ...tlsProviderOptions(r.tls.transitional) } : r.providerOptions,
        donorRejectsQueries: !r.readyWhenDonor, extra: r.extraMyCnf,
        tls: r.tls.enabled ? { requireSecureTransport: r.tls.requireSecureTransport, transitional: r.tls.transitional } : undefined,
      }),
    };
    for (const script of NODE_SCRIPTS) data[script] = readScript(`node/${script}`);
    if (r.backupEndpoint || r.restoreFrom) {
      for (const script of POD_BACKUP_SCRIPTS) data[script] = readScript(`backup/${script}`);
    }
    data['log.sh'] = readScript('common/log.sh');
    return data;
  }

  private addHeadlessService(): k8s.KubeService {
    return new k8s.KubeService(this, 'headless', {
      metadata: this.metadata(this.name),
      spec: {
        clusterIp: 'None',
        // Peers must resolve each other before any of them is Ready (bootstrap, election).
        publishNotReadyAddresses: true,
        selector: this.selectorLabels,
        // every pod, ready or not, by name: the metrics port too, for a user's ServiceMonitor
        ports: Object.entries({ ...GALERA_PORTS, ...(this.metricsPort ? { metrics: this.metricsPort } : {}) })
          .map(([name, port]) => ({ name, port, targetPort: k8s.IntOrString.fromNumber(port), protocol: 'TCP' })),
      },
    });
  }

  private addClientService(suffix: string, spec: Partial<k8s.ServiceSpec>): k8s.KubeService {
    return new k8s.KubeService(this, suffix, {
      metadata: this.metadata(`${this.name}-${suffix}`),
      spec: {
        type: 'ClusterIP', selector: this.selectorLabels, ...spec,
        ports: [{ name: 'mysql', port: GALERA_PORTS.mysql, targetPort: k8s.IntOrString.fromString('mysql'), protocol: 'TCP' }],
      },
    });
  }

  private addStatefulSet(r: ResolvedGaleraCluster, configData: Record<string, string>): k8s.KubeStatefulSet {
    const script = (file: string, ...args: string[]) => ['bash', `${GALERA_PATHS.config}/${file}`, ...args];
    const env = this.nodeEnv(r);
    const volumeMounts = [
      { name: 'config', mountPath: GALERA_PATHS.config, readOnly: true },
      { name: 'credentials', mountPath: GALERA_PATHS.credentials, readOnly: true },
      { name: 'runtime', mountPath: GALERA_PATHS.runtime },
      { name: 'socket', mountPath: GALERA_PATHS.socketDir },
      { name: 'tmp', mountPath: GALERA_PATHS.tmp },
      { name: 'data', mountPath: GALERA_PATHS.data },
      ...(this.tlsSecretName ? [{ name: 'tls', mountPath: GALERA_PATHS.tls, readOnly: true }] : []),
    ];
    const image = { image: r.image, imagePullPolicy: r.imagePullPolicy, env, volumeMounts };
    const startupBudgetSeconds = 120 + Math.ceil(r.sstSecondsPerGi * quantityToBytes(r.storageSize) / 2 ** 30);
    return new k8s.KubeStatefulSet(this, 'statefulset', {
      metadata: this.metadata(r.name),
      spec: {
        serviceName: this.headlessService.name,
        replicas: r.replicas,
        // OrderedReady deadlocks a full restart: the node that must bootstrap may not be pod 0.
        podManagementPolicy: 'Parallel',
        updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 0 } },
        selector: { matchLabels: this.selectorLabels },
        template: podTemplate({
          labels: this.labels, selector: this.selectorLabels, configData,
          terminationGracePeriodSeconds: r.terminationGracePeriodSeconds, antiAffinity: r.antiAffinity, topologySpread: r.topologySpread,
          serviceAccountName: r.restoreFrom?.s3?.serviceAccountName,
          initContainers: [container({
            name: 'init', ...image, command: script('galera-init.sh'),
            resources: { requests: { cpu: k8s.Quantity.fromString('50m'), memory: k8s.Quantity.fromString('64Mi') }, limits: { memory: k8s.Quantity.fromString(r.resources.memoryLimit) } },
          }), ...this.restoreContainers(r, image)],
          containers: [container({
            name: 'mariadb', ...image, command: script('galera-start.sh'), ports: GALERA_PORTS, resources: r.resources,
            // Startup passes once the server answers or while the node waits for its peers;
            // it fails only while a state transfer runs, so its budget is the SST time.
            startupProbe: execProbe(script('galera-probe.sh', 'startup'), { periodSeconds: 10, timeoutSeconds: 5, failureThreshold: Math.ceil(startupBudgetSeconds / 10) }),
            readinessProbe: execProbe(script('galera-probe.sh', 'readiness'), { periodSeconds: 5, timeoutSeconds: 4, failureThreshold: 2 }),
            livenessProbe: execProbe(script('galera-probe.sh', 'liveness'), { periodSeconds: 10, timeoutSeconds: 8, failureThreshold: 6 }),
          }), ...(this.backupEndpoint ? [this.backupEndpointContainer(image)] : []), ...(r.metrics ? [this.exporterContainer(r, r.metrics.image)] : [])],
          volumes: [
            { name: 'config', configMap: { name: this.configMap.name, defaultMode: 0o555 } },
            // optional, so that the init container can say which Secret is missing.
            { name: 'credentials', secret: { secretName: r.secretName, defaultMode: 0o440, optional: true } },
            emptyDir('runtime', '16Mi', true),
            emptyDir('socket', '1Mi', true),
            emptyDir('tmp'),
            // optional, so that the init container can say which Secret is missing and how to make it.
            ...(this.tlsSecretName ? [{ name: 'tls', secret: { secretName: this.tlsSecretName, defaultMode: 0o440, optional: true } }] : []),
            ...(r.restoreFrom?.claimName ? [{ name: 'restore', persistentVolumeClaim: { claimName: r.restoreFrom.claimName, readOnly: true } }] : []),
            ...(r.restoreFrom?.s3 ? [emptyDir('restore')] : []),
          ],
        }),
        volumeClaimTemplates: [{
          metadata: { name: 'data', labels: this.labels },
          spec: {
            accessModes: [r.accessMode],
            storageClassName: r.storageClassName,
            resources: { requests: { storage: k8s.Quantity.fromString(r.storageSize) } },
          },
        }],
      },
    });
  }

  /**
   * The backup endpoint (scripts/backup/galera-backup-endpoint.sh): the node's own certificate
   * for the server side, the data volume and the socket for mariadb-backup. No probe: a sidecar
   * never takes the node out of the Services.
   */
  private backupEndpointContainer(image: { image: string; imagePullPolicy: PullPolicy; env: k8s.EnvVar[]; volumeMounts: k8s.VolumeMount[] }): k8s.Container {
    const e = this.backupEndpoint!;
    return container({
      ...image,
      name: 'backup',
      command: ['bash', `${GALERA_PATHS.config}/galera-backup-endpoint.sh`, 'listen'],
      env: [...image.env, { name: 'GALERA_BACKUP_PORT', value: String(e.port) }, { name: 'GALERA_BACKUP_CLIENT_CN', value: e.clientCommonName }],
      ports: { backup: e.port },
      resources: { requests: { cpu: k8s.Quantity.fromString('50m'), memory: k8s.Quantity.fromString('64Mi') }, limits: { memory: k8s.Quantity.fromString('1Gi') } },
    });
  }

  /**
   * The mysqld-exporter sidecar: it reaches the server over the socket as exporter@localhost. The
   * password comes from the Secret into the environment (DATA_SOURCE_NAME, which 0.14 reads), never
   * onto a command line or into a ConfigMap. No probe: a sidecar never takes the node out of the Services.
   */
  private exporterContainer(r: ResolvedGaleraCluster, image: string): k8s.Container {
    return container({
      name: 'metrics', image, imagePullPolicy: r.imagePullPolicy,
      command: ['mysqld_exporter'],
      args: EXPORTER_ARGS,
      env: [
        { name: 'EXPORTER_PASSWORD', valueFrom: { secretKeyRef: { name: r.secretName, key: SECRET_KEYS.exporter } } },
        // The parameters part must be there: 0.14 appends its own with '&' when the DSN holds a '?'
        // anywhere (a password may), else with '?' (tested with such a password in the cluster test).
        { name: 'DATA_SOURCE_NAME', value: `${EXPORTER_USER}:$(EXPORTER_PASSWORD)@unix(${GALERA_PATHS.socketDir}/mysqld.sock)/?timeout=5s` },
      ],
      ports: { metrics: GALERA_METRICS_PORT },
      volumeMounts: [{ name: 'socket', mountPath: GALERA_PATHS.socketDir, readOnly: true }],
      resources: { requests: { cpu: k8s.Quantity.fromString('10m'), memory: k8s.Quantity.fromString('32Mi') }, limits: { memory: k8s.Quantity.fromString('128Mi') } },
    });
  }

  /** restore-fetch (S3 only) and restore: the first pod creates the cluster from the backup. */
  private restoreContainers(r: ResolvedGaleraCluster, image: { image: string; imagePullPolicy: PullPolicy; env: k8s.EnvVar[]; volumeMounts: k8s.VolumeMount[] }): k8s.Container[] {
    const from = r.restoreFrom;
    if (!from) return [];
    const restoreEnv = [{ name: 'RESTORE_DIR', value: GALERA_PATHS.restore }, { name: 'RESTORE_BACKUP', value: from.backup }];
    const mounts = [...image.volumeMounts, { name: 'restore', mountPath: GALERA_PATHS.restore, readOnly: from.claimName !== undefined }];
    const fetch = from.s3 ? [container({
      name: 'restore-fetch', image: r.rcloneImage, imagePullPolicy: r.imagePullPolicy,
      command: ['sh', `${GALERA_PATHS.config}/galera-restore-fetch.sh`],
      env: [...image.env.filter((e) => ['POD_NAME', 'GALERA_DATA_DIR'].includes(e.name)), ...restoreEnv, ...rcloneEnv(from.s3)],
      volumeMounts: [
        { name: 'config', mountPath: GALERA_PATHS.config, readOnly: true }, { name: 'data', mountPath: GALERA_PATHS.data, readOnly: true },
        { name: 'restore', mountPath: GALERA_PATHS.restore }, { name: 'tmp', mountPath: GALERA_PATHS.tmp },
      ],
      resources: { requests: { cpu: k8s.Quantity.fromString('100m'), memory: k8s.Quantity.fromString('64Mi') }, limits: { memory: k8s.Quantity.fromString('512Mi') } },
    })] : [];
    return [...fetch, container({
      ...image, name: 'restore', command: ['bash', `${GALERA_PATHS.config}/galera-restore.sh`],
      env: [...image.env, ...restoreEnv], volumeMounts: mounts, resources: r.resources,
    })];
  }

  /** The environment the node scripts read their settings from. */
  private nodeEnv(r: ResolvedGaleraCluster): k8s.EnvVar[] {
    const field = (name: string, fieldPath: string): k8s.EnvVar => ({ name, valueFrom: { fieldRef: { fieldPath } } });
    const values: Record<string, string> = {
      GALERA_SERVICE: this.name,
      GALERA_PEERS: this.podDnsNames.join(','),
      GALERA_STATE_PORT: String(GALERA_PORTS.state),
      GALERA_SECRET_NAME: r.secretName,
      GALERA_CREDENTIALS_DIR: GALERA_PATHS.credentials,
      GALERA_CONFIG_DIR: GALERA_PATHS.config,
      GALERA_RUNTIME_DIR: GALERA_PATHS.runtime,
      GALERA_DATA_DIR: GALERA_PATHS.data,
      GALERA_APP_USER: r.appUser,
      GALERA_APP_DATABASE: r.appDatabase,
      GALERA_READY_WHEN_DONOR: r.readyWhenDonor ? '1' : '0',
      GALERA_NON_PRIMARY_RESTART_SECONDS: String(r.nonPrimaryRestartSeconds),
      GALERA_STUCK_DESYNC_RESTART_SECONDS: String(r.stuckDesyncRestartSeconds),
      ...(r.metrics ? { GALERA_EXPORTER_USER: EXPORTER_USER } : {}),
      GALERA_TLS: r.tls.enabled ? (r.tls.transitional ? 'transitional' : 'on') : 'off',
      ...(this.tlsSecretName ? { GALERA_TLS_DIR: GALERA_PATHS.tls, GALERA_TLS_SECRET_NAME: this.tlsSecretName } : {}),
    };
    return [
      field('POD_NAME', 'metadata.name'), field('POD_NAMESPACE', 'metadata.namespace'), field('POD_IP', 'status.podIP'),
      ...Object.entries(values).map(([name, value]) => ({ name, value })),
    ];
  }
}

/** The TCP port of an S3 endpoint URL (AWS S3: 443). */
function bucketPort(endpoint: string | undefined): number {
  if (endpoint === undefined) return 443;
  const url = new URL(endpoint);
  return url.port ? Number(url.port) : url.protocol === 'http:' ? 80 : 443;
}
