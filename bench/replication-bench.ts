// The primary/replica topology (MariaDbReplication) on the real software, against the Galera
// cluster (see docs/benchmarks.md). Not a test: it prints medians of repeated rounds.
//
//   npm run bench:replication [-- --rounds 3 --seconds 30 --failover-seconds 30]
//
// Only one cluster runs at a time. Each round starts the two topologies in turn (the order
// alternates per round, so both share the machine's noise), each from empty volumes:
//  - Galera (3 nodes, TLS off like the replication topology): sysbench oltp_write_only straight
//    to galera-0, so every commit is replicated to the two others;
//  - replication (3 nodes, one primary): the same sysbench run against the primary; then the
//    same run once more while every replica's Seconds_Behind_Master and the distance of its
//    gtid_slave_pos behind the primary's gtid_binlog_pos (domain 0 sequence numbers) are
//    sampled every second; then the primary is SIGKILLed under a writer that offers INSERTs to
//    every pod, and the failover time is the time from the kill to the first INSERT a new
//    primary acknowledges. The killed pod is restarted (cloned again when it is refused for a
//    transaction no replica acknowledged) and the round ends once all three are ready.
// Failover time is dominated by failoverSeconds (how long the replicas wait for a lost primary).
import { mkdirSync, readFileSync } from 'fs';
import { cpus } from 'os';
import { join } from 'path';
import { Chart, Testing } from 'cdk8s';
import { PodCluster, Workload } from '../harness/index';
import type { K8sObject, StatefulSet } from '../harness/spec';
import { GaleraProxySqlChart, MariaDbReplication } from '../src/index';
import { NODE_PATHS } from '../src/core/node-env';
import { chartSecrets } from '../test/cluster/secrets';
import { median, sleep, sysbench, SysbenchOptions, SysbenchTarget, untilSynced } from './common';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string | undefined) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : dflt; };
const ROUNDS = Number(opt('rounds', '3'));
const SECONDS = Number(opt('seconds', '30'));
const FAILOVER_ARG = opt('failover-seconds', undefined);
const FAILOVER_SECONDS = FAILOVER_ARG === undefined ? undefined : Number(FAILOVER_ARG);

const ALL = [0, 1, 2];
const LOAD: SysbenchOptions = { workload: 'oltp_write_only', tables: 4, tableSize: 20_000, threads: 4 };
const REPL_SECRET = {
  'root-password': 'bench-root', 'app-password': 'bench-app', 'replication-password': 'bench-repl', 'monitor-password': 'bench-mon',
};
const GALERA_SECRET = {
  'root-password': 'bench-root', 'app-password': 'bench-app', 'sst-password': 'bench-sst', 'monitor-password': 'bench-mon',
  'proxysql-admin-password': 'bench-adm',
};
/** sysbench reaches the Galera nodes' 3306 directly: the NetworkPolicy names it. */
const BENCH_CLIENT = { 'bench-role': 'direct-client' };
const READY_MS = 240_000;

// ---------------------------------------------------------------- replication topology

function replicationManifests(): readonly object[] {
  const chart = new Chart(Testing.app(), 'bench', { namespace: 'db' });
  // TLS off, as the Galera cluster it is compared with
  const failover = FAILOVER_SECONDS === undefined ? {} : { failoverSeconds: FAILOVER_SECONDS };
  new MariaDbReplication(chart, 'mariadb', { tls: { enabled: false }, ...failover });
  return Testing.synth(chart);
}

/** The failoverSeconds the pods actually run with (REPL_FAILOVER_SECONDS of the synthesized StatefulSet). */
function effectiveFailoverSeconds(manifests: readonly object[]): number {
  const sts = (manifests as K8sObject[]).find((m) => m.kind === 'StatefulSet') as StatefulSet | undefined;
  const env = sts?.spec?.template?.spec?.containers?.[0]?.env ?? [];
  return Number(env.find((e) => e.name === 'REPL_FAILOVER_SECONDS')?.value);
}

async function role(pods: Workload, i: number): Promise<string> {
  return (await pods.exec(i, ['cat', `${NODE_PATHS.runtime}/role`], { timeoutMs: 5000 })).output.trim();
}

async function waitAllReady(pods: Workload, ordinals: readonly number[] = ALL, timeoutMs = READY_MS): Promise<void> {
  await Promise.all(ordinals.map((i) => pods.waitFor(i, 'readiness', timeoutMs, { intervalMs: 500 })));
}

async function findPrimary(pods: Workload): Promise<number> {
  for (const i of ALL) if ((await role(pods, i).catch(() => '')) === 'primary') return i;
  throw new Error(
    `no pod says it is the primary: ${(await Promise.all(ALL.map((i) => role(pods, i).catch((e) => String(e))))).join(', ')}`,
  );
}

/** Domain-0 sequence number of a GTID list ("0-1-57,1-1-3" -> 57); NaN when absent. */
function seq0(list: string): number {
  const g = list.split(',').map((s) => s.trim()).find((s) => s.startsWith('0-'));
  return g ? Number(g.split('-')[2]) : NaN;
}

const SLAVE_STATUS_SQL = 'SHOW SLAVE STATUS; SELECT @@GLOBAL.gtid_slave_pos AS gtid_slave_pos';
/** SHOW SLAVE STATUS and gtid_slave_pos of replica i, read inside the pod over the socket (vertical output, with names). */
async function replicaStatus(pods: Workload, i: number): Promise<Record<string, string>> {
  const r = await pods.exec(i, ['bash', '-c',
    `mariadb --no-defaults --protocol=socket --socket=/run/mysqld/mysqld.sock -u "$(id -un)" --connect-timeout=3 --column-names -E -e `
      + `'${SLAVE_STATUS_SQL}'`,
  ], { timeoutMs: 5000 });
  if (r.exitCode !== 0) throw new Error(`SHOW SLAVE STATUS on mariadb-${i}: ${r.output.trim()}`);
  const out: Record<string, string> = {};
  for (const line of r.output.split('\n')) {
    const m = /^\s*([A-Za-z_]+): ?(.*)$/.exec(line);
    if (m) out[m[1]] = m[2];
  }
  return out;
}

interface LagSamples { sbm: number[]; gtid: number[]; missing: number }

/** Samples every replica once a second until `done()`: Seconds_Behind_Master and primary seq − replica seq. */
async function sampleLag(
  pods: Workload, primary: number, replicas: readonly number[], done: () => boolean, into: Map<number, LagSamples>,
): Promise<void> {
  for (const i of replicas) if (!into.has(i)) into.set(i, { sbm: [], gtid: [], missing: 0 });
  while (!done()) {
    const t0 = Date.now();
    const [binlog, ...status] = await Promise.all([
      pods.sql(primary, 'SELECT @@GLOBAL.gtid_binlog_pos', { timeoutMs: 5000 }).then((r) => r[0]?.[0] ?? '').catch(() => ''),
      ...replicas.map((i) => replicaStatus(pods, i).catch(() => null)),
    ]);
    const primarySeq = seq0(binlog as string);
    replicas.forEach((i, k) => {
      const s = into.get(i)!;
      const st = status[k] as Record<string, string> | null;
      const sbm = Number(st?.Seconds_Behind_Master);
      const behind = primarySeq - seq0(st?.gtid_slave_pos ?? '');
      if (!st
        || st.Seconds_Behind_Master === undefined || st.Seconds_Behind_Master === 'NULL' || !Number.isFinite(sbm)
        || !Number.isFinite(behind)) { s.missing += 1; return; }
      s.sbm.push(sbm);
      // the replica was read after the primary: it may already be past that position
      s.gtid.push(Math.max(0, behind));
    });
    await sleep(Math.max(0, 1000 - (Date.now() - t0)));
  }
}

interface Failover { ms: number; promoteLogMs: number | null; promoted: number; rejoinMs: number; refused: boolean; ledger: string }

interface Ack { pod: number; at: number }
function readAcks(file: string): Ack[] {
  return readFileSync(file, 'utf8').split('\n').map((l) => /^(\d+) (\d+) (\d+)$/.exec(l)).filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ pod: Number(m[2]), at: Number(m[3]) }));
}

/** SIGKILL of the primary under a writer offering INSERTs to every pod; then the killed pod back, all three ready. */
async function failover(pods: Workload, failoverSeconds: number): Promise<Failover> {
  const old = await findPrimary(pods);
  const writer = await pods.startWriter({ pods: ALL, rateHz: 60, queryTimeoutMs: 5000 });
  let killedAt = 0;
  let first: Ack | undefined;
  const mark = pods.logs(old).length;
  const marks = ALL.map((i) => pods.logs(i).length);
  try {
    await sleep(3000);
    if (!readAcks(writer.ledgerFile).some((a) => a.pod === old)) throw new Error(
      `the writer got no acknowledgement from the primary mariadb-${old} before the kill`,
    );
    killedAt = Date.now();
    await pods.stopPod(old, 'KILL');
    const deadline = killedAt + failoverSeconds * 1000 + 180_000;
    while (!(first = readAcks(writer.ledgerFile).find((a) => a.at > killedAt && a.pod !== old))) {
      if (Date.now() > deadline) {
        throw new Error(`no write accepted by another pod ${Math.round((Date.now() - killedAt) / 1000)} s after the SIGKILL of the primary `
          + `mariadb-${old}\n`
          + ALL.filter((i) => i !== old).map(
            (i) => `--- mariadb-${i} (log since the kill)\n${pods.logs(i).slice(marks[i]).slice(-4000)}`,
          ).join('\n'));
      }
      await sleep(100);
    }
  } finally {
    await writer.stop();
  }
  const promoted = first.pod;
  const ms = first.at - killedAt;
  // the promote decision as the new primary logged it (second resolution)
  const line = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) .*decision: promote:/m.exec(pods.logs(promoted).slice(marks[promoted]));
  const promoteLogMs = line ? Date.parse(line[1]) - Math.floor(killedAt / 1000) * 1000 : null;

  // the old primary comes back: a replica, or refused (it held a transaction no replica acknowledged) and cloned again
  const t = Date.now();
  await pods.startPod(old);
  const since = () => pods.logs(old).slice(mark);
  while (!(await pods.probe(old, 'readiness')).ok && !since().includes('decision: refuse:')) {
    if (Date.now() - t > READY_MS) throw new Error(
      `mariadb-${old} neither ready nor refused ${READY_MS} ms after its restart:\n${since().slice(-4000)}`,
    );
    await sleep(500);
  }
  const refused = since().includes('decision: refuse:');
  if (refused) await pods.exec(old, ['touch', '/var/lib/mysql/replication-reclone']);
  await waitAllReady(pods);
  const rejoinMs = Date.now() - t;
  const roles = await Promise.all(ALL.map((i) => role(pods, i)));
  if (roles.filter((r) => r === 'primary').length !== 1 || roles[promoted] !== 'primary') throw new Error(
    `after the failover the roles are ${roles.join(', ')} (expected mariadb-${promoted} the only primary)`,
  );

  // every acknowledged write is on every pod (a benchmark only reports it)
  let ledger = 'ok';
  try {
    const pos = (await pods.sql(promoted, 'SELECT @@GLOBAL.gtid_binlog_pos'))[0][0];
    for (const i of ALL.filter((j) => j !== promoted)) await pods.sql(i, `SELECT MASTER_GTID_WAIT('${pos}', 60)`, { timeoutMs: 70_000 });
    const { acked } = await writer.stop();
    await pods.verifyLedger(acked, ALL);
  } catch (e) {
    ledger = (e as Error).message.split('\n').slice(0, 3).join(' ');
  }
  return { ms, promoteLogMs, promoted, rejoinMs, refused, ledger };
}

interface ReplRound { tps: number; p95: number; failover: Failover }

async function replicationSession(lag: Map<number, LagSamples>, failoverSeconds: number): Promise<ReplRound> {
  const cluster = new PodCluster({
    manifests: replicationManifests(), secrets: { 'mariadb-credentials': REPL_SECRET }, workloads: ['mariadb'],
  });
  try {
    await cluster.setup();
    const pods = cluster.workload('mariadb');
    const dir = join(cluster.runDir, 'bench');
    mkdirSync(dir, { recursive: true });
    await Promise.all(ALL.map((i) => pods.startPod(i)));
    await waitAllReady(pods);
    const primary = await findPrimary(pods);
    const replicas = ALL.filter((i) => i !== primary);
    const target: SysbenchTarget = {
      name: `replication mariadb-${primary}`, host: pods.podIp(primary), port: 3306, password: REPL_SECRET['app-password'],
    };
    await sysbench(cluster, dir, target, LOAD, 'prepare', 1);
    await sleep(2000);
    const { tps, p95 } = await sysbench(cluster, dir, target, LOAD, 'run', SECONDS);
    await sleep(2000);
    // the same load once more, sampled (the sampling itself costs some CPU, so the throughput above is measured without it)
    let running = true;
    const sampler = sampleLag(pods, primary, replicas, () => !running, lag);
    try {
      await sysbench(cluster, dir, target, LOAD, 'run', SECONDS);
    } finally {
      running = false;
      await sampler;
    }
    const f = await failover(pods, failoverSeconds);
    return { tps, p95, failover: f };
  } finally {
    await cluster.cleanup();
  }
}

// ---------------------------------------------------------------- Galera

function galeraChart(): GaleraProxySqlChart {
  return new GaleraProxySqlChart(Testing.app(), 'bench', {
    // TLS off, as the replication topology speaks plain text
    galera: { tls: { enabled: false }, stuckDesyncRestartSeconds: 30 },
    networkPolicy: { directClients: [{ podSelector: { matchLabels: BENCH_CLIENT } }] },
  });
}

async function galeraSession(): Promise<{ tps: number; p95: number }> {
  const cluster = new PodCluster({
    manifests: Testing.synth(galeraChart()), secrets: await chartSecrets(galeraChart(), GALERA_SECRET), workloads: ['galera'],
    clientLabels: BENCH_CLIENT,
  });
  try {
    await cluster.setup();
    const galera = cluster.workload('galera');
    const dir = join(cluster.runDir, 'bench');
    mkdirSync(dir, { recursive: true });
    await Promise.all(ALL.map((i) => galera.startPod(i)));
    await untilSynced(galera, ALL, Date.now());
    const target: SysbenchTarget = { name: 'galera galera-0', host: galera.podIp(0), port: 3306, password: GALERA_SECRET['app-password'] };
    await sysbench(cluster, dir, target, LOAD, 'prepare', 1);
    await sleep(2000);
    return await sysbench(cluster, dir, target, LOAD, 'run', SECONDS);
  } finally {
    await cluster.cleanup();
  }
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  for (const [k, v] of [['rounds', ROUNDS], ['seconds', SECONDS], ['failover-seconds', FAILOVER_SECONDS ?? 30]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`--${k} must be a positive integer, got ${v}`);
  }
  const failoverSeconds = effectiveFailoverSeconds(replicationManifests());
  const failoverNote = `failoverSeconds=${failoverSeconds} `
    + `(${FAILOVER_SECONDS === undefined ? 'the construct default' : '--failover-seconds'})`;
  console.log(`replication bench: ${ROUNDS} rounds, ${SECONDS} s sysbench runs, ${failoverNote}`);
  const repl: ReplRound[] = [];
  const galera: { tps: number; p95: number }[] = [];
  const lag = new Map<number, LagSamples>();
  for (let r = 0; r < ROUNDS; r++) {
    for (const side of r % 2 === 0 ? ['replication', 'galera'] : ['galera', 'replication']) {
      if (side === 'replication') {
        const x = await replicationSession(lag, failoverSeconds);
        repl.push(x);
        const f = x.failover;
        console.log(`round ${r + 1}/${ROUNDS} replication: ${x.tps.toFixed(0)} tps; `
          + `failover ${(f.ms / 1000).toFixed(1)} s to mariadb-${f.promoted}`
          + `${f.promoteLogMs === null ? '' : ` (promote logged ~${(f.promoteLogMs / 1000).toFixed(0)} s after the kill)`}; `
            + `old primary back and all ready after ${(f.rejoinMs / 1000).toFixed(1)} s`
          + `${f.refused ? ' (refused, cloned again by the override)' : ''}; ledger ${f.ledger}`);
      } else {
        const x = await galeraSession();
        galera.push(x);
        console.log(`round ${r + 1}/${ROUNDS} galera: ${x.tps.toFixed(0)} tps`);
      }
    }
  }

  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const range = (xs: number[], f: (x: number) => string) => (xs.length > 1 ? ` (${f(Math.min(...xs))} – ${f(Math.max(...xs))})` : '');
  const fo = repl.map((x) => x.failover);
  const promoteLogs = fo.map((f) => f.promoteLogMs).filter((x): x is number => x !== null);
  console.log(`\nMariaDbReplication vs Galera: 3 nodes each, one cluster at a time, `
    + `sysbench ${LOAD.workload} ${LOAD.threads} threads on ${LOAD.tables} x ${LOAD.tableSize} rows, `
    + `${SECONDS} s runs, ${ROUNDS} rounds (order alternating), ${cpus().length} cores, TLS off on both; ${failoverNote}; `
      + `medians (min – max)\n`);
  console.log('| measure | replication | galera | replication / galera |');
  console.log('|---|---|---|---|');
  console.log(`| failover: primary SIGKILL to the first write accepted by the new primary (failoverSeconds=${failoverSeconds}) `
    + `| ${s(median(fo.map((f) => f.ms)))}${range(fo.map((f) => f.ms), s)} | – | – |`);
  if (promoteLogs.length > 0) console.log(
    `| of which: SIGKILL to the promote decision in the new primary's log (1 s resolution) | ${s(median(promoteLogs))} | – | – |`,
  );
  console.log(`| old primary restarted to all 3 ready (refused and cloned again: ${fo.filter((f) => f.refused).length} of ${fo.length}) `
    + `| ${s(median(fo.map((f) => f.rejoinMs)))}${range(fo.map((f) => f.rejoinMs), s)} | – | – |`);
  for (const [i, l] of [...lag.entries()].sort((a, b) => a[0] - b[0])) {
    const sbm = l.sbm.length ? `${median(l.sbm).toFixed(0)} s median, ${Math.max(...l.sbm)} s max` : 'no sample';
    const gtid = l.gtid.length ? `${median(l.gtid).toFixed(0)} median, ${Math.max(...l.gtid)} max` : 'no sample';
    console.log(`| replica lag under load, mariadb-${i}: `
      + `Seconds_Behind_Master (${l.sbm.length} samples${l.missing ? `, ${l.missing} unreadable` : ''}) | ${sbm} | – | – |`);
    console.log(`| replica lag under load, mariadb-${i}: transactions behind the primary (domain 0 GTID seq) | ${gtid} | – | – |`);
  }
  const ratios = repl.map((x, k) => x.tps / galera[k].tps);
  console.log(`| write throughput, sysbench straight to the primary / to galera-0 | ${median(repl.map((x) => x.tps)).toFixed(0)} `
    + `tps${range(repl.map((x) => x.tps), (x) => x.toFixed(0))} `
    + `| ${median(galera.map((x) => x.tps)).toFixed(0)} tps${range(galera.map((x) => x.tps), (x) => x.toFixed(0))} `
      + `| ${median(ratios).toFixed(2)} |`);
  console.log(`| write latency p95 | ${median(repl.map((x) => x.p95)).toFixed(1)} ms | ${median(galera.map((x) => x.p95)).toFixed(1)} ms `
    + `| ${median(repl.map((x, k) => x.p95 / galera[k].p95)).toFixed(2)} |`);
  const badLedger = fo.filter((f) => f.ledger !== 'ok');
  if (badLedger.length > 0) console.log(`\nWARNING: the acknowledged-write ledger check failed after ${badLedger.length} `
    + `failover(s): ${badLedger.map((f) => f.ledger).join(' | ')}`);
  console.log('\n(ratios: median of the per-round ratios; lag: every sample of every round, 1 per second per replica)');
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
