import { Checker, show } from '../values/validation';
import { NODE_PATHS } from './node-env';

// What both topologies' server configurations share: the options every node sets the same way,
// the rule that extraMyCnf never overrides an option a construct owns, and my.cnf sizes.

/**
 * The server options of one topology that the construct or its scripts set, each with what sets
 * it (or the prop to use instead): `extraMyCnf` refuses them, since its lines come last in
 * `[mysqld]` and would win. Names are in MariaDB's canonical form (underscores).
 */
export type OwnedServerOptions = Readonly<Record<string, string>>;

/** What the server configuration of both topologies sets (renderMyCnf, renderReplicationMyCnf). @internal */
export const COMMON_OWNED_OPTIONS: OwnedServerOptions = {
  datadir: 'the construct (the data volume)',
  socket: 'the construct (the scripts and probes connect through it)',
  pid_file: 'the construct',
  tmpdir: 'the construct',
  port: 'the construct (the Services, probes and ProxySQL use it)',
  bind_address: 'the construct',
  skip_name_resolve: 'the construct (accounts are granted by address pattern, not host name)',
  skip_networking: 'the node scripts (only while they initialize or restore the data directory)',
  character_set_server: 'the construct',
  collation_server: 'the construct',
  default_storage_engine: 'the construct',
  binlog_format: 'the construct (ROW: what replication and Galera need)',
  log_bin: 'the construct (every node binlogs: the archive for point-in-time recovery, and any node can be a source)',
  log_slave_updates: 'the construct (a node binlogs what it applies, so every node has every transaction)',
  log_replica_updates: 'the construct (log_slave_updates)',
  sync_binlog: 'the construct (1: an acknowledged commit is in the binlog on disk)',
  binlog_expire_logs_seconds: 'the construct; use binlogExpireSeconds',
  expire_logs_days: 'the construct; use binlogExpireSeconds',
  gtid_domain_id: 'the construct (one GTID domain per cluster)',
  server_id: 'the construct',
  innodb_flush_log_at_trx_commit: 'the construct (1: an acknowledged commit is on disk)',
  innodb_snapshot_isolation: 'the construct; use snapshotIsolation',
  innodb_buffer_pool_size: 'the construct; use innodbBufferPoolSize',
  max_connections: 'the construct; use maxConnections',
};

/** Non-owned option names that are also the beginning of an owned one: exact names, not abbreviations. */
const EXACT_OPTIONS = ['innodb'];
/** Prefixes MariaDB accepts in front of an option name (`loose-` first, then one of the others). */
const OPTION_PREFIXES = /^(?:loose_)?(?:(?:skip|disable|enable|maximum)_)?/;

/**
 * The owned option a my.cnf key sets, or undefined. MariaDB reads '-' and '_' alike, accepts the
 * loose-, skip-, disable-, enable- and maximum- prefixes, and takes an unambiguous beginning of an
 * option name for the option (`read-onl=0` sets read_only), so an abbreviation of an owned option
 * is refused too. @internal
 */
export function ownedOptionOf(key: string, owned: OwnedServerOptions): string | undefined {
  const name = key.trim().toLowerCase().replace(/-/g, '_');
  const loose = name.replace(/^loose_/, '');
  for (const candidate of [name, loose, name.replace(OPTION_PREFIXES, '')]) {
    if (Object.prototype.hasOwnProperty.call(owned, candidate)) return candidate;
  }
  for (const candidate of [loose, name.replace(OPTION_PREFIXES, '')]) {
    if (candidate.length === 0 || EXACT_OPTIONS.includes(candidate)) continue;
    const abbreviated = Object.keys(owned).find((o) => o.startsWith(candidate));
    if (abbreviated) return abbreviated;
  }
  return undefined;
}

/**
 * extraMyCnf (single `key=value` lines, as its schema checks them) that leave the topology's owned
 * options alone; a line the schema refused is undefined here. @internal
 */
export function resolveExtraMyCnf(c: Checker, field: string, lines: readonly (string | undefined)[] | undefined,
  owned: OwnedServerOptions): string[] {
  const out: string[] = [];
  for (const [i, line] of (lines ?? []).entries()) {
    if (line === undefined) continue;
    const key = line.split('=')[0];
    const option = ownedOptionOf(key, owned);
    if (option !== undefined) {
      const spelt = key.trim() === option ? '' : ` (written ${show(key.trim())})`;
      c.add(`${c.f(field)}[${i}] must not set ${option}${spelt}: `
        + `it is set by ${owned[option]} (owned on this topology: ${Object.keys(owned).join(', ')})`);
      continue;
    }
    out.push(line);
  }
  return out;
}

/** Bytes of a my.cnf size such as 512M or 4G; NaN otherwise. @internal */
export function bytesOfMyCnfSize(v: string): number {
  const m = /^([0-9]+)([KMG]?)$/.exec(v);
  if (!m) return NaN;
  return Number(m[1]) * ({ '': 1, 'K': 2 ** 10, 'M': 2 ** 20, 'G': 2 ** 30 } as Record<string, number>)[m[2]];
}

/** What the shared [mysqld] lines are rendered from. @internal */
export interface CommonServerSettings {
  readonly port: number;
  readonly bufferPool: string;
  readonly maxConnections: number;
  readonly snapshotIsolation: boolean;
  readonly binlogExpireSeconds: number;
}

/**
 * The [mysqld] lines both topologies write the same way: the options of COMMON_OWNED_OPTIONS but
 * gtid_domain_id and server_id, which each topology sets its own way. @internal
 */
export function commonServerLines(s: CommonServerSettings): string[] {
  return [
    `datadir=${NODE_PATHS.data}`,
    `socket=${NODE_PATHS.socketDir}/mysqld.sock`,
    `pid-file=${NODE_PATHS.socketDir}/mysqld.pid`,
    `tmpdir=${NODE_PATHS.tmp}`,
    `port=${s.port}`,
    'bind-address=0.0.0.0',
    'skip-name-resolve',
    'character-set-server=utf8mb4',
    'collation-server=utf8mb4_general_ci',
    'default_storage_engine=InnoDB',
    `innodb_buffer_pool_size=${s.bufferPool}`,
    `max_connections=${s.maxConnections}`,
    // Every acknowledged commit is on disk, so a crash never rolls one back.
    'innodb_flush_log_at_trx_commit=1',
    // A write over a change made after the transaction's snapshot fails instead of losing it (P4).
    `innodb_snapshot_isolation=${s.snapshotIsolation ? 'ON' : 'OFF'}`,
    // Every node binlogs what it commits and what it applies, in ROW format and on disk with each
    // commit: the binary logs the archiver ships for point-in-time recovery (docs/backup.md).
    'sync_binlog=1',
    'log_bin=mysql-bin',
    'binlog_format=ROW',
    'log_slave_updates=ON',
    `binlog_expire_logs_seconds=${s.binlogExpireSeconds}`,
  ];
}
