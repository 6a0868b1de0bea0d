// The list-append workload against real MariaDB: runs harness/consistency/append-client.js in a
// client namespace of a PodCluster (N concurrent clients, straight to the nodes or through
// ProxySQL) and reads back its history; and the final state of each node, for the checker.
import { ChildProcess, spawn } from 'child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'fs';
import { join, resolve } from 'path';
import type { PodCluster } from '../cluster';
import type { Workload } from '../workload';
import { IP } from '../netns';
import { guard, killPids } from '../proc';
import { FinalState, parseList, Txn, readHistoryFile } from './history';

const CLIENT_JS = resolve(__dirname, 'append-client.js');

export interface AppendTarget {
  /** How the history names it (a pod name). */
  readonly name: string;
  readonly host: string;
  readonly port: number;
}

export interface AppendWorkloadOptions {
  /** Where the clients connect: client i starts at target i mod n and moves to the next after an error. */
  readonly targets: readonly AppendTarget[];
  /** Concurrent clients (connections). @default 6 */
  readonly clients?: number;
  /** Keys in play at once. @default 5 */
  readonly keys?: number;
  /** Appends a key takes before a new key replaces it. @default 64 */
  readonly maxAppendsPerKey?: number;
  /** Operations per transaction: 1 to this. @default 4 */
  readonly maxOps?: number;
  /** Share of transactions that only read (one autocommit SELECT: the readers' path through ProxySQL). @default 0.5 */
  readonly readOnlyFraction?: number;
  /** Share of a writing transaction's operations that append (the others read). @default 0.5 */
  readonly appendFraction?: number;
  /** A statement that takes longer fails the transaction (unknown outcome at COMMIT). @default 5000 */
  readonly queryTimeoutMs?: number;
  /** @default 2000 */
  readonly connectTimeoutMs?: number;
  /** Pause of each client between its transactions. @default 0 */
  readonly thinkMs?: number;
  /** @default root */
  readonly user?: string;
  readonly password?: string;
  /** Must exist. @default 'app' */
  readonly database?: string;
  /** Created if missing. @default 'lists' */
  readonly table?: string;
  /** Verify the servers' certificate chain with this CA (PEM). @default - plain text */
  readonly sslCa?: string;
  /** A statement each connection runs first (e.g. SET SESSION wsrep_sync_wait=1). @default - none */
  readonly sessionSql?: string;
  /** How long the client may take to create the table. @default 60000 */
  readonly readyTimeoutMs?: number;
}

export interface AppendWorkloadResult {
  readonly txns: Txn[];
  readonly durationMs: number;
  /** The client's own log (connection errors). */
  readonly log: string;
}

export interface AppendWorkloadHandle {
  readonly historyFile: string;
  /** Transactions completed so far, by outcome (reads the history file). */
  progress(): { ok: number; fail: number; info: number };
  /** Stops the clients (SIGTERM: no new transaction, those in flight finish or time out) and returns the history. */
  stop(): Promise<AppendWorkloadResult>;
  /** SIGKILL without waiting (cleanup). */
  kill(): void;
}

let runs = 0;

/** Starts the workload in the cluster's client namespace; resolves once the table exists. */
export async function startAppendWorkload(cluster: PodCluster, o: AppendWorkloadOptions): Promise<AppendWorkloadHandle> {
  if (o.targets.length === 0) throw new Error('startAppendWorkload needs at least one target');
  runs += 1;
  const dir = join(cluster.runDir, 'consistency');
  mkdirSync(dir, { recursive: true });
  const name = `append-${process.pid}-${runs}`;
  const historyFile = join(dir, `${name}.history.jsonl`);
  const logFile = join(dir, `${name}.log`);
  const queryTimeoutMs = o.queryTimeoutMs ?? 5000;
  const args = ['netns', 'exec', cluster.clientNs, process.execPath, CLIENT_JS, '--history', historyFile,
    '--clients', String(o.clients ?? 6), '--keys', String(o.keys ?? 5), '--max-appends-per-key', String(o.maxAppendsPerKey ?? 64),
    '--max-ops', String(o.maxOps ?? 4), '--read-only-fraction', String(o.readOnlyFraction ?? 0.5),
    '--append-fraction', String(o.appendFraction ?? 0.5), '--query-timeout-ms', String(queryTimeoutMs),
    '--connect-timeout-ms', String(o.connectTimeoutMs ?? 2000), '--think-ms', String(o.thinkMs ?? 0),
    '--database', o.database ?? 'app', '--table', o.table ?? 'lists',
    ...(o.sessionSql ? ['--session-sql', o.sessionSql] : []),
    ...o.targets.flatMap((t) => ['--target', `${t.name}=${t.host}:${t.port}`])];
  if (o.sslCa) {
    const caFile = join(dir, `${name}.ca.pem`);
    writeFileSync(caFile, o.sslCa);
    args.push('--ssl-ca', caFile);
  }
  const logFd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(IP, args, {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin', APPEND_USER: o.user ?? 'root',
        ...(o.password !== undefined ? { APPEND_PASSWORD: o.password } : {}),
      },
      stdio: ['ignore', 'pipe', logFd], detached: true,
    });
  } finally {
    closeSync(logFd);
  }
  const pid = child.pid ?? -1;
  let exited = false;
  const exit = new Promise<void>((res) => child.on('exit', () => { exited = true; res(); }));
  const kill = () => { if (!exited) killPids([pid], 'SIGKILL'); };
  cluster.adopt({ kill });
  let isReady = false;
  const ready = new Promise<void>((res) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('"event":"ready"')) { isReady = true; res(); }
    });
  });
  const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
  await Promise.race([ready, exit, guard((o.readyTimeoutMs ?? 60_000) + 5000)]);
  if (!isReady) {
    kill();
    throw new Error(`the append workload did not become ready${exited ? ' (it exited)' : ''}:\n${log().split('\n').slice(-30).join('\n')}`);
  }
  const startedAt = Date.now();
  let result: AppendWorkloadResult | null = null;
  return {
    historyFile,
    kill,
    progress: () => {
      const counts = { ok: 0, fail: 0, info: 0 };
      const text = existsSync(historyFile) ? readFileSync(historyFile, 'utf8') : '';
      for (const m of text.matchAll(/"type":"(ok|fail|info)"/g)) counts[m[1] as keyof typeof counts] += 1;
      return counts;
    },
    stop: async () => {
      if (result) return result;
      const durationMs = Date.now() - startedAt;
      if (!exited) {
        killPids([pid], 'SIGTERM');
        await Promise.race([exit, guard(queryTimeoutMs * 4 + 5000)]);
        if (!exited) {
          killPids([pid], 'SIGKILL');
          await Promise.race([exit, guard(5000)]);
        }
      }
      result = { txns: readHistoryFile(historyFile), durationMs, log: log() };
      return result;
    },
  };
}

/**
 * The final state of each listed pod of a StatefulSet: every key's list, read as root on the pod
 * itself with wsrep_sync_wait=1 (after every write the node has received).
 */
export async function readFinalState(
  pods: Workload, ordinals: readonly number[], opts: { database?: string; table?: string } = {},
): Promise<FinalState[]> {
  const database = opts.database ?? 'app';
  const table = opts.table ?? 'lists';
  if (!/^[A-Za-z0-9_]{1,64}$/.test(database) || !/^[A-Za-z0-9_]{1,64}$/.test(table)) {
    throw new Error(`invalid table name ${database}.${table}`);
  }
  const out: FinalState[] = [];
  for (const i of ordinals) {
    const rows = await pods.sql(i, `SET SESSION wsrep_sync_wait=1; SELECT k, v FROM \`${database}\`.\`${table}\``, { timeoutMs: 60_000 });
    out.push({ node: pods.podName(i), lists: new Map(rows.map((r) => [Number(r[0]), parseList(r[1])])) });
  }
  return out;
}
