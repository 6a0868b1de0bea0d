/** Every pod template of the manifests (workloads, Jobs and CronJobs), with where it comes from. */
export function podTemplates(manifests: any[]): { where: string; spec: any }[] {
  const out: { where: string; spec: any }[] = [];
  for (const m of manifests) {
    const spec = m.spec?.template?.spec ?? m.spec?.jobTemplate?.spec?.template?.spec;
    if (spec) out.push({ where: `${m.kind}/${m.metadata.name}`, spec });
  }
  return out;
}
