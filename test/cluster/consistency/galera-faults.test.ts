import { Testing } from 'cdk8s';
import { AppendTarget } from '../../../harness/consistency/workload';
import { PodCluster, Workload } from '../../../harness/index';
import { GaleraProxySqlChart, GaleraProxySqlChartProps } from '../../../src/index';
import { describeWithProxySql } from '../proxysql/proxysql-binary';
import { chartSecrets } from '../secrets';
import { sleep } from '../wait';
import { checkPathsUnderMixes, FaultMix, partitionFor, pauseServer } from './faults';

// Consistency under faults on Galera (issue 24), with the shipped defaults: the list-append
// workload runs straight to the nodes and through ProxySQL at the same time, while the cluster
// goes through every fault mix in turn (one node SIGKILLed and restarted, again and again; every
// node SIGKILLed within a second and the cluster recovering by itself; a partition of one node;
// a partition of ProxySQL's writer; SIGSTOP/SIGCONT pauses). Each mix ends healed, with every
// node Synced. After the last, the final state of every node is read and both histories are
// checked: nothing acknowledged lost, nothing broken, none of what snapshot isolation rules
// out; every other class is printed with its rate and an example.
//
// npm test runs FAULT_SECONDS=300 (about a minute per mix); longer runs: npm run bench:faults.

const SECONDS = Number(process.env.FAULT_SECONDS ?? 300);
jest.setTimeout(SECONDS * 1000 + 40 * 60_000);

const SECRET = {
  'root-password': 'root-Pass_1', 'app-password': 'app-Pass_2', 'sst-password': 'sst-Pass_3', 'monitor-password': 'mon-Pass_4',
  'proxysql-admin-password': 'adm-Pass_5',
};
const APP = { user: 'app', password: SECRET['app-password'], database: 'app' };
const GALERA = [0, 1, 2];
const PROXIES = [0, 1, 2];
const CLIENT = { 'test-role': 'consistency-client' };
const WRITER_HOSTGROUP = 10;

function chart(props: GaleraProxySqlChartProps = {}): GaleraProxySqlChart {
  return new GaleraProxySqlChart(Testing.app(), 'test', {
    ...props, networkPolicy: { directClients: [{ podSelector: { matchLabels: CLIENT } }] },
  });
}

describeWithProxySql('list-append histories on Galera under fault mixes, straight to the nodes and through ProxySQL', (proxysqlBin) => {
  let cluster: PodCluster;
  let galera: Workload;
  let proxies: Workload;

  beforeAll(async () => {
    const c = chart();
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
  });

  afterAll(async () => {
    await cluster?.cleanup();
  });

  async function status(i: number, name: string): Promise<string> {
    return (await galera.sql(i, `SHOW GLOBAL STATUS LIKE '${name}'`, { timeoutMs: 10_000 }))[0]?.[1] ?? '';
  }

  /** Polls until every node is Synced in one cluster of three (at most 10 minutes: a state transfer under load). */
  async function allSynced(): Promise<void> {
    const t0 = Date.now();
    let states: string[] = [];
    for (;;) {
      states = await Promise.all(GALERA.map(async (i) => {
        if (!galera.isRunning(i)) return 'stopped';
        try {
          return `${await status(i, 'wsrep_local_state_comment')}/${await status(i, 'wsrep_cluster_size')}`;
        } catch (e) {
          return `error: ${(e as Error).message.split('\n')[0]}`;
        }
      }));
      if (states.every((s) => s === 'Synced/3')) return;
      if (Date.now() - t0 > 600_000) throw new Error(`not every node Synced in a cluster of three after 10 minutes: ${states.join(', ')}`);
      await sleep(1000);
    }
  }

  /** The node ProxySQL (its first pod) sends writes to now. */
  async function proxyWriter(): Promise<number> {
    const query = `SELECT hostname FROM runtime_mysql_servers WHERE hostgroup_id=${WRITER_HOSTGROUP} AND status='ONLINE'`;
    const r = await proxies.exec(0, ['bash', '/opt/proxysql/proxysql-agent.sh', 'admin', query], { container: 'agent', timeoutMs: 15_000 });
    const m = /galera-(\d)/.exec(r.output);
    if (r.exitCode !== 0 || !m) throw new Error(`no writer in ProxySQL's runtime_mysql_servers: ${r.output}`);
    return Number(m[1]);
  }

  async function restart(i: number): Promise<void> {
    await galera.startPod(i);
    await galera.waitFor(i, 'readiness', 600_000);
  }

  const mixes: FaultMix[] = [
    {
      name: 'one node SIGKILLed and restarted',
      inject: async (round) => {
        const i = [1, 2, 0][round % 3];
        await galera.stopPod(i, 'KILL');
        await sleep(5000);
        await restart(i);
        return `SIGKILL galera-${i}, 5 s down, restarted`;
      },
      recover: allSynced,
    },
    {
      name: 'every node SIGKILLed within a second',
      inject: async (round) => {
        // in quick succession, as in Jepsen's analysis, each 400 ms after the last; a different first victim each round
        const order = [0, 1, 2].map((k) => (k + round) % 3);
        await Promise.all(order.map(async (i, k) => { await sleep(400 * k); await galera.stopPod(i, 'KILL'); }));
        await Promise.all(GALERA.map((i) => restart(i)));
        return `SIGKILL galera-${order.join(', galera-')} within 0.8 s, all started again`;
      },
      recover: allSynced,
    },
    {
      name: 'partition of one node (a reader)',
      inject: async (round) => {
        const writer = await proxyWriter();
        const i = GALERA.filter((n) => n !== writer)[round % 2];
        await partitionFor(galera, i, 20_000);
        return `galera-${i} cut off 20 s (writer galera-${writer})`;
      },
      recover: allSynced,
    },
    {
      name: "partition of ProxySQL's writer",
      inject: async () => {
        const writer = await proxyWriter();
        await partitionFor(galera, writer, 20_000);
        return `galera-${writer} (the writer) cut off 20 s`;
      },
      recover: allSynced,
    },
    {
      name: 'SIGSTOP/SIGCONT pauses',
      inject: async (round) => {
        // short pauses (under the 5 s suspect timeout) and long ones (the others evict the node from their view)
        const i = round % 3;
        const ms = round % 2 === 0 ? 3000 : 15_000;
        await pauseServer(galera, i, ms);
        return `mariadbd of galera-${i} stopped ${ms / 1000} s`;
      },
      recover: allSynced,
    },
  ];

  test(`${mixes.length} fault mixes in ${SECONDS} s: nothing acknowledged lost, nothing broken, none of what snapshot isolation `
    + 'rules out; every other class reported with its rate', async () => {
    // straight to the nodes and through every ProxySQL pod, at the same time, on two tables
    const nodes: AppendTarget[] = GALERA.map((i) => ({ name: galera.podName(i), host: galera.podIp(i), port: 3306 }));
    const viaProxies: AppendTarget[] = PROXIES.map((p) => ({ name: proxies.podName(p), host: proxies.podIp(p), port: 6033 }));
    await checkPathsUnderMixes({
      cluster, pods: galera, ordinals: GALERA, app: APP, mixes, seconds: SECONDS, topology: 'Galera', heal: allSynced,
      paths: [
        { path: 'straight to the nodes', table: 'lists_faults_direct', targets: nodes },
        { path: 'through ProxySQL', table: 'lists_faults_proxy', targets: viaProxies },
      ],
    });
  });
});
