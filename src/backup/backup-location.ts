import * as k8s from '../../imports/k8s';
import { Checker, isMapping, show } from '../values/validation';

/** An S3-compatible bucket (AWS S3, MinIO, Ceph RGW, ...), reached with rclone. */
export interface S3Location {
  /** Endpoint URL; leave unset for AWS S3. @default - AWS S3 */
  readonly endpoint?: string;
  /** Bucket name. */
  readonly bucket: string;
  /** Key prefix inside the bucket ('' for the top level). @default '<cluster name>' */
  readonly prefix?: string;
  /** Region. @default 'us-east-1' */
  readonly region?: string;
  /** Secret with the keys `access-key-id` and `secret-access-key`; required unless serviceAccountName is set. @default - none */
  readonly secretName?: string;
  /**
   * Take the credentials from the pod's identity instead of a Secret: the pods that reach the
   * bucket run as this ServiceAccount (which you create, e.g. annotated for IAM Roles for Service
   * Accounts) and rclone reads the AWS SDK chain (`env_auth`: web identity token, environment).
   * No static key is in the cluster. @default - none (keys from secretName)
   */
  readonly serviceAccountName?: string;
  /** Use path-style requests (MinIO and most self-hosted stores need them). @default true when endpoint is set */
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
  /** Name of the claim. @default '<cluster>-backups' */
  readonly claimName?: string;
  /** Create the claim (false: it exists already). @default true */
  readonly create?: boolean;
  /** Size of a created claim: room for the retained backups and one extracted copy (the verification). @default - 4 x the Galera storageSize */
  readonly size?: string;
  /** StorageClass of a created claim. @default - the Galera cluster's */
  readonly storageClassName?: string;
  /** Access mode of a created claim; ReadWriteMany lets every Galera pod mount it for a restore. @default 'ReadWriteOnce' */
  readonly accessMode?: 'ReadWriteOnce' | 'ReadWriteMany';
}

/** The backup a new cluster is created from. */
export interface RestoreSource {
  /** The backup's name (as its manifest names it), or 'latest'. @default 'latest' */
  readonly backup?: string;
  /** The claim that holds it; every Galera pod mounts it, so it must be ReadWriteMany (or the pods share a node). @default - none */
  readonly volume?: { readonly claimName: string };
  /** The bucket that holds it. @default - none */
  readonly s3?: S3Location;
}

/** S3Location with the defaults applied. @internal */
export interface ResolvedS3 {
  readonly endpoint?: string;
  readonly bucket: string;
  readonly prefix: string;
  readonly region: string;
  /** The Secret with the keys, or undefined with a pod identity. */
  readonly secretName?: string;
  /** The ServiceAccount whose identity reaches the bucket, or undefined with keys. */
  readonly serviceAccountName?: string;
  readonly forcePathStyle: boolean;
}

const S3_KEYS = Object.keys({ endpoint: 0, bucket: 0, prefix: 0, region: 0, secretName: 0, serviceAccountName: 0, forcePathStyle: 0 } satisfies Record<keyof S3Location, 0>);
/** The keys of the S3 credentials Secret. */
export const S3_SECRET_KEYS = { accessKeyId: 'access-key-id', secretAccessKey: 'secret-access-key' } as const;
/** The rclone image of the S3 upload and fetch containers. */
export const DEFAULT_RCLONE_IMAGE = 'docker.io/rclone/rclone:1.60.1';

/** @internal */
export function resolveS3(c: Checker, field: string, input: S3Location | undefined, defaultPrefix: string): ResolvedS3 | undefined {
  const s = c.mapping(field, input, S3_KEYS);
  if (s === undefined) return undefined;
  if (s.bucket === undefined) c.add(`${c.f(field)}.bucket is required`);
  c.check((s.secretName === undefined) !== (s.serviceAccountName === undefined),
    `${c.f(field)} needs exactly one of secretName (a Secret with the keys) or serviceAccountName (the pod's identity reaches the bucket)`);
  const endpoint = c.pattern(`${field}.endpoint`, s.endpoint, /^https?:\/\/[A-Za-z0-9.-]+(:[0-9]{1,5})?(\/[^\s]*)?$/, "an http(s) URL such as 'https://minio.storage.svc:9000'");
  return {
    endpoint,
    bucket: c.pattern(`${field}.bucket`, s.bucket, /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'an S3 bucket name (3-63 lowercase letters, digits, \'.\' and \'-\')', 'missing'),
    prefix: c.pattern(`${field}.prefix`, s.prefix, /^([A-Za-z0-9!_.*'()-]+(\/[A-Za-z0-9!_.*'()-]+)*)?$/, "a key prefix of letters, digits and !_.*'()- separated by '/'", defaultPrefix),
    region: c.pattern(`${field}.region`, s.region, /^[a-z0-9-]{1,32}$/, "a region such as 'eu-west-1'", 'us-east-1'),
    secretName: s.secretName === undefined ? undefined : c.dnsSubdomain(`${field}.secretName`, s.secretName, 'missing'),
    serviceAccountName: s.serviceAccountName === undefined ? undefined : c.dnsSubdomain(`${field}.serviceAccountName`, s.serviceAccountName, 'missing'),
    forcePathStyle: c.bool(`${field}.forcePathStyle`, s.forcePathStyle, endpoint !== undefined),
  };
}

/** RestoreSource with the defaults applied. @internal */
export interface ResolvedRestore {
  readonly backup: string;
  readonly claimName?: string;
  readonly s3?: ResolvedS3;
}

const RESTORE_KEYS = Object.keys({ backup: 0, volume: 0, s3: 0 } satisfies Record<keyof RestoreSource, 0>);

/** @internal */
export function resolveRestore(c: Checker, field: string, input: RestoreSource | undefined, defaultPrefix: string): ResolvedRestore | undefined {
  if (input !== undefined && !isMapping(input)) {
    c.add(`${c.f(field)} must be a mapping of ${RESTORE_KEYS.join(', ')}, got ${show(input)}`);
    return undefined;
  }
  const r: RestoreSource | undefined = c.mapping(field, input, RESTORE_KEYS);
  if (r === undefined) return undefined;
  const volume: { claimName?: string } | undefined = c.mapping(`${field}.volume`, r.volume, ['claimName']);
  const claimName = volume ? c.dnsSubdomain(`${field}.volume.claimName`, volume.claimName, 'missing') : undefined;
  const s3 = resolveS3(c, `${field}.s3`, r.s3, defaultPrefix);
  c.check((claimName !== undefined) !== (s3 !== undefined), `${c.f(field)} needs exactly one of volume or s3 (where the backup is), got ${show(Object.keys(r))}`);
  return {
    backup: c.pattern(`${field}.backup`, r.backup, /^(latest|[a-z0-9][-a-z0-9]*-[0-9]{8}T[0-9]{6}Z)$/, "'latest' or a backup name such as 'galera-20261130T030000Z'", 'latest'),
    claimName,
    s3,
  };
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
    // rclone keeps its cache and config under HOME; the root filesystem is read-only
    HOME: '/tmp',
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
