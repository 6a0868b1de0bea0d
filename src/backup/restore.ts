import { Construct } from 'constructs';
import * as k8s from '../../imports/k8s';
import type { MariaDbCluster } from '../core/mariadb-cluster';
import { container, emptyDir } from '../core/pod';
import { readScript } from '../core/scripts';
import { DEFAULT_RCLONE_IMAGE, rcloneEnv, ResolvedRestore, resolveRestore, RestoreSource } from './backup-location';
import { backupScripts } from './backup-endpoint';
import { resolveOrThrow } from '../values/validation';

/** Props of RestoreFromBackup. */
export interface RestoreFromBackupProps {
  /** The new cluster that is created from the backup. */
  readonly cluster: MariaDbCluster;
  /** Where the backup is and which one. */
  readonly from: RestoreSource;
  /** Image of the container that fetches the backup from S3. @default DEFAULT_RCLONE_IMAGE */
  readonly rcloneImage?: string;
}

/**
 * Creates a cluster of either topology from a backup: init containers in every pod that fetch the
 * backup (S3: restore-fetch, rclone) and restore it (restore, the node image) before the node
 * starts. Every pod restores at the same time: on Galera they form one cluster at the backup's
 * position without a state transfer; on primary/replica ordinal 0 becomes the primary and the
 * others replicate from the backup's GTID (no clone). A restore never overwrites a dataset
 * (scripts/backup/restore.sh says how it decides).
 */
export class RestoreFromBackup extends Construct {
  /** The TCP port of the bucket the pods fetch from (S3 only): their NetworkPolicy lets them out to it. */
  public readonly bucketPort?: number;
  /** Where the backup is and the point restored to, with the defaults applied. @internal */
  public readonly from: ResolvedRestore;

  constructor(scope: Construct, id: string, props: RestoreFromBackupProps) {
    super(scope, id);
    const cluster = props.cluster;
    const from = this.from = resolveOrThrow(`RestoreFromBackup '${id}'`, (c) => resolveRestore(c, 'from', props.from, cluster.name))!;
    const rcloneImage = props.rcloneImage ?? DEFAULT_RCLONE_IMAGE;
    cluster._registerFeature(this);
    if (from.s3) this.bucketPort = bucketPort(from.s3.endpoint);
    const scripts = backupScripts(cluster.topology, ['restore.sh', 'restore-fetch.sh', 'restore-point.sh', 'binlog-lib.sh']);
    for (const [file, path] of Object.entries(scripts)) {
      cluster.pods.addConfigFile(file, readScript(path));
    }
    const restorePath = cluster.paths.restore;
    const restoreEnv = [
      { name: 'RESTORE_DIR', value: restorePath }, { name: 'RESTORE_BACKUP', value: from.backup },
      { name: 'BACKUP_TOPOLOGY', value: cluster.topology },
      ...(from.pointInTime ? [{ name: 'RESTORE_POINT_TIME', value: from.pointInTime }] : []),
      ...(from.gtid ? [{ name: 'RESTORE_POINT_GTID', value: from.gtid }] : []),
      ...(from.pointInTime || from.gtid ? [{ name: 'ARCHIVE_DOMAIN', value: String(cluster.gtidDomainId) }] : []),
    ];
    if (from.claimName) cluster.pods.addVolume({ name: 'restore', persistentVolumeClaim: { claimName: from.claimName, readOnly: true } });
    if (from.s3) {
      cluster.pods.addVolume(emptyDir('restore'));
      if (from.s3.serviceAccountName) cluster.pods.useServiceAccount(from.s3.serviceAccountName);
      const s3 = from.s3;
      cluster.pods.addInitContainer((node) => container({
        name: 'restore-fetch', image: rcloneImage, imagePullPolicy: node.imagePullPolicy,
        command: ['sh', `${node.paths.config}/restore-fetch.sh`],
        env: [...node.env.filter((e) => ['POD_NAME', cluster._envName('DATA_DIR')].includes(e.name)), ...restoreEnv, ...rcloneEnv(s3)],
        volumeMounts: [
          { name: 'config', mountPath: node.paths.config, readOnly: true }, { name: 'data', mountPath: node.paths.data, readOnly: true },
          { name: 'restore', mountPath: restorePath }, { name: 'tmp', mountPath: node.paths.tmp },
        ],
        resources: {
          requests: { cpu: k8s.Quantity.fromString('100m'), memory: k8s.Quantity.fromString('64Mi') },
          limits: { memory: k8s.Quantity.fromString('512Mi') },
        },
      }));
    }
    cluster.pods.addInitContainer((node) => node.container({
      name: 'restore', command: ['bash', `${node.paths.config}/restore.sh`], extraEnv: restoreEnv,
      extraMounts: [{ name: 'restore', mountPath: restorePath, readOnly: from.claimName !== undefined }],
      resources: node.serverResources,
    }));
  }
}

/** The TCP port of an S3 endpoint URL (AWS S3: 443). */
function bucketPort(endpoint: string | undefined): number {
  if (endpoint === undefined) return 443;
  const url = new URL(endpoint);
  return url.port ? Number(url.port) : url.protocol === 'http:' ? 80 : 443;
}
