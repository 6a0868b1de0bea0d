import { execFileSync } from 'child_process';
import { join } from 'path';

// The election (scripts/node/galera-election.sh), driven directly: state lines in (this node
// first, then the peers that answered), "ACTION reason" out. The lines are made by the scripts'
// own formatter (state_line in galera-lib.sh), as the pods make them. The cluster tests run the
// same code for real.
const NODE = join(__dirname, '..', '..', 'scripts', 'node');
const EXPECTED = 'galera-0,galera-1,galera-2';
const X = 'aaaaaaaa-1111-11f1-8000-000000000001';
const Y = 'bbbbbbbb-2222-11f1-8000-000000000002';
const ZERO = '00000000-0000-0000-0000-000000000000';

interface Node {
  phase?: string; uuid?: string; seqno?: number; safe?: 0 | 1; empty?: 0 | 1; primary?: 0 | 1; role?: string; fresh?: 0 | 1;
  peers?: number; view?: number; forced?: string; sst?: 'tls' | 'plain' | ''; donates?: 'stream' | ''; leaving?: 0 | 1;
}

/** The state_line arguments of a node: what a waiting, refused or running node publishes. */
function fields(n: Node): string[] {
  const phase = n.phase ?? 'waiting';
  const f: Record<string, string | number> = { phase };
  if (phase === 'running') Object.assign(f, {
    primary: n.primary ?? 1, uuid: n.uuid ?? X, seqno: n.seqno ?? 0, local_state: 4, fresh: n.fresh ?? 0, forced: n.forced ?? '',
  });
  else Object.assign(f, {
    uuid: n.empty ? ZERO : (n.uuid ?? X), seqno: n.empty ? -1 : (n.seqno ?? 0), safe: n.safe ?? 0, empty: n.empty ?? 0,
    forced: n.forced ?? '',
  });
  if (n.role) f.role = n.role;
  if (n.sst !== undefined) f.sst = n.sst;
  if (n.view !== undefined) f.view = n.view;
  if (n.leaving !== undefined) f.leaving = n.leaving;
  if (n.donates !== undefined) f.donates = n.donates;
  return Object.entries(f).map(([k, v]) => `${k}=${v}`);
}

/**
 * Formats every node's line with state_line (each as its own pod, configured for `peers` nodes)
 * and runs decide as pod `self`, with the given peers answering (absent = unreachable).
 */
const DRIVER = `source "$1/galera-lib.sh"; source "$1/galera-election.sh"; expected=$2; shift 2
for spec in "$@"; do
  IFS='|' read -r name peers rest <<<"$spec"; read -r -a kv <<<"$rest"
  POD_NAME=$name NODE_PEERS=$(for ((i = 0; i < peers; i++)); do printf 'p%d,' "$i"; done) state_line "\${kv[@]}"
done | { POD_NAME=$self decide "$expected"; }`;

function decide(self: string, nodes: Record<string, Node>, expected = EXPECTED): { action: string; reason: string } {
  const order = [self, ...Object.keys(nodes).filter((n) => n !== self)];
  const specs = order.map((name) => `${name}|${nodes[name].peers ?? 3}|${fields(nodes[name]).join(' ')}`);
  const out = execFileSync('bash', ['-c', DRIVER, 'decide', NODE, expected, ...specs], {
    encoding: 'utf8', env: { PATH: process.env.PATH, POD_NAME: self, self, POD_NAMESPACE: 'db', NODE_PEERS: 'unused' },
  }).trim();
  const [action, ...rest] = out.split(' ');
  return { action, reason: rest.join(' ') };
}

describe('first bootstrap', () => {
  test('all nodes empty and reachable: only galera-0 bootstraps', () => {
    // GIVEN three empty nodes
    const nodes = { 'galera-0': { empty: 1 as const }, 'galera-1': { empty: 1 as const }, 'galera-2': { empty: 1 as const } };
    // WHEN each decides / THEN exactly one bootstraps
    expect(decide('galera-0', nodes).action).toBe('bootstrap');
    expect(decide('galera-1', nodes)).toEqual({ action: 'wait', reason: expect.stringContaining('waiting for galera-0 to bootstrap') });
    expect(decide('galera-2', nodes).action).toBe('wait');
  });

  test('an empty node does not bootstrap while a peer is unreachable', () => {
    const result = decide('galera-0', { 'galera-0': { empty: 1 }, 'galera-1': { empty: 1 } });
    expect(result.action).toBe('wait');
    expect(result.reason).toContain('waiting for galera-2');
  });
});

describe('a running cluster', () => {
  test('a node with data of the same cluster joins the Primary component', () => {
    const result = decide('galera-1', { 'galera-1': { seqno: 5 }, 'galera-0': { phase: 'running', primary: 1, seqno: 90 } });
    expect(result.action).toBe('join');
    expect(result.reason).toContain(`joining from local position ${X}:5`);
  });

  test('a wiped node joins by SST and never bootstraps, pod 0 included', () => {
    const result = decide('galera-0', { 'galera-0': { empty: 1 }, 'galera-2': { phase: 'running', primary: 1 } });
    expect(result.action).toBe('join');
    expect(result.reason).toContain('full state transfer');
  });

  test('an empty node joining a cluster bootstrapped moments ago joins like any other (no rsync: its donor could drop out)', () => {
    // an older peer may still say fresh=1; the decision no longer reads it
    for (const fresh of [0, 1] as const) {
      expect(decide('galera-1', { 'galera-1': { empty: 1 }, 'galera-0': { phase: 'running', fresh } }).action).toBe('join');
      expect(decide('galera-1', { 'galera-1': { seqno: 3 }, 'galera-0': { phase: 'running', fresh } }).action).toBe('join');
    }
  });

  test('a non-Primary peer is not a cluster to join', () => {
    const result = decide('galera-1', { 'galera-1': { seqno: 5 }, 'galera-0': { phase: 'running', primary: 0 } });
    expect(result.action).not.toBe('join');
  });

  test('data of another cluster is refused, never merged', () => {
    const result = decide('galera-2', { 'galera-2': { uuid: Y, seqno: 500 }, 'galera-0': { phase: 'running', primary: 1, uuid: X } });
    expect(result.action).toBe('refuse');
    expect(result.reason).toContain(`belongs to cluster ${Y}`);
  });

  test('a starting peer is waited for', () => {
    const result = decide('galera-1', {
      'galera-1': { seqno: 5 }, 'galera-0': { phase: 'starting', role: 'bootstrap' }, 'galera-2': { seqno: 5 },
    });
    expect(result).toEqual({ action: 'wait', reason: expect.stringContaining('galera-0 is starting (bootstrap)') });
  });
});

describe('full crash, every node reachable', () => {
  const nodes = { 'galera-0': { seqno: 40 }, 'galera-1': { seqno: 42 }, 'galera-2': { seqno: 41 } };
  test('the most advanced node bootstraps, whatever its ordinal', () => {
    expect(decide('galera-1', nodes).action).toBe('bootstrap');
    expect(decide('galera-0', nodes)).toEqual({
      action: 'wait', reason: expect.stringContaining(`galera-1 has the most advanced position ${X}:42`),
    });
    expect(decide('galera-2', nodes).action).toBe('wait');
  });

  test('equal positions: the safe_to_bootstrap node wins, then the lowest ordinal', () => {
    const safe = { 'galera-0': { seqno: 7 }, 'galera-1': { seqno: 7 }, 'galera-2': { seqno: 7, safe: 1 as const } };
    expect(decide('galera-2', safe).action).toBe('bootstrap');
    expect(decide('galera-0', safe).action).toBe('wait');
    const equal = { 'galera-0': { seqno: 7 }, 'galera-1': { seqno: 7 }, 'galera-2': { seqno: 7 } };
    expect(decide('galera-0', equal).action).toBe('bootstrap');
    expect(decide('galera-1', equal).action).toBe('wait');
  });

  test('an empty node waits for the nodes with data', () => {
    const mixed = { 'galera-0': { empty: 1 as const }, 'galera-1': { seqno: 3 }, 'galera-2': { seqno: 4 } };
    expect(decide('galera-0', mixed).action).toBe('wait');
    expect(decide('galera-2', mixed).action).toBe('bootstrap');
  });

  test('a foreign node is never chosen even with the highest seqno; the others elect among themselves', () => {
    const nodes2 = { 'galera-0': { seqno: 10 }, 'galera-1': { seqno: 12 }, 'galera-2': { uuid: Y, seqno: 9999 } };
    expect(decide('galera-2', nodes2).action).toBe('refuse');
    expect(decide('galera-1', nodes2).action).toBe('bootstrap');
    // once the foreign node has refused it still answers, so the others are not missing anything
    const refused = { ...nodes2, 'galera-2': { phase: 'refused', uuid: Y, seqno: 9999 } };
    expect(decide('galera-1', refused).action).toBe('bootstrap');
    expect(decide('galera-0', refused).action).toBe('wait');
  });

  test('no majority UUID: wait for a human', () => {
    const split = { 'galera-0': { seqno: 10 }, 'galera-1': { uuid: Y, seqno: 12 }, 'galera-2': { empty: 1 as const } };
    const result = decide('galera-0', split);
    expect(result.action).toBe('wait');
    expect(result.reason).toContain('disagree on the cluster UUID');
  });
});

describe('full stop or crash with a node missing', () => {
  test('after a crash nobody bootstraps; the wait names the missing node and the override', () => {
    const nodes = { 'galera-0': { seqno: 40 }, 'galera-1': { seqno: 42 } };
    for (const self of ['galera-0', 'galera-1']) {
      const result = decide(self, nodes);
      expect(result.action).toBe('wait');
      expect(result.reason).toContain('galera-2 not reachable');
      expect(result.reason).toContain('kubectl exec -n db galera-1 -c mariadb -- touch /var/lib/mysql/galera-force-bootstrap');
    }
  });

  test('the last node out of a graceful stop bootstraps without the missing node', () => {
    const nodes = { 'galera-0': { seqno: 40 }, 'galera-2': { seqno: 44, safe: 1 as const } };
    expect(decide('galera-2', nodes)).toEqual({ action: 'bootstrap', reason: expect.stringContaining('left the cluster last') });
    expect(decide('galera-0', nodes).action).toBe('wait');
  });

  test('nodes that left early cannot bootstrap when the last one out is missing', () => {
    const nodes = { 'galera-0': { seqno: 40 }, 'galera-1': { seqno: 41 } };
    expect(decide('galera-1', nodes).action).toBe('wait');
  });

  test('a scaled-up cluster counts every configured node', () => {
    const five = 'galera-0,galera-1,galera-2,galera-3,galera-4';
    const nodes = { 'galera-0': { seqno: 1, peers: 5 }, 'galera-1': { seqno: 1, peers: 5 }, 'galera-2': { seqno: 1, peers: 5 } };
    expect(decide(
      'galera-0', nodes, five,
    )).toEqual({ action: 'wait', reason: expect.stringContaining('galera-3, galera-4 not reachable') });
  });

  test('a node running outside a Primary component is named as such, not as unreachable', () => {
    const nodes = { 'galera-1': { seqno: 4 }, 'galera-0': { phase: 'running', primary: 0 as const } };
    expect(decide('galera-1', nodes).reason).toContain(
      'galera-2 not reachable; galera-0 running outside a Primary component, not yet in the election',
    );
  });

  test('during a scale-down from 5 to 3, the deleted pods are not waited for', () => {
    // GIVEN every remaining node in the election; galera-0 still has the old template (5), and
    // no node was last Primary in a component of more than 3
    const five = 'galera-0,galera-1,galera-2,galera-3,galera-4';
    const nodes = { 'galera-0': { seqno: 12, peers: 5, view: 3 }, 'galera-1': { seqno: 11, view: 2 }, 'galera-2': { seqno: 11, view: 3 } };
    // WHEN they decide / THEN the most advanced bootstraps and the others wait for it
    expect(decide('galera-0', nodes, five).action).toBe('bootstrap');
    expect(decide('galera-1', nodes)).toEqual({
      action: 'wait', reason: expect.stringContaining('galera-0 has the most advanced position'),
    });
    // AND with a last view of 4, galera-3 took part in the last Primary component: it is waited for
    const wider = { ...nodes, 'galera-2': { seqno: 11, view: 4 } };
    expect(decide(
      'galera-0', wider, five,
    )).toEqual({ action: 'wait', reason: expect.stringContaining('galera-3, galera-4 not reachable') });
    expect(decide('galera-1', wider)).toEqual({ action: 'wait', reason: expect.stringContaining('galera-3, galera-4 not reachable') });
  });
});

describe('found by review', () => {
  test('a node configured for 3 still expects the 5 that a scaled-up peer reports', () => {
    // GIVEN a full crash in the middle of a 3 -> 5 rollout: galera-3 answers with peers=5
    // (it joined, so every node's last Primary component had 4 or more members)
    const nodes = {
      'galera-0': { seqno: 99, peers: 3, view: 4 }, 'galera-1': { seqno: 100, peers: 3, view: 4 },
      'galera-2': { seqno: 99, peers: 3, view: 4 }, 'galera-3': { seqno: 101, peers: 5, view: 4 },
    };
    // THEN galera-1 does not bootstrap on its 3-node view, and galera-4 is waited for
    expect(decide('galera-1', nodes)).toEqual({ action: 'wait', reason: expect.stringContaining('galera-4 not reachable') });
    expect(decide('galera-3', nodes, 'galera-0,galera-1,galera-2,galera-3,galera-4').action).toBe('wait');
  });

  test('data beyond the position a cluster was force-bootstrapped from is refused, not mixed in', () => {
    const running = { phase: 'running', primary: 1 as const, seqno: 60, forced: `${X}:48` };
    expect(decide('galera-2', { 'galera-2': { seqno: 50 }, 'galera-1': running }).action).toBe('refuse');
    expect(decide('galera-2', { 'galera-2': { seqno: 48 }, 'galera-1': running }).action).toBe('join');
    expect(decide('galera-2', { 'galera-2': { empty: 1 }, 'galera-1': running }).action).toBe('join');
    // a node that has been Primary in the forced cluster carries the same marker: its later writes are that cluster's
    expect(decide('galera-2', { 'galera-2': { seqno: 55, forced: `${X}:48` }, 'galera-1': running }).action).toBe('join');
  });

  test('a volume with a zero UUID (interrupted SST or first start) has no vote and is never a candidate', () => {
    const nodes = { 'galera-0': { seqno: 5 }, 'galera-1': { uuid: ZERO, seqno: -1 }, 'galera-2': { uuid: ZERO, seqno: -1 } };
    expect(decide('galera-0', nodes).action).toBe('bootstrap');
    expect(decide('galera-1', nodes).action).toBe('wait');
  });
});

describe('peer state lines are validated before the election uses them', () => {
  const LIB = join(__dirname, '..', '..', 'scripts', 'node', 'galera-lib.sh');
  function valid(line: string, pod = 'galera-1'): boolean {
    try {
      execFileSync('bash', ['-c', 'source "$0"; valid_state_line "$1" "$2"', LIB, line, pod],
        { env: { PATH: process.env.PATH, POD_NAME: 'galera-0', NODE_PEERS: 'x' } });
      return true;
    } catch {
      return false;
    }
  }
  test.each([
    ['a complete waiting line', `v1 name=galera-1 phase=waiting uuid=${X} seqno=45 safe=0 empty=0 peers=3`, true],
    [
      'a running line with an empty forced field',
      `v1 name=galera-1 phase=running primary=1 uuid=${X} seqno=7 local_state=4 fresh=0 forced= peers=3`, true,
    ],
    [
      'arithmetic injection in seqno',
      `v1 name=galera-1 phase=waiting uuid=${X} seqno=PATH[$(touch${'$'}{IFS}/tmp/x)] safe=0 empty=0 peers=3`, false,
    ],
    ['another pod\'s answer', `v1 name=galera-2 phase=waiting uuid=${X} seqno=45 safe=0 empty=0 peers=3`, false],
    ['a truncated uuid', 'v1 name=galera-1 phase=waiting uuid=aaaaaaaa-1111 seqno=4 peers=3', false],
    ['a line cut off after seqno=4 (of 45)', `v1 name=galera-1 phase=waiting uuid=${X} seqno=4`, false],
    ['no phase', `v1 name=galera-1 uuid=${X} seqno=4 peers=3`, false],
    ['a non-binary flag', `v1 name=galera-1 phase=waiting uuid=${X} seqno=4 safe=2 empty=0 peers=3`, false],
    ['a running line that donates the stream method', `v1 name=galera-1 phase=running primary=1 uuid=${X} seqno=7 donates=stream peers=3`,
      true],
    ['a method this version does not know', `v1 name=galera-1 phase=running primary=1 uuid=${X} seqno=7 donates=rsync peers=3`, false],
  ])('%s', (_what, line, ok) => {
    expect(valid(line as string)).toBe(ok);
  });
});

/** Formats the nodes' lines (each for 3 peers) and runs a driver script as pod `self`. */
function drive(script: string, self: string, nodes: Record<string, Node>, env: Record<string, string> = {}, expected = EXPECTED): string {
  const specs = Object.keys(nodes).map((name) => `${name}|${nodes[name].peers ?? 3}|${fields(nodes[name]).join(' ')}`);
  return execFileSync('bash', ['-c', script, 'drive', NODE, expected, ...specs], {
    encoding: 'utf8', env: { PATH: process.env.PATH, POD_NAME: self, self, POD_NAMESPACE: 'db', NODE_PEERS: 'unused', ...env },
  }).trim();
}

describe('the state transfer of a join (sst_plan) while a rollout changes TLS', () => {
  const PLAN_DRIVER = DRIVER.replace('decide "$expected"', 'sst_plan');
  /** sst_plan as pod galera-2 with NODE_TLS=tls, the peers running and Primary with the given sst modes. */
  function plan(tls: 'on' | 'transitional' | 'off', peers: Record<string, Node['sst']>): string {
    const nodes: Record<string, Node> = { 'galera-2': { seqno: 5 } };
    for (const [name, sst] of Object.entries(peers)) nodes[name] = { phase: 'running', primary: 1, seqno: 9, sst };
    return drive(PLAN_DRIVER, 'galera-2', nodes, { NODE_TLS: tls });
  }

  test.each([
    ['every node TLS: TLS, any donor', 'on', { 'galera-0': 'tls', 'galera-1': 'tls' }, 'tls'],
    ['TLS off everywhere: plain, any donor', 'off', { 'galera-0': 'plain', 'galera-1': 'plain' }, 'plain'],
    ['an older peer without the key counts as plain', 'transitional', { 'galera-0': '', 'galera-1': 'plain' }, 'plain'],
    [
      'second rollout, first node: every donor is still transitional: plain from them', 'on', { 'galera-0': 'plain', 'galera-1': 'plain' },
      'plain galera-0,galera-1',
    ],
    [
      'second rollout, second node: TLS from the node that already has it', 'on', { 'galera-0': 'plain', 'galera-1': 'tls' },
      'tls galera-1',
    ],
    [
      'a transitional node restarting among TLS nodes receives with TLS', 'transitional', { 'galera-0': 'tls', 'galera-1': 'tls' },
      'tls galera-0,galera-1',
    ],
    [
      'a transitional node among mixed nodes: plain from the transitional one', 'transitional', { 'galera-0': 'tls', 'galera-1': 'plain' },
      'plain galera-1',
    ],
    ['TLS off has no certificate: it keeps plain', 'off', { 'galera-0': 'tls', 'galera-1': 'tls' }, 'plain'],
  ] as const)('%s', (_name, tls, peers, expected) => {
    // GIVEN the running peers' modes / WHEN galera-2 plans its join / THEN
    expect(plan(tls, peers as Record<string, Node['sst']>)).toBe(expected);
  });

  test('peers that are not running and Primary are no donors', () => {
    const nodes: Record<string, Node> = {
      'galera-2': {}, 'galera-0': { phase: 'running', primary: 1, sst: 'tls' }, 'galera-1': { phase: 'waiting', sst: 'plain' },
    };
    expect(drive(PLAN_DRIVER, 'galera-2', nodes, { NODE_TLS: 'on' })).toBe('tls');
  });
});

describe('the method of a join\'s state transfer (sst_method) while an upgrade rolls out', () => {
  const METHOD_DRIVER = DRIVER.replace('decide "$expected"', 'sst_method');
  /** sst_method as an empty galera-2, the other nodes as given. */
  const method = (peers: Record<string, Node>) => drive(METHOD_DRIVER, 'galera-2', { 'galera-2': { empty: 1 }, ...peers });

  const streaming: Node = { phase: 'running', donates: 'stream' };
  test.each([
    ['every running node donates stream: stream', { phase: 'running', donates: 'stream' }, 'stream'],
    ['a running node of an older version (no donates): mariabackup, which it can donate', { phase: 'running' }, 'mariabackup'],
    ['an older node that is not Primary donates nothing: stream', { phase: 'running', primary: 0 }, 'stream'],
    ['an older node still waiting donates nothing: stream', { seqno: 4 }, 'stream'],
  ] as const)('%s', (_name, other, expected) => {
    // GIVEN galera-0 running with this version, galera-1 as given / WHEN galera-2 plans its join / THEN
    expect(method({ 'galera-0': streaming, 'galera-1': other as Node })).toBe(expected);
  });
});

describe('the watchdog: does a restart into the election help a node outside a Primary component (rejoin_helps)', () => {
  // This node's line (running, not Primary) first, then the peers', formatted by state_line as the pods format them.
  const REJOIN_DRIVER = DRIVER.replace(
    '{ POD_NAME=$self decide "$expected"; }', '{ POD_NAME=$self rejoin_helps "$expected" && echo restart || echo stay; }',
  );
  const verdict = (peers: Record<string, Node>, self: Node = {}, name = 'galera-1', expected = EXPECTED) =>
    drive(REJOIN_DRIVER, name, { [name]: { phase: 'running', primary: 0, ...self }, ...peers }, {}, expected);

  test.each([
    // a second joiner's view change can break an IST ("IST didn't contain all write sets"):
    // mariadbd stays up, Disconnected, next to the Primary it should join again
    [
      'a peer is running and Primary (a join that failed after its state transfer)',
      { 'galera-2': { phase: 'running', primary: 1, role: 'bootstrap' }, 'galera-0': { phase: 'running', primary: 1, role: 'join' } },
      'restart',
    ],
    ['one Primary peer, the other unreachable', { 'galera-2': { phase: 'running', primary: 1, role: 'join' } }, 'restart'],
    ['every other node waits in the election (they need this vote)', { 'galera-0': { seqno: 5 }, 'galera-2': { seqno: 7 } }, 'restart'],
    ['one waits, one refused its data', { 'galera-0': { seqno: 5 }, 'galera-2': { phase: 'refused', uuid: Y } }, 'restart'],
    [
      'the peers run but are not Primary (the last component restores itself)',
      { 'galera-0': { phase: 'running', primary: 0 }, 'galera-2': { phase: 'running', primary: 0 } }, 'stay',
    ],
    // a graceful leave under load split the others into non-Primary fragments; the leaver
    // restarted, so their component can never be whole again
    [
      'one peer waits, the other runs but is not Primary', { 'galera-0': { seqno: 5 }, 'galera-2': { phase: 'running', primary: 0 } },
      'restart',
    ],
    [
      'one peer refused its data, the other runs but is not Primary (nobody needs a vote)',
      { 'galera-0': { phase: 'refused', uuid: Y }, 'galera-2': { phase: 'running', primary: 0 } }, 'stay',
    ],
    // this pod was started with 3 replicas; the answers say 5 are configured now
    [
      'during a scale-up to 5 whose new pods joined (view 5), two peers waiting of the four are not all',
      { 'galera-0': { seqno: 5, peers: 5, view: 5 }, 'galera-2': { seqno: 7, peers: 5, view: 5 } }, 'stay', { view: 5 },
    ],
    // new pods that never were in a Primary component hold nothing: silent, they need no vote
    [
      'during a scale-up to 5 whose new pods never joined (no view beyond 3), the old three answer and one waits',
      { 'galera-0': { seqno: 5, peers: 5, view: 3 }, 'galera-2': { seqno: 7, peers: 3, view: 3 } }, 'restart', { view: 3 },
    ],
    ['after a scale-up to 5, every other node answers and one waits', {
      'galera-0': { seqno: 5, peers: 5, view: 5 }, 'galera-2': { phase: 'running', primary: 0, peers: 5, view: 5 },
      'galera-3': { phase: 'running', primary: 0, peers: 5, view: 5 }, 'galera-4': { phase: 'running', primary: 0, peers: 5, view: 5 },
    }, 'restart', { view: 5 }],
    ['one peer waits, the other is unreachable', { 'galera-0': { seqno: 5 } }, 'stay'],
    ['no peer answers', {}, 'stay'],
  ] as const)('%s', (_what, peers, expected, ...self: Node[]) => {
    // (self as a rest parameter: jest reads a fourth named parameter as a done callback)
    // GIVEN the peers' state lines / WHEN the watchdog asks / THEN
    expect(verdict(peers as Record<string, Node>, self[0] ?? {})).toBe(expected);
  });

  test('during a scale-down from 5 to 3, a pod of the old template restarts into the election: the deleted pods need no vote', () => {
    // GIVEN galera-0 still configured for 5 (the rollout updates it last), non-Primary; galera-1
    // (new template) waits in the election, galera-2 (new template) runs non-Primary; galera-3
    // and galera-4 were deleted, after a graceful leave (every node's last Primary view: 3 or less)
    const five = 'galera-0,galera-1,galera-2,galera-3,galera-4';
    const peers: Record<string, Node> = { 'galera-1': { seqno: 9, view: 3 }, 'galera-2': { phase: 'running', primary: 0, view: 2 } };
    // WHEN its watchdog asks / THEN it restarts; so does galera-2
    expect(verdict(peers, { peers: 5, view: 3 }, 'galera-0', five)).toBe('restart');
    expect(verdict(
      { 'galera-0': { phase: 'running', primary: 0, peers: 5, view: 3 }, 'galera-1': { seqno: 9, view: 3 } }, { view: 2 }, 'galera-2',
    )).toBe('restart');
    // AND had galera-3 been in the last Primary component (view 4), its silence would count
    expect(verdict({ ...peers, 'galera-1': { seqno: 9, view: 4 } }, { peers: 5, view: 3 }, 'galera-0', five)).toBe('stay');
  });
});

describe('the watchdog: is a node inside a Primary component stuck desynced (desync_unexplained)', () => {
  const verdict = (localState: number, size: number, desync: string, sstRunning: 0 | 1) => execFileSync('bash', ['-c',
    'source "$1/galera-lib.sh"; source "$1/galera-election.sh"; shift; desync_unexplained "$@" && echo restart || echo stay',
    'drive', NODE, String(localState), String(size), desync, String(sstRunning)],
  { encoding: 'utf8', env: { PATH: process.env.PATH, POD_NAME: 'galera-1', POD_NAMESPACE: 'db', NODE_PEERS: 'unused' } }).trim();

  test.each([
    // Galera refused the donor's "SST sent" because a view change took it out of the Primary
    // component during the transfer; back in it, the node stays Donor/Desynced for good
    ['Donor/Desynced with Synced peers, no transfer, wsrep_desync OFF', 2, 3, 'OFF', 0, 'restart'],
    ['the same in a cluster of two', 2, 2, 'OFF', 0, 'restart'],
    ['a transfer is running (an SST script under mariadbd)', 2, 3, 'OFF', 1, 'stay'],
    ['an operator set wsrep_desync=ON', 2, 3, 'ON', 0, 'stay'],
    ['a lone node (no peer to resync from)', 2, 1, 'OFF', 0, 'stay'],
    ['Synced', 4, 3, 'OFF', 0, 'stay'],
    ['Joined (catching up after its own transfer)', 3, 3, 'OFF', 0, 'stay'],
    ['Joiner', 1, 3, 'OFF', 1, 'stay'],
  ] as const)('%s', (_what, localState, size, desync, sst, expected) => {
    // GIVEN the node's wsrep status / WHEN the watchdog asks / THEN
    expect(verdict(localState, size, desync, sst)).toBe(expected);
  });
});

describe('leaving one at a time (leave_turn)', () => {
  // This node's line first (its own flag raised), then the peers that answered.
  const TURN_DRIVER = DRIVER.replace('{ POD_NAME=$self decide "$expected"; }', '{ POD_NAME=$self leave_turn; }');
  const turn = (self: string, leaving: readonly string[], others: readonly string[] = []) => drive(TURN_DRIVER, self, {
    [self]: { phase: 'running', primary: 1, leaving: 1 },
    ...Object.fromEntries(others.map((n) => [n, { phase: 'running', primary: 1, leaving: 0 as const }])),
    ...Object.fromEntries(leaving.map((n) => [n, { phase: 'running', primary: 1, leaving: 1 as const }])),
  });

  const THREE = ['galera-0', 'galera-1', 'galera-2'];
  test.each([
    ['no other member leaves (a rolling update)', 'galera-2', [], ['galera-0', 'galera-1'], 'go'],
    ['a scale-down from 5: galera-4 keeps its flag up while galera-3 steps back', 'galera-4', ['galera-3'], THREE, 'wait galera-3'],
    ['a scale-down from 5: galera-4 goes once galera-3 stepped back', 'galera-4', [], [...THREE, 'galera-3'], 'go'],
    ['a scale-down from 5: galera-3 yields to galera-4', 'galera-3', ['galera-4'], THREE, 'yield galera-4'],
    ['a full stop: galera-1 yields to galera-2 only', 'galera-1', ['galera-0', 'galera-2'], [], 'yield galera-2'],
    ['a full stop: galera-2 waits for the lower ones to step back', 'galera-2', ['galera-0', 'galera-1'], [], 'wait galera-0 galera-1'],
    ['a peer that does not answer is not waited for', 'galera-0', [], [], 'go'],
  ] as const)('%s', (_what, self, leaving, others, expected) => {
    // GIVEN the peers' flags / WHEN this node asks for its turn / THEN
    expect(turn(self, leaving, others)).toBe(expected);
  });

  test('a line of an older version (no leaving= key) counts as not leaving', () => {
    // GIVEN galera-4 answering without the key
    const script = 'source "$1/galera-lib.sh"; source "$1/galera-election.sh"; printf "%s\\n" "$2" "$3" | leave_turn';
    const lines = ['v1 name=galera-3 phase=running leaving=1 peers=5', 'v1 name=galera-4 phase=running primary=1 peers=5'];
    const out = execFileSync('bash', ['-c', script, 'turn', NODE, ...lines],
    { encoding: 'utf8', env: { PATH: process.env.PATH, POD_NAME: 'galera-3', NODE_PEERS: 'unused' } }).trim();
    // WHEN / THEN galera-3 goes
    expect(out).toBe('go');
  });

  /**
   * Every interleaving of nodes that get SIGTERM together, running leave_in_turn's loop (raise
   * the flag; read each peer's flag, one read per step; then act on leave_turn's answer: go,
   * yield = lower the flag, wait = keep it; with the flag lowered, raise it again unless told to
   * yield, and read again before acting) with the decisions of the script's own leave_turn. A
   * node that went stays in the view with its flag up (its leave takes a while), then is gone
   * and reads as not leaving. THEN two nodes never leave at the same time, and from every state
   * reached every node can still leave.
   */
  test.each([[['galera-3', 'galera-4']], [THREE]])('nodes %j get SIGTERM together: never two leaves at once, each one leaves', (names) => {
    // GIVEN leave_turn's answer for every combination of flags the others can show
    const answer = new Map<string, string>();
    for (const self of names) {
      const others = names.filter((n) => n !== self);
      for (let mask = 0; mask < 1 << others.length; mask++) {
        const up = others.filter((_n, k) => mask & (1 << k));
        answer.set(`${self}:${up.join(',')}`, turn(self, up, others.filter((n) => !up.includes(n))).split(' ')[0]);
      }
    }
    // each node: pc 0 raise, 1..n-1 reading peer k-1, 'leaving' (went, flag up), 'gone'
    type P = { pc: number | 'leaving' | 'gone'; flag: 0 | 1; seen: number[] };
    const n = names.length;
    const key = (ps: P[]) => JSON.stringify(ps);
    const flagOf = (ps: P[], j: number) => (ps[j].pc === 'gone' ? 0 : ps[j].flag);
    const step = (ps: P[], i: number): P[] | null => {
      const p = ps[i];
      const next = ps.map((q) => ({ ...q, seen: [...q.seen] }));
      const q = next[i];
      if (p.pc === 'gone') return null;
      if (p.pc === 'leaving') { q.pc = 'gone'; return next; }
      if (p.pc === 0) { q.flag = 1; q.pc = 1; q.seen = []; return next; }
      const others = [...Array(n).keys()].filter((j) => j !== i);
      if (q.seen.length < others.length) { q.seen.push(flagOf(ps, others[q.seen.length])); return next; }
      const up = others.filter((_j, k) => q.seen[k] === 1).map((j) => names[j]);
      const a = answer.get(`${names[i]}:${up.join(',')}`)!;
      q.seen = [];
      if (p.flag === 0) { if (a !== 'yield') q.flag = 1; return next; }
      if (a === 'go') q.pc = 'leaving';
      else if (a === 'yield') q.flag = 0;
      return next;
    };
    // WHEN every interleaving is explored
    const start: P[] = names.map(() => ({ pc: 0, flag: 0, seen: [] }));
    const seen = new Map<string, P[]>([[key(start), start]]);
    const edges = new Map<string, string[]>();
    const queue = [start];
    while (queue.length > 0) {
      const ps = queue.shift()!;
      // THEN never two nodes leaving together
      expect(ps.filter((p) => p.pc === 'leaving').length).toBeLessThanOrEqual(1);
      const outs: string[] = [];
      for (let i = 0; i < n; i++) {
        const nx = step(ps, i);
        if (!nx) continue;
        const k = key(nx);
        outs.push(k);
        if (!seen.has(k)) { seen.set(k, nx); queue.push(nx); }
      }
      edges.set(key(ps), outs);
    }
    // AND from every state reached, the state where all are gone is reachable
    const done = key(names.map(() => ({ pc: 'gone', flag: 1, seen: [] })));
    const canFinish = new Set<string>([done]);
    for (let changed = true; changed;) {
      changed = false;
      for (const [k, outs] of edges) if (!canFinish.has(k) && outs.some((o) => canFinish.has(o))) { canFinish.add(k); changed = true; }
    }
    expect([...seen.keys()].filter((k) => !canFinish.has(k))).toEqual([]);
    expect(seen.size).toBeGreaterThan(10);
  });
});
