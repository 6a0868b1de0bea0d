import { createHash } from 'crypto';
import { Construct } from 'constructs';
import * as k8s from '../imports/k8s';
import { ANTI_AFFINITY_MODES, AntiAffinityMode, ContainerResources, GaleraCluster, PULL_POLICIES, PullPolicy } from './galera-cluster';
import {
  checkProxySqlConfigOptions, PASSWORD_PLACEHOLDERS, PROXYSQL_PATHS, PROXYSQL_PORTS, ProxySqlConfigOptions, RENDERED_FILE,
  renderProxySqlCnfTemplate, serverVersionForImage, DEFAULT_FAILOVER, DEFAULT_SERVER_VERSION, TEMPLATE_FILE, withDefaults,
} from './proxysql-config';
import { readScript } from './scripts';
import { Checker, quantityToBytes } from './validation';

export interface ProxySqlProps extends ProxySqlConfigOptions {
  /** The Galera cluster this ProxySQL routes to: servers, port, application account and Secret come from it. */
  readonly galera: GaleraCluster;
  /** Name of the Deployment, the client Service and the prefix of every object. @default '<galera name>-proxysql' */
  readonly name?: string;
  /** Number of ProxySQL pods. They share nothing: each one reads the same configuration. @default 3 */
  readonly replicas?: number;
  /** ProxySQL image; it must provide bash, the `proxysql` binary and uid/gid 999. @default 'docker.io/proxysql/proxysql:2.7.3' */
  readonly image?: string;
  /** Image pull policy. @default 'IfNotPresent' */
  readonly imagePullPolicy?: PullPolicy;
  /** Resources of the ProxySQL container. @default - 200m CPU and 256Mi memory requested, 1Gi memory limit, no CPU limit */
  readonly resources?: ContainerResources;
  /** Pod anti-affinity on the node hostname. @default 'preferred' */
  readonly antiAffinity?: AntiAffinityMode;
  /**
   * Put ProxySQL's datadir (proxysql.db, which also holds the passwords) on a memory-backed
   * emptyDir too; it then counts against the memory limit. @default false
   */
  readonly dataDirInMemory?: boolean;
}

/** The ProxySqlProps keys a values file may set (everything but the galera reference). */
export const PROXYSQL_VALUE_KEYS: readonly string[] = [
  'name', 'replicas', 'image', 'imagePullPolicy', 'resources', 'antiAffinity', 'dataDirInMemory',
  'readWriteSplit', 'writerIsAlsoReader', 'hostgroups', 'serverVersion', 'maxClientConnections', 'backendMaxConnections', 'failover',
];

export const DEFAULT_PROXYSQL_IMAGE = 'docker.io/proxysql/proxysql:2.7.3';
/** Port of the client Service. */
export const PROXYSQL_SERVICE_PORT = 3306;

const PROXYSQL_SCRIPTS = ['proxysql-render.sh', 'proxysql-probe.sh'];
const RESOURCE_KEYS = ['cpuRequest', 'cpuLimit', 'memoryRequest', 'memoryLimit'] as const;

/**
 * ProxySQL in front of a GaleraCluster: a Deployment of identical ProxySQL pods, a ClusterIP
 * Service for clients (3306 -> 6033; the admin port is only on the pods' loopback), a
 * PodDisruptionBudget and a ConfigMap with the proxysql.cnf template and its scripts.
 *
 * Each container start renders proxysql.cnf from the template and the Galera cluster's Secret
 * (proxysql-render.sh) and runs `proxysql --initial`, so the file is the whole configuration.
 */
export class ProxySql extends Construct {
  public readonly name: string;
  public readonly namespace: string;
  /** Service port clients connect to (the container listens on 6033). */
  public readonly port = PROXYSQL_SERVICE_PORT;
  /** `host:port` of the client Service. */
  public readonly endpoint: string;
  public readonly service: k8s.KubeService;
  public readonly deployment: k8s.KubeDeployment;
  /** The proxysql.cnf template (no passwords) and the render and probe scripts. */
  public readonly configMap: k8s.KubeConfigMap;
  public readonly podDisruptionBudget: k8s.KubePodDisruptionBudget;
  /** Labels that select the ProxySQL pods. */
  public readonly selectorLabels: Record<string, string>;
  /** `mysql-server_version` announced to clients. */
  public readonly serverVersion: string;

  constructor(scope: Construct, id: string, props: ProxySqlProps) {
    super(scope, id);
    validate(props);
    const galera = props.galera;

    this.name = props.name ?? `${galera.name}-proxysql`;
    this.namespace = galera.namespace;
    this.endpoint = `${this.name}.${this.namespace}.svc:${this.port}`;
    this.serverVersion = props.serverVersion ?? serverVersionForImage(galeraImage(galera) ?? '') ?? DEFAULT_SERVER_VERSION;
    this.selectorLabels = { 'app.kubernetes.io/name': 'proxysql', 'app.kubernetes.io/instance': this.name };
    const labels = { ...this.selectorLabels, 'app.kubernetes.io/component': 'proxy', 'app.kubernetes.io/part-of': 'galera-proxysql' };
    const metadata = (name: string) => ({ name, namespace: this.namespace, labels });

    const configData: Record<string, string> = {
      [TEMPLATE_FILE]: renderProxySqlCnfTemplate({
        readWriteSplit: props.readWriteSplit,
        writerIsAlsoReader: props.writerIsAlsoReader,
        hostgroups: props.hostgroups,
        maxClientConnections: props.maxClientConnections,
        backendMaxConnections: props.backendMaxConnections,
        failover: props.failover,
        serverVersion: this.serverVersion,
        servers: galera.podDnsNames,
        serverPort: galera.port,
        appUser: galera.appUser,
        appDatabase: galera.appDatabase,
        clusterName: galera.name,
      }),
    };
    for (const script of PROXYSQL_SCRIPTS) configData[script] = readScript(`proxysql/${script}`);
    this.configMap = new k8s.KubeConfigMap(this, 'config', { metadata: metadata(`${this.name}-config`), data: configData });
    // Over the sorted entries, so anyone can recompute it from the synthesized ConfigMap.
    const configHash = createHash('sha256').update(JSON.stringify(Object.keys(configData).sort().map((k) => [k, configData[k]]))).digest('hex').slice(0, 16);

    this.service = new k8s.KubeService(this, 'service', {
      metadata: metadata(this.name),
      spec: {
        type: 'ClusterIP',
        selector: this.selectorLabels,
        // Only the client port: the admin interface (6032) listens on the pods' loopback.
        ports: [{ name: 'mysql', port: PROXYSQL_SERVICE_PORT, targetPort: k8s.IntOrString.fromNumber(PROXYSQL_PORTS.mysql), protocol: 'TCP' }],
      },
    });

    const env: k8s.EnvVar[] = [
      { name: 'PROXYSQL_TEMPLATE', value: `${PROXYSQL_PATHS.scripts}/${TEMPLATE_FILE}` },
      { name: 'PROXYSQL_CONFIG', value: `${PROXYSQL_PATHS.rendered}/${RENDERED_FILE}` },
      { name: 'PROXYSQL_SECRET_DIR', value: PROXYSQL_PATHS.credentials },
      { name: 'PROXYSQL_SECRET_NAME', value: galera.secretName },
      { name: 'PROXYSQL_APP_PASSWORD_KEY', value: PASSWORD_PLACEHOLDERS.APP_PASSWORD.key },
      { name: 'PROXYSQL_MONITOR_PASSWORD_KEY', value: PASSWORD_PLACEHOLDERS.MONITOR_PASSWORD.key },
      { name: 'PROXYSQL_ADMIN_PASSWORD_KEY', value: PASSWORD_PLACEHOLDERS.ADMIN_PASSWORD.key },
      { name: 'PROXYSQL_PROBE_PORT', value: String(PROXYSQL_PORTS.mysql) },
      { name: 'PROXYSQL_SERVER_VERSION', value: this.serverVersion },
      // SQLite (proxysql.db) puts its temporary files here; the root filesystem is read-only.
      { name: 'TMPDIR', value: PROXYSQL_PATHS.tmp },
    ];
    const probe = (mode: string, periodSeconds: number, timeoutSeconds: number, failureThreshold: number, initialDelaySeconds = 0): k8s.Probe => ({
      exec: { command: ['bash', `${PROXYSQL_PATHS.scripts}/proxysql-probe.sh`, mode] },
      periodSeconds, timeoutSeconds, failureThreshold, successThreshold: 1, initialDelaySeconds,
    });
    const res = props.resources ?? {};
    const failover = withDefaults(DEFAULT_FAILOVER, props.failover);
    const image = props.image ?? DEFAULT_PROXYSQL_IMAGE;

    this.deployment = new k8s.KubeDeployment(this, 'deployment', {
      metadata: metadata(this.name),
      spec: {
        replicas: props.replicas ?? 3,
        selector: { matchLabels: this.selectorLabels },
        // Never fewer ready proxies than replicas during a rollout; a new pod counts only after 5 s ready.
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: k8s.IntOrString.fromNumber(1), maxUnavailable: k8s.IntOrString.fromNumber(0) } },
        minReadySeconds: 5,
        revisionHistoryLimit: 5,
        template: {
          // A changed template or script changes the checksum and so rolls the pods. (A changed
          // Secret does not: `kubectl rollout restart deployment/<name>` after rotating passwords.)
          metadata: { labels, annotations: { 'galera-proxysql/config-checksum': configHash } },
          spec: {
            automountServiceAccountToken: false,
            enableServiceLinks: false,
            terminationGracePeriodSeconds: 30,
            securityContext: {
              // uid/gid the ProxySQL image runs as.
              runAsUser: 999, runAsGroup: 999, fsGroup: 999, runAsNonRoot: true,
              fsGroupChangePolicy: 'OnRootMismatch', seccompProfile: { type: 'RuntimeDefault' },
            },
            affinity: antiAffinity(props.antiAffinity ?? 'preferred', this.selectorLabels),
            containers: [{
              name: 'proxysql',
              image,
              imagePullPolicy: props.imagePullPolicy ?? 'IfNotPresent',
              // Render proxysql.cnf, then exec ProxySQL in the foreground. --initial makes it load
              // the file even when a proxysql.db survived a container restart on the emptyDir.
              command: ['bash', `${PROXYSQL_PATHS.scripts}/proxysql-render.sh`],
              args: ['proxysql', '-f', '--initial', '-c', `${PROXYSQL_PATHS.rendered}/${RENDERED_FILE}`, '-D', PROXYSQL_PATHS.data],
              env,
              ports: [{ name: 'mysql', containerPort: PROXYSQL_PORTS.mysql, protocol: 'TCP' }],
              volumeMounts: [
                { name: 'config', mountPath: PROXYSQL_PATHS.scripts, readOnly: true },
                { name: 'credentials', mountPath: PROXYSQL_PATHS.credentials, readOnly: true },
                { name: 'rendered', mountPath: PROXYSQL_PATHS.rendered },
                { name: 'data', mountPath: PROXYSQL_PATHS.data },
                { name: 'tmp', mountPath: PROXYSQL_PATHS.tmp },
              ],
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                runAsNonRoot: true,
                capabilities: { drop: ['ALL'] },
              },
              resources: {
                requests: { cpu: k8s.Quantity.fromString(res.cpuRequest ?? '200m'), memory: k8s.Quantity.fromString(res.memoryRequest ?? '256Mi') },
                limits: {
                  memory: k8s.Quantity.fromString(res.memoryLimit ?? '1Gi'),
                  ...(res.cpuLimit ? { cpu: k8s.Quantity.fromString(res.cpuLimit) } : {}),
                },
              },
              // Startup waits two Galera check intervals (at least 2 s) before the first try, so
              // the first checks have sorted the nodes into writer/reader before any client comes.
              startupProbe: probe('startup', 5, 3, 12, Math.max(2, Math.ceil((2 * failover.healthcheckIntervalMs) / 1000))),
              readinessProbe: probe('readiness', 5, 3, 2),
              livenessProbe: probe('liveness', 10, 5, 3),
              // Let the endpoint removal reach every node before ProxySQL stops accepting.
              lifecycle: { preStop: { exec: { command: ['sleep', '5'] } } },
            }],
            volumes: [
              { name: 'config', configMap: { name: this.configMap.name, defaultMode: 0o444 } },
              {
                name: 'credentials',
                secret: {
                  secretName: galera.secretName,
                  // Only the keys ProxySQL needs; optional, so that the render script can say
                  // which Secret or key is missing instead of a pod stuck in ContainerCreating.
                  items: Object.values(PASSWORD_PLACEHOLDERS).map((p) => ({ key: p.key, path: p.key })),
                  defaultMode: 0o440,
                  optional: true,
                },
              },
              { name: 'rendered', emptyDir: { medium: 'Memory', sizeLimit: k8s.Quantity.fromString('1Mi') } },
              { name: 'data', emptyDir: props.dataDirInMemory ? { medium: 'Memory', sizeLimit: k8s.Quantity.fromString('256Mi') } : { sizeLimit: k8s.Quantity.fromString('1Gi') } },
              { name: 'tmp', emptyDir: { sizeLimit: k8s.Quantity.fromString('64Mi') } },
            ],
          },
        },
      },
    });

    this.podDisruptionBudget = new k8s.KubePodDisruptionBudget(this, 'pdb', {
      metadata: metadata(this.name),
      spec: { maxUnavailable: k8s.IntOrString.fromNumber(1), selector: { matchLabels: this.selectorLabels } },
    });
  }
}

function antiAffinity(mode: AntiAffinityMode, selector: Record<string, string>): k8s.Affinity | undefined {
  const term = { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: selector } };
  switch (mode) {
    case 'none': return undefined;
    case 'required': return { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term] } };
    case 'preferred': return { podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: term }] } };
  }
}

/** The image of the Galera cluster's MariaDB container, read from the synthesized StatefulSet. */
function galeraImage(galera: GaleraCluster): string | undefined {
  try {
    const sts = galera.statefulSet.toJson() as { spec?: { template?: { spec?: { containers?: { name?: string; image?: string }[] } } } };
    return sts.spec?.template?.spec?.containers?.find((c) => c.name === 'mariadb')?.image;
  } catch {
    return undefined;
  }
}

function validate(props: ProxySqlProps): void {
  const galera = props?.galera;
  const c = new Checker(`ProxySql '${props?.name ?? (galera ? `${galera.name}-proxysql` : 'proxysql')}'`);
  if (!(galera instanceof GaleraCluster)) {
    c.add(`galera must be the GaleraCluster this ProxySQL routes to, got ${galera === undefined ? 'nothing' : typeof galera}`);
    c.throwIfAny();
  }
  c.dnsLabel('name', props.name, 50);
  c.integer('replicas', props.replicas, 1, 50);
  c.pattern('image', props.image, /^[a-z0-9][a-z0-9._\-/:@]*$/, 'an image reference such as docker.io/proxysql/proxysql:2.7.3');
  c.oneOf('imagePullPolicy', props.imagePullPolicy, PULL_POLICIES);
  if (props.resources !== undefined) {
    if (c.mapping('resources', props.resources, RESOURCE_KEYS)) {
      for (const key of RESOURCE_KEYS) c.quantity(`resources.${key}`, props.resources[key]);
      const r = { cpuRequest: '200m', memoryRequest: '256Mi', memoryLimit: '1Gi', ...props.resources };
      const memRequest = quantityValue(r.memoryRequest);
      const memLimit = quantityValue(r.memoryLimit);
      c.check(!(memRequest > memLimit), `resources.memoryRequest (${r.memoryRequest}) must not exceed resources.memoryLimit (${r.memoryLimit})`);
      c.check(!(memLimit < 128 * 2 ** 20), `resources.memoryLimit must be at least 128Mi for ProxySQL, got ${JSON.stringify(r.memoryLimit)}`);
      if (r.cpuLimit !== undefined) {
        c.check(!(quantityValue(r.cpuRequest) > quantityValue(r.cpuLimit)), `resources.cpuRequest (${r.cpuRequest}) must not exceed resources.cpuLimit (${r.cpuLimit})`);
      }
    }
  }
  c.oneOf('antiAffinity', props.antiAffinity, ANTI_AFFINITY_MODES);
  if (props.dataDirInMemory !== undefined) {
    c.check(typeof props.dataDirInMemory === 'boolean', `dataDirInMemory must be true or false, got ${JSON.stringify(props.dataDirInMemory)}`);
  }
  checkProxySqlConfigOptions(c, props, galera.replicas);
  c.throwIfAny();
}

/** A quantity as a number (cores or bytes); NaN when it is not one, so comparisons are false. */
function quantityValue(q: string): number {
  if (/^[0-9]+(\.[0-9]+)?m$/.test(q)) return Number(q.slice(0, -1)) / 1000;
  try {
    return quantityToBytes(q);
  } catch {
    return NaN;
  }
}
