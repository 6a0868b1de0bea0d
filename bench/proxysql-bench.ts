// What ProxySQL costs and how fast it fails over, on the real software (see docs/benchmarks.md).
// Not a test: it prints medians of repeated, interleaved runs.
//
//   npm run bench:proxysql [-- --rounds 3 --seconds 20 --failover-runs 5 --profiles galera-default,balanced,fast --no-failover --diagnose]
//
// Throughput: sysbench oltp_read_write (Debian's sysbench) from a client namespace, on the same
// dataset, straight to one node, through a minimal ProxySQL (one hostgroup, no rules, no
// monitor, one instance) and through one pod of this deployment's ProxySQL, interleaved over the
// rounds. --diagnose adds minimal proxies with one of this deployment's settings each.
// Failover: a write ledger through the three ProxySQL pods and one straight to two survivors;
// SIGKILL of the writer; the write stall through the proxy, Galera's own stall (straight), and
// when ProxySQL moved the writer; then the failback when the node returns.
import { spawn, ChildProcess } from 'child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'fs';
import { cpus } from 'os';
import { join } from 'path';
import { Testing } from 'cdk8s';
import { PodCluster, Workload } from '../harness/index';
import { IP } from '../harness/netns';
import { killGroups, sleep, which } from '../harness/proc';
import { median, sysbench as runSysbench, SysbenchResult } from './common';
import { FailureDetection, GaleraProxySqlChart, READ_WRITE_SPLIT_RULES } from '../src/index';
import { renderLibconfig } from '../src/proxysql/proxysql-config';
import { proxysqlBinary } from '../test/cluster/proxysql/proxysql-binary';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : dflt; };
const ROUNDS = Number(opt('rounds', '3'));
const SECONDS = Number(opt('seconds', '20'));
const FAILOVER_RUNS = Number(opt('failover-runs', '5'));
const PROFILES = opt('profiles', 'galera-default,balanced,fast').split(',') as FailureDetection[];
const DIAGNOSE = args.includes('--diagnose');
const NO_FAILOVER = args.includes('--no-failover');
const NO_THROUGHPUT = args.includes('--no-throughput');
const THREADS = 4;
const TABLES = 4;
const TABLE_SIZE = 20_000;

const SECRET = {
  'root-password': 'bench-root', 'app-password': 'bench-app', 'sst-password': 'bench-sst', 'monitor-password': 'bench-mon',
  'proxysql-admin-password': 'bench-adm',
};
const GALERA = [0, 1, 2];
const PROXIES = [0, 1, 2];

interface Env { cluster: PodCluster; galera: Workload; proxies: Workload }

async function startCluster(bin: string, profile: FailureDetection): Promise<Env> {
  // The proxy's own cost and failover, without TLS and NetworkPolicies (bench/tls-bench.ts
  // measures those): the loose proxies of the throughput runs are no pods the policies know.
  const manifests = Testing.synth(new GaleraProxySqlChart(Testing.app(), 'bench', {
    galera: { failureDetection: profile, tls: { enabled: false } }, networkPolicy: { enabled: false },
  }));
  const cluster = new PodCluster({ manifests, secret: SECRET, binaries: { proxysql: bin } });
  await cluster.setup();
  const env = { cluster, galera: cluster.workload('galera'), proxies: cluster.workload('galera-proxysql') };
  await Promise.all(GALERA.map((i) => env.galera.startPod(i)));
  await Promise.all(GALERA.map((i) => env.galera.waitFor(i, 'readiness', 300_000)));
  await Promise.all(PROXIES.map((p) => env.proxies.startPod(p)));
  await Promise.all(PROXIES.map((p) => env.proxies.waitFor(p, 'readiness', 120_000)));
  await settled(env, 'galera-0');
  return env;
}

async function admin(env: Env, p: number, query: string): Promise<string[][]> {
  const r = await env.proxies.exec(p, ['bash', '/opt/proxysql/proxysql-agent.sh', 'admin', query], {
    container: 'agent', timeoutMs: 10_000,
  });
  if (r.exitCode !== 0) throw new Error(`admin SQL failed: ${r.output}`);
  return r.output.split('\n').filter(Boolean).map((l) => l.split('\t'));
}

async function writerOf(env: Env, p: number): Promise<string> {
  const rows = await admin(env, p, "SELECT hostname FROM runtime_mysql_servers WHERE hostgroup_id=10 AND status='ONLINE'");
  return rows.map((r) => r[0].split('.')[0]).join(',');
}

async function settled(env: Env, writer: string, timeoutMs = 120_000): Promise<void> {
  const t0 = Date.now();
  for (const p of PROXIES) {
    for (;;) {
      const readers = await admin(
        env, p, "SELECT COUNT(*) FROM runtime_mysql_servers WHERE hostgroup_id=30 AND status='ONLINE'",
      ).catch(() => [['0']]);
      if ((await writerOf(env, p).catch(() => '')) === writer && readers[0][0] === '3') break;
      if (Date.now() - t0 > timeoutMs) throw new Error(`ProxySQL pod ${p} did not settle on writer ${writer}`);
      await sleep(250);
    }
  }
}

// ------------------------------------------------------------------------------- throughput

interface Target { name: string; host: string; port: number }

function sysbench(env: Env, dir: string, target: Target, command: 'prepare' | 'run', seconds: number): Promise<SysbenchResult> {
  return runSysbench(
    env.cluster, dir, { ...target, password: SECRET['app-password'] },
    { workload: 'oltp_read_write', tables: TABLES, tableSize: TABLE_SIZE, threads: THREADS }, command, seconds,
  );
}
/** A ProxySQL process in a namespace of its own (a client namespace on the bridge). */
interface LooseProxy { target: Target; child: ChildProcess }

async function startLooseProxy(
  env: Env, bin: string, dir: string, ns: string, name: string, port: number, settings: string,
): Promise<LooseProxy> {
  const data = join(dir, `proxysql-${name}`);
  mkdirSync(data, { recursive: true });
  const cnf = join(data, 'proxysql.cnf');
  writeFileSync(
    cnf, settings.replace(/@DATADIR@/g, data).replace(/@PORT@/g, String(port)).replace(/@ADMINPORT@/g, String(port + 1000)),
    { mode: 0o600 },
  );
  const child = spawn(IP, ['netns', 'exec', ns, bin, '-f', '--initial', '-c', cnf, '-D', data], {
    detached: true, stdio: ['ignore', 'ignore', 'ignore'],
  });
  const target = { name, host: env.cluster.client('m').ip, port };
  // ready once it accepts the application account
  for (let i = 0; i < 100; i++) {
    const r = await env.cluster.clientExec([
      which('mariadb'), '--no-defaults', '-h', target.host, '-P', String(port), '-u', 'app', '-D', 'app', '-e', 'SELECT 1',
    ],
      { env: { PATH: '/usr/bin:/bin', MYSQL_PWD: SECRET['app-password'] } });
    if (r.exitCode === 0) return { target, child };
    await sleep(200);
  }
  throw new Error(`the ${name} ProxySQL did not start (see ${data})`);
}

const MINIMAL = `datadir="@DATADIR@"
admin_variables = { admin_credentials="admin:bench" mysql_ifaces="127.0.0.1:@ADMINPORT@" }
mysql_variables = { interfaces="0.0.0.0:@PORT@" monitor_enabled=false server_version="5.5.5-10.11.19-MariaDB" @EXTRA_VARIABLES@ }
mysql_servers = ( { address="galera-0.galera.galera.svc.cluster.local", port=3306, hostgroup=0, max_connections=150 } )
mysql_users = ( { username="app", password="${SECRET['app-password']}", default_hostgroup=0, default_schema="app",
  transaction_persistent=1 } )
@EXTRA@
`;

async function throughput(bin: string): Promise<void> {
  const env = await startCluster(bin, 'balanced');
  const dir = join(env.cluster.runDir, 'bench');
  mkdirSync(dir, { recursive: true });
  const loose: LooseProxy[] = [];
  try {
    await env.cluster.addClient('m');
    const direct: Target = { name: 'straight to one node', host: env.galera.podIp(0), port: 3306 };
    await sysbench(env, dir, direct, 'prepare', 1);
    const ours: Target = { name: "this deployment's ProxySQL (pod 0 of 3)", host: env.proxies.podIp(0), port: 6033 };
    const minimal = (extraVars = '', extra = '') => MINIMAL.replace('@EXTRA_VARIABLES@', extraVars).replace('@EXTRA@', extra);
    loose.push(await startLooseProxy(
      env, bin, dir, env.cluster.client('m').ns, 'a minimal ProxySQL (one hostgroup, no rules, no monitor)', 7033, minimal(),
    ));
    if (DIAGNOSE) {
      // This deployment's settings, one group at a time, on the minimal proxy.
      const rendered = readFileSync(env.proxies.volumePath(0, 'proxysql.cnf', 'rendered'), 'utf8');
      const section = (
        name: string,
      ) => { const from = rendered.indexOf(`${name}=`); return rendered.slice(from, rendered.indexOf('\n)\n', from) + 3); };
      const rules = section('mysql_query_rules').replace(/destination_hostgroup=[0-9]+/g, 'destination_hostgroup=0');
      const ns = env.cluster.client('m').ns;
      loose.push(await startLooseProxy(env, bin, dir, ns, 'minimal + the query rules', 7034, minimal('', rules)));
      const writerPatterns = READ_WRITE_SPLIT_RULES.filter((r) => r.to === 'writer').map((r) => r.matchDigest.replace(
        /^\^SELECT\\b\.\*/, '',
      ));
      const combined = renderLibconfig({
        mysql_query_rules: [
          {
            rule_id: 100, active: 1, match_digest: `^SELECT\\b.*(${writerPatterns.join('|')})`, re_modifiers: 'CASELESS',
            destination_hostgroup: 0, apply: 1,
          },
          { rule_id: 200, active: 1, match_digest: '^SELECT\\b', re_modifiers: 'CASELESS', destination_hostgroup: 0, apply: 1 },
        ],
      });
      loose.push(await startLooseProxy(env, bin, dir, ns, 'minimal + the query rules as two', 7036, minimal('', combined)));
      const galeraMonitor = `${section('mysql_galera_hostgroups')}`.replace(/writer_hostgroup=10/, 'writer_hostgroup=0');
      const monitorVars = ['monitor_enabled=true', 'monitor_username="monitor"', `monitor_password="${SECRET['monitor-password']}"`,
        'monitor_galera_healthcheck_interval=1000', 'monitor_galera_healthcheck_timeout=800', 'monitor_ping_interval=3000',
        'monitor_connect_interval=60000'].join(' ');
      loose.push(await startLooseProxy(env, bin, dir, ns, 'minimal + the Galera monitor', 7035,
        minimal(monitorVars, galeraMonitor).replace('monitor_enabled=false', '')));
      const full = rendered.replace(/datadir="[^"]*"/, 'datadir="@DATADIR@"').replace(/interfaces="[^"]*"/, 'interfaces="0.0.0.0:@PORT@"')
        .replace(/mysql_ifaces="[^"]*"/, 'mysql_ifaces="127.0.0.1:@ADMINPORT@"');
      loose.push(await startLooseProxy(env, bin, dir, ns, "this deployment's configuration, one instance", 7037, full));
    }
    const paths = [direct, ...loose.map((l) => l.target), ours];
    // One discarded warm-up run per path; then rounds in a rotating order, with a pause after
    // each run, so that no path always follows the same one (a write-heavy run leaves purge and
    // flush work to its successor).
    for (const path of paths) await sysbench(env, dir, path, 'run', Math.min(SECONDS, 5));
    const results = new Map<string, SysbenchResult[]>(paths.map((p) => [p.name, []]));
    for (let round = 0; round < ROUNDS; round++) {
      const order = paths.map((_, k) => paths[(k + round) % paths.length]);
      for (const path of order) {
        const r = await sysbench(env, dir, path, 'run', SECONDS);
        results.get(path.name)!.push(r);
        console.log(`round ${round + 1}/${ROUNDS}: ${path.name}: ${r.tps.toFixed(0)} tps, p95 ${r.p95} ms`);
        await sleep(2000);
      }
    }
    const med = (name: string, k: keyof SysbenchResult) => median(results.get(name)!.map((r) => r[k]));
    /** The median over the rounds of (this path's tps / the other path's tps in the same round). */
    const pairedRatio = (name: string, other: string) => median(results.get(name)!.map((r, k) => r.tps / results.get(other)![k].tps));
    const minimalName = loose[0].target.name;
    console.log(`\nsysbench oltp_read_write, ${THREADS} threads, ${TABLES} x ${TABLE_SIZE} rows, ${SECONDS} s per run, ${ROUNDS} `
      + `interleaved rounds, ${cpus().length} cores; medians\n`);
    console.log('| path | tps | p95 | × minimal ProxySQL (same round) | × direct (same round) |');
    console.log('|---|---|---|---|---|');
    for (const p of paths) {
      console.log(`| ${p.name} | ${med(p.name, 'tps').toFixed(0)} | ${med(p.name, 'p95').toFixed(1)} ms `
        + `| ${pairedRatio(p.name, minimalName).toFixed(2)} | ${pairedRatio(p.name, direct.name).toFixed(2)} |`);
    }
  } finally {
    for (const l of loose) killGroups([l.child.pid ?? -1]);
    await env.cluster.cleanup();
  }
}

// ------------------------------------------------------------------------------- failover

interface FailoverRun { proxied: number; direct: number; moved: number; failbackErrors: number; killErrors: number }

async function failoverRun(env: Env): Promise<FailoverRun> {
  const proxied = await env.proxies.startWriter({
    pods: PROXIES, port: 6033, user: 'app', password: SECRET['app-password'], database: 'app', rateHz: 60,
  });
  const direct = await env.galera.startWriter({ pods: [1, 2], rateHz: 40 });
  await sleep(3000);
  const killed = Date.now();
  await env.galera.stopPod(0, 'KILL');
  let moved = -1;
  while (Date.now() - killed < 12_000) {
    if (moved < 0 && ['galera-1', 'galera-2'].includes(await writerOf(env, 0).catch(() => ''))) moved = Date.now() - killed;
    await sleep(100);
  }
  const [p, d] = [await proxied.stop(), await direct.stop()];
  // the failback: the node returns and takes the writer role back (weight 1000)
  const during = await env.proxies.startWriter({
    pods: PROXIES, port: 6033, user: 'app', password: SECRET['app-password'], database: 'app', rateHz: 60,
  });
  await env.galera.startPod(0);
  await env.galera.waitFor(0, 'readiness', 120_000);
  await settled(env, 'galera-0');
  await sleep(2000);
  const f = await during.stop();
  await env.galera.verifyLedger(p.acked, GALERA, { database: 'app' });
  await env.galera.verifyLedger(f.acked, GALERA, { database: 'app' });
  return { proxied: p.maxStallMs, direct: d.maxStallMs, moved, failbackErrors: f.errors, killErrors: p.errors };
}

async function failover(bin: string): Promise<void> {
  const rows: string[] = [];
  for (const profile of PROFILES) {
    const env = await startCluster(bin, profile);
    const runs: FailoverRun[] = [];
    try {
      for (let k = 0; k < FAILOVER_RUNS; k++) {
        const r = await failoverRun(env);
        runs.push(r);
        console.log(`${profile} run ${k + 1}/${FAILOVER_RUNS}: writes through ProxySQL stalled ${(r.proxied / 1000).toFixed(1)} s, `
          + `straight ${(r.direct / 1000).toFixed(1)} s, `
          + `ProxySQL moved the writer after ${(r.moved / 1000).toFixed(1)} s; `
            + `client errors: ${r.killErrors} at the kill, ${r.failbackErrors} at the failback`);
      }
    } finally {
      await env.cluster.cleanup();
    }
    const f = (xs: number[]) => `${(median(xs) / 1000).toFixed(1)} s (worst ${(Math.max(...xs) / 1000).toFixed(1)})`;
    const share = runs.map((r) => Math.max(0, r.proxied - r.direct));
    rows.push(`| ${profile} | ${f(runs.map((r) => r.proxied))} | ${f(runs.map((r) => r.direct))} | ${f(share)} `
      + `| ${f(runs.map((r) => r.moved))} | ${median(runs.map((r) => r.killErrors))} / ${median(runs.map((r) => r.failbackErrors))} |`);
  }
  console.log(`\nWriter SIGKILL under a write load through the 3 ProxySQL pods, ${FAILOVER_RUNS} runs per profile; median (worst)\n`);
  console.log('| failureDetection | writes through ProxySQL stall | Galera alone (straight to survivors) '
    + '| ProxySQL\'s share | ProxySQL moved the writer | client errors at kill / failback (median) |');
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) console.log(r);
}

async function main(): Promise<void> {
  const bin = proxysqlBinary();
  if (!bin.path) throw new Error(bin.problem);
  console.log(`ProxySQL ${bin.version} (${bin.path})`);
  if (!NO_THROUGHPUT) await throughput(bin.path);
  if (!NO_FAILOVER) await failover(bin.path);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
