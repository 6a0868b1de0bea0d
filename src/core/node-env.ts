import * as k8s from '../../imports/k8s';
import type { NodePaths } from './mariadb-cluster';
import { readScript } from './scripts';

/**
 * Paths inside a MariaDB pod, the same for every topology. The node scripts receive them through
 * the environment (sharedNodeEnv); scripts/common/node-lib.sh defaults to the same. @internal
 */
export const NODE_PATHS = {
  /** The ConfigMap: the shared server configuration and every script, one flat directory. */
  config: '/opt/mariadb',
  /** The credentials Secret, one file per key. */
  credentials: '/etc/mariadb/credentials',
  /** The TLS Secret (ca.crt, tls.crt, tls.key), as cert-manager writes it; never a subPath, so renewals arrive. */
  tls: '/etc/mariadb/tls',
  /** An emptyDir: the rendered my.cnf, the state line, the heartbeat, the role files. */
  runtime: '/run/mariadb',
  socketDir: '/run/mysqld',
  data: '/var/lib/mysql',
  tmp: '/tmp',
  /** The backup a restore reads (the backup volume, or the copy fetched from S3). */
  restore: '/var/backups/restore',
} as const satisfies NodePaths;

/** The environment name of a setting both topologies' node scripts read: NODE_<setting>. @internal */
export function nodeEnvName(setting: string): string {
  return `NODE_${setting}`;
}

/**
 * The files of scripts/common that every MariaDB pod's ConfigMap holds next to its topology's
 * scripts (one flat directory: the topology libraries source them from their own directory).
 * @internal
 */
export const COMMON_NODE_SCRIPTS = ['log.sh', 'node-lib.sh', 'accounts.sh', 'source.sh'] as const;

/** The ConfigMap entries of COMMON_NODE_SCRIPTS. @internal */
export function commonNodeScripts(): Record<string, string> {
  return Object.fromEntries(COMMON_NODE_SCRIPTS.map((file) => [file, readScript(`common/${file}`)]));
}

/** What the shared settings of a MariaDB pod are made from. @internal */
export interface SharedNodeSettings {
  /** The pods' DNS names, ordinal 0 first. */
  readonly peers: readonly string[];
  /** The port every pod serves its state line on. */
  readonly statePort: number;
  /** The credentials Secret. */
  readonly secretName: string;
  readonly appUser: string;
  readonly appDatabase: string;
  /** TLS: 'transitional' while it is turned on for a running cluster; the Secret when one is mounted. undefined: off. */
  readonly tls?: { readonly mode: 'on' | 'transitional'; readonly secretName?: string };
  /** The GTID domain of the cluster's own transactions. */
  readonly gtidDomainId: number;
}

/**
 * The environment every MariaDB pod's node scripts read (scripts/common/node-lib.sh): the pod's
 * name, namespace and IP, and the NODE_* settings both topologies share, one name each. A
 * topology adds its own settings (GALERA_*, REPL_*) after these, and a feature its NODE_* ones
 * (NODE_EXPORTER_USER, NODE_BACKUP_PORT, ...; see nodeEnvName). @internal
 */
export function sharedNodeEnv(s: SharedNodeSettings): k8s.EnvVar[] {
  const field = (name: string, fieldPath: string): k8s.EnvVar => ({ name, valueFrom: { fieldRef: { fieldPath } } });
  const values: Record<string, string> = {
    NODE_PEERS: s.peers.join(','),
    NODE_STATE_PORT: String(s.statePort),
    NODE_SECRET_NAME: s.secretName,
    NODE_CREDENTIALS_DIR: NODE_PATHS.credentials,
    NODE_CONFIG_DIR: NODE_PATHS.config,
    NODE_RUNTIME_DIR: NODE_PATHS.runtime,
    NODE_DATA_DIR: NODE_PATHS.data,
    NODE_SOCKET: `${NODE_PATHS.socketDir}/mysqld.sock`,
    NODE_APP_USER: s.appUser,
    NODE_APP_DATABASE: s.appDatabase,
    NODE_TLS: s.tls?.mode ?? 'off',
    NODE_GTID_DOMAIN: String(s.gtidDomainId),
    ...(s.tls?.secretName ? { NODE_TLS_DIR: NODE_PATHS.tls, NODE_TLS_SECRET_NAME: s.tls.secretName } : {}),
  };
  return [
    field('POD_NAME', 'metadata.name'), field('POD_NAMESPACE', 'metadata.namespace'), field('POD_IP', 'status.podIP'),
    ...Object.entries(values).map(([name, value]) => ({ name, value })),
  ];
}
