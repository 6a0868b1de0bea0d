// The pods of one StatefulSet or Deployment, addressed by ordinal: pod i of StatefulSet `galera`
// is galera-i (with its DNS names and its claims), pod i of Deployment `galera-proxysql` is
// galera-proxysql-i.
import { chownSync, existsSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'fs';
import { join } from 'path';
import type { PodCluster, Slot } from './cluster';
import { ExecResult, userFor } from './containers';
import { LedgerReport, opsSchemaSql, OpsLedgerReport, WriterHandle, WriterOptions } from './ledger';
import { IP } from './netns';
import { PodRuntime, PodStatus, ProbeKind, ProbeResult, StopResult, tail } from './pod';
import { netnsPids, run, sleep, which } from './proc';
import { PodTemplate, StatefulSet, VolumeClaimTemplate, WorkloadObject } from './spec';
import { claimDir } from './volumes';

/** The longest waitFor waits between two runs of a probe (the nodes' readiness period is 5 s). */
const WAIT_POLL_MS = 1000;

const MARIADB = which('mariadb');
const IMAGE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

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
  /**
   * Use TLS when the server offers it (the client's --ssl, no verification); false: plain text only (--skip-ssl).
   * @default true for sqlIn; for Workload.sql, plain text unless the server refuses it
   */
  readonly ssl?: boolean;
}

/** How MariaDB and ProxySQL refuse a client at its connection (a plain-text one that must use TLS among them). */
const REFUSED = /ERROR 1045 |insecure transport are prohibited|SSL is required/;

export class Workload {
  public readonly kind: 'StatefulSet' | 'Deployment';
  public readonly name: string;
  public readonly namespace: string;
  /** The headless Service of a StatefulSet (its pods' DNS subdomain). */
  public readonly serviceName: string;
  /** The object new pods are created from (update() replaces it). */
  public object: WorkloadObject;
  private readonly pods: PodRuntime[];
  /** Set once a pod refused the harness's plain-text SQL (see sql). */
  private sqlNeedsTls = false;

  constructor(private readonly cluster: PodCluster, object: WorkloadObject, private readonly slots: Slot[]) {
    this.object = object;
    this.kind = object.kind;
    this.name = object.metadata.name ?? '';
    this.namespace = object.metadata.namespace ?? 'default';
    this.serviceName = object.kind === 'StatefulSet' ? object.spec.serviceName ?? this.name : this.name;
    if (!object.spec.template.spec?.containers?.length) throw new Error(`${this.kind} ${this.name} has no containers`);
    this.pods = slots.map((slot, i) => new PodRuntime(cluster, {
      ns: slot.ns, name: `${this.name}-${i}`, namespace: this.namespace, dir: join(cluster.runDir, 'pods', `${this.name}-${i}`),
      ip: () => slot.ip,
    }));
  }

  /** Replaces the object (a `kubectl apply`); the name, namespace and serviceName must stay. */
  public update(object: WorkloadObject): void {
    if (object.kind !== this.kind || (object.metadata.namespace ?? 'default') !== this.namespace
      || (object.kind === 'StatefulSet' ? object.spec.serviceName ?? this.name : this.name) !== this.serviceName) {
      throw new Error(`setManifests: ${this.kind} ${this.name} must keep its kind, namespace and serviceName`);
    }
    if (!object.spec.template.spec?.containers?.length) throw new Error(`${this.kind} ${this.name} has no containers`);
    this.object = object;
  }

  public get template(): PodTemplate {
    return this.object.spec.template;
  }

  public get runtimes(): PodRuntime[] {
    return this.pods;
  }

  public get maxPods(): number {
    return this.pods.length;
  }

  private claims(): VolumeClaimTemplate[] {
    return this.object.kind === 'StatefulSet' ? (this.object as StatefulSet).spec.volumeClaimTemplates ?? [] : [];
  }

  public forEachSlot(fn: (i: number, slot: Slot) => void): void {
    this.slots.forEach((s, i) => fn(i, s));
  }

  private pod(i: number): PodRuntime {
    const p = this.pods[i];
    if (!Number.isInteger(i) || !p) throw new Error(`${this.name}: pod ordinal ${i} is outside 0..${this.pods.length - 1}`);
    return p;
  }

  /** The runtime of pod i (for what the ordinal API does not cover). */
  public runtime(i: number): PodRuntime {
    return this.pod(i);
  }

  // ---------------------------------------------------------------- names and addresses

  public podName(i: number): string { return this.pod(i).place.name; }
  public nsName(i: number): string { return this.pod(i).place.ns; }
  public podIp(i: number): string { return this.pod(i).place.ip(); }
  /** The network namespace pod i runs in. */
  public podNs(i: number): string { return this.pod(i).place.ns; }

  // ---------------------------------------------------------------- processes

  /** The processes of pod i (its network namespace holds them) whose command line matches. */
  public processes(i: number, match: (cmdline: string) => boolean): number[] {
    return netnsPids(this.podNs(i)).filter((pid) => {
      try {
        return match(readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' '));
      } catch {
        return false; // exited
      }
    });
  }

  /** The pid of the process named `comm` in pod i; throws naming both when there is none. */
  public processPid(i: number, comm: string): number {
    const pid = netnsPids(this.podNs(i)).find((p) => {
      try { return readFileSync(`/proc/${p}/comm`, 'utf8').trim() === comm; } catch { return false; }
    });
    if (!pid) throw new Error(`no ${comm} in pod ${this.podName(i)}`);
    return pid;
  }

  /** The pid of `comm` in pod i as soon as it runs (looked for every 10 ms, so a short-lived one is caught early). */
  public async processPidWhenStarted(i: number, comm: string, timeoutMs: number): Promise<number> {
    const t0 = Date.now();
    for (;;) {
      try {
        return this.processPid(i, comm);
      } catch (e) {
        if (Date.now() - t0 > timeoutMs) throw new Error(`${String(e)} after ${timeoutMs} ms`);
      }
      await sleep(10);
    }
  }
  public slot(i: number): Slot { this.pod(i); return this.slots[i]; }
  /** Fully qualified DNS name of pod i (StatefulSets). */
  public podFqdn(i: number): string { return `${this.podName(i)}.${this.serviceName}.${this.namespace}.svc.${this.cluster.clusterDomain}`; }
  /** Every DNS name of StatefulSet pod i: the FQDN and its short forms. */
  public dnsNames(i: number): string[] {
    const base = `${this.podName(i)}.${this.serviceName}`;
    return [this.podFqdn(i), `${base}.${this.namespace}.svc`, `${base}.${this.namespace}`, base];
  }
  /** Host directory of pod i's claim (the first volumeClaimTemplate by default). */
  public dataDir(i: number, claim?: string): string {
    return claimDir(this.cluster, claim ?? this.claims()[0]?.metadata.name ?? 'data', this.podName(i), false);
  }
  public podDir(i: number): string { return this.pod(i).place.dir; }

  // ---------------------------------------------------------------- life cycle

  public status(i: number): PodStatus { return this.pod(i).status(); }
  public restarts(i: number): number { return this.pod(i).status().restarts; }
  /** Readiness as the background kubelet probes see it (always false with kubeletProbes: false). */
  public isReady(i: number): boolean { return this.pod(i).isReady(); }
  /** True from startPod(i) until pod i is stopped (whatever its containers are doing). */
  public isRunning(i: number): boolean { return this.pod(i).phase !== 'Stopped'; }

  /**
   * Creates pod i from the current object: fresh emptyDirs, its claims, init containers, then
   * the containers. `newIp` gives the pod a new address, as a rescheduled pod gets.
   */
  public async startPod(i: number, opts: { newIp?: boolean } = {}): Promise<void> {
    const p = this.pod(i);
    if (p.phase !== 'Stopped') throw new Error(`pod ${this.podName(i)} is already ${p.phase}`);
    if (opts.newIp) this.cluster.changeIp(this.slots[i]);
    await p.start(this.template, this.claims());
  }

  public stopPod(i: number, signal: 'TERM' | 'KILL', opts: { gracePeriodSeconds?: number } = {}): Promise<StopResult> {
    return this.pod(i).stop(signal, opts);
  }

  /** Stops every running pod at the same instant (full crash with KILL, full shutdown with TERM). */
  public async stopAll(signal: 'TERM' | 'KILL', opts: { gracePeriodSeconds?: number } = {}): Promise<StopResult[]> {
    const running = this.pods.filter((p) => p.phase !== 'Stopped');
    if (signal === 'KILL') {
      for (const p of running) p.beginStop();
      for (const p of running) p.killProcesses();
      for (const p of running) p.event('SIGKILL to every process of the pod (stopAll)');
    }
    return Promise.all(running.map((p) => p.stop(signal, opts)));
  }

  public partition(i: number): void { this.cluster.partition(this.slot(i)); }
  public heal(i: number): void { this.cluster.heal(this.slot(i)); }

  // ---------------------------------------------------------------- exec and probes

  /** Runs a command inside a container of pod i (the first unless named), like kubectl exec. */
  public exec(
    i: number, command: readonly string[],
    opts: { timeoutMs?: number; root?: boolean; env?: Record<string, string>; container?: string } = {},
  ): Promise<ExecResult> {
    return this.pod(i).exec(command, opts);
  }

  /** Runs the manifest's probe of pod i once (the first container's unless named), with its timeoutSeconds. */
  public async probe(i: number, kind: ProbeKind, container?: string): Promise<ProbeResult> {
    const p = this.pod(i);
    const spec = p.probeSpec(kind, p.spec ?? this.template, container);
    if (!spec) return { ok: true, exitCode: 0, output: `no ${kind} probe`, ms: 0 };
    return p.runProbe(p.container(container), spec);
  }

  /**
   * Polls pod i's probe every second (its periodSeconds when shorter, or intervalMs) until it
   * succeeds; returns the elapsed milliseconds, or throws with the last probe output and the pod's
   * last log lines. A test waits for the moment the probe passes, not for the kubelet's next
   * period (up to 5 s later for the nodes' readiness), which the background probes still keep.
   */
  public async waitFor(
    i: number, kind: ProbeKind, timeoutMs: number, opts: { intervalMs?: number; container?: string } = {},
  ): Promise<number> {
    const p = this.pod(i);
    const spec = p.probeSpec(kind, p.spec ?? this.template, opts.container);
    const interval = opts.intervalMs ?? Math.min(WAIT_POLL_MS, (spec?.periodSeconds ?? 10) * 1000);
    const t0 = Date.now();
    let last: ProbeResult | null = null;
    while (Date.now() - t0 < timeoutMs) {
      if (p.container(opts.container)) {
        last = await this.probe(i, kind, opts.container);
        if (last.ok) return Date.now() - t0;
      }
      const left = timeoutMs - (Date.now() - t0);
      if (left <= 0) break;
      await sleep(Math.min(interval, left));
    }
    throw new Error(`pod ${this.podName(i)}: ${kind} probe did not pass within ${timeoutMs} ms (state ${p.state}, `
      + `restarts ${p.status().restarts})\n`
      + `last probe: ${last ? `exit ${last.exitCode}: ${tail(last.output.trim(), 10)}` : 'never ran (container not running)'}\n`
      + `events:\n${tail(this.events(i), 15)}\nlast log lines:\n${tail(this.logs(i), 60)}`);
  }

  public events(i: number): string { return this.pod(i).events(); }
  /** Every container log of pod i over all its instances (one container's when named). */
  public logs(i: number, container?: string): string { return this.pod(i).logs(container); }

  // ---------------------------------------------------------------- volumes

  /** Empties pod i's claims (the pod must be stopped), like a new PersistentVolume. */
  public wipeVolume(i: number): void {
    const p = this.pod(i);
    if (p.phase !== 'Stopped') throw new Error(`wipeVolume(${i}): pod is ${p.phase}; stop it first`);
    for (const t of this.claims().length > 0 ? this.claims() : [{ metadata: { name: 'data' } }]) rmSync(this.dataDir(i, t.metadata.name), {
      recursive: true, force: true,
    });
  }

  /**
   * Host path of relPath inside one of pod i's volumes: by default the first claim (survives
   * stops); an emptyDir, ConfigMap or Secret volume name refers to the running instance's copy.
   */
  public volumePath(i: number, relPath = '', volume?: string): string {
    const p = this.pod(i);
    if (relPath.startsWith('/') || relPath.split('/').includes('..')) throw new Error(
      `volumePath: relative path without '..' expected, got ${relPath}`,
    );
    const claims = this.claims();
    const name = volume ?? claims[0]?.metadata.name ?? 'data';
    if (claims.some((t) => (t.metadata.name ?? 'data') === name) || volume === undefined) return join(
      claimDir(this.cluster, name, this.podName(i)), relPath,
    );
    const dir = p.volumeDirs.get(name);
    if (!dir || p.phase === 'Stopped') throw new Error(`volumePath: pod ${this.podName(i)} has no running volume ${name}`);
    return join(dir, relPath);
  }

  public volumeHas(i: number, relPath: string, volume?: string): boolean {
    return existsSync(this.volumePath(i, relPath, volume));
  }

  /** Creates (or updates the time of) a file in a volume, owned by the container user, as `kubectl exec … touch` would. */
  public touchInVolume(i: number, relPath: string, opts: { volume?: string; content?: string } = {}): string {
    const path = this.volumePath(i, relPath, opts.volume);
    const p = this.pod(i);
    const template = p.spec ?? this.template;
    const user = userFor(this.cluster, template.spec, template.spec.containers[0]);
    if (opts.content !== undefined || !existsSync(path)) writeFileSync(path, opts.content ?? '', { mode: 0o644 });
    const now = new Date();
    utimesSync(path, now, now);
    chownSync(path, user.uid, user.gid);
    return path;
  }

  // ---------------------------------------------------------------- SQL and load

  /** Runs `mariadb -N -B` in pod i's network namespace (against 127.0.0.1:3306 by default); rows of the last result sets. */
  public async sql(i: number, query: string, opts: SqlOptions = {}): Promise<string[][]> {
    const user = opts.user ?? 'root';
    const password = opts.password
      ?? (user === 'root' ? this.cluster.secret(this.secretName())?.['root-password']?.toString('utf8') : undefined);
    const run = (ssl: boolean) => sqlIn(this.nsName(i), query, { ...opts, user, password, ssl }, this.pod(i).procs, this.podName(i));
    // The harness's own queries (no `ssl` given) go in plain text where the server takes it: a TLS
    // handshake costs the client about 50 ms of CPU (10 ms the whole call without), and the suite
    // makes thousands. A refusal (require_secure_transport says "Access denied" to a plain client,
    // as to a wrong password; ProxySQL says TLS is required) comes before the query runs: the
    // query is sent again over TLS, which answers as before, and once TLS got in, this workload
    // uses it from then on.
    if (opts.ssl !== undefined || this.sqlNeedsTls) return run(opts.ssl ?? true);
    try {
      return await run(false);
    } catch (e) {
      if (!REFUSED.test((e as Error).message)) throw e;
    }
    const rows = await run(true);
    this.sqlNeedsTls = true;
    return rows;
  }

  /** The Secret the first volume of kind secret names (the credentials). */
  private secretName(): string {
    return (this.template.spec.volumes ?? []).find((v) => v.secret)?.secret?.secretName ?? '';
  }

  /** A write-load generator from the client namespace against the listed pods (see PodCluster.startWriter). */
  public startWriter(opts: WriterOptions): Promise<WriterHandle> {
    const password = opts.password ?? this.cluster.secret(this.secretName())?.['root-password']?.toString('utf8');
    return this.cluster.startWriter({
      ...opts, password, targets: opts.pods.map((i) => ({ pod: i, host: this.podIp(i), port: opts.port ?? 3306 })),
    });
  }

  /** Every acknowledged id is on every listed pod (read with wsrep_sync_wait=1) and CHECKSUM TABLE agrees. */
  public verifyLedger(
    acked: readonly number[], pods: readonly number[], opts: { table?: string; database?: string; timeoutMs?: number } = {},
  ): Promise<LedgerReport> {
    return this.cluster.verifyLedger(
      (i, q) => this.sql(i, q, { timeoutMs: opts.timeoutMs ?? 60_000 }), acked, pods, opts.table ?? 'acks', opts.database ?? 'ledger',
    );
  }

  /**
   * Creates the tables and trigger of the non-idempotent ledger (opsSchemaSql) as root on pod i,
   * before a writer with mode 'ops' starts.
   */
  public async createOpsSchema(i: number, opts: { table?: string; database?: string } = {}): Promise<void> {
    await this.sql(i, opsSchemaSql(opts.database ?? 'ledger', opts.table ?? 'acks'), { timeoutMs: 60_000 });
  }

  /** The non-idempotent ledger of a writer started with mode 'ops' (see verifyOpsLedger in ledger.ts), on every listed pod. */
  public verifyOpsLedger(
    writer: WriterHandle, pods: readonly number[], opts: { table?: string; database?: string; timeoutMs?: number } = {},
  ): Promise<OpsLedgerReport> {
    return this.cluster.verifyOpsLedger(
      (i, q) => this.sql(i, q, { timeoutMs: opts.timeoutMs ?? 60_000 }), writer.ledgerFile, pods, opts.table ?? 'acks',
      opts.database ?? 'ledger',
    );
  }
}

/** Runs `mariadb -N -B` in a network namespace; rows of the last result sets (tabs and newlines unescaped). */
export async function sqlIn(
  ns: string, query: string, opts: SqlOptions & { user: string }, procs: Set<number>, label: string,
): Promise<string[][]> {
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const args = ['netns', 'exec', ns, MARIADB, '--no-defaults', '-N', '-B', '--protocol=TCP', '-h', opts.host ?? '127.0.0.1',
    '-P', String(opts.port ?? 3306), '-u', opts.user, `--connect-timeout=${Math.max(1, Math.ceil(timeoutMs / 3000))}`,
    opts.ssl === false ? '--skip-ssl' : '--ssl',
    ...(opts.database ? ['-D', opts.database] : []), '-e', query];
  const env: NodeJS.ProcessEnv = { PATH: IMAGE_PATH, ...(opts.password !== undefined ? { MYSQL_PWD: opts.password } : {}) };
  const res = await run(IP, args, { env, timeoutMs, track: procs });
  if (res.exitCode !== 0) {
    throw new Error(`sql on ${label} failed `
      + `(exit ${res.exitCode}${res.timedOut ? `, timed out after ${timeoutMs} ms` : ''}): ${res.stderr.trim()}\nquery: ${query}`);
  }
  const unescape = (s: string) => s.replace(/\\(.)/g, (
    _m, ch: string,
  ) => ({ n: '\n', t: '\t', '0': '\0', '\\': '\\' } as Record<string, string>)[ch] ?? ch);
  return res.stdout.split('\n').filter((l, idx, a) => !(l === '' && idx === a.length - 1)).map((l) => l.split('\t').map(unescape));
}
