import type { Manifest } from './manifest';
// The Kubernetes Pod Security Standards, level "restricted"
// (kubernetes.io/docs/concepts/security/pod-security-standards), checked on a pod spec.

const ALLOWED_VOLUMES = ['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret'];

/** Violations of the restricted profile in one pod spec. */
export function restrictedViolations(where: string, spec: Manifest): string[] {
  const v: string[] = [];
  const psc = spec.securityContext ?? {};
  // baseline
  for (const f of ['hostNetwork', 'hostPID', 'hostIPC']) if (spec[f]) v.push(`${where}: ${f}`);
  for (const vol of spec.volumes ?? []) {
    const type = Object.keys(vol).find((k) => k !== 'name');
    if (!ALLOWED_VOLUMES.includes(type ?? '')) v.push(`${where}: volume ${vol.name} of type ${type}`);
  }
  if ((psc.sysctls ?? []).length > 0) v.push(`${where}: sysctls`);
  const containers = [...(spec.initContainers ?? []), ...(spec.containers ?? []), ...(spec.ephemeralContainers ?? [])];
  for (const c of containers) {
    const sc = c.securityContext ?? {};
    const at = `${where} container ${c.name}`;
    if (sc.privileged) v.push(`${at}: privileged`);
    if ((c.ports ?? []).some((p: Manifest) => p.hostPort)) v.push(`${at}: hostPort`);
    if (sc.procMount && sc.procMount !== 'Default') v.push(`${at}: procMount`);
    // restricted
    if (sc.allowPrivilegeEscalation !== false) v.push(`${at}: allowPrivilegeEscalation is not false`);
    if (!(sc.runAsNonRoot ?? psc.runAsNonRoot)) v.push(`${at}: runAsNonRoot is not true`);
    if ((sc.runAsUser ?? psc.runAsUser) === 0) v.push(`${at}: runAsUser 0`);
    const seccomp = (sc.seccompProfile ?? psc.seccompProfile)?.type;
    if (!['RuntimeDefault', 'Localhost'].includes(seccomp)) v.push(`${at}: seccompProfile is ${seccomp}`);
    if (!(sc.capabilities?.drop ?? []).includes('ALL')) v.push(`${at}: capabilities do not drop ALL`);
    for (const cap of sc.capabilities?.add ?? []) if (cap !== 'NET_BIND_SERVICE') v.push(`${at}: adds capability ${cap}`);
  }
  return v;
}
