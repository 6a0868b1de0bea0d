import { Construct } from 'constructs';
import * as k8s from '../../imports/k8s';
import type { MariaDbCluster } from '../core/mariadb-cluster';
import { COMMON_NODE_SCRIPTS } from '../core/node-env';
import { container, emptyDir, podTemplate } from '../core/pod';
import { readScript } from '../core/scripts';
import { backupScripts } from './backup-endpoint';

/** Port of the binlog endpoint (the "binlog" sidecar, mutual TLS) on every database pod. */
export const BINLOG_PORT = 4446;
/** Port of the archiver's Prometheus metrics. */
export const ARCHIVER_METRICS_PORT = 9106;

/** Continuous archiving of the binary logs, for point-in-time recovery. */
export interface PointInTimeProps {
  /** Archive the binary logs to the backup destination (restores to a time or a GTID become possible). @default false */
  readonly enabled?: boolean;
  /**
   * How often the archiver closes the source node's binlog file and ships it: at most about this
   * many seconds of acknowledged writes are missing from the archive (the RPO after losing every
   * pod and volume). @default 5 @asType integer @minimum 1 @maximum 3600
   */
  readonly archiveSeconds?: number;
}

/** What the archiver is built from: MariaDbBackup passes its cluster and its resolved destination. */
export interface BinlogArchiverProps {
  /** The cluster whose binary logs are archived (it runs the backup endpoint). */
  readonly cluster: MariaDbCluster;
  /** Seconds between two rounds (PointInTimeProps.archiveSeconds). */
  readonly archiveSeconds: number;
  /** The GTID domain of the cluster's transactions. */
  readonly domain: number;
  /** The Secret with the backup job's client certificate, which the nodes' binlog endpoints serve. */
  readonly clientSecretName: string;
  /** Labels of the archiver's objects (its pod gets the component label binlog-archiver on top). */
  readonly labels: Record<string, string>;
  /** The backup's selector labels: the cluster's NetworkPolicy lets pods with them reach the endpoints. */
  readonly selectorLabels: Record<string, string>;
  /** The claim of a volume destination (segments go to its binlogs/ directory). @default - none */
  readonly volumeClaimName?: string;
  /**
   * A bucket destination (segments go under <prefix>/binlogs): rclone's environment for it, and
   * the pod identity that reaches it. @default - none
   */
  readonly s3?: { readonly env: k8s.EnvVar[]; readonly serviceAccountName?: string };
  /** Image of the upload container (S3). */
  readonly rcloneImage: string;
}

const PATHS = { scripts: '/opt/mariadb-backup', tls: '/etc/mariadb/backup-tls', backups: '/var/backups/mariadb', tmp: '/tmp' } as const;

/**
 * The binlog archiver of a cluster: a "binlog" sidecar on every database pod that serves its
 * closed binary log files over mutual TLS (scripts/backup/binlog-endpoint.sh), and a Deployment
 * of one pod that ships them, as segments with manifests, to the backups' volume (under
 * binlogs/) or bucket (scripts/backup/binlog-archive.sh, binlog-upload.sh). Created by
 * MariaDbBackup when pointInTime.enabled is set.
 */
export class BinlogArchiver extends Construct {
  /** The Deployment (one pod, Recreate: never two archivers). */
  public readonly deployment: k8s.KubeDeployment;
  /** The port of the database pods the archiver connects to. */
  public readonly port = BINLOG_PORT;
  /** Port of the archiver's metrics (lag in seconds and transactions, last archived GTID). */
  public readonly metricsPort = ARCHIVER_METRICS_PORT;
  /** Labels of the archiver's pod. */
  public readonly podLabels: Record<string, string>;
  /** Labels that select the archiver's pod (its Deployment's selector; a PodMonitor's). */
  public readonly selectorLabels: Record<string, string>;
  /** Name of the Deployment (its pod is named <name>-<hash>-<suffix>). */
  public readonly name: string;

  constructor(scope: Construct, id: string, props: BinlogArchiverProps) {
    super(scope, id);
    const cluster = props.cluster;
    const name = this.name = `${cluster.name}-binlog-archiver`;
    this.podLabels = { ...props.labels, 'app.kubernetes.io/component': 'binlog-archiver' };
    this.selectorLabels = { ...props.selectorLabels, 'app.kubernetes.io/component': 'binlog-archiver' };
    this.addEndpointSidecar(cluster);
    const scripts = new k8s.KubeConfigMap(this, 'scripts', {
      metadata: { name: `${name}-scripts`, namespace: cluster.namespace, labels: this.podLabels },
      data: Object.fromEntries(Object.entries({ ...archiverScripts(cluster), ...cluster._stateScripts() })
        .map(([file, path]) => [file, readScript(path)])),
    });
    this.deployment = new k8s.KubeDeployment(this, 'deployment', {
      metadata: { name, namespace: cluster.namespace, labels: this.podLabels },
      spec: {
        replicas: 1,
        // never two archivers at once: the old pod is gone before the new one starts
        strategy: { type: 'Recreate' },
        selector: { matchLabels: this.selectorLabels },
        template: this.podTemplate(props, scripts.name),
      },
    });
  }

  /** The binlog endpoint on every database pod, next to the backup endpoint. */
  private addEndpointSidecar(cluster: MariaDbCluster): void {
    for (const [file, path] of Object.entries(backupScripts(cluster.topology, ['binlog-endpoint.sh']))) {
      cluster.pods.addConfigFile(file, readScript(path));
    }
    cluster.pods.addSidecar((node) => node.container({
      name: 'binlog',
      command: node.script('binlog-endpoint.sh', 'listen'),
      extraEnv: [
        { name: 'BACKUP_TOPOLOGY', value: cluster.topology },
        { name: cluster._envName('BINLOG_PORT'), value: String(BINLOG_PORT) },
        { name: cluster._envName('BACKUP_CLIENT_CN'), value: cluster.backupEndpoint!.clientCommonName },
      ],
      ports: { binlog: BINLOG_PORT },
      resources: {
        requests: { cpu: k8s.Quantity.fromString('20m'), memory: k8s.Quantity.fromString('32Mi') },
        limits: { memory: k8s.Quantity.fromString('256Mi') },
      },
    }));
  }

  private podTemplate(p: BinlogArchiverProps, configMap: string): k8s.PodTemplateSpec {
    const cluster = p.cluster;
    const env = (setting: string) => cluster._envName(setting);
    const archiveDir = p.s3 ? `${PATHS.tmp}/outbox` : `${PATHS.backups}/binlogs`;
    const values: Record<string, string> = {
      [env('CLUSTER_NAME')]: cluster.name,
      [env('PEERS')]: cluster.podDnsNames.join(','),
      [env('STATE_PORT')]: String(cluster.ports.state),
      [env('BINLOG_PORT')]: String(BINLOG_PORT),
      [env('RUNTIME_DIR')]: PATHS.tmp,
      BACKUP_TOPOLOGY: cluster.topology,
      BACKUP_TLS_DIR: PATHS.tls,
      ARCHIVE_MODE: p.s3 ? 's3' : 'volume',
      ARCHIVE_DIR: archiveDir,
      ARCHIVE_SECONDS: String(p.archiveSeconds),
      ARCHIVE_DOMAIN: String(p.domain),
      ARCHIVE_WORK: `${PATHS.tmp}/archiver`,
      ARCHIVE_METRICS_PORT: String(ARCHIVER_METRICS_PORT),
      ...(p.s3 ? {} : { BACKUP_DIR: PATHS.backups }),
    };
    const podName: k8s.EnvVar = { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } };
    const jobEnv = [podName, ...Object.entries(values).map(([n, value]) => ({ name: n, value }))];
    const mounts = [
      { name: 'scripts', mountPath: PATHS.scripts, readOnly: true },
      { name: 'tmp', mountPath: PATHS.tmp },
      ...(p.s3 ? [] : [{ name: 'backups', mountPath: PATHS.backups }]),
    ];
    const archiver = container({
      name: 'archiver', image: cluster.image, imagePullPolicy: 'IfNotPresent', env: jobEnv,
      command: ['bash', `${PATHS.scripts}/binlog-archive.sh`, 'run'],
      volumeMounts: [...mounts, { name: 'tls', mountPath: PATHS.tls, readOnly: true }],
      ports: { metrics: ARCHIVER_METRICS_PORT },
      resources: { cpuRequest: '50m', memoryRequest: '64Mi', memoryLimit: '512Mi' },
    });
    const upload = p.s3 ? container({
      name: 'upload', image: p.rcloneImage, imagePullPolicy: 'IfNotPresent',
      env: [podName, ...jobEnv.filter((e) => [env('CLUSTER_NAME'), 'ARCHIVE_DIR', 'ARCHIVE_DOMAIN'].includes(e.name)), ...p.s3.env],
      command: ['sh', `${PATHS.scripts}/binlog-upload.sh`],
      volumeMounts: mounts,
      resources: { cpuRequest: '20m', memoryRequest: '64Mi', memoryLimit: '512Mi' },
    }) : undefined;
    return podTemplate({
      labels: { ...this.podLabels }, selector: { ...this.selectorLabels },
      configData: {}, terminationGracePeriodSeconds: 30, antiAffinity: 'none',
      serviceAccountName: p.s3?.serviceAccountName,
      containers: upload ? [archiver, upload] : [archiver],
      volumes: [
        { name: 'scripts', configMap: { name: configMap, defaultMode: 0o555 } },
        { name: 'tls', secret: { secretName: p.clientSecretName, defaultMode: 0o440 } },
        ...(p.volumeClaimName ? [{ name: 'backups', persistentVolumeClaim: { claimName: p.volumeClaimName } }] : []),
        emptyDir('tmp'),
      ],
    });
  }
}

/** The archiver's scripts, by their name in its ConfigMap. */
function archiverScripts(cluster: MariaDbCluster): Record<string, string> {
  return {
    ...backupScripts(cluster.topology, ['binlog-archive.sh', 'binlog-lib.sh', 'binlog-upload.sh', 'binlog-find.sh']),
    ...Object.fromEntries(COMMON_NODE_SCRIPTS.map((file) => [file, `common/${file}`])),
  };
}
