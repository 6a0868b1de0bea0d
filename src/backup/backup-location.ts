import * as k8s from '../../imports/k8s';
import { Checker, Resolved, show, withDefaults } from '../values/validation';
import type { BackupName, BucketName, Gtid, PointInTime, DnsSubdomain, HttpUrl, KeyPrefix, Region, StorageSize } from '../values/formats';

/** An S3-compatible bucket (AWS S3, MinIO, Ceph RGW, ...), reached with rclone. */
export interface S3Location {
  /** Endpoint URL; leave unset for AWS S3. @default - AWS S3 */
  readonly endpoint?: HttpUrl;
  /** The name of the bucket. */
  readonly bucket: BucketName;
  /** Key prefix inside the bucket ('' for the top level). @default - the cluster name */
  readonly prefix?: KeyPrefix;
  /** Region. @default 'us-east-1' */
  readonly region?: Region;
  /** Secret with the keys `access-key-id` and `secret-access-key`; required unless serviceAccountName is set. @default - none */
  readonly secretName?: DnsSubdomain;
  /**
   * Take the credentials from the pod's identity instead of a Secret: the pods that reach the
   * bucket run as this ServiceAccount (which you create, e.g. annotated for IAM Roles for Service
   * Accounts) and rclone reads the AWS SDK chain (`env_auth`: web identity token, environment).
   * No static key is in the cluster. @default - none (keys from secretName)
   */
  readonly serviceAccountName?: DnsSubdomain;
  /** Use path-style requests (MinIO and most self-hosted stores need them). @default - true when endpoint is set */
  readonly forcePathStyle?: boolean;
}

/** Where backups are kept: a volume (the default) or a bucket. */
export interface BackupDestination {
  /** A PersistentVolumeClaim for the backups. @default - a new claim '<cluster>-backups' */
  readonly volume?: BackupVolume;
  /** An S3-compatible bucket instead of a volume. @default - none */
  readonly s3?: S3Location;
}

/** The claim that holds the backups. */
export interface BackupVolume {
  /** Name of the claim. @default - '<cluster>-backups' */
  readonly claimName?: DnsSubdomain;
  /** Create the claim (false: it exists already). @default true */
  readonly create?: boolean;
  /**
   * Size of a created claim: room for the retained backups and one extracted copy (the verification).
   * @default - 4 x the Galera storageSize
   */
  readonly size?: StorageSize;
  /** StorageClass of a created claim. @default - the Galera cluster's */
  readonly storageClassName?: DnsSubdomain;
  /** Access mode of a created claim; ReadWriteMany lets every Galera pod mount it for a restore. @default 'ReadWriteOnce' */
  readonly accessMode?: 'ReadWriteOnce' | 'ReadWriteMany';
}

/** The backup a new cluster is created from. */
export interface RestoreSource {
  /** The backup's name (as its manifest names it), or 'latest'. @default 'latest' */
  readonly backup?: BackupName;
  /** The claim that holds it; every Galera pod mounts it, so it must be ReadWriteMany (or the pods share a node). @default - none */
  readonly volume?: RestoreVolume;
  /** The bucket that holds it. @default - none */
  readonly s3?: S3Location;
  /**
   * Restore to this time: the newest backup made before it, then the archived binary logs
   * (backup.pointInTime) replayed up to it, exclusive: every transaction whose statement began
   * before this second is restored, none from this second on. 'latest': everything archived.
   * @default - none (the backup as it is)
   */
  readonly pointInTime?: PointInTime;
  /**
   * Restore to just before this GTID (exclusive: the transaction with this GTID and every later
   * one are left out), e.g. the GTID of a mistaken DROP TABLE that binlog-find.sh shows.
   * @default - none (the backup as it is)
   */
  readonly gtid?: Gtid;
}

/** The claim a backup is restored from. */
export interface RestoreVolume {
  /** The name of the claim that holds the backup. */
  readonly claimName: DnsSubdomain;
}

/** S3Location with the defaults applied: keys from a Secret (secretName) or the pod's identity (serviceAccountName). @internal */
export type ResolvedS3 = Resolved<S3Location, 'endpoint' | 'secretName' | 'serviceAccountName'>;

/** The keys of the S3 credentials Secret. */
export const S3_SECRET_KEYS = { accessKeyId: 'access-key-id', secretAccessKey: 'secret-access-key' } as const;
/** The rclone image of the S3 upload and fetch containers. */
export const DEFAULT_RCLONE_IMAGE = 'docker.io/rclone/rclone:1.60.1';

/** An S3Location (checked by its schema) with the defaults applied and the rules between its fields. @internal */
export function resolveS3(c: Checker, field: string, s: S3Location | undefined, defaultPrefix: string): ResolvedS3 | undefined {
  if (s === undefined) return undefined;
  // (a field the schema refused reads as unset: its mistake is reported, not this one)
  c.check(c.isInvalid(field) || (s.secretName === undefined) !== (s.serviceAccountName === undefined),
    `${c.f(field)} needs exactly one of secretName (a Secret with the keys) or serviceAccountName (the pod's identity reaches the bucket)`);
  return withDefaults({ prefix: defaultPrefix, region: 'us-east-1', forcePathStyle: s.endpoint !== undefined }, s);
}

/** RestoreSource with the defaults applied. @internal */
export interface ResolvedRestore {
  readonly backup: string;
  readonly pointInTime?: string;
  readonly gtid?: string;
  readonly claimName?: string;
  readonly s3?: ResolvedS3;
}

/** A RestoreSource (checked by its schema) with the defaults applied; it names exactly one place. @internal */
export function resolveRestore(c: Checker, field: string, r: RestoreSource | undefined, defaultPrefix: string):
  ResolvedRestore | undefined {
  if (r === undefined) return undefined;
  const claimName = r.volume?.claimName;
  const s3 = resolveS3(c, `${field}.s3`, r.s3, defaultPrefix);
  c.check(c.isInvalid(field) || (claimName !== undefined) !== (s3 !== undefined),
    `${c.f(field)} needs exactly one of volume or s3 (where the backup is), got ${show(Object.keys(r))}`);
  c.check(r.pointInTime === undefined || r.gtid === undefined,
    `${c.f(field)}: set pointInTime or gtid, not both (got pointInTime ${show(r.pointInTime)} and gtid ${show(r.gtid)})`);
  return { backup: r.backup ?? 'latest', claimName, s3, pointInTime: r.pointInTime, gtid: r.gtid };
}

/** rclone's remote "backup" for a bucket, as environment variables (the keys from the Secret). @internal */
export function rcloneEnv(s3: ResolvedS3): k8s.EnvVar[] {
  const fromSecret = (name: string, key: string): k8s.EnvVar => ({ name, valueFrom: { secretKeyRef: { name: s3.secretName!, key } } });
  const values: Record<string, string> = {
    RCLONE_CONFIG_BACKUP_TYPE: 's3',
    RCLONE_CONFIG_BACKUP_PROVIDER: s3.endpoint ? 'Other' : 'AWS',
    RCLONE_CONFIG_BACKUP_REGION: s3.region,
    RCLONE_CONFIG_BACKUP_FORCE_PATH_STYLE: String(s3.forcePathStyle),
    ...(s3.endpoint ? { RCLONE_CONFIG_BACKUP_ENDPOINT: s3.endpoint } : {}),
    BACKUP_REMOTE: `backup:${s3.bucket}${s3.prefix ? `/${s3.prefix}` : ''}`,
    // rclone keeps its cache under HOME; the root filesystem is read-only
    HOME: '/tmp',
    // no config file: the remote is these variables (empty, rclone 1.60 also stops logging on
    // every call that the file is missing, which the archiver's upload loop made once a second)
    RCLONE_CONFIG: '',
    // with a pod identity, the AWS SDK chain (the web identity token the platform mounts) signs
    ...(s3.secretName ? {} : { RCLONE_CONFIG_BACKUP_ENV_AUTH: 'true' }),
  };
  return [
    ...Object.entries(values).map(([name, value]) => ({ name, value })),
    ...(s3.secretName ? [
      fromSecret('RCLONE_CONFIG_BACKUP_ACCESS_KEY_ID', S3_SECRET_KEYS.accessKeyId),
      fromSecret('RCLONE_CONFIG_BACKUP_SECRET_ACCESS_KEY', S3_SECRET_KEYS.secretAccessKey),
    ] : []),
  ];
}
