// One container process of a pod: `ip netns exec <pod netns> unshare --pid --fork --mount-proc
// --uts` + pod-exec.sh, which bind-mounts the volumes at their mountPaths, sets the hostname and
// execs the command as the container user, as pid 1 of its own PID namespace. Commands run
// inside a running container (exec, probes, hooks) enter its namespaces with nsenter.
import { ChildProcess, spawn } from 'child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, realpathSync } from 'fs';
import { join, resolve } from 'path';
import { IP } from './netns';
import { childPids, killGroups, killPids, run, RunResult, sleep, which } from './proc';
import { Container, ContainerConfigError, PodSpec, VolumeMount } from './spec';
import { IMAGE_MYSQL_ID } from './volumes';

/** Capabilities a container runtime grants by default (containerd/CRI-O). */
const DEFAULT_CAPS = [
  'chown', 'dac_override', 'fsetid', 'fowner', 'mknod', 'net_raw', 'setgid', 'setuid', 'setfcap', 'setpcap', 'net_bind_service',
  'sys_chroot', 'kill', 'audit_write',
];
const POD_EXEC = resolve(__dirname, 'pod-exec.sh');
const UNSHARE = which('unshare');
const NSENTER = which('nsenter');
const SETPRIV = which('setpriv');
const BASH = which('bash');

export interface UserSpec { uid: number; gid: number; groups: number[]; nnp: boolean; bounding: string; roRoot: boolean; home: string }
export interface ExitInfo { exitCode: number; at: number; ms: number }
export interface ExecResult { readonly exitCode: number; readonly output: string; readonly timedOut: boolean; readonly ms: number }

/** The local ids the image ids map to. */
export interface IdMap { readonly mysqlUid: number; readonly mysqlGid: number }

/** The user, groups and privileges of a container (securityContext of the container over the pod's). */
export function userFor(ids: IdMap, spec: PodSpec, c: Container): UserSpec {
  const psc = spec.securityContext ?? {};
  const sc = c.securityContext ?? {};
  const imageUid = sc.runAsUser ?? psc.runAsUser ?? 0;
  const imageGid = sc.runAsGroup ?? psc.runAsGroup ?? (imageUid === IMAGE_MYSQL_ID ? IMAGE_MYSQL_ID : 0);
  const mapUid = (u: number) => (u === IMAGE_MYSQL_ID ? ids.mysqlUid : u);
  const mapGid = (g: number) => (g === IMAGE_MYSQL_ID ? ids.mysqlGid : g);
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

export interface MountPlanEntry { src: string; dst: string; ro: boolean }

/** The bind mounts of a container, parents first. */
export function mountPlan(spec: PodSpec, c: Container, dirs: ReadonlyMap<string, string>): MountPlanEntry[] {
  const plan: (MountPlanEntry & { idx: number })[] = [];
  for (const [idx, m] of (c.volumeMounts ?? [] as VolumeMount[]).entries()) {
    const base = dirs.get(m.name);
    const v = (spec.volumes ?? []).find((x) => x.name === m.name);
    if (!base) throw new ContainerConfigError(`volumeMount ${m.name}: no such volume`);
    let src = base;
    if (m.subPath) {
      src = join(base, m.subPath);
      if (!existsSync(src)) mkdirSync(src, { recursive: true });
      src = realpathSync(src);
    }
    plan.push({ src, dst: m.mountPath, ro: !!m.readOnly || !!v?.configMap || !!v?.secret, idx });
  }
  const depth = (p: string) => p.split('/').filter(Boolean).length;
  return plan.sort((a, b) => depth(a.dst) - depth(b.dst) || a.idx - b.idx).map(({ src, dst, ro }) => ({ src, dst, ro }));
}

/** A started container process. */
export class ContainerRun {
  public initPid: number | null = null;
  /** pod-exec.sh has made the mounts and exec'd the container command (probes and exec wait for it). */
  public commandStarted = false;
  public exited: ExitInfo | null = null;
  public killed = false;
  /** Aborted when the container exits: ends its probe loops. */
  public readonly gone = new AbortController();
  public readonly exit: Promise<ExitInfo>;
  public readonly startedAt = Date.now();
  private readonly child: ChildProcess;
  private readonly wrapperPid: number;

  constructor(
    public readonly container: Container,
    public readonly kind: 'init' | 'main',
    public readonly env: Record<string, string>,
    public readonly user: UserSpec,
    private readonly procs: Set<number>,
    ns: string, hostname: string, argv: string[], plan: MountPlanEntry[], logFile: string,
  ) {
    const c = container;
    const args = ['netns', 'exec', ns, UNSHARE, '--pid', '--fork', '--kill-child', '--mount-proc', '--uts', '--',
      BASH, '-p', POD_EXEC, '--hostname', hostname, '--uid', String(user.uid), '--gid', String(user.gid),
      '--groups', user.groups.join(','), '--bounding-set', user.bounding, '--wd', c.workingDir ?? '/',
      ...(user.nnp ? ['--no-new-privs'] : []), ...(user.roRoot ? ['--ro-root'] : []),
      ...plan.flatMap((m) => ['--mount', m.src, m.dst, m.ro ? 'ro' : 'rw']), '--', ...argv];
    const fd = openSync(logFile, 'a');
    try {
      this.child = spawn(IP, args, { env, stdio: ['ignore', fd, fd], detached: true, cwd: '/' });
    } finally {
      closeSync(fd);
    }
    this.wrapperPid = this.child.pid ?? -1;
    if (this.child.pid !== undefined) procs.add(this.child.pid);
    let resolveExit!: (e: ExitInfo) => void;
    this.exit = new Promise<ExitInfo>((res) => { resolveExit = res; });
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      if (this.exited) return;
      const exitCode = this.killed || signal === 'SIGKILL' ? 137 : code ?? (signal === 'SIGTERM' ? 143 : 128);
      this.exited = { exitCode, at: Date.now(), ms: Date.now() - this.startedAt };
      procs.delete(this.wrapperPid);
      this.gone.abort();
      resolveExit(this.exited);
    };
    this.child.on('exit', onExit);
    this.child.on('error', () => onExit(127, null));
  }

  /** Waits until pod-exec.sh has exec'd the container command (pid 1 of the container is unshare's child). */
  public async waitForCommand(): Promise<void> {
    for (let t = 0; t < 1000 && !this.exited; t++) {
      if (this.initPid === null) this.initPid = childPids(this.wrapperPid)[0] ?? null;
      if (this.initPid !== null) {
        let argv0 = '';
        try { argv0 = readFileSync(`/proc/${this.initPid}/cmdline`, 'utf8').split('\0').slice(0, 3).join(' '); } catch { /* exited */ }
        if (argv0 !== '' && !argv0.includes(POD_EXEC) && !argv0.startsWith(SETPRIV)) { this.commandStarted = true; return; }
      }
      await sleep(10);
    }
  }

  /** Runs a command inside this container's mount, UTS, PID and network namespaces, as its user (or root). */
  public async exec(
    command: readonly string[], opts: { timeoutMs: number; root?: boolean; env?: Record<string, string> },
  ): Promise<ExecResult> {
    if (this.initPid === null || this.exited || !this.commandStarted) return {
      exitCode: -1, output: 'container is not running', timedOut: false, ms: 0,
    };
    const u = this.user;
    const priv = opts.root ? [] : [
      SETPRIV, '--reuid', String(u.uid), '--regid', String(u.gid), '--groups', u.groups.join(','), '--inh-caps=-all',
      `--bounding-set=${u.bounding}`, ...(u.nnp ? ['--no-new-privs'] : []), '--',
    ];
    const res: RunResult = await run(NSENTER, [
      '-t', String(this.initPid), '-m', '-u', '-p', '-n', `--wd=${this.container.workingDir ?? '/'}`, '--', ...priv, ...command,
    ], {
      env: { ...this.env, ...(opts.env ?? {}) }, timeoutMs: opts.timeoutMs, maxBytes: 64 * 1024, track: this.procs,
    });
    return { exitCode: res.exitCode, output: res.stdout + res.stderr, timedOut: res.timedOut, ms: res.ms };
  }

  public signal(sig: NodeJS.Signals): void {
    if (this.initPid !== null) killPids([this.initPid], sig);
  }

  /** SIGKILL to pid 1 of the container (its death ends the whole PID namespace), then the process group. */
  public kill(): void {
    this.killed = true;
    // unshare's --kill-child does not help: setpriv's uid change clears PDEATHSIG.
    killPids([...(this.initPid !== null ? [this.initPid] : []), this.wrapperPid], 'SIGKILL');
    killGroups([this.wrapperPid]);
  }
}
