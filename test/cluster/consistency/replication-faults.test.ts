import { Chart, Testing } from 'cdk8s';
import { AppendTarget } from '../../../harness/consistency/workload';
import { PodCluster, Workload } from '../../../harness/index';
import { NODE_PATHS } from '../../../src/core/node-env';
import { tlsSecretsFor } from '../../../src/core/secrets';
import { ReplicationProxySql } from '../../../src/index';
import { describeWithProxySql } from '../proxysql/proxysql-binary';
import { sleep, waitFor } from '../wait';
import { checkPathsUnderMixes, FaultMix, partitionFor, pauseServer } from './faults';
import { roleOf, slaveStatusOf } from '../roles';

// Consistency of the primary/replica topology (issue 24), with the shipped defaults (lossless
// semi-sync: AFTER_SYNC, no acknowledgement without a replica): the list-append workload runs
// through ProxySQL (writing transactions to the primary, read-only ones to the replicas) and
// straight to the nodes (each client stays on a node until an error: the replicas refuse
// writes, so the clients settle on the primary, and follow it after a failover) at the same
// time, while the cluster goes through: healthy; a replica SIGKILLed and restarted; a failover
// (the primary SIGKILLed, a replica promoted, the old primary back as a replica); every node
// SIGKILLed within a second; a switchover (repl-switchover.sh); a replica cut off; the primary
// cut off from both replicas while the clients still reach it; SIGSTOP/SIGCONT pauses of any
// node, short and longer than the failover time.
// Each mix ends with one primary, every node ready and every replica caught up. Asserted:
// nothing acknowledged lost, nothing broken, none of what snapshot isolation rules out (every
// writing transaction runs on the one primary); stale reads from the replicas are reported
// with their rate.
//
// npm test runs FAULT_SECONDS=300 (under 40 s per mix); longer runs: npm run bench:faults.

const SECONDS = Number(process.env.FAULT_SECONDS ?? 300);
jest.setTimeout(SECONDS * 1000 + 40 * 60_000);

const SECRET = {
  'proxysql-admin-password': 'adm-Pass_1', 'root-password': 'root-Pass_2', 'app-password': 'app-Pass_3',
  'replication-password': 'repl-Pass_4', 'monitor-password': 'mon-Pass_5',
};
const APP = { user: 'app', password: SECRET['app-password'], database: 'app' };
const ALL = [0, 1, 2];
const CLIENT = { 'test-role': 'consistency-client' };

/** The deployment as ReplicationProxySql composes it, with the failover timing of the replication tests. */
function chart(): Chart {
  const c = new Chart(Testing.app(), 'test', { namespace: 'db' });
  new ReplicationProxySql(c, 'mariadb', {
    replication: { failoverSeconds: 10, fenceSeconds: 5 }, proxysql: { replicas: 1 },
    networkPolicy: { directClients: [{ podSelector: { matchLabels: CLIENT } }] },
  });
  return c;
}

describeWithProxySql('list-append histories on primary/replica under fault mixes, straight to the nodes and through ProxySQL',
  (proxysqlBin) => {
    let cluster: PodCluster;
    let pods: Workload;
    let proxies: Workload;
    let primary = 0;
    const others = (i: number) => ALL.filter((j) => j !== i);

    beforeAll(async () => {
      const secrets: Record<string, Record<string, string>> = { 'mariadb-credentials': SECRET };
      for (const s of await tlsSecretsFor(chart()) as { metadata: { name: string }; stringData: Record<string, string> }[]) {
        secrets[s.metadata.name] = s.stringData;
      }
      cluster = new PodCluster({
        manifests: Testing.synth(chart()), secrets, workloads: ['mariadb', 'mariadb-proxysql'], binaries: { proxysql: proxysqlBin },
        networkPolicies: true, clientLabels: CLIENT,
      });
      await cluster.setup();
      pods = cluster.workload('mariadb');
      proxies = cluster.workload('mariadb-proxysql');
      await Promise.all(ALL.map((i) => pods.startPod(i)));
      await Promise.all(ALL.map((i) => pods.waitFor(i, 'readiness', 300_000)));
      await proxies.startPod(0);
      await proxies.waitFor(0, 'readiness', 180_000);
    });

    afterAll(async () => {
      await cluster?.cleanup();
    });

    const role = (i: number): Promise<string> => roleOf(pods, i);

    async function readOnly(i: number): Promise<boolean> {
      return /^(1|ON)$/.test((await pods.sql(i, 'SELECT @@GLOBAL.read_only', { timeoutMs: 10_000 }))[0][0]);
    }

    /** The writable primary among the candidates, polled for up to 3 minutes. */
    async function newPrimary(candidates: readonly number[]): Promise<number> {
      let found = -1;
      await waitFor(`a primary among mariadb-${candidates.join(', mariadb-')}`, async () => {
        for (const i of candidates) {
          if ((await role(i).catch(() => '')) === 'primary' && !(await readOnly(i).catch(() => true))) { found = i; return true; }
        }
        return false;
      }, 180_000);
      return found;
    }

    /**
     * After a fault that may or may not have led to an election: the one writable primary, once
     * every node is ready and no other node claims the role (polled, 5 minutes at most).
     */
    async function settledPrimary(): Promise<number> {
      let found = -1;
      await allReady();
      await waitFor('one writable primary, the others replicas', async () => {
        await overrideRefusals();
        const roles = await Promise.all(ALL.map((i) => role(i).catch(() => '')));
        const writable = await Promise.all(ALL.map((i) => readOnly(i).then((ro) => !ro, () => false)));
        const primaries = ALL.filter((i) => roles[i] === 'primary' && writable[i]);
        if (primaries.length !== 1 || ALL.some((i) => i !== primaries[0] && roles[i] !== 'replica')) return false;
        found = primaries[0];
        return true;
      }, 300_000);
      return found;
    }

    /** Refusals already overridden, per node (its log's count of 'decision: refuse:'). */
    const overridden = new Map<number, number>();

    /**
     * A node that holds a transaction no replica acknowledged (a former primary killed or cut off
     * mid-commit, or a replica that fetched such a transaction from it) is refused, and stays
     * unready until the documented override (the replication-reclone file) clones it again: the
     * override is applied to each new refusal, and noted.
     */
    async function overrideRefusals(): Promise<void> {
      for (const i of ALL) {
        const refusals = pods.logs(i).split('decision: refuse:').length - 1;
        if (refusals > (overridden.get(i) ?? 0) && !(await pods.probe(i, 'readiness')).ok) {
          overridden.set(i, refusals);
          notes.push(`mariadb-${i} refused (it held a transaction no replica acknowledged), cloned again by the override`);
          await pods.exec(i, ['touch', '/var/lib/mysql/replication-reclone']);
        }
      }
    }

    /** The pods ready again, overriding refusals (polled, 5 minutes at most). */
    async function allReady(): Promise<void> {
      await waitFor('every node ready', async () => {
        await overrideRefusals();
        return (await Promise.all(ALL.map((i) => pods.probe(i, 'readiness')))).every((r) => r.ok);
      }, 300_000);
    }

    /**
     * One primary, every node ready and a replica of it (its source that primary, both threads
     * running: after a switchover the other replica moves to the new primary within its next
     * watch), caught up with its binlog (polled, 5 minutes at most).
     */
    async function healthy(): Promise<void> {
      await allReady();
      expect(await role(primary)).toBe('primary');
      for (const i of others(primary)) expect(await role(i)).toBe('replica');
      await waitFor(`every replica replicating from mariadb-${primary}`, async () => (await Promise.all(others(primary).map(async (i) => {
        const s = await slaveStatusOf(pods, i);
        return s.Master_Host?.split('.')[0] === `mariadb-${primary}` && s.Slave_IO_Running === 'Yes' && s.Slave_SQL_Running === 'Yes'
          && (await pods.probe(i, 'readiness')).ok;
      }))).every(Boolean), 300_000);
      const pos = (await pods.sql(primary, 'SELECT @@GLOBAL.gtid_binlog_pos'))[0][0];
      for (const i of others(primary)) {
        expect((await pods.sql(i, `SELECT MASTER_GTID_WAIT('${pos}', 300)`, { timeoutMs: 310_000 }))[0][0]).toBe('0');
      }
    }

    const notes: string[] = [];
    const mixes: FaultMix[] = [
      {
        name: 'healthy',
        inject: async () => { await sleep(15_000); return 'no fault, 15 s'; },
        recover: healthy,
      },
      {
        name: 'a replica SIGKILLed and restarted',
        inject: async (round) => {
          const i = others(primary)[round % 2];
          await pods.stopPod(i, 'KILL');
          await sleep(5000);
          await pods.startPod(i);
          await pods.waitFor(i, 'readiness', 300_000);
          return `SIGKILL mariadb-${i}, 5 s down, restarted`;
        },
        recover: healthy,
      },
      {
        name: 'failover (the primary SIGKILLed)',
        inject: async () => {
          const old = primary;
          await pods.stopPod(old, 'KILL');
          primary = await newPrimary(others(old));
          await pods.startPod(old);
          await allReady();
          return `SIGKILL mariadb-${old}, mariadb-${primary} promoted, mariadb-${old} back as a replica`;
        },
        recover: healthy,
      },
      {
        name: 'every node SIGKILLed within a second',
        inject: async (round) => {
          // in quick succession, each 400 ms after the last, a different first victim each round
          const order = ALL.map((k) => (k + round) % 3);
          await Promise.all(order.map(async (i, k) => { await sleep(400 * k); await pods.stopPod(i, 'KILL'); }));
          await Promise.all(ALL.map((i) => pods.startPod(i)));
          primary = await settledPrimary();
          return `SIGKILL mariadb-${order.join(', mariadb-')} within 0.8 s, all started again, mariadb-${primary} the primary`;
        },
        recover: healthy,
      },
      {
        name: 'switchover (repl-switchover.sh)',
        inject: async (round) => {
          const old = primary;
          const target = others(old)[round % 2];
          const r = await pods.exec(old, ['bash', `${NODE_PATHS.config}/repl-switchover.sh`, `mariadb-${target}`], { timeoutMs: 180_000 });
          if (r.exitCode !== 0) throw new Error(`repl-switchover.sh mariadb-${target} failed (${r.exitCode}): ${r.output}`);
          primary = target;
          return `switchover mariadb-${old} to mariadb-${target}`;
        },
        recover: healthy,
      },
      {
        name: 'a replica cut off',
        inject: async (round) => {
          const i = others(primary)[round % 2];
          await partitionFor(pods, i, 20_000);
          return `mariadb-${i} cut off 20 s (primary mariadb-${primary})`;
        },
        recover: healthy,
      },
      {
        name: 'the primary cut off from both replicas (clients still reach it)',
        inject: async () => {
          const old = primary;
          for (const j of others(old)) cluster.block(pods.slot(old), pods.slot(j));
          try {
            primary = await newPrimary(others(old));
            await waitFor(`mariadb-${old} (cut off) to turn read-only`, async () => readOnly(old), 120_000);
          } finally {
            for (const j of others(old)) cluster.unblock(pods.slot(old), pods.slot(j));
          }
          await allReady();
          return `mariadb-${old} cut off, mariadb-${primary} elected, mariadb-${old} fenced and back as a replica`;
        },
        recover: healthy,
      },
      {
        name: 'SIGSTOP/SIGCONT pauses',
        inject: async (round) => {
          // short pauses (no election) and pauses longer than failoverSeconds (the replicas may elect another primary)
          const i = round % 3;
          const ms = round % 2 === 0 ? 3000 : 15_000;
          const was = primary;
          await pauseServer(pods, i, ms);
          primary = await settledPrimary();
          return `mariadbd of mariadb-${i} stopped ${ms / 1000} s (primary mariadb-${was}, then mariadb-${primary})`;
        },
        recover: healthy,
      },
    ];

    test(`${mixes.length} fault mixes in ${SECONDS} s: nothing acknowledged lost, nothing broken, none of what snapshot isolation `
      + 'rules out; stale reads from the replicas reported with their rate', async () => {
      // through ProxySQL and straight to the nodes, at the same time, on two tables
      const nodes: AppendTarget[] = ALL.map((i) => ({ name: pods.podName(i), host: pods.podIp(i), port: 3306 }));
      const viaProxy: AppendTarget[] = [{ name: proxies.podName(0), host: proxies.podIp(0), port: 6033 }];
      await checkPathsUnderMixes({
        cluster, pods, ordinals: ALL, app: APP, mixes, seconds: SECONDS, topology: 'primary/replica', heal: healthy, notes,
        paths: [
          { path: 'straight to the nodes', table: 'lists_repl_direct', targets: nodes },
          { path: 'through ProxySQL', table: 'lists_repl_proxy', targets: viaProxy },
        ],
      });
    });
  });
