#!/usr/bin/env node
// Write-load generator for the pod harness (started by harness/ledger.ts with
// `ip netns exec <client-ns> node writer.js ...`). Inserts unique ids round-robin into
// <database>.<table> (default ledger.acks) on the targets (at most one in flight per pod) and appends
// "<id> <pod> <epoch-ms>" to the ledger file only after the autocommit INSERT returned OK. On an
// error it drops that connection, moves on to the next pod and keeps going (the failed pod is
// retried after 250 ms). SIGTERM: wait for the inserts in flight, print a summary, exit.
//
// --mode ops: the non-idempotent ledger. Operation <id> is two autocommit statements, an
// increment of one counter row (<table>_counter: n = n + 1, op = <id>) and an INSERT of its id
// into <table>, which has no unique key on the id. A trigger records the id of every increment
// applied in <table>_increments, in the increment's own transaction, so a statement applied
// twice shows as an id present twice in either table. The tables and the trigger need more than
// the application account may do with binary logging on (a trigger needs SUPER then): the test
// creates them first (opsSchemaSql in ledger.ts) and this writer only checks that they exist.
// Ledger lines: "<id> <pod> <epoch-ms>" for an acknowledged INSERT (as in the default mode),
// "U <id> ok" for an acknowledged increment, "U <id> err <kind>" and "I <id> err <kind>" for a
// failed statement, <kind> being 'connect' when no connection was made (nothing was sent), else
// the error's code.
// Password and user come from WRITER_PASSWORD / WRITER_USER (never argv).
'use strict';
const fs = require('fs');
const mysql = require('mysql2/promise');

function parseArgs(argv) {
  const o = { targets: [] };
  for (let k = 0; k < argv.length; k += 2) {
    const key = argv[k];
    const val = argv[k + 1];
    if (val === undefined) throw new Error(`missing value for ${key}`);
    switch (key) {
      case '--name': o.name = val; break;
      case '--id-base': o.idBase = Number(val); break;
      case '--table': o.table = val; break;
      case '--database': o.database = val; break;
      case '--ssl-ca': o.sslCa = val; break;
      case '--rate': o.rate = Number(val); break;
      case '--ledger': o.ledger = val; break;
      case '--query-timeout-ms': o.queryTimeoutMs = Number(val); break;
      case '--connect-timeout-ms': o.connectTimeoutMs = Number(val); break;
      case '--ready-timeout-ms': o.readyTimeoutMs = Number(val); break;
      case '--mode': o.mode = val; break;
      case '--target': {
        const m = /^([0-9]+)=(.+):([0-9]+)$/.exec(val);
        if (!m) throw new Error(`bad --target ${val}`);
        o.targets.push({ pod: Number(m[1]), host: m[2], port: Number(m[3]) });
        break;
      }
      default: throw new Error(`unknown option ${key}`);
    }
  }
  if (!/^[A-Za-z0-9_]{1,64}$/.test(o.table || '')) throw new Error('bad --table');
  if (!/^[A-Za-z0-9_]{1,64}$/.test(o.database || '')) throw new Error('bad --database');
  if (o.targets.length === 0) throw new Error('no --target');
  o.mode = o.mode || 'acks';
  if (!['acks', 'ops'].includes(o.mode)) throw new Error(`bad --mode ${o.mode}: acks or ops`);
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const user = process.env.WRITER_USER || 'root';
const password = process.env.WRITER_PASSWORD;
delete process.env.WRITER_PASSWORD;
const ledgerFd = fs.openSync(opts.ledger, 'a');
const conns = new Map();
const cooldownUntil = new Map();
let stopping = false;
let wake = null;
let errors = 0;
let attempts = 0;

function log(msg) {
  process.stderr.write(`${new Date().toISOString()} ${msg}\n`);
}
function sleep(ms) {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() { clearTimeout(t); wake = null; resolve(); }
    wake = done;
  });
}
process.on('SIGTERM', () => { stopping = true; if (wake) wake(); });
process.on('SIGINT', () => { stopping = true; if (wake) wake(); });

async function connection(t) {
  let c = conns.get(t.pod);
  if (c) return c;
  c = await mysql.createConnection({
    host: t.host, port: t.port, user, password, connectTimeout: opts.connectTimeoutMs, supportBigNumbers: true, bigNumberStrings: false,
    // TLS with the server's certificate chain verified by the CA (the names are the pods', not addresses)
    ...(opts.sslCa ? { ssl: { ca: fs.readFileSync(opts.sslCa, 'utf8'), rejectUnauthorized: true, checkServerIdentity: () => undefined } } : {}),
  });
  c.on('error', (e) => {
    log(`pod ${t.pod}: connection error ${e.code || ''} ${e.message}`);
    if (conns.get(t.pod) === c) conns.delete(t.pod);
  });
  conns.set(t.pod, c);
  return c;
}

function drop(t) {
  const c = conns.get(t.pod);
  conns.delete(t.pod);
  if (c) { try { c.destroy(); } catch { /* ignore */ } }
}

async function setup() {
  const deadline = Date.now() + opts.readyTimeoutMs;
  for (let k = 0; !stopping && Date.now() < deadline; k++) {
    const t = opts.targets[k % opts.targets.length];
    try {
      const c = await connection(t);
      // The application account may not create databases: its own exists already.
      if (opts.database === 'ledger') await c.query({ sql: 'CREATE DATABASE IF NOT EXISTS ledger', timeout: opts.queryTimeoutMs });
      if (opts.mode === 'ops') {
        const t = `\`${opts.database}\`.\`${opts.table}`;
        await c.query({ sql: `SELECT n, op FROM ${t}_counter\` WHERE k = 1`, timeout: opts.queryTimeoutMs });
        await c.query({ sql: `SELECT id FROM ${t}_increments\` LIMIT 1`, timeout: opts.queryTimeoutMs });
        return true;
      }
      await c.query({
        sql: `CREATE TABLE IF NOT EXISTS \`${opts.database}\`.\`${opts.table}\` (id BIGINT PRIMARY KEY, writer VARCHAR(32), pod INT, at TIMESTAMP(6)) ENGINE=InnoDB`,
        timeout: opts.queryTimeoutMs,
      });
      return true;
    } catch (e) {
      log(`ERR setup on pod ${t.pod}: ${e.code || ''} ${e.message}`);
      drop(t);
      await sleep(500);
    }
  }
  return false;
}

function failed(t, what, e) {
  errors += 1;
  log(`ERR ${what} on pod ${t.pod}: ${e.code || ''} ${e.message}`);
  drop(t);
  cooldownUntil.set(t.pod, Date.now() + 250);
}

// Why a statement failed, as one word for the ledger: 'connect' when no connection was made
// (nothing was sent), else the error's code (ProxySQL's own errors have a number only).
function errorKind(e, connected) {
  return connected ? String(e.code || e.errno || 'unknown').replace(/\s+/g, '_') : 'connect';
}

// One statement of the ops ledger on pod t: true when acknowledged; a failure is written to the
// ledger as "<letter> <id> err <kind>".
async function statement(t, letter, id, what, sql, values) {
  attempts += 1;
  let connected = false;
  try {
    const c = await connection(t);
    connected = true;
    await c.query({ sql, timeout: opts.queryTimeoutMs }, values);
    return true;
  } catch (e) {
    fs.writeSync(ledgerFd, `${letter} ${id} err ${errorKind(e, connected)}\n`);
    failed(t, `${what} ${id}`, e);
    return false;
  }
}

// One operation of the ops ledger: the increment, then (when it was acknowledged) the INSERT.
async function operation(t, id) {
  const db = `\`${opts.database}\``;
  if (!(await statement(t, 'U', id, 'increment', `UPDATE ${db}.\`${opts.table}_counter\` SET n = n + 1, op = ? WHERE k = 1`, [id]))) return;
  fs.writeSync(ledgerFd, `U ${id} ok\n`);
  const insert = `INSERT INTO ${db}.\`${opts.table}\` (id, writer, pod, at) VALUES (?, ?, ?, NOW(6))`;
  if (await statement(t, 'I', id, 'insert', insert, [id, opts.name, t.pod])) fs.writeSync(ledgerFd, `${id} ${t.pod} ${Date.now()}\n`);
}

async function insert(t, id) {
  attempts += 1;
  try {
    const c = await connection(t);
    await c.query({ sql: `INSERT INTO \`${opts.database}\`.\`${opts.table}\` (id, writer, pod, at) VALUES (?, ?, ?, NOW(6))`, timeout: opts.queryTimeoutMs }, [id, opts.name, t.pod]);
    fs.writeSync(ledgerFd, `${id} ${t.pod} ${Date.now()}\n`);
  } catch (e) {
    failed(t, `insert ${id}`, e);
  }
}

// Round-robin over the pods with at most one INSERT in flight per pod: a pod that hangs (a
// partition, a blocked cluster) holds only its own slot, so the write stall measured is the
// cluster's, not this loop's.
async function main() {
  if (!(await setup())) {
    log('could not create the ledger table');
    process.exit(2);
  }
  process.stdout.write(`${JSON.stringify({ event: 'ready' })}\n`);
  const interval = 1000 / opts.rate;
  const inFlight = new Map();
  let next = Date.now();
  let seq = 0;
  let idx = 0;
  while (!stopping) {
    const now = Date.now();
    let target = null;
    for (let k = 0; k < opts.targets.length && !target; k++) {
      const t = opts.targets[(idx + k) % opts.targets.length];
      if (!inFlight.has(t.pod) && (cooldownUntil.get(t.pod) || 0) <= now) {
        target = t;
        idx += k + 1;
      }
    }
    if (!target) {
      await sleep(10); // every pod busy or cooling down
      continue;
    }
    seq += 1;
    const t = target;
    const p = (opts.mode === 'ops' ? operation : insert)(t, opts.idBase + seq).finally(() => inFlight.delete(t.pod));
    inFlight.set(t.pod, p);
    next += interval;
    const wait = next - Date.now();
    if (wait > 0) await sleep(wait);
    else next = Date.now();
  }
  await Promise.all(inFlight.values());
  for (const t of opts.targets) drop(t);
  fs.closeSync(ledgerFd);
  process.stdout.write(`${JSON.stringify({ event: 'done', errors, attempts })}\n`);
  process.exit(0);
}

main().catch((e) => {
  log(`fatal: ${e.stack || e}`);
  process.exit(1);
});
