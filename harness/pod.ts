// One pod, run the way a kubelet runs it: init containers in order (a failure = Init:Error,
// retried with back-off), then every container at once, each restarted by itself according to
// restartPolicy with back-off (initialMs doubling to maxMs, reset after 60 s of running). The
// startup, liveness and readiness probes of each container run in the background with kubelet
// semantics. Deletion runs every container's preStop hook, SIGTERMs each container once its
// hook is done and SIGKILLs at the end of the grace period.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'fs';
import { join } from 'path';
import { ContainerRun, ExecResult, ExitInfo, IdMap, mountPlan, userFor } from './containers';
import { IP } from './netns';
import { guard, killGroups, killPids, netnsPids, pidAlive, run, sleep, which } from './proc';
import { Container, ContainerConfigError, expandRefs, PodIdentity, PodTemplate, Probe, resolveEnv, VolumeClaimTemplate } from './spec';
import { PodVolumes, VolumeHost } from './volumes';

const SOCAT = which('socat');

export type ProbeKind = 'startup' | 'readiness' | 'liveness';
export type StopSignal = 'TERM' | 'KILL';

export interface ProbeResult { readonly ok: boolean; readonly exitCode: number; readonly output: string; readonly ms: number }
export interface StopResult {
  /** Exit code of the first container (137 when it was SIGKILLed), or null when no container ran. */
  readonly exitCode: number | null;
  /** Every container exited by itself within the grace period (TERM only). */
  readonly graceful: boolean;
  readonly ms: number;
}
export interface PodStatus {
  readonly phase: 'Stopped' | 'Pending' | 'Running' | 'Terminating' | 'Succeeded' | 'Failed';
  /** What `kubectl get pod` shows in STATUS: Init:0/1, Init:Error, Running, CrashLoopBackOff, Completed, ... */
  readonly state: string;
  readonly ready: boolean;
  readonly started: boolean;
  /** Restarts of every container together. */
  readonly restarts: number;
  readonly initRestarts: number;
  readonly lastExit: { container: string; exitCode: number; at: number } | null;
}

/** What a pod needs from the run it belongs to. */
export interface PodHost extends VolumeHost, IdMap {
  readonly kubeletProbes: boolean;
  readonly backoff: { readonly initialMs: number; readonly maxMs: number };
  /** Environment an image sets (Dockerfile ENV), its PATH holding only the image's programs. */
  imageEnv(image: string | undefined): Record<string, string>;
}

/** Where a pod lives: its network namespace, address and names. */
export interface PodPlace {
  readonly ns: string;
  readonly name: string;
  readonly namespace: string;
  readonly dir: string;
  ip(): string;
}

/** A pod that ran to completion (Jobs): every container's exit. */
export interface Completion { readonly succeeded: boolean; readonly exits: Record<string, number>; readonly ms: number }

export class PodRuntime {
  public phase: PodStatus['phase'] = 'Stopped';
  public state = 'NotCreated';
  /** Process groups the harness started for this pod (containers, exec, probes, sql). */
  public readonly procs = new Set<number>();
  private template: PodTemplate | null = null;
  private gen = 0;
  private stopping = false;
  private abort = new AbortController();
  private loop: Promise<void> | null = null;
  private readonly runs = new Map<string, ContainerRun>();
  private readonly ready = new Map<string, boolean>();
  private restartCount = 0;
  private initRestarts = 0;
  private started = false;
  private lastExit: PodStatus['lastExit'] = null;
  private logSeq = 0;
  private readonly volumes: PodVolumes;
  private completion: Promise<Completion> | null = null;

  constructor(private readonly host: PodHost, public readonly place: PodPlace) {
    this.volumes = new PodVolumes(host, place.dir, place.name);
  }

  /** The template of the running instance (undefined when stopped). */
  public get spec(): PodTemplate | null {
    return this.template;
  }

  public get volumeDirs(): ReadonlyMap<string, string> {
    return this.volumes.dirs;
  }

  public status(): PodStatus {
    return {
      phase: this.phase, state: this.state, ready: this.isReady(), started: this.started,
      restarts: this.restartCount, initRestarts: this.initRestarts, lastExit: this.lastExit,
    };
  }

  public isReady(): boolean {
    const containers = this.template?.spec.containers ?? [];
    return this.phase === 'Running' && containers.length > 0 && containers.every((c) => this.ready.get(c.name) === true);
  }

  /**
   * Creates the pod: fresh emptyDirs, its claims, init containers in order, then every
   * container. Resolves once the first container process is started (or could not be configured).
   */
  public async start(template: PodTemplate, claims: readonly VolumeClaimTemplate[]): Promise<void> {
    if (this.phase !== 'Stopped'
      && this.phase !== 'Succeeded' && this.phase !== 'Failed') throw new Error(`pod ${this.place.name} is already ${this.phase}`);
    this.gen += 1;
    this.template = template;
    this.phase = 'Pending';
    this.state = 'ContainerCreating';
    this.stopping = false;
    this.abort = new AbortController();
    this.restartCount = 0;
    this.initRestarts = 0;
    this.ready.clear();
    this.started = false;
    this.lastExit = null;
    mkdirSync(this.place.dir, { recursive: true });
    this.event(`pod created (instance ${this.gen}, ip ${this.place.ip()})`);
    try {
      this.volumes.prepare(template.spec, claims, this.gen);
    } catch (e) {
      this.phase = 'Stopped';
      this.state = 'Failed';
      this.volumes.teardown();
      throw e;
    }
    let firstStarted!: () => void;
    const started = new Promise<void>((res) => { firstStarted = res; });
    let complete!: (c: Completion) => void;
    this.completion = new Promise<Completion>((res) => { complete = res; });
    const t0 = Date.now();
    this.loop = this.podLoop(template, () => firstStarted()).then((exits) => {
      if (exits) complete({ succeeded: Object.values(exits).every((c) => c === 0), exits, ms: Date.now() - t0 });
    }).catch((e) => {
      this.event(`pod loop failed: ${String(e)}`);
    }).finally(() => firstStarted());
    await Promise.race([started, guard(30_000)]);
  }

  /** For a pod whose restartPolicy is not Always: resolves when every container has finished. */
  public waitForCompletion(timeoutMs: number): Promise<Completion> {
    if (!this.completion) throw new Error(`pod ${this.place.name} was never started`);
    return Promise.race([this.completion, guard(timeoutMs).then(() => {
      throw new Error(`pod ${this.place.name} did not complete within ${timeoutMs} ms `
        + `(state ${this.state})\nevents:\n${tail(this.events(), 15)}\nlogs:\n${tail(this.logs(), 60)}`);
    })]);
  }

  private backoffMs(failures: number): number {
    return Math.min(this.host.backoff.maxMs, this.host.backoff.initialMs * 2 ** Math.max(0, failures - 1));
  }

  /** Init containers, then all containers; resolves with their exit codes when the pod completes (restartPolicy Never/OnFailure). */
  private async podLoop(template: PodTemplate, onFirstStart: () => void): Promise<Record<string, number> | null> {
    const policy = template.spec.restartPolicy ?? 'Always';
    const inits = template.spec.initContainers ?? [];
    for (const [idx, c] of inits.entries()) {
      for (let failures = 0; ;) {
        if (this.stopping) return null;
        this.state = `Init:${idx}/${inits.length}`;
        const exit = await this.runContainer(template, c, 'init', onFirstStart);
        if (this.stopping) return null;
        if (exit && exit.exitCode === 0) break;
        failures += 1;
        if (exit) this.initRestarts += 1;
        this.state = exit ? 'Init:Error' : this.state;
        if (exit && policy === 'Never') {
          this.phase = 'Failed';
          return { [c.name]: exit.exitCode };
        }
        await sleep(this.backoffMs(failures), this.abort.signal);
        if (exit && !this.stopping) this.state = 'Init:CrashLoopBackOff';
      }
    }
    const exits = await Promise.all(template.spec.containers.map((c) => this.containerLoop(template, c, policy, onFirstStart)));
    if (this.stopping || policy === 'Always') return null;
    const codes = Object.fromEntries(template.spec.containers.map((c, k) => [c.name, exits[k] ?? -1]));
    this.phase = Object.values(codes).every((x) => x === 0) ? 'Succeeded' : 'Failed';
    this.state = this.phase === 'Succeeded' ? 'Completed' : 'Error';
    this.volumes.teardown();
    return codes;
  }

  /** One container, restarted per restartPolicy; resolves with its last exit code once it is not restarted. */
  private async containerLoop(template: PodTemplate, c: Container, policy: string, onFirstStart: () => void): Promise<number | null> {
    for (let failures = 0; ;) {
      if (this.stopping) return null;
      const exit = await this.runContainer(template, c, 'main', onFirstStart);
      if (this.stopping) return exit?.exitCode ?? null;
      if (exit && (policy === 'Never' || (policy === 'OnFailure' && exit.exitCode === 0))) return exit.exitCode;
      if (exit) {
        this.restartCount += 1;
        // The kubelet resets the back-off once a container ran long enough.
        failures = exit.ms > 60_000 ? 1 : failures + 1;
        this.state = 'CrashLoopBackOff';
      } else {
        failures += 1;
      }
      this.ready.set(c.name, false);
      await sleep(this.backoffMs(failures), this.abort.signal);
    }
  }

  private identity(template: PodTemplate): PodIdentity {
    return {
      name: this.place.name, namespace: this.place.namespace, ip: this.place.ip(),
      labels: { ...(template.metadata?.labels ?? {}) },
      annotations: template.metadata?.annotations ?? {},
      uid: `${this.place.ns}-${this.gen}`,
    };
  }

  private logFileFor(c: Container): string {
    this.logSeq += 1;
    return join(this.place.dir, `${String(this.logSeq).padStart(3, '0')}-${c.name}.log`);
  }

  /** Starts one container and resolves with its exit (null: it could not be configured). */
  private async runContainer(template: PodTemplate, c: Container, kind: 'init' | 'main', onStart: () => void): Promise<ExitInfo | null> {
    const spec = template.spec;
    let run: ContainerRun;
    try {
      const user = userFor(this.host, spec, c);
      const env = {
        ...this.host.imageEnv(c.image),
        HOSTNAME: this.place.name,
        HOME: user.home,
        ...resolveEnv(c, this.identity(template), this.host),
      };
      this.volumes.projectAll(spec, this.logSeq);
      const plan = mountPlan(spec, c, this.volumes.dirs);
      if (!c.command?.length) throw new ContainerConfigError(
        `container ${c.name} has no command (the harness cannot know the image's entrypoint)`,
      );
      const argv = [...(c.command ?? []), ...(c.args ?? [])].map((a) => expandRefs(a, env));
      const logFile = this.logFileFor(c);
      run = new ContainerRun(c, kind, env, user, this.procs, this.place.ns, this.place.name, argv, plan, logFile);
      this.event(`container ${c.name} started (log ${logFile})`);
    } catch (e) {
      if (!(e instanceof ContainerConfigError)) throw e;
      this.state = 'CreateContainerConfigError';
      this.event(`container ${c.name}: CreateContainerConfigError: ${e.message}`);
      onStart();
      return null;
    }
    this.runs.set(c.name, run);
    if (kind === 'main' && !this.stopping) {
      this.phase = 'Running';
      this.state = 'Running';
    }
    await run.waitForCommand();
    onStart();
    if (kind === 'main' && this.host.kubeletProbes && !run.exited) {
      void this.kubeletProbeLoop(run).catch((e) => this.event(`probe loop: ${String(e)}`));
    }
    const info = await run.exit;
    if (this.runs.get(c.name) === run) this.runs.delete(c.name);
    this.lastExit = { container: c.name, exitCode: info.exitCode, at: info.at };
    this.event(`container ${c.name} exited with ${info.exitCode} after ${info.ms} ms`);
    return info;
  }

  /** A Secret changed in place: the kubelet updates the running pod's volumes that show it. */
  public refreshSecret(name: string): number {
    if (!this.template || this.phase === 'Stopped') return 0;
    const n = this.volumes.projectSecret(this.template.spec, name, this.logSeq);
    if (n > 0) this.event(`Secret ${name} updated in the running pod`);
    return n;
  }

  // ---------------------------------------------------------------- exec and probes

  /** The running container (the first one unless named). */
  public container(name?: string): ContainerRun | undefined {
    const c = name ?? this.template?.spec.containers[0]?.name;
    const r = c === undefined ? undefined : this.runs.get(c);
    return r && r.kind === 'main' ? r : undefined;
  }

  /** Runs a command inside a container of the pod, like kubectl exec. */
  public async exec(
    command: readonly string[], opts: { timeoutMs?: number; root?: boolean; env?: Record<string, string>; container?: string } = {},
  ): Promise<ExecResult> {
    const r = this.container(opts.container);
    if (!r) return {
      exitCode: -1, output: `pod ${this.place.name}: container ${opts.container ?? '(first)'} is not running (${this.state})`,
      timedOut: false, ms: 0,
    };
    return r.exec(command, { timeoutMs: opts.timeoutMs ?? 30_000, root: opts.root, env: opts.env });
  }

  /** A probe of a container of the running instance (the first container unless named). */
  public probeSpec(kind: ProbeKind, template: PodTemplate, container?: string): Probe | undefined {
    const c = container === undefined ? template.spec.containers[0] : template.spec.containers.find((x) => x.name === container);
    return kind === 'startup' ? c?.startupProbe : kind === 'readiness' ? c?.readinessProbe : c?.livenessProbe;
  }

  public async runProbe(r: ContainerRun | undefined, spec: Probe): Promise<ProbeResult> {
    const timeoutMs = (spec.timeoutSeconds ?? 1) * 1000;
    if (!r || r.exited) return { ok: false, exitCode: -1, output: `container is not running (${this.state})`, ms: 0 };
    if (spec.exec) {
      const res = await r.exec(spec.exec.command, { timeoutMs });
      const output = res.timedOut ? `${res.output}\nprobe timed out after ${timeoutMs} ms` : res.output;
      return { ok: res.exitCode === 0 && !res.timedOut, exitCode: res.exitCode, output: output.slice(0, 10240), ms: res.ms };
    }
    const tcp = spec.tcpSocket as { port?: number | string } | undefined;
    if (tcp && typeof tcp.port === 'number') {
      const res = await run(IP, [
        'netns', 'exec', this.place.ns, SOCAT, '-u', 'OPEN:/dev/null',
        `TCP:${this.place.ip()}:${tcp.port},connect-timeout=${timeoutMs / 1000}`,
      ], { timeoutMs: timeoutMs + 1000, track: this.procs });
      return { ok: res.exitCode === 0, exitCode: res.exitCode, output: res.stderr, ms: res.ms };
    }
    throw new Error('only exec and numeric tcpSocket probes are supported by the harness');
  }

  /** Background probing with kubelet semantics for one run of a container. */
  private async kubeletProbeLoop(r: ContainerRun): Promise<void> {
    const c = r.container;
    const alive = () => !r.exited && !this.stopping && this.runs.get(c.name) === r;
    const period = (s: Probe) => (s.periodSeconds ?? 10) * 1000;
    const kill = async (what: string, s: Probe) => {
      this.event(`${what} probe of ${c.name} failed ${s.failureThreshold ?? 3} times: container will be restarted`);
      const grace = (s.terminationGracePeriodSeconds ?? this.graceSeconds()) * 1000;
      await this.terminateContainer(r, grace, `${what} probe failure`);
    };
    if (c.startupProbe) {
      const s = c.startupProbe;
      await sleep((s.initialDelaySeconds ?? 0) * 1000, r.gone.signal);
      for (let fails = 0; alive();) {
        const res = await this.runProbe(r, s);
        if (!alive()) return;
        if (res.ok) break;
        fails += 1;
        if (fails >= (s.failureThreshold ?? 3)) { await kill('startup', s); return; }
        await sleep(period(s), r.gone.signal);
      }
    }
    if (!alive()) return;
    this.started = true;
    const readiness = async () => {
      const s = c.readinessProbe;
      if (!s) { this.ready.set(c.name, true); return; }
      await sleep((s.initialDelaySeconds ?? 0) * 1000, r.gone.signal);
      let ok = 0;
      let fails = 0;
      while (alive()) {
        const res = await this.runProbe(r, s);
        if (!alive()) break;
        const wasReady = this.isReady();
        if (res.ok) {
          fails = 0; ok += 1;
          if (ok >= (s.successThreshold ?? 1)) this.ready.set(c.name, true);
        } else {
          ok = 0; fails += 1;
          if (fails >= (s.failureThreshold ?? 3)) this.ready.set(c.name, false);
        }
        if (!wasReady && this.isReady()) this.event('ready');
        if (wasReady && !this.isReady()) this.event(`not ready: ${c.name}: ${tail(res.output.trim(), 3)}`);
        await sleep(period(s), r.gone.signal);
      }
      this.ready.set(c.name, false);
    };
    const liveness = async () => {
      const s = c.livenessProbe;
      if (!s) return;
      await sleep((s.initialDelaySeconds ?? 0) * 1000, r.gone.signal);
      let fails = 0;
      while (alive()) {
        const res = await this.runProbe(r, s);
        if (!alive()) return;
        fails = res.ok ? 0 : fails + 1;
        if (!res.ok) this.event(`liveness probe of ${c.name} failed (${fails}/${s.failureThreshold ?? 3}): ${tail(res.output.trim(), 3)}`);
        if (fails >= (s.failureThreshold ?? 3)) { await kill('liveness', s); return; }
        await sleep(period(s), r.gone.signal);
      }
    };
    await Promise.all([readiness(), liveness()]);
  }

  // ---------------------------------------------------------------- stopping

  private graceSeconds(): number {
    return this.template?.spec.terminationGracePeriodSeconds ?? 30;
  }

  /** preStop hook, SIGTERM to pid 1 of the container, SIGKILL after graceMs; resolves when it is gone. */
  private async terminateContainer(r: ContainerRun, graceMs: number, reason: string): Promise<boolean> {
    if (r.exited) return true;
    const deadline = Date.now() + graceMs;
    const hook = r.container.lifecycle?.preStop?.exec?.command;
    if (hook && r.kind === 'main') {
      this.event(`running preStop hook of ${r.container.name} (${reason})`);
      const res = await r.exec(hook, { timeoutMs: Math.max(1, graceMs) });
      this.event(`preStop of ${r.container.name} exited ${res.exitCode}: ${tail(res.output, 5)}`);
    }
    if (r.initPid !== null) {
      this.event(`SIGTERM to ${r.container.name} (${reason})`);
      r.signal('SIGTERM');
    }
    await Promise.race([r.exit, guard(Math.max(0, deadline - Date.now()))]);
    if (r.exited) return true;
    this.event(`grace period over: SIGKILL ${r.container.name}`);
    r.kill();
    await Promise.race([r.exit, guard(10_000)]);
    return false;
  }

  /** Marks the pod as terminating (no more restarts or probes). */
  public beginStop(): void {
    if (this.stopping) return;
    this.stopping = true;
    if (this.phase !== 'Stopped') this.phase = 'Terminating';
    this.state = 'Terminating';
    this.ready.clear();
    this.abort.abort();
    for (const r of this.runs.values()) r.gone.abort();
  }

  /**
   * Deletes the pod. TERM: every container's preStop hook, then SIGTERM to it, SIGKILL when the
   * grace period is over. KILL: SIGKILL to every process of the pod at once. Either way no
   * process of the pod is left afterwards and the emptyDirs are gone; the claims stay.
   */
  public async stop(signal: StopSignal, opts: { gracePeriodSeconds?: number } = {}): Promise<StopResult> {
    if (this.phase === 'Stopped') return { exitCode: null, graceful: false, ms: 0 };
    const t0 = Date.now();
    this.beginStop();
    const first = this.container();
    const runs = [...this.runs.values()];
    let graceful = false;
    if (signal === 'KILL') {
      this.event('SIGKILL to every process of the pod');
      for (const r of runs) r.killed = true;
      this.killProcesses();
    } else {
      const graceMs = (opts.gracePeriodSeconds ?? this.graceSeconds()) * 1000;
      graceful = (await Promise.all(runs.map((r) => this.terminateContainer(r, graceMs, 'pod deletion')))).every(Boolean);
    }
    await this.finishStop();
    return { exitCode: first?.exited?.exitCode ?? null, graceful: signal === 'TERM' && graceful, ms: Date.now() - t0 };
  }

  /** SIGKILL to every process of the pod: those in its network namespace and those the harness started for it. */
  public killProcesses(): void {
    for (const r of this.runs.values()) r.killed = true;
    killGroups(this.procs);
    killPids(netnsPids(this.place.ns), 'SIGKILL');
  }

  public processesLeft(): number[] {
    return [...netnsPids(this.place.ns), ...[...this.procs].filter((pid) => pidAlive(pid))];
  }

  private async finishStop(): Promise<void> {
    // Until two scans in a row (50 ms apart) find nothing, bounded.
    for (let round = 0, clean = 0; clean < 2; round++) {
      const left = this.processesLeft();
      clean = left.length === 0 ? clean + 1 : 0;
      this.killProcesses();
      if (round >= 200) throw new Error(`pod ${this.place.name}: processes ${left.join(' ')} survive SIGKILL`);
      await sleep(50);
    }
    if (this.loop) await Promise.race([this.loop, guard(15_000)]);
    this.loop = null;
    this.runs.clear();
    this.volumes.teardown();
    this.phase = 'Stopped';
    this.state = 'Stopped';
    this.started = false;
    this.event('pod stopped');
  }

  /** Synchronous teardown for exit handlers: kill everything, mark stopped. */
  public abandon(): void {
    this.stopping = true;
    this.abort.abort();
    this.ready.clear();
    this.phase = 'Stopped';
    this.state = 'Stopped';
    for (const r of this.runs.values()) r.killed = true;
    killGroups(this.procs);
  }

  // ---------------------------------------------------------------- logs and events

  public event(msg: string): void {
    try {
      mkdirSync(this.place.dir, { recursive: true });
      writeFileSync(join(this.place.dir, 'events.log'), `${new Date().toISOString()} ${msg}\n`, { flag: 'a' });
    } catch { /* run dir gone after cleanup */ }
  }

  /** What the harness did to the pod (starts, exits, probe failures, signals), one line each. */
  public events(): string {
    try { return readFileSync(join(this.place.dir, 'events.log'), 'utf8'); } catch { return ''; }
  }

  /** Every container log of the pod over all its instances, oldest first, each under a header line; one container's only when named. */
  public logs(container?: string): string {
    let files: string[];
    try {
      files = readdirSync(this.place.dir).filter((f) => /^[0-9]{3,}-.*\.log$/.test(f)).sort((a, b) => parseInt(a, 10) - parseInt(b, 10));
    } catch {
      return '';
    }
    if (container !== undefined) files = files.filter((f) => f.replace(/^[0-9]+-/, '') === `${container}.log`);
    return files.map((f) => `==> ${f} <==\n${readFileSync(join(this.place.dir, f), 'utf8')}`).join('\n');
  }
}

export function tail(text: string, lines: number): string {
  return text.split('\n').slice(-lines).join('\n');
}
