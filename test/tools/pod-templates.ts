import type { Manifest } from './manifest';
/** Every pod template of the manifests (workloads, Jobs and CronJobs), with where it comes from. */
export function podTemplates(manifests: Manifest[]): { where: string; spec: Manifest }[] {
  const out: { where: string; spec: Manifest }[] = [];
  for (const m of manifests) {
    const spec = m.spec?.template?.spec ?? m.spec?.jobTemplate?.spec?.template?.spec;
    if (spec) out.push({ where: `${m.kind}/${m.metadata.name}`, spec });
  }
  return out;
}
