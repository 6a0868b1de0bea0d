import { Chart, Testing } from 'cdk8s';
import { MariaDbReplication, MariaDbReplicationProps } from '../../src/index';
import { restrictedViolations } from '../tools/pod-security';
import type { EnvVar } from '../../harness/spec';
import type { Manifest } from '../tools/manifest';

function synth(props: MariaDbReplicationProps = {}): Manifest[] {
  const chart = new Chart(Testing.app(), 'test', { namespace: 'db' });
  new MariaDbReplication(chart, 'mariadb', props);
  return Testing.synth(chart);
}

const kind = (objects: Manifest[], k: string) => objects.filter((o) => o.kind === k);

describe('MariaDbReplication', () => {
  test('GIVEN the defaults WHEN synthesized THEN a Parallel StatefulSet of 3, a headless and a -read Service, '
    + 'a PDB and the configuration', () => {
    const objects = synth();
    const [sts] = kind(objects, 'StatefulSet');
    expect(sts.spec).toMatchObject({ replicas: 3, podManagementPolicy: 'Parallel', serviceName: 'mariadb' });
    expect(kind(objects, 'Service').map((s) => s.metadata.name).sort()).toEqual(['mariadb', 'mariadb-read']);
    expect(kind(objects, 'Service').find((s) => s.metadata.name === 'mariadb').spec.publishNotReadyAddresses).toBe(true);
    expect(kind(objects, 'PodDisruptionBudget')).toHaveLength(1);
    const cnf: string = kind(objects, 'ConfigMap')[0].data['my.cnf'];
    for (const line of ['gtid_strict_mode=ON', 'log_slave_updates=ON', 'sync_binlog=1', 'read_only=ON', 'skip_slave_start=ON',
      'rpl_semi_sync_master_wait_point=AFTER_SYNC', 'rpl_semi_sync_master_enabled=OFF', 'rpl_semi_sync_slave_enabled=ON',
      `rpl_semi_sync_master_timeout=${2 ** 32 - 1}`]) {
      expect(cnf.split('\n')).toContain(line);
    }
    const env = Object.fromEntries(
      sts.spec.template.spec.containers[0].env.filter((e: EnvVar) => e.value !== undefined).map((e: EnvVar) => [e.name, e.value]),
    );
    expect(env).toMatchObject({ REPL_FAILOVER_SECONDS: '30', REPL_FENCE_SECONDS: '15', REPL_NO_REPLICA_ACK: 'block' });
    expect(env.NODE_PEERS.split(',')).toEqual([0, 1, 2].map((i) => `mariadb-${i}.mariadb.db.svc.cluster.local`));
  });

  test('noReplicaAck async: the primary falls back after semiSyncTimeoutSeconds', () => {
    const cnf: string = kind(synth({ noReplicaAck: 'async', semiSyncTimeoutSeconds: 7 }), 'ConfigMap')[0].data['my.cnf'];
    expect(cnf.split('\n')).toContain('rpl_semi_sync_master_timeout=7000');
  });

  test('every pod meets the restricted Pod Security Standard', () => {
    const [sts] = kind(synth(), 'StatefulSet');
    expect(restrictedViolations('StatefulSet/mariadb', sts.spec.template.spec)).toEqual([]);
  });

  test('no password in the manifests', () => {
    const text = JSON.stringify(synth());
    expect(text).not.toMatch(/MASTER_PASSWORD\s*=\s*'/);
    expect(kind(synth(), 'Secret')).toHaveLength(0);
  });

  test('bad input: every mistake named in one error', () => {
    let message = '';
    try {
      synth({ replicas: 4, failoverSeconds: 10, fenceSeconds: 10, appUser: 'repl', noReplicaAck: 'maybe' as never });
    } catch (e) {
      message = (e as Error).message;
    }
    for (const problem of [/replicas.*odd and at least 3/, /fenceSeconds \(10\) must be below failoverSeconds \(10\)/,
      /appUser must not be one of the reserved accounts/, /noReplicaAck must be one of 'block', 'async', got "maybe"/]) {
      expect(message).toMatch(problem);
    }
  });

  describe('an external source', () => {
    const SOURCE = { host: 'old-db.legacy.svc', secretName: 'old-db-source' };
    const envOf = (sts: Manifest) => Object.fromEntries(
      sts.spec.template.spec.containers[0].env.filter((e: EnvVar) => e.value !== undefined).map((e: EnvVar) => [e.name, e.value]),
    );

    test('GIVEN a source and a GTID domain WHEN synthesized THEN the nodes get its settings, its Secret as files, '
      + 'their own domain and source.sh', () => {
      const objects = synth({ gtidDomainId: 1, source: { ...SOURCE, port: 3307, databases: ['shop', 'crm'] } });
      const [sts] = kind(objects, 'StatefulSet');
      expect(envOf(sts)).toMatchObject({
        NODE_SOURCE_HOST: 'old-db.legacy.svc', NODE_SOURCE_PORT: '3307', NODE_SOURCE_TLS: 'off', NODE_SOURCE_DATABASES: 'shop,crm',
        NODE_SOURCE_DIR: '/etc/mariadb/source', NODE_GTID_DOMAIN: '1',
      });
      const volume = sts.spec.template.spec.volumes.find((v: { name: string }) => v.name === 'source');
      expect(volume.secret).toEqual({
        secretName: 'old-db-source', defaultMode: 0o440, optional: true,
        items: [{ key: 'username', path: 'username' }, { key: 'password', path: 'password' }],
      });
      for (const c of [...sts.spec.template.spec.initContainers, sts.spec.template.spec.containers[0]]) {
        expect(c.volumeMounts).toContainEqual({ name: 'source', mountPath: '/etc/mariadb/source', readOnly: true });
      }
      const config = kind(objects, 'ConfigMap')[0].data;
      expect(config['my.cnf'].split('\n')).toContain('gtid_domain_id=1');
      expect(config['source.sh']).toContain('seed_from_source()');
    });

    test('GIVEN tls WHEN synthesized THEN the CA key is mounted too and the scripts verify the source', () => {
      const [sts] = kind(synth({ gtidDomainId: 1, source: { ...SOURCE, tls: true } }), 'StatefulSet');
      expect(envOf(sts).NODE_SOURCE_TLS).toBe('on');
      const volume = sts.spec.template.spec.volumes.find((v: { name: string }) => v.name === 'source');
      expect(volume.secret.items.map((i: { key: string }) => i.key)).toEqual(['username', 'password', 'ca.crt']);
    });

    test('GIVEN no source WHEN synthesized THEN domain 0, and nothing of a source', () => {
      const objects = synth();
      const [sts] = kind(objects, 'StatefulSet');
      expect(envOf(sts).NODE_GTID_DOMAIN).toBe('0');
      expect(Object.keys(envOf(sts)).filter((k) => k.startsWith('NODE_SOURCE_'))).toEqual([]);
      expect(sts.spec.template.spec.volumes.map((v: { name: string }) => v.name)).not.toContain('source');
      expect(kind(objects, 'ConfigMap')[0].data['my.cnf'].split('\n')).toContain('gtid_domain_id=0');
    });

    test('bad input: a source without a domain of its own, with restoreFrom, system schemas, a bad host; all named at once', () => {
      let message = '';
      try {
        synth({
          source: { host: 'Old_DB', secretName: 'old-db-source', databases: ['mysql', 'shop', 'shop'] },
          restoreFrom: { backup: 'latest', volume: { claimName: 'backups' } },
        });
      } catch (e) {
        message = (e as Error).message;
      }
      for (const problem of [/source needs gtidDomainId/, /source and restoreFrom exclude each other/,
        /source\.databases may not name the system schema 'mysql'/, /source\.databases names 'shop' more than once/,
        /source\.host .*host name or IPv4 address/]) {
        expect(message).toMatch(problem);
      }
    });
  });
});
