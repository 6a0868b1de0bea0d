import { Construct } from 'constructs';
import { execProbe } from '../core/pod';
import {
  MainContainer, MariaDbCluster, MariaDbClusterProps, NodeImage, resolveClusterOrThrow, resolveMariaDbCluster, ResolvedMariaDbCluster,
} from '../core/mariadb-cluster';
import {
  FailureDetection, GALERA_NODE_DOMAIN_BASE, GALERA_OWNED_OPTIONS, GALERA_PORTS, renderMyCnf, resolveProviderOptions, tlsProviderOptions,
} from './galera-config';
import { GALERA_ROUTING } from './galera-routing';
import { Checker, quantityToBytes, Resolved } from '../values/validation';
import { checkProps } from '../values/schema';
import type { GaleraProviderOptions } from '../values/formats';
import * as k8s from '../../imports/k8s';

/** Props of GaleraCluster: the props every topology shares, and Galera's own. A values file sets them under `galera`. */
export interface GaleraClusterProps extends MariaDbClusterProps {
  /** Failure detector timeouts (see FAILURE_DETECTION_OPTIONS). @default 'balanced' */
  readonly failureDetection?: FailureDetection;
  /**
   * Galera provider options, merged over the defaults and failureDetection (keys such as 'gcache.size').
   * @default - see DEFAULT_PROVIDER_OPTIONS
   */
  readonly providerOptions?: GaleraProviderOptions;
  /**
   * Keep a node that is an SST donor in the ready endpoints and in ProxySQL's hostgroups. When
   * false, a donor refuses client statements while it donates (`wsrep_sst_donor_rejects_queries`),
   * which takes it out of ProxySQL too. @default false
   */
  readonly readyWhenDonor?: boolean;
  /** Seconds the startup probe allows per GiB of data for a state transfer (SST). @default 60 @asType integer @minimum 1 @maximum 3600 */
  readonly sstSecondsPerGi?: number;
  /**
   * Seconds a running node may stay out of a Primary component (non-Primary or Disconnected)
   * before it shuts mariadbd down and goes through the start-up election again.
   * @default 60 @asType integer @minimum 10 @maximum 86400
   */
  readonly nonPrimaryRestartSeconds?: number;
  /**
   * Seconds a node inside a Primary component may stay Donor/Desynced with no state transfer
   * running and wsrep_desync OFF before it restarts mariadbd and rejoins (Galera can lose the end
   * of a transfer when the donor changes views during it). Keep it above the longest locked phase
   * of a backup (BACKUP STAGE BLOCK_DDL to END), which desyncs the source node the same way.
   * @default 600 @asType integer @minimum 10 @maximum 86400
   */
  readonly stuckDesyncRestartSeconds?: number;
}

/** GaleraClusterProps with every default applied and every value checked. @internal */
export type ResolvedGaleraCluster = ResolvedMariaDbCluster & Resolved<Omit<GaleraClusterProps, keyof MariaDbClusterProps>>;

const RESERVED_USERS = ['root', 'sst', 'monitor', 'exporter', 'mysql', 'mariadb.sys'];

/**
 * Applies the defaults of GaleraClusterProps (checked by their schema, see checkProps) and the
 * rules between them, reporting every problem into `c`.
 * @internal
 */
export function resolveGaleraCluster(p: GaleraClusterProps, c: Checker, defaultNamespace: string,
  defaultName = 'galera'): ResolvedGaleraCluster {
  const shared = resolveMariaDbCluster(p, c, defaultNamespace, {
    defaultName, reservedUsers: RESERVED_USERS, ownedOptions: GALERA_OWNED_OPTIONS, terminationGracePeriodSeconds: 120, tlsByDefault: true,
    replicaCountReason: 'with an even count a partition into equal halves stops every node, '
      + 'and fewer than 3 cannot survive the loss of one node',
  });
  const failureDetection: FailureDetection = p.failureDetection ?? 'balanced';
  const nodeDomains = [GALERA_NODE_DOMAIN_BASE, GALERA_NODE_DOMAIN_BASE + shared.replicas - 1];
  c.check(!(shared.gtidDomainId >= nodeDomains[0] && shared.gtidDomainId <= nodeDomains[1]),
    `${c.f('gtidDomainId')} must not be ${nodeDomains[0]}..${nodeDomains[1]}, got ${shared.gtidDomainId}: those are the nodes' own `
    + 'domains (gtid_domain_id, for the writes Galera does not replicate)');
  return {
    ...shared,
    failureDetection,
    providerOptions: resolveProviderOptions(c, 'providerOptions', p.providerOptions, failureDetection),
    readyWhenDonor: p.readyWhenDonor ?? false,
    sstSecondsPerGi: p.sstSecondsPerGi ?? 60,
    nonPrimaryRestartSeconds: p.nonPrimaryRestartSeconds ?? 60,
    stuckDesyncRestartSeconds: p.stuckDesyncRestartSeconds ?? 600,
  };
}

/** The node scripts; galera-sst.sh is the state transfer method `stream` (galera-start.sh puts it on mariadbd's PATH). */
const NODE_SCRIPTS = [
  'galera-lib.sh', 'galera-election.sh', 'galera-init.sh', 'galera-start.sh', 'galera-probe.sh', 'galera-state.sh', 'galera-sst.sh',
  'galera-cutover.sh',
];

/**
 * A MariaDB Galera cluster on the shared node set (MariaDbCluster): every node takes reads and
 * writes, the pods bootstrap, rejoin and recover by themselves (scripts/node/), and ProxySQL
 * routes by the wsrep status of every node. Besides the node set's objects it has a `-direct`
 * Service (sticky per client) and a `-read` Service.
 */
export class GaleraCluster extends MariaDbCluster {
  /** ClusterIP Service over the ready nodes, sticky per client, for direct (non-proxied) access. */
  public readonly directService: k8s.KubeService;
  private readonly galera: ResolvedGaleraCluster;

  constructor(scope: Construct, id: string, props: GaleraClusterProps = {}) {
    const r = resolveClusterOrThrow('GaleraCluster', scope, id, props,
      (c, namespace, name) => resolveGaleraCluster(checkProps(c, 'GaleraCluster', props), c, namespace, name));
    super(scope, id, r, {
      topology: 'galera', appName: 'mariadb-galera', routing: GALERA_ROUTING, gtidDomainId: r.gtidDomainId, source: r.source,
      ports: GALERA_PORTS, peerPorts: [GALERA_PORTS.galera, GALERA_PORTS.ist, GALERA_PORTS.sst, GALERA_PORTS.state],
      stateScripts: { 'galera-lib.sh': 'node/galera-lib.sh' },
      clientServices: [{ suffix: 'direct', spec: { sessionAffinity: 'ClientIP' } }, { suffix: 'read' }],
      scripts: Object.fromEntries(NODE_SCRIPTS.map((s) => [s, `node/${s}`])),
    });
    this.galera = r;
    this.directService = this.clientService('direct');
  }

  /** @internal */
  protected serverConfig(): string {
    const r = this.galera;
    return renderMyCnf({
      clusterName: r.name, peers: this.podDnsNames, bufferPool: r.innodbBufferPoolSize, maxConnections: r.maxConnections,
      snapshotIsolation: r.snapshotIsolation, binlogExpireSeconds: r.binlogExpireSeconds, gtidDomainId: r.gtidDomainId,
      source: r.source !== undefined,
      providerOptions: r.tls.enabled ? { ...r.providerOptions, ...tlsProviderOptions(r.tls.transitional) } : r.providerOptions,
      donorRejectsQueries: !r.readyWhenDonor, extra: r.extraMyCnf,
      tls: r.tls.enabled ? { serverOptions: this.tlsServerOptions(), transitional: r.tls.transitional } : undefined,
    });
  }

  /** @internal */
  protected initCommand(node: NodeImage): string[] {
    return node.script('galera-init.sh');
  }

  /** @internal */
  protected mainContainer(node: NodeImage): MainContainer {
    const r = this.galera;
    const startupBudgetSeconds = 120 + Math.ceil(r.sstSecondsPerGi * quantityToBytes(r.storageSize) / 2 ** 30);
    const probe = (mode: string) => node.script('galera-probe.sh', mode);
    return {
      command: node.script('galera-start.sh'),
      // Startup passes once the server answers or while the node waits for its peers;
      // it fails only while a state transfer runs, so its budget is the SST time.
      startupProbe: execProbe(probe('startup'), {
        periodSeconds: 10, timeoutSeconds: 5, failureThreshold: Math.ceil(startupBudgetSeconds / 10),
      }),
      readinessProbe: execProbe(probe('readiness'), { periodSeconds: 5, timeoutSeconds: 4, failureThreshold: 2 }),
      livenessProbe: execProbe(probe('liveness'), { periodSeconds: 10, timeoutSeconds: 8, failureThreshold: 6 }),
    };
  }

  /** Galera's own settings; the shared ones (NODE_*) come from the node set. @internal */
  protected topologyEnv(): Record<string, string> {
    const r = this.galera;
    return {
      GALERA_READY_WHEN_DONOR: r.readyWhenDonor ? '1' : '0',
      GALERA_NON_PRIMARY_RESTART_SECONDS: String(r.nonPrimaryRestartSeconds),
      GALERA_STUCK_DESYNC_RESTART_SECONDS: String(r.stuckDesyncRestartSeconds),
    };
  }
}
