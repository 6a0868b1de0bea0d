import { mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { formatOpsReport, opsSchemaSql, verifyOpsLedger } from '../../harness/ledger';

// The check of the non-idempotent ledger (harness/writer.js --mode ops) that the 20-failover
// tests of both topologies rely on: it must fail on each way a statement can be applied twice,
// lost, or applied although its error said it was not, and count the failures as printed.

/** What one pod holds: the INSERTed ids, the ids the trigger recorded, the counter. */
interface PodData { inserts: number[]; increments: number[]; counter: number }

/** A sql function over fake pods, answering the queries verifyOpsLedger sends. */
function fakeSql(pods: Record<number, PodData>) {
  return async (pod: number, query: string): Promise<string[][]> => {
    const d = pods[pod];
    const q = query.replace(/^SET SESSION wsrep_sync_wait=1; /, '');
    if (q === 'SELECT id FROM `app`.`ops`') return d.inserts.map((id) => [String(id)]);
    if (q === 'SELECT id FROM `app`.`ops_increments`') return d.increments.map((id) => [String(id)]);
    if (q === 'SELECT n FROM `app`.`ops_counter` WHERE k = 1') return [[String(d.counter)]];
    const sorted = (ids: number[]) => [...ids].sort().join(',');
    if (q.startsWith('CHECKSUM TABLE')) return [['t', `${sorted(d.inserts)}|${sorted(d.increments)}|${d.counter}`]];
    throw new Error(`unexpected query ${query}`);
  };
}

let dir: string;
beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'ops-ledger-')); });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * The ledger of five operations: 1 and 2 acknowledged whole; 3's increment acknowledged and its
 * INSERT lost with its connection (outcome unknown); 4's increment lost with its connection; 5's
 * increment refused by ProxySQL with no backend (9001, never sent).
 */
function ledger(): string {
  const file = join(dir, `w${Math.random().toString(36).slice(2)}.ledger`);
  writeFileSync(file, ['U 1 ok', '1 0 1700000000000', 'U 2 ok', '2 1 1700000000100', 'U 3 ok', 'I 3 err PROTOCOL_CONNECTION_LOST',
    'U 4 err ER_CONNECTION_KILLED', 'U 5 err 9001', ''].join('\n'));
  return file;
}

/** Both pods the same: 3's INSERT and 4's increment committed before their connections broke. */
function consistent(): Record<number, PodData> {
  const d = () => ({ inserts: [1, 2, 3], increments: [1, 2, 3, 4], counter: 4 });
  return { 0: d(), 1: d() };
}

describe('verifyOpsLedger', () => {
  test('GIVEN every statement applied at most once WHEN checked THEN it passes and counts the failures by kind', async () => {
    const r = await verifyOpsLedger(fakeSql(consistent()), ledger(), [0, 1], 'ops', 'app');
    expect(r).toEqual({
      operations: 5, incrementsAcked: 3, increments: { failed: 2, notApplied: 1, unknown: 1, applied: 1 },
      insertsAcked: 2, inserts: { failed: 1, notApplied: 0, unknown: 1, applied: 1 }, counter: 4,
      errorKinds: { 'ER_CONNECTION_KILLED': 1, '9001': 1, 'PROTOCOL_CONNECTION_LOST': 1 },
    });
    expect(formatOpsReport(r)).toBe('5 operations; increments 3 acknowledged, '
      + '2 failed (1 provably not applied, 1 outcome unknown of which 1 applied); '
      + 'inserts 2 acknowledged, 1 failed (0 provably not applied, 1 outcome unknown of which 1 applied); counter 4; '
      + 'client errors by kind: 9001 1, ER_CONNECTION_KILLED 1, PROTOCOL_CONNECTION_LOST 1');
  });

  /** The same change on every pod. */
  const everywhere = (change: (d: PodData) => void) => (p: Record<number, PodData>) => Object.values(p).forEach(change);
  const broken: [string, (p: Record<number, PodData>) => void, RegExp][] = [
    ['an INSERT applied twice', everywhere((d) => d.inserts.push(2)), /pod 0: 1 inserts applied more than once: 2 x2/],
    ['an increment applied twice (a re-sent UPDATE)', everywhere((d) => { d.increments.push(1); d.counter += 1; }),
      /pod 0: 1 increments applied more than once: 1 x2/],
    ['an acknowledged INSERT lost', (p) => { p[1].inserts = [1, 3]; }, /pod 1 lacks 1 acknowledged inserts: 2/],
    ['an acknowledged increment lost', everywhere((d) => { d.increments = [1, 3, 4]; d.counter = 3; }),
      /pod 0 lacks 1 acknowledged increments: 2/],
    ['an increment applied whose error said it was never sent', everywhere((d) => { d.increments.push(5); d.counter += 1; }),
      /pod 0 holds 1 increments whose error said they were not applied: 5 \(9001\)/],
    ['an id nobody sent', everywhere((d) => d.inserts.push(77)), /pod 0 holds 1 inserts that were never sent: 77/],
    ['a counter that is not the increments applied', everywhere((d) => { d.counter = 5; }),
      /pod 0: the counter is 5, but 4 increments were applied/],
    ['pods that disagree', (p) => { p[1].increments = [1, 2, 3]; p[1].counter = 3; },
      /the counter differs between pods: pod 0 = 4, pod 1 = 3/],
  ];
  test.each(broken)('GIVEN %s WHEN checked THEN it fails naming it', async (_name, breakIt, message) => {
    const pods = consistent();
    breakIt(pods);
    await expect(verifyOpsLedger(fakeSql(pods), ledger(), [0, 1], 'ops', 'app')).rejects.toThrow(message);
  });
});

describe('opsSchemaSql', () => {
  test('GIVEN a table name WHEN the schema is made THEN the trigger records each increment in its own transaction', () => {
    const sql = opsSchemaSql('app', 'ops');
    expect(sql).toContain('CREATE TRIGGER IF NOT EXISTS `app`.`ops_applied` AFTER UPDATE ON `app`.`ops_counter` FOR EACH ROW '
      + 'INSERT INTO `app`.`ops_increments` (id) VALUES (NEW.op)');
    expect(sql).toMatch(/CREATE TABLE IF NOT EXISTS `app`.`ops` \(seq BIGINT AUTO_INCREMENT PRIMARY KEY, id BIGINT NOT NULL,/);
  });

  test('GIVEN a name that is no identifier WHEN the schema is made THEN it is refused', () => {
    expect(() => opsSchemaSql('app', 'ops; DROP TABLE x')).toThrow(/invalid table name app.ops; DROP TABLE x/);
  });
});
