// The checker of list-append histories (harness/consistency/history.ts), in the spirit of Elle
// (Kingsbury and Alvaro, "Elle: Inferring Isolation Anomalies from Experimental Observations",
// VLDB 2020): since every read returns a key's whole list, each read shows the order of every
// version of the key up to the one it saw, so the version order of a key is its longest read,
// and every other read must be a prefix of it. From the version orders come the dependencies
// between transactions (write-write, write-read, read-write) and the anomalies: Adya's G0, G1a,
// G1b, G1c, G-single and G2, lost updates (P4), acknowledged appends missing from the final
// state, and reads that miss what was known committed before they began (stale reads).
//
// Cost, with T transactions, R reads of total length S, A appends and E dependency edges:
// building the version orders and every check but the cycles is O(S + A + T); the dependency
// graph is O(S + A) edges; strongly connected components are O(T + E); the cycle examples are
// one breadth-first search per edge inside a strongly connected component, bounded by
// maxCycleSearches (a healthy history has no component, so costs nothing there). The graph and
// the searches are graphology's; the components are found here without recursion, since
// graphology-components' recursive DFS overflows the stack on a history of some 10,000
// transactions chained by their dependencies.
import Graph from 'graphology';
import { bidirectional } from 'graphology-shortest-path';
import { formatTxn, History, Txn } from './history';

export const ANOMALY_CLASSES = [
  'lost-append', 'divergent-final', 'aborted-read', 'intermediate-read', 'garbage-read', 'duplicate-elements', 'incompatible-order',
  'internal', 'lost-update', 'G0', 'G1c', 'G-single', 'G2', 'stale-read',
] as const;
export type AnomalyClass = typeof ANOMALY_CLASSES[number];
/** The dependency-cycle classes: their rate is the share of committed transactions in a cycle found. */
export const CYCLE_CLASSES: readonly AnomalyClass[] = ['G0', 'G1c', 'G-single', 'G2'];

/** What each class means, for reports. */
export const CLASS_MEANING: Readonly<Record<AnomalyClass, string>> = {
  'lost-append': 'an acknowledged append is missing from the final state of a node',
  'divergent-final': 'the nodes hold different lists for a key after the workload',
  'aborted-read': 'G1a: a read saw a value of a transaction that failed',
  'intermediate-read': 'G1b: a read saw a value that its transaction later followed with another append to the same key',
  'garbage-read': 'a read saw a value nobody appended',
  'duplicate-elements': 'a read saw the same value twice',
  'incompatible-order': 'two reads of a key are not prefixes of one another (no single version order)',
  'internal': 'a transaction read a key differently from what its own earlier reads and appends imply',
  'lost-update': 'P4: several committed transactions read the same version of a key and appended to it',
  'G0': 'a dependency cycle of write-write edges only (dirty write)',
  'G1c': 'a dependency cycle of write-write and write-read edges, at least one write-read (circular information flow)',
  'G-single': 'a dependency cycle with exactly one read-write edge (read skew)',
  'G2': 'a dependency cycle with two or more read-write edges (write skew and the like)',
  'stale-read': 'a read missed a version known committed before it began '
    + '(appended by an acknowledged transaction, or seen by one that had completed)',
};

export type EdgeType = 'ww' | 'wr' | 'rw';

export interface CycleStep { readonly from: number; readonly to: number; readonly type: EdgeType; readonly key: number }

export interface Anomaly {
  readonly class: AnomalyClass;
  /** The transactions involved, as ids of the history (empty for a final-state-only finding). */
  readonly txns: readonly number[];
  readonly key?: number;
  /** What was observed, in words. */
  readonly message: string;
  /** For the cycle classes: the edges of the cycle, in order. */
  readonly cycle?: readonly CycleStep[];
}

export interface ClassReport {
  /** Instances found (for cycles: distinct cycles found, one per closing edge at most). */
  readonly count: number;
  /** Distinct transactions in all the instances found. */
  readonly involved: number;
  /**
   * What the rate is out of, and how many of those there were: count / of.n, except for the
   * cycle classes, whose rate is involved / of.n (the share of committed transactions in a cycle).
   */
  readonly of: { readonly what: string; readonly n: number };
  readonly examples: readonly Anomaly[];
}

export interface CheckReport {
  /** True when no class has an instance. */
  readonly valid: boolean;
  readonly txns: { readonly total: number; readonly ok: number; readonly fail: number; readonly info: number };
  readonly classes: Readonly<Record<AnomalyClass, ClassReport>>;
  /** True when maxCycleSearches stopped the cycle search early: the cycle counts are lower bounds. */
  readonly cyclesTruncated: boolean;
}

export interface CheckOptions {
  /** Examples kept per class. @default 5 */
  readonly maxExamples?: number;
  /** Breadth-first searches the cycle classes may make in all. @default 20000 */
  readonly maxCycleSearches?: number;
}

interface Read {
  /** null: a final read of a node. */
  readonly txn: Txn | null;
  readonly node?: string;
  readonly key: number;
  readonly list: readonly number[];
  /** Before any append of its own transaction to the key: a read of what others committed. */
  readonly external: boolean;
}

interface Write { readonly txn: Txn; readonly key: number }

const TYPE_BIT: Record<EdgeType, number> = { ww: 1, wr: 2, rw: 4 };

/** Checks a list-append history; every class is reported, with a count, what it is out of, and examples. */
export function checkHistory(history: History, options: CheckOptions = {}): CheckReport {
  const maxExamples = options.maxExamples ?? 5;
  const found = new Map<AnomalyClass, { count: number; involved: Set<number>; examples: Anomaly[] }>(
    ANOMALY_CLASSES.map((c) => [c, { count: 0, involved: new Set(), examples: [] }]));
  const add = (a: Anomaly, count = 1) => {
    const f = found.get(a.class)!;
    f.count += count;
    for (const id of a.txns) f.involved.add(id);
    if (f.examples.length < maxExamples) f.examples.push(a);
  };
  const txns = history.txns;
  // times in messages are relative to the first invocation, as formatTxn shows them by default
  const origin = firstInvocation(txns);
  const byId = new Map<number, Txn>();
  for (const t of txns) {
    if (byId.has(t.id)) throw new Error(`history: transaction id ${t.id} appears twice`);
    byId.set(t.id, t);
  }
  const writes = indexWrites(txns);
  const reads = collectReads(history);
  const ok = txns.filter((t) => t.type === 'ok');

  checkElements(reads, writes, add);
  const orders = versionOrders(reads, writes, add);
  checkAbortedAndIntermediate(reads, writes, add);
  checkInternal(ok, add);
  checkLostUpdates(ok, add);
  const acked = checkFinal(history, add, origin);
  const externalReads = checkStale(reads, orders, writes, add, origin);
  const cycles = checkCycles(txns, reads, orders, writes, add, options.maxCycleSearches ?? 20_000);

  const denominators: Record<AnomalyClass, { what: string; n: number }> = {
    'lost-append': { what: 'acknowledged appends', n: acked },
    'divergent-final': { what: 'keys in the final state', n: new Set((history.final ?? []).flatMap((f) => [...f.lists.keys()])).size },
    'aborted-read': { what: 'reads', n: reads.length },
    'intermediate-read': { what: 'reads', n: reads.length },
    'garbage-read': { what: 'reads', n: reads.length },
    'duplicate-elements': { what: 'reads', n: reads.length },
    'incompatible-order': { what: 'reads', n: reads.length },
    'internal': { what: 'committed transactions', n: ok.length },
    'lost-update': { what: 'committed transactions', n: ok.length },
    'G0': { what: 'committed transactions', n: ok.length },
    'G1c': { what: 'committed transactions', n: ok.length },
    'G-single': { what: 'committed transactions', n: ok.length },
    'G2': { what: 'committed transactions', n: ok.length },
    'stale-read': { what: 'keys read by committed transactions before appending to them', n: externalReads },
  };
  const classes = {} as Record<AnomalyClass, ClassReport>;
  for (const c of ANOMALY_CLASSES) {
    const f = found.get(c)!;
    classes[c] = { count: f.count, involved: f.involved.size, of: denominators[c], examples: f.examples };
  }
  return {
    valid: ANOMALY_CLASSES.every((c) => classes[c].count === 0),
    txns: { total: txns.length, ok: ok.length, fail: countOf(txns, 'fail'), info: countOf(txns, 'info') },
    classes,
    cyclesTruncated: cycles.truncated,
  };
}

type Add = (a: Anomaly, count?: number) => void;

/** The earliest invocation time (0 for no transaction); no spread, which overflows the stack on a long history. */
function firstInvocation(txns: readonly Txn[]): number {
  return txns.length === 0 ? 0 : txns.reduce((m, t) => Math.min(m, t.invoke), Infinity);
}

function countOf(txns: readonly Txn[], type: Txn['type']): number {
  return txns.filter((t) => t.type === type).length;
}

/** Each appended value's writer; values are unique per history (the generator's promise), else the history is broken. */
function indexWrites(txns: readonly Txn[]): Map<number, Write> {
  const writes = new Map<number, Write>();
  for (const t of txns) {
    for (const op of t.ops) {
      if (op.f !== 'append') continue;
      const prior = writes.get(op.value);
      if (prior) throw new Error(`history: value ${op.value} is appended by T${prior.txn.id} and T${t.id}; values must be unique`);
      writes.set(op.value, { txn: t, key: op.key });
    }
  }
  return writes;
}

/** The reads that tell something: those of committed transactions, and the final state of each node (every key it holds or was written). */
function collectReads(history: History): Read[] {
  const reads: Read[] = [];
  for (const t of history.txns) {
    if (t.type !== 'ok') continue;
    const appended = new Set<number>();
    for (const op of t.ops) {
      if (op.f === 'append') appended.add(op.key);
      else if (op.value !== null) reads.push({ txn: t, key: op.key, list: op.value, external: !appended.has(op.key), node: t.node });
    }
  }
  const keys = new Set(history.txns.flatMap((t) => t.ops.map((op) => op.key)));
  for (const f of history.final ?? []) {
    for (const k of new Set([...keys, ...f.lists.keys()])) {
      reads.push({ txn: null, node: f.node, key: k, list: f.lists.get(k) ?? [], external: true });
    }
  }
  return reads;
}

function readerName(r: Read): string {
  return r.txn ? `T${r.txn.id}` : `the final state of ${r.node}`;
}

function showList(list: readonly number[], max = 12): string {
  if (list.length <= max) return `[${list.join(',')}]`;
  return `[${list.slice(0, 3).join(',')},…(${list.length - 6} more)…,${list.slice(-3).join(',')}]`;
}

/** Values nobody appended, values appended to another key, and values seen twice in one read. */
function checkElements(reads: readonly Read[], writes: ReadonlyMap<number, Write>, add: Add): void {
  for (const r of reads) {
    const seen = new Set<number>();
    for (const v of r.list) {
      const w = writes.get(v);
      if (!w || w.key !== r.key) {
        add({ class: 'garbage-read', txns: r.txn ? [r.txn.id] : [], key: r.key,
          message: `${readerName(r)} read ${v} in key ${r.key}, which ${w ? `T${w.txn.id} appended to key ${w.key}` : 'nobody appended'}`,
        });
      }
      if (seen.has(v)) {
        add({ class: 'duplicate-elements', txns: r.txn ? [r.txn.id] : [], key: r.key,
          message: `${readerName(r)} read ${v} twice in key ${r.key}: ${showList(r.list)}` });
      }
      seen.add(v);
    }
  }
}

/** A key's version order: its longest read (ties broken by the first seen); reads that are not its prefix are incompatible. */
interface Order { readonly list: readonly number[]; readonly pos: ReadonlyMap<number, number>; readonly consistent: ReadonlySet<Read> }

function isPrefix(a: readonly number[], b: readonly number[]): boolean {
  if (a.length > b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function versionOrders(reads: readonly Read[], writes: ReadonlyMap<number, Write>, add: Add): Map<number, Order> {
  const byKey = new Map<number, Read[]>();
  for (const r of reads) {
    const list = byKey.get(r.key) ?? [];
    list.push(r);
    byKey.set(r.key, list);
  }
  const orders = new Map<number, Order>();
  for (const [key, rs] of byKey) {
    let longest = rs[0];
    for (const r of rs) if (r.list.length > longest.list.length) longest = r;
    const consistent = new Set<Read>();
    for (const r of rs) {
      if (isPrefix(r.list, longest.list)) {
        consistent.add(r);
        continue;
      }
      const involved = [r.txn, longest.txn].filter((t): t is Txn => t !== null).map((t) => t.id);
      add({ class: 'incompatible-order', txns: involved, key,
        message: `key ${key}: ${readerName(r)} read ${showList(r.list)}, `
          + `not a prefix of ${readerName(longest)}'s ${showList(longest.list)}`,
      });
    }
    const pos = new Map<number, number>();
    longest.list.forEach((v, i) => { if (!pos.has(v) && writes.get(v)?.key === key) pos.set(v, i); });
    orders.set(key, { list: longest.list, pos, consistent });
  }
  return orders;
}

/** G1a (a failed transaction's value read) and G1b (a value its writer later followed with another append to the key). */
function checkAbortedAndIntermediate(reads: readonly Read[], writes: ReadonlyMap<number, Write>, add: Add): void {
  for (const r of reads) {
    for (const v of r.list) {
      const w = writes.get(v);
      if (w?.txn.type === 'fail') {
        add({ class: 'aborted-read', txns: [...(r.txn ? [r.txn.id] : []), w.txn.id], key: r.key,
          message: `${readerName(r)} read ${v} in key ${r.key}, appended by T${w.txn.id}, `
            + `which failed${w.txn.error ? ` (${w.txn.error})` : ''}`,
        });
      }
    }
    const last = r.list[r.list.length - 1];
    const w = last === undefined ? undefined : writes.get(last);
    if (!w || w.txn === r.txn || w.key !== r.key) continue;
    const mine = w.txn.ops.filter((op) => op.f === 'append' && op.key === r.key).map((op) => (op as { value: number }).value);
    if (mine[mine.length - 1] !== last) {
      add({ class: 'intermediate-read', txns: [...(r.txn ? [r.txn.id] : []), w.txn.id], key: r.key,
        message: `${readerName(r)} read key ${r.key} ending in ${last}, `
          + `which T${w.txn.id} followed with ${mine.slice(mine.indexOf(last) + 1).join(', ')}`,
      });
    }
  }
}

/** A committed transaction's reads agree with its own earlier reads and appends of the same key. */
function checkInternal(ok: readonly Txn[], add: Add): void {
  for (const t of ok) {
    const known = new Map<number, number[]>();
    const pending = new Map<number, number[]>();
    for (const op of t.ops) {
      if (op.f === 'append') {
        const state = known.get(op.key);
        if (state) state.push(op.value);
        else pending.set(op.key, [...(pending.get(op.key) ?? []), op.value]);
        continue;
      }
      if (op.value === null) continue;
      const state = known.get(op.key);
      const mine = pending.get(op.key) ?? [];
      const expected = state ? `${showList(state)}` : mine.length > 0 ? `a list ending in ${mine.join(',')}` : '';
      const bad = state ? !(state.length === op.value.length && isPrefix(state, op.value))
        : mine.length > 0 && !isPrefix(mine, op.value.slice(op.value.length - mine.length));
      if (bad) {
        add({ class: 'internal', txns: [t.id], key: op.key,
          message: `T${t.id} read key ${op.key} as ${showList(op.value)}, expected ${expected} from its own earlier operations` });
      }
      known.set(op.key, [...op.value]);
      pending.delete(op.key);
    }
  }
}

/** P4: committed transactions that read the same version of a key (before appending to it themselves) and then appended to it. */
function checkLostUpdates(ok: readonly Txn[], add: Add): void {
  const groups = new Map<string, { key: number; list: readonly number[]; txns: number[] }>();
  for (const t of ok) {
    const firstRead = new Map<number, readonly number[]>();
    const appended = new Set<number>();
    for (const op of t.ops) {
      if (op.f === 'r' && op.value !== null && !appended.has(op.key) && !firstRead.has(op.key)) firstRead.set(op.key, op.value);
      if (op.f === 'append') appended.add(op.key);
    }
    for (const [key, list] of firstRead) {
      if (!appended.has(key)) continue;
      const id = `${key}:${list.join(',')}`;
      const g = groups.get(id) ?? { key, list, txns: [] };
      g.txns.push(t.id);
      groups.set(id, g);
    }
  }
  for (const g of groups.values()) {
    if (g.txns.length < 2) continue;
    add({ class: 'lost-update', txns: g.txns, key: g.key,
      message: `${g.txns.map((id) => `T${id}`).join(', ')} all read key ${g.key} as ${showList(g.list)} `
        + 'and appended to it, and all committed',
    });
  }
}

/**
 * Acknowledged appends missing from a node's final state, and keys whose final lists differ
 * between nodes; returns the number of acknowledged appends.
 */
function checkFinal(history: History, add: Add, origin: number): number {
  const acked = history.txns.filter((t) => t.type === 'ok')
    .flatMap((t) => t.ops.filter((op) => op.f === 'append').map((op) => ({ t, op: op as { key: number; value: number } })));
  const finals = history.final ?? [];
  if (finals.length === 0) return acked.length;
  const sets = finals.map((f) => ({ node: f.node, lists: new Map([...f.lists].map(([k, l]) => [k, new Set(l)])) }));
  for (const { t, op } of acked) {
    const missing = sets.filter((f) => !f.lists.get(op.key)?.has(op.value)).map((f) => f.node);
    if (missing.length === 0) continue;
    add({ class: 'lost-append', txns: [t.id], key: op.key,
      message: `T${t.id} was acknowledged at ${((t.complete ?? NaN) - origin).toFixed(1)} ms, `
        + `but its append of ${op.value} to key ${op.key} is missing on ${missing.join(', ')}`,
    });
  }
  const keys = new Set(finals.flatMap((f) => [...f.lists.keys()]));
  for (const k of keys) {
    const shown = finals.map((f) => `${f.node} ${showList(f.lists.get(k) ?? [])}`);
    const distinct = new Set(finals.map((f) => (f.lists.get(k) ?? []).join(',')));
    if (distinct.size > 1) {
      add({ class: 'divergent-final', txns: [], key: k, message: `key ${k} differs between nodes: ${shown.join('; ')}` });
    }
  }
  return acked.length;
}

/**
 * Stale reads: a committed transaction's read of a key (before its own appends to it) that misses
 * a version known committed before the transaction was invoked: appended by a transaction
 * acknowledged before then, or seen by a committed transaction that had completed by then.
 * Under strict serializability neither may be missed. Returns how many reads were examined.
 */
function checkStale(
  reads: readonly Read[], orders: ReadonlyMap<number, Order>, writes: ReadonlyMap<number, Write>, add: Add, origin: number,
): number {
  interface Known { at: number; by: Txn | null; how: 'acknowledged' | 'observed'; index: number }
  let examined = 0;
  const byKey = new Map<number, Read[]>();
  for (const r of reads) if (r.txn) byKey.set(r.key, [...(byKey.get(r.key) ?? []), r]);
  for (const [key, rs] of byKey) {
    const order = orders.get(key)!;
    const n = order.list.length;
    // known[i]: the earliest time version i (the list's first i+1 values) was known committed, and by whom
    const known: Known[] = order.list.map((v, index) => {
      const w = writes.get(v)?.txn;
      if (w && w.type === 'ok' && w.complete !== null) return { at: w.complete, by: w, how: 'acknowledged', index };
      return { at: Infinity, by: null, how: 'acknowledged', index };
    });
    for (const r of rs) {
      const l = r.list.length;
      const done = r.txn!.complete;
      if (l > 0 && order.consistent.has(r) && done !== null && done < known[l - 1].at) {
        known[l - 1] = { at: done, by: r.txn, how: 'observed', index: l - 1 };
      }
    }
    // a version implies every earlier one: latest[i] is the earliest-known of versions i..n-1
    const latest: Known[] = new Array<Known>(n + 1);
    latest[n] = { at: Infinity, by: null, how: 'acknowledged', index: n };
    for (let i = n - 1; i >= 0; i--) latest[i] = known[i].at <= latest[i + 1].at ? known[i] : latest[i + 1];
    // a transaction's reads of a key share one snapshot: its first read of the key is the one examined
    const seen = new Set<Txn>();
    for (const r of rs) {
      const t = r.txn!;
      if (!r.external || !order.consistent.has(r) || seen.has(t)) continue;
      seen.add(t);
      examined += 1;
      const s = latest[r.list.length];
      if (!(s.at < t.invoke) || !s.by) continue;
      add({ class: 'stale-read', txns: [t.id, s.by.id], key,
        message: `T${t.id}${t.node ? ` (served by ${t.node})` : ''} began at ${(t.invoke - origin).toFixed(1)} ms `
          + `and read key ${key} as ${showList(r.list)}, `
          + `missing ${order.list[s.index]}, `
          + `${s.how === 'acknowledged' ? `appended by T${s.by.id}, acknowledged` : `which T${s.by.id} had read, completing`} `
          + `at ${(s.at - origin).toFixed(1)} ms (${(t.invoke - s.at).toFixed(1)} ms before)` });
    }
  }
  return examined;
}

interface EdgeInfo { mask: number; keys: Partial<Record<EdgeType, number>> }

/**
 * The dependency graph of the committed transactions (and of the unknown ones whose appends were
 * seen: they committed) and its cycles, each classified by its edges: G0, G1c, G-single, G2.
 */
function checkCycles(txns: readonly Txn[], reads: readonly Read[], orders: ReadonlyMap<number, Order>, writes: ReadonlyMap<number, Write>,
  add: Add, maxSearches: number): { truncated: boolean } {
  const seenValues = new Set<number>();
  for (const o of orders.values()) for (const v of o.list) seenValues.add(v);
  const inGraph = new Set<number>();
  for (const t of txns) {
    if (t.type === 'ok' || (t.type === 'info' && t.ops.some((op) => op.f === 'append' && seenValues.has(op.value)))) inGraph.add(t.id);
  }
  const edges = new Map<string, EdgeInfo>();
  const link = (from: Txn | undefined, to: Txn | undefined, type: EdgeType, key: number) => {
    if (!from || !to || from === to || !inGraph.has(from.id) || !inGraph.has(to.id)) return;
    const id = `${from.id}>${to.id}`;
    const e = edges.get(id) ?? { mask: 0, keys: {} };
    e.mask |= TYPE_BIT[type];
    e.keys[type] ??= key;
    edges.set(id, e);
  };
  for (const [key, o] of orders) {
    for (let i = 1; i < o.list.length; i++) link(writes.get(o.list[i - 1])?.txn, writes.get(o.list[i])?.txn, 'ww', key);
  }
  for (const r of reads) {
    if (!r.txn) continue;
    const o = orders.get(r.key)!;
    if (!o.consistent.has(r)) continue;
    const l = r.list.length;
    if (l > 0) link(writes.get(r.list[l - 1])?.txn, r.txn, 'wr', r.key);
    if (l < o.list.length) link(r.txn, writes.get(o.list[l])?.txn, 'rw', r.key);
  }
  const full = new Graph({ type: 'directed', multi: false, allowSelfLoops: false });
  for (const id of inGraph) full.addNode(String(id));
  for (const [id, e] of edges) {
    const [a, b] = id.split('>');
    full.addEdge(a, b, e);
  }
  let searches = 0;
  let truncated = false;
  const seenCycles = new Set<string>();
  for (const component of stronglyConnectedComponents(full)) {
    if (component.length < 2) continue;
    const members = new Set(component);
    const internal: [string, string, EdgeInfo][] = [];
    for (const a of component) {
      full.forEachOutEdge(a, (_e, attr, _s, b) => { if (members.has(b)) internal.push([a, b, attr as EdgeInfo]); });
    }
    const sub = (mask: number) => {
      const g = new Graph({ type: 'directed', multi: false, allowSelfLoops: false });
      for (const n of component) g.addNode(n);
      for (const [a, b, e] of internal) if (e.mask & mask) g.addEdge(a, b);
      return g;
    };
    const ww = sub(TYPE_BIT.ww);
    const wwr = sub(TYPE_BIT.ww | TYPE_BIT.wr);
    const all = sub(7);
    const search = (g: Graph, from: string, to: string): string[] | null => {
      if (searches >= maxSearches) { truncated = true; return null; }
      searches += 1;
      return bidirectional(g, from, to);
    };
    const record = (cls: AnomalyClass, a: string, closing: EdgeType, path: string[], prefer: EdgeType[]) => {
      // a -closing-> b, then the path b ... a
      const nodes = [a, ...path];
      const canonical = canonicalCycle(nodes.slice(0, -1));
      if (seenCycles.has(`${cls}:${canonical}`)) return;
      seenCycles.add(`${cls}:${canonical}`);
      const steps: CycleStep[] = [];
      for (let i = 0; i + 1 < nodes.length; i++) {
        const e = full.getEdgeAttributes(nodes[i], nodes[i + 1]) as EdgeInfo;
        const type = i === 0 ? closing : prefer.find((t) => e.mask & TYPE_BIT[t])!;
        steps.push({ from: Number(nodes[i]), to: Number(nodes[i + 1]), type, key: e.keys[type]! });
      }
      add({ class: cls, txns: nodes.slice(0, -1).map(Number), cycle: steps,
        message: steps.map((s) => `T${s.from} -${s.type}(${s.key})-> T${s.to}`).join(', ') });
    };
    for (const [a, b, e] of internal) {
      if (e.mask & TYPE_BIT.ww) {
        const p = search(ww, b, a);
        if (p) record('G0', a, 'ww', p, ['ww']);
      }
      if (e.mask & TYPE_BIT.wr) {
        const p = search(wwr, b, a);
        if (p) record('G1c', a, 'wr', p, ['ww', 'wr']);
      }
      if (e.mask & TYPE_BIT.rw) {
        const single = search(wwr, b, a);
        if (single) record('G-single', a, 'rw', single, ['ww', 'wr']);
        else {
          const p = search(all, b, a);
          if (p) record('G2', a, 'rw', p, ['ww', 'wr', 'rw']);
        }
      }
    }
  }
  return { truncated };
}

/** The same cycle whichever node it is started from. */
function canonicalCycle(nodes: readonly string[]): string {
  let best = 0;
  for (let i = 1; i < nodes.length; i++) if (Number(nodes[i]) < Number(nodes[best])) best = i;
  return [...nodes.slice(best), ...nodes.slice(0, best)].join(' ');
}

/** The report as text: each class with its count and rate, and its first examples with the transactions involved. */
export function formatReport(report: CheckReport, history: History, opts: { examples?: number; title?: string } = {}): string {
  const byId = new Map(history.txns.map((t) => [t.id, t]));
  const origin = firstInvocation(history.txns);
  const t = report.txns;
  const lines = [`${opts.title ?? 'consistency check'}: ${t.total} transactions (${t.ok} ok, ${t.fail} failed, ${t.info} unknown)`
    + `${report.valid ? ', no anomaly' : ''}${report.cyclesTruncated ? ' (cycle search truncated: cycle counts are lower bounds)' : ''}`];
  for (const c of ANOMALY_CLASSES) {
    const r = report.classes[c];
    const cycles = CYCLE_CLASSES.includes(c);
    const share = (x: number) => `${percent(x, r.of.n)} of ${r.of.n} ${r.of.what}`;
    const rate = r.of.n === 0 ? '' : cycles ? `, ${r.involved} transactions in them (${share(r.involved)})` : ` (${share(r.count)})`;
    lines.push(`  ${c}: ${r.count}${cycles ? ' cycles' : ''}${rate}${r.count > 0 ? ` - ${CLASS_MEANING[c]}` : ''}`);
    for (const a of r.examples.slice(0, opts.examples ?? 1)) {
      lines.push(`    e.g. ${a.message}`);
      for (const id of a.txns) {
        const t = byId.get(id);
        if (t) lines.push(`      ${formatTxn(t, origin)}`);
      }
    }
  }
  return lines.join('\n');
}

/** A rate as a percentage with two significant digits (0%, 0.012%, 3.4%, 100%). */
export function percent(count: number, n: number): string {
  const p = (100 * count) / n;
  return `${p === 0 || p >= 10 ? p.toFixed(0) : p.toPrecision(2)}%`;
}

/** Tarjan's strongly connected components with an explicit stack (a long dependency chain must not overflow the call stack). */
export function stronglyConnectedComponents(g: Graph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  let next = 0;
  for (const root of g.nodes()) {
    if (index.has(root)) continue;
    const frames: { node: string; out: string[]; i: number }[] = [];
    const enter = (node: string) => {
      index.set(node, next);
      low.set(node, next);
      next += 1;
      stack.push(node);
      onStack.add(node);
      frames.push({ node, out: g.outNeighbors(node), i: 0 });
    };
    enter(root);
    while (frames.length > 0) {
      const f = frames[frames.length - 1];
      if (f.i < f.out.length) {
        const w = f.out[f.i++];
        if (!index.has(w)) enter(w);
        else if (onStack.has(w)) low.set(f.node, Math.min(low.get(f.node)!, index.get(w)!));
        continue;
      }
      frames.pop();
      if (frames.length > 0) {
        const parent = frames[frames.length - 1].node;
        low.set(parent, Math.min(low.get(parent)!, low.get(f.node)!));
      }
      if (low.get(f.node) === index.get(f.node)) {
        const component: string[] = [];
        let w: string;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          component.push(w);
        } while (w !== f.node);
        components.push(component);
      }
    }
  }
  return components;
}
