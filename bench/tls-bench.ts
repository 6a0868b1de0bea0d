// What TLS and the NetworkPolicies cost, on the real software (see README, Benchmark). Not a
// test: it prints medians of per-round ratios, both configurations measured in the same run.
//
//   npm run bench:tls [-- --bootstraps 5 --rounds 5 --seconds 10]
//
// Two clusters of three nodes, one with TLS off and one with TLS on (the default), both under
// their NetworkPolicies. First the fresh bootstrap, `--bootstraps` times per cluster, the two
// alternating and the other one stopped meanwhile: three empty volumes, the three pods started at
// once, timed until all are Synced, with where the time went (read from the nodes' logs). Then
// each round, on each cluster in turn (the order alternates): sysbench oltp_write_only straight to
// galera-0 (a TLS client on the TLS side), so every commit is replicated to the two others; the
// rejoin of galera-2 by IST after it missed a few seconds of writes; and its rejoin by SST from a
// wiped volume. Then, on the TLS cluster, the same write run with the policies' nftables rules
// and without them. The targets (issue 21): bootstrap with TLS <= 20 s, SST rejoin with TLS <=
// 1.3 x the plain-text one of the same round.
import { mkdirSync, writeFileSync } from 'fs';
import { cpus } from 'os';
import { join } from 'path';
import { Testing } from 'cdk8s';
import { PodCluster, Workload } from '../harness/index';
import { GaleraProxySqlChart } from '../src/index';
import { chartSecrets } from '../test/cluster/secrets';
import { median, sleep, sysbench, SysbenchOptions, untilSynced } from './common';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : dflt; };
const BOOTSTRAPS = Number(opt('bootstraps', '5'));
const ROUNDS = Number(opt('rounds', '5'));
const SECONDS = Number(opt('seconds', '10'));
const SECRET = {
  'root-password': 'bench-root', 'app-password': 'bench-app', 'sst-password': 'bench-sst', 'monitor-password': 'bench-mon',
  'proxysql-admin-password': 'bench-adm',
};
const ALL = [0, 1, 2];
const BENCH_CLIENT = { 'bench-role': 'direct-client' };
const LOAD: SysbenchOptions = { workload: 'oltp_write_only', tables: 4, tableSize: 20_000, threads: 4 };
/** Issue 21's targets for the TLS side. */
const TARGET_BOOTSTRAP_MS = 20_000;
const TARGET_SST_RATIO = 1.3;

interface Side { name: string; tls: boolean; cluster: PodCluster; galera: Workload; dir: string }

async function createSide(name: string, tls: boolean): Promise<Side> {
  const chart = () => new GaleraProxySqlChart(Testing.app(), 'bench', {
    galera: { tls: { enabled: tls } },
    networkPolicy: { directClients: [{ podSelector: { matchLabels: BENCH_CLIENT } }] },
  });
  const secrets = await chartSecrets(chart(), SECRET);
  const cluster = new PodCluster({ manifests: Testing.synth(chart()), secrets, workloads: ['galera'], clientLabels: BENCH_CLIENT });
  await cluster.setup();
  const side = { name, tls, cluster, galera: cluster.workload('galera'), dir: join(cluster.runDir, 'bench') };
  mkdirSync(side.dir, { recursive: true });
  if (tls) {
    // sysbench's fixed client files: a Galera node's certificate (client and server usage) and the CA
    const pem = secrets[chart().galera.certificateSpec!.secretName];
    for (const [file, key] of [['client-key.pem', 'tls.key'], ['client-cert.pem', 'tls.crt'], ['cacert.pem', 'ca.crt']]) writeFileSync(
      join(side.dir, file), pem[key], { mode: 0o600 },
    );
  }
  return side;
}

/** Seconds from `t0` (epoch ms) of the first log line matching `re` after `from`, or NaN. */
function logTime(log: string, re: RegExp, t0: number): number {
  for (const line of log.split('\n')) {
    if (!re.test(line)) continue;
    // the node scripts' lines (2026-12-06T05:21:47Z) and mariadbd's (2026-12-06  5:21:47), both UTC
    const m = /^(\d{4}-\d{2}-\d{2})[T ]\s?(\d{1,2}):(\d{2}):(\d{2})/.exec(line);
    if (m) return (Date.parse(`${m[1]}T${m[2].padStart(2, '0')}:${m[3]}:${m[4]}Z`) - t0) / 1000;
  }
  return NaN;
}

/** Where a bootstrap's time went, in seconds from the pods' start (the logs have 1 s resolution). */
type Phases = Record<string, number>;
const PHASES = [
  'galera-0 decides to bootstrap', 'galera-0 initialized, starts mariadbd', 'galera-0 Synced',
  'first joiner starts mariadbd', 'first joiner gets its donor', 'first joiner has the data', 'first joiner Synced',
  'second joiner gets its donor', 'second joiner has the data', 'second joiner Synced',
];

function bootstrapPhases(logs: string[], t0: number): Phases {
  const at = (i: number, re: RegExp) => logTime(logs[i], re, t0);
  // a joiner's donor is assigned when mariadbd logs "Member ... (galera-N) requested state transfer ... Selected"
  const joiners = [1, 2].map((i) => ({
    start: at(i, /galera INFO: starting mariadbd \(join\)/),
    donor: at(i, new RegExp(`\\(galera-${i}\\) requested state transfer from .*Selected`)),
    data: at(i, /WSREP: SST succeeded for position|WSREP: SST received:/),
    synced: at(i, /WSREP: Synchronized with group, ready for connections/),
  })).sort((a, b) => a.donor - b.donor);
  return {
    [PHASES[0]]: at(0, /galera INFO: decision: bootstrap/),
    [PHASES[1]]: at(0, /galera INFO: starting mariadbd \(bootstrap\)/),
    [PHASES[2]]: at(0, /WSREP: Synchronized with group, ready for connections/),
    [PHASES[3]]: Math.min(joiners[0].start, joiners[1].start),
    [PHASES[4]]: joiners[0].donor, [PHASES[5]]: joiners[0].data, [PHASES[6]]: joiners[0].synced,
    [PHASES[7]]: joiners[1].donor, [PHASES[8]]: joiners[1].data, [PHASES[9]]: joiners[1].synced,
  };
}

/** Where the SST rejoin of a wiped galera-2 went, in seconds from its start. */
const REJOIN_PHASES = ['decides to join', 'starts mariadbd', 'gets its donor', 'has the data', 'Synced'];

function rejoinPhases(log: string, t0: number): Phases {
  return {
    [REJOIN_PHASES[0]]: logTime(log, /galera INFO: decision: join/, t0),
    [REJOIN_PHASES[1]]: logTime(log, /galera INFO: starting mariadbd \(join\)/, t0),
    [REJOIN_PHASES[2]]: logTime(log, /\(galera-2\) requested state transfer from .*Selected/, t0),
    [REJOIN_PHASES[3]]: logTime(log, /WSREP: SST succeeded for position|WSREP: SST received:/, t0),
    [REJOIN_PHASES[4]]: logTime(log, /WSREP: Synchronized with group, ready for connections/, t0),
  };
}

/** A fresh bootstrap: three empty volumes, the three pods started at once, until all are Synced. */
async function bootstrap(s: Side): Promise<{ ms: number; phases: Phases }> {
  await s.galera.stopAll('KILL');
  for (const i of ALL) s.galera.wipeVolume(i);
  const before = ALL.map((i) => s.galera.logs(i).length);
  const t0 = Date.now();
  await Promise.all(ALL.map((i) => s.galera.startPod(i)));
  const ms = await untilSynced(s.galera, ALL, t0);
  return { ms, phases: bootstrapPhases(ALL.map((i) => s.galera.logs(i).slice(before[i])), t0) };
}

// Each side's clients speak as its server does: plain text to the TLS-off cluster, TLS to the
// TLS-on one (Debian's sysbench 1.0.20 on libmariadb takes TLS whenever the server offers it), so
// the ratios are the whole cost of TLS: clients, replication, IST and SST.
const target = (s: Side) => ({
  name: `${s.name} galera-0`, host: s.galera.podIp(0), port: 3306, password: SECRET['app-password'], ssl: s.tls,
});

interface Round { tps: number; ist: number; sst: number; sstPhases: Phases }

async function round(s: Side): Promise<Round> {
  const { tps } = await sysbench(s.cluster, s.dir, target(s), LOAD, 'run', SECONDS);
  // IST: galera-2 misses a few seconds of writes, then catches up
  await s.galera.stopPod(2, 'TERM');
  await sysbench(s.cluster, s.dir, target(s), LOAD, 'run', 5);
  let t = Date.now();
  await s.galera.startPod(2);
  const ist = await untilSynced(s.galera, [2], t);
  // SST: galera-2 comes back with an empty volume (the whole dataset is transferred)
  await s.galera.stopPod(2, 'TERM');
  s.galera.wipeVolume(2);
  const before = s.galera.logs(2).length;
  t = Date.now();
  await s.galera.startPod(2);
  const sst = await untilSynced(s.galera, [2], t);
  await untilSynced(s.galera, ALL, Date.now());
  return { tps, ist, sst, sstPhases: rejoinPhases(s.galera.logs(2).slice(before), t) };
}

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** The median of each phase over the runs, per side, as table rows. */
function phaseRows(names: string[], runs: Phases[][]): string[] {
  return names.map((p) => {
    const cells = runs.map((xs) => {
      const v = xs.map((x) => x[p]).filter(Number.isFinite);
      return v.length ? `${median(v).toFixed(0)} s` : '–';
    });
    return `| ${p} | ${cells.join(' | ')} |`;
  });
}

function printBootstrap(boots: Map<string, { ms: number; phases: Phases }[]>, sides: Side[]): void {
  const [off, on] = sides.map((s) => boots.get(s.name)!);
  console.log(`\nFresh 3-node bootstrap to all Synced, ${BOOTSTRAPS} runs per cluster (medians, min-max); where the time went, `
    + 'in seconds from the pods\' start (median of the runs; the logs have 1 s resolution):\n');
  console.log('| phase | TLS off | TLS on |');
  console.log('|---|---|---|');
  for (const row of phaseRows(PHASES, [off, on].map((xs) => xs.map((x) => x.phases)))) console.log(row);
  const range = (xs: { ms: number }[]) => {
    const ms = xs.map((x) => x.ms);
    return `${secs(median(ms))} (${secs(Math.min(...ms))}–${secs(Math.max(...ms))})`;
  };
  console.log(`| **all three Synced** (polled every 200 ms) | ${range(off)} | ${range(on)} |`);
}

async function main(): Promise<void> {
  const sides: Side[] = [];
  try {
    sides.push(await createSide('TLS off', false));
    sides.push(await createSide('TLS on', true));
    const boots = new Map<string, { ms: number; phases: Phases }[]>(sides.map((s) => [s.name, []]));
    for (let r = 0; r < BOOTSTRAPS; r++) {
      for (const s of r % 2 === 0 ? sides : [...sides].reverse()) {
        const b = await bootstrap(s);
        boots.get(s.name)!.push(b);
        console.log(`bootstrap ${r + 1}/${BOOTSTRAPS} ${s.name}: all Synced in ${secs(b.ms)}`);
        await s.galera.stopAll('KILL');
      }
    }
    for (const s of sides) {
      await bootstrap(s);
      await sysbench(s.cluster, s.dir, target(s), LOAD, 'prepare', 1);
    }
    const results = new Map<string, Round[]>(sides.map((s) => [s.name, []]));
    const policy = { on: [] as number[], off: [] as number[] };
    const tlsSide = sides[1];
    for (let r = 0; r < ROUNDS; r++) {
      for (const s of r % 2 === 0 ? sides : [...sides].reverse()) {
        const x = await round(s);
        results.get(s.name)!.push(x);
        console.log(`round ${r + 1}/${ROUNDS} ${s.name}: ${x.tps.toFixed(0)} tps, IST rejoin ${secs(x.ist)}, SST rejoin ${secs(x.sst)}`);
        await sleep(2000);
      }
      for (const on of r % 2 === 0 ? [true, false] : [false, true]) {
        tlsSide.cluster.setPolicyEnforcement(on);
        const { tps } = await sysbench(tlsSide.cluster, tlsSide.dir, target(tlsSide), LOAD, 'run', SECONDS);
        policy[on ? 'on' : 'off'].push(tps);
        console.log(`round ${r + 1}/${ROUNDS} TLS on, policies ${on ? 'enforced' : 'not enforced'}: ${tps.toFixed(0)} tps`);
      }
      tlsSide.cluster.setPolicyEnforcement(true);
    }
    printBootstrap(boots, sides);
    const [off, on] = sides.map((s) => results.get(s.name)!);
    console.log(`\nSST rejoin of a wiped galera-2, where the time went, in seconds from its start (median of ${ROUNDS} rounds):\n`);
    console.log('| phase | TLS off | TLS on |');
    console.log('|---|---|---|');
    for (const row of phaseRows(REJOIN_PHASES, [off, on].map((xs) => xs.map((x) => x.sstPhases)))) console.log(row);
    type Figure = 'tps' | 'ist' | 'sst';
    const ratio = (k: Figure) => median(on.map((x, i) => x[k] / off[i][k]));
    const fmt = (k: Figure, xs: Round[]) => (k === 'tps' ? `${median(xs.map((x) => x.tps)).toFixed(0)} tps`
      : secs(median(xs.map((x) => x[k]))));
    const [bootOff, bootOn] = sides.map((s) => median(boots.get(s.name)!.map((b) => b.ms)));
    const met = (ok: boolean) => (ok ? 'met' : '**missed**');
    console.log(`\nTLS and NetworkPolicy cost: 3 nodes per cluster, sysbench ${LOAD.workload} ${LOAD.threads} threads on ${LOAD.tables} `
      + `x ${LOAD.tableSize} rows, `
      + `${BOOTSTRAPS} bootstraps and ${ROUNDS} rounds of ${SECONDS} s runs, ${cpus().length} cores; medians, ratios paired per round\n`);
    console.log('| measure | TLS off | TLS on | on / off | target (TLS on) |');
    console.log('|---|---|---|---|---|');
    console.log(`| fresh 3-node bootstrap to all Synced | ${secs(bootOff)} | ${secs(bootOn)} | ${(bootOn / bootOff).toFixed(2)} | `
      + `≤ ${secs(TARGET_BOOTSTRAP_MS)}: ${met(bootOn <= TARGET_BOOTSTRAP_MS)} |`);
    const names: Record<Figure, string> = {
      tps: 'write throughput straight to one node (replicated to two)',
      ist: 'rejoin by IST to Synced',
      sst: 'rejoin by SST (wiped volume) to Synced',
    };
    for (const k of ['tps', 'ist', 'sst'] as const) {
      const goal = k === 'sst' ? `≤ ${TARGET_SST_RATIO} × TLS off: ${met(ratio(k) <= TARGET_SST_RATIO)}` : '–';
      console.log(`| ${names[k]} | ${fmt(k, off)} | ${fmt(k, on)} | ${ratio(k).toFixed(2)} | ${goal} |`);
    }
    console.log(`| write throughput, TLS on, policies enforced / not | ${median(policy.on).toFixed(0)} tps | `
      + `${median(policy.off).toFixed(0)} tps | ${median(policy.on.map((x, i) => x / policy.off[i])).toFixed(2)} | – |`);
  } finally {
    for (const s of sides) await s.cluster.cleanup();
  }
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
