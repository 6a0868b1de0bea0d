import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';

/**
 * A construct whose pods cdk8s-plus can select: a network peer and a pod selector, so that a
 * cdk8s-plus workload's `connections.allowTo()` (or a `kplus.NetworkPolicy`) opens its way to
 * exactly these pods. GaleraCluster, MariaDbReplication and ProxySql are such constructs.
 */
export abstract class PodPeer extends Construct implements kplus.INetworkPolicyPeer, kplus.IPodSelector {
  /** Labels that select the pods. */
  public abstract readonly selectorLabels: Record<string, string>;
  /** Namespace of the pods. */
  public abstract readonly namespace: string;

  /** The pods as a cdk8s-plus pod selector, in their namespace. */
  public toPodSelectorConfig(): kplus.PodSelectorConfig {
    return { labelSelector: kplus.LabelSelector.of({ labels: this.selectorLabels }), namespaces: { names: [this.namespace] } };
  }

  /** The pods as a cdk8s-plus network peer. */
  public toNetworkPolicyPeerConfig(): kplus.NetworkPolicyPeerConfig {
    return { podSelector: this.toPodSelectorConfig() };
  }

  /** The pods as a cdk8s-plus pod selector. */
  public toPodSelector(): kplus.IPodSelector {
    return this;
  }
}
