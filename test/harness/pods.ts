// GaleraPods: runs the pods of a synthesized StatefulSet for real, the way a kubelet would,
// each pod in its own network namespace on a private bridge. Needs root and Debian's
// iproute2, util-linux (unshare, nsenter, setpriv, mount), mariadb-client and socat.
//
// How Kubernetes maps onto this machine
// - Pod i = network namespace <prefix>-p<i> with eth0 (a veth into the run's bridge) at
//   10.250.X.(10+i)/24 and lo; the root namespace gets no address, so nothing leaves the bridge.
//   An extra namespace (clientNs) on the same bridge is for load generators.
// - Pod DNS: /etc/netns/<ns>/hosts (bind-mounted over /etc/hosts by `ip netns exec`) maps
//   <sts>-<i>.<svc>.<ns>.svc.<domain> and the short forms .<svc>.<ns>.svc, .<svc>.<ns>, .<svc>
//   of every ordinal 0..maxPods-1 (stopped or not, like publishNotReadyAddresses), plus the
//   pod's own bare name in its own file; resolv.conf points at nothing, so other names fail fast.
// - Container = `ip netns exec <ns> unshare --pid --fork --mount-proc --uts` + pod-exec.sh: a
//   private mount namespace with the volumes bind-mounted at their mountPaths, hostname =
//   pod name, and the command exec'd as pid 1 of its own PID namespace. So, as in a real
//   container, a pid 1 without a SIGTERM handler ignores SIGTERM, and when pid 1 exits every
//   other process of the container dies. readOnlyRootFilesystem remounts everything but
//   /proc, /sys, /dev and the volumes read-only (the host's file system stands in for the image:
//   Debian's /etc/mysql, binaries and libraries are what the container sees).
// - User: runAsUser/runAsGroup/fsGroup 999 (the official image's mysql, home /var/lib/mysql)
//   map to Debian's local `mysql` user and group (uid/gid from `id mysql`, exposed as
//   mysqlUid/mysqlGid); uid 0 stays root; other ids are used as they are. capabilities.drop ALL,
//   allowPrivilegeEscalation: false (no_new_privs) are applied with setpriv.
// - Volumes: ConfigMap and Secret volumes are written like the kubelet's atomic writer
//   (..data symlinks; defaultMode/items modes; owner root, group fsGroup with g+r) and mounted
//   read-only; an optional missing Secret gives an empty directory; emptyDirs are fresh per pod
//   (medium Memory = a tmpfs of sizeLimit); volumeClaimTemplates are directories under
//   runDir/pvc/<claim>-<pod> that survive stops (fsGroup applied with OnRootMismatch).
// - Env: value with $(VAR) expansion, fieldRef (metadata.name/namespace/uid/labels/annotations,
//   status.podIP), secretKeyRef, configMapKeyRef, resourceFieldRef, envFrom; plus the image's
//   PATH and LANG, HOSTNAME and HOME.
// - Life cycle: init containers in order (a failure = Init:Error, retried with back-off), then
//   the main container, restarted whenever it exits (restartPolicy Always) with back-off
//   initialMs doubling to maxMs (default 1 s .. 10 s; reset after 60 s of running). With
//   kubeletProbes (default on) the startup, liveness and readiness probes run in the background
//   with kubelet semantics: startup/liveness failures past failureThreshold kill (SIGTERM, grace,
//   SIGKILL) and restart the container; readiness is tracked in isReady(i).
// - Deletion: stopPod(i,'TERM') runs the preStop exec hook, SIGTERMs pid 1 of the main container
//   and SIGKILLs after terminationGracePeriodSeconds; 'KILL' SIGKILLs every process of the pod.
//
// Not emulated: images (the host's binaries run), resource limits and requests, seccomp,
// Services other than the headless DNS names, scheduling, httpGet/gRPC probes, hostPath and
// projected volumes, ConfigMap/Secret updates reaching a *running* container (they are
// re-projected at each container start), a new pod IP on re-creation (opt in: startPod(i, { newIp: true })).
import { ChildProcess, spawn } from 'child_process';
import {
  chmodSync, chownSync, closeSync, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync,
  realpathSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync,
} from 'fs';
import { dirname, join, resolve } from 'path';
import { chooseSubnetOctet, destroyPrefix, DEFAULT_RUN_ROOT, FINISHED_MARKER, IP, BRIDGE, ipSync, newPrefix, register, removeLeftovers, unmountBelow } from './netns';
import { childPids, guard, killGroups, killPids, netnsPids, pidAlive, pidStartTime, run, runOk, RunResult, runSync, sleep, which } from './proc';
import {
  ConfigMap, Container, ContainerConfigError, DataSources, expandRefs, findStatefulSet, K8sObject, PodIdentity,
  PodSpec, Probe, projectVolume, quantity, resolveEnv, StatefulSet, Volume, VolumeMount,
} from './spec';
import { startWriter, verifyLedger, WriterHandle, WriterOptions, LedgerReport } from './ledger';

export type ProbeKind = 'startup' | 'readiness' | 'liveness';
export type StopSignal = 'TERM' | 'KILL';

export interface GaleraPodsOptions {
  /** The chart's synthesized objects (Testing.synth(chart), or the parsed dist/*.k8s.yaml documents). */
  readonly manifests: readonly object[];
  /** Data of the Secret the test created (plain strings, not base64); null = the Secret does not exist. */
  readonly secret: Record<string, string> | null;
  /** Directory for data volumes, emptyDirs and logs. @default /var/tmp/galera-pods/<prefix> (removed by cleanup(), logs kept a day) */
  readonly runDir?: string;
  /** Pod ordinals 0..maxPods-1 get a namespace and an address. @default 5 */
  readonly maxPods?: number;
  /** Name of the StatefulSet when the manifests hold more than one. */
  readonly statefulSet?: string;
  /** Kubernetes cluster domain used in the pod DNS names. @default 'cluster.local' */
  readonly clusterDomain?: string;
  /** Run startup, liveness and readiness probes in the background and act on them like the kubelet. @default true */
  readonly kubeletProbes?: boolean;
  /** Restart back-off of crashed containers: initialMs doubling up to maxMs. @default 1000 / 10000 */
  readonly backoff?: { readonly initialMs?: number; readonly maxMs?: number };
  /** Keep the run directory (data volumes and logs) after cleanup(). @default process.env.GALERA_PODS_KEEP === '1' */
  readonly keepRunDir?: boolean;
  /** Environment the image sets (Dockerfile ENV). @default PATH of the official image and LANG=C.UTF-8 */
  readonly imageEnv?: Record<string, string>;
}

export interface ProbeResult { readonly ok: boolean; readonly exitCode: number; readonly output: string; readonly ms: number }
export interface ExecResult { readonly exitCode: number; readonly output: string; readonly timedOut: boolean; readonly ms: number }
export interface StopResult {
  /** Exit code of the main container (137 when it was SIGKILLed), or null when no container ran. */
  readonly exitCode: number | null;
  /** The main container exited by itself within the grace period (TERM only). */
  readonly graceful: boolean;
  readonly ms: number;
}
export interface PodStatus {
  readonly phase: 'Stopped' | 'Pending' | 'Running' | 'Terminating';
  /** What `kubectl get pod` shows in STATUS: Init:0/1, Init:Error, Running, CrashLoopBackOff, ... */
  readonly state: string;
  readonly ready: boolean;
  readonly started: boolean;
  readonly restarts: number;
  readonly initRestarts: number;
  readonly lastExit: { container: string; exitCode: number; at: number } | null;
}
export interface SqlOptions {
  readonly user?: string;
  /** @default the Secret's 'root-password' when user is root */
  readonly password?: string;
  readonly database?: string;
  /** @default 15000 */
  readonly timeoutMs?: number;
  /** @default 127.0.0.1 (inside the pod's network namespace) */
  readonly host?: string;
  readonly port?: number;
}

interface ExitInfo { exitCode: number; at: number; ms: number }
interface UserSpec { uid: number; gid: number; groups: number[]; nnp: boolean; bounding: string; roRoot: boolean; home: string }

interface ContainerRun {
  readonly container: Container;
  readonly kind: 'init' | 'main';
  readonly child: ChildProcess;
  readonly wrapperPid: number;
  initPid: number | null;
  /** pod-exec.sh has made the mounts and exec'd the container command (probes and exec wait for it). */
  commandStarted: boolean;
  readonly env: Record<string, string>;
  readonly user: UserSpec;
  readonly startedAt: number;
  readonly exit: Promise<ExitInfo>;
  exited: ExitInfo | null;
  killed: boolean;
  /** Aborted when the container exits: ends its probe loops. */
  readonly gone: AbortController;
  /** The pod's process registry (see Pod.procs). */
  readonly procs: Set<number>;
}

interface Pod {
  readonly i: number;
  /** The StatefulSet this pod instance was created from (a pod's spec never changes). */
  sts: StatefulSet;
  gen: number;
  phase: PodStatus['phase'];
  state: string;
  stopping: boolean;
  abort: AbortController;
  loop: Promise<void> | null;
  current: ContainerRun | null;
  restarts: number;
  initRestarts: number;
  ready: boolean;
  started: boolean;
  lastExit: PodStatus['lastExit'];
  /** Host directories of this pod's volumes by volume name (for the current pod instance). */
  volumes: Map<string, string>;
  volumeRoot: string | null;
  logSeq: number;
  ip: string;
  /**
   * Process groups the harness started for this pod (container wrappers, exec, probes, sql).
   * Killing them by pid as well as by network namespace closes the window in which a just
   * spawned `ip netns exec` has not yet entered the namespace.
   */
  procs: Set<number>;
}

/** Capabilities a container runtime grants by default (containerd/CRI-O). */
const DEFAULT_CAPS = ['chown', 'dac_override', 'fsetid', 'fowner', 'mknod', 'net_raw', 'setgid', 'setuid', 'setfcap', 'setpcap', 'net_bind_service', 'sys_chroot', 'kill', 'audit_write'];
const IMAGE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** uid/gid 999 is `mysql` in the official image (home /var/lib/mysql); here it maps to Debian's local mysql user. */
const IMAGE_MYSQL_ID = 999;
const POD_EXEC = resolve(__dirname, 'pod-exec.sh');
const WRITER_JS = resolve(__dirname, 'writer.js');
const UNSHARE = which('unshare');
const NSENTER = which('nsenter');
const SETPRIV = which('setpriv');
const MOUNT = which('mount');
const MARIADB = which('mariadb');
const BASH = which('bash');
const SOCAT = which('socat');

const live = new Set<GaleraPods>();
let handlersInstalled = false;

function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', () => {
    for (const h of live) h.cleanupSync();
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const handler = () => {
      for (const h of live) h.cleanupSync();
      // Re-raise with the default action unless someone else handles the signal.
      if (process.listenerCount(sig) <= 1) {
        process.removeListener(sig, handler);
        process.kill(process.pid, sig);
      }
    };
    process.on(sig, handler);
  }
}

function idOf(flag: '-u' | '-g', user: string): number {
  const r = runSync(which('id'), [flag, user]);
  if (r.status !== 0) throw new Error(`user ${user} not found; install mariadb-server (it creates the mysql user)`);
  return Number(r.stdout.trim());
}

function sortMountsParentsFirst<T extends { dst: string }>(mounts: T[]): T[] {
  return mounts.map((m, idx) => ({ m, idx, depth: m.dst.split('/').filter(Boolean).length }))
    .sort((a, b) => a.depth - b.depth || a.idx - b.idx).map((x) => x.m);
}

function tail(text: string, lines: number): string {
  return text.split('\n').slice(-lines).join('\n');
}

export class GaleraPods implements DataSources {
  /** The StatefulSet new pods are created from (setManifests() replaces it). */
  public statefulSet: StatefulSet;
  public readonly stsName: string;
  public readonly serviceName: string;
  public readonly namespace: string;
  public readonly maxPods: number;
  public readonly clusterDomain: string;
  /** Pod template of the current StatefulSet. */
  public podSpec: PodSpec;
  /** Unique per run; every namespace, link and directory of the run starts with it. */
  public readonly prefix: string;
  public readonly runDir: string;
  /** Name of the extra network namespace for load generators (on the same bridge). */
  public readonly clientNs: string;
  public readonly clientIp: string;
  /** uid and gid of the local `mysql` user that stands for the image's 999. */
  public readonly mysqlUid: number;
  public readonly mysqlGid: number;

  private readonly configMaps = new Map<string, Record<string, Buffer>>();
  private secretData: Record<string, Buffer> | null;
  private readonly opts: GaleraPodsOptions;
  private readonly runDirOwned: boolean;
  private readonly subnet: string;
  private readonly pods: Pod[] = [];
  private readonly writers = new Set<WriterHandle>();
  private readonly clientProcs = new Set<number>();
  private nextIp: number;
  private setUp = false;
  private closed = false;
  private writerSeq = 0;

  constructor(opts: GaleraPodsOptions) {
    this.opts = opts;
    this.statefulSet = findStatefulSet(opts.manifests, opts.statefulSet);
    this.stsName = this.statefulSet.metadata.name ?? '';
    this.namespace = this.statefulSet.metadata.namespace ?? 'default';
    this.serviceName = this.statefulSet.spec.serviceName ?? this.stsName;
    this.podSpec = this.statefulSet.spec.template.spec;
    this.maxPods = opts.maxPods ?? 5;
    this.clusterDomain = opts.clusterDomain ?? 'cluster.local';
    if (!Number.isInteger(this.maxPods) || this.maxPods < 1 || this.maxPods > 40) throw new Error(`maxPods must be 1..40, got ${this.maxPods}`);
    if (!this.podSpec?.containers?.length) throw new Error(`StatefulSet ${this.stsName} has no containers`);
    this.loadConfigMaps(opts.manifests);
    this.secretData = null;
    this.setSecret(opts.secret);
    this.mysqlUid = idOf('-u', 'mysql');
    this.mysqlGid = idOf('-g', 'mysql');
    this.prefix = newPrefix();
    this.runDirOwned = opts.runDir === undefined;
    this.runDir = resolve(opts.runDir ?? join(DEFAULT_RUN_ROOT, this.prefix));
    this.clientNs = `${this.prefix}-c`;
    // A private /24 that exists only inside this run's namespaces and bridge (the root
    // namespace gets no address), so overlapping runs cannot collide; the third octet varies
    // with the pid anyway to keep logs of parallel runs apart.
    this.subnet = `10.250.${chooseSubnetOctet()}`;
    this.clientIp = `${this.subnet}.250`;
    this.nextIp = 10 + this.maxPods;
    for (let i = 0; i < this.maxPods; i++) {
      this.pods.push({
        i, sts: this.statefulSet, gen: 0, phase: 'Stopped', state: 'NotCreated', stopping: false, abort: new AbortController(), loop: null, current: null,
        restarts: 0, initRestarts: 0, ready: false, started: false, lastExit: null, volumes: new Map(), volumeRoot: null, logSeq: 0, procs: new Set(),
        ip: `${this.subnet}.${10 + i}`,
      });
    }
  }

  private loadConfigMaps(manifests: readonly object[]): void {
    this.configMaps.clear();
    for (const o of manifests as K8sObject[]) {
      if (o?.kind !== 'ConfigMap') continue;
      const cm = o as unknown as ConfigMap;
      if ((cm.metadata.namespace ?? this.namespace) !== this.namespace) continue;
      const data: Record<string, Buffer> = {};
      for (const [k, v] of Object.entries(cm.data ?? {})) data[k] = Buffer.from(v, 'utf8');
      for (const [k, v] of Object.entries(cm.binaryData ?? {})) data[k] = Buffer.from(v, 'base64');
      this.configMaps.set(cm.metadata.name ?? '', data);
    }
  }

  /**
   * Applies new manifests, like `kubectl apply`: pods started from now on use the new
   * StatefulSet; running pods keep their spec (restart them for a rolling update) but see the
   * new ConfigMap contents from their next container start. The StatefulSet must keep its
   * name, namespace and serviceName.
   */
  public setManifests(manifests: readonly object[]): void {
    const sts = findStatefulSet(manifests, this.stsName);
    if ((sts.metadata.namespace ?? 'default') !== this.namespace || (sts.spec.serviceName ?? this.stsName) !== this.serviceName) {
      throw new Error('setManifests: the StatefulSet must keep its name, namespace and serviceName');
    }
    if (!sts.spec.template.spec?.containers?.length) throw new Error(`StatefulSet ${this.stsName} has no containers`);
    this.statefulSet = sts;
    this.podSpec = sts.spec.template.spec;
    this.loadConfigMaps(manifests);
  }

  // ---------------------------------------------------------------- names and addresses

  public podName(i: number): string { this.pod(i); return `${this.stsName}-${i}`; }
  public nsName(i: number): string { this.pod(i); return `${this.prefix}-p${i}`; }
  public podIp(i: number): string { return this.pod(i).ip; }
  /** Fully qualified DNS name of pod i. */
  public podFqdn(i: number): string { return `${this.podName(i)}.${this.serviceName}.${this.namespace}.svc.${this.clusterDomain}`; }
  /** Host directory of pod i's `data` (first volumeClaimTemplate) volume. */
  public dataDir(i: number, claim?: string): string {
    const t = claim ?? this.statefulSet.spec.volumeClaimTemplates?.[0]?.metadata.name ?? 'data';
    return join(this.runDir, 'pvc', `${t}-${this.podName(i)}`);
  }
  public podDir(i: number): string { return join(this.runDir, 'pods', String(i)); }

  // ---------------------------------------------------------------- DataSources

  public configMap(name: string): Record<string, Buffer> | undefined { return this.configMaps.get(name); }
  public secret(_name: string): Record<string, Buffer> | undefined { return this.secretData ?? undefined; }

  /** Creates, changes or (null) deletes the Secret; containers see it from their next start. */
  public setSecret(data: Record<string, string> | null): void {
    this.secretData = data === null ? null : Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'utf8')]));
  }

  // ---------------------------------------------------------------- network

  /** Bridge, one namespace per pod ordinal plus the client namespace, hosts files. */
  public async setup(): Promise<void> {
    if (this.setUp) throw new Error('setup() was already called');
    if (process.getuid?.() !== 0) throw new Error('the pod harness needs root (network namespaces, mounts)');
    installExitHandlers();
    removeLeftovers();
    register({ prefix: this.prefix, pid: process.pid, startTime: pidStartTime(process.pid), runDir: this.runDir, runDirOwned: this.runDirOwned, subnet: this.subnet, created: new Date().toISOString() });
    live.add(this);
    this.setUp = true;
    mkdirSync(join(this.runDir, 'pods'), { recursive: true });
    mkdirSync(join(this.runDir, 'pvc'), { recursive: true });
    const br = `${this.prefix}br`;
    ipSync(['link', 'add', br, 'type', 'bridge']);
    this.disableIpv6(br);
    ipSync(['link', 'set', br, 'up']);
    const all = [...this.pods.map((p) => ({ ns: this.nsName(p.i), veth: `${this.prefix}h${p.i}`, ip: p.ip })), { ns: this.clientNs, veth: `${this.prefix}hc`, ip: this.clientIp }];
    for (const { ns, veth, ip } of all) {
      ipSync(['netns', 'add', ns]);
      ipSync(['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      this.disableIpv6(veth);
      ipSync(['link', 'set', veth, 'master', br, 'up']);
      await runOk(IP, ['netns', 'exec', ns, which('sysctl'), '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1'], { timeoutMs: 10_000 });
      ipSync(['-n', ns, 'link', 'set', 'lo', 'up']);
      ipSync(['-n', ns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
      ipSync(['-n', ns, 'link', 'set', 'eth0', 'up']);
    }
    this.writeHostsFiles();
  }

  private disableIpv6(link: string): void {
    try { writeFileSync(`/proc/sys/net/ipv6/conf/${link}/disable_ipv6`, '1'); } catch { /* no IPv6 */ }
  }

  /** Kubelet-style hosts file per namespace plus the cluster DNS names of every pod. */
  private writeHostsFiles(): void {
    const peers = this.pods.map((p) => {
      const name = this.podName(p.i);
      const base = `${name}.${this.serviceName}`;
      return { i: p.i, ip: p.ip, names: [this.podFqdn(p.i), `${base}.${this.namespace}.svc`, `${base}.${this.namespace}`, base] };
    });
    const search = `${this.namespace}.svc.${this.clusterDomain} svc.${this.clusterDomain} ${this.clusterDomain}`;
    for (const ns of [...this.pods.map((p) => this.nsName(p.i)), this.clientNs]) {
      const dir = join('/etc/netns', ns);
      mkdirSync(dir, { recursive: true });
      const lines = ['# Kubernetes-managed hosts file (galera-pods harness).', '127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback'];
      for (const p of peers) {
        const own = ns === this.nsName(p.i);
        lines.push(`${p.ip}\t${p.names.join(' ')}${own ? ` ${this.podName(p.i)}` : ''}`);
      }
      // Written in place (same inode): running processes see it through their bind mount.
      writeFileSync(join(dir, 'hosts'), `${lines.join('\n')}\n`);
      // No resolver is reachable: names outside the hosts file fail at once. (ip netns exec can
      // only bind-mount it over a regular /etc/resolv.conf, not over a symlink.)
      if (!lstatSync('/etc/resolv.conf', { throwIfNoEntry: false })?.isSymbolicLink()) {
        writeFileSync(join(dir, 'resolv.conf'), `search ${search}\nnameserver 127.0.0.1\noptions ndots:5 timeout:1 attempts:1\n`);
      }
    }
  }

  /** Cuts pod i off from every other pod and the client namespace (packets are silently dropped). */
  public partition(i: number): void {
    this.pod(i);
    const r = runSync(BRIDGE, ['link', 'set', 'dev', `${this.prefix}h${i}`, 'state', '0']);
    if (r.status !== 0) throw new Error(`partition(${i}): ${r.stderr}`);
  }

  public heal(i: number): void {
    this.pod(i);
    const r = runSync(BRIDGE, ['link', 'set', 'dev', `${this.prefix}h${i}`, 'state', '3']);
    if (r.status !== 0) throw new Error(`heal(${i}): ${r.stderr}`);
  }

  // ---------------------------------------------------------------- pod life cycle

  private pod(i: number): Pod {
    const p = this.pods[i];
    if (!Number.isInteger(i) || !p) throw new Error(`pod ordinal ${i} is outside 0..${this.maxPods - 1}`);
    return p;
  }

  private assertUsable(): void {
    if (!this.setUp) throw new Error('call setup() first');
    if (this.closed) throw new Error('the harness was cleaned up');
  }

  public status(i: number): PodStatus {
    const p = this.pod(i);
    return { phase: p.phase, state: p.state, ready: p.ready, started: p.started, restarts: p.restarts, initRestarts: p.initRestarts, lastExit: p.lastExit };
  }

  /** Unexpected exits of pod i's main container (restartPolicy Always restarts it), over the pod's lifetime. */
  public restarts(i: number): number { return this.pod(i).restarts; }
  /** Readiness as the background kubelet probes see it (always false with kubeletProbes: false). */
  public isReady(i: number): boolean { return this.pod(i).ready; }
  /** True from startPod(i) until pod i is stopped (whatever its containers are doing). */
  public isRunning(i: number): boolean { return this.pod(i).phase !== 'Stopped'; }

  /**
   * Creates a new pod i: fresh emptyDirs, the existing (or a new) data volume, init containers
   * in order, then the main container, restarted whenever it exits. Resolves once the first
   * container process is started (or could not be configured). `newIp` gives the pod a new
   * address, as a rescheduled pod gets, and updates every hosts file.
   */
  public async startPod(i: number, opts: { newIp?: boolean } = {}): Promise<void> {
    this.assertUsable();
    const p = this.pod(i);
    if (p.phase !== 'Stopped') throw new Error(`pod ${this.podName(i)} is already ${p.phase}`);
    if (opts.newIp) this.changeIp(p);
    p.gen += 1;
    p.sts = this.statefulSet;
    p.phase = 'Pending';
    p.state = 'ContainerCreating';
    p.stopping = false;
    p.abort = new AbortController();
    p.restarts = 0;
    p.initRestarts = 0;
    p.ready = false;
    p.started = false;
    p.lastExit = null;
    mkdirSync(this.podDir(i), { recursive: true });
    this.event(p, `pod created (instance ${p.gen}, ip ${p.ip})`);
    try {
      this.prepareVolumes(p);
    } catch (e) {
      p.phase = 'Stopped';
      p.state = 'Failed';
      this.teardownVolumes(p);
      throw e;
    }
    let firstStarted!: () => void;
    const started = new Promise<void>((res) => { firstStarted = res; });
    p.loop = this.podLoop(p, () => firstStarted()).catch((e) => {
      this.event(p, `pod loop failed: ${String(e)}`);
    }).finally(() => firstStarted());
    await Promise.race([started, guard(30_000)]);
  }

  private changeIp(p: Pod): void {
    if (this.nextIp > 240) throw new Error('out of pod addresses');
    const ip = `${this.subnet}.${this.nextIp++}`;
    ipSync(['-n', this.nsName(p.i), 'addr', 'flush', 'dev', 'eth0']);
    ipSync(['-n', this.nsName(p.i), 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
    p.ip = ip;
    this.writeHostsFiles();
  }

  private backoffMs(failures: number): number {
    const initial = this.opts.backoff?.initialMs ?? 1000;
    const max = this.opts.backoff?.maxMs ?? 10_000;
    return Math.min(max, initial * 2 ** Math.max(0, failures - 1));
  }

  private async podLoop(p: Pod, onFirstStart: () => void): Promise<void> {
    const inits = p.sts.spec.template.spec.initContainers ?? [];
    for (const [idx, c] of inits.entries()) {
      for (let failures = 0; ;) {
        if (p.stopping) return;
        p.state = `Init:${idx}/${inits.length}`;
        const exit = await this.runContainer(p, c, 'init', onFirstStart);
        if (p.stopping) return;
        if (exit && exit.exitCode === 0) break;
        failures += 1;
        if (exit) p.initRestarts += 1;
        p.state = exit ? 'Init:Error' : p.state;
        await sleep(this.backoffMs(failures), p.abort.signal);
        if (exit && !p.stopping) p.state = 'Init:CrashLoopBackOff';
      }
    }
    const main = p.sts.spec.template.spec.containers[0];
    for (let failures = 0; ;) {
      if (p.stopping) return;
      const exit = await this.runContainer(p, main, 'main', onFirstStart);
      if (p.stopping) return;
      if (exit) {
        p.restarts += 1;
        // The kubelet resets the back-off once a container ran long enough.
        failures = exit.ms > 60_000 ? 1 : failures + 1;
        p.state = 'CrashLoopBackOff';
      } else {
        failures += 1;
      }
      p.ready = false;
      p.started = false;
      await sleep(this.backoffMs(failures), p.abort.signal);
    }
  }

  private userFor(p: Pod, c: Container): UserSpec {
    const psc = p.sts.spec.template.spec.securityContext ?? {};
    const sc = c.securityContext ?? {};
    const imageUid = sc.runAsUser ?? psc.runAsUser ?? 0;
    const imageGid = sc.runAsGroup ?? psc.runAsGroup ?? (imageUid === IMAGE_MYSQL_ID ? IMAGE_MYSQL_ID : 0);
    const mapUid = (u: number) => (u === IMAGE_MYSQL_ID ? this.mysqlUid : u);
    const mapGid = (g: number) => (g === IMAGE_MYSQL_ID ? this.mysqlGid : g);
    const groups = [imageGid, ...(psc.fsGroup !== undefined ? [psc.fsGroup] : []), ...(psc.supplementalGroups ?? [])].map(mapGid);
    const drop = (sc.capabilities?.drop ?? []).map((s) => s.toLowerCase().replace(/^cap_/, ''));
    const add = (sc.capabilities?.add ?? []).map((s) => s.toLowerCase().replace(/^cap_/, ''));
    const caps = sc.privileged ? ['all'] : [...(drop.includes('all') ? [] : DEFAULT_CAPS.filter((x) => !drop.includes(x))), ...add];
    return {
      uid: mapUid(imageUid),
      gid: mapGid(imageGid),
      groups: [...new Set(groups)],
      nnp: sc.allowPrivilegeEscalation === false,
      bounding: caps.includes('all') ? '+all' : ['-all', ...caps.map((x) => `+${x}`)].join(','),
      roRoot: sc.readOnlyRootFilesystem === true,
      home: imageUid === IMAGE_MYSQL_ID ? '/var/lib/mysql' : imageUid === 0 ? '/root' : '/',
    };
  }

  private identity(p: Pod): PodIdentity {
    return {
      name: this.podName(p.i), namespace: this.namespace, ip: p.ip,
      labels: { ...(p.sts.spec.template.metadata?.labels ?? {}), 'statefulset.kubernetes.io/pod-name': this.podName(p.i), 'apps.kubernetes.io/pod-index': String(p.i) },
      annotations: p.sts.spec.template.metadata?.annotations ?? {},
      uid: `${this.prefix}-${p.i}-${p.gen}`,
    };
  }

  private containerEnv(p: Pod, c: Container, user: UserSpec): Record<string, string> {
    return {
      ...(this.opts.imageEnv ?? { PATH: IMAGE_PATH, LANG: 'C.UTF-8' }),
      HOSTNAME: this.podName(p.i),
      HOME: user.home,
      ...resolveEnv(c, this.identity(p), this),
    };
  }

  private volume(p: Pod, name: string): Volume | undefined {
    return (p.sts.spec.template.spec.volumes ?? []).find((v) => v.name === name);
  }

  /** Host directories for every volume of a new pod instance (kubelet volume set-up, with fsGroup). */
  private prepareVolumes(p: Pod): void {
    const spec = p.sts.spec.template.spec;
    const fsGroup = spec.securityContext?.fsGroup;
    const gid = fsGroup === undefined ? undefined : (fsGroup === IMAGE_MYSQL_ID ? this.mysqlGid : fsGroup);
    const root = join(this.podDir(p.i), 'volumes', `instance-${p.gen}`);
    rmSync(root, { recursive: true, force: true });
    mkdirSync(root, { recursive: true });
    p.volumeRoot = root;
    p.volumes = new Map();
    for (const v of spec.volumes ?? []) {
      const dir = join(root, v.name);
      if (v.emptyDir) {
        mkdirSync(dir);
        if (v.emptyDir.medium === 'Memory') {
          const size = quantity(v.emptyDir.sizeLimit) ?? quantity(spec.containers[0].resources?.limits?.memory) ?? 64 * 2 ** 20;
          runSync(MOUNT, ['-t', 'tmpfs', '-o', `size=${Math.ceil(size)},mode=0777`, `${this.prefix}-emptydir`, dir]);
        }
        chmodSync(dir, 0o777);
        if (gid !== undefined) { chownSync(dir, 0, gid); chmodSync(dir, 0o2777); }
      } else if (v.configMap || v.secret) {
        // Placeholder; the files are written per container start (ContainerConfigError is retried).
        mkdirSync(dir);
      } else if (v.persistentVolumeClaim) {
        const claim = join(this.runDir, 'pvc', v.persistentVolumeClaim.claimName);
        mkdirSync(claim, { recursive: true });
        p.volumes.set(v.name, claim);
        continue;
      } else {
        throw new Error(`volume ${v.name}: only configMap, secret, emptyDir and persistentVolumeClaim volumes are supported by the harness`);
      }
      p.volumes.set(v.name, dir);
    }
    for (const t of p.sts.spec.volumeClaimTemplates ?? []) {
      const name = t.metadata.name ?? 'data';
      const dir = this.ensureClaimDir(p.i, name);
      if (gid !== undefined) this.applyFsGroup(dir, gid, spec.securityContext?.fsGroupChangePolicy !== 'Always');
      p.volumes.set(name, dir);
    }
  }

  /** The data volume directory of a claim, created (root, 0755, like a new volume) if it does not exist yet. */
  private ensureClaimDir(i: number, name: string): string {
    const dir = this.dataDir(i, name);
    if (!existsSync(dir)) {
      mkdirSync(dir, { recursive: true });
      chmodSync(dir, 0o755);
    }
    return dir;
  }

  /** fsGroup volume ownership: group fsGroup, group rw (+x and setgid on directories), recursively. */
  private applyFsGroup(dir: string, gid: number, onRootMismatch: boolean): void {
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

  /** Writes a ConfigMap or Secret volume like the kubelet's atomic writer (..data symlinks). */
  private projectInto(p: Pod, v: Volume): void {
    const dir = p.volumes.get(v.name)!;
    const files = projectVolume(v, this); // may throw ContainerConfigError
    const fsGroup = p.sts.spec.template.spec.securityContext?.fsGroup;
    const gid = fsGroup === undefined ? 0 : (fsGroup === IMAGE_MYSQL_ID ? this.mysqlGid : fsGroup);
    for (const e of readdirSync(dir)) rmSync(join(dir, e), { recursive: true, force: true });
    chownSync(dir, 0, gid);
    chmodSync(dir, fsGroup === undefined ? 0o755 : 0o2755);
    if (files === null) return; // optional and missing: an empty volume
    const ts = `..${new Date().toISOString().replace(/[-:]/g, '_').replace('T', '_').slice(0, 19)}.${p.logSeq}`;
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
    symlinkSync(ts, join(dir, '..data'));
    for (const top of tops) symlinkSync(join('..data', top), join(dir, top));
  }

  private mountPlan(p: Pod, c: Container): { src: string; dst: string; ro: boolean }[] {
    const plan: { src: string; dst: string; ro: boolean }[] = [];
    for (const m of c.volumeMounts ?? [] as VolumeMount[]) {
      const base = p.volumes.get(m.name);
      const v = this.volume(p, m.name);
      if (!base) throw new ContainerConfigError(`volumeMount ${m.name}: no such volume`);
      let src = base;
      if (m.subPath) {
        src = join(base, m.subPath);
        if (!existsSync(src)) mkdirSync(src, { recursive: true });
        src = realpathSync(src);
      }
      plan.push({ src, dst: m.mountPath, ro: !!m.readOnly || !!v?.configMap || !!v?.secret });
    }
    return sortMountsParentsFirst(plan);
  }

  private logFileFor(p: Pod, c: Container): string {
    p.logSeq += 1;
    return join(this.podDir(p.i), `${String(p.logSeq).padStart(3, '0')}-${c.name}.log`);
  }

  /** Starts one container and resolves with its exit (null: it could not be configured). */
  private async runContainer(p: Pod, c: Container, kind: 'init' | 'main', onStart: () => void): Promise<ExitInfo | null> {
    let env: Record<string, string>;
    let user: UserSpec;
    let plan: { src: string; dst: string; ro: boolean }[];
    let argv: string[];
    try {
      user = this.userFor(p, c);
      env = this.containerEnv(p, c, user);
      for (const v of p.sts.spec.template.spec.volumes ?? []) if (v.configMap || v.secret) this.projectInto(p, v);
      plan = this.mountPlan(p, c);
      argv = [...(c.command ?? []), ...(c.args ?? [])].map((a) => expandRefs(a, env));
      if (!c.command?.length) throw new ContainerConfigError(`container ${c.name} has no command (the harness cannot know the image's entrypoint)`);
    } catch (e) {
      if (!(e instanceof ContainerConfigError)) throw e;
      p.state = 'CreateContainerConfigError';
      this.event(p, `container ${c.name}: CreateContainerConfigError: ${e.message}`);
      onStart();
      return null;
    }
    const logFile = this.logFileFor(p, c);
    const args = ['netns', 'exec', this.nsName(p.i), UNSHARE, '--pid', '--fork', '--kill-child', '--mount-proc', '--uts', '--',
      BASH, '-p', POD_EXEC, '--hostname', this.podName(p.i), '--uid', String(user.uid), '--gid', String(user.gid),
      '--groups', user.groups.join(','), '--bounding-set', user.bounding, '--wd', c.workingDir ?? '/',
      ...(user.nnp ? ['--no-new-privs'] : []), ...(user.roRoot ? ['--ro-root'] : []),
      ...plan.flatMap((m) => ['--mount', m.src, m.dst, m.ro ? 'ro' : 'rw']), '--', ...argv];
    const fd = openSync(logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(IP, args, { env, stdio: ['ignore', fd, fd], detached: true, cwd: '/' });
    } finally {
      closeSync(fd);
    }
    if (child.pid !== undefined) p.procs.add(child.pid);
    const startedAt = Date.now();
    let resolveExit!: (e: ExitInfo) => void;
    const exit = new Promise<ExitInfo>((res) => { resolveExit = res; });
    const r: ContainerRun = {
      container: c, kind, child, wrapperPid: child.pid ?? -1, initPid: null, commandStarted: false, env, user, startedAt, exit, exited: null, killed: false, gone: new AbortController(), procs: p.procs,
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      if (r.exited) return;
      const exitCode = r.killed || signal === 'SIGKILL' ? 137 : code ?? (signal === 'SIGTERM' ? 143 : 128);
      r.exited = { exitCode, at: Date.now(), ms: Date.now() - startedAt };
      p.procs.delete(r.wrapperPid);
      r.gone.abort();
      resolveExit(r.exited);
    };
    child.on('exit', onExit);
    child.on('error', (e) => { this.event(p, `spawn ${c.name}: ${String(e)}`); onExit(127, null); });
    p.current = r;
    if (kind === 'main' && !p.stopping) {
      p.phase = 'Running';
      p.state = 'Running';
    }
    this.event(p, `container ${c.name} started (log ${logFile})`);
    // Pid 1 of the container is unshare's child. The container counts as started (probes,
    // exec, signals) once pod-exec.sh has made the mounts and exec'd the container command.
    for (let t = 0; t < 1000 && !r.exited; t++) {
      if (r.initPid === null) r.initPid = childPids(r.wrapperPid)[0] ?? null;
      if (r.initPid !== null) {
        let argv0 = '';
        try { argv0 = readFileSync(`/proc/${r.initPid}/cmdline`, 'utf8').split('\0').slice(0, 3).join(' '); } catch { /* exited */ }
        if (argv0 !== '' && !argv0.includes(POD_EXEC) && !argv0.startsWith(SETPRIV)) { r.commandStarted = true; break; }
      }
      await sleep(10);
    }
    onStart();
    if (kind === 'main' && this.opts.kubeletProbes !== false && !r.exited) {
      void this.kubeletProbeLoop(p, r).catch((e) => this.event(p, `probe loop: ${String(e)}`));
    }
    const info = await exit;
    if (p.current === r) p.current = null;
    p.lastExit = { container: c.name, exitCode: info.exitCode, at: info.at };
    this.event(p, `container ${c.name} exited with ${info.exitCode} after ${info.ms} ms`);
    return info;
  }

  /** SIGTERM to pid 1 of the container, SIGKILL after graceMs; resolves when it is gone. */
  private async terminateContainer(p: Pod, r: ContainerRun, graceMs: number, reason: string): Promise<boolean> {
    if (r.exited) return true;
    const deadline = Date.now() + graceMs;
    const hook = r.container.lifecycle?.preStop?.exec?.command;
    if (hook && r.kind === 'main') {
      this.event(p, `running preStop hook (${reason})`);
      const res = await this.execInRun(r, hook, { timeoutMs: Math.max(1, graceMs) });
      this.event(p, `preStop exited ${res.exitCode}: ${tail(res.output, 5)}`);
    }
    if (r.initPid !== null) {
      this.event(p, `SIGTERM to ${r.container.name} (${reason})`);
      killPids([r.initPid], 'SIGTERM');
    }
    await Promise.race([r.exit, guard(Math.max(0, deadline - Date.now()))]);
    if (r.exited) return true;
    this.event(p, `grace period over: SIGKILL ${r.container.name}`);
    this.killContainer(r);
    await Promise.race([r.exit, guard(10_000)]);
    return false;
  }

  private killContainer(r: ContainerRun): void {
    r.killed = true;
    // pid 1 of the container first (its death ends the whole PID namespace), then the process
    // group. unshare's --kill-child does not help: setpriv's uid change clears PDEATHSIG.
    killPids([...(r.initPid !== null ? [r.initPid] : []), r.wrapperPid], 'SIGKILL');
    killGroups([r.wrapperPid]);
  }

  private graceSeconds(p: Pod): number {
    return p.sts.spec.template.spec.terminationGracePeriodSeconds ?? 30;
  }

  /**
   * Stops pod i. TERM: preStop hook, SIGTERM to the main container's pid 1, wait for its exit
   * up to the grace period (opts.gracePeriodSeconds or the pod's terminationGracePeriodSeconds),
   * then SIGKILL. KILL: SIGKILL to every process of the pod at once. Either way no process of the
   * pod is left afterwards and the emptyDirs are gone; the data volume stays.
   */
  public async stopPod(i: number, signal: StopSignal, opts: { gracePeriodSeconds?: number } = {}): Promise<StopResult> {
    const p = this.pod(i);
    if (p.phase === 'Stopped') return { exitCode: null, graceful: false, ms: 0 };
    const t0 = Date.now();
    this.beginStop(p);
    let graceful = false;
    const r = p.current;
    if (signal === 'KILL') {
      this.event(p, 'SIGKILL to every process of the pod');
      if (r) r.killed = true;
      this.killPodProcesses(p);
    } else if (r) {
      graceful = await this.terminateContainer(p, r, (opts.gracePeriodSeconds ?? this.graceSeconds(p)) * 1000, 'pod deletion');
    }
    await this.finishStop(p);
    return { exitCode: r?.exited?.exitCode ?? null, graceful: signal === 'TERM' && graceful, ms: Date.now() - t0 };
  }

  /** Stops every running pod at the same instant (full crash with KILL, full shutdown with TERM). */
  public async stopAll(signal: StopSignal, opts: { gracePeriodSeconds?: number } = {}): Promise<StopResult[]> {
    const running = this.pods.filter((p) => p.phase !== 'Stopped');
    if (signal === 'KILL') {
      for (const p of running) this.beginStop(p);
      const pids = running.flatMap((p) => netnsPids(this.nsName(p.i)));
      for (const p of running) if (p.current) p.current.killed = true;
      killPids(pids, 'SIGKILL');
      for (const p of running) this.killPodProcesses(p);
      for (const p of running) this.event(p, 'SIGKILL to every process of the pod (stopAll)');
    }
    return Promise.all(running.map((p) => this.stopPod(p.i, signal, opts)));
  }

  private beginStop(p: Pod): void {
    if (p.stopping) return;
    p.stopping = true;
    p.phase = 'Terminating';
    p.state = 'Terminating';
    p.ready = false;
    p.abort.abort();
  }

  /** SIGKILL to every process of the pod: those in its network namespace and those the harness started for it. */
  private killPodProcesses(p: Pod): void {
    killGroups(p.procs);
    killPids(netnsPids(this.nsName(p.i)), 'SIGKILL');
  }

  private podProcessesLeft(p: Pod): number[] {
    return [...netnsPids(this.nsName(p.i)), ...[...p.procs].filter((pid) => pidAlive(pid))];
  }

  private async finishStop(p: Pod): Promise<void> {
    // Until two scans in a row (50 ms apart) find nothing, bounded.
    for (let round = 0, clean = 0; clean < 2; round++) {
      const left = this.podProcessesLeft(p);
      clean = left.length === 0 ? clean + 1 : 0;
      this.killPodProcesses(p);
      if (round >= 200) throw new Error(`pod ${this.podName(p.i)}: processes ${left.join(' ')} survive SIGKILL`);
      await sleep(50);
    }
    if (p.loop) await Promise.race([p.loop, guard(15_000)]);
    p.loop = null;
    p.current = null;
    this.teardownVolumes(p);
    p.phase = 'Stopped';
    p.state = 'Stopped';
    p.started = false;
    this.event(p, 'pod stopped');
  }

  private teardownVolumes(p: Pod): void {
    if (p.volumeRoot) {
      unmountBelow(p.volumeRoot);
      rmSync(p.volumeRoot, { recursive: true, force: true });
    }
    p.volumeRoot = null;
  }

  /** Empties pod i's data volume (the pod must be stopped), like a new PersistentVolume. */
  public wipeVolume(i: number): void {
    const p = this.pod(i);
    if (p.phase !== 'Stopped') throw new Error(`wipeVolume(${i}): pod is ${p.phase}; stop it first`);
    for (const t of this.statefulSet.spec.volumeClaimTemplates ?? [{ metadata: { name: 'data' } }]) {
      const dir = this.dataDir(i, t.metadata.name);
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /**
   * Host path of relPath inside one of pod i's volumes: by default the first
   * volumeClaimTemplate (`data`, survives stops); an emptyDir, ConfigMap or Secret volume
   * name refers to the running pod instance's copy.
   */
  public volumePath(i: number, relPath = '', volume?: string): string {
    const p = this.pod(i);
    if (relPath.startsWith('/') || relPath.split('/').includes('..')) throw new Error(`volumePath: relative path without '..' expected, got ${relPath}`);
    const claims = (p.phase !== 'Stopped' ? p.sts : this.statefulSet).spec.volumeClaimTemplates ?? [];
    const name = volume ?? claims[0]?.metadata.name ?? 'data';
    if (claims.some((t) => (t.metadata.name ?? 'data') === name) || volume === undefined) return join(this.ensureClaimDir(i, name), relPath);
    const dir = p.volumes.get(name);
    if (!dir || p.phase === 'Stopped') throw new Error(`volumePath: pod ${this.podName(i)} has no running volume ${name}`);
    return join(dir, relPath);
  }

  /** Whether relPath exists in the volume (see volumePath). */
  public volumeHas(i: number, relPath: string, volume?: string): boolean {
    return existsSync(this.volumePath(i, relPath, volume));
  }

  /**
   * Creates (or updates the time of) a file in the volume, owned by the container user, as
   * `kubectl exec <pod> -- touch <path>` would; optional content.
   */
  public touchInVolume(i: number, relPath: string, opts: { volume?: string; content?: string } = {}): string {
    const path = this.volumePath(i, relPath, opts.volume);
    const p = this.pod(i);
    const user = this.userFor(p, (p.phase !== 'Stopped' ? p.sts : this.statefulSet).spec.template.spec.containers[0]);
    if (opts.content !== undefined || !existsSync(path)) writeFileSync(path, opts.content ?? '', { mode: 0o644 });
    const now = new Date();
    utimesSync(path, now, now);
    chownSync(path, user.uid, user.gid);
    return path;
  }

  // ---------------------------------------------------------------- exec and probes

  private async execInRun(r: ContainerRun, command: readonly string[], opts: { timeoutMs: number; root?: boolean; env?: Record<string, string> }): Promise<ExecResult> {
    if (r.initPid === null || r.exited || !r.commandStarted) return { exitCode: -1, output: 'container is not running', timedOut: false, ms: 0 };
    const u = r.user;
    const priv = opts.root ? [] : [SETPRIV, '--reuid', String(u.uid), '--regid', String(u.gid), '--groups', u.groups.join(','), '--inh-caps=-all', `--bounding-set=${u.bounding}`, ...(u.nnp ? ['--no-new-privs'] : []), '--'];
    const res: RunResult = await run(NSENTER, ['-t', String(r.initPid), '-m', '-u', '-p', '-n', `--wd=${r.container.workingDir ?? '/'}`, '--', ...priv, ...command], {
      env: { ...r.env, ...(opts.env ?? {}) }, timeoutMs: opts.timeoutMs, maxBytes: 64 * 1024, track: r.procs,
    });
    return { exitCode: res.exitCode, output: res.stdout + res.stderr, timedOut: res.timedOut, ms: res.ms };
  }

  /**
   * Runs a command inside pod i's main container (its mount, PID, UTS and network namespaces,
   * its environment and user; `root: true` runs it as root with all capabilities), like kubectl exec.
   */
  public async exec(i: number, command: readonly string[], opts: { timeoutMs?: number; root?: boolean; env?: Record<string, string> } = {}): Promise<ExecResult> {
    const p = this.pod(i);
    const r = p.current;
    if (!r || r.kind !== 'main') return { exitCode: -1, output: `pod ${this.podName(i)}: main container is not running (${p.state})`, timedOut: false, ms: 0 };
    return this.execInRun(r, command, { timeoutMs: opts.timeoutMs ?? 30_000, root: opts.root, env: opts.env });
  }

  /** The probe of pod i's main container (of the running instance, else of the current template). */
  public probeSpec(kind: ProbeKind, i?: number): Probe | undefined {
    const spec = i !== undefined && this.pod(i).phase !== 'Stopped' ? this.pod(i).sts.spec.template.spec : this.podSpec;
    const c = spec.containers[0];
    return kind === 'startup' ? c.startupProbe : kind === 'readiness' ? c.readinessProbe : c.livenessProbe;
  }

  /** Runs the manifest's probe once inside pod i, with the probe's timeoutSeconds. */
  public async probe(i: number, kind: ProbeKind): Promise<ProbeResult> {
    const p = this.pod(i);
    const spec = this.probeSpec(kind, i);
    if (!spec) return { ok: true, exitCode: 0, output: `no ${kind} probe`, ms: 0 };
    return this.runProbe(p, p.current, spec);
  }

  private async runProbe(p: Pod, r: ContainerRun | null, spec: Probe): Promise<ProbeResult> {
    const timeoutMs = (spec.timeoutSeconds ?? 1) * 1000;
    if (!r || r.kind !== 'main' || r.exited) return { ok: false, exitCode: -1, output: `main container is not running (${p.state})`, ms: 0 };
    if (spec.exec) {
      const res = await this.execInRun(r, spec.exec.command, { timeoutMs });
      const output = res.timedOut ? `${res.output}\nprobe timed out after ${timeoutMs} ms` : res.output;
      return { ok: res.exitCode === 0 && !res.timedOut, exitCode: res.exitCode, output: output.slice(0, 10240), ms: res.ms };
    }
    const tcp = spec.tcpSocket as { port?: number | string } | undefined;
    if (tcp && typeof tcp.port === 'number') {
      const res = await run(IP, ['netns', 'exec', this.nsName(p.i), SOCAT, '-u', 'OPEN:/dev/null', `TCP:${p.ip}:${tcp.port},connect-timeout=${timeoutMs / 1000}`], { timeoutMs: timeoutMs + 1000, track: p.procs });
      return { ok: res.exitCode === 0, exitCode: res.exitCode, output: res.stderr, ms: res.ms };
    }
    throw new Error('only exec and numeric tcpSocket probes are supported by the harness');
  }

  /**
   * Polls pod i's probe every periodSeconds (or intervalMs) until it succeeds; returns the
   * elapsed milliseconds, or throws with the last probe output and the pod's last log lines.
   */
  public async waitFor(i: number, kind: ProbeKind, timeoutMs: number, opts: { intervalMs?: number } = {}): Promise<number> {
    const p = this.pod(i);
    const spec = this.probeSpec(kind, i);
    const interval = opts.intervalMs ?? (spec?.periodSeconds ?? 10) * 1000;
    const t0 = Date.now();
    let last: ProbeResult | null = null;
    while (Date.now() - t0 < timeoutMs) {
      if (p.current?.kind === 'main' && !p.current.exited) {
        last = await this.probe(i, kind);
        if (last.ok) return Date.now() - t0;
      }
      const left = timeoutMs - (Date.now() - t0);
      if (left <= 0) break;
      await sleep(Math.min(interval, left));
    }
    throw new Error(`pod ${this.podName(i)}: ${kind} probe did not pass within ${timeoutMs} ms (state ${p.state}, restarts ${p.restarts})\n`
      + `last probe: ${last ? `exit ${last.exitCode}: ${tail(last.output.trim(), 10)}` : 'never ran (main container not running)'}\n`
      + `events:\n${tail(this.events(i), 15)}\nlast log lines:\n${tail(this.logs(i), 60)}`);
  }

  /** Background probing with kubelet semantics for one run of the main container. */
  private async kubeletProbeLoop(p: Pod, r: ContainerRun): Promise<void> {
    const c = r.container;
    const alive = () => !r.exited && !p.stopping && p.current === r;
    const period = (s: Probe) => (s.periodSeconds ?? 10) * 1000;
    const kill = async (what: string, s: Probe) => {
      this.event(p, `${what} probe failed ${s.failureThreshold ?? 3} times: container will be restarted`);
      const grace = (s.terminationGracePeriodSeconds ?? this.graceSeconds(p)) * 1000;
      await this.terminateContainer(p, r, grace, `${what} probe failure`);
    };
    if (c.startupProbe) {
      const s = c.startupProbe;
      await sleep((s.initialDelaySeconds ?? 0) * 1000, r.gone.signal);
      for (let fails = 0; alive();) {
        const res = await this.runProbe(p, r, s);
        if (!alive()) return;
        if (res.ok) break;
        fails += 1;
        if (fails >= (s.failureThreshold ?? 3)) { await kill('startup', s); return; }
        await sleep(period(s), r.gone.signal);
      }
    }
    if (!alive()) return;
    p.started = true;
    const readiness = async () => {
      const s = c.readinessProbe;
      if (!s) { p.ready = true; return; }
      await sleep((s.initialDelaySeconds ?? 0) * 1000, r.gone.signal);
      let ok = 0;
      let fails = 0;
      while (alive()) {
        const res = await this.runProbe(p, r, s);
        if (!alive()) break;
        if (res.ok) { fails = 0; ok += 1; if (ok >= (s.successThreshold ?? 1) && !p.ready) { p.ready = true; this.event(p, 'ready'); } }
        else { ok = 0; fails += 1; if (fails >= (s.failureThreshold ?? 3) && p.ready) { p.ready = false; this.event(p, `not ready: ${tail(res.output.trim(), 3)}`); } }
        await sleep(period(s), r.gone.signal);
      }
      p.ready = false;
    };
    const liveness = async () => {
      const s = c.livenessProbe;
      if (!s) return;
      await sleep((s.initialDelaySeconds ?? 0) * 1000, r.gone.signal);
      let fails = 0;
      while (alive()) {
        const res = await this.runProbe(p, r, s);
        if (!alive()) return;
        fails = res.ok ? 0 : fails + 1;
        if (!res.ok) this.event(p, `liveness probe failed (${fails}/${s.failureThreshold ?? 3}): ${tail(res.output.trim(), 3)}`);
        if (fails >= (s.failureThreshold ?? 3)) { await kill('liveness', s); return; }
        await sleep(period(s), r.gone.signal);
      }
    };
    await Promise.all([readiness(), liveness()]);
  }

  // ---------------------------------------------------------------- logs and events

  private event(p: Pod, msg: string): void {
    try {
      mkdirSync(this.podDir(p.i), { recursive: true });
      writeFileSync(join(this.podDir(p.i), 'events.log'), `${new Date().toISOString()} ${msg}\n`, { flag: 'a' });
    } catch { /* run dir gone after cleanup */ }
  }

  /** What the harness did to pod i (starts, exits, probe failures, signals), one line each. */
  public events(i: number): string {
    try { return readFileSync(join(this.podDir(i), 'events.log'), 'utf8'); } catch { return ''; }
  }

  /** Every container log of pod i over all its instances, oldest first, each under a header line. */
  public logs(i: number): string {
    let files: string[];
    try {
      files = readdirSync(this.podDir(i)).filter((f) => /^[0-9]{3,}-.*\.log$/.test(f)).sort((a, b) => parseInt(a, 10) - parseInt(b, 10));
    } catch {
      return '';
    }
    return files.map((f) => `==> ${f} <==\n${readFileSync(join(this.podDir(i), f), 'utf8')}`).join('\n');
  }

  // ---------------------------------------------------------------- SQL and clients

  /** Runs `mariadb -N -B` in pod i's network namespace against 127.0.0.1:3306; rows of the last result sets. */
  public async sql(i: number, query: string, opts: SqlOptions = {}): Promise<string[][]> {
    this.assertUsable();
    const user = opts.user ?? 'root';
    const password = opts.password ?? (user === 'root' ? this.secretData?.['root-password']?.toString('utf8') : undefined);
    const timeoutMs = opts.timeoutMs ?? 15_000;
    const args = ['netns', 'exec', this.nsName(i), MARIADB, '--no-defaults', '-N', '-B', '--protocol=TCP', '-h', opts.host ?? '127.0.0.1',
      '-P', String(opts.port ?? 3306), '-u', user, `--connect-timeout=${Math.max(1, Math.ceil(timeoutMs / 3000))}`,
      ...(opts.database ? ['-D', opts.database] : []), '-e', query];
    const env: NodeJS.ProcessEnv = { PATH: IMAGE_PATH, ...(password !== undefined ? { MYSQL_PWD: password } : {}) };
    const res = await run(IP, args, { env, timeoutMs, track: this.pod(i).procs });
    if (res.exitCode !== 0) {
      throw new Error(`sql on ${this.podName(i)} failed (exit ${res.exitCode}${res.timedOut ? `, timed out after ${timeoutMs} ms` : ''}): ${res.stderr.trim()}\nquery: ${query}`);
    }
    const unescape = (s: string) => s.replace(/\\(.)/g, (_m, ch: string) => ({ n: '\n', t: '\t', '0': '\0', '\\': '\\' } as Record<string, string>)[ch] ?? ch);
    return res.stdout.split('\n').filter((l, idx, a) => !(l === '' && idx === a.length - 1)).map((l) => l.split('\t').map(unescape));
  }

  /** Runs a command in the client namespace (argument array, no shell). */
  public async clientExec(command: readonly string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
    this.assertUsable();
    return run(IP, ['netns', 'exec', this.clientNs, ...command], { timeoutMs: opts.timeoutMs ?? 30_000, env: opts.env ?? { PATH: IMAGE_PATH }, track: this.clientProcs });
  }

  /**
   * Starts a write-load generator in the client namespace (test/harness/writer.js) that inserts
   * unique ids round-robin into ledger.<table> on the given pods and records every
   * acknowledged id. Resolves once the table exists and the writer is running.
   */
  public async startWriter(opts: WriterOptions): Promise<WriterHandle> {
    this.assertUsable();
    const password = opts.password ?? this.secretData?.['root-password']?.toString('utf8');
    this.writerSeq += 1;
    const name = `w${this.writerSeq}`;
    const dir = join(this.runDir, 'writers');
    mkdirSync(dir, { recursive: true });
    const h = await startWriter({
      ...opts, ip: IP, clientNs: this.clientNs, script: WRITER_JS, name, idBase: this.writerSeq * 1e12,
      targets: opts.pods.map((i) => ({ pod: i, host: this.podIp(i) })), dir, password,
    });
    this.writers.add(h);
    return h;
  }

  /**
   * Every acknowledged id is present on every listed pod (read with wsrep_sync_wait=1) and
   * CHECKSUM TABLE agrees on all of them; throws with the missing ids otherwise.
   */
  public async verifyLedger(acked: readonly number[], pods: readonly number[], opts: { table?: string; timeoutMs?: number } = {}): Promise<LedgerReport> {
    return verifyLedger((i, q) => this.sql(i, q, { timeoutMs: opts.timeoutMs ?? 60_000 }), acked, pods, opts.table ?? 'acks');
  }

  // ---------------------------------------------------------------- cleanup

  /** Kills every process, deletes namespaces, links, the bridge, hosts files and (unless kept) the run directory. Idempotent. */
  public async cleanup(): Promise<void> {
    for (const w of this.writers) w.kill();
    this.writers.clear();
    this.cleanupSync();
    await Promise.all(this.pods.map((p) => (p.loop ? Promise.race([p.loop, guard(5_000)]) : undefined)));
  }

  /** Synchronous teardown (also used by the process exit and signal handlers). */
  public cleanupSync(): void {
    if (this.closed || !this.setUp) { this.closed = true; return; }
    this.closed = true;
    live.delete(this);
    for (const w of this.writers) w.kill();
    for (const p of this.pods) {
      p.stopping = true;
      p.abort.abort();
      p.ready = false;
      p.phase = 'Stopped';
      p.state = 'Stopped';
      if (p.current) p.current.killed = true;
    }
    // Processes the harness started but that may not have entered a namespace yet, then the
    // namespaces' processes (destroyPrefix), then the started ones once more.
    for (let round = 0; round < 3; round++) {
      for (const p of this.pods) killGroups(p.procs);
      killGroups(this.clientProcs);
      if (round < 2) runSync('/bin/sleep', ['0.05']);
    }
    const keep = this.opts.keepRunDir ?? process.env.GALERA_PODS_KEEP === '1';
    const problems = destroyPrefix(this.prefix, this.runDir, false);
    for (const p of this.pods) killGroups(p.procs);
    killGroups(this.clientProcs);
    const stray = [...this.pods.flatMap((p) => [...p.procs]), ...this.clientProcs].filter((pid) => pidAlive(pid));
    if (stray.length > 0) problems.push(`processes still alive: ${stray.join(' ')}`);
    if (!keep) {
      // Data volumes and emptyDirs go; logs and events stay (a day, for a harness-made run dir).
      rmSync(join(this.runDir, 'pvc'), { recursive: true, force: true });
      for (const p of this.pods) rmSync(join(this.podDir(p.i), 'volumes'), { recursive: true, force: true });
    }
    try { writeFileSync(join(this.runDir, FINISHED_MARKER), `${new Date().toISOString()}\n`); } catch { /* gone */ }
    if (problems.length > 0) process.stderr.write(`galera-pods cleanup problems: ${problems.join('; ')}\n`);
  }

  /** True while any process of this run still exists (for tests of the harness). */
  public anyProcessLeft(): boolean {
    return [...this.pods.map((p) => this.nsName(p.i)), this.clientNs].some((ns) => netnsPids(ns).length > 0)
      || this.pods.some((p) => [...p.procs].some((pid) => pidAlive(pid)))
      || [...this.clientProcs].some((pid) => pidAlive(pid));
  }
}
