import * as kplus from 'cdk8s-plus-28';

/**
 * The pods of a workload as cdk8s-plus sees a network peer: what `connections.allowTo()` and
 * `kplus.NetworkPolicy` take, so a user's cdk8s-plus workload opens its way to the database or the
 * proxy with its own API.
 * @internal
 */
export function podSelectorConfig(selectorLabels: Record<string, string>, namespace: string): kplus.PodSelectorConfig {
  return { labelSelector: kplus.LabelSelector.of({ labels: selectorLabels }), namespaces: { names: [namespace] } };
}
