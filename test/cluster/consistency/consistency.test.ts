import { Testing } from 'cdk8s';
import { AppendTarget } from '../../../harness/consistency/workload';
import { PodCluster, Workload } from '../../../harness/index';
import { GaleraProxySqlChart, GaleraProxySqlChartProps } from '../../../src/index';
import { describeWithProxySql } from '../proxysql/proxysql-binary';
import { chartSecrets } from '../secrets';
import { waitFor } from '../wait';
import { INTEGRITY_CLASSES, RULED_OUT_ON_ONE_NODE, runChecked } from './run';

// Consistency checked the way Jepsen checks it (issue 24), on the Galera topology with the shipped
// defaults: the list-append workload (harness/consistency) straight to the nodes and through
// ProxySQL, its history checked by the checker. The positive control shows the checker sees stale
// reads where they must exist: reads ProxySQL sends to the readers, with no causal wait. The
// healthy runs report every class with its rate and assert what no setting may break.

jest.setTimeout(20 * 60_000);

const SECRET = {
  'root-password': 'root-Pass_1',
  'app-password': `app 'pw' "with" \\ quotes; and: colons $x`,
  'sst-password': 'sst-Pass_2',
  'monitor-password': 'mon-Pass_3',
  'proxysql-admin-password': 'adm-Pass_4',
};
const APP = { user: 'app', password: SECRET['app-password'], database: 'app' };
const GALERA = [0, 1, 2];
const PROXIES = [0, 1, 2];
/** The client namespace reaches the nodes' 3306 too: the NetworkPolicy names it in directClients. */
const CLIENT = { 'test-role': 'consistency-client' };
/** Seconds of each healthy run (longer runs: CONSISTENCY_SECONDS=300). */
const SECONDS = Number(process.env.CONSISTENCY_SECONDS ?? 45);
/**
 * A statement each connection of the healthy runs runs first, to see what a session setting
 * changes (e.g. CONSISTENCY_SESSION_SQL='SET SESSION innodb_snapshot_isolation=ON'). Through
 * ProxySQL a SET it does not track pins the session to one hostgroup: try it straight to the nodes.
 */
const SESSION_SQL = process.env.CONSISTENCY_SESSION_SQL;

function chart(props: GaleraProxySqlChartProps = {}): GaleraProxySqlChart {
  return new GaleraProxySqlChart(Testing.app(), 'test', {
    ...props, networkPolicy: { directClients: [{ podSelector: { matchLabels: CLIENT } }] },
  });
}

describeWithProxySql('list-append histories on Galera, straight to the nodes and through ProxySQL', (proxysqlBin) => {
  let cluster: PodCluster;
  let galera: Workload;
  let proxies: Workload;
  const nodes = (): AppendTarget[] => GALERA.map((i) => ({ name: galera.podName(i), host: galera.podIp(i), port: 3306 }));
  const viaProxies = (): AppendTarget[] => PROXIES.map((p) => ({ name: proxies.podName(p), host: proxies.podIp(p), port: 6033 }));

  beforeAll(async () => {
    const c = chart();
    const secrets = await chartSecrets(c, SECRET);
    cluster = new PodCluster({ manifests: Testing.synth(c), secrets, binaries: { proxysql: proxysqlBin }, clientLabels: CLIENT });
    await cluster.setup();
    galera = cluster.workload('galera');
    proxies = cluster.workload('galera-proxysql');
    await Promise.all(GALERA.map((i) => galera.startPod(i)));
    await Promise.all(GALERA.map((i) => galera.waitFor(i, 'readiness', 300_000)));
    await Promise.all(PROXIES.map((p) => proxies.startPod(p)));
    await Promise.all(PROXIES.map((p) => proxies.waitFor(p, 'readiness', 180_000)));
    // every ProxySQL pod routes reads to all three nodes before the runs begin
    await waitFor('ProxySQL to see three readers', async () => {
      for (const p of PROXIES) {
        const query = "SELECT COUNT(*) FROM runtime_mysql_servers WHERE hostgroup_id=30 AND status='ONLINE'";
        const agent = ['bash', '/opt/proxysql/proxysql-agent.sh', 'admin', query];
        const r = await proxies.exec(p, agent, { container: 'agent', timeoutMs: 15_000 });
        if (r.exitCode !== 0 || r.output.trim() !== '3') return false;
      }
      return true;
    }, 120_000);
  });

  afterAll(async () => {
    await cluster?.cleanup();
  });

  test('positive control: reads ProxySQL sends to the readers with no causal wait are found stale', async () => {
    // GIVEN the workload through every ProxySQL pod: writing transactions go to the writer,
    // read-only ones (one autocommit SELECT) to the readers, nobody waits for causality
    // WHEN it runs until the checker finds a stale read (at most 4 minutes)
    const run = await runChecked(cluster, galera, {
      ...APP, title: 'stale-read control through ProxySQL', table: 'lists_stale', targets: viaProxies(), clients: 8, readOnlyFraction: 0.6,
      maxMs: 240_000, until: (r) => r.classes['stale-read'].count > 0,
    });
    console.log(run.text);
    // THEN it found one, and the example names the read and the transaction it missed, acknowledged before the read began
    const stale = run.report.classes['stale-read'];
    expect(stale.count).toBeGreaterThan(0);
    const [readerId, witnessId] = stale.examples[0].txns;
    const reader = run.history.txns.find((t) => t.id === readerId)!;
    const witness = run.history.txns.find((t) => t.id === witnessId)!;
    expect(reader.type).toBe('ok');
    expect(witness.type).toBe('ok');
    expect(witness.complete!).toBeLessThan(reader.invoke);
    expect(reader.node).toMatch(/^galera-[0-2]$/);
  });

  for (const path of ['straight to the nodes', 'through ProxySQL'] as const) {
    test(`healthy cluster, ${path}, shipped defaults: nothing lost, no broken data; every class reported with its rate`, async () => {
      // GIVEN a healthy cluster / WHEN the workload runs for SECONDS through this path
      const run = await runChecked(cluster, galera, {
        ...APP, title: `healthy Galera, ${path}${SESSION_SQL ? `, sessions first running ${SESSION_SQL}` : ''}`, sessionSql: SESSION_SQL,
        table: path === 'through ProxySQL' ? 'lists_proxy' : 'lists_direct',
        targets: path === 'through ProxySQL' ? viaProxies() : nodes(), clients: 8, finalNodes: GALERA,
        minMs: SECONDS * 1000, maxMs: SECONDS * 1000,
      });
      console.log(run.text);
      // THEN it did real work, no acknowledged append is missing on any node, and no read saw broken data
      expect(run.report.txns.ok).toBeGreaterThan(100);
      expect(run.report.classes['lost-append'].count).toBe(0);
      for (const c of INTEGRITY_CLASSES) expect(`${c}: ${run.report.classes[c].count}`).toBe(`${c}: 0`);
      // and none of what snapshot isolation (on by default) rules out: through ProxySQL every writing
      // transaction runs on the writer, straight to the nodes Galera's certification orders the rest
      if (!SESSION_SQL) {
        for (const c of RULED_OUT_ON_ONE_NODE) expect(`${c}: ${run.report.classes[c].count}`).toBe(`${c}: 0`);
      }
    });
  }

  test('snapshot isolation: what it rules out and what it costs, off and on alternating in one run', async () => {
    // GIVEN rounds straight to the nodes, innodb_snapshot_isolation set on every node before each
    const rounds = Number(process.env.CONSISTENCY_SI_ROUNDS ?? 2);
    const tps: Record<'OFF' | 'ON', number[]> = { OFF: [], ON: [] };
    const found: Record<'OFF' | 'ON', Record<string, number>> = { OFF: {}, ON: {} };
    for (let round = 0; round < rounds; round++) {
      for (const mode of ['OFF', 'ON'] as const) {
        for (const i of GALERA) await galera.sql(i, `SET GLOBAL innodb_snapshot_isolation=${mode}`);
        // WHEN the workload runs (new connections: they take the global setting)
        const run = await runChecked(cluster, galera, {
          ...APP, title: `snapshot isolation ${mode}, round ${round + 1}`, table: `lists_si_${mode.toLowerCase()}_${round}`,
          targets: nodes(), clients: 8, minMs: 20_000, maxMs: 20_000,
        });
        tps[mode].push(run.report.txns.ok / (run.durationMs / 1000));
        for (const c of RULED_OUT_ON_ONE_NODE) found[mode][c] = (found[mode][c] ?? 0) + run.report.classes[c].count;
        // THEN nothing broken either way, and with it on none of what it rules out
        for (const c of INTEGRITY_CLASSES) expect(`${mode} ${c}: ${run.report.classes[c].count}`).toBe(`${mode} ${c}: 0`);
        if (mode === 'ON') for (const c of RULED_OUT_ON_ONE_NODE) expect(`ON ${c}: ${run.report.classes[c].count}`).toBe(`ON ${c}: 0`);
      }
    }
    for (const i of GALERA) await galera.sql(i, 'SET GLOBAL innodb_snapshot_isolation=ON');
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const ratios = tps.ON.map((on, r) => on / tps.OFF[r]);
     
    console.log(`snapshot isolation, ${rounds} rounds of 20 s straight to the nodes (8 clients): committed transactions/s `
      + `OFF ${median(tps.OFF).toFixed(1)} (${tps.OFF.map((x) => x.toFixed(0)).join(', ')}), `
      + `ON ${median(tps.ON).toFixed(1)} (${tps.ON.map((x) => x.toFixed(0)).join(', ')}); `
        + `ON/OFF per round ${ratios.map((x) => x.toFixed(2)).join(', ')}; `
      + `found OFF ${JSON.stringify(found.OFF)}, ON ${JSON.stringify(found.ON)}`);
  });
});
