// Small process helpers for the pod harness: every child gets an argument array (never a
// shell string), its own process group (so a timeout kills everything it started) and a
// bounded run time.
import { spawn, spawnSync } from 'child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'fs';

export interface RunResult {
  /** Exit code, or 128 + signal number when killed by a signal (shell convention). */
  readonly exitCode: number;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
  readonly ms: number;
}

export interface RunOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly timeoutMs?: number;
  readonly input?: string;
  readonly cwd?: string;
  /** Bytes of stdout and of stderr kept, each. @default 4 MiB */
  readonly maxBytes?: number;
  /** The child's pid (= its process group) is in this set while it runs, so that its owner can kill it. */
  readonly track?: Set<number>;
}

const SIGNUM: Record<string, number> = {
  SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGABRT: 6, SIGKILL: 9, SIGSEGV: 11, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15,
};

export function signalNumber(sig: NodeJS.Signals | null): number {
  return sig ? (SIGNUM[sig] ?? 0) : 0;
}

/** Runs a command to completion (or until timeoutMs, then SIGKILLs its whole process group). */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const maxBytes = opts.maxBytes ?? 4 * 2 ** 20;
  const started = Date.now();
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let settled = false;
    const child = spawn(cmd, args as string[], {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      detached: true,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    if (child.pid !== undefined) opts.track?.add(child.pid);
    const killGroup = () => {
      if (child.pid !== undefined) {
        try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
      }
    };
    const timer = setTimeout(() => { timedOut = true; killGroup(); }, timeoutMs);
    child.stdout?.on('data', (d: Buffer) => { if (stdout.length < maxBytes) stdout += d.toString(); });
    child.stderr?.on('data', (d: Buffer) => { if (stderr.length < maxBytes) stderr += d.toString(); });
    if (opts.input !== undefined) {
      child.stdin?.on('error', () => { /* child closed stdin early */ });
      child.stdin?.end(opts.input);
    }
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (child.pid !== undefined) opts.track?.delete(child.pid);
      resolve({
        exitCode: code ?? (signal ? 128 + signalNumber(signal) : -1),
        signal, stdout, stderr, timedOut, ms: Date.now() - started,
      });
    };
    child.on('error', (e) => { stderr += String(e); finish(127, null); });
    // 'close' waits for stdio; a grandchild that keeps stdout open must not hang us, so after
    // 'exit' give the pipes a moment, then settle anyway.
    child.on('close', (code, signal) => finish(code, signal));
    child.on('exit', (code, signal) => {
      setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        finish(code, signal);
      }, 300).unref();
    });
  });
}

/** Like run(), but throws with stderr unless the exit code is 0. */
export async function runOk(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.exitCode !== 0) {
    throw new Error(
      `${cmd} ${args.join(' ')} failed (exit ${r.exitCode}${r.timedOut ? ', timed out' : ''}): ${r.stderr.trim() || r.stdout.trim()}`,
    );
  }
  return r.stdout;
}

/** Synchronous variant for exit handlers; never throws. */
export function runSync(cmd: string, args: readonly string[], timeoutMs = 10_000): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args as string[], { timeout: timeoutMs, encoding: 'utf8', killSignal: 'SIGKILL' });
  return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ? String(r.error) : '') };
}

/** First existing path among candidates (the harness calls tools by absolute path). */
export function which(name: string): string {
  for (const dir of ['/usr/sbin', '/usr/bin', '/sbin', '/bin', '/usr/local/sbin', '/usr/local/bin']) {
    if (existsSync(`${dir}/${name}`)) return `${dir}/${name}`;
  }
  throw new Error(`${name} not found; the pod harness needs it (Debian: iproute2, util-linux, mariadb-client, socat)`);
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) { resolve(); return; }
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** A sleep that does not keep the process alive (for Promise.race guards). */
export function guard(ms: number): Promise<void> {
  return new Promise((resolve) => { setTimeout(resolve, ms).unref(); });
}

/** The process exists and is not a zombie. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Start time of a process in clock ticks since boot (field 22 of /proc/<pid>/stat), or null. */
export function pidStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[19] ?? null; // field 22 is the 20th after "pid (comm)"
  } catch {
    return null;
  }
}

/**
 * Every process whose network namespace is the named one (what `ip netns pids` prints),
 * found by comparing namespace inodes; synchronous so that exit handlers can use it.
 */
export function netnsPids(nsName: string): number[] {
  let target: { dev: number; ino: number };
  try {
    const st = statSync(`/run/netns/${nsName}`);
    target = { dev: st.dev, ino: st.ino };
  } catch {
    return [];
  }
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    try {
      const st = statSync(`/proc/${entry}/ns/net`);
      if (st.ino === target.ino && st.dev === target.dev) pids.push(Number(entry));
    } catch { /* exited or kernel thread */ }
  }
  return pids;
}

export function killPids(pids: readonly number[], sig: NodeJS.Signals = 'SIGKILL'): void {
  for (const pid of pids) {
    if (pid === process.pid) continue;
    try { process.kill(pid, sig); } catch { /* gone */ }
  }
}

/** SIGKILL to each process group (and process) in the set. */
export function killGroups(pgids: Iterable<number>): void {
  for (const pg of pgids) {
    if (pg <= 1 || pg === process.pid) continue;
    try { process.kill(-pg, 'SIGKILL'); } catch { /* gone */ }
    try { process.kill(pg, 'SIGKILL'); } catch { /* gone */ }
  }
}

/** Direct children of a process (from /proc/<pid>/task/<pid>/children). */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}
