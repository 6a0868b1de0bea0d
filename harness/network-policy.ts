// NetworkPolicies enforced the way a CNI plugin enforces them, with nftables inside each pod's
// network namespace: a pod that some policy selects for Ingress (Egress) accepts (sends) only
// what a rule of those policies allows, besides loopback and replies; other pods are open.
// Peers are pods (labels, in a namespace with labels) and IP blocks; ports are TCP or UDP numbers.
import { spawnSync } from 'child_process';
import { runSync, which } from './proc';
import { K8sObject } from './spec';

/** A network endpoint of the run: a pod slot or a client namespace. */
export interface PolicyEndpoint {
  /** Network namespace on this machine. */
  readonly ns: string;
  readonly ip: string;
  /** Kubernetes namespace of the pod. */
  readonly namespace: string;
  readonly labels: Record<string, string>;
}

interface Selector { matchLabels?: Record<string, string> }
interface Peer { podSelector?: Selector; namespaceSelector?: Selector; ipBlock?: { cidr: string; except?: string[] } }
interface Port { protocol?: string; port?: number | string }
interface Rule { from?: Peer[]; to?: Peer[]; ports?: Port[] }
export interface NetworkPolicy {
  kind: 'NetworkPolicy';
  metadata: { name?: string; namespace?: string };
  spec: { podSelector: Selector; policyTypes?: string[]; ingress?: Rule[]; egress?: Rule[] };
}

export function findNetworkPolicies(objects: readonly object[]): NetworkPolicy[] {
  return (objects as K8sObject[]).filter((o) => o?.kind === 'NetworkPolicy') as unknown as NetworkPolicy[];
}

function matches(sel: Selector | undefined, labels: Record<string, string>): boolean {
  return Object.entries(sel?.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
}

/** Labels of a namespace as Kubernetes sets them. */
function namespaceLabels(ns: string): Record<string, string> {
  return { 'kubernetes.io/metadata.name': ns };
}

function policyTypes(p: NetworkPolicy): string[] {
  return p.spec.policyTypes ?? ['Ingress', ...(p.spec.egress ? ['Egress'] : [])];
}

/** The addresses a peer stands for (pods by labels, IP blocks as they are). */
function peerAddresses(peer: Peer, policyNamespace: string, endpoints: readonly PolicyEndpoint[]): string[] {
  if (peer.ipBlock) return [peer.ipBlock.cidr]; // `except` ranges are not used by this project
  return endpoints.filter((e) => {
    const inNamespace = peer.namespaceSelector
      ? matches(peer.namespaceSelector, namespaceLabels(e.namespace))
      : e.namespace === policyNamespace;
    return inNamespace && (peer.podSelector ? matches(peer.podSelector, e.labels) : true);
  }).map((e) => e.ip);
}

/** nft statements of one rule: addresses (or any) x ports (or any). */
function ruleStatements(
  rule: Rule, direction: 'ingress' | 'egress', policyNamespace: string, endpoints: readonly PolicyEndpoint[],
): string[] {
  const peers = direction === 'ingress' ? rule.from : rule.to;
  const addrField = direction === 'ingress' ? 'saddr' : 'daddr';
  const addresses = peers === undefined || peers.length === 0 ? null : [
    ...new Set(peers.flatMap((p) => peerAddresses(p, policyNamespace, endpoints))),
  ];
  if (addresses !== null && addresses.length === 0) return []; // the peers exist nowhere: nothing allowed
  const match = addresses === null ? '' : `ip ${addrField} { ${addresses.join(', ')} } `;
  if (!rule.ports || rule.ports.length === 0) return [`${match}accept`];
  return rule.ports.map((p) => `${match}${(p.protocol ?? 'TCP').toLowerCase()} dport ${p.port} accept`);
}

/** The nftables ruleset of one endpoint under the policies. */
export function rulesetFor(e: PolicyEndpoint, policies: readonly NetworkPolicy[], endpoints: readonly PolicyEndpoint[]): string {
  const mine = policies.filter((p) => (p.metadata.namespace ?? 'default') === e.namespace && matches(p.spec.podSelector, e.labels));
  const chain = (direction: 'ingress' | 'egress', hook: 'input' | 'output', iface: 'iif' | 'oif') => {
    const selecting = mine.filter((p) => policyTypes(p).includes(direction === 'ingress' ? 'Ingress' : 'Egress'));
    const lines = [`  chain ${hook} {`, `    type filter hook ${hook} priority 0; policy accept;`];
    if (selecting.length > 0) {
      lines.push(`    ${iface} lo accept`, '    ct state established,related accept');
      for (const p of selecting) {
        for (const rule of p.spec[direction] ?? []) {
          for (const st of ruleStatements(rule, direction, p.metadata.namespace ?? 'default', endpoints)) lines.push(`    ${st}`);
        }
      }
      lines.push('    counter drop');
    }
    lines.push('  }');
    return lines;
  };
  return ['table inet k8s_network_policy {', ...chain('ingress', 'input', 'iif'), ...chain('egress', 'output', 'oif'), '}', ''].join('\n');
}

/** Replaces the ruleset in every endpoint's namespace. Throws with nft's message on error. */
export function enforce(policies: readonly NetworkPolicy[], endpoints: readonly PolicyEndpoint[]): void {
  const nft = which('nft');
  const ip = which('ip');
  for (const e of endpoints) {
    const ruleset = `table inet k8s_network_policy\ndelete table inet k8s_network_policy\n${rulesetFor(e, policies, endpoints)}`;
    const r = runSyncInput(ip, ['netns', 'exec', e.ns, nft, '-f', '-'], ruleset);
    if (r.status !== 0) throw new Error(`nft in ${e.ns} failed: ${r.stderr}\n${ruleset}`);
  }
}

/** Dropped packets per endpoint namespace (the counters of the final drop rules). */
export function droppedPackets(e: PolicyEndpoint): number {
  const r = runSync(which('ip'), ['netns', 'exec', e.ns, which('nft'), 'list', 'table', 'inet', 'k8s_network_policy']);
  return [...r.stdout.matchAll(/counter packets ([0-9]+)/g)].reduce((sum, m) => sum + Number(m[1]), 0);
}

function runSyncInput(cmd: string, args: string[], input: string): { status: number; stderr: string } {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8', timeout: 10_000 });
  return { status: r.status ?? -1, stderr: `${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}
