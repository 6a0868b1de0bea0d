import { execFile } from 'child_process';
import { promisify } from 'util';
import { NODE_PATHS } from '../core/node-env';
import { PROXYSQL_PATHS } from '../proxysql/proxysql-config';
import { ARCHIVER_METRICS_PORT } from '../backup/binlog-archiver';

/** A pod as the status command needs it (from `kubectl get pods -o json`). */
export interface StatusPod {
  /** Pod name. */
  readonly name: string;
  /** `app.kubernetes.io/component`: 'database' (either topology) or 'proxy' (ProxySQL). */
  readonly component: string;
  /**
   * `app.kubernetes.io/name`: 'mariadb-replication' for a primary/replica pod; any other value
   * (or none) is read as a Galera pod. @default - a Galera pod
   */
  readonly app?: string;
  /** All containers ready. */
  readonly ready: boolean;
  /** Restarts summed over the containers. */
  readonly restarts: number;
  /** Pod phase (Running, Pending…). */
  readonly phase: string;
}

/**
 * What the status command asks of Kubernetes. `kubectlClient` runs the user's own kubectl;
 * the tests pass a stand-in that executes in the pod harness's namespaces.
 */
export interface StatusClient {
  /** Every pod of the project in the namespace. */
  pods(): Promise<StatusPod[]>;
  /** Runs a command in a container of a pod; its standard output. */
  exec(pod: string, container: string, command: readonly string[]): Promise<string>;
  /** The current log of a container. */
  logs(pod: string, container: string): Promise<string>;
}

/** One Galera node as the status command reports it. */
export interface NodeStatus {
  readonly pod: string;
  readonly ready: boolean;
  readonly restarts: number;
  /** wsrep_local_state_comment (Synced, Donor/Desynced…), or the start script's phase while mariadbd does not answer. */
  readonly state: string;
  /** wsrep_cluster_status (Primary, non-Primary, Disconnected), or '-'. */
  readonly component: string;
  readonly clusterSize: string;
  /** uuid:seqno. */
  readonly position: string;
  /** The last "decision:" line of the start script, without its prefix. */
  readonly lastDecision: string;
  /** On the node of a cluster that replicates from its external source: its connection to the source. */
  readonly following?: SourceFollowStatus;
  /** On a cluster created from an external source and cut over (or promoted) since: the source it left, and when. */
  readonly promotedFrom?: { readonly host: string; readonly at: string };
}

/** One ProxySQL pod's view of its backends. */
export interface ProxyStatus {
  readonly pod: string;
  readonly ready: boolean;
  readonly restarts: number;
  readonly writers: string[];
  readonly readers: string[];
  readonly offline: string[];
  /** Set when the admin interface could not be read. */
  readonly error?: string;
}

/** One primary/replica node as the status command reports it (from repl-state.sh --status). */
export interface ReplicationNodeStatus {
  readonly pod: string;
  readonly ready: boolean;
  readonly restarts: number;
  /** primary, replica, fenced, handover; or the start script's phase (waiting, cloning, refused) while it has none. */
  readonly role: string;
  /** The pod a replica follows (a primary handing over: the pod it hands to), or '-'. */
  readonly source: string;
  /** Slave_IO_Running and Slave_SQL_Running (Yes, No, Connecting), '-' on a node that replicates from nobody. */
  readonly io: string;
  readonly sql: string;
  /** Seconds_Behind_Master: seconds, 'NULL' while the SQL thread is stopped, '-' on a node that replicates from nobody. */
  readonly lag: string;
  /** @@gtid_current_pos: the last GTID this node applied or wrote, per domain; '-' when mariadbd does not answer. */
  readonly gtidCurrentPos: string;
  /** @@gtid_slave_pos: the last GTID applied by replication, per domain; '-' when empty or unknown. */
  readonly gtidSlavePos: string;
  /** The semi-sync side of the node: on a primary its status and acknowledging replicas, on a replica its own status. */
  readonly semiSync: string;
  /** The last IO or SQL thread error ('IO 1236: ...'), when there is one. */
  readonly error?: string;
  /** The last "decision:" line of the start script, without its prefix. */
  readonly lastDecision: string;
  /** On the primary of a cluster that follows an external source: its connection to the source. */
  readonly following?: SourceFollowStatus;
  /** On a cluster created from an external source and cut over (or promoted) since: the source it left, and when. */
  readonly promotedFrom?: { readonly host: string; readonly at: string };
}

/** The primary's connection to the external source it follows until the cutover (SHOW SLAVE 'source' STATUS). */
export interface SourceFollowStatus {
  /** The source's host. */
  readonly host: string;
  /** Slave_IO_Running and Slave_SQL_Running of the connection; '-' before it started. */
  readonly io: string;
  readonly sql: string;
  /** Seconds_Behind_Master: seconds, 'NULL' while a thread is stopped, '-' before it started. */
  readonly lag: string;
  /** The source's last GTID received (Gtid_IO_Pos). */
  readonly received: string;
  /** The last IO or SQL error, when there is one. */
  readonly error?: string;
}

/** The binlog archiver (point-in-time recovery), from its metrics. */
export interface ArchiverStatus {
  readonly pod: string;
  readonly ready: boolean;
  readonly restarts: number;
  /** The last archived GTID ('-' before the first). */
  readonly lastGtid: string;
  /** Seconds since the moment up to which every committed transaction is archived. */
  readonly lagSeconds: string;
  /** Transactions the source node had committed that the archive lacks. */
  readonly lagTransactions: string;
  /** Gaps found in the chain, and rounds with no node to archive from, since the archiver started. */
  readonly gaps: string;
  readonly errors: string;
  /** Why the metrics could not be read, when they could not. */
  readonly error?: string;
}

/** What the status command found: every database pod (each topology's), every ProxySQL pod, the binlog archiver. */
export interface ClusterStatus {
  /** The Galera nodes. */
  readonly nodes: NodeStatus[];
  /** The primary/replica nodes. @default - none */
  readonly replication?: ReplicationNodeStatus[];
  readonly proxies: ProxyStatus[];
  /** The binlog archiver's pods (backup.pointInTime). @default - none */
  readonly archivers?: ArchiverStatus[];
}

/** The label value of a primary/replica pod's `app.kubernetes.io/name`. */
const REPLICATION_APP = 'mariadb-replication';

const PART_OF = 'app.kubernetes.io/part-of=galera-proxysql';

/** The fields of `kubectl get pods -o json` the status command reads. */
interface PodListJson {
  readonly items?: readonly {
    readonly metadata: { readonly name: string; readonly labels?: Record<string, string> };
    readonly status?: {
      readonly phase?: string;
      readonly containerStatuses?: readonly { readonly ready: boolean; readonly restartCount?: number }[];
    };
  }[];
}

/** The user's own kubectl, in one namespace (and context, when given). */
export function kubectlClient(namespace: string, opts: { kubectl?: string; context?: string } = {}): StatusClient {
  const run = promisify(execFile);
  const base = [...(opts.context ? ['--context', opts.context] : []), '-n', namespace];
  const kubectl = async (args: string[]) => (await run(opts.kubectl ?? 'kubectl', [...base, ...args], {
    maxBuffer: 64 * 2 ** 20, timeout: 30_000,
  })).stdout;
  return {
    async pods() {
      const list = JSON.parse(await kubectl(['get', 'pods', '-l', PART_OF, '-o', 'json'])) as PodListJson;
      return (list.items ?? []).map((p) => {
        const statuses = p.status?.containerStatuses ?? [];
        return {
          name: p.metadata.name,
          component: p.metadata.labels?.['app.kubernetes.io/component'] ?? '',
          app: p.metadata.labels?.['app.kubernetes.io/name'] ?? '',
          ready: statuses.length > 0 && statuses.every((c) => c.ready),
          restarts: statuses.reduce((n, c) => n + (c.restartCount ?? 0), 0),
          phase: p.status?.phase ?? 'Unknown',
        };
      });
    },
    exec: (pod, container, command) => kubectl(['exec', pod, '-c', container, '--', ...command]),
    logs: (pod, container) => kubectl(['logs', pod, '-c', container]),
  };
}

/** Reads every database node and every ProxySQL pod; one unreachable pod does not stop the others. */
export async function collectStatus(client: StatusClient): Promise<ClusterStatus> {
  const pods = (await client.pods()).sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
  const databases = pods.filter((p) => p.component === 'database');
  const nodes = await Promise.all(databases.filter((p) => p.app !== REPLICATION_APP).map((p) => nodeStatus(client, p)));
  const replication = await Promise.all(databases.filter((p) => p.app === REPLICATION_APP).map((p) => replicationNodeStatus(client, p)));
  const proxies = await Promise.all(pods.filter((p) => p.component === 'proxy').map((p) => proxyStatus(client, p)));
  const archivers = await Promise.all(pods.filter((p) => p.component === 'binlog-archiver').map((p) => archiverStatus(client, p)));
  return { nodes, ...(replication.length > 0 ? { replication } : {}), proxies, ...(archivers.length > 0 ? { archivers } : {}) };
}

/** A node's state script's --status output (its state line, then its status lines) and the last decision of its log. */
async function readNode(client: StatusClient, pod: StatusPod, script: string):
  Promise<{ field: (key: string) => string; rest: string[]; decision: string }> {
  const [out, log] = await Promise.all([
    client.exec(pod.name, 'mariadb', ['bash', `${NODE_PATHS.config}/${script}`, '--status']).catch(() => ''),
    client.logs(pod.name, 'mariadb').catch(() => ''),
  ]);
  const [line = '', ...rest] = out.split('\n');
  const field = (key: string) => line.split(' ').find((kv) => kv.startsWith(`${key}=`))?.slice(key.length + 1) ?? '';
  const last = log.split('\n').filter((l) => l.includes(' decision: ')).pop() ?? '';
  return { field, rest, decision: last ? last.slice(last.indexOf(' decision: ') + ' decision: '.length) : '-' };
}

async function nodeStatus(client: StatusClient, pod: StatusPod): Promise<NodeStatus> {
  const { field, rest, decision } = await readNode(client, pod, 'galera-state.sh');
  const wsrep = new Map(rest.map((l) => l.split(/\s+/)).filter((kv) => kv.length >= 2).map(([k, v]) => [k, v]));
  const uuid = field('uuid');
  return {
    pod: pod.name,
    ready: pod.ready,
    restarts: pod.restarts,
    state: wsrep.get('wsrep_local_state_comment') ?? (field('phase') || pod.phase),
    component: wsrep.get('wsrep_cluster_status') ?? '-',
    clusterSize: wsrep.get('wsrep_cluster_size') ?? '-',
    position: uuid ? `${uuid}:${field('seqno')}` : '-',
    lastDecision: decision,
    ...sourceFields(tabLines(rest)),
  };
}

/** "name<TAB>value" lines of a --status output; a value may hold spaces (an error message). */
function tabLines(rest: string[]): Map<string, string> {
  return new Map(rest.filter((l) => l.includes('\t')).map((l) => [l.slice(0, l.indexOf('\t')), l.slice(l.indexOf('\t') + 1)]));
}

const or = (x: string | undefined) => (x === undefined || x === '' ? '-' : x);

/** The errors of a SHOW SLAVE STATUS's fields (PREFIX: '' or 'source_'), as 'IO 1236: ...'. */
function threadErrors(v: Map<string, string>, prefix: string): string[] {
  return [['IO', 'Last_IO_Errno', 'Last_IO_Error'], ['SQL', 'Last_SQL_Errno', 'Last_SQL_Error']]
    .map(([thread, errno, text]) => [thread, `${prefix}${errno}`, `${prefix}${text}`])
    .filter(([, errno]) => (v.get(errno) ?? '0') !== '0').map(([thread, errno, text]) => `${thread} ${v.get(errno)}: ${v.get(text) ?? ''}`);
}

/** The external source's lines of a node's --status (source_status_lines in scripts/common/source.sh), either topology. */
function sourceFields(v: Map<string, string>): Pick<NodeStatus, 'following' | 'promotedFrom'> {
  const [followState, followHost, followSince] = (v.get('follow_record') ?? '').split(' ');
  const sourceErrors = threadErrors(v, 'source_');
  return {
    ...(v.get('following') === '1' ? {
      following: {
        host: or(v.get('source_Master_Host')), io: or(v.get('source_Slave_IO_Running')), sql: or(v.get('source_Slave_SQL_Running')),
        lag: or(v.get('source_Seconds_Behind_Master')), received: or(v.get('source_Gtid_IO_Pos')),
        ...(sourceErrors.length > 0 ? { error: sourceErrors.join('; ') } : {}),
      },
    } : {}),
    ...(followState === 'promoted' ? { promotedFrom: { host: or(followHost), at: or(followSince) } } : {}),
  };
}

async function replicationNodeStatus(client: StatusClient, pod: StatusPod): Promise<ReplicationNodeStatus> {
  const { field, rest, decision } = await readNode(client, pod, 'repl-state.sh');
  const v = tabLines(rest);
  const role = field('role') || field('phase') || pod.phase;
  const replicating = v.has('Slave_IO_Running');
  const errors = threadErrors(v, '');
  const master = v.get('rpl_semi_sync_master_status');
  const semiSync = !v.has('read_only') ? '-' : role === 'primary' || role === 'handover'
    ? `${or(master)} (${or(v.get('rpl_semi_sync_master_clients'))} acknowledging)` : or(v.get('rpl_semi_sync_slave_status'));
  return {
    pod: pod.name,
    ready: pod.ready,
    restarts: pod.restarts,
    role,
    source: or(field('source')),
    io: replicating ? or(v.get('Slave_IO_Running')) : '-',
    sql: replicating ? or(v.get('Slave_SQL_Running')) : '-',
    lag: replicating ? or(v.get('Seconds_Behind_Master')) : '-',
    gtidCurrentPos: or(v.get('gtid_current_pos') ?? field('gtid')),
    gtidSlavePos: or(v.get('gtid_slave_pos')),
    semiSync,
    ...(errors.length > 0 ? { error: errors.join('; ') } : {}),
    lastDecision: decision,
    ...sourceFields(v),
  };
}

async function proxyStatus(client: StatusClient, pod: StatusPod): Promise<ProxyStatus> {
  const admin = (sql: string) => client.exec(pod.name, 'agent', ['bash', `${PROXYSQL_PATHS.scripts}/proxysql-agent.sh`, 'admin', sql]);
  const base = { pod: pod.name, ready: pod.ready, restarts: pod.restarts, writers: [], readers: [], offline: [] };
  try {
    // Galera: writer, backup writer, reader; primary/replica (routing by read_only): writer, reader
    const [galera] = rows(await admin(
      'SELECT writer_hostgroup, backup_writer_hostgroup, reader_hostgroup, offline_hostgroup FROM runtime_mysql_galera_hostgroups'));
    const [replication] = galera ? [] : rows(await admin(
      'SELECT writer_hostgroup, reader_hostgroup FROM runtime_mysql_replication_hostgroups'));
    if (!galera && !replication) return { ...base, error: 'no mysql_galera_hostgroups or mysql_replication_hostgroups row' };
    const [writer, backupWriter, reader] = galera ?? [replication[0], replication[0], replication[1]];
    const servers = rows(await admin('SELECT hostgroup_id, hostname, status FROM runtime_mysql_servers ORDER BY hostname'));
    const onlineIn = (hgs: string[]) => [
      ...new Set(servers.filter(([g, , st]) => hgs.includes(g) && st === 'ONLINE').map(([, h]) => shortHost(h))),
    ];
    // ProxySQL keeps the nodes that are not the writer in the writer hostgroup as SHUNNED: a node
    // is offline when it is ONLINE in none of the serving hostgroups (it sits in the offline one)
    const serving = onlineIn([writer, backupWriter, reader]);
    return {
      ...base,
      writers: onlineIn([writer]),
      readers: onlineIn([reader]),
      offline: [...new Set(servers.map(([, h]) => shortHost(h)))].filter((h) => !serving.includes(h)),
    };
  } catch (e) {
    return { ...base, error: `admin interface: ${(e as Error).message.split('\n')[0]}` };
  }
}

/** The archiver's own metrics (binlog-archive.sh serves them on ARCHIVER_METRICS_PORT, read from inside its container). */
async function archiverStatus(client: StatusClient, pod: StatusPod): Promise<ArchiverStatus> {
  const base = { pod: pod.name, ready: pod.ready, restarts: pod.restarts, lastGtid: '-', lagSeconds: '-', lagTransactions: '-', gaps: '-',
    errors: '-' };
  try {
    const text = await client.exec(pod.name, 'archiver', ['bash', '-c', `exec 3<>/dev/tcp/127.0.0.1/${ARCHIVER_METRICS_PORT}; cat <&3`]);
    const value = (name: string) => new RegExp(`^${name}(\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[2];
    const lagSeconds = value('mariadb_binlog_archive_lag_seconds');
    if (lagSeconds === undefined) return { ...base, error: 'no metrics' };
    return {
      ...base, lagSeconds,
      lastGtid: /^mariadb_binlog_archive_last_seq\{[^}]*gtid="([^"]+)"/m.exec(text)?.[1] ?? '-',
      lagTransactions: value('mariadb_binlog_archive_lag_transactions') ?? '-',
      gaps: value('mariadb_binlog_archive_gaps_total') ?? '-',
      errors: value('mariadb_binlog_archive_errors_total') ?? '-',
    };
  } catch (e) {
    return { ...base, error: `metrics: ${(e as Error).message.split('\n')[0]}` };
  }
}

function rows(out: string): string[][] {
  return out.split('\n').filter((l) => l.trim() !== '').map((l) => l.split('\t'));
}

/** galera-0.galera-headless.galera.svc.cluster.local -> galera-0 */
function shortHost(host: string): string {
  return host.split('.')[0];
}

/**
 * Why the cluster is not healthy, one line each; none when it is: every database and ProxySQL pod
 * ready, every ProxySQL pod seeing a writer, exactly one primary among the primary/replica nodes,
 * and, with point-in-time recovery, a ready binlog archiver whose metrics answer (an old pod of a
 * rollout may be unready meanwhile). The status command exits 1 when there is one.
 */
export function statusProblems(status: ClusterStatus): string[] {
  const problems: string[] = [];
  const replication = status.replication ?? [];
  if (status.nodes.length + replication.length === 0) problems.push('no database pod found');
  for (const n of [...status.nodes, ...replication]) if (!n.ready) problems.push(`${n.pod} is not ready`);
  for (const p of status.proxies) {
    if (!p.ready) problems.push(`${p.pod} is not ready`);
    if (p.writers.length === 0) problems.push(`${p.pod} sees no writer`);
  }
  const primaries = replication.filter((n) => n.role === 'primary').map((n) => n.pod);
  if (replication.length > 0 && primaries.length !== 1) {
    problems.push(`${primaries.length} primaries among the primary/replica nodes (${primaries.join(', ') || 'none'}), expected 1`);
  }
  for (const n of [...status.nodes, ...replication].filter((r) => r.following)) {
    const f = n.following!;
    const why = f.error ? ` (${f.error})` : '';
    if (f.sql !== 'Yes' && f.sql !== '-') problems.push(`${n.pod}: following the source ${f.host} stopped${why}`);
    else if (f.io !== 'Yes' && f.io !== '-') problems.push(`${n.pod}: the source ${f.host} cannot be read${why}`);
  }
  const archivers = status.archivers ?? [];
  if (archivers.length > 0 && !archivers.some((a) => a.ready)) {
    problems.push('no binlog archiver pod is ready: nothing is archived for point-in-time recovery');
  }
  for (const a of archivers) if (a.ready && a.error) problems.push(`${a.pod} (binlog archiver): ${a.error}`);
  return problems;
}

/** The report, as the status command prints it. */
export function formatStatus(status: ClusterStatus, namespace: string): string {
  const out: string[] = [];
  const replication = status.replication ?? [];
  // the Galera section is left out only when the namespace holds primary/replica nodes and no Galera node
  if (status.nodes.length > 0 || replication.length === 0) {
    out.push(`Galera nodes in namespace ${namespace}`);
    if (status.nodes.length === 0) out.push('  (none found)');
    else {
      out.push(...table(['POD', 'READY', 'RESTARTS', 'STATE', 'COMPONENT', 'SIZE', 'POSITION', 'LAST DECISION'],
        status.nodes.map((n) => [n.pod, String(n.ready), String(n.restarts), n.state, n.component, n.clusterSize, n.position,
          n.lastDecision])));
      out.push(...sourceLines(status.nodes));
    }
    if (replication.length > 0) out.push('');
  }
  if (replication.length > 0) out.push(...formatReplication(replication, namespace));
  out.push('', 'ProxySQL pods: their view of the backends');
  if (status.proxies.length === 0) out.push('  (none found)');
  else {
    const list = (xs: string[]) => (xs.length ? xs.join(',') : '-');
    out.push(...table(['POD', 'READY', 'RESTARTS', 'WRITER', 'READERS', 'OFFLINE'],
      status.proxies.map((p) => [p.pod, String(p.ready), String(p.restarts), ...(p.error ? [`? (${p.error})`, '', ''] : [
        list(p.writers), list(p.readers), list(p.offline),
      ])])));
  }
  if (status.archivers) {
    out.push('', 'Binlog archive (point-in-time recovery)');
    out.push(...table(['POD', 'READY', 'RESTARTS', 'LAST GTID', 'LAG', 'LAG TRX', 'GAPS', 'ERRORS'],
      status.archivers.map((a) => [a.pod, String(a.ready), String(a.restarts), ...(a.error ? [`? (${a.error})`, '', '', '', ''] : [
        a.lastGtid, `${a.lagSeconds}s`, a.lagTransactions, a.gaps, a.errors,
      ])])));
  }
  return `${out.join('\n')}\n`;
}

/** The primary/replica section: which pod is the primary, then one line per node and its errors. */
function formatReplication(nodes: ReplicationNodeStatus[], namespace: string): string[] {
  const primaries = nodes.filter((n) => n.role === 'primary').map((n) => n.pod);
  const primary = primaries.length === 1 ? primaries[0] : primaries.length === 0 ? 'none' : `${primaries.join(', ')} (more than one!)`;
  return [
    `Primary/replica nodes in namespace ${namespace}: primary ${primary}`,
    ...table(['POD', 'READY', 'RESTARTS', 'ROLE', 'SOURCE', 'IO', 'SQL', 'LAG', 'GTID_CURRENT_POS', 'GTID_SLAVE_POS', 'SEMI-SYNC',
      'LAST DECISION'],
      nodes.map((n) => [n.pod, String(n.ready), String(n.restarts), n.role, n.source, n.io, n.sql, n.lag, n.gtidCurrentPos, n.gtidSlavePos,
        n.semiSync, n.lastDecision])),
    ...nodes.filter((n) => n.error).map((n) => `  ${n.pod}: ${n.error}`),
    ...sourceLines(nodes),
  ];
}

/** The node that follows the external source, and the cluster's record of a cutover (said once: every node holds it). */
function sourceLines(nodes: ReadonlyArray<Pick<NodeStatus, 'pod' | 'following' | 'promotedFrom'>>): string[] {
  return [
    ...nodes.filter((n) => n.following).map((n) => {
      const f = n.following!;
      return `  ${n.pod} follows the external source ${f.host} (clients may not write until the cutover): IO ${f.io}, SQL ${f.sql}, `
        + `lag ${f.lag === '-' || f.lag === 'NULL' ? f.lag : `${f.lag}s`}, received ${f.received}${f.error ? `; ${f.error}` : ''}`;
    }),
    ...nodes.filter((n) => n.promotedFrom).slice(0, 1).map((n) => `  the cluster left the external source ${n.promotedFrom!.host} `
      + `at ${n.promotedFrom!.at} (a cutover or a forced promotion) and follows it no more`),
  ];
}

function table(header: string[], body: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  // the last column is left unpadded: a long decision line must not push trailing spaces
  const line = (r: string[]) => `  ${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ')}`;
  return [line(header), ...body.map(line)];
}
