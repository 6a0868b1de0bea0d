import { createHash } from 'crypto';
import { Construct } from 'constructs';
import * as k8s from '../imports/k8s';
import { readScript } from './scripts';
import { Checker, quantityToBytes } from './validation';

/** How hard the scheduler keeps Galera pods on different nodes. */
export type AntiAffinityMode = 'preferred' | 'required' | 'none';
export const ANTI_AFFINITY_MODES: readonly AntiAffinityMode[] = ['preferred', 'required', 'none'];

/** Access modes a Galera data volume may use (one writer pod per volume). */
export type DataAccessMode = 'ReadWriteOnce' | 'ReadWriteOncePod';
export const DATA_ACCESS_MODES: readonly DataAccessMode[] = ['ReadWriteOnce', 'ReadWriteOncePod'];

/**
 * How fast Galera evicts a member that stopped answering. Until the survivors evict it, every
 * write in the cluster waits, so this bounds the write stall after a pod crashes; shorter
 * timeouts also evict members on a slow or lossy network more readily.
 */
export type FailureDetection = 'galera-default' | 'balanced' | 'fast';
export const FAILURE_DETECTION_MODES: readonly FailureDetection[] = ['galera-default', 'balanced', 'fast'];
export const FAILURE_DETECTION_OPTIONS: Readonly<Record<FailureDetection, Readonly<Record<string, string>>>> = {
  // Galera's own defaults: suspect after 5 s, evict after 15 s without any message.
  'galera-default': {},
  'balanced': { 'evs.suspect_timeout': 'PT3S', 'evs.inactive_timeout': 'PT6S', 'evs.inactive_check_period': 'PT1S', 'evs.keepalive_period': 'PT1S' },
  'fast': { 'evs.suspect_timeout': 'PT2S', 'evs.inactive_timeout': 'PT4S', 'evs.inactive_check_period': 'PT0.5S', 'evs.keepalive_period': 'PT0.5S' },
};

export type PullPolicy = 'Always' | 'IfNotPresent' | 'Never';
export const PULL_POLICIES: readonly PullPolicy[] = ['Always', 'IfNotPresent', 'Never'];

/** CPU and memory for one container. */
export interface ContainerResources {
  /** CPU request. @default - the construct's default */
  readonly cpuRequest?: string;
  /** CPU limit. @default - no CPU limit (a throttled database stalls every Galera node) */
  readonly cpuLimit?: string;
  /** Memory request. @default - the construct's default */
  readonly memoryRequest?: string;
  /** Memory limit. @default - the construct's default */
  readonly memoryLimit?: string;
}

/** Spread of Galera pods over a topology domain, in addition to anti-affinity. */
export interface TopologySpread {
  /** Node label that defines the domain. @default 'topology.kubernetes.io/zone' */
  readonly topologyKey?: string;
  /** Largest allowed difference of pod counts between domains. @default 1 */
  readonly maxSkew?: number;
  /** Refuse to schedule rather than break the spread. @default false (ScheduleAnyway) */
  readonly required?: boolean;
}

export interface GaleraClusterProps {
  /** Name of the StatefulSet, the headless Service and the prefix of every object. @default 'galera' */
  readonly name?: string;
  /** Namespace of every object. @default 'default' */
  readonly namespace?: string;
  /** Number of Galera nodes: odd and at least 3, so a majority survives the loss of any one. @default 3 */
  readonly replicas?: number;
  /** Allow an even number or fewer than 3 nodes (tests, development). @default false */
  readonly allowUnsafeReplicaCount?: boolean;
  /** Container image; the scripts need only what the official image ships. @default 'docker.io/library/mariadb:11.4.12' */
  readonly image?: string;
  /** Image pull policy. @default 'IfNotPresent' */
  readonly imagePullPolicy?: PullPolicy;
  /** Size of each node's data volume. @default '10Gi' */
  readonly storageSize?: string;
  /** StorageClass of the data volumes. @default - the cluster's default class */
  readonly storageClassName?: string;
  /** Access mode of the data volumes. @default 'ReadWriteOnce' */
  readonly accessMode?: DataAccessMode;
  /** Resources of the MariaDB container. @default - 500m CPU and 1Gi memory requested, 2Gi memory limit */
  readonly resources?: ContainerResources;
  /** `innodb_buffer_pool_size`. @default '512M' */
  readonly innodbBufferPoolSize?: string;
  /** `max_connections`. @default 500 */
  readonly maxConnections?: number;
  /** Extra lines appended to the `[mysqld]` section of the server configuration. @default - none */
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
  /** Keep a node that is an SST donor in the ready endpoints. @default false */
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
  /** Seconds Kubernetes waits for a graceful shutdown before SIGKILL. @default 120 */
  readonly terminationGracePeriodSeconds?: number;
}

/** Provider options set unless overridden by `providerOptions`. */
export const DEFAULT_PROVIDER_OPTIONS: Readonly<Record<string, string>> = {
  // Large enough that a node restarting within minutes rejoins by IST, not SST.
  'gcache.size': '512M',
  // Lets a node rejoin by IST after a full-cluster restart when its gcache survived.
  'gcache.recover': 'yes',
  // The start-up election (galera-start.sh) decides who bootstraps after a full crash, with
  // the seqno of every node; a second, automatic path would race it.
  'pc.recovery': 'FALSE',
};

export const GALERA_PORTS = { mysql: 3306, galera: 4567, ist: 4568, sst: 4444, state: 4569 } as const;

/** Paths inside the MariaDB pod; the node scripts receive them through the environment. */
export const GALERA_PATHS = {
  config: '/opt/galera',
  credentials: '/etc/galera/credentials',
  runtime: '/run/galera',
  socketDir: '/run/mysqld',
  data: '/var/lib/mysql',
  tmp: '/tmp',
} as const;

const NODE_SCRIPTS = ['galera-lib.sh', 'galera-init.sh', 'galera-start.sh', 'galera-probe.sh', 'galera-state.sh'];

/**
 * A MariaDB Galera cluster: StatefulSet with a headless Service for peer discovery, data
 * volumes from claim templates, a ConfigMap with the server configuration and node scripts,
 * Services for direct and read access, and a PodDisruptionBudget.
 */
export class GaleraCluster extends Construct {
  public readonly name: string;
  public readonly namespace: string;
  public readonly replicas: number;
  public readonly statefulSet: k8s.KubeStatefulSet;
  /** Headless Service that gives every pod its DNS name, ready or not. */
  public readonly headlessService: k8s.KubeService;
  /** ClusterIP Service over the ready nodes, sticky per client, for direct (non-proxied) access. */
  public readonly directService: k8s.KubeService;
  /** ClusterIP Service spreading connections over all ready nodes, for reads. */
  public readonly readService: k8s.KubeService;
  public readonly configMap: k8s.KubeConfigMap;
  public readonly podDisruptionBudget: k8s.KubePodDisruptionBudget;
  /** Name of the Secret with the passwords. */
  public readonly secretName: string;
  public readonly appUser: string;
  public readonly appDatabase: string;
  /** Fully qualified DNS names of the pods, ordinal 0 first. */
  public readonly podDnsNames: string[];
  public readonly port: number = GALERA_PORTS.mysql;
  public readonly ports = GALERA_PORTS;
  /** Labels that select the Galera pods. */
  public readonly selectorLabels: Record<string, string>;

  constructor(scope: Construct, id: string, props: GaleraClusterProps = {}) {
    super(scope, id);
    validate(props);

    this.name = props.name ?? 'galera';
    this.namespace = props.namespace ?? 'default';
    this.replicas = props.replicas ?? 3;
    this.secretName = props.secretName ?? `${this.name}-credentials`;
    this.appUser = props.appUser ?? 'app';
    this.appDatabase = props.appDatabase ?? 'app';
    const domain = props.clusterDomain ?? 'cluster.local';
    this.selectorLabels = { 'app.kubernetes.io/name': 'mariadb-galera', 'app.kubernetes.io/instance': this.name };
    const labels = { ...this.selectorLabels, 'app.kubernetes.io/component': 'database', 'app.kubernetes.io/part-of': 'galera-proxysql' };
    this.podDnsNames = Array.from({ length: this.replicas }, (_, i) => `${this.name}-${i}.${this.name}.${this.namespace}.svc.${domain}`);
    const metadata = (name: string) => ({ name, namespace: this.namespace, labels });

    const providerOptions = {
      ...DEFAULT_PROVIDER_OPTIONS,
      ...FAILURE_DETECTION_OPTIONS[props.failureDetection ?? 'balanced'],
      ...(props.providerOptions ?? {}),
    };
    const configData: Record<string, string> = {
      'my.cnf': renderMyCnf({
        clusterName: this.name,
        peers: this.podDnsNames,
        bufferPool: props.innodbBufferPoolSize ?? '512M',
        maxConnections: props.maxConnections ?? 500,
        providerOptions,
        extra: props.extraMyCnf ?? [],
      }),
    };
    for (const script of NODE_SCRIPTS) configData[script] = readScript(`node/${script}`);
    this.configMap = new k8s.KubeConfigMap(this, 'config', { metadata: metadata(`${this.name}-config`), data: configData });

    this.headlessService = new k8s.KubeService(this, 'headless', {
      metadata: metadata(this.name),
      spec: {
        clusterIp: 'None',
        // Peers must resolve each other before any of them is Ready (bootstrap, election).
        publishNotReadyAddresses: true,
        selector: this.selectorLabels,
        ports: Object.entries(GALERA_PORTS).map(([name, port]) => ({ name, port, targetPort: k8s.IntOrString.fromNumber(port), protocol: 'TCP' })),
      },
    });
    const mysqlPort = [{ name: 'mysql', port: GALERA_PORTS.mysql, targetPort: k8s.IntOrString.fromString('mysql'), protocol: 'TCP' }];
    this.directService = new k8s.KubeService(this, 'direct', {
      metadata: metadata(`${this.name}-direct`),
      spec: { type: 'ClusterIP', selector: this.selectorLabels, ports: mysqlPort, sessionAffinity: 'ClientIP' },
    });
    this.readService = new k8s.KubeService(this, 'read', {
      metadata: metadata(`${this.name}-read`),
      spec: { type: 'ClusterIP', selector: this.selectorLabels, ports: mysqlPort },
    });

    const storageSize = props.storageSize ?? '10Gi';
    const sstSecondsPerGi = props.sstSecondsPerGi ?? 60;
    const configHash = createHash('sha256').update(JSON.stringify(configData)).digest('hex').slice(0, 16);
    const env: k8s.EnvVar[] = [
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
      { name: 'GALERA_SERVICE', value: this.name },
      { name: 'GALERA_PEERS', value: this.podDnsNames.join(',') },
      { name: 'GALERA_STATE_PORT', value: String(GALERA_PORTS.state) },
      { name: 'GALERA_SECRET_NAME', value: this.secretName },
      { name: 'GALERA_CREDENTIALS_DIR', value: GALERA_PATHS.credentials },
      { name: 'GALERA_CONFIG_DIR', value: GALERA_PATHS.config },
      { name: 'GALERA_RUNTIME_DIR', value: GALERA_PATHS.runtime },
      { name: 'GALERA_DATA_DIR', value: GALERA_PATHS.data },
      { name: 'GALERA_APP_USER', value: this.appUser },
      { name: 'GALERA_APP_DATABASE', value: this.appDatabase },
      { name: 'GALERA_READY_WHEN_DONOR', value: props.readyWhenDonor ? '1' : '0' },
      { name: 'GALERA_NON_PRIMARY_RESTART_SECONDS', value: String(props.nonPrimaryRestartSeconds ?? 60) },
    ];
    const mounts: k8s.VolumeMount[] = [
      { name: 'config', mountPath: GALERA_PATHS.config, readOnly: true },
      { name: 'credentials', mountPath: GALERA_PATHS.credentials, readOnly: true },
      { name: 'runtime', mountPath: GALERA_PATHS.runtime },
      { name: 'socket', mountPath: GALERA_PATHS.socketDir },
      { name: 'tmp', mountPath: GALERA_PATHS.tmp },
      { name: 'data', mountPath: GALERA_PATHS.data },
    ];
    const containerSecurity: k8s.SecurityContext = {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
    };
    const image = props.image ?? 'docker.io/library/mariadb:11.4.12';
    const imagePullPolicy = props.imagePullPolicy ?? 'IfNotPresent';
    const probe = (kind: string, periodSeconds: number, timeoutSeconds: number, failureThreshold: number): k8s.Probe => ({
      exec: { command: ['bash', `${GALERA_PATHS.config}/galera-probe.sh`, kind] },
      periodSeconds, timeoutSeconds, failureThreshold, successThreshold: 1, initialDelaySeconds: 0,
    });
    const startupBudgetSeconds = 120 + Math.ceil(sstSecondsPerGi * quantityToBytes(storageSize) / 2 ** 30);
    const res = props.resources ?? {};

    this.statefulSet = new k8s.KubeStatefulSet(this, 'statefulset', {
      metadata: metadata(this.name),
      spec: {
        serviceName: this.headlessService.name,
        replicas: this.replicas,
        // OrderedReady deadlocks a full restart: the node that must bootstrap may not be pod 0.
        podManagementPolicy: 'Parallel',
        updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 0 } },
        selector: { matchLabels: this.selectorLabels },
        template: {
          metadata: { labels, annotations: { 'galera-proxysql/config-checksum': configHash } },
          spec: {
            automountServiceAccountToken: false,
            enableServiceLinks: false,
            terminationGracePeriodSeconds: props.terminationGracePeriodSeconds ?? 120,
            securityContext: {
              // uid/gid of the `mysql` user in the official image.
              runAsUser: 999, runAsGroup: 999, fsGroup: 999, runAsNonRoot: true,
              fsGroupChangePolicy: 'OnRootMismatch', seccompProfile: { type: 'RuntimeDefault' },
            },
            affinity: this.affinity(props.antiAffinity ?? 'preferred'),
            topologySpreadConstraints: props.topologySpread ? [{
              topologyKey: props.topologySpread.topologyKey ?? 'topology.kubernetes.io/zone',
              maxSkew: props.topologySpread.maxSkew ?? 1,
              whenUnsatisfiable: props.topologySpread.required ? 'DoNotSchedule' : 'ScheduleAnyway',
              labelSelector: { matchLabels: this.selectorLabels },
            }] : undefined,
            initContainers: [{
              name: 'init',
              image, imagePullPolicy,
              command: ['bash', `${GALERA_PATHS.config}/galera-init.sh`],
              env, volumeMounts: mounts, securityContext: containerSecurity,
              resources: { requests: { cpu: k8s.Quantity.fromString('50m'), memory: k8s.Quantity.fromString('64Mi') }, limits: { memory: k8s.Quantity.fromString(res.memoryLimit ?? '2Gi') } },
            }],
            containers: [{
              name: 'mariadb',
              image, imagePullPolicy,
              command: ['bash', `${GALERA_PATHS.config}/galera-start.sh`],
              env, volumeMounts: mounts, securityContext: containerSecurity,
              ports: Object.entries(GALERA_PORTS).map(([name, containerPort]) => ({ name, containerPort, protocol: 'TCP' })),
              resources: {
                requests: { cpu: k8s.Quantity.fromString(res.cpuRequest ?? '500m'), memory: k8s.Quantity.fromString(res.memoryRequest ?? '1Gi') },
                limits: {
                  memory: k8s.Quantity.fromString(res.memoryLimit ?? '2Gi'),
                  ...(res.cpuLimit ? { cpu: k8s.Quantity.fromString(res.cpuLimit) } : {}),
                },
              },
              // Startup passes once the server answers or while the node waits for its peers;
              // it fails only while a state transfer runs, so its budget is the SST time.
              startupProbe: probe('startup', 10, 5, Math.ceil(startupBudgetSeconds / 10)),
              readinessProbe: probe('readiness', 5, 4, 2),
              livenessProbe: probe('liveness', 10, 8, 6),
            }],
            volumes: [
              { name: 'config', configMap: { name: this.configMap.name, defaultMode: 0o555 } },
              // optional, so that the init container can say which Secret is missing.
              { name: 'credentials', secret: { secretName: this.secretName, defaultMode: 0o440, optional: true } },
              { name: 'runtime', emptyDir: { medium: 'Memory', sizeLimit: k8s.Quantity.fromString('16Mi') } },
              { name: 'socket', emptyDir: { medium: 'Memory', sizeLimit: k8s.Quantity.fromString('1Mi') } },
              { name: 'tmp', emptyDir: {} },
            ],
          },
        },
        volumeClaimTemplates: [{
          metadata: { name: 'data', labels },
          spec: {
            accessModes: [props.accessMode ?? 'ReadWriteOnce'],
            storageClassName: props.storageClassName,
            resources: { requests: { storage: k8s.Quantity.fromString(storageSize) } },
          },
        }],
      },
    });

    this.podDisruptionBudget = new k8s.KubePodDisruptionBudget(this, 'pdb', {
      metadata: metadata(this.name),
      spec: { maxUnavailable: k8s.IntOrString.fromNumber(1), selector: { matchLabels: this.selectorLabels } },
    });
  }

  /** `host:port` of the direct-access Service. */
  public get endpoint(): string {
    return `${this.directService.name}.${this.namespace}.svc:${this.port}`;
  }

  private affinity(mode: AntiAffinityMode): k8s.Affinity | undefined {
    const term = { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: this.selectorLabels } };
    switch (mode) {
      case 'none': return undefined;
      case 'required': return { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term] } };
      case 'preferred': return { podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: term }] } };
    }
  }
}

interface MyCnfInput {
  readonly clusterName: string;
  readonly peers: string[];
  readonly bufferPool: string;
  readonly maxConnections: number;
  readonly providerOptions: Record<string, string>;
  readonly extra: string[];
}

/** The server and Galera configuration shared by every node (node-specific lines are added by galera-init.sh). */
export function renderMyCnf(c: MyCnfInput): string {
  const options = Object.entries(c.providerOptions).map(([k, v]) => `${k}=${v}`).join(';');
  return [
    '# Rendered by the GaleraCluster construct; galera-init.sh adds the node-specific settings.',
    '[mysqld]',
    `datadir=${GALERA_PATHS.data}`,
    `socket=${GALERA_PATHS.socketDir}/mysqld.sock`,
    `pid-file=${GALERA_PATHS.socketDir}/mysqld.pid`,
    `tmpdir=${GALERA_PATHS.tmp}`,
    `port=${GALERA_PORTS.mysql}`,
    'bind-address=0.0.0.0',
    'skip-name-resolve',
    'character-set-server=utf8mb4',
    'collation-server=utf8mb4_general_ci',
    'default_storage_engine=InnoDB',
    'binlog_format=ROW',
    'innodb_autoinc_lock_mode=2',
    // Every acknowledged commit is on disk, so a full crash never rolls one back.
    'innodb_flush_log_at_trx_commit=1',
    `innodb_buffer_pool_size=${c.bufferPool}`,
    `max_connections=${c.maxConnections}`,
    'wsrep_on=ON',
    'wsrep_provider=/usr/lib/galera/libgalera_smm.so',
    `wsrep_cluster_name=${c.clusterName}`,
    `wsrep_cluster_address=gcomm://${c.peers.join(',')}`,
    'wsrep_sst_method=mariabackup',
    `wsrep_provider_options="${options}"`,
    ...c.extra,
    '',
    '[client]',
    `socket=${GALERA_PATHS.socketDir}/mysqld.sock`,
    '',
  ].join('\n');
}

/** Options of the [mysqld] section that the construct or the node scripts set; extraMyCnf may not. */
const OWNED_OPTIONS = ['wsrep_cluster_address', 'wsrep_node_address', 'wsrep_node_name', 'wsrep_provider', 'wsrep_provider_options',
  'wsrep_sst_auth', 'wsrep_on', 'wsrep_cluster_name', 'wsrep_sst_method', 'wsrep_sst_receive_address', 'port', 'datadir', 'socket',
  'pid_file', 'bind_address', 'tmpdir', 'binlog_format', 'innodb_autoinc_lock_mode'];

const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function quantityOrNaN(q: string): number {
  if (/^[0-9.]+m$/.test(q)) return Number(q.slice(0, -1)) / 1000;
  try {
    return quantityToBytes(q);
  } catch {
    return NaN;
  }
}

/** Bytes of a my.cnf size such as 512M or 4G. */
function bytesOfMyCnfSize(v: string): number {
  const m = /^([0-9]+)([KMG]?)$/.exec(v);
  if (!m) return NaN;
  return Number(m[1]) * ({ '': 1, 'K': 2 ** 10, 'M': 2 ** 20, 'G': 2 ** 30 } as Record<string, number>)[m[2]];
}

/** Seconds of an ISO 8601 duration as Galera writes them (PT5S, PT0.5S, PT1M30S); NaN otherwise. */
function durationSeconds(value: string): number {
  const m = /^PT(?:([0-9.]+)H)?(?:([0-9.]+)M)?(?:([0-9.]+)S)?$/.exec(value);
  if (!m || value === 'PT') return NaN;
  return Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
}

/** Galera needs keepalive <= check period <= suspect timeout <= inactive timeout. */
function checkFailureDetector(c: Checker, options: Record<string, string>): void {
  const order = ['evs.keepalive_period', 'evs.inactive_check_period', 'evs.suspect_timeout', 'evs.inactive_timeout'];
  const seconds: Record<string, number> = {};
  for (const key of order) {
    if (options[key] === undefined) continue;
    seconds[key] = durationSeconds(options[key]);
    c.check(!Number.isNaN(seconds[key]), `providerOptions['${key}'] must be an ISO 8601 duration such as PT3S or PT0.5S, got ${JSON.stringify(options[key])}`);
  }
  for (let i = 0; i + 1 < order.length; i++) {
    const [a, b] = [order[i], order[i + 1]];
    if (seconds[a] > seconds[b]) {
      c.add(`providerOptions: ${a} (${options[a]}) must not exceed ${b} (${options[b]}); set both, or pick failureDetection 'galera-default', 'balanced' or 'fast'`);
    }
  }
}

function validate(props: GaleraClusterProps): void {
  const c = new Checker(`GaleraCluster '${props.name ?? 'galera'}'`);
  c.dnsLabel('name', props.name, 40);
  c.dnsLabel('namespace', props.namespace);
  c.integer('replicas', props.replicas, 1, 99);
  const replicas = props.replicas ?? 3;
  if (Number.isInteger(replicas) && !props.allowUnsafeReplicaCount && (replicas < 3 || replicas % 2 === 0)) {
    c.add(`replicas must be odd and at least 3 (3, 5, 7, ...), got ${replicas}: with an even count a partition into equal halves `
      + 'stops every node, and fewer than 3 cannot survive the loss of one node; set allowUnsafeReplicaCount to override');
  }
  c.pattern('image', props.image, /^[a-z0-9][a-z0-9._\-/:@]*$/, 'an image reference such as docker.io/library/mariadb:11.4.12');
  c.oneOf('imagePullPolicy', props.imagePullPolicy, PULL_POLICIES);
  c.quantity('storageSize', props.storageSize);
  c.pattern('storageSize', props.storageSize, /^[0-9.]+(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$/, 'a storage size such as 10Gi (no millis)');
  if (props.storageSize !== undefined && /^[0-9.]+/.test(props.storageSize) && quantityOrNaN(props.storageSize) <= 0) {
    c.add(`storageSize must be larger than zero, got ${JSON.stringify(props.storageSize)}`);
  }
  c.pattern('storageClassName', props.storageClassName, DNS_SUBDOMAIN, 'a DNS-1123 subdomain (lowercase letters, digits, \'-\' and \'.\', at most 253 characters)');
  c.oneOf('accessMode', props.accessMode, DATA_ACCESS_MODES);
  for (const key of ['cpuRequest', 'cpuLimit', 'memoryRequest', 'memoryLimit'] as const) c.quantity(`resources.${key}`, props.resources?.[key]);
  const memRequest = quantityOrNaN(props.resources?.memoryRequest ?? '1Gi');
  const memLimit = quantityOrNaN(props.resources?.memoryLimit ?? '2Gi');
  c.check(!(memRequest > memLimit), `resources.memoryRequest (${props.resources?.memoryRequest ?? '1Gi'}) must not exceed resources.memoryLimit (${props.resources?.memoryLimit ?? '2Gi'})`);
  c.check(!(memLimit < 256 * 2 ** 20), `resources.memoryLimit must be at least 256Mi for MariaDB, got ${JSON.stringify(props.resources?.memoryLimit)}`);
  if (props.resources?.cpuLimit !== undefined) {
    const cpuRequest = quantityOrNaN(props.resources?.cpuRequest ?? '500m');
    c.check(!(cpuRequest > quantityOrNaN(props.resources.cpuLimit)),
      `resources.cpuRequest (${props.resources?.cpuRequest ?? '500m'}) must not exceed resources.cpuLimit (${props.resources.cpuLimit})`);
  }
  const bufferPool = bytesOfMyCnfSize(props.innodbBufferPoolSize ?? '512M');
  c.check(!(bufferPool >= memLimit), `innodbBufferPoolSize (${props.innodbBufferPoolSize ?? '512M'}) must be smaller than resources.memoryLimit (${props.resources?.memoryLimit ?? '2Gi'}), or the server is OOM-killed`);
  c.pattern('innodbBufferPoolSize', props.innodbBufferPoolSize, /^[0-9]+[KMG]?$/, "a byte size with an optional K, M or G suffix, such as '512M' or '4G'");
  c.integer('maxConnections', props.maxConnections, 10, 100000);
  for (const [i, line] of (props.extraMyCnf ?? []).entries()) {
    if (typeof line !== 'string' || /[\n\r]/.test(line) || /^\s*[[!]/.test(line)) {
      c.add(`extraMyCnf[${i}] must be a single 'key=value' line without a [section] header or !include, got ${JSON.stringify(line)}`);
      continue;
    }
    // MariaDB reads '-' and '_' alike in option names, and accepts a loose- prefix.
    const key = line.split('=')[0].trim().toLowerCase().replace(/-/g, '_').replace(/^loose_/, '');
    c.check(!OWNED_OPTIONS.includes(key),
      `extraMyCnf[${i}] must not set ${key}: the construct and the node scripts own it (owned: ${OWNED_OPTIONS.join(', ')}; use providerOptions for Galera provider options)`);
  }
  for (const [k, v] of Object.entries(props.providerOptions ?? {})) {
    c.check(/^[a-z_]+(\.[a-z_]+)+$/.test(k), `providerOptions key must look like 'evs.suspect_timeout', got ${JSON.stringify(k)}`);
    c.check(typeof v === 'string' && v.length > 0 && !/[;"\n]/.test(v), `providerOptions['${k}'] must be a non-empty string without ';', '"' or newlines, got ${JSON.stringify(v)}`);
  }
  checkFailureDetector(c, { ...FAILURE_DETECTION_OPTIONS[props.failureDetection ?? 'balanced'], ...(props.providerOptions ?? {}) });
  c.pattern('secretName', props.secretName, DNS_SUBDOMAIN, 'a DNS-1123 subdomain (lowercase letters, digits, \'-\' and \'.\', at most 253 characters)');
  c.pattern('appUser', props.appUser, /^[a-zA-Z_][a-zA-Z0-9_]{0,31}$/, 'a MariaDB user name of letters, digits and _ (at most 32 characters)');
  c.check(!['root', 'sst', 'monitor', 'mysql', 'mariadb.sys'].includes(props.appUser ?? 'app'), `appUser must not be one of the reserved accounts root, sst, monitor, mysql, mariadb.sys, got '${props.appUser}'`);
  c.pattern('appDatabase', props.appDatabase, /^[a-zA-Z_][a-zA-Z0-9_]{0,63}$/, 'a database name of letters, digits and _ (at most 64 characters)');
  c.oneOf('antiAffinity', props.antiAffinity, ANTI_AFFINITY_MODES);
  c.oneOf('failureDetection', props.failureDetection, FAILURE_DETECTION_MODES);
  if (props.topologySpread) {
    c.integer('topologySpread.maxSkew', props.topologySpread.maxSkew, 1, 100);
    c.pattern('topologySpread.topologyKey', props.topologySpread.topologyKey, /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/,
      "a node label key such as 'topology.kubernetes.io/zone'");
  }
  c.integer('sstSecondsPerGi', props.sstSecondsPerGi, 1, 3600);
  c.pattern('clusterDomain', props.clusterDomain, /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'a DNS domain such as cluster.local');
  c.integer('terminationGracePeriodSeconds', props.terminationGracePeriodSeconds, 10, 3600);
  c.integer('nonPrimaryRestartSeconds', props.nonPrimaryRestartSeconds, 10, 86400);
  c.throwIfAny();
}
