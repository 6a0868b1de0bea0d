import { NODE_PATHS } from '../core/node-env';
import { Checker, show } from '../values/validation';
import { COMMON_OWNED_OPTIONS, commonServerLines, OwnedServerOptions } from '../core/server-config';


/**
 * How fast Galera evicts a member that stopped answering. Until the survivors evict it, every
 * write in the cluster waits, so this bounds the write stall after a pod crashes; shorter
 * timeouts also evict members on a slow or lossy network more readily.
 */
export type FailureDetection = 'galera-default' | 'balanced' | 'fast';
/** Every FailureDetection mode. */
export const FAILURE_DETECTION_MODES: readonly FailureDetection[] = ['galera-default', 'balanced', 'fast'];
/** The Galera provider options of each failureDetection profile. */
export const FAILURE_DETECTION_OPTIONS: Readonly<Record<FailureDetection, Readonly<Record<string, string>>>> = {
  // Galera's own defaults: suspect after 5 s, evict after 15 s without any message.
  'galera-default': {},
  // Both also get evs.install_timeout equal to their inactive timeout: see installTimeoutFor.
  'balanced': {
    'evs.suspect_timeout': 'PT3S', 'evs.inactive_timeout': 'PT6S', 'evs.inactive_check_period': 'PT1S', 'evs.keepalive_period': 'PT1S',
  },
  'fast': {
    'evs.suspect_timeout': 'PT2S', 'evs.inactive_timeout': 'PT4S', 'evs.inactive_check_period': 'PT0.5S', 'evs.keepalive_period': 'PT0.5S',
  },
};

/** Provider options set unless overridden by `providerOptions`. */
export const DEFAULT_PROVIDER_OPTIONS: Readonly<Record<string, string>> = {
  // Large enough that a node restarting within minutes rejoins by IST, not SST.
  'gcache.size': '512M',
  // Lets a node rejoin by IST after a full-cluster restart when its gcache survived.
  'gcache.recover': 'yes',
  // The start-up election (galera-election.sh) decides who bootstraps after a full crash, with
  // the seqno of every node; a second, automatic path would race it.
  'pc.recovery': 'FALSE',
};

/** Ports of a Galera pod. */
export const GALERA_PORTS = { mysql: 3306, galera: 4567, ist: 4568, sst: 4444, state: 4569 } as const;

/** The default GTID domain of the transactions a Galera cluster replicates (gtidDomainId, wsrep_gtid_domain_id). */
export const GALERA_GTID_DOMAIN = 0;

/** The first of the node-local GTID domains (gtid_domain_id = this + ordinal), for the rare write Galera does not replicate. */
export const GALERA_NODE_DOMAIN_BASE = 1000;

/** Paths inside a Galera pod: those of every MariaDB pod. @internal */
export const GALERA_PATHS = NODE_PATHS;

/** What the shared server configuration is rendered from. @internal */
export interface MyCnfInput {
  readonly clusterName: string;
  readonly peers: readonly string[];
  readonly bufferPool: string;
  readonly maxConnections: number;
  readonly snapshotIsolation: boolean;
  readonly binlogExpireSeconds: number;
  /** The GTID domain of the transactions the cluster replicates (wsrep_gtid_domain_id); server_id is 1000 × this + 1. */
  readonly gtidDomainId: number;
  /**
   * The cluster has an external source: every node starts read-only, and galera-start.sh opens
   * it for clients once the follow record says the cutover is done.
   */
  readonly source: boolean;
  readonly providerOptions: Record<string, string>;
  /** An SST donor refuses client statements, so ProxySQL's monitor takes it offline while it donates. */
  readonly donorRejectsQueries: boolean;
  /** TLS for clients, replication, IST and SST (the server's own options, and whether it is being turned on); undefined: plain text. */
  readonly tls?: { readonly serverOptions: readonly string[]; readonly transitional: boolean };
  readonly extra: readonly string[];
}

/** The provider options that make Galera replication and IST use TLS, peers verified by the CA. @internal */
export function tlsProviderOptions(transitional: boolean): Record<string, string> {
  return {
    'socket.ssl': 'YES',
    'socket.ssl_cert': `${GALERA_PATHS.tls}/tls.crt`,
    'socket.ssl_key': `${GALERA_PATHS.tls}/tls.key`,
    'socket.ssl_ca': `${GALERA_PATHS.tls}/ca.crt`,
    // While TLS is turned on for a running cluster: accept plain peers too.
    ...(transitional ? { 'socket.dynamic': 'YES' } : {}),
  };
}

/** The server and Galera configuration shared by every node (node-specific lines are added by galera-init.sh). @internal */
export function renderMyCnf(c: MyCnfInput): string {
  const options = Object.entries(c.providerOptions).map(([k, v]) => `${k}=${v}`).join(';');
  return [
    '# Rendered by the GaleraCluster construct; galera-init.sh adds the node-specific settings.',
    '[mysqld]',
    ...commonServerLines({ port: GALERA_PORTS.mysql, ...c }),
    // The same GTID for the same transaction on every node: the cluster's write sets carry it in
    // one domain, and every node has the same server_id (MariaDB's advice for a Galera cluster
    // that is a replication source); galera-init.sh gives each node a gtid_domain_id of its own
    // for the rare write that is not replicated.
    'wsrep_gtid_mode=ON',
    `wsrep_gtid_domain_id=${c.gtidDomainId}`,
    `server_id=${1000 * c.gtidDomainId + 1}`,
    // Replication from an external source is started by galera-start.sh on one node only.
    'skip_slave_start=ON',
    ...(c.source ? ['read_only=ON'] : []),
    'innodb_autoinc_lock_mode=2',
    'wsrep_on=ON',
    'wsrep_provider=/usr/lib/galera/libgalera_smm.so',
    `wsrep_cluster_name=${c.clusterName}`,
    `wsrep_cluster_address=gcomm://${c.peers.join(',')}`,
    // galera-sst.sh, shipped as wsrep_sst_stream (mariabackup next to nodes of an older version)
    'wsrep_sst_method=stream',
    `wsrep_provider_options="${options}"`,
    `wsrep_sst_donor_rejects_queries=${c.donorRejectsQueries ? 'ON' : 'OFF'}`,
    ...(c.tls?.serverOptions ?? []),
    ...c.extra,
    '',
    // State transfers over socat with TLS, the peer's certificate verified by the CA: read by
    // galera-sst.sh, and by wsrep_sst_mariabackup (ssl-mode VERIFY_CA with the server's ssl_* files).
    ...(c.tls && !c.tls.transitional ? ['[sst]', 'ssl-mode=VERIFY_CA', ''] : []),
    '[client]',
    `socket=${GALERA_PATHS.socketDir}/mysqld.sock`,
    '',
  ].join('\n');
}

/** Options of the Galera node's [mysqld] section that the construct or the node scripts set; extraMyCnf may not. */
export const GALERA_OWNED_OPTIONS: OwnedServerOptions = {
  ...COMMON_OWNED_OPTIONS,
  innodb_autoinc_lock_mode: 'the construct (2: what Galera needs)',
  wsrep_gtid_mode: 'the construct (ON: the same GTID for a transaction on every node)',
  wsrep_gtid_domain_id: 'the construct (the cluster\'s GTID domain)',
  gtid_domain_id: 'galera-init.sh (each node\'s own domain, for writes Galera does not replicate)',
  server_id: 'the construct (1000 × gtidDomainId + 1, the same on every node)',
  skip_slave_start: 'the construct (galera-start.sh starts the following of a source on one node)',
  skip_replica_start: 'the construct (skip_slave_start)',
  gtid_slave_pos: 'galera-start.sh (the seed of a source)',
  replicate_wild_ignore_table: 'source.sh (the connection to an external source skips its mysql schema)',
  read_only: 'galera-start.sh (on while the cluster follows a source; otherwise a read-only node leaves ProxySQL without a writer)',
  wsrep_on: 'the construct',
  wsrep_provider: 'the construct',
  wsrep_provider_options: 'the construct; use providerOptions or failureDetection',
  wsrep_cluster_name: 'the construct',
  wsrep_cluster_address: 'the construct (every peer of the StatefulSet)',
  wsrep_node_name: 'galera-init.sh',
  wsrep_node_address: 'galera-init.sh',
  wsrep_sst_auth: 'galera-init.sh (the sst account of the Secret)',
  wsrep_sst_method: 'the construct and galera-start.sh',
  wsrep_sst_donor: 'galera-start.sh (the start-up election picks the donors)',
  wsrep_sst_donor_rejects_queries: 'the construct; use readyWhenDonor',
  wsrep_sst_receive_address: 'the construct',
  wsrep_start_position: 'galera-start.sh',
  wsrep_new_cluster: 'galera-start.sh (the start-up election decides who bootstraps)',
  wsrep_recover: 'galera-start.sh',
  ssl: 'the construct; use tls',
  ssl_cert: 'the construct; use tls',
  ssl_key: 'the construct; use tls',
  ssl_ca: 'the construct; use tls',
  require_secure_transport: 'the construct; use tls.requireSecureTransport',
};

/**
 * The provider options: defaults, then the failureDetection profile, then the user's (whose names
 * and values their schema checks), and the failure detector's timeouts checked against each other.
 * @internal
 */
export function resolveProviderOptions(
  c: Checker, field: string, given: Record<string, string> | undefined, profile: FailureDetection,
): Record<string, string> {
  const user = given ?? {};
  const detector = installTimeoutFor({ ...FAILURE_DETECTION_OPTIONS[profile], ...user }, user);
  checkFailureDetector(c, field, detector);
  return { ...DEFAULT_PROVIDER_OPTIONS, ...detector };
}

/**
 * Galera gives up forming a new view after evs.install_timeout, which defaults to half of
 * evs.inactive_timeout: with a shortened inactive timeout that can end before every survivor has
 * declared the dead member inactive. The survivors then each fall into a non-Primary component
 * of their own and, together again, stay non-Primary until the dead member returns (Galera
 * re-forms a Primary component from non-Primary ones only when every member of the last one is
 * back). Seen as "install timer expired" after one SIGKILL of three nodes under load. An install
 * timeout equal to the inactive timeout outlasts every survivor's own eviction of the dead member.
 */
function installTimeoutFor(options: Record<string, string>, user: Record<string, string>): Record<string, string> {
  const inactive = options['evs.inactive_timeout'];
  if (inactive === undefined || user['evs.install_timeout'] !== undefined) return options;
  return { ...options, 'evs.install_timeout': inactive };
}

/** Seconds of an ISO 8601 duration as Galera writes them (PT5S, PT0.5S, PT1M30S); NaN otherwise. */
function durationSeconds(value: string): number {
  const m = /^PT(?:([0-9.]+)H)?(?:([0-9.]+)M)?(?:([0-9.]+)S)?$/.exec(value);
  if (!m || value === 'PT') return NaN;
  return Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
}

/** Galera needs keepalive <= check period <= suspect timeout <= inactive timeout, and install timeout <= inactive timeout. */
function checkFailureDetector(c: Checker, field: string, options: Record<string, string>): void {
  const order = ['evs.keepalive_period', 'evs.inactive_check_period', 'evs.suspect_timeout', 'evs.inactive_timeout'];
  const seconds: Record<string, number> = {};
  for (const key of [...order, 'evs.install_timeout']) {
    if (typeof options[key] !== 'string') continue;
    seconds[key] = durationSeconds(options[key]);
    c.check(
      !Number.isNaN(seconds[key]), `${c.f(field)}['${key}'] must be an ISO 8601 duration such as PT3S or PT0.5S, got ${show(options[key])}`,
    );
  }
  for (let i = 0; i + 1 < order.length; i++) {
    const [a, b] = [order[i], order[i + 1]];
    if (seconds[a] > seconds[b]) {
      c.add(`${c.f(field)}: ${a} (${options[a]}) must not exceed ${b} (${options[b]}); set both, `
        + `or pick failureDetection 'galera-default', 'balanced' or 'fast'`);
    }
  }
  // Galera's default inactive timeout is 15 s.
  if (seconds['evs.install_timeout'] > (seconds['evs.inactive_timeout'] ?? 15)) {
    c.add(`${c.f(field)}: evs.install_timeout (${options['evs.install_timeout']}) `
      + `must not exceed evs.inactive_timeout (${options['evs.inactive_timeout'] ?? 'PT15S, Galera\'s default'})`);
  }
}

