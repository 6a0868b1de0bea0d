import { spawnSync } from 'child_process';
import { existsSync } from 'fs';

/**
 * The ProxySQL binary the tests and the benchmark run: $PROXYSQL_BIN, else a `proxysql` on the
 * PATH (the vendor's packages install /usr/bin/proxysql). No registry these machines reach ships
 * ProxySQL; without a binary the ProxySQL tests are skipped loudly, and under CI=true they fail.
 */
export function proxysqlBinary(): { path?: string; version?: string; problem?: string } {
  const candidates = [
    process.env.PROXYSQL_BIN, spawnSync('bash', ['-c', 'command -v proxysql'], { encoding: 'utf8' }).stdout.trim(),
  ].filter((p): p is string => !!p);
  for (const path of candidates) {
    if (!existsSync(path)) return { problem: `PROXYSQL_BIN=${path} does not exist` };
    const r = spawnSync(path, ['--version'], { encoding: 'utf8', timeout: 10_000 });
    const version = /ProxySQL version ([0-9.]+)/.exec(`${r.stdout}${r.stderr}`)?.[1];
    if (!version) return {
      problem: `${path} --version did not print a ProxySQL version: ${(r.stderr || r.stdout || String(r.error)).trim().slice(0, 200)}`,
    };
    return { path, version };
  }
  return { problem: 'no ProxySQL binary: set PROXYSQL_BIN to a ProxySQL 2.6 or 2.7 server binary (the vendor\'s packages install '
    + '/usr/bin/proxysql)' };
}

/** `describe` when a binary exists; otherwise a loud skip, or a failing test under CI=true. */
export function describeWithProxySql(name: string, fn: (bin: string) => void): void {
  const bin = proxysqlBinary();
  if (bin.path) {
    describe(name, () => fn(bin.path!));
    return;
  }
  if (process.env.CI === 'true') {
    describe(name, () => {
      test('a ProxySQL binary is available (CI=true requires one)', () => {
        throw new Error(`${bin.problem}`);
      });
    });
    return;
  }
  console.warn(`\n*** SKIPPED: ${name}\n*** ${bin.problem}\n`);
  describe.skip(name, () => fn(''));
}
