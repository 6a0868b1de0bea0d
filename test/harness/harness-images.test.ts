import { spawnSync } from 'child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { Testing } from 'cdk8s';
import { allImagePrograms, linkImagePrograms, normalizeImage, parseImagePrograms, programsOf } from '../../harness/images';
import { which } from '../../harness/proc';
import { DEFAULT_RCLONE_IMAGE } from '../../src/backup/backup-location';
import { DEFAULT_MARIADB_IMAGE } from '../../src/core/mariadb-cluster';
import { DEFAULT_MYSQLD_EXPORTER_IMAGE } from '../../src/monitoring/metrics-exporter';
import { DEFAULT_PROXYSQL_IMAGE } from '../../src/proxysql/proxysql';
import { chartForValues } from '../../src/cli/synth';
import { parseValues, ValuesFile } from '../../src/values/values';
import { podTemplates } from '../tools/pod-templates';

// The cluster tests run each container with a PATH of its image's programs only (harness/images).
// These tests check the lists themselves and that the restriction is real: a program the image
// lacks is not found, even when this machine has it.

const EXAMPLES = join(__dirname, '..', '..', 'examples');

/** Every container (init and main) of every pod template in the default charts and every example. */
function allContainers(): { where: string; image: string; command: string }[] {
  const values: [string, ValuesFile][] = [['the default chart', {}], ['topology: replication', { topology: 'replication' }]];
  for (const f of readdirSync(EXAMPLES).filter((n) => n.endsWith('.yaml'))) values.push([
    `examples/${f}`, parseValues(readFileSync(join(EXAMPLES, f), 'utf8'), f),
  ]);
  const out: { where: string; image: string; command: string }[] = [];
  for (const [where, v] of values) {
    for (const pod of podTemplates(Testing.synth(chartForValues(Testing.app(), 'c', v)))) {
      for (const c of [...(pod.spec.initContainers ?? []), ...pod.spec.containers]) {
        out.push({ where: `${where}: ${pod.where} container ${c.name}`, image: c.image, command: (c.command ?? [])[0] ?? '' });
      }
    }
  }
  return out;
}

describe('the program lists of the images (harness/images)', () => {
  test.each([
    ['MariaDB', DEFAULT_MARIADB_IMAGE, 'mariadbd'],
    ['ProxySQL', DEFAULT_PROXYSQL_IMAGE, 'proxysql'],
    ['rclone', DEFAULT_RCLONE_IMAGE, 'rclone'],
    ['mysqld-exporter', DEFAULT_MYSQLD_EXPORTER_IMAGE, 'mysqld_exporter'],
  ])('the default %s image (%s) has a list, and it holds %s', (_name, image, program) => {
    // GIVEN / WHEN
    const list = programsOf(image);

    // THEN
    expect(list?.images).toContain(normalizeImage(image));
    expect(list?.programs.has(program)).toBe(true);
  });

  test('every container of every chart and example starts a program its image lists', () => {
    // GIVEN
    const containers = allContainers();

    // WHEN
    const unlisted = containers.filter((c) => !programsOf(c.image)?.programs.has(c.command));

    // THEN
    expect(containers.length).toBeGreaterThan(20);
    expect(unlisted).toEqual([]);
  });

  test('the lists record what the images lack: no pv, curl or procps in the ProxySQL image, no bash in the rclone image', () => {
    // GIVEN
    const mariadb = programsOf(DEFAULT_MARIADB_IMAGE)!.programs;
    const proxysql = programsOf(DEFAULT_PROXYSQL_IMAGE)!.programs;
    const rclone = programsOf(DEFAULT_RCLONE_IMAGE)!.programs;

    // THEN
    expect(
      ['bash', 'mariadb', 'mariadb-backup', 'mbstream', 'socat', 'rsync', 'openssl', 'ps', 'awk'].filter((p) => !mariadb.has(p)),
    ).toEqual([]);
    expect(['pv', 'curl', 'wget', 'nc'].filter((p) => mariadb.has(p))).toEqual([]);
    expect(['bash', 'mariadb', 'openssl', 'wget', 'awk'].filter((p) => !proxysql.has(p))).toEqual([]);
    expect(['ps', 'pgrep', 'curl', 'mariadbd'].filter((p) => proxysql.has(p))).toEqual([]);
    expect(rclone.get('sh')).toBe('busybox');
    expect(['bash', 'mariadb', 'zstd'].filter((p) => rclone.has(p))).toEqual([]);
  });

  test('every list parses, and no two lists claim one image', () => {
    // GIVEN / WHEN
    const lists = allImagePrograms();
    const images = lists.flatMap((l) => l.images);

    // THEN
    expect(lists.length).toBeGreaterThanOrEqual(4);
    expect(new Set(images).size).toBe(images.length);
  });

  test('a malformed list is refused with its file and line', () => {
    expect(() => parseImagePrograms('x.programs', 'image a:1\nbash\nbad name here\n')).toThrow(
      /x\.programs:3: expected 'image REF', 'NAME' or 'NAME busybox', got "bad name here"/,
    );
    expect(() => parseImagePrograms('y.programs', '# only a comment\nbash\n')).toThrow(/y\.programs: no 'image REF' line/);
  });
});

describe('a PATH of an image\'s programs', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'image-path-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const found = (program: string): boolean =>
    spawnSync(which('bash'), ['-c', `command -v -- "$1"`, 'bash', program], { env: { PATH: dir }, encoding: 'utf8' }).status === 0;

  test('finds the image\'s programs and not this machine\'s others', () => {
    // GIVEN: curl is on this machine (test/run-all.sh installs it), not in the MariaDB image
    const list = parseImagePrograms('t.programs', 'image t:1\nrsync\ncat\ncurl-not-here\n');

    // WHEN
    const missing = linkImagePrograms(dir, list);

    // THEN
    expect(missing).toEqual(['curl-not-here']);
    expect([found('rsync'), found('cat'), found('curl'), found('ls')]).toEqual([true, true, false, false]);
  });

  test('runs the applets of a busybox image as busybox, and a program of another name as given', () => {
    // GIVEN
    const list = parseImagePrograms('t.programs', 'image t:1\nsh busybox\nsed busybox\nmysqld_exporter\n');

    // WHEN
    linkImagePrograms(dir, list, { mysqld_exporter: which('true') });

    // THEN
    expect(readlinkSync(join(dir, 'sh'))).toBe(which('busybox'));
    expect(readlinkSync(join(dir, 'mysqld_exporter'))).toBe(which('true'));
    const sed = spawnSync(join(dir, 'sh'), ['-c', 'echo abc | sed s/b/x/'], { env: { PATH: dir }, encoding: 'utf8' });
    expect(sed.stdout).toBe('axc\n');
  });
});
