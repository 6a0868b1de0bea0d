import { randomBytes } from 'crypto';

/**
 * The keys of the credentials Secret. The GaleraCluster and ProxySql pods read these files
 * at start; nothing else in the synthesized manifests carries a password.
 */
export const SECRET_KEYS = {
  /** Password of `root@'%'`, for administration. */
  root: 'root-password',
  /** Password of the application account that clients use through ProxySQL. */
  app: 'app-password',
  /** Password of `sst@localhost`, used by mariabackup on the donor during a state transfer. */
  sst: 'sst-password',
  /** Password of the ProxySQL monitor account (USAGE only). */
  monitor: 'monitor-password',
  /** Password of ProxySQL's admin interface (local only, never the default `admin`). */
  proxysqlAdmin: 'proxysql-admin-password',
  /**
   * Password of `exporter@localhost`, the metrics exporter's account (PROCESS, REPLICATION CLIENT,
   * SELECT on performance_schema, 3 connections at most); read only when monitoring is on.
   */
  exporter: 'exporter-password',
  /** Password of `repl@'%'`, the account replicas of a MariaDbReplication replicate with (also the token of its clone port). */
  replication: 'replication-password',
} as const;

/** A key of the credentials Secret. */
export type SecretKey = typeof SECRET_KEYS[keyof typeof SECRET_KEYS];

/** A random password of URL-safe characters (24 bytes of entropy). */
export function randomPassword(): string {
  return randomBytes(24).toString('base64url');
}

/**
 * A Secret manifest (as an object) with fresh random passwords for every key, for
 * `kubectl create -f -`. It is printed, never written to `dist/`.
 */
export function newCredentialsSecret(name: string, namespace: string): Record<string, unknown> {
  const stringData: Record<string, string> = {};
  for (const key of Object.values(SECRET_KEYS)) stringData[key] = randomPassword();
  return newSecret(name, namespace, stringData);
}

/** A Secret manifest (as an object) holding `stringData`, labelled as the project's. @internal */
export function newSecret(name: string, namespace: string, stringData: Record<string, string>): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace, labels: { 'app.kubernetes.io/part-of': 'galera-proxysql' } },
    type: 'Opaque',
    stringData,
  };
}
