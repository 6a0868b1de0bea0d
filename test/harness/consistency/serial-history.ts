import { FinalState, History, MicroOp, Outcome, Txn } from '../../../harness/consistency/history';

/** A small seeded generator (mulberry32): the same seed always gives the same history. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SerialOptions {
  readonly txns?: number;
  readonly clients?: number;
  /** Keys in play at once; a key takes at most maxAppendsPerKey appends, then a new one replaces it. */
  readonly keys?: number;
  readonly maxAppendsPerKey?: number;
  readonly maxOps?: number;
  readonly pFail?: number;
  readonly pInfo?: number;
  /** How far invocation and completion may lie from the serialization point (ms). */
  readonly spread?: number;
}

/**
 * A history of a strictly serializable execution: transactions run one at a time against an
 * in-memory store in the order of their serialization points, each invoked before and completed
 * after its point (so transactions overlap in real time, yet one that completed before another
 * was invoked is also serialized before it). Failed transactions change nothing; unknown ones
 * apply or not, at random, and report no reads. The final state is the store's, on three nodes.
 */
export function serialHistory(seed: number, o: SerialOptions = {}): History {
  const rnd = prng(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const n = o.txns ?? 300;
  const keysInPlay = o.keys ?? 4;
  const maxPerKey = o.maxAppendsPerKey ?? 20;
  const store = new Map<number, number[]>();
  const active = Array.from({ length: keysInPlay }, (_, i) => i + 1);
  const appendsTo = new Map<number, number>();
  let nextKey = keysInPlay + 1;
  let nextValue = 1;
  const txns: Txn[] = [];
  for (let id = 1; id <= n; id++) {
    const point = id * 10;
    const type: Outcome = rnd() < (o.pFail ?? 0.05) ? 'fail' : rnd() < (o.pInfo ?? 0.05) ? 'info' : 'ok';
    const applies = type === 'ok' || (type === 'info' && rnd() < 0.5);
    const view = new Map<number, number[]>();
    const get = (k: number) => view.get(k) ?? [...(store.get(k) ?? [])];
    const ops: MicroOp[] = [];
    for (let m = 1 + int(o.maxOps ?? 4); m > 0; m--) {
      const slot = int(active.length);
      const key = active[slot];
      if (rnd() < 0.5) {
        ops.push({ f: 'r', key, value: type === 'ok' ? get(key) : null });
        continue;
      }
      const value = nextValue++;
      view.set(key, [...get(key), value]);
      ops.push({ f: 'append', key, value });
      appendsTo.set(key, (appendsTo.get(key) ?? 0) + 1);
      if ((appendsTo.get(key) ?? 0) >= maxPerKey) active[slot] = nextKey++;
    }
    if (applies) for (const [k, l] of view) store.set(k, l);
    const spread = o.spread ?? 25;
    const invoke = point - rnd() * spread;
    const complete = type === 'info' && rnd() < 0.5 ? null : point + rnd() * spread;
    txns.push({ id, process: id % (o.clients ?? 5), invoke, complete, type, ops });
  }
  const final: FinalState[] = ['n0', 'n1', 'n2'].map((node) => ({ node, lists: new Map([...store].map(([k, l]) => [k, [...l]])) }));
  return { txns, final };
}
