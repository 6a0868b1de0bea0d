import { Testing } from 'cdk8s';
import { checkHistory } from '../../../harness/consistency/checker';
import { History, Txn } from '../../../harness/consistency/history';
import { AppendTarget } from '../../../harness/consistency/workload';
import { PodCluster, sqlIn, Workload } from '../../../harness/index';
import { GaleraProxySqlChart, GaleraProxySqlChartProps } from '../../../src/index';
import { describeWithProxySql } from '../proxysql/proxysql-binary';
import { chartSecrets } from '../secrets';
import { waitFor } from '../wait';
import { INTEGRITY_CLASSES, runChecked } from './run';

// Causal reads through ProxySQL (issue 24): proxysql.causalReads makes every backend connection
// ProxySQL opens run `SET SESSION wsrep_sync_wait=1` first (mysql-init_connect). One run alternates
// rounds with the setting off and on (the values applied and the ProxySQL pods restarted, as a
// user's rollout does) under the stale-read control's workload (8 clients, 60 % read-only
// transactions, which ProxySQL sends to the readers): with it on, no read on the reader path is
// stale; the read throughput of both is printed (medians of the rounds, and the ratio per round),
// and so are the stale reads of the writing transactions (the writer path), which it does not
// rule out: a read on the writer can miss a write set a reader has already applied (the writer
// acknowledges after its own commit, the other nodes may apply first).

jest.setTimeout(40 * 60_000);

const SECRET = {
  'root-password': 'root-Pass_1', 'app-password': 'app-Pass_2', 'sst-password': 'sst-Pass_3', 'monitor-password': 'mon-Pass_4',
  'proxysql-admin-password': 'adm-Pass_5',
};
const APP = { user: 'app', password: SECRET['app-password'], database: 'app' };
const GALERA = [0, 1, 2];
const PROXIES = [0, 1, 2];
const CLIENT = { 'test-role': 'consistency-client' };
/** Rounds of each mode (longer runs: CAUSAL_ROUNDS=7), and seconds per round. */
const ROUNDS = Number(process.env.CAUSAL_ROUNDS ?? 3);
const ROUND_SECONDS = Number(process.env.CAUSAL_ROUND_SECONDS ?? 20);

function chart(causalReads: boolean): GaleraProxySqlChart {
  const props: GaleraProxySqlChartProps = {
    proxysql: { causalReads }, networkPolicy: { directClients: [{ podSelector: { matchLabels: CLIENT } }] },
  };
  return new GaleraProxySqlChart(Testing.app(), 'test', props);
}

const readOnly = (t: Txn) => t.ops.every((op) => op.f === 'r');

/**
 * The stale reads of a history by path: in read-only transactions (one autocommit SELECT, which
 * ProxySQL sends to the reader hostgroup) and in writing ones (which it sends to the writer).
 */
function staleByPath(history: History): { readers: number; writer: number; example?: string } {
  const byId = new Map(history.txns.map((t) => [t.id, t]));
  const stale = checkHistory(history, { maxExamples: Number.MAX_SAFE_INTEGER }).classes['stale-read'].examples;
  const onReaders = stale.filter((a) => readOnly(byId.get(a.txns[0])!));
  return { readers: onReaders.length, writer: stale.length - onReaders.length, example: onReaders[0]?.message };
}

describeWithProxySql('causal reads on the reader path (proxysql.causalReads)', (proxysqlBin) => {
  let cluster: PodCluster;
  let galera: Workload;
  let proxies: Workload;

  /** Every ProxySQL pod routes reads to all three nodes. */
  async function threeReaders(): Promise<void> {
    await waitFor('ProxySQL to see three readers', async () => {
      for (const p of PROXIES) {
        const query = "SELECT COUNT(*) FROM runtime_mysql_servers WHERE hostgroup_id=30 AND status='ONLINE'";
        const agent = ['bash', '/opt/proxysql/proxysql-agent.sh', 'admin', query];
        const r = await proxies.exec(p, agent, { container: 'agent', timeoutMs: 15_000 });
        if (r.exitCode !== 0 || r.output.trim() !== '3') return false;
      }
      return true;
    }, 180_000);
  }

  /** Applies the chart with causalReads on or off and restarts every ProxySQL pod (a rollout). */
  async function rollOut(causalReads: boolean): Promise<void> {
    cluster.setManifests(Testing.synth(chart(causalReads)));
    await Promise.all(PROXIES.map(async (p) => {
      await proxies.stopPod(p, 'KILL');
      await proxies.startPod(p);
      await proxies.waitFor(p, 'readiness', 180_000);
    }));
    await threeReaders();
  }

  /**
   * wsrep_sync_wait of the session that serves a plain SELECT sent through ProxySQL pod p (read
   * from information_schema: ProxySQL answers some SELECT @@ itself).
   */
  async function readerSession(p: number): Promise<string> {
    const query = "SELECT VARIABLE_VALUE FROM information_schema.SESSION_VARIABLES WHERE VARIABLE_NAME='WSREP_SYNC_WAIT'";
    const rows = await sqlIn(cluster.clientNs, query, { ...APP, host: proxies.podIp(p), port: 6033 }, new Set(), 'client via ProxySQL');
    return rows[0][0];
  }

  /** ProxySQL pod p's mysql-init_connect at run time. */
  async function initConnect(p: number): Promise<string> {
    const query = "SELECT variable_value FROM runtime_global_variables WHERE variable_name='mysql-init_connect'";
    const r = await proxies.exec(p, ['bash', '/opt/proxysql/proxysql-agent.sh', 'admin', query], { container: 'agent', timeoutMs: 15_000 });
    if (r.exitCode !== 0) throw new Error(`admin query failed on ${proxies.podName(p)}: ${r.output}`);
    return r.output.trim();
  }

  beforeAll(async () => {
    const c = chart(false);
    cluster = new PodCluster({
      manifests: Testing.synth(c), secrets: await chartSecrets(c, SECRET), binaries: { proxysql: proxysqlBin }, clientLabels: CLIENT,
    });
    await cluster.setup();
    galera = cluster.workload('galera');
    proxies = cluster.workload('galera-proxysql');
    await Promise.all(GALERA.map((i) => galera.startPod(i)));
    await Promise.all(GALERA.map((i) => galera.waitFor(i, 'readiness', 300_000)));
    await Promise.all(PROXIES.map((p) => proxies.startPod(p)));
    await Promise.all(PROXIES.map((p) => proxies.waitFor(p, 'readiness', 180_000)));
    await threeReaders();
  });

  afterAll(async () => {
    await cluster?.cleanup();
  });

  test(`${ROUNDS} rounds each off and on: with causal reads no read on the reader path is stale; read throughput printed`, async () => {
    const viaProxies = (): AppendTarget[] => PROXIES.map((p) => ({ name: proxies.podName(p), host: proxies.podIp(p), port: 6033 }));
    const modes = [false, true] as const;
    const reads: Record<'off' | 'on', number[]> = { off: [], on: [] };
    const stale: Record<'off' | 'on', number[]> = { off: [], on: [] };
    const staleOnWriter: Record<'off' | 'on', number[]> = { off: [], on: [] };
    const servedBy: Record<'off' | 'on', Set<string>> = { off: new Set(), on: new Set() };
    for (let round = 0; round < ROUNDS; round++) {
      for (const causal of modes) {
        const mode = causal ? 'on' : 'off';
        // GIVEN ProxySQL rolled out with causalReads off / on
        await rollOut(causal);
        // ProxySQL's backend connections start with the causal wait exactly when it is on
        for (const p of PROXIES) {
          expect(await initConnect(p)).toBe(causal ? 'SET SESSION wsrep_sync_wait=1' : '');
          expect(await readerSession(p)).toBe(causal ? '1' : '0');
        }
        // WHEN the stale-read control's workload runs through every ProxySQL pod
        const run = await runChecked(cluster, galera, {
          ...APP, title: `causal reads ${mode}, round ${round + 1}`, table: `lists_causal_${mode}_${round}`, targets: viaProxies(),
          clients: 8, readOnlyFraction: 0.6, minMs: ROUND_SECONDS * 1000, maxMs: ROUND_SECONDS * 1000,
        });
        const reads1 = run.history.txns.filter((t) => t.type === 'ok' && readOnly(t));
        reads1.forEach((t) => t.node && servedBy[mode].add(t.node));
        reads[mode].push(reads1.length / (run.durationMs / 1000));
        const found = staleByPath(run.history);
        stale[mode].push(found.readers);
        staleOnWriter[mode].push(found.writer);
        if (causal && found.readers > 0) console.log(`${run.text}\nfirst stale read on the reader path: ${found.example}`);
        // THEN nothing broken either way, and with causal reads on not one stale read on the reader path
        for (const c of INTEGRITY_CLASSES) expect(`${mode} ${c}: ${run.report.classes[c].count}`).toBe(`${mode} ${c}: 0`);
        if (causal) expect(`round ${round + 1}, stale reads on the reader path with causal reads on: ${found.readers}`)
          .toBe(`round ${round + 1}, stale reads on the reader path with causal reads on: 0`);
      }
    }
    // and without it the same workload does find stale reads (the control): if no round found one,
    // the workload runs once more with it off until one is found (at most 4 minutes)
    if (!stale.off.some((n) => n > 0)) {
      await rollOut(false);
      const control = await runChecked(cluster, galera, {
        ...APP, title: 'causal reads off, until a stale read', table: 'lists_causal_control', targets: viaProxies(), clients: 8,
        readOnlyFraction: 0.6, maxMs: 240_000, until: (r) => r.classes['stale-read'].count > 0,
      });
      stale.off.push(staleByPath(control.history).readers);
    }
    expect(stale.off.some((n) => n > 0)).toBe(true);
    // and the reads went to more than one node (the readers), in both modes
    expect(servedBy.off.size).toBeGreaterThan(1);
    expect(servedBy.on.size).toBeGreaterThan(1);
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const ratios = reads.on.map((on, r) => on / reads.off[r]);
    console.log(`causal reads through ProxySQL, ${ROUNDS} rounds of ${ROUND_SECONDS} s each (8 clients, 60 % read-only): `
      + `read-only transactions/s off ${median(reads.off).toFixed(1)} (${reads.off.map((x) => x.toFixed(0)).join(', ')}), `
      + `on ${median(reads.on).toFixed(1)} (${reads.on.map((x) => x.toFixed(0)).join(', ')}); `
      + `on/off per round ${ratios.map((x) => x.toFixed(2)).join(', ')}; `
      + `stale reads on the reader path off ${stale.off.join(', ')}, on ${stale.on.join(', ')}; `
      + `on the writer path off ${staleOnWriter.off.join(', ')}, on ${staleOnWriter.on.join(', ')}; `
      + `served by off ${[...servedBy.off].sort().join(' ')}, `
      + `on ${[...servedBy.on].sort().join(' ')}`);
  });
});
