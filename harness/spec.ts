// The subset of the Kubernetes object model the pod harness reads from synthesized manifests,
// and the kubelet-like resolution of environment variables and projected volumes.

export interface ObjectMeta {
  name?: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string>; uid?: string;
}

export interface KeyToPath { key: string; path: string; mode?: number }
export interface ConfigMapVolumeSource { name?: string; items?: KeyToPath[]; defaultMode?: number; optional?: boolean }
export interface SecretVolumeSource { secretName?: string; items?: KeyToPath[]; defaultMode?: number; optional?: boolean }
export interface EmptyDirVolumeSource { medium?: string; sizeLimit?: string | number }
export interface Volume {
  name: string;
  configMap?: ConfigMapVolumeSource;
  secret?: SecretVolumeSource;
  emptyDir?: EmptyDirVolumeSource;
  persistentVolumeClaim?: { claimName: string; readOnly?: boolean };
  [other: string]: unknown;
}
export interface VolumeMount { name: string; mountPath: string; readOnly?: boolean; subPath?: string }
export interface KeySelector { name?: string; key: string; optional?: boolean }
export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    fieldRef?: { fieldPath: string };
    secretKeyRef?: KeySelector;
    configMapKeyRef?: KeySelector;
    resourceFieldRef?: { containerName?: string; resource: string; divisor?: string | number };
  };
}
export interface EnvFromSource {
  prefix?: string; configMapRef?: { name: string; optional?: boolean }; secretRef?: { name: string; optional?: boolean };
}
export interface ExecAction { command: string[] }
export interface Probe {
  exec?: ExecAction;
  tcpSocket?: unknown;
  httpGet?: unknown;
  grpc?: unknown;
  initialDelaySeconds?: number;
  periodSeconds?: number;
  timeoutSeconds?: number;
  successThreshold?: number;
  failureThreshold?: number;
  terminationGracePeriodSeconds?: number;
}
export interface Capabilities { add?: string[]; drop?: string[] }
export interface SecurityContext {
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  readOnlyRootFilesystem?: boolean;
  allowPrivilegeEscalation?: boolean;
  privileged?: boolean;
  capabilities?: Capabilities;
}
export interface PodSecurityContext {
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  fsGroup?: number;
  fsGroupChangePolicy?: string;
  supplementalGroups?: number[];
}
export interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  workingDir?: string;
  env?: EnvVar[];
  envFrom?: EnvFromSource[];
  volumeMounts?: VolumeMount[];
  securityContext?: SecurityContext;
  resources?: { limits?: Record<string, string | number>; requests?: Record<string, string | number> };
  startupProbe?: Probe;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  lifecycle?: { preStop?: { exec?: ExecAction } };
  restartPolicy?: string;
}
export interface PodSpec {
  restartPolicy?: 'Always' | 'OnFailure' | 'Never';
  containers: Container[];
  initContainers?: Container[];
  volumes?: Volume[];
  securityContext?: PodSecurityContext;
  terminationGracePeriodSeconds?: number;
  hostname?: string;
  subdomain?: string;
}
export interface PodTemplate { metadata?: ObjectMeta; spec: PodSpec }
export interface VolumeClaimTemplate { metadata: ObjectMeta }
export interface StatefulSet {
  kind: 'StatefulSet';
  metadata: ObjectMeta;
  spec: {
    serviceName?: string;
    replicas?: number;
    template: PodTemplate;
    volumeClaimTemplates?: VolumeClaimTemplate[];
  };
}
export interface Deployment {
  kind: 'Deployment';
  metadata: ObjectMeta;
  spec: { replicas?: number; template: PodTemplate };
}
export interface JobSpec { template: PodTemplate; backoffLimit?: number; activeDeadlineSeconds?: number }
export interface CronJob {
  kind: 'CronJob';
  metadata: ObjectMeta;
  spec: { schedule: string; jobTemplate: { metadata?: ObjectMeta; spec: JobSpec } };
}
/** The workloads the harness runs pods for. */
export type WorkloadObject = StatefulSet | Deployment;
export interface ConfigMap { kind: 'ConfigMap'; metadata: ObjectMeta; data?: Record<string, string>; binaryData?: Record<string, string> }
export interface K8sObject { kind?: string; metadata?: ObjectMeta; [k: string]: unknown }

/** Values a container sees about itself (downward API). */
export interface PodIdentity {
  name: string;
  namespace: string;
  ip: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  uid: string;
}

/** Where the data of ConfigMaps and Secrets comes from. */
export interface DataSources {
  configMap(name: string): Record<string, Buffer> | undefined;
  secret(name: string): Record<string, Buffer> | undefined;
}

/** A reason the kubelet could not create the container (CreateContainerConfigError). */
export class ContainerConfigError extends Error {}

/**
 * `$(VAR)` references are replaced by earlier variables; `$$(` stands for a literal `$(`;
 * unknown references stay as written (kubelet semantics).
 */
export function expandRefs(s: string, vars: Record<string, string>): string {
  return s.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (m, name: string | undefined) => {
    if (m === '$$') return '$';
    return name !== undefined && Object.prototype.hasOwnProperty.call(vars, name) ? vars[name] : m;
  });
}

const QUANTITY_SUFFIX: Record<string, number> = {
  '': 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};

export function quantity(q: string | number | undefined): number | undefined {
  if (q === undefined) return undefined;
  if (typeof q === 'number') return q;
  const m = /^([0-9.]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/.exec(q.trim());
  if (!m) throw new Error(`cannot parse quantity ${JSON.stringify(q)}`);
  return Number(m[1]) * QUANTITY_SUFFIX[m[2] ?? ''];
}

function fieldRef(path: string, pod: PodIdentity): string {
  const label = /^metadata\.labels\['(.+)'\]$/.exec(path);
  if (label) return pod.labels[label[1]] ?? '';
  const ann = /^metadata\.annotations\['(.+)'\]$/.exec(path);
  if (ann) return pod.annotations[ann[1]] ?? '';
  switch (path) {
    case 'metadata.name': return pod.name;
    case 'metadata.namespace': return pod.namespace;
    case 'metadata.uid': return pod.uid;
    case 'status.podIP': return pod.ip;
    case 'status.podIPs': return pod.ip;
    case 'status.hostIP': return pod.ip;
    case 'status.hostIPs': return pod.ip;
    case 'spec.nodeName': return 'harness-node';
    case 'spec.serviceAccountName': return 'default';
    default: throw new ContainerConfigError(`unsupported fieldRef ${path}`);
  }
}

function keyRef(kind: 'secret' | 'configMap', sel: KeySelector, src: DataSources): string | undefined {
  const data = kind === 'secret' ? src.secret(sel.name ?? '') : src.configMap(sel.name ?? '');
  if (data === undefined) {
    if (sel.optional) return undefined;
    throw new ContainerConfigError(`${kind} "${sel.name}" not found`);
  }
  const v = data[sel.key];
  if (v === undefined) {
    if (sel.optional) return undefined;
    throw new ContainerConfigError(`couldn't find key ${sel.key} in ${kind} ${sel.name}`);
  }
  return v.toString('utf8');
}

/** The container's environment from envFrom and env, in kubelet order, with $(VAR) expansion. */
export function resolveEnv(c: Container, pod: PodIdentity, src: DataSources): Record<string, string> {
  const out: Record<string, string> = {};
  for (const from of c.envFrom ?? []) {
    const ref = from.configMapRef ?? from.secretRef;
    if (!ref) continue;
    const data = from.configMapRef ? src.configMap(ref.name) : src.secret(ref.name);
    if (data === undefined) {
      if (ref.optional) continue;
      throw new ContainerConfigError(`${from.configMapRef ? 'configmap' : 'secret'} "${ref.name}" not found`);
    }
    for (const [k, v] of Object.entries(data)) out[`${from.prefix ?? ''}${k}`] = v.toString('utf8');
  }
  for (const e of c.env ?? []) {
    if (e.valueFrom === undefined) {
      out[e.name] = expandRefs(e.value ?? '', out);
      continue;
    }
    const vf = e.valueFrom;
    let v: string | undefined;
    if (vf.fieldRef) v = fieldRef(vf.fieldRef.fieldPath, pod);
    else if (vf.secretKeyRef) v = keyRef('secret', vf.secretKeyRef, src);
    else if (vf.configMapKeyRef) v = keyRef('configMap', vf.configMapKeyRef, src);
    else if (vf.resourceFieldRef) {
      const [kind, res] = vf.resourceFieldRef.resource.split('.');
      const table = kind === 'limits' ? c.resources?.limits : c.resources?.requests;
      const raw = quantity(table?.[res]) ?? 0;
      const divisor = quantity(vf.resourceFieldRef.divisor) ?? 1;
      v = String(Math.ceil(raw / divisor));
    } else throw new ContainerConfigError(`env ${e.name}: unsupported valueFrom`);
    if (v !== undefined) out[e.name] = v;
  }
  return out;
}

/** One file of a projected ConfigMap or Secret volume. */
export interface ProjectedFile { path: string; content: Buffer; mode: number }

/** Files of a ConfigMap or Secret volume, or null when it is optional and missing. */
export function projectVolume(v: Volume, src: DataSources): ProjectedFile[] | null {
  const cm = v.configMap;
  const sec = v.secret;
  const name = cm ? cm.name ?? '' : sec?.secretName ?? '';
  const data = cm ? src.configMap(name) : src.secret(name);
  const vs = (cm ?? sec)!;
  const defaultMode = vs.defaultMode ?? 0o644;
  if (data === undefined) {
    if (vs.optional) return null;
    throw new ContainerConfigError(`MountVolume.SetUp failed for volume "${v.name}": ${cm ? 'configmap' : 'secret'} "${name}" not found`);
  }
  if (!vs.items) return Object.entries(data).map(([k, content]) => ({ path: k, content, mode: defaultMode }));
  const files: ProjectedFile[] = [];
  for (const item of vs.items) {
    const content = data[item.key];
    if (content === undefined) {
      if (vs.optional) continue;
      throw new ContainerConfigError(`MountVolume.SetUp failed for volume "${v.name}": key ${item.key} not found in ${name}`);
    }
    files.push({ path: item.path, content, mode: item.mode ?? defaultMode });
  }
  return files;
}

/** Every StatefulSet and Deployment of the manifests. */
export function findWorkloads(objects: readonly object[]): WorkloadObject[] {
  return (objects as K8sObject[]).filter((o) => o && (o.kind === 'StatefulSet' || o.kind === 'Deployment')) as unknown as WorkloadObject[];
}

/** The single StatefulSet of the manifests (or the one named). */
export function findStatefulSet(objects: readonly object[], name?: string): StatefulSet {
  const all = (objects as K8sObject[]).filter((o) => o && o.kind === 'StatefulSet' && (name === undefined || o.metadata?.name === name));
  if (all.length !== 1) {
    throw new Error(`expected exactly one StatefulSet${name ? ` named ${name}` : ''} in the manifests, found ${all.length}`);
  }
  return all[0] as unknown as StatefulSet;
}
