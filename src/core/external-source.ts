import type * as k8s from '../../imports/k8s';
import { Checker } from '../values/validation';
import { secretKeysVolume } from './pod';
import { DatabaseName, DnsSubdomain, HostName } from '../values/formats';

// An external source (issue 23): a MariaDB server outside the cluster, such as the database an
// application runs on today, that a new cluster copies when it is created and then follows by
// asynchronous replication until the cutover (scripts/common/source.sh).

/** Where the pods find the source Secret's keys. @internal */
export const SOURCE_SECRET_DIR = '/etc/mariadb/source';

/**
 * A MariaDB server the new cluster copies when it is created (a consistent logical copy with its
 * GTID position) and then follows by asynchronous GTID replication, read-only for clients, until
 * the cutover. The source writes a binary log; its account may read every copied database and
 * replicate (docs/migration.md lists the grants).
 */
export interface ExternalSourceProps {
  /** Host name or address of the source server. */
  readonly host: HostName;
  /** Its MySQL port. @default 3306 @asType integer @minimum 1 @maximum 65535 */
  readonly port?: number;
  /**
   * Secret in the cluster's namespace with the source account: keys `username` and `password`,
   * and `ca.crt` (the CA of the source's certificate) when tls is on.
   */
  readonly secretName: DnsSubdomain;
  /**
   * TLS to the source, its certificate verified with the Secret's `ca.crt` and its host name.
   * @default false
   */
  readonly tls?: boolean;
  /** The databases to copy and follow. @default - every database of the source but mysql, sys and the schemas of information */
  readonly databases?: DatabaseName[];
}

/** An external source as the cluster uses it: ExternalSourceProps with its defaults applied. */
export interface ResolvedExternalSource {
  /** Host name or address of the source server. */
  readonly host: string;
  /** Its MySQL port. */
  readonly port: number;
  /** The Secret with the source account (username, password, ca.crt). */
  readonly secretName: string;
  /** TLS to the source, verified. */
  readonly tls: boolean;
  /** The databases copied and followed; empty: every one but the system schemas. */
  readonly databases: readonly string[];
}

const SYSTEM_SCHEMAS = ['mysql', 'information_schema', 'performance_schema', 'sys'];

/** Applies the defaults of ExternalSourceProps (checked by their schema) and reports what the schema cannot say. @internal */
export function resolveExternalSource(c: Checker, field: string, p: ExternalSourceProps | undefined): ResolvedExternalSource | undefined {
  if (!p) return undefined;
  const databases = p.databases ?? [];
  for (const name of databases.filter((d) => SYSTEM_SCHEMAS.includes(d.toLowerCase()))) {
    c.add(`${c.f(`${field}.databases`)} may not name the system schema '${name}' (the cluster has its own: ${SYSTEM_SCHEMAS.join(', ')})`);
  }
  const repeated = databases.filter((d, i) => databases.indexOf(d) !== i);
  c.check(repeated.length === 0, `${c.f(`${field}.databases`)} names '${repeated[0]}' more than once`);
  return { host: p.host, port: p.port ?? 3306, secretName: p.secretName, tls: p.tls ?? false, databases };
}

/** The node scripts' settings of a source (scripts/common/source.sh). @internal */
export function externalSourceEnv(s: ResolvedExternalSource): Record<string, string> {
  return {
    NODE_SOURCE_HOST: s.host,
    NODE_SOURCE_PORT: String(s.port),
    NODE_SOURCE_DIR: SOURCE_SECRET_DIR,
    NODE_SOURCE_TLS: s.tls ? 'on' : 'off',
    ...(s.databases.length > 0 ? { NODE_SOURCE_DATABASES: s.databases.join(',') } : {}),
  };
}

/** The source Secret as a volume: the keys the scripts read (secretKeysVolume). @internal */
export function externalSourceVolume(s: ResolvedExternalSource): k8s.Volume {
  return secretKeysVolume('source', s.secretName, ['username', 'password', ...(s.tls ? ['ca.crt'] : [])]);
}

/** Its mount in the node containers. @internal */
export const EXTERNAL_SOURCE_MOUNT: k8s.VolumeMount = { name: 'source', mountPath: SOURCE_SECRET_DIR, readOnly: true };
