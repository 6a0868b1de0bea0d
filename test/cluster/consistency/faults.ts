import { checkHistory, formatReport } from '../../../harness/consistency/checker';
import { History } from '../../../harness/consistency/history';
import { AppendTarget, readFinalState, startAppendWorkload } from '../../../harness/consistency/workload';
import { PodCluster, Workload } from '../../../harness/index';
import { sleep } from '../wait';
import { INTEGRITY_CLASSES, RULED_OUT_ON_ONE_NODE } from './run';

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

/** SIGSTOPs the server of pod i for ms, then SIGCONTs it (also if the wait is interrupted). */
export async function pauseServer(pods: Workload, i: number, ms: number): Promise<void> {
  const pid = pods.processPid(i, 'mariadbd');
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

/** One path of a fault run's workload: its table and the targets its clients connect to. */
export interface FaultPath {
  readonly path: string;
  readonly table: string;
  readonly targets: readonly AppendTarget[];
}

/** A fault run of either topology. */
export interface FaultRun {
  readonly cluster: PodCluster;
  /** The database pods, and the ordinals whose final state is read. */
  readonly pods: Workload;
  readonly ordinals: readonly number[];
  readonly app: { readonly user: string; readonly password: string; readonly database: string };
  readonly paths: readonly FaultPath[];
  readonly mixes: readonly FaultMix[];
  readonly seconds: number;
  /** Names the run in what it prints ('Galera', 'primary/replica'). */
  readonly topology: string;
  /** Back to a healthy cluster once the mixes are over (polled). */
  heal(): Promise<void>;
  /** Printed after the fault log (filled while the mixes run). */
  readonly notes?: readonly string[];
}

/**
 * The fault tests' body: the append workload on every path at once (4 clients each) while every
 * mix runs in turn for its share of the seconds; healed; then each path's history checked
 * against the nodes' final state. Asserted: every mix injected its fault, the workload did real
 * work, nothing acknowledged is lost, nothing is broken (INTEGRITY_CLASSES), and none of what
 * snapshot isolation rules out (every writing transaction of a path runs on one node).
 */
export async function checkPathsUnderMixes(r: FaultRun): Promise<void> {
  // GIVEN the workload on every path at the same time, one table each
  const workloads = [];
  for (const p of r.paths) {
    workloads.push(await startAppendWorkload(r.cluster, { ...r.app, table: p.table, targets: p.targets, clients: 4 }));
  }
  const t0 = Date.now();
  // WHEN every mix runs in turn for its share of the time, each ending healthy
  let faults: FaultLog;
  try {
    faults = await runMixes(r.mixes, (r.seconds * 1000) / r.mixes.length, t0);
  } finally {
    for (const w of workloads) await w.stop();
  }
  await r.heal();
  const notes = r.notes?.length ? `\n${r.notes.join('\n')}` : '';
  console.log(`fault mixes on ${r.topology}, ${((Date.now() - t0) / 1000).toFixed(0)} s:\n${formatFaultLog(faults)}${notes}`);
  // THEN every mix injected its fault, and on each path the workload did real work through them
  for (const m of faults.mixes) expect(m.injections.length).toBeGreaterThan(0);
  for (const [k, p] of r.paths.entries()) {
    const result = await workloads[k].stop();
    const history: History = { txns: result.txns, final: await readFinalState(r.pods, r.ordinals, { ...r.app, table: p.table }) };
    const report = checkHistory(history);
    const title = `${r.topology} under fault mixes, ${p.path}, ${(result.durationMs / 1000).toFixed(0)} s`;
    const tps = report.txns.ok / (result.durationMs / 1000);
    console.log(`${formatReport(report, history, { title, examples: 2 })}\nthroughput: ${tps.toFixed(1)} committed transactions/s`);
    expect(report.txns.ok).toBeGreaterThan(100);
    // no acknowledged append is missing on any node, no read saw broken data, the nodes agree
    expect(`${p.path} lost-append: ${report.classes['lost-append'].count}`).toBe(`${p.path} lost-append: 0`);
    for (const c of INTEGRITY_CLASSES) expect(`${p.path} ${c}: ${report.classes[c].count}`).toBe(`${p.path} ${c}: 0`);
    // and none of what snapshot isolation (on by default) rules out
    for (const c of RULED_OUT_ON_ONE_NODE) expect(`${p.path} ${c}: ${report.classes[c].count}`).toBe(`${p.path} ${c}: 0`);
  }
}
