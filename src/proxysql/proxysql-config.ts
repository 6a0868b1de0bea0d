import { SECRET_KEYS } from '../core/credentials';
import { Checker, Resolved, withDefaults } from '../values/validation';
import type { ServerVersion } from '../values/formats';
import { IProxySqlRouting, ProxySqlHostgroups, WriterIsAlsoReader } from './routing';

export { WRITER_IS_ALSO_READER_VALUES } from './routing';
export type { ProxySqlHostgroups, WriterIsAlsoReader } from './routing';

/**
 * The proxysql.cnf that the ProxySql construct ships in its ConfigMap: a libconfig file
 * (the format ProxySQL parses with libconfig) holding everything but the passwords, which
 * are placeholders that `scripts/proxysql/proxysql-render.sh` fills in from the Secret.
 *
 * Facts about ProxySQL used below come from its source, v2.7 (also checked on v3.0):
 * lib/ProxySQL_Config.cpp (how the file is loaded), lib/MySQL_Monitor.cpp (Galera and ping
 * checks), lib/MySQL_HostGroups_Manager.cpp (writer choice), lib/MySQL_Thread.cpp (defaults).
 */

/** @deprecated use ProxySqlHostgroups (the same ids, for every topology). */
export type GaleraHostgroups = ProxySqlHostgroups;

/**
 * How fast ProxySQL notices a dead or sick node, and how long clients wait meanwhile. The ranges
 * are those ProxySQL accepts (MySQL_Thread.cpp, VariablesPointers_int), narrowed where a value
 * outside would defeat the purpose (e.g. a connect timeout under 1 s is rounded to 1 s anyway).
 */
export interface ProxySqlFailoverSettings {
  /**
   * `mysql-monitor_galera_healthcheck_interval`: one Galera check per node every this many ms.
   * @default 1000 @asType integer @minimum 50 @maximum 600000
   */
  readonly healthcheckIntervalMs?: number;
  /**
   * `mysql-monitor_galera_healthcheck_timeout`: a check query slower than this counts as a timeout.
   * @default 800 @asType integer @minimum 50 @maximum 600000
   */
  readonly healthcheckTimeoutMs?: number;
  /**
   * `mysql-monitor_galera_healthcheck_max_timeout_count`: consecutive timeouts that take a node offline.
   * @default 2 @asType integer @minimum 1 @maximum 10
   */
  readonly healthcheckMaxTimeoutCount?: number;
  /**
   * `mysql-monitor_ping_interval` (ms). Must stay slow enough that Galera checks act first (see docs/proxysql.md).
   * @default 3000 @asType integer @minimum 100 @maximum 3600000
   */
  readonly pingIntervalMs?: number;
  /** `mysql-monitor_ping_timeout` (ms). @default 1000 @asType integer @minimum 100 @maximum 600000 */
  readonly pingTimeoutMs?: number;
  /**
   * `mysql-monitor_ping_max_failures`: missed pings after which ProxySQL shuns a node and stops checking it.
   * @default 3 @asType integer @minimum 1 @maximum 1000
   */
  readonly pingMaxFailures?: number;
  /**
   * `mysql-monitor_connect_timeout` (ms); the client library rounds it down to whole seconds (at least 1 s).
   * @default 1000 @asType integer @minimum 1000 @maximum 600000
   */
  readonly monitorConnectTimeoutMs?: number;
  /**
   * `mysql-connect_timeout_server`: one attempt to open a backend connection for a client (ms).
   * @default 1000 @asType integer @minimum 10 @maximum 120000
   */
  readonly connectTimeoutServerMs?: number;
  /**
   * `mysql-connect_timeout_server_max`: how long a client query waits for a usable backend, e.g. during a failover (ms).
   * @default 10000 @asType integer @minimum 10 @maximum 3600000
   */
  readonly connectTimeoutServerMaxMs?: number;
  /**
   * `mysql-monitor_local_dns_cache_ttl` (ms; 0 disables the cache). Pods get new IPs when rescheduled.
   * @default 5000 @asType integer @minimum 0 @maximum 3600000
   */
  readonly dnsCacheTtlMs?: number;
  /**
   * `mysql-monitor_local_dns_cache_refresh_interval` (ms; 0 disables the cache).
   * @default 1000 @asType integer @minimum 0 @maximum 3600000
   */
  readonly dnsCacheRefreshIntervalMs?: number;
}

/** The routing and tuning options a user chooses (the ProxySql construct accepts them too). */
export interface ProxySqlConfigOptions {
  /** Send plain SELECTs to the reader hostgroup; false sends everything to the writer. @default true */
  readonly readWriteSplit?: boolean;
  /** `writer_is_also_reader` (Galera only), see WriterIsAlsoReader and docs/proxysql.md. @default 1 */
  readonly writerIsAlsoReader?: WriterIsAlsoReader;
  /**
   * Causal reads through ProxySQL (Galera only): every backend connection ProxySQL opens first
   * runs `SET SESSION wsrep_sync_wait=1` (`mysql-init_connect`), so a read sent to a reader waits
   * until that node has applied every write set the cluster committed before the read began: no
   * stale reads through ProxySQL, at the cost of a cluster round trip per read, on the writer's
   * reads too (docs/consistency.md has the figures). Clients run no SET, so ProxySQL pins no
   * session to a hostgroup.
   * @default false
   */
  readonly causalReads?: boolean;
  /** Hostgroup ids. @default - writer 10, backupWriter 20, reader 30, offline 40 */
  readonly hostgroups?: ProxySqlHostgroups;
  /** `mysql-server_version` that clients see in the handshake. @default - derived from the Galera image tag, else DEFAULT_SERVER_VERSION */
  readonly serverVersion?: ServerVersion;
  /**
   * `mysql-max_connections`: client connections per ProxySQL pod, also the app user's limit.
   * @default 2048 @asType integer @minimum 1 @maximum 1000000
   */
  readonly maxClientConnections?: number;
  /**
   * `max_connections` of each Galera server, per ProxySQL pod: keep replicas x this below the server's max_connections.
   * @default 150 @asType integer @minimum 1 @maximum 10000
   */
  readonly backendMaxConnections?: number;
  /** Monitor and timeout settings. @default - see ProxySqlFailoverSettings */
  readonly failover?: ProxySqlFailoverSettings;
}

/** Everything the rendering needs: the resolved options plus what comes from the backend. @internal */
export interface ProxySqlConfigInput extends ResolvedProxySqlOptions {
  /** DNS names of the database pods, ordinal 0 first. */
  readonly servers: readonly string[];
  /** MySQL port of the database pods. */
  readonly serverPort: number;
  /** The application account (mysql_users). */
  readonly appUser: string;
  /** Its default schema. */
  readonly appDatabase: string;
  /** The declared users (mysql_users too), each with the placeholder its password fills. */
  readonly declaredUsers?: readonly { readonly name: string; readonly placeholder: PasswordPlaceholder; readonly defaultSchema?: string }[];
  /** Name of the backend, for comments. */
  readonly clusterName: string;
  /** How ProxySQL tells the writer from the readers: the backend topology's writer and health rules. */
  readonly routing: IProxySqlRouting;
  /** `mysql-server_version`. */
  readonly serverVersion: string;
  /** TLS to clients (certificates copied into the datadir) and to the servers (monitor included). */
  readonly tls: { readonly enabled: boolean; readonly requireSecureTransport: boolean };
  /** Serve the Prometheus metrics on PROXYSQL_METRICS_PORT (the REST API). */
  readonly metrics?: boolean;
}

/** The default hostgroup ids: writer 10, backup writer 20, reader 30, offline 40. */
export const DEFAULT_HOSTGROUPS: Required<ProxySqlHostgroups> = { writer: 10, backupWriter: 20, reader: 30, offline: 40 };

/** The default monitor and timeout settings (ProxySqlFailoverSettings). */
export const DEFAULT_FAILOVER: Required<ProxySqlFailoverSettings> = {
  healthcheckIntervalMs: 1000,
  healthcheckTimeoutMs: 800,
  healthcheckMaxTimeoutCount: 2,
  pingIntervalMs: 3000,
  pingTimeoutMs: 1000,
  pingMaxFailures: 3,
  monitorConnectTimeoutMs: 1000,
  connectTimeoutServerMs: 1000,
  connectTimeoutServerMaxMs: 10000,
  dnsCacheTtlMs: 5000,
  dnsCacheRefreshIntervalMs: 1000,
};

/** Default `mysql-max_connections`: client connections per ProxySQL pod. */
export const DEFAULT_MAX_CLIENT_CONNECTIONS = 2048;
/** Default `max_connections` of each backend server, per ProxySQL pod. */
export const DEFAULT_BACKEND_MAX_CONNECTIONS = 150;

/** The ports of a ProxySQL pod: clients (6033) and the admin interface on loopback (6032). */
export const PROXYSQL_PORTS = { mysql: 6033, admin: 6032 } as const;
/** Port of ProxySQL's REST API, which serves its Prometheus metrics at /metrics, when monitoring is on. */
export const PROXYSQL_METRICS_PORT = 6070;

/** Paths inside the ProxySQL pod. @internal */
export const PROXYSQL_PATHS = {
  /** ConfigMap: the template and the scripts. */
  scripts: '/opt/proxysql',
  /** The credentials Secret, as files. */
  credentials: '/etc/proxysql/credentials',
  /** Memory-backed emptyDir with the rendered proxysql.cnf (mode 0600). */
  rendered: '/run/proxysql',
  /** The TLS Secret (ca.crt, tls.crt, tls.key); copied into the datadir, where ProxySQL reads it. */
  tls: '/etc/proxysql/tls',
  /** Memory-backed emptyDir shared with the agent container (admin client settings, the drained mark). */
  agent: '/run/proxysql-agent',
  /** The declared users' password Secrets, each in its own directory. */
  declaredPasswords: '/etc/proxysql/declared-passwords',
  /** ProxySQL's datadir (proxysql.db, started with --initial). */
  data: '/var/lib/proxysql',
  tmp: '/tmp',
} as const;

/** @internal */
export const TEMPLATE_FILE = 'proxysql.cnf.tmpl';
/** @internal */
export const RENDERED_FILE = 'proxysql.cnf';

/**
 * The password placeholders of the template and the Secret key each one is filled from.
 * ProxySQL's config loader copies file values into SQL without escaping them
 * (lib/ProxySQL_Config.cpp): user passwords inside '...', variables inside "...". So
 * proxysql-render.sh doubles `sqlQuote` in the value (the SQL escape of a quote inside such a
 * literal) before the libconfig escapes, and every character arrives. Only `forbidden` cannot be
 * carried at all: admin credentials are split at ':' and ';' when ProxySQL applies them.
 * proxysql-render.sh enforces the same table; the unit tests check that both agree.
 * @internal
 */
export const PASSWORD_PLACEHOLDERS = {
  APP_PASSWORD: {
    key: SECRET_KEYS.app, sqlQuote: "'", forbidden: '', where: "mysql_users.password (a '...' SQL literal in ProxySQL's loader)",
  },
  MONITOR_PASSWORD: {
    key: SECRET_KEYS.monitor, sqlQuote: '"', forbidden: '', where: 'mysql-monitor_password (a "..." SQL literal in ProxySQL\'s loader)',
  },
  ADMIN_PASSWORD: {
    key: SECRET_KEYS.proxysqlAdmin, sqlQuote: '"', forbidden: ':;',
    where: 'admin-admin_credentials (a "..." SQL literal, split at ":" and ";")',
  },
} as const;
/**
 * A placeholder: one of PASSWORD_PLACEHOLDERS, or a declared user's password (USER_PASSWORD_<n>,
 * filled from the file PROXYSQL_USER_PASSWORD_FILES names for it, quoted as APP_PASSWORD).
 * @internal
 */
export type PasswordPlaceholder = keyof typeof PASSWORD_PLACEHOLDERS | `USER_PASSWORD_${number}`;

/** The placeholder of the n-th declared user's password (n from 1). @internal */
export function userPasswordPlaceholder(n: number): PasswordPlaceholder {
  return `USER_PASSWORD_${n}`;
}

/** The text of a placeholder in the template. @internal */
export function placeholder(name: PasswordPlaceholder): string {
  return `@@${name}@@`;
}

/**
 * Writer preference: ProxySQL keeps as writer the healthy node first in `ORDER BY weight DESC,
 * hostname DESC, port DESC` (MySQL_HostGroups_Manager::converge_galera_config). Distinct weights
 * make pod 0 the preferred writer whatever the hostnames sort like (galera-10 < galera-9), and
 * keep readers almost evenly loaded (1000, 999, 998, ...).
 * @internal
 */
export function serverWeight(ordinal: number): number {
  return 1000 - ordinal;
}

/** One query rule; match_digest is matched against ProxySQL's normalized digest text. @internal */
export interface QueryRule {
  readonly ruleId: number;
  readonly matchDigest: string;
  readonly to: 'writer' | 'reader';
  readonly comment: string;
}

/**
 * SELECTs that must run on the writer, each a pattern over the rest of the digest after `SELECT`.
 * They are one rule (one regular expression per statement, not four: measured in the ProxySQL
 * benchmark), listed here one by one for the documentation and the tests.
 * @internal
 */
export const WRITER_SELECTS: readonly { readonly pattern: string; readonly why: string }[] = [
  { pattern: '\\bFOR\\s+(UPDATE|SHARE)\\b', why: 'locking reads (FOR UPDATE, FOR SHARE) take row locks on the writer' },
  { pattern: '\\bLOCK\\s+IN\\s+SHARE\\s+MODE\\b', why: 'LOCK IN SHARE MODE is a locking read' },
  { pattern: '\\bINTO\\b', why: 'SELECT INTO OUTFILE, DUMPFILE or variables has side effects' },
  {
    pattern: '\\b(NEXTVAL|LASTVAL|SETVAL|GET_LOCK|RELEASE_LOCK|RELEASE_ALL_LOCKS|IS_FREE_LOCK|IS_USED_LOCK)\\s*\\(',
    why: 'sequence and named-lock functions change state',
  },
  { pattern: '\\bNEXT\\s+VALUE\\s+FOR\\b', why: 'NEXT VALUE FOR a sequence changes it' },
];

/**
 * Read/write split. Rules are tried by rule_id; the first match with apply=1 wins, and a query
 * no rule matches goes to the user's default_hostgroup, the writer (so every INSERT, UPDATE,
 * DELETE, DDL, BEGIN, CALL, SET ... and anything unrecognized is a write). So a SELECT costs two
 * regular expressions and anything else two that fail at their first character.
 * The patterns use only syntax that PCRE (ProxySQL's default engine), RE2 (the alternative) and
 * JavaScript agree on: no lookaround, no backreferences. re_modifiers is CASELESS.
 * @internal
 */
export const READ_WRITE_SPLIT_RULES: readonly QueryRule[] = [
  {
    ruleId: 100,
    matchDigest: `^SELECT\\b.*(${WRITER_SELECTS.map((w) => w.pattern).join('|')})`,
    to: 'writer',
    comment: 'SELECTs with side effects or locks: FOR UPDATE/SHARE, LOCK IN SHARE MODE, INTO, sequence and named-lock functions',
  },
  { ruleId: 200, matchDigest: '^SELECT\\b', to: 'reader', comment: 'every other SELECT is a read' },
];

// ---------------------------------------------------------------------------------------------
// Resolution and validation

/** ProxySqlConfigOptions with every default applied; serverVersion undefined means the backend's version. @internal */
export type ResolvedProxySqlOptions = Resolved<ProxySqlConfigOptions, 'serverVersion', {
  readonly hostgroups: Required<ProxySqlHostgroups>;
  readonly failover: Required<ProxySqlFailoverSettings>;
}>;

/** What the monitor settings give, in ms (reasoning in docs/proxysql.md). @internal */
export interface FailoverEstimate {
  /** A node that is gone and the monitor holds a pooled connection to it: the next check fails at once. */
  readonly bestMs: number;
  /** Upper bound for a gone, hung or unreachable node to be moved to the offline hostgroup. */
  readonly worstMs: number;
  /** Earliest moment the ping monitor can shun a dead node (which stops its Galera checks). */
  readonly pingShunEarliestMs: number;
}

/**
 * Worst case: a failed check only counts immediately when it fails on a pooled connection; a
 * failed new connection is reported as "timeout or error in creating new connection" and so is
 * counted like a timeout, needing `max_timeout_count` in a row (MySQL_Monitor.cpp,
 * monitor_galera_thread). The first failing check starts within one interval, the last one
 * `count - 1` intervals later and lasts at most the connect timeout (whole seconds, >= 1 s) or
 * the check timeout.
 * @internal
 */
export function estimateFailover(f: Required<ProxySqlFailoverSettings>): FailoverEstimate {
  const connectMs = Math.max(1000, Math.floor(f.monitorConnectTimeoutMs / 1000) * 1000);
  return {
    bestMs: f.healthcheckIntervalMs,
    worstMs: f.healthcheckMaxTimeoutCount * f.healthcheckIntervalMs + Math.max(connectMs, f.healthcheckTimeoutMs),
    pingShunEarliestMs: (f.pingMaxFailures - 1) * f.pingIntervalMs,
  };
}

/** A value ProxySQL and the template can carry: no quotes, no control characters, no placeholder marker. */
function safeText(value: string): boolean {
  return !/["'\\\x00-\x1f\x7f]|@@/.test(value);
}

/**
 * Applies the defaults of the routing and tuning options (checked by their schema, see checkProps)
 * and the rules between them, reporting every problem into `c`. @internal
 */
export function resolveProxySqlOptions(
  c: Checker, o: ProxySqlConfigOptions, backend: { replicas: number; routing: IProxySqlRouting },
): ResolvedProxySqlOptions {
  const readWriteSplit = o.readWriteSplit ?? true;
  const problems = backend.routing.checkOptions(
    { writerIsAlsoReader: o.writerIsAlsoReader, readWriteSplit, replicas: backend.replicas }, (f) => c.f(f),
  );
  problems.forEach((p) => c.add(p));
  const causalReads = o.causalReads ?? false;
  c.check(!causalReads || backend.routing.causalReadStatement !== undefined,
    `${c.f('causalReads')} must be false on this topology (${backend.routing.description}), got true: it has no causal wait `
      + 'a reader could run (on Galera it is wsrep_sync_wait)');
  return {
    readWriteSplit,
    causalReads,
    writerIsAlsoReader: o.writerIsAlsoReader !== undefined && problems.length === 0 ? o.writerIsAlsoReader : 1,
    hostgroups: resolveHostgroups(c, o.hostgroups),
    serverVersion: o.serverVersion,
    maxClientConnections: o.maxClientConnections ?? DEFAULT_MAX_CLIENT_CONNECTIONS,
    backendMaxConnections: o.backendMaxConnections ?? DEFAULT_BACKEND_MAX_CONNECTIONS,
    failover: resolveFailover(c, o.failover),
  };
}

function resolveHostgroups(c: Checker, given: ProxySqlHostgroups | undefined): Required<ProxySqlHostgroups> {
  const hg = withDefaults(DEFAULT_HOSTGROUPS, given);
  const ids = Object.values(hg);
  c.check(new Set(ids).size === ids.length, `${c.f('hostgroups')} must be four distinct ids (ProxySQL's hostgroup tables require it), `
    + `got ${Object.entries(hg).map(([k, id]) => `${k}=${id}`).join(', ')}`);
  return hg;
}

/** The monitor and timeout settings, and the rules between them (skipped when one of them was refused: its default would stand in). */
function resolveFailover(c: Checker, given: ProxySqlFailoverSettings | undefined): Required<ProxySqlFailoverSettings> {
  const f = withDefaults(DEFAULT_FAILOVER, given);
  if (c.isInvalid('failover')) return f;
  const field = (k: string) => c.f(`failover.${k}`);
  c.check(f.healthcheckTimeoutMs < f.healthcheckIntervalMs,
    `${field('healthcheckTimeoutMs')} must be less than ${field('healthcheckIntervalMs')} (${f.healthcheckIntervalMs}), `
      + `got ${f.healthcheckTimeoutMs}: checks would overlap`);
  c.check(f.pingTimeoutMs < f.pingIntervalMs,
    `${field('pingTimeoutMs')} must be less than ${field('pingIntervalMs')} (${f.pingIntervalMs}), got ${f.pingTimeoutMs}: `
      + `pings would overlap`);
  const e = estimateFailover(f);
  c.check(e.pingShunEarliestMs > e.worstMs,
    `${field('pingIntervalMs')} x (${field('pingMaxFailures')} - 1) must exceed the Galera check's worst detection time of ${e.worstMs} ms `
    + `(healthcheckMaxTimeoutCount x healthcheckIntervalMs + connect or check timeout), got ${f.pingIntervalMs} x ${f.pingMaxFailures - 1} `
      + `= ${e.pingShunEarliestMs} ms: `
    + 'a node the ping monitor shuns first is no longer Galera-checked, so a dead writer could stay the writer (sysown/proxysql#4544)');
  c.check(f.connectTimeoutServerMaxMs >= f.connectTimeoutServerMs,
    `${field('connectTimeoutServerMaxMs')} must be at least ${field('connectTimeoutServerMs')} (${f.connectTimeoutServerMs}), `
      + `got ${f.connectTimeoutServerMaxMs}`);
  c.check(f.connectTimeoutServerMaxMs > e.worstMs,
    `${field('connectTimeoutServerMaxMs')} must exceed the worst detection time of ${e.worstMs} ms, got ${f.connectTimeoutServerMaxMs}: `
    + 'clients would get errors during a failover instead of waiting for the new writer');
  return f;
}

/** Checks what comes from the Galera cluster (the construct validated it, but the template must never break). */
function assertRenderable(r: ProxySqlConfigInput): void {
  const problems: string[] = [];
  if (r.servers.length === 0) problems.push('no servers');
  for (const s of r.servers) if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(s)) problems.push(
    `server ${JSON.stringify(s)} is not a DNS name`,
  );
  for (const [field, v] of [
    ['appUser', r.appUser], ['appDatabase', r.appDatabase], ['clusterName', r.clusterName], ['serverVersion', r.serverVersion],
    ...(r.declaredUsers ?? []).flatMap((u) => [['declaredUsers.name', u.name], ['declaredUsers.defaultSchema', u.defaultSchema ?? '']]),
  ]) {
    if (!safeText(v)) problems.push(`${field} ${JSON.stringify(v)} contains a quote, backslash, control character or @@`);
  }
  if (problems.length) throw new Error(`proxysql.cnf cannot be rendered: ${problems.join('; ')}`);
}

// ---------------------------------------------------------------------------------------------
// The configuration as data

/** A libconfig value: int, bool, string, group or list of groups. @internal */
export type CnfValue = number | boolean | string | CnfGroup | CnfGroup[];
/** @internal */
export interface CnfGroup { readonly [name: string]: CnfValue }

/** The proxysql.cnf template as a libconfig document (placeholders where passwords go). @internal */
export function proxySqlConfigDocument(r: ProxySqlConfigInput): CnfGroup {
  assertRenderable(r);
  const hg = r.hostgroups;
  const f = r.failover;
  const hostgroupOf = (to: QueryRule['to']) => (to === 'writer' ? hg.writer : hg.reader);
  return {
    datadir: PROXYSQL_PATHS.data,
    admin_variables: {
      // The admin interface listens on loopback only: the Service never exposes it, and
      // `kubectl port-forward` (which connects from inside the pod) still reaches it.
      admin_credentials: `admin:${placeholder('ADMIN_PASSWORD')}`,
      // Not the well-known stats:stats; same secret as admin, fewer rights.
      stats_credentials: `stats:${placeholder('ADMIN_PASSWORD')}`,
      mysql_ifaces: `127.0.0.1:${PROXYSQL_PORTS.admin}`,
      // The REST API serves /metrics (Prometheus) when monitoring is on; it has no other route
      // (restapi_routes is empty), and the NetworkPolicy lets only the scrapers reach it.
      restapi_enabled: r.metrics === true,
      ...(r.metrics ? { restapi_port: PROXYSQL_METRICS_PORT, prometheus_memory_metrics_interval: 30 } : {}),
      web_enabled: false,
    },
    mysql_variables: {
      threads: 4,
      // TLS to clients: the certificate files the render script copies into the datadir.
      have_ssl: r.tls.enabled,
      max_connections: r.maxClientConnections,
      interfaces: `0.0.0.0:${PROXYSQL_PORTS.mysql}`,
      server_version: r.serverVersion,
      // The Galera servers run utf8mb4_general_ci; ProxySQL's built-in default is utf8 (3 bytes).
      default_charset: 'utf8mb4',
      default_collation_connection: 'utf8mb4_general_ci',
      monitor_enabled: true,
      monitor_username: 'monitor',
      monitor_password: placeholder('MONITOR_PASSWORD'),
      ...r.routing.healthRule({
        intervalMs: f.healthcheckIntervalMs, timeoutMs: f.healthcheckTimeoutMs, maxTimeoutCount: f.healthcheckMaxTimeoutCount,
      }),
      monitor_ping_interval: f.pingIntervalMs,
      monitor_ping_timeout: f.pingTimeoutMs,
      monitor_ping_max_failures: f.pingMaxFailures,
      monitor_connect_interval: 60000,
      monitor_connect_timeout: f.monitorConnectTimeoutMs,
      monitor_local_dns_cache_ttl: f.dnsCacheTtlMs,
      monitor_local_dns_cache_refresh_interval: f.dnsCacheRefreshIntervalMs,
      // Causal reads: every backend connection ProxySQL opens runs the topology's causal wait
      // first. ProxySQL 2.7 reads no per-hostgroup init_connect (mysql_hostgroup_attributes) from
      // its file, so the writer's connections carry it too. Clients set no variable: ProxySQL
      // tracks wsrep_sync_wait only once a client SETs it, so it neither resets it nor pins.
      ...(r.causalReads && r.routing.causalReadStatement ? { init_connect: r.routing.causalReadStatement } : {}),
      connect_timeout_server: f.connectTimeoutServerMs,
      connect_timeout_server_max: f.connectTimeoutServerMaxMs,
      // Retrying a connect is harmless: nothing was sent yet.
      connect_retries_on_failure: 10,
      // Re-sending a statement whose backend died is not: the dying node (or, on Galera, the
      // cluster it had replicated to) may have committed it, and `n = n + 1` would run twice.
      // No statement class is provably side-effect free (a SELECT can call a stored function
      // that writes), so no statement is re-sent; the client gets the error and decides.
      query_retries_on_failure: 0,
      // A client that disconnects mid-statement leaves the statement to finish on its backend
      // connection. ProxySQL's default KILLs that connection, and MariaDB 10.11 answers a KILL
      // of a commit waiting for a semi-sync acknowledgement (it leads its binlog group commit)
      // with OK to every other commit of the group: acknowledged without a replica, and lost in
      // the next failover (found by the primary/replica list-append fault test).
      kill_backend_connection_when_disconnect: false,
    },
    // Every node starts in the writer hostgroup; the first check of the writer rule moves it
    // (writer, backup writer, reader, offline). The startup probe waits for that.
    mysql_servers: r.servers.map((address, ordinal) => ({
      address,
      port: r.serverPort,
      hostgroup: hg.writer,
      weight: serverWeight(ordinal),
      max_connections: r.backendMaxConnections,
      // TLS to the servers, for client traffic and the monitor alike (MySQL_Monitor.cpp)
      use_ssl: r.tls.enabled ? 1 : 0,
      comment: ordinal === 0 ? `${podOf(address)} preferred writer` : podOf(address),
    })),
    ...r.routing.writerRule({ hostgroups: hg, writerIsAlsoReader: r.writerIsAlsoReader, clusterName: r.clusterName }),
    mysql_users: [{
      username: r.appUser,
      password: placeholder('APP_PASSWORD'),
      default_hostgroup: hg.writer,
      default_schema: r.appDatabase,
      active: 1,
      // A transaction stays on the hostgroup it started on (BEGIN goes to the writer).
      transaction_persistent: 1,
      // requireSecureTransport: ProxySQL refuses the application account over plain text
      use_ssl: r.tls.requireSecureTransport ? 1 : 0,
      fast_forward: 0,
      max_connections: r.maxClientConnections,
      comment: 'application account',
    }, ...(r.declaredUsers ?? []).map((u) => ({
      username: u.name,
      password: placeholder(u.placeholder),
      default_hostgroup: hg.writer,
      ...(u.defaultSchema ? { default_schema: u.defaultSchema } : {}),
      active: 1,
      transaction_persistent: 1,
      use_ssl: r.tls.requireSecureTransport ? 1 : 0,
      fast_forward: 0,
      max_connections: r.maxClientConnections,
      comment: 'declared user',
    }))],
    mysql_query_rules: (r.readWriteSplit ? READ_WRITE_SPLIT_RULES : []).map((rule) => ({
      rule_id: rule.ruleId,
      active: 1,
      match_digest: rule.matchDigest,
      re_modifiers: 'CASELESS',
      destination_hostgroup: hostgroupOf(rule.to),
      apply: 1,
      comment: rule.comment,
    })),
  };
}

function podOf(address: string): string {
  return address.split('.')[0];
}

// ---------------------------------------------------------------------------------------------
// libconfig text

/** A libconfig string literal: backslash and double quote escaped; control characters refused. @internal */
export function libconfigString(value: string): string {
  if (/[\x00-\x1f\x7f]/.test(value)) throw new Error(
    `libconfig strings here must not contain control characters: ${JSON.stringify(value)}`,
  );
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

function scalar(name: string, v: number | boolean | string): string {
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number') {
    // ProxySQL reads every number with lookupValue(int&): it must be a 32-bit integer.
    if (!Number.isInteger(v) || v < -2147483648 || v > 2147483647) throw new Error(`${name} must be a 32-bit integer, got ${v}`);
    return String(v);
  }
  return libconfigString(v);
}

function settingName(name: string): string {
  if (!/^[A-Za-z][-A-Za-z0-9_]*$/.test(name)) throw new Error(`not a libconfig setting name: ${name}`);
  return name;
}

function inlineGroup(g: CnfGroup): string {
  return `{ ${Object.entries(g).map(([k, v]) => {
    if (typeof v === 'object') throw new Error(`nested value ${k} in a list element`);
    return `${settingName(k)}=${scalar(k, v)}`;
  }).join(', ')} }`;
}

/** Serializes a document: top-level scalars, groups of scalars, and lists of flat groups (as ProxySQL's sample file). @internal */
export function renderLibconfig(doc: CnfGroup, header: string[] = []): string {
  const out: string[] = header.map((l) => `# ${l}`.trimEnd());
  if (out.length) out.push('');
  for (const [name, value] of Object.entries(doc)) {
    if (Array.isArray(value)) {
      out.push(`${settingName(name)}=`, '(');
      out.push(value.map((g) => `\t${inlineGroup(g)}`).join(',\n'));
      out.push(')', '');
    } else if (typeof value === 'object') {
      out.push(`${settingName(name)}=`, '{');
      for (const [k, v] of Object.entries(value)) {
        if (typeof v === 'object') throw new Error(`nested value ${name}.${k}`);
        out.push(`\t${settingName(k)}=${scalar(k, v)}`);
      }
      out.push('}', '');
    } else {
      out.push(`${settingName(name)}=${scalar(name, value)}`, '');
    }
  }
  return out.join('\n');
}

/** The template text stored in the ConfigMap. @internal */
export function renderProxySqlCnfTemplate(input: ProxySqlConfigInput): string {
  return renderLibconfig(proxySqlConfigDocument(input), [
    'proxysql.cnf TEMPLATE, rendered by the ProxySql construct (src/proxysql/proxysql-config.ts).',
    'proxysql-render.sh replaces the password placeholders with the values of the Secret and',
    `writes ${PROXYSQL_PATHS.rendered}/${RENDERED_FILE} (mode 0600); ProxySQL starts with --initial, so`,
    'this file, not a proxysql.db left on the emptyDir, is the configuration after every restart.',
  ]);
}
