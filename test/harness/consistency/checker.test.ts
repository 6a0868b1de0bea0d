import { mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import Graph from 'graphology';
import {
  ANOMALY_CLASSES, AnomalyClass, checkHistory, CheckReport, formatReport, stronglyConnectedComponents,
} from '../../../harness/consistency/checker';
import { FinalState, History, MicroOp, Outcome, parseList, readHistoryFile, Txn } from '../../../harness/consistency/history';
import { prng, serialHistory } from './serial-history';

// The list-append checker on hand-built histories: for each anomaly class one history that has
// it (the checker must find it and name the transactions), and histories of serializable
// executions, hand-built and generated for many seeds, in which it must find nothing.

const a = (key: number, value: number): MicroOp => ({ f: 'append', key, value });
const r = (key: number, value: number[] | null): MicroOp => ({ f: 'r', key, value });

/** Transaction `id`, by default ok and alone in time: invoked at 10*id, completed at 10*id + 5. */
function T(id: number, ops: MicroOp[], opts: { type?: Outcome; invoke?: number; complete?: number | null; process?: number } = {}): Txn {
  const complete = opts.complete === undefined ? 10 * id + 5 : opts.complete;
  return { id, process: opts.process ?? id, invoke: opts.invoke ?? 10 * id, complete, type: opts.type ?? 'ok', ops };
}

function final(lists: Record<number, number[]>, nodes = ['n0', 'n1', 'n2']): FinalState[] {
  return nodes.map((node) => ({ node, lists: new Map(Object.entries(lists).map(([k, l]) => [Number(k), l])) }));
}

/** The classes with an instance. */
function classesFound(report: CheckReport): AnomalyClass[] {
  return ANOMALY_CLASSES.filter((c) => report.classes[c].count > 0);
}

/** The transactions of the first example of a class, sorted. */
function example(report: CheckReport, c: AnomalyClass): number[] {
  return [...(report.classes[c].examples[0]?.txns ?? [])].sort((x, y) => x - y);
}

describe('anomalies, one history each: the checker finds the class and names the transactions', () => {
  test('lost append: an acknowledged append missing from one node\'s final state', () => {
    // GIVEN T1 appended 1 and T2 appended 2 to key 1, both acknowledged; n2 lacks 2
    const h: History = {
      txns: [T(1, [a(1, 1)]), T(2, [a(1, 2)])],
      final: [...final({ 1: [1, 2] }, ['n0', 'n1']), ...final({ 1: [1] }, ['n2'])],
    };
    // WHEN checked
    const rep = checkHistory(h);
    // THEN T2's append is lost on n2, and the nodes disagree
    expect(rep.classes['lost-append'].count).toBe(1);
    expect(example(rep, 'lost-append')).toEqual([2]);
    expect(rep.classes['lost-append'].examples[0].message).toContain('missing on n2');
    expect(rep.classes['divergent-final'].count).toBe(1);
    expect(rep.valid).toBe(false);
  });

  test('an unknown or failed transaction\'s append may be missing: not a lost append', () => {
    const h: History = {
      txns: [T(1, [a(1, 1)]), T(2, [a(1, 2)], { type: 'info', complete: null }), T(3, [a(1, 3)], { type: 'fail' })],
      final: final({ 1: [1] }),
    };
    expect(classesFound(checkHistory(h))).toEqual([]);
  });

  test('aborted read (G1a): a read sees the value of a failed transaction', () => {
    const h: History = { txns: [T(1, [a(1, 1)], { type: 'fail' }), T(2, [r(1, [1])])] };
    const rep = checkHistory(h);
    expect(classesFound(rep)).toEqual(['aborted-read']);
    expect(example(rep, 'aborted-read')).toEqual([1, 2]);
  });

  test('intermediate read (G1b): a read ends in a value its writer followed with another append to the key', () => {
    const h: History = { txns: [T(1, [a(1, 1), a(1, 2)]), T(2, [r(1, [1])]), T(3, [r(1, [1, 2])])] };
    const rep = checkHistory(h);
    expect(rep.classes['intermediate-read'].count).toBe(1);
    expect(example(rep, 'intermediate-read')).toEqual([1, 2]);
  });

  test('lost update (P4): two committed transactions read the same version and both append', () => {
    // T1 and T2 both read key 1 as [] and appended; T3 sees both appends
    const h: History = { txns: [T(1, [r(1, []), a(1, 1)]), T(2, [r(1, []), a(1, 2)]), T(3, [r(1, [1, 2])])] };
    const rep = checkHistory(h);
    expect(rep.classes['lost-update'].count).toBe(1);
    expect(example(rep, 'lost-update')).toEqual([1, 2]);
    // the same pair also closes a cycle with one read-write edge: T1 -ww-> T2 -rw-> T1
    expect(example(rep, 'G-single')).toEqual([1, 2]);
  });

  test('G0 (dirty write): two transactions\' appends interleave in opposite orders on two keys', () => {
    const h: History = { txns: [T(1, [a(1, 1), a(2, 2)]), T(2, [a(1, 3), a(2, 4)]), T(3, [r(1, [1, 3]), r(2, [4, 2])])] };
    const rep = checkHistory(h);
    expect(rep.classes.G0.count).toBe(1);
    expect(example(rep, 'G0')).toEqual([1, 2]);
    expect(rep.classes.G0.examples[0].cycle?.map((s) => s.type)).toEqual(['ww', 'ww']);
    expect(classesFound(rep)).toEqual(['G0']);
  });

  test('G1c (circular information flow): each transaction reads the other\'s append', () => {
    const h: History = { txns: [T(1, [a(1, 1), r(2, [2])]), T(2, [a(2, 2), r(1, [1])])] };
    const rep = checkHistory(h);
    expect(classesFound(rep)).toEqual(['G1c']);
    expect(example(rep, 'G1c')).toEqual([1, 2]);
    expect(rep.classes.G1c.examples[0].cycle?.map((s) => s.type)).toEqual(['wr', 'wr']);
  });

  test('G-single (read skew): a transaction sees one of another\'s appends but not the other', () => {
    // T2 appends to keys 1 and 2; T1 reads key 1 before it and key 2 after it
    const h: History = {
      txns: [
        T(1, [r(1, []), r(2, [2])], { invoke: 0, complete: 100 }), T(2, [a(1, 1), a(2, 2)]),
        T(3, [r(1, [1]), r(2, [2])], { invoke: 200 }),
      ],
    };
    const rep = checkHistory(h);
    expect(classesFound(rep)).toEqual(['G-single']);
    expect(example(rep, 'G-single')).toEqual([1, 2]);
    expect(rep.classes['G-single'].examples[0].cycle?.map((s) => s.type).sort()).toEqual(['rw', 'wr']);
  });

  test('G2 (write skew): each transaction misses the other\'s append', () => {
    const h: History = {
      txns: [T(1, [r(1, []), a(2, 2)], { invoke: 0, complete: 100 }), T(2, [r(2, []), a(1, 1)], { invoke: 0, complete: 100 }),
        T(3, [r(1, [1]), r(2, [2])], { invoke: 200 })],
    };
    const rep = checkHistory(h);
    expect(classesFound(rep)).toEqual(['G2']);
    expect(example(rep, 'G2')).toEqual([1, 2]);
    expect(rep.classes.G2.examples[0].cycle?.map((s) => s.type)).toEqual(['rw', 'rw']);
  });

  test('stale read: a read misses an append acknowledged before the read began', () => {
    // T1 acknowledged at 15; T2 began at 20 and read key 1 as []
    const h: History = { txns: [T(1, [a(1, 1)]), T(2, [r(1, [])]), T(3, [r(1, [1])])], final: final({ 1: [1] }) };
    const rep = checkHistory(h);
    expect(classesFound(rep)).toEqual(['stale-read']);
    expect(example(rep, 'stale-read')).toEqual([1, 2]);
    expect(rep.classes['stale-read'].examples[0].message).toMatch(/missing 1, appended by T1, acknowledged at 5\.0 ms \(5\.0 ms before\)/);
  });

  test('stale read: a read misses a version another transaction had already seen (its writer\'s outcome unknown)', () => {
    const h: History = { txns: [T(1, [a(1, 1)], { type: 'info', complete: null }), T(2, [r(1, [1])]), T(3, [r(1, [])])] };
    const rep = checkHistory(h);
    expect(classesFound(rep)).toEqual(['stale-read']);
    expect(example(rep, 'stale-read')).toEqual([2, 3]);
    expect(rep.classes['stale-read'].examples[0].message).toContain('which T2 had read');
  });

  test('internal: a transaction\'s read disagrees with its own earlier read and append', () => {
    // T2 read [] then appended 5, but then read [3,5]: T1's 3 appeared inside T2 (InnoDB's REPEATABLE READ does this)
    const h: History = {
      txns: [T(1, [a(1, 3)], { invoke: 0, complete: 100 }), T(2, [r(1, []), a(1, 5), r(1, [3, 5])], { invoke: 0, complete: 100 })],
    };
    const rep = checkHistory(h);
    expect(rep.classes.internal.count).toBe(1);
    expect(example(rep, 'internal')).toEqual([2]);
  });

  test('incompatible order: two reads that are not prefixes of one another', () => {
    const h: History = { txns: [T(1, [a(1, 1)]), T(2, [a(1, 2)]), T(3, [r(1, [1, 2])]), T(4, [r(1, [2, 1])])] };
    const rep = checkHistory(h);
    expect(rep.classes['incompatible-order'].count).toBe(1);
    expect(example(rep, 'incompatible-order')).toEqual([3, 4]);
  });

  test('duplicate elements and garbage: a value read twice, a value nobody appended', () => {
    const h: History = { txns: [T(1, [a(1, 1)]), T(2, [r(1, [1, 1])]), T(3, [r(2, [99])])] };
    const rep = checkHistory(h);
    expect(example(rep, 'duplicate-elements')).toEqual([2]);
    expect(example(rep, 'garbage-read')).toEqual([3]);
  });

  test('a history whose append values repeat is refused (the workload promises unique values)', () => {
    expect(() => checkHistory({ txns: [T(1, [a(1, 1)]), T(2, [a(2, 1)])] })).toThrow(/value 1 is appended by T1 and T2/);
  });
});

describe('histories of serializable executions: nothing found', () => {
  test('concurrent transactions may miss each other\'s appends, in one consistent order', () => {
    // T1 and T2 overlap in time; T2 reads before T1's append, T3 after both
    const h: History = {
      txns: [T(1, [r(1, []), a(1, 1)], { invoke: 0, complete: 50 }), T(2, [r(1, []), r(2, [])], { invoke: 10, complete: 60 }),
        T(3, [a(2, 2), r(1, [1])], { invoke: 70, complete: 80 }), T(4, [r(1, [1]), r(2, [2])], { invoke: 90, complete: 95 })],
      final: final({ 1: [1], 2: [2] }),
    };
    const rep = checkHistory(h);
    expect(classesFound(rep)).toEqual([]);
    expect(rep.valid).toBe(true);
  });

  test('randomly generated serial histories, every seed 1..300: no anomaly of any class', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const h = serialHistory(seed, { txns: 150 });
      const rep = checkHistory(h);
      const found = classesFound(rep);
      if (found.length > 0) throw new Error(`seed ${seed}: ${formatReport(rep, h)}`);
      expect(rep.txns.total).toBe(150);
    }
  });

  test('the generated histories are not trivial: they hold reads, appends, failures and unknown outcomes', () => {
    const h = serialHistory(7, { txns: 2000 });
    const ops = h.txns.flatMap((t) => t.ops);
    expect(ops.filter((op) => op.f === 'r' && op.value !== null && op.value.length > 2).length).toBeGreaterThan(100);
    expect(h.txns.filter((t) => t.type === 'fail').length).toBeGreaterThan(10);
    expect(h.txns.filter((t) => t.type === 'info').length).toBeGreaterThan(10);
    // overlapping in time: many a transaction is invoked before its predecessor completed
    const overlapping = h.txns.filter((t, i) => i > 0 && h.txns[i - 1].complete !== null && t.invoke < h.txns[i - 1].complete!);
    expect(overlapping.length).toBeGreaterThan(100);
  });

  test('a generated serial history with one anomaly injected: the checker finds that one (every seed 1..100)', () => {
    for (let seed = 1; seed <= 100; seed++) {
      const h = serialHistory(seed, { txns: 200 });
      // drop one acknowledged append from one node's final state
      const victim = h.txns.find((t) => t.type === 'ok' && t.ops.some((op) => op.f === 'append'))!;
      const op = victim.ops.find((o) => o.f === 'append') as { key: number; value: number };
      const lists = new Map(h.final![2].lists);
      lists.set(op.key, lists.get(op.key)!.filter((v) => v !== op.value));
      const rep = checkHistory({ ...h, final: [h.final![0], h.final![1], { node: 'n2', lists }] });
      expect(`seed ${seed}: ${example(rep, 'lost-append').join(',')}`).toBe(`seed ${seed}: ${victim.id}`);
    }
  });

  test('a large history is checked in a bounded time (printed, not asserted)', () => {
    const h = serialHistory(42, { txns: 20_000, keys: 6, maxAppendsPerKey: 100, clients: 16 });
    const t0 = process.hrtime.bigint();
    const rep = checkHistory(h);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    expect(rep.valid).toBe(true);
    // eslint-disable-next-line no-console
    console.log(`checked 20,000 serial transactions (${h.txns.flatMap((t) => t.ops).length} operations) in ${ms.toFixed(0)} ms`);
  });
});

describe('randomly corrupted histories, every seed 1..200', () => {
  test('a read replaced by an older version of its key is found as a stale read naming that read', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const h = serialHistory(seed, { txns: 200, spread: 0 });
      const rnd = prng(seed);
      const writer = (v: number) => h.txns.find((t) => t.ops.some((op) => op.f === 'append' && op.value === v))!;
      // with no overlap in time, a read that drops the last value of its list misses an append acknowledged before it began
      const candidates = h.txns.filter((t) => t.type === 'ok' && t.ops.length === 1 && t.ops[0].f === 'r'
        && (t.ops[0].value ?? []).length > 0 && writer(t.ops[0].value!.at(-1)!).type === 'ok');
      const victim = candidates[Math.floor(rnd() * candidates.length)];
      const read = victim.ops[0] as { key: number; value: readonly number[] };
      const shorter: Txn = { ...victim, ops: [{ f: 'r', key: read.key, value: read.value.slice(0, -1) }] };
      const rep = checkHistory({ ...h, txns: h.txns.map((t) => (t.id === victim.id ? shorter : t)) });
      expect(`seed ${seed}: ${rep.classes['stale-read'].examples.map((e) => e.txns[0]).join(',')}`).toBe(`seed ${seed}: ${victim.id}`);
    }
  });
});

describe('the dependency graph', () => {
  test('strongly connected components: a 50,000-node cycle is one (no stack overflow), its tail and a lone node are singletons', () => {
    const g = new Graph({ type: 'directed' });
    for (let i = 0; i < 50_000; i++) g.addNode(String(i));
    for (let i = 0; i < 50_000; i++) g.addEdge(String(i), String((i + 1) % 50_000));
    g.addNode('tail');
    g.addEdge('0', 'tail');
    g.addNode('lone');
    const sizes = stronglyConnectedComponents(g).map((c) => c.length).sort((x, y) => y - x);
    expect(sizes).toEqual([50_000, 1, 1]);
  });

  test('many cycles: the search stops at its budget and says the counts are lower bounds', () => {
    // 200 pairs of transactions that each read the other's append (200 G1c cycles)
    const txns: Txn[] = [];
    for (let k = 0; k < 200; k++) {
      const [x, y] = [2 * k + 1, 2 * k + 2];
      txns.push(T(x, [a(2 * k, x), r(2 * k + 1, [y])]), T(y, [a(2 * k + 1, y), r(2 * k, [x])]));
    }
    expect(checkHistory({ txns }).classes.G1c.count).toBe(200);
    const bounded = checkHistory({ txns }, { maxCycleSearches: 50 });
    expect(bounded.cyclesTruncated).toBe(true);
    expect(bounded.classes.G1c.count).toBeLessThan(200);
    expect(bounded.classes.G1c.count).toBeGreaterThan(0);
  });
});

describe('the history file', () => {
  let dir: string;
  beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'history-')); });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('invocations and completions pair up; one never completed is unknown with its planned ops; a cut last line is skipped', () => {
    const file = join(dir, 'h.jsonl');
    writeFileSync(file, [
      { t: 'i', id: 1, p: 0, at: 1.5, ops: [a(1, 1), r(2, null)], via: 'galera-0' },
      { t: 'i', id: 2, p: 1, at: 2.5, ops: [a(2, 2)] },
      { t: 'c', id: 1, at: 3.5, type: 'ok', ops: [a(1, 1), r(2, [])], node: 'galera-0' },
    ].map((l) => JSON.stringify(l)).join('\n') + '\n{"t":"c","id":2,"at');
    const txns = readHistoryFile(file);
    expect(txns).toEqual([
      { id: 1, process: 0, invoke: 1.5, complete: 3.5, type: 'ok', ops: [a(1, 1), r(2, [])], via: 'galera-0', node: 'galera-0' },
      { id: 2, process: 1, invoke: 2.5, complete: null, type: 'info', ops: [a(2, 2)], via: undefined },
    ]);
  });

  test('a stored list parses to its values; anything but digits and commas is refused', () => {
    expect(parseList(null)).toEqual([]);
    expect(parseList('')).toEqual([]);
    expect(parseList('3,10,7')).toEqual([3, 10, 7]);
    expect(() => parseList('3,x')).toThrow(/not a non-negative integer: "x"/);
  });

  test('the report names every class with its rate and shows the example\'s transactions', () => {
    const h: History = { txns: [T(1, [a(1, 1)]), T(2, [r(1, [])])], final: final({ 1: [1] }) };
    const text = formatReport(checkHistory(h), h);
    expect(text).toContain('stale-read: 1 (100% of 1 keys read by committed transactions before appending to them)');
    expect(text).toContain('T2 (client 2) ok 10.0-15.0 ms: r(1)=[]');
    for (const c of ANOMALY_CLASSES) expect(text).toContain(`  ${c}: `);
  });
});
