/* eslint-disable no-console */
import { Testing } from 'cdk8s';
import { FailureDetection, GaleraProxySqlChart } from '../src';
import { PodCluster, Workload } from '../harness';

// Lifecycle timings of the synthesized Galera pods on the real software (see README, Benchmark).
// Not a test: it prints medians over repeated runs. Usage: npm run bench [-- RUNS]
// GALERA_BENCH_FAILURE_DETECTION=galera-default|balanced|fast picks the failure detector preset.

const RUNS = Number(process.argv[2] ?? process.env.GALERA_BENCH_RUNS ?? 5);
const MODE = (process.env.GALERA_BENCH_FAILURE_DETECTION ?? 'balanced') as FailureDetection;
const ALL = [0, 1, 2];
const SECRET = { 'root-password': 'bench-root', 'app-password': 'bench-app', 'sst-password': 'bench-sst', 'monitor-password': 'bench-mon', 'proxysql-admin-password': 'bench-adm' };
const GOALS: Record<string, number> = {
  'fresh bootstrap to all Synced': 30_000,
  'write stall on the survivors after SIGKILL of one node': 6_000,
  'rejoin to Synced by IST': 15_000,
  'full crash to all Synced': 60_000,
  'graceful full stop to all Synced': 60_000,
};

function manifests(): any[] {
  return Testing.synth(new GaleraProxySqlChart(Testing.app(), 'bench', { galera: { failureDetection: MODE } }));
}

async function synced(pods: Workload, i: number, size: number): Promise<boolean> {
  try {
    const rows = await pods.sql(i, "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_local_state_comment','wsrep_cluster_size')", { timeoutMs: 2000 });
    const s = Object.fromEntries(rows.map(([k, v]) => [k, v]));
    return s.wsrep_local_state_comment === 'Synced' && Number(s.wsrep_cluster_size) === size;
  } catch {
    return false;
  }
}

/** Milliseconds from `since` until every listed pod is Synced in a cluster of `size`, polled every 200 ms. */
async function untilSynced(pods: Workload, ordinals: number[], since: number, size = 3, timeoutMs = 240_000): Promise<number> {
  const pending = new Set(ordinals);
  while (pending.size > 0) {
    if (Date.now() - since > timeoutMs) throw new Error(`pods ${[...pending].join(',')} not Synced after ${timeoutMs} ms`);
    for (const i of [...pending]) if (await synced(pods, i, size)) pending.delete(i);
    if (pending.size > 0) await sleep(200);
  }
  return Date.now() - since;
}

async function oneRun(pods: Workload): Promise<Record<string, number>> {
  const r: Record<string, number> = {};
  for (const i of ALL) pods.wipeVolume(i);
  let t = Date.now();
  await Promise.all(ALL.map((i) => pods.startPod(i)));
  r['fresh bootstrap to all Synced'] = await untilSynced(pods, ALL, t);

  const writer = await pods.startWriter({ pods: [0, 1], rateHz: 50 });
  await sleep(3000);
  await pods.stopPod(2, 'KILL');
  await sleep(12_000);
  r['write stall on the survivors after SIGKILL of one node'] = (await writer.stop()).maxStallMs;

  t = Date.now();
  await pods.startPod(2);
  r['rejoin to Synced by IST'] = await untilSynced(pods, [2], t);
  if (!/Receiving IST|IST received/.test(pods.logs(2))) console.warn('  (warning: the rejoin did not log IST)');

  await pods.stopAll('KILL');
  t = Date.now();
  await Promise.all(ALL.map((i) => pods.startPod(i)));
  r['full crash to all Synced'] = await untilSynced(pods, ALL, t);

  for (const i of ALL) await pods.stopPod(i, 'TERM');
  t = Date.now();
  await Promise.all(ALL.map((i) => pods.startPod(i)));
  r['graceful full stop to all Synced'] = await untilSynced(pods, ALL, t);
  for (const i of ALL) await pods.stopPod(i, 'TERM');
  return r;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function main(): Promise<void> {
  const cluster = new PodCluster({ manifests: manifests(), secret: SECRET, workloads: ['galera'] });
  const pods = cluster.workload('galera');
  const results: Record<string, number>[] = [];
  try {
    await cluster.setup();
    for (let run = 1; run <= RUNS; run++) {
      const r = await oneRun(pods);
      console.log(`run ${run}/${RUNS}: ${Object.entries(r).map(([k, v]) => `${k.split(' ')[0]}…=${(v / 1000).toFixed(1)}s`).join('  ')}`);
      results.push(r);
    }
  } finally {
    await cluster.cleanup();
  }
  console.log(`\nGalera lifecycle, ${RUNS} runs, failureDetection=${MODE}, 3 nodes in network namespaces on ${require('os').cpus().length} cores\n`);
  console.log('| measure | median | min | max | goal | median / goal |');
  console.log('|---|---|---|---|---|---|');
  for (const key of Object.keys(GOALS)) {
    const xs = results.map((r) => r[key]);
    const fmt = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
    console.log(`| ${key} | ${fmt(median(xs))} | ${fmt(Math.min(...xs))} | ${fmt(Math.max(...xs))} | ≤ ${fmt(GOALS[key])} | ${(median(xs) / GOALS[key]).toFixed(2)} |`);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
