import { spawn, spawnSync } from 'child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'fs';
import { AddressInfo, createServer, Server, Socket } from 'net';
import { tmpdir } from 'os';
import { join } from 'path';

const ROOT = join(__dirname, '..', '..');
const PROBE = join(ROOT, 'scripts', 'proxysql', 'proxysql-probe.sh');
const E2E = join(ROOT, 'tools', 'e2e', 'real-cluster-check.sh');
const SHELL_SCRIPTS = [
  'scripts/proxysql/proxysql-render.sh', 'scripts/proxysql/proxysql-probe.sh', 'tools/e2e/real-cluster-check.sh',
  'test/tools/fake-kubectl.sh',
];

function run(
  command: string, args: string[], env: Record<string, string>, input = '',
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env } });
    // a script that exits before reading its stdin must not fail the test with EPIPE
    child.stdin.on('error', () => undefined);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('close', (status) => resolve({ status, stdout, stderr }));
    child.stdin.end(input);
  });
}

/** A MySQL packet: 3-byte little-endian length, sequence id, payload. */
function packet(payload: Buffer, sequence = 0): Buffer {
  const header = Buffer.alloc(4);
  header.writeUIntLE(payload.length, 0, 3);
  header[3] = sequence;
  return Buffer.concat([header, payload]);
}

/** A protocol-10 handshake as ProxySQL sends it (version, thread id, scramble, capabilities, plugin). */
function greeting(version: string): Buffer {
  return Buffer.concat([
    Buffer.from([10]), Buffer.from(`${version}\0`, 'latin1'), Buffer.from([7, 0, 0, 0]), Buffer.from('abcdefgh\0'),
    Buffer.from([0xff, 0xf7, 0x21, 0x02, 0x00, 0xff, 0x81, 0x15]), Buffer.alloc(10), Buffer.from('ijklmnopqrst\0'),
    Buffer.from('mysql_native_password\0'),
  ]);
}

function errPacket(code: number, message: string): Buffer {
  const c = Buffer.alloc(2);
  c.writeUInt16LE(code);
  return Buffer.concat([Buffer.from([0xff]), c, Buffer.from(`#08004${message}`)]);
}

/** Listens on a random loopback port and runs `onConnect` for each client. */
async function fakeServer(onConnect: (socket: Socket) => void): Promise<{ port: number; server: Server }> {
  const server = createServer((socket) => {
    // the probe closes as soon as it has read the version: the rest may meet a reset
    socket.on('error', () => undefined);
    onConnect(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, server };
}

async function probe(onConnect: ((socket: Socket) => void) | null, env: Record<string, string> = {}, mode = 'readiness') {
  let port = 1; // nothing listens on port 1 without root
  let server: Server | undefined;
  if (onConnect) ({ port, server } = await fakeServer(onConnect));
  try {
    return await run('bash', [PROBE, mode], { PROXYSQL_PROBE_PORT: String(port), PROXYSQL_PROBE_TIMEOUT: '1', ...env });
  } finally {
    server?.close();
  }
}

describe('proxysql-probe.sh reads the MySQL greeting of the local ProxySQL', () => {
  const VERSION = '5.5.5-10.11.19-MariaDB';

  test('passes for a protocol-10 greeting with the configured server version', async () => {
    const r = await probe((s) => s.end(packet(greeting(VERSION))), { PROXYSQL_SERVER_VERSION: VERSION });
    expect(r).toMatchObject({ status: 0, stderr: '' });
  });

  test('passes when the greeting arrives in pieces', async () => {
    const r = await probe((s) => {
      const p = packet(greeting(VERSION));
      s.write(p.subarray(0, 3));
      setTimeout(() => s.write(p.subarray(3, 12)), 100);
      setTimeout(() => s.end(p.subarray(12)), 200);
    }, { PROXYSQL_SERVER_VERSION: VERSION });
    expect(r.status).toBe(0);
  });

  test('fails when another version answers (not the rendered configuration)', async () => {
    const r = await probe((s) => s.end(packet(greeting('8.0.11'))), { PROXYSQL_SERVER_VERSION: VERSION });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("announces server version '8.0.11', expected '5.5.5-10.11.19-MariaDB'");
  });

  test('fails with the error when ProxySQL refuses new clients (max_connections reached)', async () => {
    const r = await probe((s) => s.end(packet(errPacket(1040, 'Too many connections'))));
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('ProxySQL refuses new clients: error 1040 Too many connections');
  });

  test('liveness passes when ProxySQL refuses new clients: it is alive and serving the ones it has', async () => {
    const r = await probe((s) => s.end(packet(errPacket(1040, 'Too many connections'))), {}, 'liveness');
    expect(r.status).toBe(0);
    expect(r.stderr).toContain('alive but refusing new clients: error 1040 Too many connections');
  });

  test('liveness still fails for a hung process', async () => {
    const r = await probe(() => { /* accept, say nothing */ }, {}, 'liveness');
    expect(r.status).toBe(1);
  });

  test('an unknown mode is a usage error', async () => {
    const r = await probe(null, {}, 'sometimes');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('unknown mode sometimes');
  });

  test('fails when the process accepts the connection but never answers (hung)', async () => {
    const started = Date.now();
    const r = await probe(() => { /* accept, say nothing */ });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('no data from 127.0.0.1');
    expect(Date.now() - started).toBeLessThan(5000);
  });

  test('fails when nothing listens', async () => {
    const r = await probe(null);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('nothing accepts connections on 127.0.0.1:1');
  });

  test.each([
    ['an HTTP server', Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n'), 'not a MySQL server greeting'],
    ['a packet with sequence id 1', packet(greeting(VERSION), 1), 'has sequence id 1'],
    ['an empty close', Buffer.alloc(0), 'closed the connection during the greeting'],
  ])('fails for %s', async (_name, bytes, message) => {
    const r = await probe((s) => s.end(bytes));
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(message);
  });
});

describe('shell scripts', () => {
  const shellcheck = spawnSync('shellcheck', ['--version']);
  const available = !shellcheck.error;
  const maybe = available || process.env.CI ? test : test.skip;

  maybe('are shellcheck-clean at severity style', () => {
    if (!available) throw new Error('shellcheck is not installed (apt-get install -y shellcheck)');
    const r = spawnSync('shellcheck', ['-x', '-S', 'style', ...SHELL_SCRIPTS], { cwd: ROOT, encoding: 'utf8' });
    expect(r.stdout).toBe('');
    expect(r.status).toBe(0);
  });
});

/**
 * The e2e script needs a real cluster; here it runs against a fake kubectl that answers like a
 * cluster would, to check its own logic: the verdict, the parsing of the writers' logs, and that
 * it notices a lost write.
 */
const FAKE_KUBECTL = join(__dirname, '..', 'tools', 'fake-kubectl.sh');

describe('real-cluster-check.sh (against a fake kubectl)', () => {
  // The script sleeps WRITE_SECONDS and polls: about 10 s, but a starved machine (a niced run
  // beside the cluster suite and a benchmark) once needed more than 60 s. Only a hang should fail.
  jest.setTimeout(300_000);
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'e2e-fake-'));
    mkdirSync(join(dir, 'state'));
    mkdirSync(join(dir, 'dist'));
    writeFileSync(join(dir, 'dist', 'x.k8s.yaml'), 'kind: List\n');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const e2e = (env: Record<string, string> = {}) => run('bash', [E2E], {
    KUBECTL: FAKE_KUBECTL, FAKE_STATE: join(dir, 'state'), MANIFESTS: join(dir, 'dist'),
    WRITE_SECONDS: '2', DELETE_AFTER_SECONDS: '0', ...env,
  });

  test('passes when every acknowledged write is on every node and both writers recovered', async () => {
    const r = await e2e();
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('ProxySQL writes to galera-0');
    expect(r.stdout).toContain('PASS another pod took over the writes');
    expect(r.stdout).toContain('longest gap between acknowledged new-connection writes: 3100 ms');
    expect(r.stdout).toContain('new-connection writer: 10 acknowledged, 2 failed');
    expect(r.stdout).toContain('single-session writer: 9 acknowledged, 1 failed');
    expect(r.stdout).toMatch(/PASS galera-2 has every acknowledged session-writer row \(9 acknowledged, 0 missing\)/);
    expect(r.stdout).toContain('all checks passed');
    expect(r.status).toBe(0);
  });

  test('fails when a node lacks an acknowledged write', async () => {
    const r = await e2e({ FAKE_LOSE: '7' });
    expect(r.stdout).toMatch(/FAIL galera-1 has every acknowledged new-writer row \(10 acknowledged, 1 missing\)/);
    expect(r.stdout).toMatch(/FAIL galera-1 has every acknowledged session-writer row \(9 acknowledged, 1 missing\)/);
    expect(r.stdout).toContain('2 check(s) FAILED');
    expect(r.status).toBe(1);
  });

  test('fails when writes stalled longer than allowed', async () => {
    const r = await e2e({ MAX_STALL_SECONDS: '2' });
    expect(r.stdout).toContain('FAIL writes stalled at most 2s');
    expect(r.status).toBe(1);
  });

  test('refuses to start without a reachable cluster', async () => {
    const r = await e2e({ FAKE_NO_CLUSTER: '1' });
    expect(r.stdout).toContain('no reachable Kubernetes cluster');
    expect(r.status).toBe(1);
  });
});
