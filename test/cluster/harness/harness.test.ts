import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'fs';
import { PodCluster, Workload } from '../../../harness/index';
import { listLinks, listNetns } from '../../../harness/netns';
import { netnsPids } from '../../../harness/proc';

// Self-test of the pod harness (harness/*) on tiny fake StatefulSets: a bash/socat pod
// that reports what it sees, and one plain (non-Galera) mariadbd to prove sql() and the
// write ledger. Needs root; about 30 s.

jest.setTimeout(60_000);

const START = `#!/bin/bash
rm -f /run/fake/started
echo "main: start user=$(id -un) uid=$(id -u) gid=$(id -g) groups=$(id -G) host=$(hostname) pid=$$"
echo "env: POD_NAME=$POD_NAME POD_NAMESPACE=$POD_NAMESPACE POD_IP=$POD_IP GREETING=$GREETING \\
SECRET_ENV=$SECRET_ENV CM_ENV=$CM_ENV HOME=$HOME"
echo "file: hello=$(cat /opt/fake/hello.txt) secret=$(cat /etc/fake/credentials/root-password 2>&1)"
echo "modes: secret=$(stat -L -c '%a %U:%G' /etc/fake/credentials/root-password) script=$(stat -L -c '%a %U:%G' /opt/fake/start.sh) \\
data=$(stat -c '%a %U:%G' /var/lib/fake) run=$(stat -c '%a %U:%G' /run/fake)"
echo "init-marker: $(cat /var/lib/fake/init-ran 2>&1) from-init: $(cat /run/fake/from-init 2>&1)"
echo "stale-emptydir: $(ls /run/fake/stale 2>&1)"
touch /etc/fake-rootfs-write 2>/dev/null && echo "rootfs: writable" || echo "rootfs: read-only"
touch /tmp/tmp-write && echo "tmp: writable"
if [ -f /var/lib/fake/exit-once ]; then rm -f /var/lib/fake/exit-once; echo "main: exiting 3 on purpose"; exit 3; fi
socat TCP-LISTEN:7000,fork,reuseaddr SYSTEM:'echo hello from $POD_NAME' &
if [ -f /var/lib/fake/no-trap ]; then
  echo "main: no TERM trap"
else
  trap 'echo "main: got SIGTERM"; exit 0' TERM
fi
touch /run/fake/stale
cut -d' ' -f22 /proc/1/stat > /run/fake/started  # start time of this pid 1: stale markers do not count
sleep infinity &
wait $!
`;

const INIT = `#!/bin/bash
if [ -f /var/lib/fake/init-fail ]; then rm -f /var/lib/fake/init-fail; echo "init: failing on purpose"; exit 1; fi
echo "init: ran as $(id -un) for $POD_NAME"
echo "$POD_NAME" > /var/lib/fake/init-ran
echo "init-was-here" > /run/fake/from-init
`;

const PROBE = `#!/bin/bash
[ "$(cat /run/fake/started 2>/dev/null)" = "$(cut -d' ' -f22 /proc/1/stat)" ] || { echo "not started"; exit 1; }
echo "probe: user=$(id -un) host=$(hostname) pod=$POD_NAME pid1=$(tr '\\0' ' ' </proc/1/cmdline)"
`;

const SECRET = { 'root-password': 'Secr3t-pw_x' };

function fakeManifests(): object[] {
  const mounts = [
    { name: 'config', mountPath: '/opt/fake', readOnly: true },
    { name: 'credentials', mountPath: '/etc/fake/credentials', readOnly: true },
    { name: 'runtime', mountPath: '/run/fake' },
    { name: 'tmp', mountPath: '/tmp' },
    { name: 'data', mountPath: '/var/lib/fake' },
  ];
  const env = [
    { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
    { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
    { name: 'GREETING', value: 'hi $(POD_NAME)' },
    { name: 'SECRET_ENV', valueFrom: { secretKeyRef: { name: 'fake-credentials', key: 'root-password', optional: true } } },
    { name: 'CM_ENV', valueFrom: { configMapKeyRef: { name: 'fake-config', key: 'hello.txt' } } },
  ];
  const sc = { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] } };
  return [
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'fake-config', namespace: 'ns1' }, data: {
      'start.sh': START, 'init.sh': INIT, 'probe.sh': PROBE, 'hello.txt': 'hello world',
    } },
    {
      apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'fake', namespace: 'ns1' },
      spec: {
        serviceName: 'fake', replicas: 3,
        template: {
          metadata: { labels: { app: 'fake' } },
          spec: {
            terminationGracePeriodSeconds: 3,
            securityContext: { runAsUser: 999, runAsGroup: 999, fsGroup: 999, runAsNonRoot: true, fsGroupChangePolicy: 'OnRootMismatch' },
            initContainers: [
              { name: 'init', image: 'x', command: ['bash', '/opt/fake/init.sh'], env, volumeMounts: mounts, securityContext: sc },
            ],
            containers: [{
              name: 'main', image: 'x', command: ['bash', '/opt/fake/start.sh'], env, volumeMounts: mounts, securityContext: sc,
              readinessProbe: {
                exec: { command: ['bash', '/opt/fake/probe.sh'] }, periodSeconds: 1, timeoutSeconds: 2, failureThreshold: 1,
              },
              livenessProbe: {
                exec: { command: ['bash', '-c', 'test ! -f /var/lib/fake/unhealthy'] }, periodSeconds: 1, timeoutSeconds: 2,
                failureThreshold: 2,
              },
            }],
            volumes: [
              { name: 'config', configMap: { name: 'fake-config', defaultMode: 0o555 } },
              { name: 'credentials', secret: { secretName: 'fake-credentials', defaultMode: 0o440, optional: true } },
              { name: 'runtime', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } },
              { name: 'tmp', emptyDir: {} },
            ],
          },
        },
        volumeClaimTemplates: [
          { metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } },
        ],
      },
    },
  ];
}

async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** The log of the most recent container run of a pod. */
function lastRun(pods: Workload, i: number): string {
  const log = pods.logs(i);
  return log.slice(log.lastIndexOf('==> '));
}

describe('pod harness on a fake StatefulSet', () => {
  let cluster: PodCluster;
  let pods: Workload;
  let nsNames: string[] = [];

  beforeAll(async () => {
    cluster = new PodCluster({ manifests: fakeManifests(), secret: SECRET, maxPods: 3, programs: 'host' });
    await cluster.setup();
    pods = cluster.workload('fake');
    nsNames = [0, 1, 2].map((i) => pods.nsName(i)).concat(cluster.clientNs);
  });

  afterAll(async () => {
    await cluster?.cleanup();
  });

  test('namespaces, links and hosts files exist, names fit in 15 characters', () => {
    const all = listNetns();
    for (const ns of nsNames) expect(all).toContain(ns);
    const links = listLinks().filter((l) => l.startsWith(cluster.prefix));
    expect(links).toHaveLength(5); // bridge + 3 pods + client
    for (const l of links) expect(l.length).toBeLessThanOrEqual(15);
    const hosts = readFileSync(`/etc/netns/${pods.nsName(1)}/hosts`, 'utf8');
    expect(hosts).toContain(`${pods.podIp(0)}\tfake-0.fake.ns1.svc.cluster.local fake-0.fake.ns1.svc fake-0.fake.ns1 fake-0.fake\n`);
    expect(hosts).toContain(`${pods.podIp(1)}\tfake-1.fake.ns1.svc.cluster.local fake-1.fake.ns1.svc fake-1.fake.ns1 fake-1.fake fake-1\n`);
    expect(pods.podName(2)).toBe('fake-2');
    expect(pods.podFqdn(2)).toBe('fake-2.fake.ns1.svc.cluster.local');
  });

  test('init containers run (and are retried after an error), then the main container with the right env, mounts and user', async () => {
    // pod 1's first init run fails: Init:Error, then a retry after the back-off
    await pods.startPod(0);
    pods.touchInVolume(1, 'init-fail');
    await Promise.all([pods.startPod(1), pods.startPod(2)]);
    expect(await pods.waitFor(0, 'readiness', 15_000, { intervalMs: 100 })).toBeLessThan(15_000);
    await pods.waitFor(1, 'readiness', 15_000, { intervalMs: 100 });
    await pods.waitFor(2, 'readiness', 15_000, { intervalMs: 100 });
    expect(pods.status(1).initRestarts).toBe(1);
    expect(pods.logs(1)).toContain('init: failing on purpose');
    expect(pods.events(1)).toMatch(/container init exited with 1/);

    const log = pods.logs(0);
    expect(log).toContain('init: ran as mysql for fake-0');
    expect(log).toMatch(
      new RegExp(`main: start user=mysql uid=${cluster.mysqlUid} gid=${cluster.mysqlGid} groups=${cluster.mysqlGid} host=fake-0 pid=1\\n`),
    );
    expect(log).toContain(`env: POD_NAME=fake-0 POD_NAMESPACE=ns1 POD_IP=${pods.podIp(0)} GREETING=hi fake-0 `
      + `SECRET_ENV=${SECRET['root-password']} CM_ENV=hello world HOME=/var/lib/mysql`);
    expect(log).toContain(`file: hello=hello world secret=${SECRET['root-password']}`);
    expect(log).toContain('modes: secret=440 root:mysql script=555 root:mysql data=2775 root:mysql run=2777 root:mysql');
    expect(log).toContain('init-marker: fake-0 from-init: init-was-here');
    expect(log).toContain('rootfs: read-only');
    expect(log).toContain('tmp: writable');
    expect(existsSync('/etc/fake-rootfs-write')).toBe(false);
    // the data volume is a host directory that the test can read
    expect(readFileSync(pods.volumePath(0, 'init-ran'), 'utf8')).toBe('fake-0\n');
    expect(pods.isRunning(0)).toBe(true);
    expect(pods.status(0).state).toBe('Running');
  });

  test('probes run inside the pod: its user, hostname, env, mounts and PID namespace', async () => {
    const r = await pods.probe(2, 'readiness');
    expect(r.ok).toBe(true);
    expect(r.output).toContain('probe: user=mysql host=fake-2 pod=fake-2 pid1=bash /opt/fake/start.sh');
    expect((await pods.probe(2, 'liveness')).ok).toBe(true);
    expect((await pods.probe(2, 'startup')).output).toBe('no startup probe');
    // the background kubelet marks ready pods
    await until('pod 2 ready', () => pods.isReady(2), 5000);
  });

  test('pods reach each other by every form of their DNS names, and the client namespace reaches them', async () => {
    for (const name of ['fake-1.fake.ns1.svc.cluster.local', 'fake-1.fake.ns1.svc', 'fake-1.fake.ns1', 'fake-1.fake']) {
      const r = await pods.exec(0, ['socat', '-u', `TCP:${name}:7000,connect-timeout=2`, '-'], { timeoutMs: 5000 });
      expect(r.output.trim()).toBe('hello from fake-1');
    }
    const c = await cluster.clientExec(
      ['socat', '-u', 'TCP:fake-2.fake.ns1.svc.cluster.local:7000,connect-timeout=2', '-'], { timeoutMs: 5000 },
    );
    expect(c.stdout.trim()).toBe('hello from fake-2');
  });

  test('partition cuts one pod off from the others and the client; heal restores it', async () => {
    pods.partition(1);
    const cut = await pods.exec(0, ['socat', '-u', 'TCP:fake-1.fake:7000,connect-timeout=1', '-'], { timeoutMs: 5000 });
    expect(cut.exitCode).not.toBe(0);
    const fromClient = await cluster.clientExec(['socat', '-u', 'TCP:fake-1.fake:7000,connect-timeout=1', '-'], { timeoutMs: 5000 });
    expect(fromClient.exitCode).not.toBe(0);
    const other = await pods.exec(0, ['socat', '-u', 'TCP:fake-2.fake:7000,connect-timeout=2', '-'], { timeoutMs: 5000 });
    expect(other.output.trim()).toBe('hello from fake-2');
    // the partitioned pod still reaches itself
    expect(
      (await pods.exec(1, ['socat', '-u', 'TCP:fake-1.fake:7000,connect-timeout=2', '-'], { timeoutMs: 5000 })).output.trim(),
    ).toBe('hello from fake-1');
    pods.heal(1);
    const back = await pods.exec(0, ['socat', '-u', 'TCP:fake-1.fake:7000,connect-timeout=2', '-'], { timeoutMs: 5000 });
    expect(back.output.trim()).toBe('hello from fake-1');
  });

  test('a failing liveness probe restarts the container (the pod and its emptyDirs stay)', async () => {
    pods.touchInVolume(0, 'unhealthy');
    await until('liveness restart of pod 0', () => pods.restarts(0) === 1, 10_000);
    rmSync(pods.volumePath(0, 'unhealthy'));
    await pods.waitFor(0, 'readiness', 10_000, { intervalMs: 100 });
    expect(pods.events(0)).toMatch(/liveness probe of main failed 2 times/);
    expect(lastRun(pods, 0)).toContain('stale-emptydir: /run/fake/stale'); // same pod instance: emptyDir kept
    expect(pods.logs(0).split('init: ran as').length - 1).toBe(1); // init containers do not run again
  });

  test('TERM: the container gets SIGTERM and exits within the grace period; nothing of the pod remains', async () => {
    const r = await pods.stopPod(0, 'TERM');
    expect(r).toMatchObject({ exitCode: 0, graceful: true });
    expect(r.ms).toBeLessThan(2500);
    expect(lastRun(pods, 0)).toContain('main: got SIGTERM');
    expect(pods.isRunning(0)).toBe(false);
    expect(cluster.anyProcessLeft()).toBe(true); // pods 1 and 2 still run
    expect(netnsPids(pods.nsName(0))).toEqual([]);
  });

  test('TERM to a pid 1 without a SIGTERM handler is ignored: SIGKILL after terminationGracePeriodSeconds', async () => {
    await pods.stopPod(2, 'TERM');
    pods.touchInVolume(2, 'no-trap');
    await pods.startPod(2);
    await pods.waitFor(2, 'readiness', 10_000, { intervalMs: 100 });
    const r = await pods.stopPod(2, 'TERM');
    expect(r.graceful).toBe(false);
    expect(r.exitCode).toBe(137);
    expect(r.ms).toBeGreaterThanOrEqual(3000);
    expect(r.ms).toBeLessThan(6000);
    expect(pods.events(2)).toMatch(/grace period over: SIGKILL main/);
  });

  test('KILL: every process of the pod dies at once, without SIGTERM', async () => {
    const r = await pods.stopPod(1, 'KILL');
    expect(r.exitCode).toBe(137);
    expect(r.ms).toBeLessThan(2000);
    expect(lastRun(pods, 1)).not.toContain('got SIGTERM');
  });

  test('a new pod: fresh emptyDirs, same data volume; a main container that exits is restarted with back-off', async () => {
    pods.touchInVolume(0, 'exit-once');
    await pods.startPod(0);
    await pods.waitFor(0, 'readiness', 15_000, { intervalMs: 100 });
    expect(pods.restarts(0)).toBe(1);
    expect(pods.logs(0)).toContain('main: exiting 3 on purpose');
    expect(pods.status(0).lastExit).toMatchObject({ container: 'main', exitCode: 3 });
    const run = lastRun(pods, 0);
    expect(run).toContain('init-marker: fake-0'); // data volume survived
    expect(run).toContain('stale-emptydir: ls: cannot access'); // the emptyDir is new
    // wipeVolume empties the data volume of a stopped pod only
    expect(() => pods.wipeVolume(0)).toThrow(/stop it first/);
  });

  test('stopAll(KILL) stops every pod at once; wipeVolume empties the data', async () => {
    await pods.startPod(1);
    await pods.waitFor(1, 'readiness', 10_000, { intervalMs: 100 });
    const results = await pods.stopAll('KILL');
    expect(results.map((r) => r.exitCode)).toEqual([137, 137]);
    expect(cluster.anyProcessLeft()).toBe(false);
    pods.wipeVolume(1);
    expect(pods.volumeHas(1, 'init-ran')).toBe(false);
    expect(pods.volumeHas(0, 'init-ran')).toBe(true);
  });

  test('cleanup removes every namespace, link, hosts directory and process, and is idempotent', async () => {
    await pods.startPod(2);
    await cluster.cleanup();
    await cluster.cleanup();
    expect(listNetns().filter((n) => n.startsWith(cluster.prefix))).toEqual([]);
    expect(listLinks().filter((n) => n.startsWith(cluster.prefix))).toEqual([]);
    expect(existsSync('/etc/netns') ? readdirSync('/etc/netns').filter((n) => n.startsWith(cluster.prefix)) : []).toEqual([]);
    expect(cluster.anyProcessLeft()).toBe(false);
    expect(existsSync(`${cluster.runDir}/pvc`)).toBe(false);
    expect(statSync(`${cluster.runDir}/pods/fake-0/events.log`).size).toBeGreaterThan(0); // logs are kept
  });
});

describe('pod harness with a real (non-Galera) mariadbd', () => {
  let cluster: PodCluster;
  let pods: Workload;
  const INIT_DB = `set -e
if [ ! -d /var/lib/mysql/mysql ]; then
  mariadb-install-db --no-defaults --datadir=/var/lib/mysql --auth-root-authentication-method=normal --skip-test-db \\
    >/tmp/install.log 2>&1 || { cat /tmp/install.log; exit 1; }
fi
pw=$(cat /etc/db/root-password)
for h in 127.0.0.1 %; do
  printf "CREATE USER IF NOT EXISTS 'root'@'%s';\\nALTER USER 'root'@'%s' IDENTIFIED BY '%s';\\n"\\
"GRANT ALL ON *.* TO 'root'@'%s' WITH GRANT OPTION;\\n" \\
    "$h" "$h" "$pw" "$h"
done > /run/db/init.sql
echo "init: done"
`;
  const manifests = (): object[] => {
    const mounts = [
      { name: 'credentials', mountPath: '/etc/db', readOnly: true },
      { name: 'run', mountPath: '/run/db' },
      { name: 'tmp', mountPath: '/tmp' },
      { name: 'data', mountPath: '/var/lib/mysql' },
    ];
    const sc = { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } };
    return [{
      kind: 'StatefulSet', metadata: { name: 'db', namespace: 'default' },
      spec: {
        serviceName: 'db',
        template: {
          spec: {
            terminationGracePeriodSeconds: 20,
            securityContext: { runAsUser: 999, runAsGroup: 999, fsGroup: 999 },
            initContainers: [{ name: 'init', command: ['bash', '-c', INIT_DB], volumeMounts: mounts, securityContext: sc }],
            containers: [{
              name: 'mariadb',
              command: ['mariadbd', '--no-defaults', '--datadir=/var/lib/mysql', '--socket=/run/db/mysqld.sock',
                '--pid-file=/run/db/mysqld.pid', '--port=3306', '--bind-address=0.0.0.0', '--skip-name-resolve',
                '--init-file=/run/db/init.sql',
                '--innodb-buffer-pool-size=32M', '--skip-log-bin'],
              volumeMounts: mounts, securityContext: sc,
              readinessProbe: {
                exec: { command: ['mariadb-admin', '--no-defaults', '--socket=/run/db/mysqld.sock', 'ping'] }, periodSeconds: 1,
                timeoutSeconds: 3,
              },
            }],
            volumes: [
              { name: 'credentials', secret: { secretName: 'db-credentials', defaultMode: 0o440 } },
              { name: 'run', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } },
              { name: 'tmp', emptyDir: {} },
            ],
          },
        },
        volumeClaimTemplates: [{ metadata: { name: 'data' } }],
      },
    }];
  };

  beforeAll(async () => {
    cluster = new PodCluster({ manifests: manifests(), secret: SECRET, maxPods: 2, programs: 'host' });
    await cluster.setup();
    pods = cluster.workload('db');
  });

  afterAll(async () => {
    await cluster?.cleanup();
  });

  test('sql() runs queries as root with the Secret password and returns rows', async () => {
    await Promise.all([pods.startPod(0), pods.startPod(1)]);
    await pods.waitFor(0, 'readiness', 40_000, { intervalMs: 200 });
    await pods.waitFor(1, 'readiness', 40_000, { intervalMs: 200 });
    expect(await pods.sql(0, 'SELECT 1, CURRENT_USER()')).toEqual([['1', 'root@127.0.0.1']]);
    expect(await pods.sql(0, "SELECT 'a\\tb', 'c\\nd', NULL")).toEqual([['a\tb', 'c\nd', 'NULL']]);
    expect(await pods.sql(0, 'SELECT 1 WHERE 1 = 0')).toEqual([]);
    await expect(pods.sql(0, 'SELECT 1', { password: 'wrong' })).rejects.toThrow(/Access denied/);
    await expect(pods.sql(0, 'SELEC 1')).rejects.toThrow(/syntax/);
    // mariadbd itself is pid 1 of the container and runs as mysql
    const ps = await pods.exec(0, ['bash', '-c', 'echo $(id -un) $(tr "\\0" " " </proc/1/cmdline | cut -d" " -f1)']);
    expect(ps.output.trim()).toBe('mysql mariadbd');
  });

  test('the writer keeps going across a crash and restart; every acknowledged write is on the node', async () => {
    const w = await pods.startWriter({ pods: [0], rateHz: 50 });
    await until('20 acknowledged writes', () => w.ackedCount() >= 20, 10_000);
    await pods.stopPod(0, 'KILL');
    const atCrash = w.ackedCount();
    await new Promise((r) => setTimeout(r, 1000));
    await pods.startPod(0);
    await pods.waitFor(0, 'readiness', 30_000, { intervalMs: 200 });
    await until('writes after the restart', () => w.ackedCount() > atCrash + 10, 15_000);
    const res = await w.stop();
    expect(res.errors).toBeGreaterThan(0);
    expect(res.maxStallMs).toBeGreaterThan(1000);
    expect(res.perPodMaxStallMs[0]).toBe(res.maxStallMs);
    expect(new Set(res.acked).size).toBe(res.acked.length);
    const report = await pods.verifyLedger(res.acked, [0]);
    expect(report.perPod[0].missing).toEqual([]);
    expect(report.perPod[0].rows).toBeGreaterThanOrEqual(res.acked.length);
    // a missing id is reported
    await expect(pods.verifyLedger([...res.acked, 42], [0])).rejects.toThrow(/lacks 1 acknowledged ids: 42/);
  });

  test('a partitioned pod holds up only its own writes (one insert in flight per pod)', async () => {
    // two independent servers: each has its own ledger table, so each is verified with its own acks
    for (const i of [0, 1]) {
      await pods.sql(i, 'CREATE DATABASE IF NOT EXISTS ledger; CREATE TABLE IF NOT EXISTS ledger.split (id BIGINT PRIMARY KEY, '
        + 'writer VARCHAR(32), pod INT, at TIMESTAMP(6))');
    }
    const w = await pods.startWriter({ pods: [0, 1], rateHz: 40, table: 'split', queryTimeoutMs: 4000 });
    await until('writes on both', () => w.ackedCount() >= 20, 10_000);
    pods.partition(1);
    await new Promise((r) => setTimeout(r, 3000));
    pods.heal(1);
    await new Promise((r) => setTimeout(r, 1000));
    const res = await w.stop();
    expect(res.perPodMaxStallMs[1]).toBeGreaterThanOrEqual(2500);
    // pod 0 kept acknowledging while pod 1 was cut off (a ratio, not a deadline: the machine may be slow)
    expect(res.perPodMaxStallMs[0]).toBeLessThan(res.perPodMaxStallMs[1] / 2);
    expect(res.maxStallMs).toBeLessThan(res.perPodMaxStallMs[1] / 2);
    expect(res.ackedByPod[0].length + res.ackedByPod[1].length).toBe(res.acked.length);
    expect(res.ackedByPod[1].length).toBeGreaterThan(10); // before the partition and after the heal
    await pods.verifyLedger(res.ackedByPod[0], [0], { table: 'split' });
    await pods.verifyLedger(res.ackedByPod[1], [1], { table: 'split' });
    // a graceful stop of mariadbd (pid 1 with a SIGTERM handler)
    const stop = await pods.stopPod(0, 'TERM');
    expect(stop).toMatchObject({ graceful: true, exitCode: 0 });
  });
});
