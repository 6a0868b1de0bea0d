import { Construct } from 'constructs';
import * as k8s from '../../imports/k8s';
import { nameFromId, PART_OF } from '../core/pod';
import { Checker, resolveOrThrow } from '../values/validation';
import { checkProps } from '../values/schema';
import type { DnsSubdomain } from '../values/formats';
import { guardUniqueNames } from '../core/unique-names';

/** StorageClass presets for the platforms this project is used on. */
export type StoragePreset = 'microk8s-hostpath' | 'aws-ebs-gp2' | 'aws-ebs-gp3' | 'gke-pd' | 'azure-disk' | 'local-path';
/** Every StoragePreset. */
export const STORAGE_PRESETS: readonly StoragePreset[] = [
  'microk8s-hostpath', 'aws-ebs-gp2', 'aws-ebs-gp3', 'gke-pd', 'azure-disk', 'local-path',
];

/** What happens to a volume when its claim is deleted. */
export type ReclaimPolicy = 'Retain' | 'Delete';
/** Every ReclaimPolicy. */
export const RECLAIM_POLICIES: readonly ReclaimPolicy[] = ['Retain', 'Delete'];

interface PresetSpec {
  readonly provisioner: string;
  readonly parameters?: Record<string, string>;
  /** Whether the provisioner honours WaitForFirstConsumer (volume created where the pod lands). */
  readonly waitForFirstConsumer: boolean;
  readonly allowVolumeExpansion: boolean;
}

const PRESETS: Record<StoragePreset, PresetSpec> = {
  // microk8s' hostpath provisioner creates the directory at once and ignores topology.
  'microk8s-hostpath': { provisioner: 'microk8s.io/hostpath', waitForFirstConsumer: false, allowVolumeExpansion: false },
  'aws-ebs-gp2': {
    provisioner: 'ebs.csi.aws.com', parameters: { type: 'gp2', fsType: 'ext4' }, waitForFirstConsumer: true, allowVolumeExpansion: true,
  },
  'aws-ebs-gp3': {
    provisioner: 'ebs.csi.aws.com', parameters: { type: 'gp3', fsType: 'ext4' }, waitForFirstConsumer: true, allowVolumeExpansion: true,
  },
  'gke-pd': {
    provisioner: 'pd.csi.storage.gke.io', parameters: { type: 'pd-balanced' }, waitForFirstConsumer: true, allowVolumeExpansion: true,
  },
  'azure-disk': {
    provisioner: 'disk.csi.azure.com', parameters: { skuname: 'StandardSSD_LRS' }, waitForFirstConsumer: true, allowVolumeExpansion: true,
  },
  // rancher local-path (k3s, kind) requires WaitForFirstConsumer: a node-local path is chosen with the pod.
  'local-path': { provisioner: 'rancher.io/local-path', waitForFirstConsumer: true, allowVolumeExpansion: false },
};

/** Props of Storage: a preset to emit a StorageClass from, or an existing class. */
export interface StorageProps {
  /**
   * A preset that emits a StorageClass; mutually exclusive with existingClassName.
   * @default - 'microk8s-hostpath' when existingClassName is not set
   */
  readonly preset?: StoragePreset;
  /** Use this existing StorageClass; no StorageClass object is emitted. @default - none */
  readonly existingClassName?: DnsSubdomain;
  /** Name of the emitted StorageClass (cluster-wide: keep it unique in the Kubernetes cluster). @default - '<construct id>-<preset>' */
  readonly className?: DnsSubdomain;
  /** What happens to a volume when its claim is deleted; Retain keeps database files (presets only). @default 'Retain' */
  readonly reclaimPolicy?: ReclaimPolicy;
}

/** StorageProps resolved: either an existing class, or a preset to emit. @internal */
export type ResolvedStorage =
  | { readonly existingClassName: string }
  | { readonly preset: StoragePreset; readonly className: string; readonly reclaimPolicy: ReclaimPolicy };

/** Applies the defaults of StorageProps (checked by their schema, see checkProps) and the rules between them. @internal */
export function resolveStorage(p: StorageProps, c: Checker, classPrefix = 'galera'): ResolvedStorage {
  const { preset, reclaimPolicy, existingClassName, className } = p;
  c.check(!(p.preset && p.existingClassName),
    `set either preset or existingClassName, not both (got preset '${String(p.preset).slice(0, 80)}' and existingClassName `
      + `'${String(p.existingClassName).slice(0, 80)}')`);
  c.check(!(p.existingClassName && (p.className || p.reclaimPolicy)),
    'className and reclaimPolicy apply only to a preset; an existing StorageClass keeps its own');
  if (existingClassName) return { existingClassName };
  const chosen = preset ?? 'microk8s-hostpath';
  return { preset: chosen, className: className ?? `${classPrefix}-${chosen}`, reclaimPolicy: reclaimPolicy ?? 'Retain' };
}

/**
 * A StorageClass is cluster-scoped: its manifest never carries a namespace, even when a
 * namespaced chart (which gives every object its namespace) holds it.
 */
class ClusterScopedStorageClass extends k8s.KubeStorageClass {
  public toJson(): Record<string, unknown> {
    const json = super.toJson();
    const { namespace: _namespace, ...metadata } = json.metadata ?? {};
    return { ...json, metadata };
  }
}

/**
 * Storage for the Galera data volumes: a StorageClass from a preset, or a reference to an
 * existing class. `className` is what the claim templates use.
 */
export class Storage extends Construct {
  /** The StorageClass the data volumes use. */
  public readonly className: string;
  /** The emitted StorageClass, or undefined when an existing class is used. */
  public readonly storageClass?: k8s.KubeStorageClass;

  constructor(scope: Construct, id: string, props: StorageProps = {}) {
    super(scope, id);
    guardUniqueNames(this);
    const r = resolveOrThrow(`Storage '${id}'`, (c) => resolveStorage(checkProps(c, 'Storage', props), c, nameFromId(id)));
    if ('existingClassName' in r) {
      this.className = r.existingClassName;
      return;
    }
    const spec = PRESETS[r.preset];
    this.className = r.className;
    this.storageClass = new ClusterScopedStorageClass(this, 'class', {
      metadata: { name: this.className, labels: { ...PART_OF } },
      provisioner: spec.provisioner,
      parameters: spec.parameters,
      reclaimPolicy: r.reclaimPolicy,
      volumeBindingMode: spec.waitForFirstConsumer ? 'WaitForFirstConsumer' : 'Immediate',
      allowVolumeExpansion: spec.allowVolumeExpansion,
    });
  }
}
