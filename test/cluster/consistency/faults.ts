import { execFileSync } from 'child_process';
import { readFileSync } from 'fs';
import { Workload } from '../../../harness/index';
import { sleep } from '../wait';

// The faults of the consistency runs (issue 24), with the harness's real means: SIGKILL of a
// pod's every process (Workload.stopPod/stopAll), the pod's network cut off from every other
// namespace (Workload.partition, the bridge port of its veth down), SIGSTOP/SIGCONT of the
// server process. A mix injects its fault again and again until its share of the run is over,
// and leaves the cluster healed and healthy (its `recover`) before the next mix starts, so
// that every mix begins from the same state and one mix's damage is never blamed on the next.

/** One kind of fault, injected repeatedly for a while. */
export interface FaultMix {
  readonly name: string;
  /** One injection: the fault, its duration, its end (the pod started again, the link up, SIGCONT). Returns what it did. */
  inject(round: number): Promise<string>;
  /** Back to a healthy cluster (every node in service); polls with a generous bound. */
  recover(): Promise<void>;
}

/** What a run of mixes did, for the report and the assertions. */
export interface FaultLog {
  /** Per mix: the injections, each as `+seconds what`. */
  readonly mixes: { readonly name: string; readonly injections: string[]; readonly ms: number }[];
}

/**
 * Runs every mix in turn for msPerMix each (at least one injection per mix, whatever the
 * time), recovering after each; `origin` is the time the seconds in the log count from.
 */
export async function runMixes(mixes: readonly FaultMix[], msPerMix: number, origin = Date.now()): Promise<FaultLog> {
  const log: FaultLog = { mixes: [] };
  for (const mix of mixes) {
    const t0 = Date.now();
    const entry = { name: mix.name, injections: [] as string[], ms: 0 };
    log.mixes.push(entry);
    for (let round = 0; round === 0 || Date.now() - t0 < msPerMix; round++) {
      const at = ((Date.now() - origin) / 1000).toFixed(0);
      entry.injections.push(`+${at} s ${await mix.inject(round)}`);
      await mix.recover();
    }
    entry.ms = Date.now() - t0;
  }
  return log;
}

export function formatFaultLog(log: FaultLog): string {
  return log.mixes.map((m) => `${m.name} (${(m.ms / 1000).toFixed(0)} s, ${m.injections.length} injections): `
    + m.injections.join('; ')).join('\n');
}

/** The pid of the process named `comm` in pod i's network namespace. */
export function processPid(pods: Workload, i: number, comm: string): number {
  const pids = execFileSync('ip', ['netns', 'pids', pods.podNs(i)], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  const pid = pids.find((p) => { try { return readFileSync(`/proc/${p}/comm`, 'utf8').trim() === comm; } catch { return false; } });
  if (!pid) throw new Error(`no ${comm} in pod ${pods.podName(i)}`);
  return pid;
}

/** SIGSTOPs the server of pod i for ms, then SIGCONTs it (also if the wait is interrupted). */
export async function pauseServer(pods: Workload, i: number, ms: number): Promise<void> {
  const pid = processPid(pods, i, 'mariadbd');
  process.kill(pid, 'SIGSTOP');
  try {
    await sleep(ms);
  } finally {
    try { process.kill(pid, 'SIGCONT'); } catch { /* it exited meanwhile */ }
  }
}

/** Cuts pod i off for ms, then heals it (also if the wait is interrupted). */
export async function partitionFor(pods: Workload, i: number, ms: number): Promise<void> {
  pods.partition(i);
  try {
    await sleep(ms);
  } finally {
    pods.heal(i);
  }
}
