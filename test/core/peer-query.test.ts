import { execFileSync } from 'child_process';
import { join } from 'path';

// Asking the peers for their state lines (node-lib.sh: query_peer, query_peers,
// collect_peer_states), against real state servers: socat on the state port of a network
// namespace of its own (so every port is free), each serving one line as a node does.
const COMMON = join(__dirname, '..', '..', 'scripts', 'common');
const line = (pod: string) => `v1 name=${pod} phase=running role=replica peers=3`;

/**
 * Runs bash code with node-lib.sh sourced, in new network and mount namespaces where the pods'
 * names resolve (a hosts file bound over /etc/hosts) and mariadb-0 and mariadb-2 serve their
 * lines; mariadb-3's name leads to mariadb-0's server, mariadb-4's to no server.
 */
function withPeers(code: string): string {
  const script = `
    set -euo pipefail
    trap 'kill $(jobs -p) 2>/dev/null; rm -f "$hosts"' EXIT
    hosts=''
    ip link set lo up
    hosts=$(mktemp)
    printf '%s\\n' '127.0.0.10 mariadb-0.test' '127.0.0.12 mariadb-2.test' '127.0.0.10 mariadb-3.test' '127.0.0.14 mariadb-4.test' >"$hosts"
    mount --bind "$hosts" /etc/hosts
    serve() { socat -T5 TCP-LISTEN:4569,bind=$1,reuseaddr,fork SYSTEM:"echo '$2'" & }
    serve 127.0.0.10 '${line('mariadb-0')}'
    serve 127.0.0.12 '${line('mariadb-2')}'
    for ip in 127.0.0.10 127.0.0.12; do
      for _ in $(seq 100); do (exec 3<>"/dev/tcp/$ip/4569") 2>/dev/null && break; sleep 0.1; done
    done
    source ${JSON.stringify(join(COMMON, 'node-lib.sh'))}
    STATE_LINE_KEYS=(phase role)
    declare -A STATE_VALUE_PATTERNS=([role]='^(primary|replica)$')
    ${code}`;
  return execFileSync('unshare', ['--net', '--mount', 'bash', '--norc', '-c', script], {
    encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH, POD_NAME: 'mariadb-1', NODE_RUNTIME_DIR: '/tmp',
      NODE_PEERS: 'mariadb-0.test,mariadb-1.test,mariadb-2.test',
    },
  });
}

test('the state lines of the other peers, in the order of the pods, without this pod', () => {
  // GIVEN mariadb-0 and mariadb-2 serving their lines, this pod mariadb-1
  // WHEN it collects its peers' states
  const out = withPeers('collect_peer_states');
  // THEN both lines, mariadb-0 first
  expect(out).toBe(`${line('mariadb-0')}\n${line('mariadb-2')}\n`);
});

test('a reader that stops at once does not fail the pipeline under pipefail', () => {
  // GIVEN both peers answering, and a consumer that returns without reading (a decision that
  // needs no input, or one that found what it looked for)
  // WHEN collect_peer_states writes into it under set -o pipefail
  const out = withPeers('if collect_peer_states | true; then echo ok; else echo "failed: $?"; fi');
  // THEN the pipeline succeeds: the decision is the consumer's, not SIGPIPE's
  expect(out.trim()).toBe('ok');
});

test('a peer that does not answer, or answers as another pod, is left out', () => {
  // GIVEN mariadb-3's name leading to mariadb-0's server, mariadb-4's to none
  // WHEN this pod asks them, and collects the states of all five
  const out = withPeers('query_peer mariadb-3.test; query_peer mariadb-4.test; echo -; '
    + 'NODE_PEERS=mariadb-0.test,mariadb-1.test,mariadb-2.test,mariadb-3.test,mariadb-4.test; collect_peer_states');
  // THEN neither answers; the collection holds the two true lines
  expect(out).toBe(`-\n${line('mariadb-0')}\n${line('mariadb-2')}\n`);
});
