import { Testing } from 'cdk8s';
import { GaleraProxySqlChart } from '../../../src/index';
import { PodCluster, Workload } from '../../../harness/index';

// A Galera pod whose Secret does not exist: the (optional) Secret volume is empty, and the init
// container must stop with a message naming the Secret, its namespace and the command that
// creates it, and keep failing (Init:CrashLoopBackOff) until the Secret is complete.

jest.setTimeout(120_000);

let cluster: PodCluster;
let pods: Workload;

beforeAll(async () => {
  const chart = new GaleraProxySqlChart(Testing.app(), 'test', { namespace: 'shop', galera: { secretName: 'shop-db' } });
  cluster = new PodCluster({ manifests: Testing.synth(chart), secret: null, maxPods: 1, workloads: ['galera'] });
  await cluster.setup();
  pods = cluster.workload('galera');
});

afterAll(async () => {
  await cluster?.cleanup();
});

async function logContains(text: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pods.logs(0).includes(text) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
}

test('a pod without its Secret fails with a message naming the Secret and how to create it', async () => {
  // GIVEN no Secret / WHEN the pod starts
  await pods.startPod(0);
  await logContains("Secret 'shop-db' is missing");
  // THEN the init container says which Secret and how to create it, and mariadbd never ran
  expect(pods.logs(0)).toContain("FATAL: Secret 'shop-db' is missing in namespace 'shop'");
  expect(pods.logs(0)).toContain('npm run -s new-secret -- shop-db shop | kubectl create -f -');
  expect(pods.logs(0)).not.toContain('starting mariadbd');
  await pods.stopPod(0, 'KILL');
});

test('a Secret that lacks a key is refused, naming the key', async () => {
  cluster.setSecret('shop-db', { 'root-password': 'r', 'app-password': 'a', 'monitor-password': 'm' });
  await pods.startPod(0);
  await logContains('lacks the key(s) sst-password');
  expect(pods.logs(0)).toContain("Secret 'shop-db' lacks the key(s) sst-password");
  expect(pods.logs(0)).not.toContain('starting mariadbd');
  await pods.stopPod(0, 'KILL');
});
