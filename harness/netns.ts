// Network namespaces, veths and the bridge of one harness run, the run registry and the
// removal of what crashed runs left behind.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'fs';
import { join } from 'path';
import { killPids, netnsPids, pidAlive, pidStartTime, runSync, which } from './proc';

/** Every name this harness creates starts with MARK plus four base-36 characters. */
export const MARK = 'gph';
const PREFIX_RE = /^gph[0-9a-z]{4}/;
export const REGISTRY_DIR = '/run/galera-pods-harness';
export const DEFAULT_RUN_ROOT = '/var/tmp/galera-pods';
/** Written into a run directory by a clean cleanup(); such directories (logs only) are kept a day. */
export const FINISHED_MARKER = 'FINISHED';
const KEEP_FINISHED_MS = 24 * 3600 * 1000;

export interface RunRecord {
  prefix: string; pid: number; startTime: string | null; runDir: string; runDirOwned: boolean; subnet?: string; created: string;
}

export const IP = which('ip');
export const BRIDGE = which('bridge');

export function ipSync(args: readonly string[]): void {
  const r = runSync(IP, args);
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')} failed: ${r.stderr.trim()}`);
}

/** A fresh prefix (MARK + 4 chars) that no namespace, link or registry entry uses yet. */
export function newPrefix(): string {
  const used = new Set<string>([...listNetns(), ...listLinks()].map((n) => n.slice(0, 7)));
  for (let attempt = 0; attempt < 1000; attempt++) {
    const n = (process.pid * 7919 + attempt * 104729 + Math.floor(Math.random() * 1e6)) % 36 ** 4;
    const prefix = MARK + n.toString(36).padStart(4, '0');
    if (!used.has(prefix) && !existsSync(join(REGISTRY_DIR, `${prefix}.json`))) return prefix;
  }
  throw new Error('could not find a free harness prefix');
}

/**
 * Third octet of the run's 10.250.X.0/24: derived from the pid, skipping the subnets of other
 * registered runs. (The addresses exist only inside the run's own namespaces and bridge, and the
 * root namespace gets none, so even equal subnets could not collide; distinct ones keep logs clear.)
 */
export function chooseSubnetOctet(): number {
  const used = new Set<string>();
  try {
    for (const f of readdirSync(REGISTRY_DIR)) {
      const rec = readRecord(f.replace(/\.json$/, ''));
      if (rec?.subnet) used.add(rec.subnet);
    }
  } catch { /* no registry yet */ }
  for (let k = 0; k < 250; k++) {
    const x = (process.pid + k) % 250;
    if (!used.has(`10.250.${x}`)) return x;
  }
  return process.pid % 250;
}

export function register(rec: RunRecord): void {
  mkdirSync(REGISTRY_DIR, { recursive: true });
  writeFileSync(join(REGISTRY_DIR, `${rec.prefix}.json`), JSON.stringify(rec, null, 1));
}

export function unregister(prefix: string): void {
  rmSync(join(REGISTRY_DIR, `${prefix}.json`), { force: true });
}

function readRecord(prefix: string): RunRecord | null {
  try {
    return JSON.parse(readFileSync(join(REGISTRY_DIR, `${prefix}.json`), 'utf8')) as RunRecord;
  } catch {
    return null;
  }
}

function ownerAlive(rec: RunRecord | null): boolean {
  return rec !== null && pidAlive(rec.pid) && (rec.startTime === null || pidStartTime(rec.pid) === rec.startTime);
}

export function listNetns(): string[] {
  try {
    return readdirSync('/run/netns');
  } catch {
    return [];
  }
}

export function listLinks(): string[] {
  const r = runSync(IP, ['-o', 'link', 'show']);
  const names: string[] = [];
  for (const line of r.stdout.split('\n')) {
    const m = /^[0-9]+: ([^:@\s]+)/.exec(line);
    if (m) names.push(m[1]);
  }
  return names;
}

/** Unmounts (lazily) every mount at or below dir, deepest first. */
export function unmountBelow(dir: string): void {
  let info = '';
  try {
    info = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return;
  }
  const points = info.split('\n').map((l) => l.split(' ')[4]).filter((p): p is string => !!p && (p === dir || p.startsWith(`${dir}/`)));
  for (const p of points.sort((a, b) => b.length - a.length)) runSync(which('umount'), ['-l', p]);
}

/**
 * Deletes every namespace, link, /etc/netns directory, registry entry, mount and run
 * directory of one prefix, killing the namespaces' processes first. Synchronous, never throws.
 */
export function destroyPrefix(prefix: string, runDir: string | null, removeRunDir: boolean): string[] {
  const problems: string[] = [];
  const namespaces = listNetns().filter((n) => n.startsWith(`${prefix}-`));
  // Kill the processes of every namespace, repeatedly, until none is left (bounded).
  for (let round = 0; round < 50; round++) {
    const pids = namespaces.flatMap((ns) => netnsPids(ns));
    if (pids.length === 0) break;
    killPids(pids, 'SIGKILL');
    runSync('/bin/sleep', ['0.1']);
    if (round === 49) problems.push(`processes survived SIGKILL: ${pids.join(' ')}`);
  }
  for (const ns of namespaces) {
    const r = runSync(IP, ['netns', 'delete', ns]);
    if (r.status !== 0 && existsSync(`/run/netns/${ns}`)) problems.push(`ip netns delete ${ns}: ${r.stderr.trim()}`);
  }
  for (const link of listLinks().filter((l) => l.startsWith(prefix))) {
    const r = runSync(IP, ['link', 'delete', link]);
    if (r.status !== 0 && listLinks().includes(link)) problems.push(`ip link delete ${link}: ${r.stderr.trim()}`);
  }
  try {
    for (const d of readdirSync('/etc/netns').filter((d) => d.startsWith(`${prefix}-`))) rmSync(join('/etc/netns', d), {
      recursive: true, force: true,
    });
  } catch { /* no /etc/netns */ }
  if (runDir) {
    unmountBelow(runDir);
    if (removeRunDir) {
      try {
        rmSync(runDir, { recursive: true, force: true });
      } catch (e) {
        problems.push(`rm ${runDir}: ${String(e)}`);
      }
    }
  }
  unregister(prefix);
  return problems;
}

/**
 * Removes what earlier runs of this harness left behind: every prefix whose owning process
 * is gone (or that has no registry entry at all). Runs of live processes, such as other test
 * workers on the same machine, are left alone.
 */
export function removeLeftovers(): string[] {
  const prefixes = new Set<string>();
  for (const n of [...listNetns(), ...listLinks()]) if (PREFIX_RE.test(n)) prefixes.add(n.slice(0, 7));
  try {
    for (const d of readdirSync('/etc/netns')) if (PREFIX_RE.test(d)) prefixes.add(d.slice(0, 7));
  } catch { /* none */ }
  try {
    for (const f of readdirSync(REGISTRY_DIR)) if (PREFIX_RE.test(f)) prefixes.add(f.slice(0, 7));
  } catch { /* none */ }
  try {
    for (const d of readdirSync(DEFAULT_RUN_ROOT)) {
      if (!PREFIX_RE.test(d) || d.length !== 7) continue;
      try {
        if (Date.now() - statSync(join(DEFAULT_RUN_ROOT, d, FINISHED_MARKER)).mtimeMs < KEEP_FINISHED_MS) continue;
      } catch { /* not finished cleanly: a leftover */ }
      prefixes.add(d);
    }
  } catch { /* none */ }
  const removed: string[] = [];
  for (const prefix of prefixes) {
    const rec = readRecord(prefix);
    if (ownerAlive(rec)) continue;
    const runDir = rec?.runDir ?? join(DEFAULT_RUN_ROOT, prefix);
    // A crashed run's data volumes can be large: remove the directory if the harness made it.
    destroyPrefix(prefix, runDir, rec ? rec.runDirOwned : existsSync(join(DEFAULT_RUN_ROOT, prefix)));
    removed.push(prefix);
  }
  return removed;
}
