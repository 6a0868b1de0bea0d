import { AnomalyClass, CheckReport, checkHistory, formatReport } from '../../../harness/consistency/checker';
import { FinalState, History, readHistoryFile } from '../../../harness/consistency/history';
import { AppendWorkloadHandle, AppendWorkloadOptions, readFinalState, startAppendWorkload } from '../../../harness/consistency/workload';
import { PodCluster, Workload } from '../../../harness/index';
import { sleep } from '../wait';

/** What one run of the list-append workload gave: the history, the checker's report and its text. */
export interface CheckedRun {
  readonly history: History;
  readonly report: CheckReport;
  readonly text: string;
  readonly durationMs: number;
}

/**
 * Runs the workload until `until` holds for the checker's report of the history so far (checked
 * every pollMs), or for at most maxMs; then stops it, reads the final state of the nodes (unless
 * none are listed) and checks the whole history.
 */
export async function runChecked(cluster: PodCluster, galera: Workload, o: AppendWorkloadOptions & {
  readonly title: string;
  readonly minMs?: number;
  readonly maxMs: number;
  readonly until?: (partial: CheckReport) => boolean;
  readonly pollMs?: number;
  readonly finalNodes?: readonly number[];
}): Promise<CheckedRun> {
  const w: AppendWorkloadHandle = await startAppendWorkload(cluster, o);
  const t0 = Date.now();
  try {
    for (;;) {
      await sleep(o.pollMs ?? 5000);
      const elapsed = Date.now() - t0;
      if (elapsed >= o.maxMs) break;
      if (elapsed < (o.minMs ?? 0)) continue;
      if (o.until?.(checkHistory({ txns: readHistoryFile(w.historyFile) }))) break;
    }
  } finally {
    await w.stop();
  }
  const result = await w.stop();
  const final: FinalState[] = o.finalNodes
    ? await readFinalState(galera, o.finalNodes, { database: o.database, table: o.table })
    : [];
  const history: History = { txns: result.txns, ...(final.length > 0 ? { final } : {}) };
  const report = checkHistory(history);
  const text = `${formatReport(report, history, { title: `${o.title}, ${(result.durationMs / 1000).toFixed(0)} s`, examples: 2 })}\n`
    + `throughput: ${(report.txns.ok / (result.durationMs / 1000)).toFixed(1)} committed transactions/s`;
  return { history, report, text, durationMs: result.durationMs };
}

/** The classes no deployment of MariaDB may show whatever its settings (broken data, not isolation). */
export const INTEGRITY_CLASSES: readonly AnomalyClass[] = [
  'garbage-read', 'duplicate-elements', 'aborted-read', 'intermediate-read', 'divergent-final',
];

/**
 * What innodb_snapshot_isolation (on by default) rules out for transactions that run on one node:
 * lost updates (P4), read skew (G-single), and reads inconsistent with the transaction's own.
 */
export const RULED_OUT_ON_ONE_NODE: readonly AnomalyClass[] = ['lost-update', 'G-single', 'internal'];
