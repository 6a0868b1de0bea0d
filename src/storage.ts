import { ApiObject, JsonPatch } from 'cdk8s';
import { Construct } from 'constructs';
import * as k8s from '../imports/k8s';
import { Checker } from './validation';

/** StorageClass presets for the platforms this project is used on. */
export type StoragePreset = 'microk8s-hostpath' | 'aws-ebs-gp2' | 'aws-ebs-gp3' | 'gke-pd' | 'azure-disk' | 'local-path';
export const STORAGE_PRESETS: readonly StoragePreset[] = ['microk8s-hostpath', 'aws-ebs-gp2', 'aws-ebs-gp3', 'gke-pd', 'azure-disk', 'local-path'];

export type ReclaimPolicy = 'Retain' | 'Delete';
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
  'aws-ebs-gp2': { provisioner: 'ebs.csi.aws.com', parameters: { type: 'gp2', fsType: 'ext4' }, waitForFirstConsumer: true, allowVolumeExpansion: true },
  'aws-ebs-gp3': { provisioner: 'ebs.csi.aws.com', parameters: { type: 'gp3', fsType: 'ext4' }, waitForFirstConsumer: true, allowVolumeExpansion: true },
  'gke-pd': { provisioner: 'pd.csi.storage.gke.io', parameters: { type: 'pd-balanced' }, waitForFirstConsumer: true, allowVolumeExpansion: true },
  'azure-disk': { provisioner: 'disk.csi.azure.com', parameters: { skuname: 'StandardSSD_LRS' }, waitForFirstConsumer: true, allowVolumeExpansion: true },
  // rancher local-path (k3s, kind) requires WaitForFirstConsumer: a node-local path is chosen with the pod.
  'local-path': { provisioner: 'rancher.io/local-path', waitForFirstConsumer: true, allowVolumeExpansion: false },
};

export interface StorageProps {
  /** A preset that emits a StorageClass; mutually exclusive with existingClassName. @default 'microk8s-hostpath' when existingClassName is not set */
  readonly preset?: StoragePreset;
  /** Use this existing StorageClass; no StorageClass object is emitted. @default - none */
  readonly existingClassName?: string;
  /** Name of the emitted StorageClass. @default 'galera-<preset>' */
  readonly className?: string;
  /** What happens to a volume when its claim is deleted; Retain keeps database files. @default 'Retain' */
  readonly reclaimPolicy?: ReclaimPolicy;
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
    const c = new Checker('Storage');
    c.oneOf('preset', props.preset, STORAGE_PRESETS);
    c.oneOf('reclaimPolicy', props.reclaimPolicy, RECLAIM_POLICIES);
    if (props.existingClassName !== undefined) c.dnsLabel('existingClassName', props.existingClassName, 253);
    if (props.className !== undefined) c.dnsLabel('className', props.className, 253);
    c.check(!(props.preset && props.existingClassName),
      `set either preset or existingClassName, not both (got preset '${props.preset}' and existingClassName '${props.existingClassName}')`);
    c.check(!(props.existingClassName && (props.className || props.reclaimPolicy)),
      'className and reclaimPolicy apply only to a preset; an existing StorageClass keeps its own');
    c.throwIfAny();

    if (props.existingClassName) {
      this.className = props.existingClassName;
      return;
    }
    const preset = props.preset ?? 'microk8s-hostpath';
    const spec = PRESETS[preset];
    this.className = props.className ?? `galera-${preset}`;
    this.storageClass = new k8s.KubeStorageClass(this, 'class', {
      metadata: { name: this.className, labels: { 'app.kubernetes.io/part-of': 'galera-proxysql' } },
      provisioner: spec.provisioner,
      parameters: spec.parameters,
      reclaimPolicy: props.reclaimPolicy ?? 'Retain',
      volumeBindingMode: spec.waitForFirstConsumer ? 'WaitForFirstConsumer' : 'Immediate',
      allowVolumeExpansion: spec.allowVolumeExpansion,
    });
    // A StorageClass is cluster-scoped; a namespaced chart gives every object its namespace.
    if (this.storageClass.metadata.namespace !== undefined) {
      ApiObject.of(this.storageClass).addJsonPatch(JsonPatch.remove('/metadata/namespace'));
    }
  }
}
