import { createHash } from 'crypto';
import { Chart } from 'cdk8s';
import { Construct } from 'constructs';
import * as k8s from '../../imports/k8s';
import { Checker, quantityValue, Resolved, show, withDefaults } from '../values/validation';
import type { LabelKey, Quantity } from '../values/formats';

/**
 * The pod layer every workload construct of this library builds on: hardened security, resources,
 * scheduling, exec probes, a PodDisruptionBudget and a configuration checksum, each written once.
 */

/** How hard the scheduler keeps a workload's pods on different nodes. */
export type AntiAffinityMode = 'preferred' | 'required' | 'none';
/** Every AntiAffinityMode. */
export const ANTI_AFFINITY_MODES: readonly AntiAffinityMode[] = ['preferred', 'required', 'none'];

/** When the kubelet pulls an image. */
export type PullPolicy = 'Always' | 'IfNotPresent' | 'Never';
/** Every PullPolicy. */
export const PULL_POLICIES: readonly PullPolicy[] = ['Always', 'IfNotPresent', 'Never'];

/** CPU and memory for one container. */
export interface ContainerResources {
  /** CPU request. @default - the construct's default */
  readonly cpuRequest?: Quantity;
  /** CPU limit. @default - no CPU limit (a throttled database stalls every Galera node) */
  readonly cpuLimit?: Quantity;
  /** Memory request. @default - the construct's default */
  readonly memoryRequest?: Quantity;
  /** Memory limit. @default - the construct's default */
  readonly memoryLimit?: Quantity;
}

/** Spread of a workload's pods over a topology domain, in addition to anti-affinity. */
export interface TopologySpread {
  /** Node label that defines the domain. @default 'topology.kubernetes.io/zone' */
  readonly topologyKey?: LabelKey;
  /** Largest allowed difference of pod counts between domains. @default 1 @asType integer @minimum 1 @maximum 100 */
  readonly maxSkew?: number;
  /** Refuse to schedule rather than break the spread (false: ScheduleAnyway). @default false */
  readonly required?: boolean;
}

/** Labels every object of this project carries. @internal */
export const PART_OF = { 'app.kubernetes.io/part-of': 'galera-proxysql' } as const;

/** The uid and gid of the `mysql` user in the official MariaDB image; the ProxySQL image uses the same. @internal */
export const MYSQL_UID = 999;

/** Resources with every default filled in. @internal */
export type ResolvedResources = Resolved<ContainerResources, 'cpuLimit'>;

/**
 * Resolves a container's resources (checked by the schema): the defaults, request <= limit and a
 * minimum memory limit.
 * @internal
 */
export function resolveResources(c: Checker, field: string, given: ContainerResources | undefined,
  defaults: Omit<ResolvedResources, 'cpuLimit'>, minMemory: { bytes: number; label: string; what: string }): ResolvedResources {
  const out: ResolvedResources = withDefaults(defaults, given);
  const memLimit = quantityValue(out.memoryLimit);
  c.check(!(quantityValue(out.memoryRequest) > memLimit),
    `${c.f(field)}.memoryRequest (${out.memoryRequest}) must not exceed ${c.f(field)}.memoryLimit (${out.memoryLimit})`);
  c.check(
    !(memLimit < minMemory.bytes),
    `${c.f(field)}.memoryLimit must be at least ${minMemory.label} for ${minMemory.what}, got ${JSON.stringify(out.memoryLimit)}`,
  );
  if (out.cpuLimit !== undefined) {
    c.check(!(quantityValue(out.cpuRequest) > quantityValue(out.cpuLimit)),
      `${c.f(field)}.cpuRequest (${out.cpuRequest}) must not exceed ${c.f(field)}.cpuLimit (${out.cpuLimit})`);
  }
  return out;
}

/** @internal */
export function resourceRequirements(r: ResolvedResources): k8s.ResourceRequirements {
  return {
    requests: { cpu: k8s.Quantity.fromString(r.cpuRequest), memory: k8s.Quantity.fromString(r.memoryRequest) },
    limits: { memory: k8s.Quantity.fromString(r.memoryLimit), ...(r.cpuLimit ? { cpu: k8s.Quantity.fromString(r.cpuLimit) } : {}) },
  };
}

/** @internal */
export type ResolvedTopologySpread = Resolved<TopologySpread>;

/** @internal */
export function resolveTopologySpread(given: TopologySpread | undefined): ResolvedTopologySpread | undefined {
  return given && withDefaults({ topologyKey: 'topology.kubernetes.io/zone', maxSkew: 1, required: false }, given);
}

/** Pod anti-affinity on the node hostname. @internal */
export function antiAffinity(mode: AntiAffinityMode, selector: Record<string, string>): k8s.Affinity | undefined {
  const term = { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: selector } };
  switch (mode) {
    case 'none': return undefined;
    case 'required': return { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term] } };
    case 'preferred': return {
      podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: term }] },
    };
  }
}

/** Timing of an exec probe. @internal */
export interface ProbeTiming {
  readonly periodSeconds: number;
  readonly timeoutSeconds: number;
  readonly failureThreshold: number;
  readonly initialDelaySeconds?: number;
}

/** An exec probe with every field explicit (no silent kubelet defaults). @internal */
export function execProbe(command: string[], t: ProbeTiming): k8s.Probe {
  return {
    exec: { command }, periodSeconds: t.periodSeconds, timeoutSeconds: t.timeoutSeconds,
    failureThreshold: t.failureThreshold, successThreshold: 1, initialDelaySeconds: t.initialDelaySeconds ?? 0,
  };
}

/** What a hardened container is built from. @internal */
export interface ContainerOptions {
  readonly name: string;
  readonly image: string;
  readonly imagePullPolicy: PullPolicy;
  readonly command: string[];
  readonly args?: string[];
  readonly env?: k8s.EnvVar[];
  readonly volumeMounts?: k8s.VolumeMount[];
  readonly ports?: Record<string, number>;
  readonly resources: ResolvedResources | k8s.ResourceRequirements;
  readonly startupProbe?: k8s.Probe;
  readonly readinessProbe?: k8s.Probe;
  readonly livenessProbe?: k8s.Probe;
  readonly lifecycle?: k8s.Lifecycle;
}

/** Every container drops all capabilities, cannot escalate and has a read-only root file system. */
const HARDENED_CONTAINER: k8s.SecurityContext = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  runAsNonRoot: true,
  capabilities: { drop: ['ALL'] },
};

/** @internal */
export function container(o: ContainerOptions): k8s.Container {
  const resources = 'cpuRequest' in o.resources ? resourceRequirements(o.resources) : o.resources;
  return {
    name: o.name,
    image: o.image,
    imagePullPolicy: o.imagePullPolicy,
    command: o.command,
    args: o.args,
    env: o.env,
    ports: o.ports ? Object.entries(o.ports).map(([name, containerPort]) => ({ name, containerPort, protocol: 'TCP' })) : undefined,
    volumeMounts: o.volumeMounts,
    securityContext: HARDENED_CONTAINER,
    resources,
    startupProbe: o.startupProbe,
    readinessProbe: o.readinessProbe,
    livenessProbe: o.livenessProbe,
    lifecycle: o.lifecycle,
  };
}

/** What every pod of this project shares. @internal */
export interface PodTemplateOptions {
  readonly labels: Record<string, string>;
  readonly selector: Record<string, string>;
  /** The data of the ConfigMap(s) the pods read; a change rolls the pods. */
  readonly configData: Record<string, string>;
  readonly terminationGracePeriodSeconds: number;
  readonly antiAffinity: AntiAffinityMode;
  readonly topologySpread?: ResolvedTopologySpread;
  readonly initContainers?: k8s.Container[];
  readonly containers: k8s.Container[];
  readonly volumes: k8s.Volume[];
  /** Run as this ServiceAccount (a pod identity for a bucket); its API token is still not mounted. */
  readonly serviceAccountName?: string;
}

/** Annotation on every pod template: a checksum of the configuration, so a changed ConfigMap rolls the pods. @internal */
export const CONFIG_CHECKSUM_ANNOTATION = 'galera-proxysql/config-checksum';

/** sha256 over the sorted entries, so anyone can recompute it from the synthesized ConfigMap. @internal */
export function configChecksum(data: Record<string, string>): string {
  return createHash('sha256').update(JSON.stringify(Object.keys(data).sort().map((k) => [k, data[k]]))).digest('hex').slice(0, 16);
}

/**
 * A pod template: no service account token, no service links, the image's non-root user, the
 * RuntimeDefault seccomp profile, anti-affinity and spread, and the configuration checksum.
 * @internal
 */
export function podTemplate(o: PodTemplateOptions): k8s.PodTemplateSpec {
  return {
    metadata: { labels: o.labels, annotations: { [CONFIG_CHECKSUM_ANNOTATION]: configChecksum(o.configData) } },
    spec: {
      automountServiceAccountToken: false,
      serviceAccountName: o.serviceAccountName,
      enableServiceLinks: false,
      terminationGracePeriodSeconds: o.terminationGracePeriodSeconds,
      securityContext: {
        runAsUser: MYSQL_UID, runAsGroup: MYSQL_UID, fsGroup: MYSQL_UID, runAsNonRoot: true,
        fsGroupChangePolicy: 'OnRootMismatch', seccompProfile: { type: 'RuntimeDefault' },
      },
      affinity: antiAffinity(o.antiAffinity, o.selector),
      topologySpreadConstraints: o.topologySpread ? [{
        topologyKey: o.topologySpread.topologyKey,
        maxSkew: o.topologySpread.maxSkew,
        whenUnsatisfiable: o.topologySpread.required ? 'DoNotSchedule' : 'ScheduleAnyway',
        labelSelector: { matchLabels: o.selector },
      }] : undefined,
      initContainers: o.initContainers,
      containers: o.containers,
      volumes: o.volumes,
    },
  };
}

/** At most one pod of the workload voluntarily disrupted at a time. @internal */
export function podDisruptionBudget(
  scope: Construct, metadata: k8s.ObjectMeta, selector: Record<string, string>,
): k8s.KubePodDisruptionBudget {
  return new k8s.KubePodDisruptionBudget(scope, 'pdb', {
    metadata,
    spec: { maxUnavailable: k8s.IntOrString.fromNumber(1), selector: { matchLabels: selector } },
  });
}

/**
 * A volume of some keys of a Secret, one file each, readable by the server's group only, and
 * optional: the script that reads a key names it when it is missing, where a required Secret
 * would leave the pod in ContainerCreating. @internal
 */
export function secretKeysVolume(name: string, secretName: string, keys: readonly string[]): k8s.Volume {
  return { name, secret: { secretName, items: keys.map((key) => ({ key, path: key })), defaultMode: 0o440, optional: true } };
}

/** An emptyDir, memory-backed when `memory`. @internal */
export function emptyDir(name: string, sizeLimit?: string, memory = false): k8s.Volume {
  return {
    name, emptyDir: { ...(memory ? { medium: 'Memory' } : {}), ...(sizeLimit ? { sizeLimit: k8s.Quantity.fromString(sizeLimit) } : {}) },
  };
}

/**
 * The default object name of a construct: its id in kebab case ('OrdersDb' and 'orders_db' give
 * 'orders-db'), so that two constructs in one chart never share names unless told to.
 * @internal
 */
export function nameFromId(id: string): string {
  return id.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '');
}

/**
 * The name prop, or the default derived from the construct id; a derived name that is no DNS label
 * asks for an explicit name.
 * @internal
 */
export function resolveName(c: Checker, given: string | undefined, defaultName: string, maxLength: number): string {
  if (given === undefined && !new RegExp(`^(?=.{1,${maxLength}}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$`).test(defaultName)) {
    c.add(`${c.f('name')} is not set and the default derived from the construct id, ${show(defaultName)}, `
      + `is not a DNS-1123 label of at most ${maxLength} characters; set name`);
    return 'invalid';
  }
  return given ?? defaultName;
}

/**
 * The namespace a construct's objects go to when its props name none: its chart's.
 * @internal
 */
export function chartNamespace(scope: Construct): string {
  return Chart.of(scope).namespace ?? 'default';
}
