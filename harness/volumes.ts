// The volumes of one pod instance, set up as the kubelet does: emptyDirs (a tmpfs for medium
// Memory), ConfigMap and Secret volumes written like the kubelet's atomic writer (..data
// symlinks, defaultMode/items modes, owner root and group fsGroup), and claim directories that
// survive the pod (fsGroup applied with OnRootMismatch).
import {
  chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readdirSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync,
  writeFileSync,
} from 'fs';
import { dirname, join } from 'path';
import { unmountBelow } from './netns';
import { runSync, which } from './proc';
import { ContainerConfigError, DataSources, PodSpec, projectVolume, quantity, Volume, VolumeClaimTemplate } from './spec';

const MOUNT = which('mount');

/** The uid/gid the images use for `mysql` (999) maps to the local mysql user and group. */
export const IMAGE_MYSQL_ID = 999;

export interface VolumeHost extends DataSources {
  readonly runDir: string;
  readonly prefix: string;
  readonly mysqlGid: number;
}

/** Maps an image gid to a local one (999 = mysql). */
export function localGid(host: VolumeHost, gid: number): number {
  return gid === IMAGE_MYSQL_ID ? host.mysqlGid : gid;
}

/** The host directory of a claim of a pod; created (root, 0755, like a new volume) when missing. */
export function claimDir(host: VolumeHost, claim: string, podName: string, create = true): string {
  const dir = join(host.runDir, 'pvc', `${claim}-${podName}`);
  if (create && !existsSync(dir)) {
    mkdirSync(dir, { recursive: true });
    chmodSync(dir, 0o755);
  }
  return dir;
}

export class PodVolumes {
  /** Host directory of each volume by name (for the current pod instance). */
  public readonly dirs = new Map<string, string>();
  private root: string | null = null;
  private writes = 0;

  constructor(private readonly host: VolumeHost, private readonly podDir: string, private readonly podName: string) {}

  /** Host directories for every volume of a new pod instance, with fsGroup applied. */
  public prepare(spec: PodSpec, claims: readonly VolumeClaimTemplate[], instance: number): void {
    const fsGroup = spec.securityContext?.fsGroup;
    const gid = fsGroup === undefined ? undefined : localGid(this.host, fsGroup);
    const root = join(this.podDir, 'volumes', `instance-${instance}`);
    rmSync(root, { recursive: true, force: true });
    mkdirSync(root, { recursive: true });
    this.root = root;
    this.dirs.clear();
    for (const v of spec.volumes ?? []) {
      const dir = join(root, v.name);
      if (v.emptyDir) {
        mkdirSync(dir);
        if (v.emptyDir.medium === 'Memory') {
          const size = quantity(v.emptyDir.sizeLimit) ?? quantity(spec.containers[0].resources?.limits?.memory) ?? 64 * 2 ** 20;
          runSync(MOUNT, ['-t', 'tmpfs', '-o', `size=${Math.ceil(size)},mode=0777`, `${this.host.prefix}-emptydir`, dir]);
        }
        chmodSync(dir, 0o777);
        if (gid !== undefined) { chownSync(dir, 0, gid); chmodSync(dir, 0o2777); }
      } else if (v.configMap || v.secret) {
        // Placeholder; the files are written per container start (ContainerConfigError is retried).
        mkdirSync(dir);
      } else if (v.persistentVolumeClaim) {
        const claim = join(this.host.runDir, 'pvc', v.persistentVolumeClaim.claimName);
        mkdirSync(claim, { recursive: true });
        if (gid !== undefined) applyFsGroup(claim, gid, spec.securityContext?.fsGroupChangePolicy !== 'Always');
        this.dirs.set(v.name, claim);
        continue;
      } else {
        throw new Error(
          `volume ${v.name}: only configMap, secret, emptyDir and persistentVolumeClaim volumes are supported by the harness`,
        );
      }
      this.dirs.set(v.name, dir);
    }
    for (const t of claims) {
      const name = t.metadata.name ?? 'data';
      const dir = claimDir(this.host, name, this.podName);
      if (gid !== undefined) applyFsGroup(dir, gid, spec.securityContext?.fsGroupChangePolicy !== 'Always');
      this.dirs.set(name, dir);
    }
  }

  /** Writes every ConfigMap and Secret volume of the spec (at each container start, like the kubelet). */
  public projectAll(spec: PodSpec, seq: number): void {
    for (const v of spec.volumes ?? []) if (v.configMap || v.secret) this.project(spec, v, seq);
  }

  /** Writes the volumes of the spec that show Secret `name` again (a Secret changed in place). */
  public projectSecret(spec: PodSpec, name: string, seq: number): number {
    const volumes = (spec.volumes ?? []).filter((v) => v.secret?.secretName === name && this.dirs.has(v.name));
    for (const v of volumes) this.project(spec, v, seq);
    return volumes.length;
  }

  /**
   * Writes a ConfigMap or Secret volume like the kubelet's atomic writer: the files go into a new
   * timestamped directory, then the `..data` symlink is swapped in one rename, so a reader sees
   * either every old file or every new one.
   */
  private project(spec: PodSpec, v: Volume, seq: number): void {
    const dir = this.dirs.get(v.name)!;
    const files = projectVolume(v, this.host); // may throw ContainerConfigError
    const fsGroup = spec.securityContext?.fsGroup;
    const gid = fsGroup === undefined ? 0 : localGid(this.host, fsGroup);
    chownSync(dir, 0, gid);
    chmodSync(dir, fsGroup === undefined ? 0o755 : 0o2755);
    const old = readdirSync(dir);
    const previous = old.includes('..data') ? readlinkSync(join(dir, '..data')) : undefined;
    if (files === null) { // optional and missing: an empty volume
      for (const e of old) rmSync(join(dir, e), { recursive: true, force: true });
      return;
    }
    const ts = `..${new Date().toISOString().replace(/[-:]/g, '_').replace('T', '_').replace('.', '_')}.${seq}.${++this.writes}`;
    const payload = join(dir, ts);
    mkdirSync(payload, { mode: 0o755 });
    const tops = new Set<string>();
    for (const f of files) {
      if (f.path.startsWith('/') || f.path.split('/').includes('..')) throw new ContainerConfigError(`invalid item path ${f.path}`);
      const target = join(payload, f.path);
      mkdirSync(dirname(target), { recursive: true, mode: 0o755 });
      writeFileSync(target, f.content);
      const mode = fsGroup === undefined ? f.mode : f.mode | 0o440;
      chownSync(target, 0, gid);
      chmodSync(target, mode & 0o7777);
      tops.add(f.path.split('/')[0]);
    }
    symlinkSync(ts, join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    for (const top of tops) if (!old.includes(top)) symlinkSync(join('..data', top), join(dir, top));
    for (const e of old) {
      if (e === previous || (!tops.has(e) && e !== '..data' && !e.startsWith('..'))) rmSync(join(dir, e), { recursive: true, force: true });
    }
  }

  /** Unmounts and removes the instance's emptyDirs and projections (claims stay). */
  public teardown(): void {
    if (this.root) {
      unmountBelow(this.root);
      rmSync(this.root, { recursive: true, force: true });
    }
    this.root = null;
  }
}

/** fsGroup volume ownership: group fsGroup, group rw (+x and setgid on directories), recursively. */
function applyFsGroup(dir: string, gid: number, onRootMismatch: boolean): void {
  const st = statSync(dir);
  if (onRootMismatch && st.gid === gid && (st.mode & 0o2070) === 0o2070) return;
  const walk = (path: string, depth: number) => {
    if (depth > 64) return;
    const s = lstatSync(path);
    if (s.isSymbolicLink()) return;
    chownSync(path, s.uid, gid);
    if (s.isDirectory()) {
      chmodSync(path, (s.mode & 0o7777) | 0o2070);
      for (const e of readdirSync(path)) walk(join(path, e), depth + 1);
    } else {
      chmodSync(path, (s.mode & 0o7777) | 0o060);
    }
  };
  walk(dir, 0);
}
