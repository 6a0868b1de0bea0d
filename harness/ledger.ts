// Write-load generator with an acknowledged-write ledger (runs harness/writer.js in the
// client namespace) and the check that every acknowledged write survived on every node.
import { ChildProcess, spawn } from 'child_process';
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'fs';
import { join } from 'path';
import { guard, killPids } from './proc';

export interface WriterOptions {
  /** Pod ordinals to write to, round-robin. */
  readonly pods: readonly number[];
  /** Table the ids go to. @default 'acks' */
  readonly table?: string;
  /** Database of the table; any other than 'ledger' must exist. @default 'ledger' */
  readonly database?: string;
  /** Port the pods take SQL on. @default 3306 */
  readonly port?: number;
  /** Connect with TLS and verify the servers' certificate chain with this CA (PEM). @default - plain text */
  readonly sslCa?: string;
  /** Insert attempts per second (all pods together). @default 20 */
  readonly rateHz?: number;
  /** @default root */
  readonly user?: string;
  /** @default the Secret's 'root-password' */
  readonly password?: string;
  /** Per-INSERT timeout; a timed-out insert counts as an error (not acknowledged). @default 10000 */
  readonly queryTimeoutMs?: number;
  /** @default 1000 */
  readonly connectTimeoutMs?: number;
  /** How long the writer may take to create the table on one of the pods. @default 60000 */
  readonly readyTimeoutMs?: number;
  /**
   * 'acks': unique ids into a table keyed by them. 'ops': the non-idempotent ledger (see
   * harness/writer.js and verifyOpsLedger): a counter increment and an INSERT into a table
   * without a unique key per operation, into tables created first (Workload.createOpsSchema). @default 'acks'
   */
  readonly mode?: 'acks' | 'ops';
}

export interface WriterResult {
  /** Ids whose INSERT returned OK, in order. */
  readonly acked: number[];
  /** The same by the pod that acknowledged them. */
  readonly ackedByPod: Record<number, number[]>;
  /** Failed attempts (errors, timeouts, refused connections). */
  readonly errors: number;
  readonly attempts: number;
  /**
   * Longest time without a successful write: between consecutive acknowledgements, and from
   * the last one to stop() (so a writer that never recovers shows the whole outage).
   */
  readonly maxStallMs: number;
  /** The same per pod (between consecutive acknowledgements by that pod). */
  readonly perPodMaxStallMs: Record<number, number>;
  readonly durationMs: number;
  /** The writer's own error log. */
  readonly log: string;
}

export interface WriterHandle {
  readonly name: string;
  readonly ledgerFile: string;
  readonly logFile: string;
  /** Ids acknowledged so far (reads the ledger file). */
  ackedSoFar(): number[];
  /** The acknowledgements so far: id, the pod that acknowledged it, and when (ms since the epoch). */
  acks(): Ack[];
  /** Number of ids acknowledged so far. */
  ackedCount(): number;
  /** Stops the writer (SIGTERM, then SIGKILL after queryTimeoutMs + 5 s) and returns the ledger. */
  stop(): Promise<WriterResult>;
  /** SIGKILL without waiting (cleanup). */
  kill(): void;
}

export interface StartWriterParams extends WriterOptions {
  readonly ip: string;
  readonly clientNs: string;
  readonly script: string;
  readonly name: string;
  readonly idBase: number;
  readonly targets: readonly { pod: number; host: string; port: number }[];
  readonly dir: string;
}

/** One acknowledged write of the ledger: its id, the pod that acknowledged it, when (ms since the epoch). */
export interface Ack { readonly id: number; readonly pod: number; readonly at: number }

function readLedger(file: string): Ack[] {
  if (!existsSync(file)) return [];
  const acks: Ack[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^([0-9]+) ([0-9]+) ([0-9]+)$/.exec(line);
    if (m) acks.push({ id: Number(m[1]), pod: Number(m[2]), at: Number(m[3]) });
  }
  return acks;
}

/** Longest gap between consecutive times, including from the last one to end (or start to end when empty). */
function maxGap(times: number[], start: number, end: number): number {
  if (times.length === 0) return end - start;
  let max = 0;
  for (let k = 1; k < times.length; k++) max = Math.max(max, times[k] - times[k - 1]);
  return Math.max(max, end - times[times.length - 1]);
}

export async function startWriter(p: StartWriterParams): Promise<WriterHandle> {
  const table = p.table ?? 'acks';
  if (!/^[A-Za-z0-9_]{1,64}$/.test(table)) throw new Error(`invalid table name ${table}`);
  if (p.targets.length === 0) throw new Error('startWriter needs at least one pod');
  const ledgerFile = join(p.dir, `${p.name}.ledger`);
  const logFile = join(p.dir, `${p.name}.log`);
  const queryTimeoutMs = p.queryTimeoutMs ?? 10_000;
  const args = ['netns', 'exec', p.clientNs, process.execPath, p.script,
    '--name', p.name, '--id-base', String(p.idBase), '--table', table, '--database', p.database ?? 'ledger', '--rate',
    String(p.rateHz ?? 20),
    '--ledger', ledgerFile, '--query-timeout-ms', String(queryTimeoutMs), '--connect-timeout-ms', String(p.connectTimeoutMs ?? 1000),
    '--ready-timeout-ms', String(p.readyTimeoutMs ?? 60_000), '--mode', p.mode ?? 'acks',
    ...p.targets.flatMap((t) => ['--target', `${t.pod}=${t.host}:${t.port}`])];
  const sslArgs: string[] = [];
  if (p.sslCa) {
    const caFile = join(p.dir, `${p.name}.ca.pem`);
    writeFileSync(caFile, p.sslCa);
    sslArgs.push('--ssl-ca', caFile);
  }
  args.push(...sslArgs);
  const logFd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(p.ip, args, {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin', WRITER_USER: p.user ?? 'root',
        ...(p.password !== undefined ? { WRITER_PASSWORD: p.password } : {}),
      },
      stdio: ['ignore', 'pipe', logFd], detached: true, cwd: p.dir,
    });
  } finally {
    closeSync(logFd);
  }
  const pid = child.pid ?? -1;
  let exited = false;
  const exit = new Promise<void>((res) => child.on('exit', () => { exited = true; res(); }));
  let out = '';
  let summary: { errors?: number; attempts?: number } = {};
  let isReady = false;
  let readyResolve!: () => void;
  const ready = new Promise<void>((res) => { readyResolve = () => { isReady = true; res(); }; });
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
    let nl: number;
    while ((nl = out.indexOf('\n')) >= 0) {
      const line = out.slice(0, nl);
      out = out.slice(nl + 1);
      try {
        const ev = JSON.parse(line) as { event: string; errors?: number; attempts?: number };
        if (ev.event === 'ready') readyResolve();
        if (ev.event === 'done') summary = ev;
      } catch { /* not JSON */ }
    }
  });
  const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
  await Promise.race([ready, exit, guard((p.readyTimeoutMs ?? 60_000) + 5000)]);
  if (!isReady) {
    killPids([pid], 'SIGKILL');
    throw new Error(`writer ${p.name} did not become ready${exited ? ' (it exited)' : ''}:\n${log().split('\n').slice(-30).join('\n')}`);
  }
  const startedAt = Date.now();
  let stopped: WriterResult | null = null;
  return {
    name: p.name,
    ledgerFile,
    logFile,
    ackedSoFar: () => readLedger(ledgerFile).map((a) => a.id),
    acks: () => readLedger(ledgerFile),
    ackedCount: () => readLedger(ledgerFile).length,
    kill: () => { if (!exited) killPids([pid], 'SIGKILL'); },
    stop: async () => {
      if (stopped) return stopped;
      const stopAt = Date.now();
      if (!exited) {
        killPids([pid], 'SIGTERM');
        await Promise.race([exit, guard(queryTimeoutMs + 5000)]);
        if (!exited) {
          killPids([pid], 'SIGKILL');
          await Promise.race([exit, guard(5000)]);
        }
      }
      const acks = readLedger(ledgerFile);
      const perPodMaxStallMs: Record<number, number> = {};
      const ackedByPod: Record<number, number[]> = {};
      for (const t of p.targets) {
        const mine = acks.filter((a) => a.pod === t.pod);
        perPodMaxStallMs[t.pod] = maxGap(mine.map((a) => a.at), startedAt, stopAt);
        ackedByPod[t.pod] = mine.map((a) => a.id);
      }
      stopped = {
        acked: acks.map((a) => a.id),
        ackedByPod,
        errors: summary.errors ?? (log().match(/ ERR /g) ?? []).length,
        attempts: summary.attempts ?? -1,
        maxStallMs: maxGap(acks.map((a) => a.at), startedAt, stopAt),
        perPodMaxStallMs,
        durationMs: stopAt - startedAt,
        log: log(),
      };
      return stopped;
    },
  };
}

export interface LedgerReport {
  readonly acked: number;
  readonly perPod: { pod: number; rows: number; missing: number[]; checksum: string }[];
  /** Ids present on the pods that were never acknowledged (commits whose OK was lost). */
  readonly unacknowledged: number;
}

/** Checks that every acknowledged id is on every pod and that CHECKSUM TABLE agrees everywhere. */
export async function verifyLedger(
  sql: (pod: number, query: string) => Promise<string[][]>, acked: readonly number[], pods: readonly number[], table: string,
  database = 'ledger',
): Promise<LedgerReport> {
  if (!/^[A-Za-z0-9_]{1,64}$/.test(table)
    || !/^[A-Za-z0-9_]{1,64}$/.test(database)) throw new Error(`invalid table name ${database}.${table}`);
  const perPod: LedgerReport['perPod'] = [];
  let union = new Set<number>();
  for (const pod of pods) {
    const rows = await sql(pod, `SET SESSION wsrep_sync_wait=1; SELECT id FROM \`${database}\`.\`${table}\``);
    const present = new Set(rows.map((r) => Number(r[0])));
    union = new Set([...union, ...present]);
    const sum = await sql(pod, `SET SESSION wsrep_sync_wait=1; CHECKSUM TABLE \`${database}\`.\`${table}\``);
    perPod.push({ pod, rows: present.size, missing: acked.filter((id) => !present.has(id)), checksum: sum[0]?.[1] ?? '' });
  }
  const ackedSet = new Set(acked);
  const report: LedgerReport = { acked: acked.length, perPod, unacknowledged: [...union].filter((id) => !ackedSet.has(id)).length };
  const problems: string[] = [];
  for (const p of perPod) {
    if (p.missing.length > 0) problems.push(
      `pod ${p.pod} lacks ${p.missing.length} acknowledged ids: ${p.missing.slice(0, 50).join(' ')}${p.missing.length > 50 ? ' ...' : ''}`,
    );
  }
  if (new Set(perPod.map((p) => p.checksum)).size > 1) {
    problems.push(`CHECKSUM TABLE differs: ${perPod.map((p) => `pod ${p.pod} (${p.rows} rows) = ${p.checksum}`).join(', ')}`);
  }
  if (problems.length > 0) {
    const err = new Error(`ledger check failed (${acked.length} acknowledged ids):\n${problems.join('\n')}`);
    (err as Error & { report?: LedgerReport }).report = report;
    throw err;
  }
  return report;
}

/**
 * The tables and trigger of the non-idempotent ledger (harness/writer.js --mode ops), to run as
 * root before the writer starts (a trigger needs SUPER while binary logging is on, which the
 * application account lacks): <table> (operation ids, no unique key on them), <table>_counter
 * (the counter row: n and the id of the operation that last incremented it) and
 * <table>_increments, where the trigger records the operation id of every increment applied, in
 * the increment's own transaction. (Replicas and Galera appliers take the trigger's rows from
 * the row events; they do not fire it again.)
 */
export function opsSchemaSql(database: string, table: string): string {
  if (!/^[A-Za-z0-9_]{1,50}$/.test(table) || !/^[A-Za-z0-9_]{1,64}$/.test(database)) {
    throw new Error(`invalid table name ${database}.${table}`);
  }
  const q = (suffix: string) => `\`${database}\`.\`${table}${suffix}\``;
  return [
    `CREATE TABLE IF NOT EXISTS ${q('')} (seq BIGINT AUTO_INCREMENT PRIMARY KEY, id BIGINT NOT NULL, writer VARCHAR(32), pod INT, `
      + 'at TIMESTAMP(6)) ENGINE=InnoDB',
    `CREATE TABLE IF NOT EXISTS ${q('_counter')} (k INT PRIMARY KEY, n BIGINT NOT NULL, op BIGINT NULL) ENGINE=InnoDB`,
    `CREATE TABLE IF NOT EXISTS ${q('_increments')} (seq BIGINT AUTO_INCREMENT PRIMARY KEY, id BIGINT NOT NULL) ENGINE=InnoDB`,
    `CREATE TRIGGER IF NOT EXISTS ${q('_applied')} AFTER UPDATE ON ${q('_counter')} FOR EACH ROW `
      + `INSERT INTO ${q('_increments')} (id) VALUES (NEW.op)`,
    `INSERT IGNORE INTO ${q('_counter')} VALUES (1, 0, NULL)`,
  ].join(';\n');
}

/**
 * Error kinds (harness/writer.js: 'connect' or the error's code) that prove the statement was
 * not applied: no connection was made; ProxySQL found no backend in time (9001, nothing sent);
 * the server refused it before running it (read-only, 1290; a Galera node not ready, 1047); or
 * it was rolled back (a deadlock or a Galera certification conflict, 1213). Every other error
 * leaves the outcome unknown: the connection broke or the session was killed while the
 * statement ran, and it may have committed.
 */
export const NOT_APPLIED_ERRORS: ReadonlySet<string> = new Set([
  'connect', '9001', 'ER_OPTION_PREVENTS_STATEMENT', 'ER_UNKNOWN_COM_ERROR', 'ER_LOCK_DEADLOCK',
]);

/** Failed statements of one kind (increments or inserts) of the ops ledger. */
export interface OpsFailures {
  readonly failed: number;
  /** Failed with an error that proves it was not applied (NOT_APPLIED_ERRORS). */
  readonly notApplied: number;
  /** Failed with its outcome unknown to the client (in flight when the connection broke or the session was killed). */
  readonly unknown: number;
  /** Failed, and applied all the same (committed before the client got its error): a subset of `unknown`. */
  readonly applied: number;
}

export interface OpsLedgerReport {
  /** Operations started (each begins with its increment). */
  readonly operations: number;
  readonly incrementsAcked: number;
  readonly increments: OpsFailures;
  readonly insertsAcked: number;
  readonly inserts: OpsFailures;
  /** The counter, the same on every pod, equal to the increments applied. */
  readonly counter: number;
  /** Failed statements by error kind. */
  readonly errorKinds: Readonly<Record<string, number>>;
}

interface OpsLedgerFile {
  readonly incOk: Set<number>;
  /** Failed increments and inserts: operation id to error kind ('' from a writer that did not record it). */
  readonly incErr: Map<number, string>;
  readonly insOk: Set<number>;
  readonly insErr: Map<number, string>;
}

/** The ops ledger's file: acknowledged INSERTs as in the default mode, and the outcome lines. */
function readOpsLedger(file: string): OpsLedgerFile {
  const r: OpsLedgerFile = { incOk: new Set(), incErr: new Map(), insOk: new Set(), insErr: new Map() };
  for (const line of existsSync(file) ? readFileSync(file, 'utf8').split('\n') : []) {
    let m: RegExpExecArray | null;
    if ((m = /^U ([0-9]+) ok$/.exec(line))) {
      r.incOk.add(Number(m[1]));
    } else if ((m = /^([UI]) ([0-9]+) err(?: (\S+))?$/.exec(line))) {
      (m[1] === 'U' ? r.incErr : r.insErr).set(Number(m[2]), m[3] ?? '');
    } else if ((m = /^([0-9]+) [0-9]+ [0-9]+$/.exec(line))) {
      r.insOk.add(Number(m[1]));
    }
  }
  return r;
}

/**
 * The checks of one table of operation ids (the INSERTs, or the increments the trigger recorded)
 * on one pod: no id twice, every acknowledged one present, none whose statement was never sent,
 * none whose error proves it was not applied. Returns the failed ids that are present.
 */
function checkIds(
  what: string, pod: number, rows: string[][], ok: ReadonlySet<number>, err: ReadonlyMap<number, string>, problems: string[],
): number[] {
  const seen = new Map<number, number>();
  for (const r of rows) seen.set(Number(r[0]), (seen.get(Number(r[0])) ?? 0) + 1);
  const list = (ids: number[]) => `${ids.slice(0, 20).join(' ')}${ids.length > 20 ? ' ...' : ''}`;
  const twice = [...seen].filter(([, n]) => n > 1);
  if (twice.length > 0) {
    const shown = twice.slice(0, 20).map(([id, n]) => `${id} x${n}`).join(', ');
    problems.push(`pod ${pod}: ${twice.length} ${what} applied more than once: ${shown}`);
  }
  const missing = [...ok].filter((id) => !seen.has(id));
  if (missing.length > 0) problems.push(`pod ${pod} lacks ${missing.length} acknowledged ${what}: ${list(missing)}`);
  const unsent = [...seen.keys()].filter((id) => !ok.has(id) && !err.has(id));
  if (unsent.length > 0) problems.push(`pod ${pod} holds ${unsent.length} ${what} that were never sent: ${list(unsent)}`);
  const refused = [...err].filter(([id, kind]) => NOT_APPLIED_ERRORS.has(kind) && seen.has(id)).map(([id, kind]) => `${id} (${kind})`);
  if (refused.length > 0) {
    problems.push(`pod ${pod} holds ${refused.length} ${what} whose error said they were not applied: ${refused.slice(0, 20).join(' ')}`);
  }
  return [...err.keys()].filter((id) => seen.has(id));
}

function failures(err: ReadonlyMap<number, string>, applied: number): OpsFailures {
  const notApplied = [...err.values()].filter((kind) => NOT_APPLIED_ERRORS.has(kind)).length;
  return { failed: err.size, notApplied, unknown: err.size - notApplied, applied };
}

/**
 * The check of the non-idempotent ledger, on every listed pod: no operation id is present twice
 * among the INSERTs or among the increments applied, every acknowledged statement is present
 * once, none is present that was never sent or whose error proves it was not applied, the
 * counter equals the increments applied, and the counter and the tables' checksums are the same
 * on every pod.
 */
export async function verifyOpsLedger(
  sql: (pod: number, query: string) => Promise<string[][]>, ledgerFile: string, pods: readonly number[], table: string, database = 'ledger',
): Promise<OpsLedgerReport> {
  if (!/^[A-Za-z0-9_]{1,64}$/.test(table)
    || !/^[A-Za-z0-9_]{1,64}$/.test(database)) throw new Error(`invalid table name ${database}.${table}`);
  const l = readOpsLedger(ledgerFile);
  const q = (suffix: string) => `\`${database}\`.\`${table}${suffix}\``;
  const read = (pod: number, query: string) => sql(pod, `SET SESSION wsrep_sync_wait=1; ${query}`);
  const problems: string[] = [];
  const counters = new Map<number, number>();
  const checksums = new Map<number, string>();
  let insertsApplied: number[] = [];
  let incrementsApplied: number[] = [];
  for (const pod of pods) {
    insertsApplied = checkIds('inserts', pod, await read(pod, `SELECT id FROM ${q('')}`), l.insOk, l.insErr, problems);
    const increments = await read(pod, `SELECT id FROM ${q('_increments')}`);
    incrementsApplied = checkIds('increments', pod, increments, l.incOk, l.incErr, problems);
    const counter = Number((await read(pod, `SELECT n FROM ${q('_counter')} WHERE k = 1`))[0]?.[0]);
    counters.set(pod, counter);
    if (counter !== increments.length) {
      problems.push(`pod ${pod}: the counter is ${counter}, but ${increments.length} increments were applied`);
    }
    checksums.set(pod, (await read(pod, `CHECKSUM TABLE ${q('')}, ${q('_increments')}, ${q('_counter')}`)).map((r) => r[1]).join(' '));
  }
  if (new Set(counters.values()).size > 1) problems.push(
    `the counter differs between pods: ${[...counters].map(([p, n]) => `pod ${p} = ${n}`).join(', ')}`,
  );
  if (new Set(checksums.values()).size > 1) problems.push(
    `CHECKSUM TABLE differs: ${[...checksums].map(([p, c]) => `pod ${p} = ${c}`).join(', ')}`,
  );
  if (problems.length > 0) throw new Error(`ops ledger check failed (${l.incOk.size + l.incErr.size} operations):\n${problems.join('\n')}`);
  const errorKinds: Record<string, number> = {};
  for (const kind of [...l.incErr.values(), ...l.insErr.values()].map((k) => k || 'unrecorded')) {
    errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
  }
  return {
    operations: l.incOk.size + l.incErr.size, incrementsAcked: l.incOk.size, increments: failures(l.incErr, incrementsApplied.length),
    insertsAcked: l.insOk.size, inserts: failures(l.insErr, insertsApplied.length), counter: counters.get(pods[0]) ?? 0, errorKinds,
  };
}

/** The counts of an ops ledger check as the tests print them. */
export function formatOpsReport(r: OpsLedgerReport): string {
  const f = (x: OpsFailures) => `${x.failed} failed (${x.notApplied} provably not applied, `
    + `${x.unknown} outcome unknown of which ${x.applied} applied)`;
  const kinds = Object.entries(r.errorKinds).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([k, n]) => `${k} ${n}`).join(', ');
  return `${r.operations} operations; increments ${r.incrementsAcked} acknowledged, ${f(r.increments)}; `
    + `inserts ${r.insertsAcked} acknowledged, ${f(r.inserts)}; counter ${r.counter}; client errors by kind: ${kinds || 'none'}`;
}
