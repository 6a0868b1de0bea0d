import { Lazy } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import * as k8s from '../../imports/k8s';
import { PART_OF } from '../core/pod';
import { PROXYSQL_PORTS } from '../proxysql/proxysql-config';
import { Resolved, resolveOrThrow, show, withDefaults } from '../values/validation';
import { checkProps } from '../values/schema';
import type { Cidr, Labels } from '../values/formats';
import { guardUniqueNames } from '../core/unique-names';

/**
 * A NetworkPolicy peer, as Kubernetes writes it: pods by labels, namespaces by labels (both:
 * those pods in those namespaces), or an IP block.
 * @minProperties 1
 */
export interface NetworkPeer {
  /** Pods with these labels (in the policy's namespace unless namespaceSelector is set). @default - none */
  readonly podSelector?: LabelSelector;
  /** Namespaces with these labels; `{}` is every namespace. @default - the policy's namespace */
  readonly namespaceSelector?: LabelSelector;
  /** An address range. @default - none */
  readonly ipBlock?: IpBlock;
}

/** Pods or namespaces by their labels. */
export interface LabelSelector {
  /** The labels; none (`{}`) selects every pod or namespace. @default - none */
  readonly matchLabels?: Labels;
}

/** An address range of a NetworkPolicy peer. */
export interface IpBlock {
  /** The range. */
  readonly cidr: Cidr;
  /** Ranges inside cidr that are not meant. @default - none */
  readonly except?: Cidr[];
}

/** Which NetworkPolicies to emit and who they let in. */
export interface NetworkPolicyProps {
  /**
   * Emit NetworkPolicies that let through only what the cluster needs: the nodes' peer ports
   * between the database pods (Galera: 4567, 4568, 4444, 4569; primary/replica: 3306 for the
   * replication channel, 4444, 4569), 3306 from ProxySQL and this project's jobs, ProxySQL's
   * client port from `clients`, DNS out; admin ports to nobody.
   * @default true
   */
  readonly enabled?: boolean;
  /** Who may connect to ProxySQL's client port. @default - every pod of the namespace */
  readonly clients?: NetworkPeer[];
  /** Who else may connect to the database nodes' 3306 (their client Services, e.g. galera-read, mariadb-read). @default - nobody */
  readonly directClients?: NetworkPeer[];
  /** Where DNS answers (egress on 53 UDP and TCP). @default - the kube-dns pods in kube-system */
  readonly dns?: NetworkPeer[];
}

/** @internal */
export type ResolvedNetworkPolicy = Resolved<NetworkPolicyProps>;

const DEFAULT_DNS: NetworkPeer[] = [{
  namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
  podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
}];

/** NetworkPolicyProps (checked by their schema, see checkProps) with the defaults applied. @internal */
export function resolveNetworkPolicy(p: NetworkPolicyProps): ResolvedNetworkPolicy {
  return withDefaults({ enabled: true, clients: [{ podSelector: {} }], directClients: [], dns: DEFAULT_DNS }, p);
}

/** The pods a workload runs, as the policies select them (a GaleraCluster, a MariaDbReplication or a ProxySql is one). */
export interface PolicyWorkload {
  /** Object name (the policy is named after it). */
  readonly name: string;
  /** Namespace of the workload (and of its policy). */
  readonly namespace: string;
  /** Labels that select the workload's pods. */
  readonly selectorLabels: Record<string, string>;
  /** The port its pods serve Prometheus metrics on, when they do: open to the scrapers. */
  readonly metricsPort?: number;
}

/** The database pods as the policies see them: GaleraCluster and MariaDbReplication are such. */
export interface PolicyDatabase extends PolicyWorkload {
  /** The MySQL port of the pods. @default 3306 */
  readonly port?: number;
  /**
   * The ports only the database pods use between them (replication, state transfers, the state
   * port): MariaDbReplication's are 3306 (a replica's channel to its primary), 4444 and 4569.
   * @default - Galera's: 4567, 4568, 4444, 4569
   */
  readonly peerPorts?: readonly number[];
  /** The pods fetch a backup from a bucket on this port (restoreFrom.s3): egress to it, anywhere. */
  readonly restoreBucketPort?: number;
  /** The pods copy and follow an external source on this port (source): egress to it, anywhere. */
  readonly sourcePort?: number;
}

/** Pods of a job that takes data from the nodes, and the node ports it uses: a backup job is one. */
export interface PolicyJob {
  /** Labels that select the job's pods. */
  readonly selectorLabels: Record<string, string>;
  /** The ports of the database pods the job connects to. */
  readonly ports: number[];
}

/** Who scrapes metrics by default: Prometheus pods (app.kubernetes.io/name=prometheus) in any namespace. */
export const DEFAULT_SCRAPERS: NetworkPeer[] = [
  { namespaceSelector: {}, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } } },
];

/**
 * What the policies protect. Every port comes from the constructs given (the peer and metrics
 * ports of the cluster, those of ProxySQL, the backup job's ports, the restore bucket's), so a
 * policy built by hand opens what the values-file chart opens.
 */
export interface MariaDbNetworkPoliciesProps extends NetworkPolicyProps {
  /** The database cluster (either topology). */
  readonly cluster: PolicyDatabase;
  /** ProxySQL in front of it. @default - none */
  readonly proxysql?: PolicyWorkload;
  /** The backup job that takes data from the nodes. @default - none */
  readonly backup?: PolicyJob;
  /** Who may scrape the metrics ports that the cluster and ProxySQL expose. @default - DEFAULT_SCRAPERS: Prometheus in any namespace */
  readonly scrapers?: NetworkPeer[];
}

/** @deprecated use MariaDbNetworkPoliciesProps, whose `cluster` is either topology. */
export interface GaleraNetworkPoliciesProps extends Omit<MariaDbNetworkPoliciesProps, 'cluster'> {
  /** The Galera cluster. */
  readonly galera: PolicyDatabase;
}

/** Who else may reach the database or ProxySQL, added by `allowFrom` after construction. */
export type AllowedTarget = 'proxysql' | 'database';

const tcp = (port: number): k8s.NetworkPolicyPort => ({ protocol: 'TCP', port: k8s.IntOrString.fromNumber(port) });
const GALERA_PEER_PORTS = [4567, 4568, 4444, 4569];

/**
 * The NetworkPolicies of a database and its proxy: one per workload, each selecting its pods and
 * denying every other ingress and egress. The nodes' peer ports (replication, state transfers,
 * the state port; 3306 too for primary/replica, whose replicas read the primary's binlog on it) are
 * open only between the database pods; 3306 otherwise only to ProxySQL, this project's jobs and
 * `directClients`; ProxySQL's client port to `clients`; admin ports to nobody; DNS out.
 * `allowFrom` lets the user's applications in after construction.
 */
export class MariaDbNetworkPolicies extends Construct {
  /** The policy of the database pods (none when enabled is false). */
  public readonly database?: k8s.KubeNetworkPolicy;
  /** The policy of the ProxySQL pods (none without proxysql or when enabled is false). */
  public readonly proxysql?: k8s.KubeNetworkPolicy;
  private readonly allowed: Record<AllowedTarget, k8s.NetworkPolicyPeer[]> = { proxysql: [], database: [] };

  constructor(scope: Construct, id: string, props: MariaDbNetworkPoliciesProps) {
    super(scope, id);
    guardUniqueNames(this);
    const { cluster: g, proxysql: px, backup: jobs, scrapers: scraperProps, ...options } = props;
    const { scrapers: given, ...r } = resolveOrThrow(`${this.constructor.name} '${id}'`, (c) => {
      const checked = checkProps(c, 'MariaDbNetworkPolicies', { ...options, scrapers: scraperProps });
      return { ...resolveNetworkPolicy(checked), scrapers: checked.scrapers };
    });
    const scrapers = (given ?? DEFAULT_SCRAPERS).map(peer);
    if (!r.enabled) return;
    const mysqlPort = g.port ?? 3306;
    const restoreBucketPort = g.restoreBucketPort;
    const dbPods: k8s.NetworkPolicyPeer[] = [{ podSelector: { matchLabels: g.selectorLabels } }];
    const peerPorts = (g.peerPorts ?? GALERA_PEER_PORTS).map(tcp);
    const dns: k8s.NetworkPolicyEgressRule = {
      to: r.dns.map(peer),
      ports: [{ protocol: 'UDP', port: k8s.IntOrString.fromNumber(53) }, { protocol: 'TCP', port: k8s.IntOrString.fromNumber(53) }],
    };
    const metadata = (name: string) => ({ name, namespace: g.namespace, labels: { ...PART_OF } });
    const sqlFrom = (): k8s.NetworkPolicyPeer[] => [
      ...(px ? [{ podSelector: { matchLabels: px.selectorLabels } }] : []), ...r.directClients.map(peer), ...this.allowed.database,
    ];
    this.database = new k8s.KubeNetworkPolicy(this, 'galera', {
      metadata: metadata(g.name),
      spec: Lazy.any({
        produce: (): k8s.NetworkPolicySpec => ({
          podSelector: { matchLabels: g.selectorLabels },
          policyTypes: ['Ingress', 'Egress'],
          ingress: [
            // replication, state transfers and the state port: only between the database pods (for
            // primary/replica this holds 3306 too: the replication channel, between the nodes only)
            { from: dbPods, ports: peerPorts },
            ...(sqlFrom().length > 0 ? [{ from: sqlFrom(), ports: [tcp(mysqlPort)] }] : []),
            ...(jobs ? [{ from: [{ podSelector: { matchLabels: jobs.selectorLabels } }], ports: jobs.ports.map(tcp) }] : []),
            ...(g.metricsPort ? [{ from: scrapers, ports: [tcp(g.metricsPort)] }] : []),
          ],
          egress: [
            { to: dbPods, ports: peerPorts }, dns,
            // the restore-fetch init container reaches the bucket (an address outside the cluster, often)
            ...(restoreBucketPort ? [{ ports: [tcp(restoreBucketPort)] }] : []),
            // the external source the nodes copy and follow (outside the cluster, often)
            ...(g.sourcePort ? [{ ports: [tcp(g.sourcePort)] }] : []),
          ],
        }),
      }) as unknown as k8s.NetworkPolicySpec,
    });
    if (px) {
      this.proxysql = new k8s.KubeNetworkPolicy(this, 'proxysql', {
        metadata: metadata(px.name),
        spec: Lazy.any({
          produce: (): k8s.NetworkPolicySpec => ({
            podSelector: { matchLabels: px.selectorLabels },
            policyTypes: ['Ingress', 'Egress'],
            // the client port only; the admin port listens on loopback and is open to nobody
            ingress: [
              { from: [...r.clients.map(peer), ...this.allowed.proxysql], ports: [tcp(PROXYSQL_PORTS.mysql)] },
              ...(px.metricsPort ? [{ from: scrapers, ports: [tcp(px.metricsPort)] }] : []),
            ],
            egress: [{ to: dbPods, ports: [tcp(mysqlPort)] }, dns],
          }),
        }) as unknown as k8s.NetworkPolicySpec,
      });
    }
  }

  /** The policy of the database pods. @deprecated use `database`. */
  public get galera(): k8s.KubeNetworkPolicy | undefined {
    return this.database;
  }

  /**
   * Lets more pods in: an application's pods (labels, namespaces) to ProxySQL's client port
   * (`proxysql`, the default) or straight to the database's 3306 (`database`). A cdk8s-plus
   * workload or any peer with labels is taken as its pod selector.
   */
  public allowFrom(from: NetworkPeer | kplus.IPodSelector, to: AllowedTarget = 'proxysql'): void {
    if (to !== 'proxysql' && to !== 'database') throw new Error(
      `${this.node.path}: allowFrom(…, to) must be 'proxysql' or 'database', got ${show(to)}`,
    );
    if (to === 'proxysql' && !this.proxysql && this.database) throw new Error(
      `${this.node.path}: allowFrom(…, 'proxysql'): these policies protect no ProxySQL`,
    );
    this.allowed[to].push(isPodSelector(from) ? selectorPeer(from) : peer(resolveOrThrow(`${this.node.path}: allowFrom`,
      (c) => checkProps(c, 'NetworkPeer', from, 'from'))));
  }
}

/** @deprecated use MariaDbNetworkPolicies, whose `cluster` is either topology. */
export class GaleraNetworkPolicies extends MariaDbNetworkPolicies {
  constructor(scope: Construct, id: string, props: GaleraNetworkPoliciesProps) {
    const { galera, ...rest } = props;
    super(scope, id, { ...rest, cluster: galera });
  }
}

function isPodSelector(x: unknown): x is kplus.IPodSelector {
  return typeof (x as kplus.IPodSelector | undefined)?.toPodSelectorConfig === 'function';
}

/** A cdk8s-plus pod selector as a NetworkPolicy peer: its labels, in its namespaces (names only). */
function selectorPeer(s: kplus.IPodSelector): k8s.NetworkPolicyPeer {
  const config = s.toPodSelectorConfig();
  const labels = config.labelSelector._toKube().matchLabels;
  const names = config.namespaces?.names;
  if (config.namespaces?.labelSelector || (names && names.length > 1)) {
    throw new Error('allowFrom takes a pod selector in its own namespace or in one named namespace');
  }
  return {
    podSelector: { matchLabels: labels },
    ...(names?.length === 1 ? { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': names[0] } } } : {}),
  };
}

function peer(p: NetworkPeer): k8s.NetworkPolicyPeer {
  return {
    ...(p.podSelector ? { podSelector: { matchLabels: p.podSelector.matchLabels } } : {}),
    ...(p.namespaceSelector ? { namespaceSelector: { matchLabels: p.namespaceSelector.matchLabels } } : {}),
    ...(p.ipBlock ? { ipBlock: { cidr: p.ipBlock.cidr, except: p.ipBlock.except } } : {}),
  };
}
