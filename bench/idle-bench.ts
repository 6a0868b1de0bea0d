// What an idle cluster costs: the CPU its pods use and the processes they start while nothing
// happens but the shipped loops (the start scripts' watches, the state servers answering peers,
// the clone listener, the exec probes the kubelet runs). Not a test: it prints medians of rounds.
//
//   npm run bench:idle [-- --rounds 3 --seconds 60 --topology both|galera|replication]
//
// Each round starts one topology at a time, as synthesized with its defaults (TLS on), from empty
// volumes: Galera (3 nodes) and primary/replica (3 nodes). Once every pod is ready and 15 s more
// have passed, it measures for --seconds:
//  - CPU: per pod, utime+stime+cutime+cstime summed over the processes in the pod's network
//    namespace (a process that exited was reaped by one of them and counts in its cutime), end
//    minus start; in percent of one core. Probe processes are reaped by the harness, outside the
//    pod, so their own CPU is not in this figure;
//  - processes started: per pod, the PID its mariadb container gives a new process (its own PID
//    namespace numbers them in order), end minus start, probes included; per second.
import { readFileSync } from 'fs';
import { Testing } from 'cdk8s';
import { PodCluster, Workload } from '../harness/index';
import { netnsPids } from '../harness/proc';
import { GaleraProxySqlChart, MariaDbReplication } from '../src/index';
import { tlsSecretsFor } from '../src/core/secrets';
import { chartSecrets } from '../test/cluster/secrets';
import { median, sleep, untilSynced } from './common';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : dflt; };
const ROUNDS = Number(opt('rounds', '3'));
const SECONDS = Number(opt('seconds', '60'));
const TOPOLOGY = opt('topology', 'both');
const ALL = [0, 1, 2];
const TICKS = 100; // USER_HZ on Linux

interface Cost { cpuPercent: number; processesPerSecond: number }

/** CPU ticks of every process of the pod, with the children each has reaped. */
function podTicks(pods: Workload, i: number): number {
  let total = 0;
  for (const pid of netnsPids(pods.podNs(i))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // fields 14..17 of proc(5): utime stime cutime cstime (f[0] is field 3)
      total += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    } catch { /* exited meanwhile */ }
  }
  return total;
}

/** The PID the pod's mariadb container gives the next process it starts. */
async function nextPid(pods: Workload, i: number): Promise<number> {
  const r = await pods.exec(i, ['sh', '-c', 'echo $$'], { timeoutMs: 10_000 });
  const pid = Number(r.output.trim());
  if (!Number.isInteger(pid)) throw new Error(`no PID from mariadb pod ${i}: ${r.output}`);
  return pid;
}

async function measure(pods: Workload): Promise<Cost[]> {
  await sleep(15_000);
  const pid0 = await Promise.all(ALL.map((i) => nextPid(pods, i)));
  const t0 = ALL.map((i) => podTicks(pods, i));
  const started = Date.now();
  await sleep(SECONDS * 1000);
  const t1 = ALL.map((i) => podTicks(pods, i));
  const seconds = (Date.now() - started) / 1000;
  const pid1 = await Promise.all(ALL.map((i) => nextPid(pods, i)));
  return ALL.map((i) => ({
    cpuPercent: ((t1[i] - t0[i]) / TICKS / seconds) * 100,
    processesPerSecond: (pid1[i] - pid0[i] - 1) / seconds,
  }));
}

async function galeraRound(): Promise<Cost[]> {
  const chart = () => new GaleraProxySqlChart(Testing.app(), 'bench', {});
  const cluster = new PodCluster({
    manifests: Testing.synth(chart()),
    secrets: await chartSecrets(chart(), {
      'root-password': 'bench-root', 'app-password': 'bench-app', 'sst-password': 'bench-sst', 'monitor-password': 'bench-mon',
      'proxysql-admin-password': 'bench-adm',
    }),
    workloads: ['galera'],
  });
  try {
    await cluster.setup();
    const galera = cluster.workload('galera');
    await Promise.all(ALL.map((i) => galera.startPod(i)));
    await untilSynced(galera, ALL, Date.now());
    await Promise.all(ALL.map((i) => galera.waitFor(i, 'readiness', 240_000)));
    return await measure(galera);
  } finally {
    await cluster.cleanup();
  }
}

async function replicationRound(): Promise<Cost[]> {
  const chart = Testing.chart();
  new MariaDbReplication(chart, 'mariadb', {});
  // the Secrets a user creates: the credentials, and the certificates (TLS is on by default)
  const secrets: Record<string, Record<string, string>> = { 'mariadb-credentials': {
    'root-password': 'bench-root', 'app-password': 'bench-app', 'replication-password': 'bench-repl', 'monitor-password': 'bench-mon',
  } };
  for (const s of await tlsSecretsFor(chart) as { metadata: { name: string }; stringData: Record<string, string> }[]) {
    secrets[s.metadata.name] = s.stringData;
  }
  const cluster = new PodCluster({ manifests: Testing.synth(chart), secrets, workloads: ['mariadb'] });
  try {
    await cluster.setup();
    const pods = cluster.workload('mariadb');
    await Promise.all(ALL.map((i) => pods.startPod(i)));
    await Promise.all(ALL.map((i) => pods.waitFor(i, 'readiness', 240_000)));
    return await measure(pods);
  } finally {
    await cluster.cleanup();
  }
}

function summary(name: string, rounds: Cost[][]): string {
  const cpu = rounds.map((r) => r.reduce((s, c) => s + c.cpuPercent, 0));
  const procs = rounds.map((r) => r.reduce((s, c) => s + c.processesPerSecond, 0));
  return `${name.padEnd(16)} CPU of the 3 pods ${median(cpu).toFixed(1).padStart(5)} % of a core `
    + `(rounds ${cpu.map((x) => x.toFixed(1)).join(', ')}); processes started ${median(procs).toFixed(1).padStart(5)}/s `
    + `(rounds ${procs.map((x) => x.toFixed(1)).join(', ')})`;
}

function report(galera: Cost[][], repl: Cost[][]): string {
  return [galera.length ? `  ${summary('Galera', galera)}` : '', repl.length ? `  ${summary('primary/replica', repl)}` : '']
    .filter(Boolean).join('\n');
}

async function main(): Promise<void> {
  for (const [k, v] of [['rounds', ROUNDS], ['seconds', SECONDS]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`--${k} must be a positive integer, got ${v}`);
  }
  if (!['both', 'galera', 'replication'].includes(TOPOLOGY)) {
    throw new Error(`--topology must be both, galera or replication, got ${TOPOLOGY}`);
  }
  console.log(`idle bench: ${ROUNDS} rounds, ${SECONDS} s measured per topology and round, TLS on (the default)`);
  const galera: Cost[][] = [];
  const repl: Cost[][] = [];
  for (let r = 0; r < ROUNDS; r++) {
    if (TOPOLOGY !== 'replication') galera.push(await galeraRound());
    if (TOPOLOGY !== 'galera') repl.push(await replicationRound());
    console.log(`round ${r + 1}/${ROUNDS}:\n${report(galera.slice(r), repl.slice(r))}`);
  }
  console.log(`medians:\n${report(galera, repl)}`);
}

main().catch((e) => { console.error(e); process.exit(1); });
