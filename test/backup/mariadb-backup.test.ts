import { execFileSync, spawnSync } from 'child_process';
import { createHash } from 'crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { Testing } from 'cdk8s';
import {
  GaleraBackup, GaleraCluster, GaleraProxySqlChart, GaleraProxySqlChartProps, MariaDbBackup, MariaDbReplication,
} from '../../src/index';
import type { Container, EnvVar } from '../../harness/spec';
import type { Manifest } from '../tools/manifest';

// The backup CronJob, the backup endpoint and the restore containers as synthesized, and the
// pure parts of the backup scripts (which node, which backups the retention removes). The
// cluster tests (test/cluster/backup.test.ts) run them for real.

const SCRIPTS = join(__dirname, '..', '..', 'scripts');
const UUID = 'aaaaaaaa-1111-11f1-8000-000000000001';

function synth(props: GaleraProxySqlChartProps): Manifest[] {
  return Testing.synth(new GaleraProxySqlChart(Testing.app(), 'test', props));
}
const find = (
  m: Manifest[], kind: string, name?: string,
) => m.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
const envOf = (c: Manifest): Record<string, unknown> => Object.fromEntries(c.env.map((e: Manifest) => [e.name, e.value ?? e.valueFrom]));

describe('GaleraBackup', () => {
  test('backups to a volume: a CronJob that never overlaps, a claim four times the data, the job\'s client certificate', () => {
    // GIVEN / WHEN
    const m = synth({ galera: { storageSize: '20Gi', tls: { issuer: { name: 'ca' } } }, backup: { enabled: true } });
    const cron = find(m, 'CronJob', 'galera-backup');
    // THEN
    expect(cron).toMatchSnapshot();
    expect(cron.spec).toMatchObject({ schedule: '0 3 * * *', concurrencyPolicy: 'Forbid', startingDeadlineSeconds: 3600 });
    const pod = cron.spec.jobTemplate.spec.template.spec;
    expect(pod.restartPolicy).toBe('Never');
    expect(envOf(pod.containers[0])).toMatchObject({
      BACKUP_PRUNE: '1', BACKUP_RETAIN_COUNT: '7', BACKUP_RETAIN_DAYS: '30', NODE_BACKUP_PORT: '4445',
    });
    expect(pod.volumes).toContainEqual({ name: 'backups', persistentVolumeClaim: { claimName: 'galera-backups' } });
    expect(pod.volumes).toContainEqual({ name: 'tls', secret: { secretName: 'galera-backup-tls', defaultMode: 0o440 } });
    expect(find(m, 'PersistentVolumeClaim', 'galera-backups').spec.resources.requests.storage).toBe('80Gi');
    expect(find(
      m, 'Certificate', 'galera-backup-tls',
    ).spec).toMatchObject({ commonName: 'galera-backup', usages: ['digital signature', 'key encipherment', 'client auth'] });
  });

  test('the Galera pods run the backup endpoint, which streams only to the job\'s common name; the policy lets only the job in', () => {
    // GIVEN / WHEN
    const m = synth({ backup: { enabled: true } });
    const sidecar = find(m, 'StatefulSet').spec.template.spec.containers.find((c: Container) => c.name === 'backup');
    // THEN
    expect(sidecar.ports).toEqual([{ name: 'backup', containerPort: 4445, protocol: 'TCP' }]);
    expect(envOf(sidecar)).toMatchObject({ NODE_BACKUP_CLIENT_CN: 'galera-backup', NODE_BACKUP_PORT: '4445' });
    const ingress = find(m, 'NetworkPolicy', 'galera').spec.ingress;
    const fromJob = ingress.find(
      (r: Manifest) => r.from?.some((p: Manifest) => p.podSelector?.matchLabels?.['app.kubernetes.io/name'] === 'mariadb-backup'),
    );
    expect(fromJob.ports.map((p: Manifest) => p.port).sort()).toEqual([4445, 4569]);
  });

  test('backups to S3: the upload container reads the keys from the Secret, never as values', () => {
    // GIVEN / WHEN
    const m = synth({
      backup: { enabled: true, destination: { s3: { endpoint: 'http://minio:9000', bucket: 'db-1', secretName: 'backup-s3' } } },
    });
    const pod = find(m, 'CronJob').spec.jobTemplate.spec.template.spec;
    // THEN the backup runs first (init), the upload after; no claim is made
    expect(pod.initContainers.map((c: Container) => c.name)).toEqual(['backup']);
    expect(pod.containers.map((c: Container) => c.name)).toEqual(['upload']);
    expect(envOf(pod.initContainers[0]).BACKUP_PRUNE).toBe('0');
    expect(envOf(pod.containers[0])).toMatchObject({
      BACKUP_REMOTE: 'backup:db-1/galera', RCLONE_CONFIG_BACKUP_ENDPOINT: 'http://minio:9000',
      RCLONE_CONFIG_BACKUP_FORCE_PATH_STYLE: 'true',
      RCLONE_CONFIG_BACKUP_ACCESS_KEY_ID: { secretKeyRef: { name: 'backup-s3', key: 'access-key-id' } },
      RCLONE_CONFIG_BACKUP_SECRET_ACCESS_KEY: { secretKeyRef: { name: 'backup-s3', key: 'secret-access-key' } },
    });
    expect(find(m, 'PersistentVolumeClaim', 'galera-backups')).toBeUndefined();
  });

  test('restoreFrom without a location restores from the backup destination; the claim is mounted read-only', () => {
    // GIVEN / WHEN
    const m = synth({ galera: { restoreFrom: { backup: 'galera-20261130T030000Z' } as never }, backup: { enabled: true } });
    const pod = find(m, 'StatefulSet').spec.template.spec;
    // THEN
    expect(pod.initContainers.map((c: Container) => c.name)).toEqual(['init', 'restore']);
    expect(envOf(pod.initContainers[1])).toMatchObject({ RESTORE_BACKUP: 'galera-20261130T030000Z', RESTORE_DIR: '/var/backups/restore' });
    expect(pod.volumes).toContainEqual({ name: 'restore', persistentVolumeClaim: { claimName: 'galera-backups', readOnly: true } });
  });

  test('a GaleraBackup of a cluster without the endpoint is an error that says what to set', () => {
    const chart = Testing.chart();
    const cluster = new GaleraCluster(chart, 'db', {});
    expect(() => new GaleraBackup(chart, 'backup', { cluster })).toThrow(
      /GaleraBackup 'backup': the GaleraCluster 'db' has no backup endpoint; set backupEndpoint: true on it/,
    );
  });
});

describe('a cluster restored to an earlier point archives elsewhere', () => {
  const POINT = { backup: 'latest', pointInTime: '2026-12-06T14:03:07Z' } as const;
  const archiving = { enabled: true, pointInTime: { enabled: true } } as const;

  test.each([
    ['a time, from the backup destination (the claim)', { restoreFrom: POINT }, archiving, /claim galera-backups/],
    ['a GTID, from the backup destination (the claim)', { restoreFrom: { backup: 'latest', gtid: '0-1-901' } }, archiving,
      /claim galera-backups/],
    ['a time, from the bucket it archives to', { restoreFrom: POINT },
      { ...archiving, destination: { s3: { bucket: 'shop-db', secretName: 'keys' } } }, /bucket shop-db, prefix 'galera'/],
  ])('restored to %s: refused at synth time, naming backup.pointInTime and what to change', (_what, galera, backup, where) => {
    expect(() => synth({ galera: galera as never, backup })).toThrow(/backup\.pointInTime: this cluster is restored to an earlier point/);
    expect(() => synth({ galera: galera as never, backup })).toThrow(where);
  });

  test.each([
    ['to the latest point, from its own archive', { restoreFrom: { backup: 'latest', pointInTime: 'latest' } }, archiving],
    ['to a time, archiving under another prefix', { restoreFrom: { ...POINT, s3: { bucket: 'shop-db', secretName: 'keys' } } },
      { ...archiving, destination: { s3: { bucket: 'shop-db', prefix: 'galera-restored', secretName: 'keys' } } }],
    ['to a time, not archiving', { restoreFrom: POINT }, { enabled: true }],
  ])('restored %s: accepted', (_what, galera, backup) => {
    expect(() => synth({ galera: galera as never, backup })).not.toThrow();
  });

  test('a MariaDbBackup built by hand on such a cluster is refused the same way', () => {
    const chart = Testing.chart();
    const cluster = new GaleraCluster(chart, 'db', {
      backupEndpoint: true, tls: { enabled: true }, restoreFrom: { ...POINT, volume: { claimName: 'db-backups' } },
    });
    expect(() => new GaleraBackup(chart, 'backup', { cluster, pointInTime: { enabled: true } })).toThrow(
      /pointInTime: this cluster is restored to an earlier point \(restoreFrom pointInTime 2026-12-06T14:03:07Z\).*claim db-backups/,
    );
  });
});

describe('the GTID domain the archiver ships', () => {
  const replication = (props: object) => {
    const chart = Testing.chart();
    return { chart, cluster: new MariaDbReplication(chart, 'db', { backupEndpoint: true, tls: { enabled: true }, ...props }) };
  };

  test('GIVEN a primary/replica cluster with its own gtidDomainId WHEN point-in-time recovery is on THEN that domain is archived', () => {
    const { chart, cluster } = replication({ gtidDomainId: 3 });
    new MariaDbBackup(chart, 'backup', { cluster, pointInTime: { enabled: true } });
    const archiver = Testing.synth(chart).find((m) => m.kind === 'Deployment');
    expect(JSON.stringify(archiver.spec.template.spec.containers[0].env)).toContain('{"name":"ARCHIVE_DOMAIN","value":"3"}');
  });

  test('GIVEN a cluster that follows an external source WHEN point-in-time recovery is asked for THEN refused, '
    + 'saying when to turn it on', () => {
    const { chart, cluster } = replication({ gtidDomainId: 1, source: { host: 'old-db', secretName: 'old-db-source' } });
    expect(() => new MariaDbBackup(chart, 'backup', { cluster, pointInTime: { enabled: true } })).toThrow(
      /pointInTime\.enabled: the cluster 'db' follows an external source.*once the source is removed after the cutover/,
    );
    expect(() => new MariaDbBackup(chart, 'backup2', { cluster })).not.toThrow();
  });
});

describe('backup scripts', () => {
  /** pick_source of the Galera backup job (backup-galera.sh) over state lines made by the pods' own formatter. */
  function pickSource(nodes: Record<string, 'synced' | 'donor' | 'waiting'>): string {
    const lines = Object.entries(nodes).map(([name, s]) => {
      const kv = s === 'waiting'
        ? `phase=waiting uuid=${UUID} seqno=1 safe=0 empty=0`
        : `phase=running primary=1 uuid=${UUID} seqno=1 local_state=${s === 'synced' ? 4 : 2} fresh=0`;
      return `POD_NAME=${name} NODE_PEERS=a,b,c state_line ${kv}`;
    }).join('\n');
    const driver = `source "${SCRIPTS}/backup/backup-job.sh"; { ${lines}; } | pick_source || echo NONE`;
    const env = {
      PATH: process.env.PATH, POD_NAME: 'galera-backup-x', NODE_PEERS: 'galera-0.galera,galera-1.galera,galera-2.galera',
      NODE_CLUSTER_NAME: 'galera', BACKUP_DIR: '/nonexistent', BACKUP_TOPOLOGY: 'galera',
    };
    return execFileSync('bash', ['-c', driver], { encoding: 'utf8', env }).trim();
  }

  test.each([
    [{ 'galera-0': 'synced', 'galera-1': 'synced', 'galera-2': 'synced' }, /^galera-2 Synced, not ProxySQL's writer \(galera-0\)/],
    [{ 'galera-0': 'synced', 'galera-1': 'synced', 'galera-2': 'waiting' }, /^galera-1 Synced, not ProxySQL's writer \(galera-0\)/],
    [{ 'galera-0': 'donor', 'galera-1': 'synced', 'galera-10': 'synced' }, /^galera-10 Synced, not ProxySQL's writer \(galera-1\)/],
    [{ 'galera-0': 'waiting', 'galera-1': 'waiting', 'galera-2': 'synced' }, /^galera-2 the only Synced node/],
    [{ 'galera-0': 'donor', 'galera-1': 'waiting' }, /^NONE$/],
  ] as const)('pick_source %j', (nodes, expected) => {
    expect(pickSource(nodes)).toMatch(expected);
  });

  /** pick_source of the primary/replica backup job (backup-replication.sh) over lines of repl-lib.sh's formatter. */
  function pickReplica(nodes: Record<string, 'primary' | 'ready' | 'lagging' | 'waiting' | 'fenced'>): string {
    const lines = Object.entries(nodes).map(([name, s]) => {
      const kv = {
        primary: 'phase=running role=primary writable=1 gtid=0-1-9 seq=9 ready=1',
        ready: 'phase=running role=replica gtid=0-1-9 seq=9 io=1 sql=1 lag=0 source=mariadb-0 ready=1',
        lagging: 'phase=running role=replica gtid=0-1-5 seq=5 io=1 sql=1 lag=90 source=mariadb-0 ready=0',
        waiting: 'phase=waiting',
        fenced: 'phase=running role=fenced gtid=0-1-9 seq=9 ready=0',
      }[s];
      return `POD_NAME=${name} NODE_PEERS=a,b,c state_line ${kv}`;
    }).join('\n');
    const env = {
      PATH: process.env.PATH, POD_NAME: 'mariadb-backup-x', NODE_PEERS: 'mariadb-0.mariadb,mariadb-1.mariadb,mariadb-2.mariadb',
      NODE_CLUSTER_NAME: 'mariadb', BACKUP_DIR: '/nonexistent', BACKUP_TOPOLOGY: 'replication', NODE_DATA_DIR: '/nonexistent',
    };
    const driver = `source "${SCRIPTS}/backup/backup-job.sh"; { ${lines}; } | pick_source || echo NONE`;
    return execFileSync('bash', ['-c', driver], { encoding: 'utf8', env }).trim();
  }

  test.each([
    [{ 'mariadb-0': 'primary', 'mariadb-1': 'ready', 'mariadb-2': 'ready' },
      /^mariadb-2 a ready replica \(lag 0s\), not the primary; ready replicas: mariadb-1 mariadb-2$/],
    [{ 'mariadb-0': 'primary', 'mariadb-1': 'ready', 'mariadb-2': 'lagging' }, /^mariadb-1 a ready replica/],
    [{ 'mariadb-0': 'ready', 'mariadb-1': 'primary', 'mariadb-10': 'ready' }, /^mariadb-10 a ready replica/],
    [{ 'mariadb-0': 'primary', 'mariadb-1': 'waiting', 'mariadb-2': 'lagging' }, /^NONE$/],
    [{ 'mariadb-0': 'fenced', 'mariadb-1': 'primary' }, /^NONE$/],
  ] as const)('replication pick_source %j: a ready replica, never the primary', (nodes, expected) => {
    expect(pickReplica(nodes)).toMatch(expected);
  });

  /** expired of backup-retention.sh, run by a POSIX sh (dash, as busybox sh would). */
  function expired(now: string, count: number, days: number, names: string[]): string[] {
    const out = execFileSync('sh', [
      '-c', `. "${SCRIPTS}/backup/backup-retention.sh"; expired "$(date -u -d "$1" +%s)" "$2" "$3"`, 'sh', now, String(count), String(days),
    ],
      { encoding: 'utf8', input: names.join('\n') });
    return out.split('\n').filter(Boolean).sort();
  }
  const day = (d: number) => `galera-202611${String(d).padStart(2, '0')}T030000Z`;

  test('the retention keeps the newest COUNT and none older than DAYS, in any input order', () => {
    const names = [5, 1, 30, 29, 28, 27, 10].map(day);
    expect(expired('2026-11-30 12:00:00', 3, 365, names)).toEqual([1, 5, 10, 27].map(day));
    expect(expired('2026-11-30 12:00:00', 100, 7, names)).toEqual([1, 5, 10].map(day));
  });

  test('the newest backup stays whatever its age; other files are never touched', () => {
    expect(expired('2027-06-01 00:00:00', 2, 1, [day(29), day(30), 'galera-notes.txt', 'other-cluster'])).toEqual([day(29)]);
  });

  /**
   * Runs `body` in restore.sh (sourced: its functions only) of `topology` as `pod`, with a backup
   * 'b-1' in a scratch RESTORE_DIR whose manifest is at UUID:256 and GTID 0-1-9.
   */
  function inRestore(topology: 'galera' | 'replication', pod: string, body: string): string {
    const dir = mkdtempSync(join(tmpdir(), 'restore-unit-'));
    try {
      writeFileSync(join(dir, 'b-1.json'), `{\n  "name": "b-1",\n  "clusterUuid": "${UUID}",\n  "seqno": 256,\n  "gtid": "0-1-9",\n}\n`);
      const prefix = pod.replace(/-\d+$/, '');
      const env = {
        PATH: process.env.PATH, POD_NAME: pod, NODE_PEERS: [0, 1, 2].map((i) => `${prefix}-${i}.${prefix}`).join(','),
        RESTORE_DIR: dir, BACKUP_TOPOLOGY: topology, NODE_DATA_DIR: '/nonexistent',
      };
      return execFileSync('bash', ['-c', `source "${SCRIPTS}/backup/restore.sh"; NAME=b-1; ${body}`], { encoding: 'utf8', env }).trim();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** peer_restores_same over a peer's state line (the pods' own formatter, state_line KEY=VALUE...). */
  const restoresSame = (topology: 'galera' | 'replication', peer: string, kv: string) =>
    inRestore(topology, `${peer.replace(/-\d+$/, '')}-0`,
      `peer_restores_same "$(POD_NAME=${peer} state_line ${kv})" && echo yes || echo no`);

  test.each([
    [`phase=restoring uuid=${UUID} seqno=256 empty=1`, 'yes'],
    [`phase=waiting uuid=${UUID} seqno=256 empty=0`, 'yes'],
    [`phase=running primary=1 uuid=${UUID} seqno=300`, 'yes'],
    [`phase=restoring uuid=${UUID} seqno=255 empty=1`, 'no'],
    [`phase=waiting uuid=${UUID} seqno=300 empty=0`, 'no'],
    ['phase=running primary=1 uuid=bbbbbbbb-1111-11f1-8000-000000000002 seqno=300', 'no'],
    [`phase=refused uuid=${UUID} seqno=256`, 'no'],
  ] as const)('Galera restore: a peer %j restores (or restored) the same backup: %s', (kv, expected) => {
    expect(restoresSame('galera', 'galera-1', kv)).toBe(expected);
  });

  test.each([
    ['phase=restoring gtid=0-1-9 data=0', 'yes'],
    ['phase=restoring gtid=0-1-8 data=0', 'no'],
    ['phase=running role=primary writable=1 gtid=0-1-9 seq=9 ready=1', 'no'],
    ['phase=waiting gtid=0-1-9 data=1', 'no'],
  ] as const)('primary/replica restore: a peer %j restores the same backup: %s', (kv, expected) => {
    expect(restoresSame('replication', 'mariadb-2', kv)).toBe(expected);
  });

  test('the restored Galera position is the first word of xtrabackup_galera_info (its line may go on: "uuid:seqno domain")', () => {
    const out = inRestore('galera', 'galera-0', `d=$(mktemp -d); echo "${UUID}:256 0" > "$d/xtrabackup_galera_info"; `
      + 'check_restored_position "$d"; rm -rf "$d"');
    expect(out).toBe(`${UUID}:256`);
  });
});

describe('the backup job proves the stream it stored (backup-job.sh prove)', () => {
  /** Runs prove on a stored stream `bytes` in a scratch BACKUP_DIR: its exit status, its output, the file afterwards. */
  function prove(bytes: Buffer): { status: number | null; output: string; after: Buffer } {
    const dir = mkdtempSync(join(tmpdir(), 'prove-unit-'));
    try {
      const file = join(dir, 'galera-x.xb.zst.partial');
      writeFileSync(file, bytes);
      const env = {
        PATH: process.env.PATH, POD_NAME: 'galera-backup-x', NODE_PEERS: 'galera-0.galera', NODE_CLUSTER_NAME: 'galera',
        BACKUP_DIR: dir, BACKUP_TOPOLOGY: 'galera', NODE_DATA_DIR: '/nonexistent',
      };
      const driver = `source "${SCRIPTS}/backup/backup-job.sh"; NAME=galera-x SOURCE_POD=galera-2; prove "$1"`;
      const r = spawnSync('bash', ['-c', driver, 'bash', file], { encoding: 'utf8', env });
      return { status: r.status, output: r.stdout + r.stderr, after: readFileSync(file) };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** An xbstream of one file, zstd-compressed: a stream as the endpoint sends it, though not of a backup. */
  function stream(): Buffer {
    const dir = mkdtempSync(join(tmpdir(), 'prove-stream-'));
    try {
      writeFileSync(join(dir, 'ibdata1'), Buffer.alloc(3 * 2 ** 20, 'page '));
      return execFileSync('bash', ['-o', 'pipefail', '-c', 'cd "$1" && mbstream -c ibdata1 | zstd -q -c', 'bash', dir]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  test.each([
    ['truncated', (b: Buffer) => b.subarray(0, Math.floor(b.length / 2))],
    ['corrupted in the middle', (b: Buffer) => Buffer.concat([b.subarray(0, 100), Buffer.from('garbage!'), b.subarray(108)])],
  ] as const)('GIVEN a stored stream %s WHEN proved THEN the job fails naming the source, and the stored file is left as it was',
    (_, spoil) => {
    // GIVEN
    const bad = spoil(stream());
    // WHEN
    const r = prove(bad);
    // THEN
    expect(r.status).not.toBe(0);
    expect(r.output)
      .toMatch(/backup galera-x: the stream from galera-2 is truncated or corrupt \(zstd or mbstream failed: .*\); discarded/);
    expect(r.after.equals(bad)).toBe(true);
  });

  test('GIVEN an intact stream that is not a backup WHEN proved THEN it extracts, and --prepare refuses it', () => {
    // GIVEN / WHEN
    const r = prove(stream());
    // THEN the extraction passed (no truncation message) and mariadb-backup --prepare said no
    expect(r.status).not.toBe(0);
    expect(r.output).not.toMatch(/truncated or corrupt/);
    expect(r.output).toMatch(/backup galera-x: mariadb-backup --prepare failed: .*; discarded/);
  });
});

describe('S3 credentials from the pod identity', () => {
  const s3 = { bucket: 'shop-db-backups', region: 'eu-west-1', serviceAccountName: 'db-backup' };

  test('no static key: rclone takes the AWS SDK chain, and the pods that reach the bucket run as the ServiceAccount', () => {
    // GIVEN
    const chart = new GaleraProxySqlChart(Testing.app(), 'c', {
      backup: { enabled: true, destination: { s3 } },
      galera: { restoreFrom: { s3 } },
    });

    // WHEN
    const manifests = Testing.synth(chart);
    const job = manifests.find((m) => m.kind === 'CronJob').spec.jobTemplate.spec.template.spec;
    const sts = manifests.find((m) => m.kind === 'StatefulSet').spec.template.spec;
    const rcloneContainers = [
      ...job.containers, ...sts.initContainers,
    ].filter((c: Container) => (c.env ?? []).some((e: EnvVar) => e.name === 'BACKUP_REMOTE'));

    // THEN
    expect(rcloneContainers.map((c: Container) => c.name).sort()).toEqual(['restore-fetch', 'upload']);
    for (const c of rcloneContainers) {
      expect(c.env).toContainEqual({ name: 'RCLONE_CONFIG_BACKUP_ENV_AUTH', value: 'true' });
      expect(c.env.map((e: EnvVar) => e.name)).not.toContain('RCLONE_CONFIG_BACKUP_ACCESS_KEY_ID');
    }
    expect(JSON.stringify(manifests)).not.toMatch(/secret-access-key|access-key-id/);
    expect([job.serviceAccountName, sts.serviceAccountName]).toEqual(['db-backup', 'db-backup']);
    expect([job.automountServiceAccountToken, sts.automountServiceAccountToken]).toEqual([false, false]);
  });

  test('with keys, no ServiceAccount is set and the keys come from the Secret', () => {
    // GIVEN / WHEN
    const manifests = Testing.synth(new GaleraProxySqlChart(Testing.app(), 'c', {
      backup: { enabled: true, destination: { s3: { bucket: 'shop-db-backups', secretName: 'keys' } } },
    }));
    const job = manifests.find((m) => m.kind === 'CronJob').spec.jobTemplate.spec.template.spec;

    // THEN
    expect(job.serviceAccountName).toBeUndefined();
    expect(job.containers[0].env).toContainEqual({
      name: 'RCLONE_CONFIG_BACKUP_ACCESS_KEY_ID', valueFrom: { secretKeyRef: { name: 'keys', key: 'access-key-id' } },
    });
    expect(job.containers[0].env.map((e: EnvVar) => e.name)).not.toContain('RCLONE_CONFIG_BACKUP_ENV_AUTH');
  });

  test.each([
    ['both', { bucket: 'shop-db-backups', secretName: 'keys', serviceAccountName: 'db-backup' }],
    ['neither', { bucket: 'shop-db-backups' }],
  ])('%s of secretName and serviceAccountName is refused by name', (_what, bucket) => {
    expect(() => new GaleraProxySqlChart(Testing.app(), 'c', { backup: { enabled: true, destination: { s3: bucket as never } } }))
      .toThrow(/backup\.destination\.s3 needs exactly one of secretName \(a Secret with the keys\) or serviceAccountName/);
  });
});

describe('the seq of a domain in a GTID list', () => {
  // a binlog state (a file's Gtid_list) holds an entry per server of the domain: on a replica after a
  // failover "0-1-74,0-2-102"; the domain's seq is the highest (bash in the node image, POSIX sh in the rclone image)
  test.each([
    ['0-1-14,1000-1-2', '0', '14'],
    ['0-1-74,0-2-102', '0', '102'],
    ['0-2-102,0-1-74,1001-3-9', '0', '102'],
    ['1000-1-2', '0', '0'],
    ['', '0', '0'],
  ])('%j, domain %s: %s', (list, domain, seq) => {
    const bash = execFileSync('bash', ['-c', `source "${SCRIPTS}/backup/backup-lib.sh"; seq_of_domain "$1" "$2"`, 'x', list, domain], {
      encoding: 'utf8', env: { PATH: process.env.PATH, BACKUP_TOPOLOGY: 'galera', POD_NAME: 'galera-0', NODE_PEERS: 'galera-0' },
    }).trim();
    const sh = execFileSync('sh', ['-c', `. "${SCRIPTS}/backup/restore-point.sh"; point_seq "$1" "$2"`, 'x', list, domain], {
      encoding: 'utf8', env: { PATH: process.env.PATH },
    }).trim();
    expect([bash, sh]).toEqual([seq, seq]);
  });
});

describe('restore to a point: the plan checks the archive before anything changes (restore.sh plan_replay)', () => {
  /** A segment of the archive: its seqs (first..last), the seq it follows on from, and whether the archiver marked a gap before it. */
  interface Seg { first: number; last: number; after: number; gapBefore?: boolean }
  const segName = (s: Seg) => `galera-binlog-0-${String(s.first).padStart(20, '0')}-${String(s.last).padStart(20, '0')}`;

  /**
   * Writes a backup at GTID 0-1-9 and the segments (bytes of their own, manifests as the archiver
   * writes them) to a scratch RESTORE_DIR, lets `spoil` change files, and runs plan_replay to
   * 'latest' in restore.sh (Galera); its exit status and log.
   */
  function plan(segs: Seg[], spoil: (dir: string) => void = () => undefined, then = '', env: Record<string, string> = {},
  ): { status: number; log: string } {
    const dir = mkdtempSync(join(tmpdir(), 'restore-plan-'));
    try {
      writeFileSync(join(dir, 'b-1.json'), `{\n  "name": "b-1",\n  "clusterUuid": "${UUID}",\n  "seqno": 256,\n  "gtid": "0-1-9",\n}\n`);
      mkdirSync(join(dir, 'binlogs'));
      for (const s of segs) {
        const bytes = Buffer.from(`binlog of ${segName(s)}\n`.repeat(s.last - s.first + 1));
        writeFileSync(join(dir, 'binlogs', `${segName(s)}.binlog`), bytes);
        writeFileSync(join(dir, 'binlogs', `${segName(s)}.json`), [
          '{', `  "name": "${segName(s)}",`, '  "domain": 0,', `  "startAfter": "0-1-${s.after}",`, `  "firstGtid": "0-1-${s.first}",`,
          `  "lastGtid": "0-1-${s.last}",`, `  "gapBefore": ${s.gapBefore ?? false},`, `  "sizeBytes": ${bytes.length},`,
          `  "sha256": "${createHash('sha256').update(bytes).digest('hex')}"`, '}', '',
        ].join('\n'));
      }
      spoil(join(dir, 'binlogs'));
      const r = spawnSync('bash', ['-c', `source "${SCRIPTS}/backup/restore.sh"; NAME=b-1; plan_replay${then}`], {
        encoding: 'utf8',
        env: {
          PATH: process.env.PATH, POD_NAME: 'galera-0', NODE_PEERS: 'galera-0.galera,galera-1.galera,galera-2.galera', RESTORE_DIR: dir,
          BACKUP_TOPOLOGY: 'galera', NODE_DATA_DIR: '/nonexistent', RESTORE_POINT_TIME: 'latest', ...env,
        },
      });
      return { status: r.status ?? -1, log: `${r.stdout}${r.stderr}` };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const ARCHIVE: Seg[] = [{ first: 5, last: 20, after: 4 }, { first: 21, last: 30, after: 20 }, { first: 31, last: 40, after: 30 }];

  test('a whole archive: seq 10..40 from the three segments', () => {
    const r = plan(ARCHIVE);
    expect(r.log).toMatch(/then seq 10\.\.40 of domain 0 from 3 archived segments/);
    expect(r.status).toBe(0);
  });

  test('a seq Galera skipped (written to no binlog) between two segments is no gap', () => {
    const r = plan([ARCHIVE[0], { first: 22, last: 30, after: 20 }, ARCHIVE[2]]);
    expect(r.log).toMatch(/then seq 10\.\.40 of domain 0 from 3 archived segments/);
    expect(r.status).toBe(0);
  });

  const alter = (f: string) => { const b = readFileSync(f); b[3] ^= 0xff; writeFileSync(f, b); };
  const truncate = (f: string) => writeFileSync(f, readFileSync(f).subarray(0, 10));
  test.each([
    ['altered', alter, /is corrupt: sha256 [0-9a-f]{64}, its manifest says/],
    ['truncated', truncate, /is truncated or altered: 10 bytes, its manifest says \d+/],
    ['missing', (f: string) => rmSync(f), /is missing \(its manifest is there\)/],
  ])('a segment %s is refused by name, and nothing was changed', (_what, spoil, why) => {
    const r = plan(ARCHIVE, (d) => spoil(join(d, `${segName(ARCHIVE[1])}.binlog`)));
    expect(r.log).toContain(`archived binlog segment ${segName(ARCHIVE[1])}.binlog`);
    expect(r.log).toMatch(why);
    expect(r.log).toContain('nothing was changed');
    expect(r.status).toBe(1);
  });

  test.each([
    ['a segment gone from the archive', [ARCHIVE[0], ARCHIVE[2]]],
    ['a gap the archiver marked', [ARCHIVE[0], { first: 25, last: 30, after: 20, gapBefore: true }, ARCHIVE[2]]],
  ])('%s is refused, naming what the archive has and the seq the target needs', (_what, segs) => {
    const r = plan(segs as Seg[]);
    expect(r.log).toMatch(/the archive has 0-1-5\.\.0-1-20 and 0-1-(31|25)\.\.0-1-40; /);
    expect(r.log).toContain('the target latest from backup b-1 needs 0-?-21; nothing was changed');
    expect(r.status).toBe(1);
  });

  /**
   * replay_to_point after the plan, against stand-ins on PATH for the local server's client and
   * mariadb-binlog: the client keeps the binlog position in a file, applies what it reads (the
   * position goes to its last GTID), and takes SLOW_SECONDS over the input that holds seq 25.
   */
  function replay(slowSeconds: number, clientExit = 0): { status: number; log: string } {
    const bin = mkdtempSync(join(tmpdir(), 'restore-replay-'));
    try {
      writeFileSync(join(bin, 'position'), '0-1-9\n');
      writeFileSync(join(bin, 'mariadb'), [
        '#!/bin/bash',
        `for a in "$@"; do [[ $a == 'SELECT @@gtid_binlog_pos' ]] && { cat ${bin}/position; exit 0; }; done`,
        'input=$(cat)',
        `[[ $input == *'GTID 0-1-25'* ]] && sleep ${slowSeconds}`,
        `last=$(grep -o 'GTID 0-1-[0-9]*' <<<"$input" | tail -n 1 | cut -d' ' -f2); [[ -z $last ]] || echo "$last" >${bin}/position`,
        `exit ${clientExit}`, '',
      ].join('\n'), { mode: 0o755 });
      writeFileSync(join(bin, 'mariadb-binlog'), [
        '#!/bin/bash',
        'for a in "$@"; do case $a in --start-position=*) from=${a##*-} ;; --stop-position=*) to=${a##*-} ;; *.binlog) f=$a ;; esac; done',
        'n=$(basename "$f" .binlog); last=$((10#${n##*-}))',
        'for ((k = from + 1; k <= last && k <= to; k++)); do echo "GTID 0-1-$k"; done', '',
      ].join('\n'), { mode: 0o755 });
      return plan(ARCHIVE, undefined, '; start_local_server() { :; }; stop_local_server() { :; }; after_replay() { :; }; replay_to_point',
        { PATH: `${bin}:${process.env.PATH}` });
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  }

  test('the replay has no time limit: a segment whose transactions take 7 s to apply is replayed whole', () => {
    const r = replay(7);
    expect(r.log).toMatch(/restore: replayed the archived binlogs up to seq 40 in \d+ s/);
    expect(r.status).toBe(0);
  });

  test('a replay the server refuses stops the restore, naming the segment and the exit statuses', () => {
    const r = replay(0, 1);
    expect(r.log).toContain(`restore: replaying ${segName(ARCHIVE[0])}.binlog failed (mariadb-binlog exited with 0, mariadb with 1;`);
    expect(r.status).toBe(1);
  });
});

describe.each([
  ['a volume (binlog-archive.sh prune_segments, bash)', 'volume'],
  ['an S3 bucket (binlog-upload.sh prune, POSIX sh, rclone on a local remote)', 's3'],
])('archive retention on %s: the segments the kept full backups need stay', (_where, mode) => {
  /** Runs the retention on a scratch backup directory (manifests at the given GTIDs) and archive; the segments left, by seqs. */
  function prune(backups: Record<string, string>, segments: [number, number][]): { left: string[]; log: string } {
    const dir = mkdtempSync(join(tmpdir(), 'archive-retention-'));
    try {
      mkdirSync(join(dir, 'binlogs'));
      for (const [name, gtid] of Object.entries(backups)) {
        writeFileSync(join(dir, `${name}.json`), `{\n  "name": "${name}",\n  "gtid": "${gtid}",\n  "sizeBytes": 1\n}\n`);
      }
      const seg = (first: number, last: number) => `galera-binlog-0-${String(first).padStart(20, '0')}-${String(last).padStart(20, '0')}`;
      for (const [first, last] of segments) {
        writeFileSync(join(dir, 'binlogs', `${seg(first, last)}.binlog`), 'binlog');
        writeFileSync(join(dir, 'binlogs', `${seg(first, last)}.json`), `{\n  "name": "${seg(first, last)}"\n}\n`);
      }
      const r = mode === 'volume'
        ? spawnSync('bash', ['-c', `source "${SCRIPTS}/backup/binlog-archive.sh"; prune_segments`], {
          encoding: 'utf8',
          env: {
            PATH: process.env.PATH, NODE_CLUSTER_NAME: 'galera', BACKUP_DIR: dir, ARCHIVE_DIR: join(dir, 'binlogs'), POD_NAME: 'archiver',
            BACKUP_TOPOLOGY: 'galera', NODE_PEERS: 'galera-0.galera,galera-1.galera,galera-2.galera',
          },
        })
        : spawnSync('sh', ['-c', `. "${SCRIPTS}/backup/binlog-upload.sh"; prune`], {
          encoding: 'utf8',
          env: {
            PATH: process.env.PATH, NODE_CLUSTER_NAME: 'galera', BACKUP_REMOTE: dir, ARCHIVE_DIR: join(dir, 'outbox'), POD_NAME: 'archiver',
            BINLOG_UPLOAD_FUNCTIONS_ONLY: '1', RCLONE_CONFIG: '',
          },
        });
      expect(r.status).toBe(0);
      const names = readdirSync(join(dir, 'binlogs'));
      const left = names.filter((f) => f.endsWith('.json'))
        .map((f) => f.replace(/^galera-binlog-0-0*(\d+)-0*(\d+)\.json$/, '$1..$2')).sort();
      // a segment goes with its manifest, never one without the other
      expect(names.filter((f) => f.endsWith('.binlog')).length).toBe(left.length);
      return { left, log: `${r.stdout}${r.stderr}` };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const SEGMENTS: [number, number][] = [[1, 10], [11, 25], [26, 40], [41, 70]];

  test('segments wholly before the oldest kept backup go; the one after its position and all later stay', () => {
    const r = prune({ 'galera-20261206T010000Z': '0-1-25', 'galera-20261206T020000Z': '0-1-60' }, SEGMENTS);
    expect(r.left).toEqual(['26..40', '41..70']);
    expect(r.log).toContain('retention: removed 2 segments before the oldest kept backup galera-20261206T010000Z (seq 25)');
  });

  test('a segment that holds the backup position stays (the replay needs its tail)', () => {
    const r = prune({ 'galera-20261206T010000Z': '0-1-30' }, SEGMENTS);
    expect(r.left).toEqual(['26..40', '41..70']);
  });

  test('a backup position of several servers of the domain (after a failover) keeps from its highest seq', () => {
    const r = prune({ 'galera-20261206T010000Z': '0-1-12,0-2-41' }, SEGMENTS);
    expect(r.left).toEqual(['41..70']);
  });

  test('no backup kept: nothing is removed', () => {
    expect(prune({}, SEGMENTS).left).toEqual(['1..10', '11..25', '26..40', '41..70']);
  });
});
