import { Construct } from 'constructs';
import { execProbe } from '../core/pod';
import {
  MainContainer, MariaDbCluster, MariaDbClusterProps, NodeImage, resolveClusterOrThrow, resolveMariaDbCluster,
  ResolvedMariaDbCluster,
} from '../core/mariadb-cluster';
import { NODE_PATHS } from '../core/node-env';
import { COMMON_OWNED_OPTIONS, commonServerLines, OwnedServerOptions } from '../core/server-config';
import { REPLICATION_ROUTING } from './replication-routing';
import { Checker, Resolved } from '../values/validation';
import { checkProps } from '../values/schema';

/** What a primary does when no replica acknowledges a transaction within the semi-sync timeout. */
export type NoReplicaAck = 'block' | 'async';
/** Every NoReplicaAck mode. */
export const NO_REPLICA_ACK_MODES: readonly NoReplicaAck[] = ['block', 'async'];

/** Ports of a primary/replica pod. */
export const REPLICATION_PORTS = { mysql: 3306, clone: 4444, state: 4569 } as const;

/** Paths inside a primary/replica pod: those of every MariaDB pod. @internal */
export const REPLICATION_PATHS = NODE_PATHS;

/**
 * Props of MariaDbReplication: the props every topology shares, and the primary/replica ones. A values file sets them under `replication`.
 */
export interface MariaDbReplicationProps extends MariaDbClusterProps {
  /** Seconds the primary may stay unreachable before the replicas elect a new one. @default 30 @asType integer @minimum 5 @maximum 3600 */
  readonly failoverSeconds?: number;
  /**
   * Seconds a primary that reaches no majority keeps accepting writes before it fences itself; below failoverSeconds.
   * @default - 15, or half of failoverSeconds when that is less @asType integer @minimum 2 @maximum 3600
   */
  readonly fenceSeconds?: number;
  /** A replica is ready while its lag stays at most this many seconds. @default 30 @asType integer @minimum 1 @maximum 86400 */
  readonly maxLagSeconds?: number;
  /**
   * When no replica acknowledges a transaction: 'block' (the commit waits until one does; an
   * acknowledged write is always on a replica) or 'async' (after semiSyncTimeoutSeconds the
   * primary acknowledges without one, and a failover may lose those writes). @default 'block'
   */
  readonly noReplicaAck?: NoReplicaAck;
  /**
   * With noReplicaAck 'async': seconds a commit waits for a replica before the primary falls back to asynchronous replication.
   * @default 10 @asType integer @minimum 1 @maximum 3600
   */
  readonly semiSyncTimeoutSeconds?: number;
}

/** MariaDbReplicationProps with every default applied and every value checked. @internal */
export type ResolvedMariaDbReplication = ResolvedMariaDbCluster
  & Resolved<Omit<MariaDbReplicationProps, keyof MariaDbClusterProps>>;

const RESERVED_USERS = ['root', 'repl', 'monitor', 'exporter', 'mysql', 'mariadb.sys'];

/**
 * Applies the defaults of MariaDbReplicationProps (checked by their schema, see checkProps) and the
 * rules between them, reporting every problem into `c`. @internal
 */
export function resolveMariaDbReplication(p: MariaDbReplicationProps, c: Checker, defaultNamespace: string,
  defaultName = 'mariadb'): ResolvedMariaDbReplication {
  const shared = resolveMariaDbCluster(p, c, defaultNamespace, {
    defaultName, reservedUsers: RESERVED_USERS, ownedOptions: REPLICATION_OWNED_OPTIONS, terminationGracePeriodSeconds: 60,
    tlsByDefault: true,
    noTransitionalTls: 'a primary/replica cluster turns TLS on or off with all its pods stopped and started again '
      + '(docs/replication.md, "TLS")',
    replicaCountReason: 'a failover needs a majority of the nodes, and with an even count a partition into equal halves elects nobody',
  });
  const failoverSeconds = p.failoverSeconds ?? 30;
  const fenceSeconds = p.fenceSeconds ?? Math.min(15, Math.floor(failoverSeconds / 2));
  c.check(fenceSeconds < failoverSeconds,
    `${c.f('fenceSeconds')} (${fenceSeconds}) must be below ${c.f('failoverSeconds')} (${failoverSeconds}): `
    + 'a cut-off primary must stop writing before a new one is elected');
  return {
    ...shared,
    failoverSeconds,
    fenceSeconds,
    maxLagSeconds: p.maxLagSeconds ?? 30,
    noReplicaAck: p.noReplicaAck ?? 'block',
    semiSyncTimeoutSeconds: p.semiSyncTimeoutSeconds ?? 10,
  };
}

/**
 * Options of the primary/replica node's [mysqld] section that the construct (renderReplicationMyCnf)
 * or the scripts (repl-init.sh, repl-start.sh) set; extraMyCnf may not. Its own list: Galera's
 * wsrep and TLS options mean nothing here, and the binlog, GTID, semi-sync and role settings
 * decide who may write and whether a failover loses acknowledged commits.
 */
export const REPLICATION_OWNED_OPTIONS: OwnedServerOptions = {
  ...COMMON_OWNED_OPTIONS,
  sync_binlog: 'the construct (1: an acknowledged commit is in the binlog on disk)',
  log_bin: 'the construct (every node binlogs, so any replica can become the primary)',
  log_slave_updates: 'the construct (replicas binlog what they apply)',
  log_replica_updates: 'the construct (log_slave_updates)',
  gtid_domain_id: 'the construct (replicas follow the primary by GTID)',
  gtid_strict_mode: 'the construct (an errant transaction stops replication instead of diverging)',
  gtid_slave_pos: 'repl-start.sh',
  relay_log: 'the construct',
  relay_log_recovery: 'the construct',
  read_only: 'repl-start.sh (the node scripts give each node its role; only the primary writes)',
  ssl: 'the construct; use tls',
  ssl_cert: 'the construct; use tls',
  ssl_key: 'the construct; use tls',
  ssl_ca: 'the construct; use tls',
  require_secure_transport: 'the construct; use tls.requireSecureTransport',
  skip_slave_start: 'the construct (repl-start.sh starts replication once it knows the primary)',
  skip_replica_start: 'the construct (skip_slave_start)',
  slave_net_timeout: 'the construct (how soon a replica notices that its primary is gone)',
  rpl_semi_sync_master_enabled: 'repl-start.sh (only the primary waits for acknowledgements)',
  rpl_semi_sync_slave_enabled: 'repl-start.sh',
  rpl_semi_sync_master_wait_point: 'the construct (AFTER_SYNC: lossless failover)',
  rpl_semi_sync_master_wait_no_slave: 'the construct',
  rpl_semi_sync_master_timeout: 'the construct; use noReplicaAck and semiSyncTimeoutSeconds',
  replicate_wild_ignore_table: 'source.sh (the connection to an external source skips its mysql schema)',
  server_id: 'repl-init.sh (1 + the ordinal)',
  report_host: 'repl-init.sh (the pod DNS name)',
};

const SCRIPTS = [
  'repl-lib.sh', 'repl-election.sh', 'repl-init.sh', 'repl-start.sh', 'repl-state.sh', 'repl-clone.sh', 'repl-probe.sh',
  'repl-switchover.sh', 'repl-cutover.sh',
];
/** The semi-sync timeout of 'block': about 49 days, so a commit waits for a replica rather than being acknowledged without one. */
const BLOCK_TIMEOUT_MS = 2 ** 32 - 1;

/** The shared server configuration; repl-init.sh adds server_id and report_host. @internal */
export function renderReplicationMyCnf(r: ResolvedMariaDbReplication, tlsServerOptions: readonly string[] = []): string {
  return [
    '# Rendered by the MariaDbReplication construct; repl-init.sh adds the node-specific settings.',
    '[mysqld]',
    ...commonServerLines({ port: REPLICATION_PORTS.mysql, bufferPool: r.innodbBufferPoolSize, ...r }),
    // Replicas binlog what they apply (commonServerLines), so any of them can become the primary
    // and the others follow it by GTID.
    `gtid_domain_id=${r.gtidDomainId}`,
    'gtid_strict_mode=ON',
    'relay_log=relay-bin',
    'relay_log_recovery=ON',
    // Every node starts read-only and without replication; repl-start.sh gives it its role.
    'read_only=ON',
    'skip_slave_start=ON',
    'slave_net_timeout=5',
    // Only the primary waits for acknowledgements (repl-start.sh turns it on there): a replica
    // applying its primary's events must never wait for replicas of its own.
    'rpl_semi_sync_master_enabled=OFF',
    'rpl_semi_sync_slave_enabled=ON',
    // AFTER_SYNC: a commit is visible to nobody before a replica has it (lossless failover).
    'rpl_semi_sync_master_wait_point=AFTER_SYNC',
    'rpl_semi_sync_master_wait_no_slave=ON',
    `rpl_semi_sync_master_timeout=${r.noReplicaAck === 'block' ? BLOCK_TIMEOUT_MS : r.semiSyncTimeoutSeconds * 1000}`,
    ...tlsServerOptions,
    ...r.extraMyCnf,
    '',
    '[client]',
    `socket=${REPLICATION_PATHS.socketDir}/mysqld.sock`,
    '',
  ].join('\n');
}

/**
 * One primary and semi-synchronous GTID read replicas on the shared node set (MariaDbCluster):
 * pods that take their role by themselves (initialize, clone from a ready peer, follow the
 * primary, elect a new one by majority when it is gone; scripts/replication/), a `-read`
 * Service over the ready nodes, and ProxySQL routing by read_only.
 */
export class MariaDbReplication extends MariaDbCluster {
  /** A replica is ready (and in the read Service) while its lag stays at most this many seconds. */
  public readonly maxLagSeconds: number;

  private readonly replication: ResolvedMariaDbReplication;

  constructor(scope: Construct, id: string, props: MariaDbReplicationProps = {}) {
    const r = resolveClusterOrThrow('MariaDbReplication', scope, id, props,
      (c, namespace, name) => resolveMariaDbReplication(checkProps(c, 'MariaDbReplication', props), c, namespace, name));
    super(scope, id, r, {
      topology: 'replication', appName: 'mariadb-replication', routing: REPLICATION_ROUTING,
      gtidDomainId: r.gtidDomainId, source: r.source,
      // between the nodes: the replication channel (a replica connects to its primary's SQL port),
      // the clone stream and the state port; the NetworkPolicy opens exactly these between them
      ports: REPLICATION_PORTS, peerPorts: [REPLICATION_PORTS.mysql, REPLICATION_PORTS.clone, REPLICATION_PORTS.state],
      // the jobs that read the state ports (backup, binlog archiver) source repl-lib.sh
      stateScripts: { 'repl-lib.sh': 'replication/repl-lib.sh' },
      clientServices: [{ suffix: 'read' }],
      scripts: Object.fromEntries(SCRIPTS.map((s) => [s, `replication/${s}`])),
    });
    this.replication = r;
    this.maxLagSeconds = r.maxLagSeconds;
  }

  /** @internal */
  protected serverConfig(): string {
    return renderReplicationMyCnf(this.replication, this.tlsServerOptions());
  }

  /** @internal */
  protected initCommand(node: NodeImage): string[] {
    return node.script('repl-init.sh');
  }

  /** @internal */
  protected mainContainer(node: NodeImage): MainContainer {
    const probe = (mode: string) => node.script('repl-probe.sh', mode);
    return {
      command: node.script('repl-start.sh'),
      readinessProbe: execProbe(probe('readiness'), { periodSeconds: 5, timeoutSeconds: 4, failureThreshold: 2 }),
      // The start script's heartbeat keeps a waiting or cloning node alive; a hung server is restarted.
      livenessProbe: execProbe(probe('liveness'), { periodSeconds: 10, timeoutSeconds: 8, failureThreshold: 6 }),
    };
  }

  /** Replication's own settings; the shared ones (NODE_*) come from the node set. @internal */
  protected topologyEnv(): Record<string, string> {
    const r = this.replication;
    return {
      REPL_CLONE_PORT: String(REPLICATION_PORTS.clone),
      REPL_MYSQL_PORT: String(REPLICATION_PORTS.mysql),
      REPL_FAILOVER_SECONDS: String(r.failoverSeconds),
      REPL_FENCE_SECONDS: String(r.fenceSeconds),
      REPL_MAX_LAG_SECONDS: String(r.maxLagSeconds),
      REPL_NO_REPLICA_ACK: r.noReplicaAck,
    };
  }
}
