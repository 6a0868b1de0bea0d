#!/usr/bin/env node
// The list-append workload (started by harness/consistency/workload.ts with `ip netns exec
// <client-ns> node append-client.js ...`): --clients connections, each running one transaction
// at a time, appending unique values to a few keys and reading keys, and recording every
// transaction in the history file (one JSON line at invocation, one at completion; see
// harness/consistency/history.ts). A key is one row of <database>.<table> (k BIGINT PRIMARY KEY,
// v MEDIUMTEXT): an append is INSERT ... ON DUPLICATE KEY UPDATE v = CONCAT(v, ',', value), a
// read returns the whole list, so each read shows the key's version order up to what it saw.
//
// Transactions: a read-only one is a single autocommit SELECT of its keys (so ProxySQL sends it
// to a reader); one that appends is START TRANSACTION, its reads and appends in order, COMMIT
// (ProxySQL keeps it on the writer). Outcome: ok when the SELECT or the COMMIT returned OK; fail
// when an error came before COMMIT was sent (the transaction never committed) or COMMIT returned
// a deadlock or certification failure (1213); info (unknown) for any other COMMIT error and a
// timeout at COMMIT: it may have committed. Keys rotate: after --max-appends-per-key appends a
// key is replaced by a new one, so lists stay short.
// Password and user come from APPEND_PASSWORD / APPEND_USER (never argv). SIGTERM: start no new
// transaction, wait for those in flight, exit.
'use strict';
const fs = require('fs');
const { performance } = require('perf_hooks');
const mysql = require('mysql2/promise');

function parseArgs(argv) {
  const o = {
    targets: [], clients: 4, keys: 5, maxAppendsPerKey: 64, maxOps: 4, readOnlyFraction: 0.5, appendFraction: 0.5,
    queryTimeoutMs: 5000, connectTimeoutMs: 2000, thinkMs: 0, database: 'app', table: 'lists',
  };
  const numbers = {
    '--clients': 'clients', '--keys': 'keys', '--max-appends-per-key': 'maxAppendsPerKey', '--max-ops': 'maxOps',
    '--read-only-fraction': 'readOnlyFraction', '--append-fraction': 'appendFraction', '--query-timeout-ms': 'queryTimeoutMs',
    '--connect-timeout-ms': 'connectTimeoutMs', '--think-ms': 'thinkMs',
  };
  for (let k = 0; k < argv.length; k += 2) {
    const key = argv[k];
    const val = argv[k + 1];
    if (val === undefined) throw new Error(`missing value for ${key}`);
    if (numbers[key]) {
      o[numbers[key]] = Number(val);
      if (!Number.isFinite(o[numbers[key]]) || o[numbers[key]] < 0) throw new Error(`bad ${key} ${val}`);
      continue;
    }
    switch (key) {
      case '--history': o.history = val; break;
      case '--database': o.database = val; break;
      case '--table': o.table = val; break;
      case '--ssl-ca': o.sslCa = val; break;
      case '--session-sql': o.sessionSql = val; break;
      case '--target': {
        const m = /^([A-Za-z0-9_.-]+)=(.+):([0-9]+)$/.exec(val);
        if (!m) throw new Error(`bad --target ${val}: name=host:port`);
        o.targets.push({ name: m[1], host: m[2], port: Number(m[3]) });
        break;
      }
      default: throw new Error(`unknown option ${key}`);
    }
  }
  if (!/^[A-Za-z0-9_]{1,64}$/.test(o.table) || !/^[A-Za-z0-9_]{1,64}$/.test(o.database)) throw new Error('bad --database or --table');
  if (o.targets.length === 0) throw new Error('no --target');
  if (!o.history) throw new Error('no --history');
  if (o.clients < 1 || o.keys < 1 || o.maxOps < 1 || o.maxAppendsPerKey < 1) {
    throw new Error('--clients, --keys, --max-ops and --max-appends-per-key must be at least 1');
  }
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const user = process.env.APPEND_USER || 'root';
const password = process.env.APPEND_PASSWORD;
delete process.env.APPEND_PASSWORD;
const historyFd = fs.openSync(opts.history, 'a');
const table = `\`${opts.database}\`.\`${opts.table}\``;
// The node that answered, from a plain subquery: a query naming @@ variables pins a ProxySQL session.
const NODE = "(SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_VARIABLES WHERE VARIABLE_NAME='WSREP_NODE_NAME')";
let stopping = false;
const wakers = new Set();

function log(msg) {
  process.stderr.write(`${new Date().toISOString()} ${msg}\n`);
}
function now() {
  return Math.round(performance.now() * 1000) / 1000;
}
function record(line) {
  fs.writeSync(historyFd, `${JSON.stringify(line)}\n`);
}
function sleep(ms) {
  return new Promise((resolve) => {
    const done = () => { clearTimeout(t); wakers.delete(done); resolve(); };
    const t = setTimeout(done, ms);
    wakers.add(done);
  });
}
function stop() {
  stopping = true;
  for (const w of [...wakers]) w();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

// ------------------------------------------------------------------ the transactions
const active = Array.from({ length: opts.keys }, (_, i) => i + 1);
const appendsTo = new Map();
let nextKey = opts.keys + 1;
let nextValue = 1;
let nextId = 1;

function pick(n) {
  return Math.floor(Math.random() * n);
}

/**
 * A transaction's micro-operations: 1..maxOps on the keys in play. Read-only (readOnlyFraction
 * of them): reads only. Otherwise each operation appends with appendFraction, else reads, and
 * the last one appends when none did.
 */
function plan() {
  const n = 1 + pick(opts.maxOps);
  const readOnly = Math.random() < opts.readOnlyFraction;
  const kinds = Array.from({ length: n }, () => (!readOnly && Math.random() < opts.appendFraction ? 'append' : 'r'));
  if (!readOnly && !kinds.includes('append')) kinds[n - 1] = 'append';
  const ops = kinds.map((f) => {
    const slot = pick(active.length);
    const key = active[slot];
    if (f === 'r') return { f, key, value: null };
    appendsTo.set(key, (appendsTo.get(key) || 0) + 1);
    if (appendsTo.get(key) >= opts.maxAppendsPerKey) active[slot] = nextKey++;
    return { f, key, value: nextValue++ };
  });
  return { readOnly, ops };
}

function parseList(text) {
  if (text === null || text === undefined || text === '') return [];
  return String(text).split(',').map(Number);
}

class Failure extends Error {
  constructor(type, cause) {
    super(`${cause.code || ''} ${cause.errno || ''} ${cause.message}`.trim());
    this.type = type;
  }
}

async function q(c, sql, params) {
  const [rows] = await c.query({ sql, timeout: opts.queryTimeoutMs }, params);
  return rows;
}

/** Runs one planned transaction on connection c; returns the operations with their reads and the node that answered. */
async function execute(c, t) {
  const ops = t.ops.map((op) => ({ ...op }));
  if (t.readOnly) {
    const keys = [...new Set(ops.map((op) => op.key))];
    const cols = keys.map((k, i) => `(SELECT v FROM ${table} WHERE k = ?) AS r${i}`).join(', ');
    let rows;
    try {
      rows = await q(c, `SELECT ${cols}, ${NODE} AS node`, keys);
    } catch (e) {
      throw new Failure('fail', e);
    }
    for (const op of ops) op.value = parseList(rows[0][`r${keys.indexOf(op.key)}`]);
    return { ops, node: rows[0].node };
  }
  let node;
  try {
    await q(c, 'START TRANSACTION');
    for (const op of ops) {
      if (op.f === 'r') {
        const rows = await q(c, `SELECT (SELECT v FROM ${table} WHERE k = ?) AS v, ${NODE} AS node`, [op.key]);
        op.value = parseList(rows[0].v);
        node = rows[0].node;
      } else {
        const value = String(op.value);
        await q(c, `INSERT INTO ${table} (k, v) VALUES (?, ?) ON DUPLICATE KEY UPDATE v = CONCAT(v, ',', ?)`, [op.key, value, value]);
      }
    }
  } catch (e) {
    throw new Failure('fail', e); // COMMIT was never sent: it cannot have committed
  }
  try {
    await q(c, 'COMMIT');
  } catch (e) {
    throw new Failure(e.errno === 1213 ? 'fail' : 'info', e);
  }
  return { ops, node };
}

// ------------------------------------------------------------------ the clients
async function connect(target) {
  const c = await mysql.createConnection({
    host: target.host, port: target.port, user, password, database: opts.database, connectTimeout: opts.connectTimeoutMs,
    // TLS with the server's certificate chain verified by the CA (the names are the pods', not addresses)
    ...(opts.sslCa ? { ssl: { ca: fs.readFileSync(opts.sslCa, 'utf8'), rejectUnauthorized: true, checkServerIdentity: () => undefined } }
      : {}),
  });
  c.on('error', () => { /* the next query fails and the client reconnects */ });
  if (opts.sessionSql) await q(c, opts.sessionSql);
  return c;
}

const stats = { ok: 0, fail: 0, info: 0 };

async function client(p) {
  let targetIndex = p % opts.targets.length;
  let c = null;
  while (!stopping) {
    const target = opts.targets[targetIndex];
    if (!c) {
      try {
        c = await connect(target);
      } catch (e) {
        log(`client ${p}: cannot connect to ${target.name}: ${e.code || ''} ${e.message}`);
        c = null;
        targetIndex = (targetIndex + 1) % opts.targets.length;
        await sleep(200);
        continue;
      }
    }
    const t = plan();
    const id = nextId++;
    record({ t: 'i', id, p, at: now(), ops: t.ops, via: target.name });
    try {
      const r = await execute(c, t);
      record({ t: 'c', id, at: now(), type: 'ok', ops: r.ops, ...(r.node ? { node: r.node } : {}) });
      stats.ok += 1;
    } catch (e) {
      if (!(e instanceof Failure)) throw e;
      record({ t: 'c', id, at: now(), type: e.type, ops: t.ops, error: e.message.slice(0, 200) });
      stats[e.type] += 1;
      // a fresh connection after any error: no transaction is left open on the server
      try { c.destroy(); } catch { /* gone */ }
      c = null;
      if (!/1213/.test(e.message)) targetIndex = (targetIndex + 1) % opts.targets.length;
    }
    if (opts.thinkMs > 0) await sleep(opts.thinkMs);
  }
  if (c) { try { await c.end(); } catch { c.destroy(); } }
}

async function setup() {
  const deadline = Date.now() + 60_000;
  for (let k = 0; !stopping && Date.now() < deadline; k++) {
    const target = opts.targets[k % opts.targets.length];
    let c;
    try {
      c = await connect(target);
      await q(c, `CREATE TABLE IF NOT EXISTS ${table} (k BIGINT PRIMARY KEY, v MEDIUMTEXT NOT NULL) ENGINE=InnoDB`);
      await c.end();
      return true;
    } catch (e) {
      log(`setup on ${target.name}: ${e.code || ''} ${e.message}`);
      if (c) c.destroy();
      await sleep(500);
    }
  }
  return false;
}

async function main() {
  if (!(await setup())) {
    log('could not create the table');
    process.exit(2);
  }
  process.stdout.write(`${JSON.stringify({ event: 'ready' })}\n`);
  await Promise.all(Array.from({ length: opts.clients }, (_, p) => client(p)));
  fs.closeSync(historyFd);
  process.stdout.write(`${JSON.stringify({ event: 'done', ...stats })}\n`);
  process.exit(0);
}

main().catch((e) => {
  log(`fatal: ${e.stack || e}`);
  process.exit(1);
});
