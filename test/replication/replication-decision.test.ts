import { execFileSync, spawnSync } from 'child_process';
import { join } from 'path';

// The decisions of a primary/replica node (scripts/replication/repl-election.sh), driven
// directly: state lines in, "ACTION reason" out. The lines are made by the scripts' own
// formatter (state_line in repl-lib.sh), as the pods make them; the cluster test runs the same
// code for real.
const DIR = join(__dirname, '..', '..', 'scripts', 'replication');
const PEERS = 'mariadb-0.mariadb.db.svc.cluster.local,mariadb-1.mariadb.db.svc.cluster.local,mariadb-2.mariadb.db.svc.cluster.local';

interface Node {
  peers?: number; phase?: string; role?: string; writable?: 0 | 1; seq?: number; io?: 0 | 1; sql?: 0 | 1; lag?: number; ready?: 0 | 1;
  source?: string;
}

function fields(n: Node): string[] {
  const f: Record<string, string | number> = { phase: n.phase ?? 'running', seq: n.seq ?? -1 };
  for (const k of ['role', 'writable', 'io', 'sql', 'lag', 'ready', 'source'] as const) if (n[k] !== undefined) f[k] = n[k]!;
  return Object.entries(f).map(([k, v]) => `${k}=${v}`);
}

/** Runs `command` as pod `self` with the given nodes' lines on stdin (in the given order). */
const hosts = (n: number) => Array.from({ length: n }, (_, i) => `mariadb-${i}.mariadb.db.svc.cluster.local`).join(',');
const FIVE = hosts(5);

function drive(command: string, self: string, nodes: Record<string, Node>, peers = PEERS): string {
  const script = `source "$1/repl-lib.sh"; source "$1/repl-election.sh"; command=$2; shift 2
for spec in "$@"; do
  IFS='|' read -r name rest peers <<<"$spec"; read -r -a kv <<<"$rest"
  NODE_PEERS=\${peers:-$NODE_PEERS} POD_NAME=$name state_line "\${kv[@]}"
done | { eval "$command"; }`;
  const specs = Object.entries(nodes).map(([name, n]) => `${name}|${fields(n).join(' ')}|${n.peers ? hosts(n.peers) : ''}`);
  return execFileSync('bash', ['-c', script, 'drive', DIR, command, ...specs], {
    encoding: 'utf8', env: { PATH: process.env.PATH, POD_NAME: self, NODE_PEERS: peers },
  }).trim();
}

describe('a starting node takes its role (choose_role)', () => {
  test.each([
    [
      'a running writable primary: follow it', 'mariadb-1', 1,
      { 'mariadb-0': { role: 'primary', writable: 1, seq: 9 }, 'mariadb-2': { role: 'replica', io: 1, seq: 9 } },
      'replicate mariadb-0 is the primary',
    ],
    [
      'a fenced (read-only) primary is no primary to follow', 'mariadb-1', 1,
      { 'mariadb-0': { role: 'fenced', writable: 0, seq: 9 }, 'mariadb-2': { seq: 8 } }, 'elect no peer is the primary',
    ],
    [
      'no data anywhere, everyone answers: the first ordinal initializes', 'mariadb-0', 0,
      { 'mariadb-1': { phase: 'waiting' }, 'mariadb-2': { phase: 'waiting' } }, 'initialize',
    ],
    [
      'no data anywhere: the others wait for the first ordinal', 'mariadb-2', 0,
      { 'mariadb-0': { phase: 'waiting' }, 'mariadb-1': { phase: 'waiting' } }, 'wait new cluster: waiting for mariadb-0',
    ],
    [
      'no data here, a peer unreachable: nobody initializes (it may hold data)', 'mariadb-0', 0, { 'mariadb-1': { phase: 'waiting' } },
      'wait new cluster: 2 of 3',
    ],
    [
      'no data here, a peer has data but is no primary: wait (a clone needs a ready source)', 'mariadb-2', 0,
      { 'mariadb-0': { role: '', seq: 5 }, 'mariadb-1': { phase: 'waiting' } }, 'wait no primary to clone from',
    ],
    [
      'data here and no primary: the election', 'mariadb-2', 1, { 'mariadb-0': { role: '', seq: 5 }, 'mariadb-1': { role: '', seq: 7 } },
      'elect no peer is the primary',
    ],
  ] as const)('%s', (_what, self, ownData, nodes, expected) => {
    // GIVEN the peers' lines / WHEN the node chooses / THEN
    expect(drive(`choose_role ${ownData}`, self, nodes as Record<string, Node>)).toContain(expected);
  });
});

describe('the failover election (failover_election): majority, most advanced GTID, ties to the lowest ordinal', () => {
  test.each([
    [
      'the most advanced replica wins', 'mariadb-1',
      { 'mariadb-1': { role: 'replica', seq: 12 }, 'mariadb-2': { role: 'replica', seq: 10 } }, 'promote this node is the most advanced',
    ],
    [
      'the other one waits for it', 'mariadb-2', { 'mariadb-2': { role: 'replica', seq: 10 }, 'mariadb-1': { role: 'replica', seq: 12 } },
      'wait mariadb-1 is the most advanced',
    ],
    [
      'a tie goes to the lowest ordinal', 'mariadb-2',
      { 'mariadb-2': { role: 'replica', seq: 12 }, 'mariadb-1': { role: 'replica', seq: 12 } }, 'wait mariadb-1',
    ],
    ['alone (1 of 3): no failover', 'mariadb-1', { 'mariadb-1': { role: 'replica', seq: 12 } }, 'none only 1 of 3 nodes take part'],
    [
      'a peer still replicates from a primary it reaches: no failover', 'mariadb-1',
      { 'mariadb-1': { role: 'replica', seq: 12 }, 'mariadb-2': { role: 'replica', io: 1, source: 'mariadb-0', seq: 12 } },
      'none mariadb-2 still replicates from mariadb-0',
    ],
    [
      'a primary answers: no failover', 'mariadb-1',
      { 'mariadb-1': { role: 'replica', seq: 12 }, 'mariadb-0': { role: 'primary', writable: 1, seq: 14 } },
      'none mariadb-0 is the primary',
    ],
    [
      'a fenced old primary with more takes part and wins', 'mariadb-1',
      { 'mariadb-1': { role: 'replica', seq: 12 }, 'mariadb-0': { role: 'fenced', writable: 0, seq: 14 } }, 'wait mariadb-0',
    ],
    [
      'nodes that wait or clone do not vote', 'mariadb-1', { 'mariadb-1': { role: 'replica', seq: 12 }, 'mariadb-2': { phase: 'cloning' } },
      'none only 1 of 3',
    ],
    [
      'a primary handing over (switchover) is no primary: no failover election while it answers', 'mariadb-2',
      { 'mariadb-2': { role: 'replica', seq: 12 }, 'mariadb-1': { role: 'replica', io: 1, source: 'mariadb-0', seq: 12 } },
      'none mariadb-1 still replicates',
    ],
  ] as const)('%s', (_what, self, nodes, expected) => {
    expect(drive('failover_election', self, nodes as Record<string, Node>)).toContain(expected);
  });

  // One replica's acknowledgement makes a commit acknowledged, so with 5 nodes a bare majority (3)
  // could be three replicas without it: the vote needs every node but the lost primary.
  test.each([
    [
      '4 of 5 take part: the most advanced wins',
      {
        'mariadb-1': { role: 'replica', seq: 30 }, 'mariadb-2': { role: 'replica', seq: 31 }, 'mariadb-3': { role: 'replica', seq: 29 },
        'mariadb-4': { role: 'replica', seq: 30 },
      },
      'wait mariadb-2 is the most advanced',
    ],
    [
      '3 of 5 (a majority) is not enough: the missing replica may hold the acknowledged write',
      { 'mariadb-1': { role: 'replica', seq: 30 }, 'mariadb-2': { role: 'replica', seq: 30 }, 'mariadb-3': { role: 'replica', seq: 29 } },
      'none only 3 of 5 nodes take part',
    ],
  ] as const)('five nodes: %s', (_what, nodes, expected) => {
    expect(drive('failover_election', 'mariadb-1', nodes as Record<string, Node>, FIVE)).toContain(expected);
  });
});

describe('the election of a node that finds no primary as it starts (start_election): it waits a grace period for every node', () => {
  test.each([
    [
      '2 of 3 run, 5 of 30 s waited: wait for the third (it may be the most advanced)', 5,
      { 'mariadb-0': { role: '', seq: 40 }, 'mariadb-1': { role: '', seq: 40 }, 'mariadb-2': { phase: 'waiting' } },
      'wait 2 of 3 nodes run; waiting up to 30s',
    ],
    [
      '2 of 3 run, the grace is over: the election among those that run', 30,
      { 'mariadb-0': { role: '', seq: 40 }, 'mariadb-1': { role: '', seq: 41 }, 'mariadb-2': { phase: 'waiting' } },
      'wait mariadb-1 is the most advanced of mariadb-0=40 mariadb-1=41',
    ],
    [
      'a silent node counts as not running', 5, { 'mariadb-0': { role: '', seq: 40 }, 'mariadb-1': { role: '', seq: 41 } },
      'wait 2 of 3 nodes run',
    ],
    [
      'every node runs: the election at once, all three vote', 0,
      { 'mariadb-0': { role: '', seq: 40 }, 'mariadb-1': { role: '', seq: 41 }, 'mariadb-2': { role: '', seq: 42 } },
      'wait mariadb-2 is the most advanced of mariadb-0=40 mariadb-1=41 mariadb-2=42',
    ],
    [
      'every node runs and this one is the most advanced: it is promoted', 0,
      { 'mariadb-0': { role: '', seq: 43 }, 'mariadb-1': { role: '', seq: 41 }, 'mariadb-2': { role: '', seq: 42 } },
      'promote this node is the most advanced',
    ],
  ] as const)('%s', (_what, waited, nodes, expected) => {
    // GIVEN this node's line first, then the peers' / WHEN it has waited `waited` s of a 30 s grace / THEN
    expect(drive(`start_election ${waited} 30`, 'mariadb-0', nodes as Record<string, Node>)).toContain(expected);
  });
});

describe('the clone source (clone_source): never a lagging or broken node while a better one exists', () => {
  test.each([
    [
      'the most advanced ready replica',
      {
        'mariadb-0': { role: 'primary', writable: 1, ready: 1, seq: 20 }, 'mariadb-1': { role: 'replica', ready: 1, seq: 19 },
        'mariadb-2': { role: 'replica', ready: 1, seq: 18 },
      },
      'mariadb-1',
    ],
    [
      'a lagging replica (not ready) is skipped for the primary',
      { 'mariadb-0': { role: 'primary', writable: 1, ready: 1, seq: 20 }, 'mariadb-1': { role: 'replica', ready: 0, lag: 90, seq: 3 } },
      'mariadb-0',
    ],
    [
      'a replica with a stopped thread is skipped',
      { 'mariadb-0': { role: 'primary', writable: 1, ready: 1, seq: 20 }, 'mariadb-2': { role: 'replica', io: 0, ready: 0, seq: 20 } },
      'mariadb-0',
    ],
    ['nothing ready: no source', { 'mariadb-0': { role: 'fenced', writable: 0, seq: 20 }, 'mariadb-2': { phase: 'waiting' } }, ''],
  ] as const)('%s', (_what, nodes, expected) => {
    expect(drive('clone_source', 'mariadb-1', nodes as Record<string, Node>)).toBe(expected);
  });
});

describe('who may acknowledge commits while a new size rolls out (may_acknowledge)', () => {
  // A node still configured with 3 peers votes without pods 3 and 4, so they must not be the only
  // ones holding an acknowledged write: they acknowledge once every answering node knows 5.
  test.each([
    [
      '3 -> 5, new pod 3 while pods 0-2 still know 3: no', 'mariadb-3', FIVE,
      { 'mariadb-3': { role: 'replica' }, 'mariadb-0': { peers: 3 }, 'mariadb-1': { peers: 3 }, 'mariadb-4': {} }, 'no',
    ],
    [
      '3 -> 5, pod 1 already updated, pod 0 not: pod 1 still may (every node knows it)', 'mariadb-1', FIVE,
      { 'mariadb-1': { role: 'replica' }, 'mariadb-0': { peers: 3 }, 'mariadb-3': {} }, 'yes',
    ],
    [
      '3 -> 5 rolled out everywhere: pod 4 may', 'mariadb-4', FIVE,
      { 'mariadb-4': { role: 'replica' }, 'mariadb-0': {}, 'mariadb-1': {}, 'mariadb-2': {}, 'mariadb-3': {} }, 'yes',
    ],
    [
      '5 -> 3, pod 2 updated to 3 peers while others still know 5: pod 2 may', 'mariadb-2', PEERS,
      { 'mariadb-2': { role: 'replica' }, 'mariadb-0': { peers: 5 }, 'mariadb-1': { peers: 5 } }, 'yes',
    ],
    [
      '5 everywhere but pod 0 does not answer (it may still know 3): pod 4 may not', 'mariadb-4', FIVE,
      { 'mariadb-4': { role: 'replica' }, 'mariadb-1': {}, 'mariadb-2': {}, 'mariadb-3': {} }, 'no',
    ],
    [
      'a 3-node cluster with a node down: pod 2 still may (ordinals below 3 are in every size)', 'mariadb-2', PEERS,
      { 'mariadb-2': { role: 'replica' }, 'mariadb-1': {} }, 'yes',
    ],
  ] as const)('%s', (_what, self, peers, nodes, expected) => {
    expect(drive('may_acknowledge && echo yes || echo no', self, nodes as Record<string, Node>, peers)).toBe(expected);
  });
});

describe('the replica a stopping primary hands over to (handover_target)', () => {
  test.each([
    [
      'the most advanced ready replica', PEERS,
      { 'mariadb-0': { role: 'primary', writable: 1, ready: 1, seq: 9 }, 'mariadb-1': { role: 'replica', ready: 1, seq: 8 }, 'mariadb-2': {
        role: 'replica', ready: 1, seq: 9,
      } },
      'mariadb-2',
    ],
    [
      'never a lagging one', PEERS,
      { 'mariadb-0': { role: 'primary', writable: 1, ready: 1, seq: 9 }, 'mariadb-1': { role: 'replica', ready: 0, seq: 9 } }, '',
    ],
    [
      '3 -> 5 rolling out: never a new pod the old nodes do not know', FIVE,
      {
        'mariadb-0': { role: 'primary', writable: 1, ready: 1, seq: 9 }, 'mariadb-1': { role: 'replica', ready: 1, seq: 8, peers: 3 },
        'mariadb-3': { role: 'replica', ready: 1, seq: 9 },
      },
      'mariadb-1',
    ],
  ] as const)('%s', (_what, peers, nodes, expected) => {
    expect(drive('handover_target', 'mariadb-0', nodes as Record<string, Node>, peers)).toBe(expected);
  });
});

describe('a fenced primary takes writes again (may_resume) only when no election can have run', () => {
  test.each([
    [
      'every node answers and both replicas still follow it: yes',
      {
        'mariadb-0': { role: 'fenced', writable: 0, seq: 9 }, 'mariadb-1': { role: 'replica', io: 1, source: 'mariadb-0', seq: 9 },
        'mariadb-2': { role: 'replica', io: 1, source: 'mariadb-0', seq: 8 },
      },
      'yes',
    ],
    [
      'a replica lost its IO thread (it may vote): no',
      {
        'mariadb-0': { role: 'fenced', writable: 0, seq: 9 }, 'mariadb-1': { role: 'replica', io: 0, source: 'mariadb-0', seq: 9 },
        'mariadb-2': { role: 'replica', io: 1, source: 'mariadb-0', seq: 8 },
      },
      'no',
    ],
    [
      'another primary: no',
      { 'mariadb-0': { role: 'fenced', writable: 0, seq: 9 }, 'mariadb-1': { role: 'primary', writable: 1, seq: 10 }, 'mariadb-2': {
        role: 'replica', io: 1, source: 'mariadb-1', seq: 8,
      } },
      'no',
    ],
    [
      'a node does not answer: no',
      { 'mariadb-0': { role: 'fenced', writable: 0, seq: 9 }, 'mariadb-1': { role: 'replica', io: 1, source: 'mariadb-0', seq: 9 } }, 'no',
    ],
    [
      'a replica that follows someone else: no',
      {
        'mariadb-0': { role: 'fenced', writable: 0, seq: 9 }, 'mariadb-1': { role: 'replica', io: 1, source: 'mariadb-0', seq: 9 },
        'mariadb-2': { role: 'replica', io: 1, source: 'mariadb-1', seq: 8 },
      },
      'no',
    ],
  ] as const)('%s', (_what, nodes, expected) => {
    expect(drive('may_resume && echo yes || echo no', 'mariadb-0', nodes as Record<string, Node>)).toBe(expected);
  });
});

describe('peer state lines are validated before the decisions use them (valid_state_line)', () => {
  /** Whether the line passes as the answer of pod `pod`. */
  function valid(line: string, pod = 'mariadb-1'): boolean {
    const r = spawnSync('bash', ['-c', 'source "$0/repl-lib.sh"; valid_state_line "$1" "$2"', DIR, line, pod],
      { env: { PATH: process.env.PATH, POD_NAME: 'mariadb-0', NODE_PEERS: PEERS } });
    return r.status === 0;
  }
  const replica: Node = { role: 'replica', io: 1, sql: 1, lag: 0, ready: 1, source: 'mariadb-0', seq: 57 };
  const made = drive('cat', 'mariadb-0', { 'mariadb-1': replica });
  test.each([
    ['a line made by state_line', made, true],
    ['a GTID list of two domains', made.replace(' gtid= ', ' gtid=0-1-57,1-2-3 '), true],
    ['another pod\'s answer', made.replace('name=mariadb-1', 'name=mariadb-2'), false],
    ['a line cut off before peers=', made.replace(/ peers=3$/, ''), false],
    ['no phase', made.replace('phase=running ', ''), false],
    ['a role of the other topology', made.replace('role=replica', 'role=bootstrap'), false],
    ['a lag that is no number', made.replace('lag=0', 'lag=a'), false],
    ['arithmetic injection in seq', made.replace('seq=57', 'seq=PATH[$(touch${IFS}/tmp/x)]'), false],
  ])('%s', (what, line, ok) => {
    // GIVEN the line (each case but the first changes the line state_line made)
    expect(made).toMatch(/^v1 name=mariadb-1 phase=running role=replica .* peers=3$/);
    expect(line === made).toBe(what === 'a line made by state_line');
    // WHEN validated as mariadb-1's answer / THEN
    expect(valid(line)).toBe(ok);
  });
});
