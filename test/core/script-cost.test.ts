import { execFileSync } from 'child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';

// What the scripts that run all the time cost in processes. Every node answers its peers' state
// queries every second (the state port runs the state script per connection) and the kubelet
// runs the probes every few seconds: a process started per parsed field is a fork and an exec per
// node per second, on every node, for the cluster's whole life. These tests count the processes
// one run starts and hold each script to a budget; the answer must stay what it was.
//
// The count: the script runs as pid 1's child in a new PID namespace (unshare), which numbers
// its processes from 1 in order; a last `sh -c 'echo $$'` prints the next number.
// The MariaDB client is a stand-in (one bash script, one process) that prints what the server
// prints for the script's query: the count is the script's own.
const ROOT = join(__dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'script-cost-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const REPLICA_STATUS = `*************************** 1. row ***************************
       Read_only: 1
Gtid_current_pos: 0-1-120
*************************** 1. row ***************************
                Slave_IO_State: Waiting for master to send event
                   Master_Host: mariadb-0.mariadb.db.svc.cluster.local
              Slave_IO_Running: Yes
             Slave_SQL_Running: Yes
         Seconds_Behind_Master: 0
                   Gtid_IO_Pos: 0-1-121
`;
const WSREP_STATUS = ['wsrep_cluster_state_uuid\taaaaaaaa-1111-11f1-8000-000000000001', 'wsrep_cluster_status\tPrimary',
  'wsrep_cluster_size\t3', 'wsrep_last_committed\t42', 'wsrep_local_state\t4', 'wsrep_local_state_comment\tSynced',
  'wsrep_ready\tON', ''].join('\n');

interface Setup { pod: string; peers: string; client: string; files: Record<string, string> }

/** Runs SCRIPT (a path under scripts/) in its own PID namespace; its output and the processes it started. */
function costOf(script: string, args: string[], s: Setup): { output: string; processes: number } {
  const run = mkdtempSync(join(dir, 'run-'));
  const bin = join(run, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'mariadb'), `#!/bin/bash\nprintf '%s' '${s.client.replace(/'/g, "'\\''")}'\n`);
  chmodSync(join(bin, 'mariadb'), 0o755);
  for (const [name, text] of Object.entries(s.files)) writeFileSync(join(run, name), text);
  const code = `bash ${JSON.stringify(join(ROOT, 'scripts', script))} ${args.join(' ')}; echo "next=$(sh -c 'echo $$')"`;
  // stdin not a socket: bash -c would take itself for a remote shell and read ~/.bashrc
  const out = execFileSync('unshare', ['--pid', '--fork', '--mount-proc', 'bash', '--norc', '-c', code], {
    encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: `${bin}:${process.env.PATH}`, POD_NAME: s.pod, NODE_PEERS: s.peers, NODE_RUNTIME_DIR: run, NODE_DATA_DIR: run,
      NODE_TLS: 'on',
    },
  });
  const next = Number(/next=(\d+)\n?$/.exec(out)![1]);
  // pid 1 is the namespace's bash; the $( ) around sh and sh itself are the last two before `next`
  return { output: out.replace(/next=\d+\n?$/, ''), processes: next - 1 - 2 };
}

const REPL_PEERS = [0, 1, 2].map((i) => `mariadb-${i}.mariadb.db.svc.cluster.local`).join(',');
const GALERA_PEERS = [0, 1, 2].map((i) => `galera-${i}.galera.db.svc.cluster.local`).join(',');
const replica: Setup = {
  pod: 'mariadb-1', peers: REPL_PEERS, client: REPLICA_STATUS,
  files: {
    role: 'replica\n',
    state: 'v1 name=mariadb-1 phase=running role=replica writable=0 gtid= seq=-1 io=0 sql=0 lag= source= ready=0 data=1 peers=3\n',
  },
};
const galera: Setup = {
  pod: 'galera-1', peers: GALERA_PEERS, client: WSREP_STATUS,
  files: {
    state: 'v1 name=galera-1 phase=running role=join uuid=aaaaaaaa-1111-11f1-8000-000000000001 seqno=40 safe=0 empty=0 primary=1 '
      + 'local_state=4 fresh=0 forced= sst=tls donates=stream view=3 leaving=0 follows=0 peers=3\n',
  },
};

test('a replica answers a state query with one client run and the shell\'s own parsing', () => {
  // GIVEN a running replica (its role file, its published line) and the server's answer to the state query
  // WHEN a peer asks for its state line
  const { output, processes } = costOf('replication/repl-state.sh', [], replica);
  // THEN the line is the live view of that answer
  expect(output).toBe('v1 name=mariadb-1 phase=running role=replica writable=0 gtid=0-1-120 seq=121 io=1 sql=1 lag=0 '
    + 'source=mariadb-0 ready=1 data=0 peers=3\n');
  // and it took the script, timeout and the client: 3 processes (38 when each field was parsed
  // by its own awk)
  expect(processes).toBeLessThanOrEqual(3);
});

test('a Galera node answers a state query with one client run', () => {
  const { output, processes } = costOf('node/galera-state.sh', [], galera);
  expect(output).toBe('v1 name=galera-1 phase=running role=join uuid=aaaaaaaa-1111-11f1-8000-000000000001 seqno=42 safe=0 '
    + 'empty=0 primary=1 local_state=4 fresh=0 forced= sst=tls donates=stream view=0 leaving=0 follows=0 peers=3\n');
  expect(processes).toBeLessThanOrEqual(5); // 27 before
});

// (before: 50 and 12)
test.each([
  ['replication/repl-probe.sh', 'readiness', replica, 8],
  ['node/galera-probe.sh', 'readiness', galera, 5],
] as const)('%s %s passes on a ready node within its process budget', (script, kind, setup, budget) => {
  const { output, processes } = costOf(script, [kind], setup);
  expect(output).toBe('');
  expect(processes).toBeLessThanOrEqual(budget);
});
