import { execFile } from 'child_process';
import { promisify } from 'util';
import { NODE_PATHS } from '../core/node-env';
import { PROXYSQL_PATHS } from '../proxysql/proxysql-config';

/** A pod as the status command needs it (from `kubectl get pods -o json`). */
export interface StatusPod {
  /** Pod name. */
  readonly name: string;
  /** `app.kubernetes.io/component`: 'database' (Galera) or 'proxy' (ProxySQL). */
  readonly component: string;
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

/** What the status command found: every database pod and every ProxySQL pod. */
export interface ClusterStatus {
  readonly nodes: NodeStatus[];
  readonly proxies: ProxyStatus[];
}

const PART_OF = 'app.kubernetes.io/part-of=galera-proxysql';

/** The user's own kubectl, in one namespace (and context, when given). */
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

/** Reads every Galera node and every ProxySQL pod; one unreachable pod does not stop the others. */
export async function collectStatus(client: StatusClient): Promise<ClusterStatus> {
  const pods = (await client.pods()).sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
  const nodes = await Promise.all(pods.filter((p) => p.component === 'database').map((p) => nodeStatus(client, p)));
  const proxies = await Promise.all(pods.filter((p) => p.component === 'proxy').map((p) => proxyStatus(client, p)));
  return { nodes, proxies };
}

async function nodeStatus(client: StatusClient, pod: StatusPod): Promise<NodeStatus> {
  const [out, log] = await Promise.all([
    client.exec(pod.name, 'mariadb', ['bash', `${NODE_PATHS.config}/galera-state.sh`, '--status']).catch(() => ''),
    client.logs(pod.name, 'mariadb').catch(() => ''),
  ]);
  const [line = '', ...rest] = out.split('\n');
  const field = (key: string) => line.split(' ').find((kv) => kv.startsWith(`${key}=`))?.slice(key.length + 1) ?? '';
  const wsrep = new Map(rest.map((l) => l.split(/\s+/)).filter((kv) => kv.length >= 2).map(([k, v]) => [k, v]));
  const decision = log.split('\n').filter((l) => l.includes(' decision: ')).pop() ?? '';
  const uuid = field('uuid');
  return {
    pod: pod.name,
    ready: pod.ready,
    restarts: pod.restarts,
    state: wsrep.get('wsrep_local_state_comment') ?? (field('phase') || pod.phase),
    component: wsrep.get('wsrep_cluster_status') ?? '-',
    clusterSize: wsrep.get('wsrep_cluster_size') ?? '-',
    position: uuid ? `${uuid}:${field('seqno')}` : '-',
    lastDecision: decision ? decision.slice(decision.indexOf(' decision: ') + ' decision: '.length) : '-',
  };
}

async function proxyStatus(client: StatusClient, pod: StatusPod): Promise<ProxyStatus> {
  const admin = (sql: string) => client.exec(pod.name, 'agent', ['bash', `${PROXYSQL_PATHS.scripts}/proxysql-agent.sh`, 'admin', sql]);
  const base = { pod: pod.name, ready: pod.ready, restarts: pod.restarts, writers: [], readers: [], offline: [] };
  try {
    const [groups] = rows(await admin(
      'SELECT writer_hostgroup, backup_writer_hostgroup, reader_hostgroup, offline_hostgroup FROM runtime_mysql_galera_hostgroups',
    ));
    if (!groups) return { ...base, error: 'no mysql_galera_hostgroups row' };
    const [writer, backupWriter, reader] = groups;
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

function rows(out: string): string[][] {
  return out.split('\n').filter((l) => l.trim() !== '').map((l) => l.split('\t'));
}

/** galera-0.galera-headless.galera.svc.cluster.local -> galera-0 */
function shortHost(host: string): string {
  return host.split('.')[0];
}

/** The report, as the status command prints it. */
export function formatStatus(status: ClusterStatus, namespace: string): string {
  const out: string[] = [];
  out.push(`Galera nodes in namespace ${namespace}`);
  if (status.nodes.length === 0) out.push('  (none found)');
  else {
    out.push(...table(['POD', 'READY', 'RESTARTS', 'STATE', 'COMPONENT', 'SIZE', 'POSITION', 'LAST DECISION'],
      status.nodes.map((n) => [
        n.pod, String(n.ready), String(n.restarts), n.state, n.component, n.clusterSize, n.position, n.lastDecision,
      ])));
  }
  out.push('', 'ProxySQL pods: their view of the backends');
  if (status.proxies.length === 0) out.push('  (none found)');
  else {
    const list = (xs: string[]) => (xs.length ? xs.join(',') : '-');
    out.push(...table(['POD', 'READY', 'RESTARTS', 'WRITER', 'READERS', 'OFFLINE'],
      status.proxies.map((p) => [p.pod, String(p.ready), String(p.restarts), ...(p.error ? [`? (${p.error})`, '', ''] : [
        list(p.writers), list(p.readers), list(p.offline),
      ])])));
  }
  return `${out.join('\n')}\n`;
}

function table(header: string[], body: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  // the last column is left unpadded: a long decision line must not push trailing spaces
  const line = (r: string[]) => `  ${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ')}`;
  return [line(header), ...body.map(line)];
}
