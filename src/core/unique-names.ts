import { ApiObject } from 'cdk8s';
import { IConstruct } from 'constructs';

/** Kinds that are not namespaced: their names must be unique in the whole Kubernetes cluster. */
const CLUSTER_SCOPED_KINDS = new Set([
  'Namespace', 'StorageClass', 'PersistentVolume', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'PriorityClass',
  'IngressClass', 'RuntimeClass', 'CSIDriver', 'ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration', 'ClusterIssuer',
]);

/**
 * Pairs of objects in the construct tree under `root` that Kubernetes would take for one (same
 * API group, kind and name, in one namespace or cluster-wide), each naming both constructs.
 */
export function duplicateObjectNames(root: IConstruct): string[] {
  const seen = new Map<string, ApiObject>();
  const problems: string[] = [];
  for (const c of root.node.findAll()) {
    if (!ApiObject.isApiObject(c)) continue;
    const clusterScoped = CLUSTER_SCOPED_KINDS.has(c.kind);
    const namespace = clusterScoped ? undefined : c.metadata.namespace ?? 'default';
    const key = `${c.apiGroup}/${c.kind}/${namespace ?? ''}/${c.name}`;
    const first = seen.get(key);
    if (!first) {
      seen.set(key, c);
      continue;
    }
    problems.push(`${c.kind} '${c.name}' ${clusterScoped ? '(cluster-scoped)' : `in namespace '${namespace}'`} is made twice, `
      + `by ${first.node.path} `
      + `and by ${c.node.path}; the second would overwrite the first: give one of their constructs another id or name`);
  }
  return problems;
}

const guarded = new WeakSet<IConstruct>();

/**
 * Makes `app.synth()` fail when two objects of the app would share a name (the last one applied
 * would win without a word). Registered once per construct tree, by every construct of this library.
 * @internal
 */
export function guardUniqueNames(scope: IConstruct): void {
  const root = scope.node.root;
  if (guarded.has(root)) return;
  guarded.add(root);
  root.node.addValidation({ validate: () => duplicateObjectNames(root) });
}
