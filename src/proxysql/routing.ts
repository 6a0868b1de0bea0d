/** The hostgroup ids ProxySQL routes with: four distinct ids, reader > 0. */
export interface ProxySqlHostgroups {
  /** The hostgroup that receives writes (one node at a time). @default 10 @asType integer @minimum 0 @maximum 2147483647 */
  readonly writer?: number;
  /**
   * Healthy writable nodes beyond the one writer, the failover candidates (Galera).
   * @default 20 @asType integer @minimum 0 @maximum 2147483647
   */
  readonly backupWriter?: number;
  /** The hostgroup that plain SELECTs go to. ProxySQL requires it to be > 0. @default 30 @asType integer @minimum 1 @maximum 2147483647 */
  readonly reader?: number;
  /** Nodes that failed a check or may not serve (Galera: not Synced). @default 40 @asType integer @minimum 0 @maximum 2147483647 */
  readonly offline?: number;
}

/**
 * `writer_is_also_reader` of the writer rule:
 * 1 = the writer is a reader too (reads keep working with a single node left);
 * 2 = only the other nodes are readers (no reads on the writer, but NO reader at all once the
 * writer is the last node: ProxySQL deliberately leaves the reader hostgroup empty then).
 */
export type WriterIsAlsoReader = 1 | 2;
/** Every WriterIsAlsoReader value. */
export const WRITER_IS_ALSO_READER_VALUES: readonly WriterIsAlsoReader[] = [1, 2];

/** How often and how patiently ProxySQL's monitor runs the health rule of the topology. */
export interface HealthCheckTiming {
  /** One check per server every this many ms. */
  readonly intervalMs: number;
  /** A check slower than this counts as a timeout (ms). */
  readonly timeoutMs: number;
  /** Consecutive timeouts after which the server counts as failed. */
  readonly maxTimeoutCount: number;
}

/** The routing options a topology checks. */
export interface RoutingOptions {
  /** writerIsAlsoReader as given (unchecked). */
  readonly writerIsAlsoReader?: unknown;
  /** Whether plain SELECTs go to the readers. */
  readonly readWriteSplit: boolean;
  /** Number of database nodes. */
  readonly replicas: number;
}

/** A libconfig scalar of proxysql.cnf. */
export type RoutingScalar = number | boolean | string;

/** What the writer rule is rendered from. */
export interface WriterRuleInput {
  /** The hostgroup ids, defaults applied. */
  readonly hostgroups: Required<ProxySqlHostgroups>;
  /** Whether the writer also serves reads. */
  readonly writerIsAlsoReader: WriterIsAlsoReader;
  /** Name of the backend, for the comment. */
  readonly clusterName: string;
}

/**
 * How ProxySQL tells the writer from the readers of one topology: the writer rule (a hostgroup
 * table of proxysql.cnf) and the health rule (the monitor variables that drive it). Each database
 * topology supplies its own, so the ProxySql construct and its configuration never branch on the
 * topology.
 */
export interface IProxySqlRouting {
  /** What the rule is, for comments and messages (e.g. 'wsrep status of every node'). */
  readonly description: string;
  /**
   * The statement that makes a session's reads causal on this topology, run by every connection
   * ProxySQL opens to a reader when causalReads is on; none: the topology has no such wait.
   */
  readonly causalReadStatement?: string;
  /**
   * The writer rule: the `mysql_*_hostgroups` table(s) of proxysql.cnf, as name and rows.
   * ProxySQL moves every server between the hostgroups by it.
   */
  writerRule(input: WriterRuleInput): Record<string, Record<string, RoutingScalar>[]>;
  /** The health rule: the `mysql-monitor_*` variables of the check that feeds the writer rule. */
  healthRule(timing: HealthCheckTiming): Record<string, RoutingScalar>;
  /**
   * The problems of the routing options on this topology (e.g. which writerIsAlsoReader values
   * make sense), each naming its field as `field(name)` spells it; none: an empty list.
   */
  checkOptions(options: RoutingOptions, field: (name: string) => string): string[];
}
