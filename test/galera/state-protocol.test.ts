import { execFileSync } from 'child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';

// The state protocol of docs/galera.md: the key table there is the specification. Every state
// line the node scripts can write is produced by the scripts' own functions and must parse
// under that table (and under the scripts' own validator).
const ROOT = join(__dirname, '..', '..');
const NODE = join(ROOT, 'scripts', 'node');
const COMMON = join(ROOT, 'scripts', 'common');
const UUID = 'aaaaaaaa-1111-11f1-8000-000000000001';

interface KeySpec { key: string; pattern: RegExp }

/** The key table of docs/galera.md, in order: `| \`key\` | \`regex\` | ...`. */
function specifiedKeys(): KeySpec[] {
  const doc = readFileSync(join(ROOT, 'docs', 'galera.md'), 'utf8');
  const table = doc.slice(doc.indexOf('| key | values |')).split('\n\n')[0];
  const rows = table.split('\n').slice(2);
  return rows.map((row) => {
    const cells = row.split(/(?<!\\)\|/).map((c) => c.trim());
    const key = /^`([a-z_]+)`$/.exec(cells[1])![1];
    const pattern = /^`(.*)`$/.exec(cells[2])![1].replace(/\\\|/g, '|');
    return { key, pattern: new RegExp(`^(?:${pattern})$`) };
  });
}

/** Parses a line exactly as the specification says: v1, then every key, in order, each value matching. */
function parseStateLine(line: string, spec: KeySpec[]): Record<string, string> {
  const words = line.split(' ');
  if (words[0] !== 'v1') throw new Error(`does not start with v1: ${line}`);
  if (words.length !== spec.length + 1) throw new Error(`has ${words.length - 1} keys, the specification ${spec.length}: ${line}`);
  const out: Record<string, string> = {};
  spec.forEach(({ key, pattern }, i) => {
    const word = words[i + 1];
    const eq = word.indexOf('=');
    const [k, v] = [word.slice(0, eq), word.slice(eq + 1)];
    if (k !== key) throw new Error(`key ${i + 1} is ${k}, the specification says ${key}: ${line}`);
    if (!pattern.test(v)) throw new Error(`${k}=${v} does not match ${pattern}: ${line}`);
    out[k] = v;
  });
  return out;
}

const dir = mkdtempSync(join(tmpdir(), 'state-protocol-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs bash code with the node scripts sourced (main is not run when a script is sourced). */
function bash(code: string, pod = 'galera-1'): string {
  return execFileSync('bash', ['-c', `set -euo pipefail; source "${NODE}/galera-start.sh"; source "${NODE}/galera-state.sh"; ${code}`], {
    encoding: 'utf8',
    env: {
      PATH: process.env.PATH, POD_NAME: pod, NODE_PEERS: 'g-0.g,g-1.g,g-2.g', NODE_RUNTIME_DIR: dir, NODE_DATA_DIR: dir,
    },
  });
}

/** Every line the scripts publish or serve, by the function that writes it. */
function writtenLines(): Record<string, string> {
  const position = `POS_UUID=${UUID} POS_SEQNO=42 POS_SAFE=1 POS_EMPTY=0`;
  // what the server's wsrep status says (printf's escapes)
  const wsrep = [
    'wsrep_cluster_status\\tPrimary', `wsrep_cluster_state_uuid\\t${UUID}`, 'wsrep_last_committed\\t77', 'wsrep_local_state\\t4',
  ].join('\\n');
  const published = (fn: string, extra = '') => bash(`${position}; ${extra} ${fn}; cat "$STATE_FILE"`).trim();
  writeFileSync(join(dir, 'galera-forced-from'), `${UUID}:40\n`);
  writeFileSync(join(dir, 'galera-last-view'), '3\n');
  const lines: Record<string, string> = {
    'publish_waiting': published('publish_waiting'),
    'publish_refused': published('publish_refused'),
    'publish_running (join)': published('publish_running', 'ACTION=join;'),
    'publish_running (bootstrap)': published('publish_running', 'ACTION=bootstrap;'),
    // mariadbd answers: the live view (wsrep_status stands in for the server)
    'galera_live_state': bash(`ACTION=join; ${position}; publish_running; wsrep_status() { printf '${wsrep}\\n'; }; galera_live_state`)
      .trim(),
    // mariadbd does not answer yet: the published running line, as starting
    'main (starting)': bash(`ACTION=join; ${position}; publish_running; main`).trim(),
    // the watchdog's own line, next to its peers' (rejoin_would_help)
    'the watchdog (rejoin_would_help)': bash('state_line phase=running primary=0').trim(),
    // a node taking its turn to leave on SIGTERM: its own line next to its peers' (leave_in_turn), and what it serves
    'leave_in_turn': bash(': >"$LEAVING_FILE"; state_line phase=running primary=1; rm -f "$LEAVING_FILE"').trim(),
    'galera_live_state (leaving)': bash(`: >"$LEAVING_FILE"; ACTION=join; ${position}; publish_running; `
      + `wsrep_status() { printf 'wsrep_cluster_status\\tPrimary\\n'; }; galera_live_state; rm -f "$LEAVING_FILE"`).trim(),
  };
  rmSync(join(dir, 'galera-forced-from'));
  rmSync(join(dir, 'galera-last-view'));
  lines['main (nothing published)'] = bash('rm -f "$STATE_FILE"; main').trim();
  lines['publish_waiting (empty volume, no forced position)'] = bash(
    'POS_UUID=$ZERO_UUID POS_SEQNO=-1 POS_SAFE=0 POS_EMPTY=1; publish_waiting; cat "$STATE_FILE"',
  ).trim();
  return lines;
}

describe('the state protocol of docs/galera.md', () => {
  const spec = specifiedKeys();

  test('the specification lists every key the formatter writes, in its order', () => {
    // GIVEN the scripts' key list / WHEN / THEN
    const lib = readFileSync(join(NODE, 'galera-lib.sh'), 'utf8');
    const keys = /^STATE_LINE_KEYS=\(([^)]*)\)$/m.exec(lib)![1].split(' ');
    expect(spec.map((s) => s.key)).toEqual(['name', ...keys, 'peers']);
  });

  test('every function that writes a state line is covered here', () => {
    // GIVEN / WHEN: the call sites of the formatter in every shipped node script (publish_state's own
    // call, which passes its arguments on, aside)
    const code = (d: string, f: string) => readFileSync(join(d, f), 'utf8').split('\n').filter((l) => !l.trim().startsWith('#'));
    const sites = [NODE, COMMON].flatMap((d) => readdirSync(d).filter((f) => f.endsWith('.sh')).flatMap((f) => code(d, f)
      .flatMap((l) => (l.match(/\b(publish_state|state_line)\b(?!\(\)| "\$@"|:)( phase=[a-z]+)?/g) ?? []).map((call) => `${f}: ${call}`))));

    // THEN: three publishers, the watchdog and the turn to leave in galera-start.sh, the live view in
    // galera-state.sh, the fallback (the defaults: phase=unknown) in node-lib.sh's serve_state
    expect(sites.sort()).toEqual([
      'galera-start.sh: publish_state phase=refused',
      'galera-start.sh: publish_state phase=running',
      'galera-start.sh: publish_state phase=waiting',
      'galera-start.sh: state_line phase=running',
      'galera-start.sh: state_line phase=running',
      'galera-state.sh: state_line phase=running',
      'node-lib.sh: state_line',
    ].sort());
  });

  const lines = writtenLines();
  test.each(Object.entries(lines))('%s writes a line that parses under the specification', (_writer, line) => {
    // GIVEN / WHEN
    const parsed = parseStateLine(line, spec);
    // THEN it is also valid for the scripts' own parser, as the pod it names
    expect(() => execFileSync('bash', ['-c', `source "${NODE}/galera-lib.sh"; valid_state_line "$1" "$2"`, 'v', line, parsed.name],
      { env: { PATH: process.env.PATH, POD_NAME: 'x', NODE_PEERS: 'x' } })).not.toThrow();
    expect(parsed.peers).toBe('3');
  });

  test('the lines carry what the election reads', () => {
    // GIVEN / WHEN / THEN
    expect(parseStateLine(lines.publish_waiting, spec)).toMatchObject({
      name: 'galera-1', phase: 'waiting', uuid: UUID, seqno: '42', safe: '1', empty: '0', forced: `${UUID}:40`, view: '3',
    });
    expect(parseStateLine(lines.publish_refused, spec)).toMatchObject({ phase: 'refused', safe: '0' });
    expect(parseStateLine(lines['publish_running (bootstrap)'], spec)).toMatchObject({ phase: 'running', role: 'bootstrap', primary: '0' });
    expect(parseStateLine(lines.galera_live_state, spec))
      .toMatchObject({ phase: 'running', role: 'join', primary: '1', seqno: '77', local_state: '4', forced: `${UUID}:40`, view: '3' });
    expect(parseStateLine(lines['the watchdog (rejoin_would_help)'], spec))
      .toMatchObject({ name: 'galera-1', phase: 'running', primary: '0', view: '3', leaving: '0' });
    expect(parseStateLine(lines.leave_in_turn, spec)).toMatchObject({ name: 'galera-1', phase: 'running', primary: '1', leaving: '1' });
    expect(parseStateLine(lines['galera_live_state (leaving)'], spec)).toMatchObject({ phase: 'running', primary: '1', leaving: '1' });
    // a running node can donate the stream state transfer (galera-sst.sh); a waiting one donates nothing
    for (const running of [lines['publish_running (bootstrap)'], lines.galera_live_state]) {
      expect(parseStateLine(running, spec).donates).toBe('stream');
    }
    expect(parseStateLine(lines.publish_waiting, spec).donates).toBe('');
    expect(parseStateLine(lines['main (starting)'], spec)).toMatchObject({ phase: 'starting', role: 'join' });
    expect(parseStateLine(lines['main (nothing published)'], spec)).toMatchObject({ phase: 'unknown', seqno: '-1' });
    expect(
      parseStateLine(lines['publish_waiting (empty volume, no forced position)'], spec),
    ).toMatchObject({ empty: '1', forced: '', view: '0' });
  });

  test('the size of the last Primary component is kept on the volume, and a damaged record reads as unknown', () => {
    // GIVEN / WHEN the watchdog records 5, then 3 / THEN the line carries the last one
    expect(bash('remember_view 5; remember_view 3; state_line phase=waiting').trim()).toMatch(/ view=3 leaving=0 follows=0 peers=3$/);
    // a record that is not a number is no size
    expect(bash('printf "x\\n" >"$VIEW_FILE"; last_view').trim()).toBe('0');
    expect(bash('remember_view 4x; last_view').trim()).toBe('0');
    bash('rm -f "$VIEW_FILE"');
  });

  test('follows= says whether the node replicates from the external source; the follower is the lowest Synced ordinal', () => {
    // GIVEN the follow file of this node's connection WHEN the line is written THEN it says follows=1, and 0 without it
    expect(bash(': >"$FOLLOW_FILE"; state_line phase=running; rm -f "$FOLLOW_FILE"').trim()).toMatch(/ follows=1 peers=3$/);
    expect(bash('state_line phase=running').trim()).toMatch(/ follows=0 peers=3$/);
    // GIVEN the peers' lines (each written by its own pod) WHEN galera-2 reads them
    const peer = (pod: string, f: string) => bash(`state_line ${f}`, pod).trim();
    const synced = 'phase=running primary=1 local_state=4';
    const read = (fn: string, lines: string[]) => bash(`${fn} <<'EOF'\n${lines.join('\n')}\nEOF`, 'galera-2').trim();
    // THEN a lower ordinal that is Synced in a Primary component hands the following to it; a Donor, a
    // non-Primary or a higher one does not
    expect(read('lower_synced_peer', [peer('galera-0', 'phase=running primary=1 local_state=2'), peer('galera-1', synced)]))
      .toBe('galera-1');
    expect(read('lower_synced_peer', [peer('galera-0', 'phase=running primary=0 local_state=4'),
      peer('galera-1', 'phase=waiting')])).toBe('');
    expect(read('lower_synced_peer', [peer('galera-3', synced)])).toBe('');
    // and the peers that say they follow are named
    const following = `${synced} follows=1`;
    expect(bash(`FOLLOW_FILE=/nonexistent; following_nodes <<'EOF'\n${peer('galera-0', synced)}\n${peer('galera-1', following)}\nEOF`)
      .trim()).toBe('galera-1');
  });

  test('the parser refuses what the specification does not allow', () => {
    const good = lines.publish_waiting;
    expect(() => parseStateLine(good.replace(' safe=1', ' safe=2'), spec)).toThrow(/safe=2 does not match/);
    expect(() => parseStateLine(good.replace(/ peers=3$/, ''), spec)).toThrow(/keys/);
    expect(() => parseStateLine(good.replace('phase=waiting role=', 'role= phase=waiting'), spec)).toThrow(/key 2 is role/);
  });
});
