/* eslint-disable no-console */
// What TLS and the NetworkPolicies cost, on the real software (see README, Benchmark). Not a
// test: it prints medians of per-round ratios, both configurations measured in the same rounds.
//
//   npm run bench:tls [-- --rounds 5 --seconds 10]
//
// Two clusters of three nodes run side by side, one with TLS off and one with TLS on (the
// default), both under their NetworkPolicies. Each round, on each cluster in turn (the order
// alternates): sysbench oltp_write_only straight to galera-0 (a TLS client on the TLS side),
// so every commit is replicated to the two others; the rejoin of galera-2 by IST after it missed
// a few seconds of writes; and its rejoin by SST from a wiped volume. Then, on the TLS cluster,
// the same write run with the policies' nftables rules and without them.
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
const ROUNDS = Number(opt('rounds', '5'));
const SECONDS = Number(opt('seconds', '10'));
const SECRET = { 'root-password': 'bench-root', 'app-password': 'bench-app', 'sst-password': 'bench-sst', 'monitor-password': 'bench-mon', 'proxysql-admin-password': 'bench-adm' };
const ALL = [0, 1, 2];
const BENCH_CLIENT = { 'bench-role': 'direct-client' };
const LOAD: SysbenchOptions = { workload: 'oltp_write_only', tables: 4, tableSize: 20_000, threads: 4 };

interface Side { name: string; tls: boolean; cluster: PodCluster; galera: Workload; dir: string }

async function startSide(name: string, tls: boolean): Promise<Side> {
  const chart = () => new GaleraProxySqlChart(Testing.app(), 'bench', {
    // a parallel start can leave the bootstrap node a stuck donor (docs/galera.md, the watchdog)
    galera: { tls: { enabled: tls }, stuckDesyncRestartSeconds: 30 },
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
    for (const [file, key] of [['client-key.pem', 'tls.key'], ['client-cert.pem', 'tls.crt'], ['cacert.pem', 'ca.crt']]) writeFileSync(join(side.dir, file), pem[key], { mode: 0o600 });
  }
  await Promise.all(ALL.map((i) => side.galera.startPod(i)));
  await untilSynced(side.galera, ALL, Date.now());
  await sysbench(cluster, side.dir, target(side), LOAD, 'prepare', 1);
  return side;
}

// Each side's clients speak as its server does: plain text to the TLS-off cluster, TLS to the
// TLS-on one (Debian's sysbench 1.0.20 on libmariadb takes TLS whenever the server offers it), so
// the ratios are the whole cost of TLS: clients, replication, IST and SST.
const target = (s: Side) => ({ name: `${s.name} galera-0`, host: s.galera.podIp(0), port: 3306, password: SECRET['app-password'], ssl: s.tls });

interface Round { tps: number; ist: number; sst: number }

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
  t = Date.now();
  await s.galera.startPod(2);
  const sst = await untilSynced(s.galera, [2], t);
  await untilSynced(s.galera, ALL, Date.now());
  return { tps, ist, sst };
}

async function main(): Promise<void> {
  const sides: Side[] = [];
  try {
    sides.push(await startSide('TLS off', false));
    sides.push(await startSide('TLS on', true));
    const results = new Map<string, Round[]>(sides.map((s) => [s.name, []]));
    const policy = { on: [] as number[], off: [] as number[] };
    const tlsSide = sides[1];
    for (let r = 0; r < ROUNDS; r++) {
      for (const s of r % 2 === 0 ? sides : [...sides].reverse()) {
        const x = await round(s);
        results.get(s.name)!.push(x);
        console.log(`round ${r + 1}/${ROUNDS} ${s.name}: ${x.tps.toFixed(0)} tps, IST rejoin ${(x.ist / 1000).toFixed(1)} s, SST rejoin ${(x.sst / 1000).toFixed(1)} s`);
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
    const [off, on] = sides.map((s) => results.get(s.name)!);
    const ratio = (k: keyof Round) => median(on.map((x, i) => x[k] / off[i][k]));
    const fmt = (k: keyof Round, xs: Round[]) => (k === 'tps' ? `${median(xs.map((x) => x.tps)).toFixed(0)} tps` : `${(median(xs.map((x) => x[k])) / 1000).toFixed(1)} s`);
    console.log(`\nTLS and NetworkPolicy cost: 3 nodes per cluster, sysbench ${LOAD.workload} ${LOAD.threads} threads on ${LOAD.tables} x ${LOAD.tableSize} rows, `
      + `${SECONDS} s runs, ${ROUNDS} rounds, ${cpus().length} cores; medians, ratios paired per round\n`);
    console.log('| measure | TLS off | TLS on | on / off |');
    console.log('|---|---|---|---|');
    const names: Record<keyof Round, string> = { tps: 'write throughput straight to one node (replicated to two)', ist: 'rejoin by IST to Synced', sst: 'rejoin by SST (wiped volume) to Synced' };
    for (const k of ['tps', 'ist', 'sst'] as const) console.log(`| ${names[k]} | ${fmt(k, off)} | ${fmt(k, on)} | ${ratio(k).toFixed(2)} |`);
    console.log(`| write throughput, TLS on, policies enforced / not | ${median(policy.on).toFixed(0)} tps | ${median(policy.off).toFixed(0)} tps | ${median(policy.on.map((x, i) => x / policy.off[i])).toFixed(2)} |`);
  } finally {
    for (const s of sides) await s.cluster.cleanup();
  }
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
