import { Construct } from 'constructs';
import * as k8s from '../../imports/k8s';
import { ApiObject } from 'cdk8s';
import { IProxySqlBackend } from '../core/backend';
import { IProxySqlRouting } from './routing';
import {
  AntiAffinityMode, container, ContainerResources, emptyDir, execProbe, PART_OF, podDisruptionBudget, podTemplate, PullPolicy,
  resolveResources, ResolvedResources,
} from '../core/pod';
import {
  PASSWORD_PLACEHOLDERS, PROXYSQL_METRICS_PORT, PROXYSQL_PATHS, PROXYSQL_PORTS, ProxySqlConfigOptions, RENDERED_FILE,
  renderProxySqlCnfTemplate, resolveProxySqlOptions,
  ResolvedProxySqlOptions, TEMPLATE_FILE, userPasswordPlaceholder,
} from './proxysql-config';
import { readScript } from '../core/scripts';
import { BackendUser, passwordFile, passwordSecretMounts, passwordSecretVolumes } from '../core/accounts';
import { CertificateSpec, certificate, serviceDnsNames } from '../tls/tls';
import { Checker, Resolved, resolveOrThrow, show, ValidationError } from '../values/validation';
import { checkProps } from '../values/schema';
import type { ImageReference, ProxySqlName } from '../values/formats';
import { guardUniqueNames } from '../core/unique-names';
import { PodPeer } from '../core/pod-peer';

/** Props of ProxySql: the backend it routes to, and the proxy's own settings. */
export interface ProxySqlProps extends ProxySqlConfigOptions {
  /** The database this ProxySQL routes to: servers, port, application account and Secret come from it. */
  readonly backend: IProxySqlBackend;
  /** Name of the Deployment, the client Service and the prefix of every object. @default - '<backend name>-proxysql' */
  readonly name?: ProxySqlName;
  /**
   * Number of ProxySQL pods. They share nothing: each one reads the same configuration.
   * @default 3 @asType integer @minimum 1 @maximum 50
   */
  readonly replicas?: number;
  /** ProxySQL image; it must provide bash, the `proxysql` binary and uid/gid 999. @default 'docker.io/proxysql/proxysql:2.7.1' */
  readonly image?: ImageReference;
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
  /**
   * Seconds a deleted ProxySQL pod waits for the sessions in flight (open transactions, running
   * statements) after it stopped accepting new clients (PROXYSQL PAUSE); its grace period is this
   * plus 10 s.
   * @default 30 @asType integer @minimum 0 @maximum 3600
   */
  readonly drainSeconds?: number;
  /**
   * Serve ProxySQL's Prometheus metrics (its REST API, `/metrics`) on port 6070, named `metrics`.
   * The admin interface stays on loopback. @default false
   */
  readonly metrics?: boolean;
}

/** ProxySqlProps as a values file may give them: everything but the backend and metrics (the chart's monitoring section sets it). */
export type ProxySqlOptions = Omit<ProxySqlProps, 'backend' | 'metrics'>;

/** The ProxySQL image by default. */
export const DEFAULT_PROXYSQL_IMAGE = 'docker.io/proxysql/proxysql:2.7.1';
/** Port of the client Service. */
export const PROXYSQL_SERVICE_PORT = 3306;

/** ProxySqlProps (but the backend) with every default applied. @internal */
export type ResolvedProxySql = ResolvedProxySqlOptions & Resolved<Omit<ProxySqlProps, 'backend' | keyof ProxySqlConfigOptions>, never, {
  readonly resources: ResolvedResources;
}>;

/**
 * Applies the defaults of ProxySqlProps but the backend (checked by their schema, see checkProps)
 * and the rules between them and the backend.
 * @internal
 */
export function resolveProxySql(p: Omit<ProxySqlProps, 'backend'>, c: Checker,
  backend: { name: string; replicas: number; routing: IProxySqlRouting }): ResolvedProxySql {
  return {
    name: p.name ?? `${backend.name}-proxysql`,
    replicas: p.replicas ?? 3,
    image: p.image ?? DEFAULT_PROXYSQL_IMAGE,
    imagePullPolicy: p.imagePullPolicy ?? 'IfNotPresent',
    resources: resolveResources(c, 'resources', p.resources, { cpuRequest: '200m', memoryRequest: '256Mi', memoryLimit: '1Gi' },
      { bytes: 128 * 2 ** 20, label: '128Mi', what: 'ProxySQL' }),
    antiAffinity: p.antiAffinity ?? 'preferred',
    dataDirInMemory: p.dataDirInMemory ?? false,
    drainSeconds: p.drainSeconds ?? 30,
    metrics: p.metrics ?? false,
    ...resolveProxySqlOptions(c, p, backend),
  };
}

const PROXYSQL_SCRIPTS = ['proxysql-render.sh', 'proxysql-probe.sh', 'proxysql-agent.sh'];
/** Seconds a leaving pod still accepts new clients while the endpoint removal spreads. */
const ENDPOINT_DELAY_SECONDS = 5;

/** Checks that `backend` can be fronted (it is built already, so only its presence and shape). */
function checkBackend(backend: unknown): asserts backend is IProxySqlBackend {
  const b = backend as Partial<IProxySqlBackend> | undefined;
  if (!b || !Array.isArray(b.podDnsNames) || typeof b.secretName !== 'string' || typeof b.port !== 'number') {
    throw new ValidationError('ProxySql', [
      `backend must be the database this ProxySQL routes to (an IProxySqlBackend such as a GaleraCluster), got ${show(backend)}`,
    ]);
  }
}

/**
 * ProxySQL in front of a database backend: a Deployment of identical ProxySQL pods, a ClusterIP
 * Service for clients (3306 -> 6033; the admin port is only on the pods' loopback), a
 * PodDisruptionBudget and a ConfigMap with the proxysql.cnf template and its scripts.
 *
 * Each container start renders proxysql.cnf from the template and the backend's Secret
 * (proxysql-render.sh) and runs `proxysql --initial`, so the file is the whole configuration.
 */
export class ProxySql extends PodPeer {
  /** Name of the Deployment, the client Service and the prefix of every object. */
  public readonly name: string;
  /** Namespace of every object: the backend's. */
  public readonly namespace: string;
  /** Service port clients connect to (the container listens on 6033). */
  public readonly port = PROXYSQL_SERVICE_PORT;
  /** `host:port` of the client Service. */
  public readonly endpoint: string;
  /** ClusterIP Service for clients (port 3306). */
  public readonly service: k8s.KubeService;
  /** The Deployment of the ProxySQL pods. */
  public readonly deployment: k8s.KubeDeployment;
  /** The proxysql.cnf template (no passwords) and the render and probe scripts. */
  public readonly configMap: k8s.KubeConfigMap;
  /** At most one ProxySQL pod voluntarily evicted at a time. */
  public readonly podDisruptionBudget: k8s.KubePodDisruptionBudget;
  /** Labels that select the ProxySQL pods. */
  public readonly selectorLabels: Record<string, string>;
  /** `mysql-server_version` announced to clients. */
  public readonly serverVersion: string;
  /** The database this ProxySQL routes to. */
  public readonly backend: IProxySqlBackend;
  /** The Secret with ProxySQL's certificate for clients (ca.crt, tls.crt, tls.key), or undefined without TLS. */
  public readonly tlsSecretName?: string;
  /** The certificate the Secret must hold. */
  public readonly certificateSpec?: CertificateSpec;
  /** The cert-manager Certificate, when the backend's TLS names an issuer. */
  public readonly certificate?: ApiObject;
  /** The port of the Prometheus metrics (named `metrics`), when metrics is on. */
  public readonly metricsPort?: number;
  /** The hostgroup ids of the writer rule. */
  public readonly hostgroups: { readonly writer: number; readonly backupWriter: number; readonly reader: number; readonly offline: number };
  private readonly labels: Record<string, string>;
  /** The backend's declared users, each with a mysql_users entry. */
  private get declaredUsers(): readonly BackendUser[] {
    return this.backend.declaredUsers ?? [];
  }

  constructor(scope: Construct, id: string, props: ProxySqlProps) {
    super(scope, id);
    guardUniqueNames(this);
    checkBackend(props?.backend);
    const backend = props.backend;
    const { backend: _backend, ...options } = props;
    const r = resolveOrThrow(`ProxySql '${typeof props.name === 'string' ? props.name : `${backend.name}-proxysql`}'`,
      (c) => resolveProxySql(checkProps(c, 'ProxySql', options), c, backend));
    this.backend = backend;
    this.name = r.name;
    this.hostgroups = r.hostgroups;
    if (r.metrics) this.metricsPort = PROXYSQL_METRICS_PORT;
    this.namespace = backend.namespace;
    this.endpoint = `${this.name}.${this.namespace}.svc:${this.port}`;
    this.serverVersion = r.serverVersion ?? backend.serverVersion;
    this.selectorLabels = { 'app.kubernetes.io/name': 'proxysql', 'app.kubernetes.io/instance': this.name };
    this.labels = { ...this.selectorLabels, 'app.kubernetes.io/component': 'proxy', ...PART_OF };
    if (backend.tls.enabled) {
      this.tlsSecretName = `${this.name}-tls`;
      this.certificateSpec = {
        secretName: this.tlsSecretName,
        commonName: `${this.name}.${this.namespace}.svc`,
        dnsNames: serviceDnsNames(this.name, this.namespace, backend.tls.clusterDomain),
        usages: ['server'],
      };
      if (backend.tls.issuer) this.certificate = certificate(
        this, 'certificate', this.namespace, this.labels, { kind: 'Issuer', group: 'cert-manager.io', ...backend.tls.issuer },
        this.certificateSpec,
      );
    }

    const configData = this.configData(r);
    this.configMap = new k8s.KubeConfigMap(this, 'config', { metadata: this.metadata(`${this.name}-config`), data: configData });
    this.service = this.addService();
    this.deployment = this.addDeployment(r, configData);
    this.podDisruptionBudget = podDisruptionBudget(this, this.metadata(this.name), this.selectorLabels);
  }

  private metadata(name: string): k8s.ObjectMeta {
    return { name, namespace: this.namespace, labels: this.labels };
  }

  private configData(r: ResolvedProxySql): Record<string, string> {
    const b = this.backend;
    const data: Record<string, string> = {
      [TEMPLATE_FILE]: renderProxySqlCnfTemplate({
        ...r, serverVersion: this.serverVersion, servers: b.podDnsNames, serverPort: b.port,
        appUser: b.appUser, appDatabase: b.appDatabase, clusterName: b.name, routing: b.routing,
        declaredUsers: this.declaredUsers
          .map((u, i) => ({ name: u.name, placeholder: userPasswordPlaceholder(i + 1), defaultSchema: u.defaultSchema })),
        tls: { enabled: b.tls.enabled, requireSecureTransport: b.tls.requireSecureTransport }, metrics: r.metrics,
      }),
    };
    for (const script of PROXYSQL_SCRIPTS) data[script] = readScript(`proxysql/${script}`);
    data['log.sh'] = readScript('common/log.sh');
    return data;
  }

  private addService(): k8s.KubeService {
    return new k8s.KubeService(this, 'service', {
      metadata: this.metadata(this.name),
      spec: {
        type: 'ClusterIP',
        selector: this.selectorLabels,
        // The client port, and the metrics port by name for a user's ServiceMonitor; the admin
        // interface (6032) listens on the pods' loopback.
        ports: [
          { name: 'mysql', port: PROXYSQL_SERVICE_PORT, targetPort: k8s.IntOrString.fromNumber(PROXYSQL_PORTS.mysql), protocol: 'TCP' },
          ...(this.metricsPort
            ? [{ name: 'metrics', port: this.metricsPort, targetPort: k8s.IntOrString.fromString('metrics'), protocol: 'TCP' }]
            : []),
        ],
      },
    });
  }

  private addDeployment(r: ResolvedProxySql, configData: Record<string, string>): k8s.KubeDeployment {
    const script = (file: string, ...args: string[]) => ['bash', `${PROXYSQL_PATHS.scripts}/${file}`, ...args];
    const probe = (mode: string, periodSeconds: number, timeoutSeconds: number, failureThreshold: number, initialDelaySeconds = 0) =>
      execProbe(script('proxysql-probe.sh', mode), { periodSeconds, timeoutSeconds, failureThreshold, initialDelaySeconds });
    const shared = [
      { name: 'config', mountPath: PROXYSQL_PATHS.scripts, readOnly: true },
      { name: 'credentials', mountPath: PROXYSQL_PATHS.credentials, readOnly: true },
      { name: 'agent', mountPath: PROXYSQL_PATHS.agent },
      ...(this.tlsSecretName ? [{ name: 'tls', mountPath: PROXYSQL_PATHS.tls, readOnly: true }] : []),
      ...passwordSecretMounts(this.declaredUsers, PROXYSQL_PATHS.declaredPasswords),
    ];
    return new k8s.KubeDeployment(this, 'deployment', {
      metadata: this.metadata(this.name),
      spec: {
        replicas: r.replicas,
        selector: { matchLabels: this.selectorLabels },
        // Never fewer ready proxies than replicas during a rollout; a new pod counts only after 5 s ready.
        strategy: {
          type: 'RollingUpdate', rollingUpdate: { maxSurge: k8s.IntOrString.fromNumber(1), maxUnavailable: k8s.IntOrString.fromNumber(0) },
        },
        minReadySeconds: 5,
        revisionHistoryLimit: 5,
        // A changed template or script changes the checksum and so rolls the pods. (A changed
        // Secret does not: `kubectl rollout restart deployment/<name>` after rotating passwords.)
        template: podTemplate({
          labels: this.labels, selector: this.selectorLabels, configData,
          terminationGracePeriodSeconds: ENDPOINT_DELAY_SECONDS + r.drainSeconds + 5, antiAffinity: r.antiAffinity,
          containers: [
            container({
              name: 'proxysql', image: r.image, imagePullPolicy: r.imagePullPolicy,
              // Render proxysql.cnf, then exec ProxySQL in the foreground. --initial makes it load
              // the file even when a proxysql.db survived a container restart on the emptyDir.
              command: script('proxysql-render.sh'),
              args: ['proxysql', '-f', '--initial', '-c', `${PROXYSQL_PATHS.rendered}/${RENDERED_FILE}`, '-D', PROXYSQL_PATHS.data],
              env: this.env(r),
              ports: { mysql: PROXYSQL_PORTS.mysql, ...(this.metricsPort ? { metrics: this.metricsPort } : {}) },
              volumeMounts: [
                ...shared,
                { name: 'rendered', mountPath: PROXYSQL_PATHS.rendered },
                { name: 'data', mountPath: PROXYSQL_PATHS.data },
                { name: 'tmp', mountPath: PROXYSQL_PATHS.tmp },
              ],
              resources: r.resources,
              // Startup waits two check intervals (at least 2 s) before the first try, so the first
              // checks have sorted the nodes into writer/reader before any client comes.
              startupProbe: probe('startup', 5, 3, 12, Math.max(2, Math.ceil((2 * r.failover.healthcheckIntervalMs) / 1000))),
              readinessProbe: probe('readiness', 5, 3, 2),
              livenessProbe: probe('liveness', 10, 5, 3),
              // SIGTERM ends every client session at once: wait until the agent has drained them.
              lifecycle: { preStop: { exec: { command: script('proxysql-agent.sh', 'wait-drained') } } },
            }),
            container({
              name: 'agent', image: this.backend.image, imagePullPolicy: r.imagePullPolicy,
              command: script('proxysql-agent.sh', 'run'),
              env: this.env(r),
              // the datadir too: a renewed certificate is copied there and reloaded (PROXYSQL RELOAD TLS)
              volumeMounts: this.tlsSecretName ? [...shared, { name: 'data', mountPath: PROXYSQL_PATHS.data }] : shared,
              resources: {
                requests: { cpu: k8s.Quantity.fromString('10m'), memory: k8s.Quantity.fromString('16Mi') },
                limits: { memory: k8s.Quantity.fromString('64Mi') },
              },
              // Keep accepting while the endpoint removal spreads, then stop accepting and let the
              // sessions in flight finish (PROXYSQL PAUSE), then let ProxySQL stop.
              lifecycle: { preStop: { exec: { command: script('proxysql-agent.sh', 'drain') } } },
            }),
          ],
          volumes: [
            { name: 'config', configMap: { name: this.configMap.name, defaultMode: 0o444 } },
            {
              name: 'credentials',
              secret: {
                secretName: this.backend.secretName,
                // Only the keys ProxySQL needs; optional, so that the render script can say
                // which Secret or key is missing instead of a pod stuck in ContainerCreating.
                items: Object.values(PASSWORD_PLACEHOLDERS).map((p) => ({ key: p.key, path: p.key })),
                defaultMode: 0o440,
                optional: true,
              },
            },
            // optional, so that the render script can say which Secret is missing and how to make it
            ...(this.tlsSecretName
              ? [{ name: 'tls', secret: { secretName: this.tlsSecretName, defaultMode: 0o440, optional: true } }]
              : []),
            ...passwordSecretVolumes(this.declaredUsers),
            emptyDir('rendered', '1Mi', true),
            emptyDir('agent', '1Mi', true),
            r.dataDirInMemory ? emptyDir('data', '256Mi', true) : emptyDir('data', '1Gi'),
            emptyDir('tmp', '64Mi'),
          ],
        }),
      },
    });
  }

  private env(r: ResolvedProxySql): k8s.EnvVar[] {
    const values: Record<string, string> = {
      PROXYSQL_TEMPLATE: `${PROXYSQL_PATHS.scripts}/${TEMPLATE_FILE}`,
      PROXYSQL_CONFIG: `${PROXYSQL_PATHS.rendered}/${RENDERED_FILE}`,
      PROXYSQL_SECRET_DIR: PROXYSQL_PATHS.credentials,
      PROXYSQL_SECRET_NAME: this.backend.secretName,
      PROXYSQL_APP_PASSWORD_KEY: PASSWORD_PLACEHOLDERS.APP_PASSWORD.key,
      PROXYSQL_MONITOR_PASSWORD_KEY: PASSWORD_PLACEHOLDERS.MONITOR_PASSWORD.key,
      PROXYSQL_ADMIN_PASSWORD_KEY: PASSWORD_PLACEHOLDERS.ADMIN_PASSWORD.key,
      ...(this.declaredUsers.length ? {
        PROXYSQL_USER_PASSWORD_FILES: this.declaredUsers
          .map((u, i) => `${userPasswordPlaceholder(i + 1)}=${passwordFile(PROXYSQL_PATHS.declaredPasswords, u.passwordSecret)}`).join(' '),
      } : {}),
      PROXYSQL_PROBE_PORT: String(PROXYSQL_PORTS.mysql),
      PROXYSQL_SERVER_VERSION: this.serverVersion,
      PROXYSQL_ADMIN_PORT: String(PROXYSQL_PORTS.admin),
      PROXYSQL_AGENT_DIR: PROXYSQL_PATHS.agent,
      PROXYSQL_DRAIN_SECONDS: String(r.drainSeconds),
      PROXYSQL_ENDPOINT_DELAY_SECONDS: String(ENDPOINT_DELAY_SECONDS),
      PROXYSQL_DATA_DIR: PROXYSQL_PATHS.data,
      ...(this.tlsSecretName ? { PROXYSQL_TLS_DIR: PROXYSQL_PATHS.tls, PROXYSQL_TLS_SECRET_NAME: this.tlsSecretName } : {}),
      // SQLite (proxysql.db) puts its temporary files here; the root filesystem is read-only.
      TMPDIR: PROXYSQL_PATHS.tmp,
    };
    return Object.entries(values).map(([name, value]) => ({ name, value }));
  }
}
