import { spawnSync } from 'child_process';
import { readFileSync } from 'fs';
import { join } from 'path';
import { DEFAULT_RCLONE_IMAGE } from '../../src/backup/backup-location';
import { DEFAULT_SERVER_VERSION, serverVersionForImage } from '../../src/core/backend';
import { DEFAULT_MARIADB_IMAGE } from '../../src/core/mariadb-cluster';
import { DEFAULT_MYSQLD_EXPORTER_IMAGE } from '../../src/monitoring/metrics-exporter';
import { DEFAULT_PROXYSQL_IMAGE } from '../../src/proxysql/proxysql';
import { proxysqlBinary } from '../cluster/proxysql/proxysql-binary';

// The default images are the versions of the programs the cluster tests run (Debian 12's
// MariaDB, rclone and mysqld_exporter, and the ProxySQL binary of PROXYSQL_BIN), so what the
// tests prove is what a user deploys. Each program is run here and its version compared with the
// tag of the default image; a newer Debian package or ProxySQL build fails this test until the
// default image follows (or the other way round).

/** The x.y.z version in a program's output, or the output itself when there is none. */
function programVersion(command: string, args: string[], pattern: RegExp): string {
  const r = spawnSync(command, args, { encoding: 'utf8', timeout: 20_000 });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  const version = pattern.exec(out)?.[1];
  if (!version) throw new Error(`${command} ${args.join(' ')} printed no version: ${(out || String(r.error)).trim().slice(0, 300)}`);
  return version;
}

/** The x.y.z of an image tag: 'docker.io/prom/mysqld-exporter:v0.14.0' -> '0.14.0'. */
function tagVersion(image: string): string {
  const tag = image.slice(image.lastIndexOf(':') + 1);
  const m = /^v?([0-9]+\.[0-9]+\.[0-9]+)$/.exec(tag);
  if (!m) throw new Error(`the default image ${image} has no x.y.z version tag`);
  return m[1];
}

/** mariadbd lives in /usr/sbin, which a non-root PATH may lack. */
const MARIADBD = spawnSync('bash', ['-c', 'command -v mariadbd || echo /usr/sbin/mariadbd'], { encoding: 'utf8' }).stdout.trim();

describe('the default images are the versions of the programs the tests run', () => {
  test.each([
    ['MariaDB', DEFAULT_MARIADB_IMAGE, () => programVersion(MARIADBD, ['--version'], /Ver ([0-9]+\.[0-9]+\.[0-9]+)-MariaDB/)],
    ['rclone', DEFAULT_RCLONE_IMAGE, () => programVersion('rclone', ['version'], /^rclone v([0-9]+\.[0-9]+\.[0-9]+)/m)],
    ['mysqld_exporter', DEFAULT_MYSQLD_EXPORTER_IMAGE, () => programVersion(
      'prometheus-mysqld-exporter', ['--version'], /mysqld_exporter, version ([0-9]+\.[0-9]+\.[0-9]+)/,
    )],
  ])('%s: the default image %s is the tested version', (_program, image, tested) => {
    // GIVEN the version of the program the cluster tests run
    const version = tested();

    // WHEN / THEN
    expect(tagVersion(image)).toBe(version);
  });

  // The ProxySQL tests are skipped loudly without a binary, and fail under CI=true
  // (test/cluster/proxysql-binary.ts); this check follows the same rule.
  const proxysql = proxysqlBinary();
  const proxysqlTest = proxysql.version || process.env.CI === 'true' ? test : test.skip;
  if (!proxysql.version && process.env.CI !== 'true') {
    // eslint-disable-next-line no-console
    console.warn(`\n*** SKIPPED: the ProxySQL image version check\n*** ${proxysql.problem}\n`);
  }
  proxysqlTest(`ProxySQL: the default image ${DEFAULT_PROXYSQL_IMAGE} is the version of PROXYSQL_BIN`, () => {
    // GIVEN the version of the ProxySQL binary the tests run (2.7.1 for a build described as 2.7.1-16-g…)
    if (!proxysql.version) throw new Error(`CI=true requires a ProxySQL binary: ${proxysql.problem}`);

    // WHEN / THEN
    expect(tagVersion(DEFAULT_PROXYSQL_IMAGE)).toBe(/^[0-9]+\.[0-9]+\.[0-9]+/.exec(proxysql.version)?.[0]);
  });

  test('the server version ProxySQL announces by default is the default image\'s', () => {
    expect(serverVersionForImage(DEFAULT_MARIADB_IMAGE)).toBe(DEFAULT_SERVER_VERSION);
  });

  test('the README\'s "tested versions" line names the default images', () => {
    const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
    const line = readme.split('\n\n').find((paragraph) => paragraph.startsWith('**Tested versions:**'))?.replace(/\n/g, ' ');
    expect(line).toBeDefined();
    for (const image of [DEFAULT_MARIADB_IMAGE, DEFAULT_PROXYSQL_IMAGE, DEFAULT_RCLONE_IMAGE, DEFAULT_MYSQLD_EXPORTER_IMAGE]) {
      expect(line).toContain(`\`${image.replace(/^docker\.io\/(library\/)?/, '')}\``);
    }
  });

  test('tagVersion refuses a tag that is not a version', () => {
    expect(() => tagVersion('docker.io/library/mariadb:lts')).toThrow(/mariadb:lts has no x\.y\.z version tag/);
    expect(tagVersion('docker.io/prom/mysqld-exporter:v0.14.0')).toBe('0.14.0');
  });
});
