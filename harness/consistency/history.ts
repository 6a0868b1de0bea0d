// The history of a list-append workload (the model of Elle's list-append test, Kingsbury and
// Alvaro, VLDB 2020): each key is one row holding a list, a transaction is a sequence of
// micro-operations that append a unique value to a key or read a key's whole list, and each
// transaction is recorded with its invocation and completion time and its outcome.
import { existsSync, readFileSync } from 'fs';

/**
 * ok: the transaction committed (the client saw COMMIT, or the single read statement, succeed).
 * fail: it certainly did not commit (an error before COMMIT was sent, or a deadlock or
 * certification failure at COMMIT). info: unknown (a timeout or a lost connection at COMMIT, or
 * no completion recorded): it may or may not have committed.
 */
export type Outcome = 'ok' | 'fail' | 'info';

export type MicroOp =
  | { readonly f: 'append'; readonly key: number; readonly value: number }
  /** A read of the key's whole list; null when the transaction did not return one (fail, info). */
  | { readonly f: 'r'; readonly key: number; readonly value: readonly number[] | null };

export interface Txn {
  readonly id: number;
  /** The client (one connection at a time, one transaction at a time). */
  readonly process: number;
  /** Milliseconds on the recording process's monotonic clock, taken before the first statement was sent. */
  readonly invoke: number;
  /** The same clock, taken after the outcome arrived; null when no outcome was recorded. */
  readonly complete: number | null;
  readonly type: Outcome;
  readonly ops: readonly MicroOp[];
  /** The server that answered the transaction's reads, when it said (wsrep_node_name). */
  readonly node?: string;
  /** The address the client sent it to (a node, or a ProxySQL pod). */
  readonly via?: string;
  readonly error?: string;
}

/** The state read after the workload: per node, each key's list (a key not listed holds the empty list). */
export interface FinalState {
  readonly node: string;
  readonly lists: ReadonlyMap<number, readonly number[]>;
}

export interface History {
  readonly txns: readonly Txn[];
  /** The final state on each node, read once the workload stopped; without it no append counts as lost. */
  readonly final?: readonly FinalState[];
}

/** The list stored in a key's TEXT column: comma-separated values, NULL or '' for the empty list. */
export function parseList(text: string | null | undefined): number[] {
  if (text === null || text === undefined || text === '' || text === 'NULL') return [];
  return text.split(',').map((s) => {
    if (!/^[0-9]+$/.test(s)) {
      throw new Error(`a list element is not a non-negative integer: ${JSON.stringify(s)} in ${JSON.stringify(text.slice(0, 80))}`);
    }
    return Number(s);
  });
}

interface InvokeLine { t: 'i'; id: number; p: number; at: number; ops: MicroOp[]; via?: string }
interface CompleteLine { t: 'c'; id: number; at: number; type: Outcome; ops: MicroOp[]; node?: string; error?: string }

/**
 * Reads the history file the append client writes (harness/consistency/append-client.js): one
 * JSON line when a transaction is invoked and one when it completes. A transaction invoked but
 * never completed (the client was killed) is info: its appends may have committed.
 */
export function readHistoryFile(file: string): Txn[] {
  if (!existsSync(file)) return [];
  const invoked = new Map<number, InvokeLine>();
  const completed = new Map<number, CompleteLine>();
  const lines = readFileSync(file, 'utf8').split('\n');
  for (const [n, line] of lines.entries()) {
    if (line === '') continue;
    let ev: InvokeLine | CompleteLine;
    try {
      ev = JSON.parse(line) as InvokeLine | CompleteLine;
    } catch {
      // the last line of a killed client may be cut short; anything else is a broken file
      if (n >= lines.length - 2) continue;
      throw new Error(`${file}:${n + 1}: not a JSON line: ${line.slice(0, 120)}`);
    }
    if (ev.t === 'i') invoked.set(ev.id, ev);
    else if (ev.t === 'c') completed.set(ev.id, ev);
  }
  const txns: Txn[] = [];
  for (const inv of invoked.values()) {
    const c = completed.get(inv.id);
    txns.push({
      id: inv.id, process: inv.p, invoke: inv.at, complete: c ? c.at : null, type: c ? c.type : 'info',
      ops: c ? c.ops : inv.ops, via: inv.via, ...(c?.node ? { node: c.node } : {}), ...(c?.error ? { error: c.error } : {}),
    });
  }
  return txns.sort((a, b) => a.invoke - b.invoke || a.id - b.id);
}

/** One line per micro-operation, Elle's notation: r(3)=[1,2] a(3,7). */
export function formatOps(ops: readonly MicroOp[]): string {
  return ops.map((op) => (op.f === 'append' ? `a(${op.key},${op.value})` : `r(${op.key})=${op.value ? `[${op.value.join(',')}]` : '?'}`))
    .join(' ');
}

/** A transaction as a report shows it: T12 (client 3 via 10.0.0.1, served by galera-1) ok 105.2-110.9 ms: r(3)=[1,2] a(3,7). */
export function formatTxn(t: Txn, origin = 0): string {
  const where = [t.via ? `via ${t.via}` : '', t.node ? `served by ${t.node}` : ''].filter((s) => s !== '').join(', ');
  const time = `${(t.invoke - origin).toFixed(1)}-${t.complete === null ? '?' : (t.complete - origin).toFixed(1)} ms`;
  const error = t.error ? ` [${t.error}]` : '';
  return `T${t.id} (client ${t.process}${where ? `, ${where}` : ''}) ${t.type} ${time}: ${formatOps(t.ops)}${error}`;
}
