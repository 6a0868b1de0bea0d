import { cpus } from 'os';
import { Testing } from 'cdk8s';
import { FailureDetection, GaleraProxySqlChart } from '../src/index';
import { chartSecrets } from '../test/cluster/secrets';
import { PodCluster, Workload } from '../harness/index';
import { median, sleep, untilSynced } from './common';

// Lifecycle timings of the synthesized Galera pods on the real software (see docs/benchmarks.md).
// Not a test: it prints medians over repeated runs. Usage: npm run bench [-- RUNS]
// GALERA_BENCH_FAILURE_DETECTION=galera-default|balanced|fast picks the failure detector preset;
// GALERA_BENCH_TLS=on measures with TLS (bench/tls-bench.ts compares the two in one run).

const RUNS = Number(process.argv[2] ?? process.env.GALERA_BENCH_RUNS ?? 5);
const MODE = (process.env.GALERA_BENCH_FAILURE_DETECTION ?? 'balanced') as FailureDetection;
const TLS = process.env.GALERA_BENCH_TLS === 'on';
const ALL = [0, 1, 2];
/** The ledger writer reaches the nodes' 3306 directly: the NetworkPolicy names it. */
const BENCH_CLIENT = { 'bench-role': 'direct-client' };
const SECRET = {
  'root-password': 'bench-root', 'app-password': 'bench-app', 'sst-password': 'bench-sst', 'monitor-password': 'bench-mon',
  'proxysql-admin-password': 'bench-adm',
};
const GOALS: Record<string, number> = {
  'fresh bootstrap to all Synced': 30_000,
  'write stall on the survivors after SIGKILL of one node': 6_000,
  'rejoin to Synced by IST': 15_000,
  'full crash to all Synced': 60_000,
  'graceful full stop to all Synced': 60_000,
};

function manifests(): readonly object[] {
  return Testing.synth(chart());
}

function chart(): GaleraProxySqlChart {
  return new GaleraProxySqlChart(Testing.app(), 'bench', { galera: { failureDetection: MODE, tls: { enabled: TLS } }, networkPolicy: {
    directClients: [{ podSelector: { matchLabels: BENCH_CLIENT } }],
  } });
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

async function main(): Promise<void> {
  const cluster = new PodCluster({
    manifests: manifests(), secrets: await chartSecrets(chart(), SECRET), workloads: ['galera'], clientLabels: BENCH_CLIENT,
  });
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
  console.log(`\nGalera lifecycle, ${RUNS} runs, failureDetection=${MODE}, TLS ${TLS ? 'on' : 'off'}, `
    + `3 nodes in network namespaces on ${cpus().length} cores\n`);
  console.log('| measure | median | min | max | goal | median / goal |');
  console.log('|---|---|---|---|---|---|');
  for (const key of Object.keys(GOALS)) {
    const xs = results.map((r) => r[key]);
    const fmt = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
    console.log(`| ${key} | ${fmt(median(xs))} | ${fmt(Math.min(...xs))} | ${fmt(Math.max(...xs))} | ≤ ${fmt(GOALS[key])} `
      + `| ${(median(xs) / GOALS[key]).toFixed(2)} |`);
  }
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
