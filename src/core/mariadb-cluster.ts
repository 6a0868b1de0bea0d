import { ApiObject, Lazy } from 'cdk8s';
import { SECRET_KEYS } from './credentials';
import {
  accountsList, BackendUser, backendUsers, DECLARED_PASSWORDS_DIR, DeclaredDatabase, DeclaredUser, passwordSecretMounts,
  passwordSecretVolumes, resolveAccounts, ResolvedAccounts,
} from './accounts';
import { Construct } from 'constructs';
import * as k8s from '../../imports/k8s';
import { BackendTls, BackendTopology, DataVolumes, DEFAULT_SERVER_VERSION, IMariaDbCluster, serverVersionForImage } from './backend';
import {
  AntiAffinityMode, chartNamespace, container, ContainerResources, emptyDir, nameFromId, PART_OF, podDisruptionBudget, podTemplate,
  PullPolicy, resolveName, resolveResources, ResolvedResources, resourceRequirements, ResolvedTopologySpread, resolveTopologySpread,
  TopologySpread,
} from './pod';
import { PodPeer } from './pod-peer';
import { guardUniqueNames } from './unique-names';
import { readScript } from './scripts';
import { commonNodeScripts, NODE_PATHS, nodeEnvName, sharedNodeEnv } from './node-env';
import {
  EXTERNAL_SOURCE_MOUNT, externalSourceEnv, externalSourceVolume, ExternalSourceProps, ResolvedExternalSource, resolveExternalSource,
} from './external-source';
import { bytesOfMyCnfSize, OwnedServerOptions, resolveExtraMyCnf } from './server-config';
import type { IProxySqlRouting } from '../proxysql/routing';
import { CertificateSpec, certificate, ResolvedTls, resolveTls, serviceDnsNames, TlsProps } from '../tls/tls';
import { BackupEndpoint, BackupEndpointProps } from '../backup/backup-endpoint';
import { DEFAULT_RCLONE_IMAGE, ResolvedRestore, resolveRestore, RestoreSource } from '../backup/backup-location';
import { RestoreFromBackup } from '../backup/restore';
import { MetricsExporter, MetricsExporterProps, resolveMetricsExporter } from '../monitoring/metrics-exporter';
import { Checker, isMapping, quantityValue, Resolved, resolveOrThrow } from '../values/validation';
import type {
  ClusterName, DatabaseName, DnsDomain, DnsLabel, DnsSubdomain, ImageReference, MariaDbUserName, MyCnfLine, MyCnfSize, StorageSize,
} from '../values/formats';

/** Access modes a data volume may use (one writer pod per volume). */
export type DataAccessMode = 'ReadWriteOnce' | 'ReadWriteOncePod';
/** Every DataAccessMode. */
export const DATA_ACCESS_MODES: readonly DataAccessMode[] = ['ReadWriteOnce', 'ReadWriteOncePod'];

/** The MariaDB image of the database pods by default. */
export const DEFAULT_MARIADB_IMAGE = 'docker.io/library/mariadb:10.11.19';

/**
 * Props every MariaDB topology shares (GaleraClusterProps and MariaDbReplicationProps extend it):
 * the pods, their storage and scheduling, the server basics, the accounts, and the features that
 * attach to the pods (TLS, the metrics exporter, the backup endpoint, a restore). Every field is
 * optional; a values file sets them under the topology's section.
 */
export interface MariaDbClusterProps {
  /** Name of the StatefulSet, the headless Service and the prefix of every object. @default - the construct id in kebab case */
  readonly name?: ClusterName;
  /** Namespace of every object. @default - the namespace of the chart, else 'default' */
  readonly namespace?: DnsLabel;
  /** Number of nodes: odd and at least 3, so a majority survives the loss of any one. @default 3 @asType integer @minimum 1 @maximum 99 */
  readonly replicas?: number;
  /** Allow an even number or fewer than 3 nodes (tests, development). @default false */
  readonly allowUnsafeReplicaCount?: boolean;
  /** Container image; the scripts need only what the official image ships. @default 'docker.io/library/mariadb:10.11.19' */
  readonly image?: ImageReference;
  /** Image pull policy. @default 'IfNotPresent' */
  readonly imagePullPolicy?: PullPolicy;
  /** Size of each node's data volume. @default '10Gi' */
  readonly storageSize?: StorageSize;
  /** StorageClass of the data volumes. @default - the cluster's default class */
  readonly storageClassName?: DnsSubdomain;
  /** Access mode of the data volumes. @default 'ReadWriteOnce' */
  readonly accessMode?: DataAccessMode;
  /** Resources of the MariaDB container. @default - 500m CPU and 1Gi memory requested, 2Gi memory limit, no CPU limit */
  readonly resources?: ContainerResources;
  /** `innodb_buffer_pool_size`; below resources.memoryLimit. @default '512M' */
  readonly innodbBufferPoolSize?: MyCnfSize;
  /** `max_connections`. @default 500 @asType integer @minimum 10 @maximum 100000 */
  readonly maxConnections?: number;
  /**
   * `innodb_snapshot_isolation`: a transaction that reads a row and then writes a row another
   * transaction changed after its snapshot fails (error 1020, retry it) instead of overwriting
   * that change, which rules out lost updates (P4) and read skew (G-single) on one node; see
   * docs/consistency.md for what was measured with it on and off.
   * @default true
   */
  readonly snapshotIsolation?: boolean;
  /**
   * `binlog_expire_logs_seconds`: how long every node keeps its binary logs. They are what
   * point-in-time recovery replays (the archiver ships them to the backup destination), so this
   * is how long the archiver may fall behind (destination unreachable) without losing the chain.
   * @default 259200 @asType integer @minimum 3600 @maximum 31536000
   */
  readonly binlogExpireSeconds?: number;
  /**
   * Extra lines appended to the `[mysqld]` section of the server configuration; the options the
   * construct and its scripts set on this topology (its OWNED_OPTIONS list) are refused.
   * @default - none
   */
  readonly extraMyCnf?: MyCnfLine[];
  /** Name of the Secret holding the passwords (keys in SECRET_KEYS). @default - '<name>-credentials' */
  readonly secretName?: DnsSubdomain;
  /** Application account created with the cluster; not one of the accounts the scripts own. @default 'app' */
  readonly appUser?: MariaDbUserName;
  /** Database the application account owns. @default 'app' */
  readonly appDatabase?: DatabaseName;
  /**
   * Databases the cluster creates (see docs/accounts.md); removing one from the list leaves it
   * and its data.
   * @default - none
   */
  readonly databases?: DeclaredDatabase[];
  /**
   * Accounts the cluster creates and keeps as declared on every rollout, their passwords from
   * Secrets; one removed from the list is dropped if the cluster created it. ProxySQL knows
   * every one.
   * @default - none
   */
  readonly users?: DeclaredUser[];
  /** Pod anti-affinity on the node hostname. @default 'preferred' */
  readonly antiAffinity?: AntiAffinityMode;
  /** Topology spread constraint. @default - none */
  readonly topologySpread?: TopologySpread;
  /** Kubernetes cluster DNS domain. @default 'cluster.local' */
  readonly clusterDomain?: DnsDomain;
  /**
   * Seconds Kubernetes waits for a graceful shutdown before SIGKILL.
   * @default - 120 on Galera, 60 on primary/replica @asType integer @minimum 10 @maximum 3600
   */
  readonly terminationGracePeriodSeconds?: number;
  /**
   * TLS for clients, for the traffic between the nodes and for their state transfers (see TlsProps).
   * @default - on, certificates from the Secret '<name>-tls'
   */
  readonly tls?: TlsProps;
  /**
   * Run the backup endpoint in every pod (a "backup" sidecar that streams mariadb-backup over
   * mutual TLS to the backup job's certificate only); MariaDbBackup needs it. Requires TLS.
   * @default false
   */
  readonly backupEndpoint?: boolean;
  /** Create this cluster from a backup (see docs/backup.md). @default - none */
  readonly restoreFrom?: RestoreSource;
  /**
   * The GTID domain of the cluster's own transactions (`gtid_domain_id`, Galera's
   * `wsrep_gtid_domain_id`); its server ids are 1000 × this + 1..N. Required with a source, and
   * never a domain of the source's history, so the two never interleave in one domain; keep it
   * after the cutover.
   * @default 0 @asType integer @minimum 0 @maximum 4000
   */
  readonly gtidDomainId?: number;
  /**
   * An external MariaDB server the new cluster copies when it is created and then follows,
   * read-only for clients, until the cutover (docs/migration.md). Needs gtidDomainId.
   * @default - none
   */
  readonly source?: ExternalSourceProps;
  /**
   * Image of the container that fetches a backup from S3 for restoreFrom (DEFAULT_RCLONE_IMAGE).
   * @default 'docker.io/rclone/rclone:1.60.1'
   */
  readonly rcloneImage?: ImageReference;
  /** The mysqld-exporter sidecar (Prometheus metrics on port 9104, named `metrics`). @default - none */
  readonly metrics?: MetricsExporterProps;
}

/** MariaDbClusterProps with every default applied and every value checked. @internal */
export type ResolvedMariaDbCluster = Resolved<MariaDbClusterProps, 'storageClassName', {
  readonly resources: ResolvedResources;
  readonly topologySpread?: ResolvedTopologySpread;
  readonly tls: ResolvedTls;
  readonly restoreFrom?: ResolvedRestore;
  readonly source?: ResolvedExternalSource;
  /** restoreFrom as given (RestoreFromBackup resolves it itself). */
  readonly restoreSource?: RestoreSource;
  readonly metrics?: { readonly image: string };
  readonly databases: ResolvedAccounts['databases'];
  readonly users: ResolvedAccounts['users'];
}>;

/** What a topology tells the shared resolver. @internal */
export interface TopologyRules {
  /** The default name (the construct id in kebab case). */
  readonly defaultName: string;
  /** Why the replica count must be odd and at least 3 on this topology. */
  readonly replicaCountReason: string;
  /** Accounts the scripts own; appUser may not be one. */
  readonly reservedUsers: readonly string[];
  /** Server options the construct and its scripts own; extraMyCnf may not set them. */
  readonly ownedOptions: OwnedServerOptions;
  /** Default terminationGracePeriodSeconds. */
  readonly terminationGracePeriodSeconds: number;
  /** Default tls.enabled. */
  readonly tlsByDefault: boolean;
  /** Why tls.transitional is refused on this topology; undefined: it is allowed. */
  readonly noTransitionalTls?: string;
}

/**
 * Applies the defaults of the props every topology shares (checked by their schema, see
 * checkProps) and the rules between them, reporting every problem into `c`. The topology resolves
 * its own props next to it.
 * @internal
 */
export function resolveMariaDbCluster(p: MariaDbClusterProps, c: Checker, defaultNamespace: string,
  t: TopologyRules): ResolvedMariaDbCluster {
  const name = resolveName(c, p.name, t.defaultName, 40);
  const { replicas = 3, allowUnsafeReplicaCount = false } = p;
  if (!allowUnsafeReplicaCount && (replicas < 3 || replicas % 2 === 0)) {
    c.add(`${c.f('replicas')} must be odd and at least 3 (3, 5, 7, ...), got ${replicas}: ${t.replicaCountReason}; `
      + 'set allowUnsafeReplicaCount to override');
  }
  const resources = resolveResources(c, 'resources', p.resources, { cpuRequest: '500m', memoryRequest: '1Gi', memoryLimit: '2Gi' },
    { bytes: 256 * 2 ** 20, label: '256Mi', what: 'MariaDB' });
  const innodbBufferPoolSize = p.innodbBufferPoolSize ?? '512M';
  c.check(!(bytesOfMyCnfSize(innodbBufferPoolSize) >= quantityValue(resources.memoryLimit)),
    `${c.f('innodbBufferPoolSize')} (${innodbBufferPoolSize}) must be smaller than ${c.f('resources.memoryLimit')} `
      + `(${resources.memoryLimit}), `
    + 'or the server is OOM-killed');
  const tls = resolveTls(c, 'tls', p.tls, t.tlsByDefault);
  c.check(!(tls.transitional && t.noTransitionalTls),
    `${c.f('tls.transitional')} is not available on this topology: ${t.noTransitionalTls}`);
  const backupEndpoint = p.backupEndpoint ?? false;
  c.check(!backupEndpoint || tls.enabled,
    `${c.f('backupEndpoint')} needs ${c.f('tls.enabled')}: true (the endpoint knows the backup job by its client certificate)`);
  const appUser = p.appUser ?? 'app';
  const appDatabase = p.appDatabase ?? 'app';
  c.check(
    !t.reservedUsers.includes(appUser),
    `${c.f('appUser')} must not be one of the reserved accounts ${t.reservedUsers.join(', ')}, got '${appUser}'`,
  );
  c.check(!p.source || p.gtidDomainId !== undefined,
    `${c.f('source')} needs ${c.f('gtidDomainId')}: the cluster's own GTID domain, one the source's history does not use `
    + '(a source usually writes domain 0: choose 1)');
  c.check(!p.source || !p.restoreFrom,
    `${c.f('source')} and ${c.f('restoreFrom')} exclude each other: a cluster with a source is created as a copy of it`);
  return {
    name,
    namespace: p.namespace ?? defaultNamespace,
    replicas,
    allowUnsafeReplicaCount,
    image: p.image ?? DEFAULT_MARIADB_IMAGE,
    imagePullPolicy: p.imagePullPolicy ?? 'IfNotPresent',
    storageSize: p.storageSize ?? '10Gi',
    storageClassName: p.storageClassName,
    accessMode: p.accessMode ?? 'ReadWriteOnce',
    resources,
    innodbBufferPoolSize,
    maxConnections: p.maxConnections ?? 500,
    snapshotIsolation: p.snapshotIsolation ?? true,
    binlogExpireSeconds: p.binlogExpireSeconds ?? 259200,
    extraMyCnf: resolveExtraMyCnf(c, 'extraMyCnf', p.extraMyCnf, t.ownedOptions),
    secretName: p.secretName ?? `${name}-credentials`,
    appUser,
    appDatabase,
    ...resolveAccounts(c, p, {
      reservedUsers: t.reservedUsers, appUser, appDatabase,
      credentials: { secretName: p.secretName ?? `${name}-credentials`, keys: Object.values(SECRET_KEYS) },
    }),
    antiAffinity: p.antiAffinity ?? 'preferred',
    topologySpread: resolveTopologySpread(p.topologySpread),
    clusterDomain: p.clusterDomain ?? 'cluster.local',
    terminationGracePeriodSeconds: p.terminationGracePeriodSeconds ?? t.terminationGracePeriodSeconds,
    tls,
    backupEndpoint,
    restoreFrom: resolveRestore(c, 'restoreFrom', p.restoreFrom, name),
    restoreSource: p.restoreFrom,
    gtidDomainId: p.gtidDomainId ?? 0,
    source: resolveExternalSource(c, 'source', p.source),
    rcloneImage: p.rcloneImage ?? DEFAULT_RCLONE_IMAGE,
    metrics: resolveMetricsExporter(p.metrics),
  };
}

/**
 * Resolves a topology's props with `resolve` and throws one ValidationError naming the construct
 * with every problem. @internal
 */
export function resolveClusterOrThrow<T>(kind: string, scope: Construct, id: string, props: unknown,
  resolve: (c: Checker, defaultNamespace: string, defaultName: string) => T): T {
  const named = isMapping(props) && typeof props.name === 'string' ? props.name : nameFromId(id);
  return resolveOrThrow(`${kind} '${named}'`, (c) => resolve(c, chartNamespace(scope), nameFromId(id)));
}

/** Paths inside every database pod; the node scripts receive them through the environment. */
export interface NodePaths {
  /** The ConfigMap: server configuration and scripts. */
  readonly config: string;
  /** The credentials Secret, as files. */
  readonly credentials: string;
  /** The TLS Secret (ca.crt, tls.crt, tls.key), as cert-manager writes it; never a subPath, so renewals arrive. */
  readonly tls: string;
  /** Memory-backed emptyDir: the rendered configuration, the state and heartbeat files. */
  readonly runtime: string;
  /** The server's socket and pid file. */
  readonly socketDir: string;
  /** The data volume. */
  readonly data: string;
  /** Scratch space. */
  readonly tmp: string;
  /** The backup a restore reads (the backup volume, or the copy fetched from S3). */
  readonly restore: string;
}

/**
 * A container of the node image: it gets the node's environment and mounts (as the init and main
 * containers and the node's sidecars do) and this project's hardened security context.
 */
export interface NodeContainerOptions {
  /** Container name. */
  readonly name: string;
  /** Command (the image's entrypoint is never used). */
  readonly command: string[];
  /** Arguments. @default - none */
  readonly args?: string[];
  /** Environment after the node's. @default - none */
  readonly extraEnv?: k8s.EnvVar[];
  /** Mounts after the node's. @default - none */
  readonly extraMounts?: k8s.VolumeMount[];
  /** Named container ports. @default - none */
  readonly ports?: Record<string, number>;
  /** Resources. */
  readonly resources: k8s.ResourceRequirements;
  /** Probes. @default - none */
  readonly startupProbe?: k8s.Probe;
  /** @default - none */
  readonly readinessProbe?: k8s.Probe;
  /** @default - none */
  readonly livenessProbe?: k8s.Probe;
}

/** A container added to the pods: given as is, or built at synth time from the node image's settings. */
export type PodContainer = k8s.Container | ((node: NodeImage) => k8s.Container);

/** The node image and what its containers share, as the topology and the features build containers from it. */
export interface NodeImage {
  /** The MariaDB image and pull policy. */
  readonly image: string;
  readonly imagePullPolicy: PullPolicy;
  /** The node environment (pod fields, paths, settings) every node container gets. */
  readonly env: k8s.EnvVar[];
  /** The node mounts (config, credentials, runtime, socket, tmp, data, TLS). */
  readonly volumeMounts: k8s.VolumeMount[];
  /** The paths inside the pod. */
  readonly paths: NodePaths;
  /** `bash <config dir>/<file> <args>`: how the pods run a script of the ConfigMap. */
  script(file: string, ...args: string[]): string[];
  /** A hardened container of the node image with the node environment and mounts. */
  container(o: NodeContainerOptions): k8s.Container;
  /** The resources of the MariaDB container, for containers that do its work before it starts (a restore). */
  readonly serverResources: k8s.ResourceRequirements;
}

/**
 * The extension points of a MariaDB cluster's pods, through which features (TLS, the metrics
 * exporter, the backup endpoint, a restore, a user's own sidecar) attach to either topology. What
 * is added before synthesis goes into the pod template, the ConfigMap and its checksum.
 */
export interface IMariaDbPods {
  /** Adds a sidecar container to every pod. */
  addSidecar(container: PodContainer): void;
  /** Adds an init container that runs after the node's own (which renders the configuration and checks the Secret). */
  addInitContainer(container: PodContainer): void;
  /** Adds a volume to the pods. */
  addVolume(volume: k8s.Volume): void;
  /** Mounts a volume into every container of the node image (init, main, node sidecars). */
  addNodeMount(mount: k8s.VolumeMount): void;
  /** Sets an environment variable of every container of the node image. */
  addNodeEnv(name: string, value: string): void;
  /** Adds a file to the ConfigMap (the pods see it in the config directory; a change rolls them). */
  addConfigFile(name: string, text: string): void;
  /** Publishes a port of the pods (a sidecar's) on the headless Service, by name. */
  addPort(name: string, port: number): void;
  /** Runs the pods as this ServiceAccount (a pod identity for a bucket); its API token is still not mounted. */
  useServiceAccount(name: string): void;
}

/** The main container's command and probes, as a topology gives them. @internal */
export type MainContainer = Pick<NodeContainerOptions, 'command' | 'startupProbe' | 'readinessProbe' | 'livenessProbe'>;

/** The Service clients use straight to the servers, and the others a topology adds. @internal */
export interface ClientServiceSpec {
  /** Name suffix: `<name>-<suffix>`. */
  readonly suffix: string;
  /** Extra spec fields (e.g. session affinity). */
  readonly spec?: Partial<k8s.ServiceSpec>;
}

/** What a topology gives the shared layer when it is built. @internal */
export interface TopologyShape {
  readonly topology: BackendTopology;
  /** The GTID domain of the cluster's own transactions (what the binlog archiver ships). */
  readonly gtidDomainId: number;
  /** The external source the cluster copies and follows until the cutover. @default - none */
  readonly source?: ResolvedExternalSource;
  /** `app.kubernetes.io/name` of the pods. */
  readonly appName: string;
  /** Every port of the main container by name (the headless Service publishes them too). */
  readonly ports: Readonly<Record<string, number>>;
  /** The ports that only the nodes use between them (replication, transfers, state). */
  readonly peerPorts: readonly number[];
  /** The client Services besides the headless one; the first one is `endpoint`, `read` is readService. */
  readonly clientServices: readonly ClientServiceSpec[];
  /** ProxySQL's writer and health rules. */
  readonly routing: IProxySqlRouting;
  /** Files of scripts/ the pods run, by their name in the ConfigMap. */
  readonly scripts: Readonly<Record<string, string>>;
  /** Files of scripts/ a job needs to read the nodes' state ports (the backup job), by their name in its ConfigMap. */
  readonly stateScripts: Readonly<Record<string, string>>;
}

/**
 * The shared node-set layer of both topologies: a StatefulSet of MariaDB pods with a headless
 * Service (every pod's DNS name, ready or not), client Services, data volumes from claim
 * templates, hardened pods with anti-affinity and spread, a PodDisruptionBudget, a ConfigMap
 * (server configuration and scripts) whose checksum rolls the pods, and the credentials Secret.
 * TLS, the metrics exporter, the backup endpoint and a restore attach through `pods`. A topology
 * (GaleraCluster, MariaDbReplication) supplies only what is its own: the server configuration,
 * its scripts and environment, the readiness rule and ProxySQL's routing.
 */
export abstract class MariaDbCluster extends PodPeer implements IMariaDbCluster {
  /** How ProxySQL tells the writer from the readers. */
  public readonly topology: BackendTopology;
  /** The GTID domain of the cluster's own transactions. */
  public readonly gtidDomainId: number;
  /** The external source the cluster copies when it is created and follows until the cutover, if any. */
  public readonly source?: ResolvedExternalSource;
  /** ProxySQL's writer and health rules for this topology. */
  public readonly routing: IProxySqlRouting;
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
  /** ClusterIP Service spreading reads over the ready pods. */
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
  /** The declared users (the users prop), as ProxySQL learns them. */
  public readonly declaredUsers: readonly BackendUser[];
  /** Fully qualified DNS names of the pods, ordinal 0 first. */
  public readonly podDnsNames: string[];
  /** MySQL port of the pods. */
  public readonly port: number;
  /** Every port of a database pod by name. */
  public readonly ports: Readonly<Record<string, number>>;
  /** The ports only the database pods use between them (replication, state transfers, the state port). */
  public readonly peerPorts: readonly number[];
  /** Labels that select the database pods. */
  public readonly selectorLabels: Record<string, string>;
  /** Labels of every object of the cluster. */
  public readonly labels: Record<string, string>;
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
  /** The data volumes: size and StorageClass of each. */
  public readonly storage: DataVolumes;
  /** The extension points of the pods. */
  public readonly pods: IMariaDbPods;
  /** The paths inside the pods. */
  public readonly paths: NodePaths;
  /** The resolved shared props. @internal */
  protected readonly resolved: ResolvedMariaDbCluster;
  private readonly clientServices = new Map<string, k8s.KubeService>();
  private readonly stateScriptFiles: Readonly<Record<string, string>>;
  private readonly slots = new PodSlots();
  private exporter?: MetricsExporter;
  private endpointSidecar?: BackupEndpoint;
  private restore?: RestoreFromBackup;

  /** @internal */
  protected constructor(scope: Construct, id: string, r: ResolvedMariaDbCluster, shape: TopologyShape) {
    super(scope, id);
    guardUniqueNames(this);
    this.resolved = r;
    this.topology = shape.topology;
    this.gtidDomainId = shape.gtidDomainId;
    this.source = shape.source;
    this.routing = shape.routing;
    this.name = r.name;
    this.namespace = r.namespace;
    this.replicas = r.replicas;
    this.secretName = r.secretName;
    this.appUser = r.appUser;
    this.appDatabase = r.appDatabase;
    this.declaredUsers = backendUsers(r);
    this.image = r.image;
    this.paths = NODE_PATHS;
    this.stateScriptFiles = shape.stateScripts;
    this.ports = shape.ports;
    this.peerPorts = shape.peerPorts;
    this.port = shape.ports.mysql;
    this.pods = this.slots;
    this.storage = { name: r.name, storageSize: r.storageSize, storageClassName: r.storageClassName };
    this.serverVersion = serverVersionForImage(r.image) ?? DEFAULT_SERVER_VERSION;
    this.selectorLabels = { 'app.kubernetes.io/name': shape.appName, 'app.kubernetes.io/instance': r.name };
    this.labels = { ...this.selectorLabels, 'app.kubernetes.io/component': 'database', ...PART_OF };
    this.podDnsNames = Array.from({ length: r.replicas }, (_, i) => `${r.name}-${i}.${r.name}.${r.namespace}.svc.${r.clusterDomain}`);
    this.tls = {
      enabled: r.tls.enabled, requireSecureTransport: r.tls.requireSecureTransport, issuer: r.tls.issuer, clusterDomain: r.clusterDomain,
    };
    if (r.tls.enabled) {
      this.tlsSecretName = `${r.name}-tls`;
      this.certificateSpec = this.nodeCertificate(r, this.tlsSecretName, shape.clientServices);
      if (r.tls.issuer) this.certificate = certificate(this, 'certificate', r.namespace, this.labels, r.tls.issuer, this.certificateSpec);
    }

    this.configMap = new k8s.KubeConfigMap(this, 'config', {
      metadata: this.metadata(`${r.name}-config`),
      data: Lazy.any({ produce: () => this.configData() }) as unknown as Record<string, string>,
    });
    this.headlessService = this.addHeadlessService();
    for (const s of shape.clientServices) this.clientServices.set(s.suffix, this.addClientService(s));
    this.readService = this.clientServices.get('read')!;
    this.endpointService = this.clientServices.get(shape.clientServices[0].suffix)!;
    this.statefulSet = new k8s.KubeStatefulSet(this, 'statefulset', {
      metadata: this.metadata(r.name), spec: Lazy.any({ produce: () => this.statefulSetSpec() }) as unknown as k8s.StatefulSetSpec,
    });
    this.podDisruptionBudget = podDisruptionBudget(this, this.metadata(r.name), this.selectorLabels);
    for (const [file, path] of Object.entries(shape.scripts)) this.slots.addConfigFile(file, readScript(path));
    for (const [file, text] of Object.entries(commonNodeScripts())) this.slots.addConfigFile(file, text);
    this.attachFeatures(r);
    if (shape.source) this.attachSource(shape.source);
  }

  /**
   * The external source: its Secret in every node container (the first node copies the source,
   * the primary follows it) and the settings of scripts/common/source.sh.
   */
  private attachSource(s: ResolvedExternalSource): void {
    this.slots.addVolume(externalSourceVolume(s));
    this.slots.addNodeMount(EXTERNAL_SOURCE_MOUNT);
    for (const [name, value] of Object.entries(externalSourceEnv(s))) this.slots.addNodeEnv(name, value);
  }

  /** The Service `endpoint` names. */
  private readonly endpointService: k8s.KubeService;

  /** The client Service `<name>-<suffix>` of the topology's shape. @internal */
  protected clientService(suffix: string): k8s.KubeService {
    const s = this.clientServices.get(suffix);
    if (!s) throw new Error(`${this.constructor.name} '${this.name}' has no Service '${this.name}-${suffix}'`);
    return s;
  }

  /** `host:port` of the Service clients use straight to the servers. */
  public get endpoint(): string {
    return `${this.endpointService.name}.${this.namespace}.svc:${this.port}`;
  }

  /** The port of the exporter sidecar (named `metrics`), when a MetricsExporter is attached. */
  public get metricsPort(): number | undefined {
    return this.exporter?.port;
  }

  /** The backup endpoint of the pods, when one is attached (backupEndpoint). */
  public get backupEndpoint(): BackupEndpoint | undefined {
    return this.endpointSidecar;
  }

  /** The port of the bucket the pods fetch a backup from (restoreFrom.s3): their NetworkPolicy lets them out to it. */
  public get restoreBucketPort(): number | undefined {
    return this.restore?.bucketPort;
  }
  /** The port of the external source, which the nodes connect to (a NetworkPolicy lets them). */
  public get sourcePort(): number | undefined {
    return this.source?.port;
  }


  /** The restore this cluster was created from, when restoreFrom is set. */
  public get restoreFromBackup(): RestoreFromBackup | undefined {
    return this.restore;
  }

  /**
   * Records a feature attached to the pods, so that policies, monitors and backups wired to this
   * cluster learn its ports. Called by MetricsExporter, BackupEndpoint and RestoreFromBackup.
   * @internal
   */
  public _registerFeature(feature: MetricsExporter | BackupEndpoint | RestoreFromBackup): void {
    const kind = feature instanceof MetricsExporter
      ? 'metrics exporter'
      : feature instanceof BackupEndpoint ? 'backup endpoint' : 'restore';
    const taken = feature instanceof MetricsExporter
      ? this.exporter
      : feature instanceof BackupEndpoint ? this.endpointSidecar : this.restore;
    if (taken) throw new Error(`${this.constructor.name} '${this.name}' already has a ${kind} (${taken.node.path})`);
    if (feature instanceof MetricsExporter) this.exporter = feature;
    else if (feature instanceof BackupEndpoint) this.endpointSidecar = feature;
    else this.restore = feature;
  }

  /**
   * The name of a node setting both topologies' scripts read (e.g. EXPORTER_USER): one name for
   * both, NODE_<setting> (scripts/common/node-lib.sh, docs/node-library.md). @internal
   */
  public _envName(setting: string): string {
    return nodeEnvName(setting);
  }

  /** Files of scripts/ a job needs to read the nodes' state ports, by their name in its ConfigMap. @internal */
  public _stateScripts(): Readonly<Record<string, string>> {
    return this.stateScriptFiles;
  }

  /** The server configuration of this topology (my.cnf), read by the init container. @internal */
  protected abstract serverConfig(): string;
  /** The topology's own settings for its scripts, as environment variables. @internal */
  protected abstract topologyEnv(): Record<string, string>;
  /** The init container's command (it checks the Secret and renders the node's configuration). @internal */
  protected abstract initCommand(node: NodeImage): string[];
  /** The main container: its command and probes (the readiness rule of the topology). @internal */
  protected abstract mainContainer(node: NodeImage): MainContainer;

  /**
   * The server lines TLS adds to `[mysqld]` (both topologies): the node certificate, and plain
   * clients refused when asked. @internal
   */
  protected tlsServerOptions(): string[] {
    if (!this.resolved.tls.enabled) return [];
    return [
      `ssl_cert=${this.paths.tls}/tls.crt`,
      `ssl_key=${this.paths.tls}/tls.key`,
      `ssl_ca=${this.paths.tls}/ca.crt`,
      `require_secure_transport=${this.resolved.tls.requireSecureTransport ? 'ON' : 'OFF'}`,
    ];
  }

  private attachFeatures(r: ResolvedMariaDbCluster): void {
    if (r.tls.enabled) {
      this.slots.addVolume({ name: 'tls', secret: { secretName: this.tlsSecretName!, defaultMode: 0o440, optional: true } });
      this.slots.addNodeMount({ name: 'tls', mountPath: this.paths.tls, readOnly: true });
    }
    this.declareAccounts(r);
    if (r.backupEndpoint) new BackupEndpoint(this, 'backup-endpoint', { cluster: this } satisfies BackupEndpointProps);
    if (r.restoreSource) new RestoreFromBackup(this, 'restore', { cluster: this, from: r.restoreSource, rcloneImage: r.rcloneImage });
    if (r.metrics) new MetricsExporter(this, 'metrics', { cluster: this, image: r.metrics.image });
  }

  /**
   * The declared users and databases: the declaration in the ConfigMap (a change rolls the pods,
   * and the node that takes writes applies it), each password Secret's keys as files.
   */
  private declareAccounts(r: ResolvedMariaDbCluster): void {
    const list = accountsList(r, DECLARED_PASSWORDS_DIR);
    if (list === undefined) return;
    this.slots.addConfigFile('accounts.list', list);
    for (const v of passwordSecretVolumes(r.users)) this.slots.addVolume(v);
    for (const m of passwordSecretMounts(r.users, DECLARED_PASSWORDS_DIR)) this.slots.addNodeMount(m);
  }

  private metadata(name: string): k8s.ObjectMeta {
    return { name, namespace: this.namespace, labels: this.labels };
  }

  /** Every pod's FQDN (and a wildcard for pods added by a scale-up) and every Service name. */
  private nodeCertificate(r: ResolvedMariaDbCluster, secretName: string, services: readonly ClientServiceSpec[]): CertificateSpec {
    const domain = `${r.name}.${r.namespace}.svc.${r.clusterDomain}`;
    return {
      secretName,
      commonName: domain,
      dnsNames: [
        ...this.podDnsNames, `*.${domain}`, `*.${r.name}.${r.namespace}.svc`,
        ...[r.name, ...services.map((s) => `${r.name}-${s.suffix}`)].flatMap((svc) => serviceDnsNames(svc, r.namespace, r.clusterDomain)),
      ],
      // A node is a server to clients and to its peers, and a client of its peers (replication, state transfers).
      usages: ['server', 'client'],
    };
  }

  private configData(): Record<string, string> {
    return { 'my.cnf': this.serverConfig(), ...this.slots.configFiles };
  }

  private addHeadlessService(): k8s.KubeService {
    return new k8s.KubeService(this, 'headless', {
      metadata: this.metadata(this.name),
      spec: Lazy.any({
        produce: (): k8s.ServiceSpec => ({
          clusterIp: 'None',
          // Peers must resolve each other before any of them is Ready (bootstrap, election, cloning).
          publishNotReadyAddresses: true,
          selector: this.selectorLabels,
          // every pod, ready or not, by name: sidecar ports (metrics) too, for a user's ServiceMonitor
          ports: Object.entries({ ...this.ports, ...this.slots.ports })
            .map(([name, port]) => ({ name, port, targetPort: k8s.IntOrString.fromNumber(port), protocol: 'TCP' })),
        }),
      }) as unknown as k8s.ServiceSpec,
    });
  }

  private addClientService(s: ClientServiceSpec): k8s.KubeService {
    return new k8s.KubeService(this, s.suffix, {
      metadata: this.metadata(`${this.name}-${s.suffix}`),
      spec: {
        type: 'ClusterIP', selector: this.selectorLabels, ...s.spec,
        ports: [{ name: 'mysql', port: this.port, targetPort: k8s.IntOrString.fromString('mysql'), protocol: 'TCP' }],
      },
    });
  }

  /** The node image, its environment and mounts, as every node container gets them. */
  private nodeImage(): NodeImage {
    const r = this.resolved;
    const paths = this.paths;
    const env = this.nodeEnv();
    const volumeMounts = [
      { name: 'config', mountPath: paths.config, readOnly: true },
      { name: 'credentials', mountPath: paths.credentials, readOnly: true },
      { name: 'runtime', mountPath: paths.runtime },
      { name: 'socket', mountPath: paths.socketDir },
      { name: 'tmp', mountPath: paths.tmp },
      { name: 'data', mountPath: paths.data },
      ...this.slots.nodeMounts,
    ];
    const script = (file: string, ...args: string[]) => ['bash', `${paths.config}/${file}`, ...args];
    return {
      image: r.image, imagePullPolicy: r.imagePullPolicy, env, volumeMounts, paths, script,
      serverResources: resourceRequirements(r.resources),
      container: (o) => {
        const { extraEnv, extraMounts, ...rest } = o;
        return container({
          ...rest, image: r.image, imagePullPolicy: r.imagePullPolicy,
          env: [...env, ...(extraEnv ?? [])], volumeMounts: [...volumeMounts, ...(extraMounts ?? [])],
        });
      },
    };
  }

  /** The environment the node scripts read their settings from: the shared NODE_* settings, the topology's, the features'. */
  private nodeEnv(): k8s.EnvVar[] {
    const r = this.resolved;
    return [
      ...sharedNodeEnv({
        peers: this.podDnsNames, statePort: this.ports.state, secretName: r.secretName, appUser: r.appUser, appDatabase: r.appDatabase,
        tls: r.tls.enabled ? { mode: r.tls.transitional ? 'transitional' : 'on', secretName: this.tlsSecretName } : undefined,
        gtidDomainId: this.gtidDomainId,
      }),
      ...Object.entries({ ...this.topologyEnv(), ...this.slots.env }).map(([name, value]) => ({ name, value })),
    ];
  }

  private statefulSetSpec(): k8s.StatefulSetSpec {
    const r = this.resolved;
    const node = this.nodeImage();
    const build = (c: PodContainer) => (typeof c === 'function' ? c(node) : c);
    const configData = this.configData();
    return {
      serviceName: this.headlessService.name,
      replicas: r.replicas,
      // OrderedReady would deadlock a full restart: the node that must start first may not be pod 0.
      podManagementPolicy: 'Parallel',
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 0 } },
      selector: { matchLabels: this.selectorLabels },
      template: podTemplate({
        labels: this.labels, selector: this.selectorLabels, configData,
        terminationGracePeriodSeconds: r.terminationGracePeriodSeconds, antiAffinity: r.antiAffinity, topologySpread: r.topologySpread,
        serviceAccountName: this.slots.serviceAccountName,
        initContainers: [node.container({
          name: 'init', command: this.initCommand(node),
          resources: {
            requests: { cpu: k8s.Quantity.fromString('50m'), memory: k8s.Quantity.fromString('64Mi') },
            limits: { memory: k8s.Quantity.fromString(r.resources.memoryLimit) },
          },
        }), ...this.slots.initContainers.map(build)],
        containers: [
          node.container({ name: 'mariadb', ports: this.ports, resources: node.serverResources, ...this.mainContainer(node) }),
          ...this.slots.sidecars.map(build),
        ],
        volumes: [
          { name: 'config', configMap: { name: this.configMap.name, defaultMode: 0o555 } },
          // optional, so that the init container can say which Secret is missing and how to make it.
          { name: 'credentials', secret: { secretName: r.secretName, defaultMode: 0o440, optional: true } },
          emptyDir('runtime', '16Mi', true),
          emptyDir('socket', '1Mi', true),
          emptyDir('tmp'),
          ...this.slots.volumes,
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
    };
  }
}

/** The pods' extension points, collected until synthesis. */
class PodSlots implements IMariaDbPods {
  public readonly sidecars: PodContainer[] = [];
  public readonly initContainers: PodContainer[] = [];
  public readonly volumes: k8s.Volume[] = [];
  public readonly nodeMounts: k8s.VolumeMount[] = [];
  public readonly env: Record<string, string> = {};
  public readonly configFiles: Record<string, string> = {};
  public readonly ports: Record<string, number> = {};
  public serviceAccountName?: string;

  public addSidecar(c: PodContainer): void {
    this.sidecars.push(c);
  }

  public addInitContainer(c: PodContainer): void {
    this.initContainers.push(c);
  }

  public addVolume(volume: k8s.Volume): void {
    if (this.volumes.some((v) => v.name === volume.name)) throw new Error(`the pods already have a volume named '${volume.name}'`);
    this.volumes.push(volume);
  }

  public addNodeMount(mount: k8s.VolumeMount): void {
    this.nodeMounts.push(mount);
  }

  public addNodeEnv(name: string, value: string): void {
    this.env[name] = value;
  }

  public addConfigFile(name: string, text: string): void {
    if (name === 'my.cnf') throw new Error("'my.cnf' is the server configuration of the topology; name the file otherwise");
    this.configFiles[name] = text;
  }

  public addPort(name: string, port: number): void {
    this.ports[name] = port;
  }

  public useServiceAccount(name: string): void {
    if (this.serviceAccountName !== undefined && this.serviceAccountName !== name) {
      throw new Error(`the pods already run as ServiceAccount '${this.serviceAccountName}', cannot also run as '${name}'`);
    }
    this.serviceAccountName = name;
  }
}
