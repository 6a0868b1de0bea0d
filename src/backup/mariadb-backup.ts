import { Construct } from 'constructs';
import * as k8s from '../../imports/k8s';
import {
  BackupDestination, BackupVolume, DEFAULT_RCLONE_IMAGE, rcloneEnv, ResolvedRestore, ResolvedS3, resolveS3,
} from './backup-location';
import type { MariaDbCluster } from '../core/mariadb-cluster';
import { COMMON_NODE_SCRIPTS } from '../core/node-env';
import { container, ContainerResources, emptyDir, PART_OF, podTemplate, ResolvedResources, resolveResources } from '../core/pod';
import { readScript } from '../core/scripts';
import { Checker, quantityToBytes, Resolved, resolveOrThrow, withDefaults } from '../values/validation';
import { checkProps } from '../values/schema';
import type { CronSchedule, ImageReference, StorageSize, TimeZone } from '../values/formats';
import { guardUniqueNames } from '../core/unique-names';
import { backupScripts } from './backup-endpoint';
import type { BackendTopology } from '../core/backend';
import { BinlogArchiver, PointInTimeProps } from './binlog-archiver';

/** How many backups are kept. */
export interface BackupRetention {
  /** Keep at most this many (the newest). @default 7 @asType integer @minimum 1 @maximum 1000 */
  readonly count?: number;
  /** Remove backups older than this many days (the newest one always stays). @default 30 @asType integer @minimum 1 @maximum 36500 */
  readonly maxAgeDays?: number;
}

/** Props of MariaDbBackup: the cluster, when, where to and how long to keep. */
export interface MariaDbBackupProps {
  /** The cluster to back up (either topology); it must run the backup endpoint (its backupEndpoint prop). */
  readonly cluster: MariaDbCluster;
  /** Cron schedule (the CronJob's time zone, UTC unless timeZone is set). @default '0 3 * * *' */
  readonly schedule?: CronSchedule;
  /** IANA time zone of the schedule. @default - UTC (the controller's) */
  readonly timeZone?: TimeZone;
  /** Suspend the schedule (a backup can still be started by hand). @default false */
  readonly suspend?: boolean;
  /** Where backups go. @default - a new claim '<cluster>-backups' */
  readonly destination?: BackupDestination;
  /** How many backups are kept. @default - the newest 7, none older than 30 days */
  readonly retention?: BackupRetention;
  /** Seconds a backup may take before it is stopped (activeDeadlineSeconds). @default 21600 @asType integer @minimum 60 @maximum 604800 */
  readonly deadlineSeconds?: number;
  /** Finished jobs kept for their logs. @default 3 @asType integer @minimum 0 @maximum 100 */
  readonly successfulJobsHistoryLimit?: number;
  /** Failed jobs kept for their logs. @default 3 @asType integer @minimum 0 @maximum 100 */
  readonly failedJobsHistoryLimit?: number;
  /** Scratch space for the verification when backups go to S3 (the extracted backup). @default - the Galera storageSize */
  readonly scratchSize?: StorageSize;
  /** Resources of the backup container. @default - 200m CPU and 256Mi memory requested, 2Gi memory limit */
  readonly resources?: ContainerResources;
  /** Image of the upload container (S3 destination; DEFAULT_RCLONE_IMAGE). @default 'docker.io/rclone/rclone:1.60.1' */
  readonly rcloneImage?: ImageReference;
  /**
   * Continuous archiving of the binary logs to the same destination, for restores to a time or a
   * GTID (RestoreSource.pointInTime, .gtid). @default - off
   */
  readonly pointInTime?: PointInTimeProps;
}

/** MariaDbBackupProps with the defaults applied: the destination is a volume or a bucket. @internal */
export type ResolvedGaleraBackup = Resolved<Omit<MariaDbBackupProps, 'cluster' | 'destination'>, 'timeZone', {
  readonly volume?: Resolved<BackupVolume, 'storageClassName'>;
  readonly pointInTime: Resolved<PointInTimeProps>;
  readonly s3?: ResolvedS3;
  readonly retention: Resolved<BackupRetention>;
  readonly resources: ResolvedResources;
}>;

/** Where the job's pieces live in its pod. @internal */
export const BACKUP_PATHS = {
  scripts: '/opt/mariadb-backup', tls: '/etc/mariadb/backup-tls', backups: '/var/backups/mariadb', tmp: '/tmp',
} as const;
/** The job's scripts for a cluster of `topology`, by their name in its ConfigMap (the state scripts are the cluster's). */
function jobScripts(topology: BackendTopology): Record<string, string> {
  return {
    ...backupScripts(topology, ['backup-job.sh', 'backup-upload.sh', 'backup-retention.sh']),
    ...Object.fromEntries(COMMON_NODE_SCRIPTS.map((file) => [file, `common/${file}`])),
  };
}

/**
 * A cluster restored to an earlier point than its archive's end has a history of its own from
 * there: its new transactions get the seqs the archive holds with the old ones. Archiving it into
 * the archive it was restored from would mix the two, so that is refused (a restore to 'latest'
 * goes on from the archive's end, and may archive there).
 */
function checkOwnArchive(c: Checker, archiving: boolean, from: ResolvedRestore | undefined, claimName: string | undefined,
  s3: ResolvedS3 | undefined): void {
  if (!archiving || !from || (from.gtid === undefined && (from.pointInTime ?? 'latest') === 'latest')) return;
  const same = (from.claimName !== undefined && from.claimName === claimName)
    || (from.s3?.bucket !== undefined && s3 !== undefined && from.s3.bucket === s3.bucket && from.s3.prefix === s3.prefix
      && from.s3.endpoint === s3.endpoint);
  const where = from.s3 ? `bucket ${from.s3.bucket}, prefix '${from.s3.prefix}'` : `claim ${from.claimName}`;
  const point = from.gtid !== undefined ? `gtid ${from.gtid}` : `pointInTime ${from.pointInTime}`;
  c.check(!same, `${c.f('pointInTime')}: this cluster is restored to an earlier point (restoreFrom ${point}) from the archive it would `
    + `archive to (${where}); its new transactions would reuse seqs that archive holds for others. Give it an archive of its own: `
    + `another ${from.s3 ? 'destination.s3.prefix' : 'destination.volume.claimName'}`);
}

/**
 * Applies the defaults of MariaDbBackupProps (checked by their schema, see checkProps) for the
 * cluster, and the rules between them.
 * @internal
 */
export function resolveGaleraBackup(p: Omit<MariaDbBackupProps, 'cluster'>, c: Checker,
  cluster: { name: string; storageSize: string; storageClassName?: string; restoreFrom?: ResolvedRestore; hasSource?: boolean },
): ResolvedGaleraBackup {
  const d = p.destination ?? {};
  const s3 = resolveS3(c, 'destination.s3', d.s3, cluster.name);
  c.check(!(d.volume && d.s3), `${c.f('destination')}: set volume or s3, not both`);
  const dataBytes = quantityToBytes(cluster.storageSize);
  const volume = s3 ? undefined : withDefaults({
    claimName: `${cluster.name}-backups`, create: true, size: `${Math.ceil((4 * dataBytes) / 2 ** 30)}Gi`,
    storageClassName: cluster.storageClassName, accessMode: 'ReadWriteOnce' as const,
  }, d.volume);
  checkOwnArchive(c, p.pointInTime?.enabled === true, cluster.restoreFrom, volume?.claimName, s3);
  c.check(!(p.pointInTime?.enabled && cluster.hasSource),
    `${c.f('pointInTime.enabled')}: the cluster '${cluster.name}' follows an external source, whose transactions the archive of `
    + 'its own GTID domain would miss; turn point-in-time recovery on once the source is removed after the cutover');
  return {
    schedule: p.schedule ?? '0 3 * * *',
    timeZone: p.timeZone,
    suspend: p.suspend ?? false,
    volume,
    s3,
    retention: withDefaults({ count: 7, maxAgeDays: 30 }, p.retention),
    deadlineSeconds: p.deadlineSeconds ?? 21600,
    successfulJobsHistoryLimit: p.successfulJobsHistoryLimit ?? 3,
    failedJobsHistoryLimit: p.failedJobsHistoryLimit ?? 3,
    scratchSize: p.scratchSize ?? cluster.storageSize,
    resources: resolveResources(c, 'resources', p.resources, { cpuRequest: '200m', memoryRequest: '256Mi', memoryLimit: '2Gi' },
      { bytes: 256 * 2 ** 20, label: '256Mi', what: 'mariadb-backup --prepare' }),
    rcloneImage: p.rcloneImage ?? DEFAULT_RCLONE_IMAGE,
    pointInTime: withDefaults({ enabled: false, archiveSeconds: 5 }, p.pointInTime),
  };
}

/**
 * Scheduled physical backups of a cluster of either topology: a CronJob whose pod asks the nodes'
 * state ports which node may serve (Galera: a Synced node, not the writer if it can; primary/replica:
 * a ready replica), streams `mariadb-backup` from that node's backup endpoint over mutual TLS (no
 * Kubernetes API, no exec), proves the backup by extracting and preparing it, and keeps it with a
 * manifest on a volume or in an S3 bucket, with retention by count and age.
 */
export class MariaDbBackup extends Construct {
  /** The CronJob. */
  public readonly cronJob: k8s.KubeCronJob;
  /** Its cron schedule. */
  public readonly schedule: string;
  /** The scripts of the job. */
  public readonly configMap: k8s.KubeConfigMap;
  /** The claim the backups go to, when this construct created it. */
  public readonly claim?: k8s.KubePersistentVolumeClaim;
  /** Name of the claim the backups go to (volume destination). */
  public readonly claimName?: string;
  /** Labels of the job's pods (the cluster's NetworkPolicy lets them reach the endpoint). */
  public readonly selectorLabels: Record<string, string>;
  /** The ports of the database pods the job (and the binlog archiver) connect to: the backup and binlog endpoints, the state port. */
  public readonly ports: number[];
  /** The binlog archiver, when pointInTime.enabled is set. */
  public readonly archiver?: BinlogArchiver;

  constructor(scope: Construct, id: string, props: MariaDbBackupProps) {
    super(scope, id);
    guardUniqueNames(this);
    const cluster = props.cluster;
    const kind = this.constructor.name;
    const endpoint = cluster.backupEndpoint;
    if (!endpoint) throw new Error(
      `${kind} '${id}': the ${cluster.constructor.name} '${cluster.name}' has no backup endpoint; set backupEndpoint: true on it`,
    );
    const { cluster: _cluster, ...options } = props;
    const r = resolveOrThrow(`${kind} '${id}'`, (c) => resolveGaleraBackup(checkProps(c, 'MariaDbBackup', options), c,
      { ...cluster.storage, restoreFrom: cluster.restoreFromBackup?.from, hasSource: cluster.source !== undefined }));
    const name = `${cluster.name}-backup`;
    this.schedule = r.schedule;
    this.selectorLabels = { 'app.kubernetes.io/name': 'mariadb-backup', 'app.kubernetes.io/instance': name };
    const labels = { ...this.selectorLabels, 'app.kubernetes.io/component': 'backup', ...PART_OF };
    const metadata = (n: string) => ({ name: n, namespace: cluster.namespace, labels });
    this.ports = [endpoint.port, cluster.ports.state];
    if (r.pointInTime.enabled) {
      this.archiver = new BinlogArchiver(this, 'binlog-archiver', {
        cluster, archiveSeconds: r.pointInTime.archiveSeconds, domain: cluster.gtidDomainId, clientSecretName: endpoint.clientSecretName,
        labels, selectorLabels: this.selectorLabels, volumeClaimName: r.volume?.claimName,
        s3: r.s3 ? { env: rcloneEnv(r.s3), serviceAccountName: r.s3.serviceAccountName } : undefined, rcloneImage: r.rcloneImage,
      });
      this.ports.push(this.archiver.port);
    }

    this.configMap = new k8s.KubeConfigMap(this, 'scripts', {
      metadata: metadata(`${name}-scripts`),
      data: Object.fromEntries(Object.entries({ ...jobScripts(cluster.topology), ...cluster._stateScripts() })
        .map(([file, path]) => [file, readScript(path)])),
    });
    if (r.volume) {
      this.claimName = r.volume.claimName;
      if (r.volume.create) this.claim = this.addClaim(metadata(r.volume.claimName), r.volume);
    }
    this.cronJob = new k8s.KubeCronJob(this, 'cronjob', {
      metadata: metadata(name),
      spec: {
        schedule: r.schedule,
        timeZone: r.timeZone,
        suspend: r.suspend,
        concurrencyPolicy: 'Forbid',
        successfulJobsHistoryLimit: r.successfulJobsHistoryLimit,
        failedJobsHistoryLimit: r.failedJobsHistoryLimit,
        // a run missed by more than an hour (controller down) is skipped, not started late
        startingDeadlineSeconds: 3600,
        jobTemplate: {
          metadata: { labels },
          spec: {
            backoffLimit: 1,
            activeDeadlineSeconds: r.deadlineSeconds,
            template: this.podTemplate(cluster, endpoint.clientSecretName, r, labels),
          },
        },
      },
    });
  }

  private addClaim(metadata: k8s.ObjectMeta, v: NonNullable<ResolvedGaleraBackup['volume']>): k8s.KubePersistentVolumeClaim {
    return new k8s.KubePersistentVolumeClaim(this, 'claim', {
      metadata,
      spec: {
        accessModes: [v.accessMode], storageClassName: v.storageClassName,
        resources: { requests: { storage: k8s.Quantity.fromString(v.size) } },
      },
    });
  }

  /**
   * Volume destination: one container writes, verifies and prunes on the claim. S3: the backup
   * container writes into scratch space (an init container), the rclone container uploads it and
   * prunes the bucket.
   */
  private podTemplate(
    cluster: MariaDbCluster, clientSecret: string, r: ResolvedGaleraBackup, labels: Record<string, string>,
  ): k8s.PodTemplateSpec {
    const field = (n: string, fieldPath: string): k8s.EnvVar => ({ name: n, valueFrom: { fieldRef: { fieldPath } } });
    const env = (setting: string) => cluster._envName(setting);
    const values: Record<string, string> = {
      [env('CLUSTER_NAME')]: cluster.name,
      [env('PEERS')]: cluster.podDnsNames.join(','),
      [env('STATE_PORT')]: String(cluster.ports.state),
      [env('BACKUP_PORT')]: String(cluster.backupEndpoint!.port),
      [env('RUNTIME_DIR')]: BACKUP_PATHS.tmp,
      BACKUP_TOPOLOGY: cluster.topology,
      BACKUP_DIR: BACKUP_PATHS.backups,
      BACKUP_TLS_DIR: BACKUP_PATHS.tls,
      BACKUP_RETAIN_COUNT: String(r.retention.count),
      BACKUP_RETAIN_DAYS: String(r.retention.maxAgeDays),
      BACKUP_PRUNE: r.s3 ? '0' : '1',
    };
    const jobEnv = [field('POD_NAME', 'metadata.name'), ...Object.entries(values).map(([n, value]) => ({ name: n, value }))];
    const mounts = [
      { name: 'scripts', mountPath: BACKUP_PATHS.scripts, readOnly: true },
      { name: 'backups', mountPath: BACKUP_PATHS.backups },
      { name: 'tmp', mountPath: BACKUP_PATHS.tmp },
    ];
    const backup = container({
      name: 'backup', image: cluster.image, imagePullPolicy: 'IfNotPresent', env: jobEnv,
      command: ['bash', `${BACKUP_PATHS.scripts}/backup-job.sh`],
      volumeMounts: [...mounts, { name: 'tls', mountPath: BACKUP_PATHS.tls, readOnly: true }],
      resources: r.resources,
    });
    const upload = r.s3 ? container({
      name: 'upload', image: r.rcloneImage, imagePullPolicy: 'IfNotPresent',
      env: [
        jobEnv[0],
        ...jobEnv.slice(1).filter((e) => [env('CLUSTER_NAME'), 'BACKUP_DIR', 'BACKUP_RETAIN_COUNT', 'BACKUP_RETAIN_DAYS'].includes(e.name)),
        ...rcloneEnv(r.s3),
      ],
      command: ['sh', `${BACKUP_PATHS.scripts}/backup-upload.sh`],
      volumeMounts: mounts,
      resources: {
        requests: { cpu: k8s.Quantity.fromString('100m'), memory: k8s.Quantity.fromString('64Mi') },
        limits: { memory: k8s.Quantity.fromString('512Mi') },
      },
    }) : undefined;
    const template = podTemplate({
      labels, selector: this.selectorLabels, configData: {}, terminationGracePeriodSeconds: 30, antiAffinity: 'none',
      serviceAccountName: r.s3?.serviceAccountName,
      initContainers: upload ? [backup] : undefined,
      containers: upload ? [upload] : [backup],
      volumes: [
        { name: 'scripts', configMap: { name: this.configMap.name, defaultMode: 0o555 } },
        { name: 'tls', secret: { secretName: clientSecret, defaultMode: 0o440 } },
        r.volume ? { name: 'backups', persistentVolumeClaim: { claimName: r.volume.claimName } } : emptyDir('backups', r.scratchSize),
        emptyDir('tmp'),
      ],
    });
    return { metadata: { labels }, spec: { ...template.spec!, restartPolicy: 'Never' } };
  }
}

/** @deprecated use MariaDbBackupProps, whose cluster is either topology. */
export type GaleraBackupProps = MariaDbBackupProps;
/** @deprecated use MariaDbBackup, which backs up either topology. */
export class GaleraBackup extends MariaDbBackup {}
