import { readdirSync } from 'fs';
import { join } from 'path';
import { Testing } from 'cdk8s';
import { GaleraProxySqlChart } from '../../src/charts/galera-proxysql-chart';
import { ReplicationProxySqlChart } from '../../src/charts/replication-proxysql-chart';
import { loadValues } from '../../src/values/values';
import { schemaErrors } from '../tools/schema';
import type { Container } from '../../harness/spec';
import type { Manifest } from '../tools/manifest';

// Every optional feature has a values file under examples/, each synthesizes into valid objects,
// and examples/production.yaml turns on everything a production user would.
const EXAMPLES = join(__dirname, '..', '..', 'examples');
const files = readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml')).sort();

function synth(file: string): { chart: GaleraProxySqlChart; manifests: Manifest[] } {
  const values = loadValues({ GALERA_VALUES: join(EXAMPLES, file) });
  const chart = values.topology === 'replication'
    ? new ReplicationProxySqlChart(Testing.app(), 'galera-proxysql', values) as unknown as GaleraProxySqlChart
    : new GaleraProxySqlChart(Testing.app(), 'galera-proxysql', values);
  return { chart, manifests: Testing.synth(chart) };
}

const kinds = (manifests: Manifest[]) => new Set(manifests.map((m) => m.kind));
const myCnf = (manifests: Manifest[]) => manifests.find((m) => m.kind === 'ConfigMap' && m.data?.['my.cnf']).data['my.cnf'] as string;

/** Each optional feature, the example that shows it, and what that example must synthesize. */
const FEATURES: Array<[string, string, (m: Manifest[]) => void]> = [
  ['TLS from cert-manager', 'tls-cert-manager.yaml', (m) => expect(
    m.filter((o) => o.kind === 'Certificate').map((o) => o.metadata.name).sort(),
  ).toEqual(['galera-proxysql-tls', 'galera-tls'])],
  ['TLS turned off', 'tls-off.yaml', (m) => expect(myCnf(m)).not.toMatch(/ssl_cert|socket\.ssl/)],
  ['plain-text clients refused', 'require-secure-transport.yaml', (m) => expect(myCnf(m)).toContain('require_secure_transport=ON')],
  [
    'NetworkPolicy clients', 'network-policy.yaml',
    (m) => expect(JSON.stringify(m.filter((o) => o.kind === 'NetworkPolicy'))).toContain('"team":"shop"'),
  ],
  ['NetworkPolicies turned off', 'network-policy-off.yaml', (m) => expect(kinds(m).has('NetworkPolicy')).toBe(false)],
  ['backups on a volume', 'backup-volume.yaml', (m) => {
    expect(m.find((o) => o.kind === 'CronJob').spec).toMatchObject({
      schedule: '30 2 * * *', timeZone: 'Europe/Berlin', concurrencyPolicy: 'Forbid',
    });
    expect(
      m.find((o) => o.kind === 'PersistentVolumeClaim' && o.metadata.name === 'galera-backups').spec.resources.requests.storage,
    ).toBe('100Gi');
  }],
  ['backups in S3', 'backup-s3.yaml', (m) => {
    const pod = m.find((o) => o.kind === 'CronJob').spec.jobTemplate.spec.template.spec;
    expect(pod.containers.map((c: Container) => c.name)).toEqual(['upload']);
    expect(pod.containers[0].env).toContainEqual({ name: 'BACKUP_REMOTE', value: 'backup:db-backups/shop/galera' });
  }],
  ['backups in S3 with the pod identity, no static key', 'backup-s3-pod-identity.yaml', (m) => {
    const pod = m.find((o) => o.kind === 'CronJob').spec.jobTemplate.spec.template.spec;
    expect(pod.serviceAccountName).toBe('db-backup');
    expect(pod.containers[0].env).toContainEqual({ name: 'RCLONE_CONFIG_BACKUP_ENV_AUTH', value: 'true' });
  }],
  ['Prometheus metrics, alerts and a dashboard', 'monitoring.yaml', (m) => {
    expect(m.filter((o) => ['PodMonitor', 'PrometheusRule'].includes(o.kind)).map((o) => `${o.kind}/${o.metadata.name}`).sort())
      .toEqual(['PodMonitor/galera', 'PodMonitor/galera-proxysql', 'PrometheusRule/galera']);
    expect(m.find((o) => o.kind === 'ConfigMap' && o.metadata.labels?.grafana_dashboard === '1').metadata.namespace).toBe('monitoring');
    expect(m.find((o) => o.kind === 'StatefulSet').spec.template.spec.containers.map((c: Container) => c.name)).toContain('metrics');
  }],
  ['the primary/replica topology behind ProxySQL', 'replication.yaml', (m) => {
    const sts = m.find((o) => o.kind === 'StatefulSet');
    expect(sts.metadata).toMatchObject({ name: 'mariadb', namespace: 'shop-db' });
    expect(sts.spec.template.spec.containers[0].env).toContainEqual({ name: 'REPL_FAILOVER_SECONDS', value: '30' });
    expect(
      m.filter((o) => o.kind === 'Service').map((o) => o.metadata.name).sort(),
    ).toEqual(['mariadb', 'mariadb-proxysql', 'mariadb-read']);
    const cnf = m.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'mariadb-proxysql-config').data['proxysql.cnf.tmpl'];
    expect(cnf).toContain('mysql_replication_hostgroups');
    expect(cnf).not.toContain('mysql_galera_hostgroups');
  }],
  ['moving in from a running MariaDB server', 'migration.yaml', (m) => {
    const pod = m.find((o) => o.kind === 'StatefulSet').spec.template.spec;
    expect(pod.containers[0].env).toEqual(expect.arrayContaining([
      { name: 'NODE_SOURCE_HOST', value: 'mariadb-galera.legacy.svc.cluster.local' }, { name: 'NODE_SOURCE_TLS', value: 'on' },
      { name: 'NODE_GTID_DOMAIN', value: '1' },
    ]));
    expect(pod.volumes).toContainEqual(
      expect.objectContaining({ name: 'source', secret: expect.objectContaining({ secretName: 'old-db-source' }) }));
    const egress = m.find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === 'mariadb').spec.egress;
    expect(egress).toContainEqual({ ports: [{ protocol: 'TCP', port: 3306 }] });
  }],
  ['moving in from a running MariaDB server onto Galera', 'galera-migration.yaml', (m) => {
    const pod = m.find((o) => o.kind === 'StatefulSet').spec.template.spec;
    expect(pod.containers[0].env).toEqual(expect.arrayContaining([
      { name: 'NODE_SOURCE_HOST', value: 'mariadb-galera.legacy.svc.cluster.local' }, { name: 'NODE_GTID_DOMAIN', value: '1' },
    ]));
    const config = m.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'galera-config').data;
    expect(config['my.cnf']).toMatch(/^wsrep_gtid_domain_id=1\nserver_id=1001\nskip_slave_start=ON\nread_only=ON$/m);
    expect(Object.keys(config)).toEqual(expect.arrayContaining(['galera-cutover.sh', 'source.sh']));
    const egress = m.find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === 'galera').spec.egress;
    expect(egress).toContainEqual({ ports: [{ protocol: 'TCP', port: 3306 }] });
  }],
  ['a standby of a cluster made by this project', 'standby.yaml', (m) => {
    const env = m.find((o) => o.kind === 'StatefulSet').spec.template.spec.containers[0].env;
    expect(env).toEqual(expect.arrayContaining([
      { name: 'NODE_SOURCE_HOST', value: 'mariadb-1.mariadb.shop-db.svc.dc1.example.com' }, { name: 'NODE_GTID_DOMAIN', value: '1' },
    ]));
    expect(Object.keys(m.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'mariadb-config').data)).toContain('repl-cutover.sh');
  }],
  ['causal reads on the reader path', 'causal-reads.yaml', (m) => {
    const cnf = m.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'galera-proxysql-config').data['proxysql.cnf.tmpl'];
    expect(cnf).toMatch(/^\s*init_connect="SET SESSION wsrep_sync_wait=1"$/m);
  }],
  ['a cluster created from a backup', 'restore.yaml', (m) => {
    const sts = m.find((o) => o.kind === 'StatefulSet').spec.template.spec;
    expect(sts.initContainers.map((c: Container) => c.name)).toEqual(['init', 'restore']);
    expect(sts.volumes).toContainEqual({ name: 'restore', persistentVolumeClaim: { claimName: 'galera-backups', readOnly: true } });
  }],
];

describe('examples/', () => {
  test.each(files)('%s synthesizes into objects that are valid against the schema', (file) => {
    // GIVEN / WHEN
    const { manifests } = synth(file);
    // THEN
    const errors = manifests.map((m) => ({
      object: `${m.kind}/${m.metadata?.name}`, errors: schemaErrors(m),
    })).filter((e) => e.errors.length > 0);
    expect(errors).toEqual([]);
  });

  test('the examples validated cover both topologies and every custom resource the project emits', () => {
    const all = files.map((f) => synth(f).manifests);
    expect(
      all.some((m) => m.some((o) => o.kind === 'ConfigMap' && o.data?.['proxysql.cnf.tmpl']?.includes('mysql_replication_hostgroups'))),
    ).toBe(true);
    expect(
      all.some((m) => m.some((o) => o.kind === 'ConfigMap' && o.data?.['proxysql.cnf.tmpl']?.includes('mysql_galera_hostgroups'))),
    ).toBe(true);
    expect([...new Set(all.flat().map((o) => `${o.apiVersion}/${o.kind}`))]).toEqual(expect.arrayContaining([
      'cert-manager.io/v1/Certificate', 'monitoring.coreos.com/v1/PodMonitor', 'monitoring.coreos.com/v1/PrometheusRule',
    ]));
  });

  test.each(FEATURES)('%s has an example (%s) that turns it on', (_feature, file, check) => {
    expect(files).toContain(file);
    check(synth(file).manifests);
  });

  test('production.yaml turns on every production feature', () => {
    // GIVEN / WHEN
    const { chart, manifests } = synth('production.yaml');
    const sts = manifests.find((m) => m.kind === 'StatefulSet');
    // THEN
    expect(chart.galera.tls).toMatchObject({ enabled: true, requireSecureTransport: true, issuer: { name: 'cluster-ca' } });
    for (const kind of [
      'Certificate', 'NetworkPolicy', 'PodDisruptionBudget', 'StorageClass', 'CronJob', 'PodMonitor', 'PrometheusRule',
    ]) expect(`${kind}: ${kinds(manifests).has(kind)}`).toBe(`${kind}: true`);
    expect(sts.spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution).toBeDefined();
    expect(sts.spec.template.spec.topologySpreadConstraints[0].whenUnsatisfiable).toBe('DoNotSchedule');
    expect(myCnf(manifests)).toContain('require_secure_transport=ON');
    expect(chart.backup?.cronJob).toBeDefined();
    expect(manifests.find((m) => m.kind === 'Certificate' && m.metadata.name === 'galera-backup-tls')).toBeDefined();
  });

  test('replication-production.yaml turns on every production feature for the primary/replica topology', () => {
    // GIVEN / WHEN
    const values = loadValues({ GALERA_VALUES: join(EXAMPLES, 'replication-production.yaml') });
    const chart = new ReplicationProxySqlChart(Testing.app(), 'replication-proxysql', values);
    const manifests: Manifest[] = Testing.synth(chart);
    const sts = manifests.find((m) => m.kind === 'StatefulSet');
    const names = (kind: string) => manifests.filter((m) => m.kind === kind).map((m) => m.metadata.name).sort();
    // THEN TLS from cert-manager with plain text refused, policies, backups from a replica, metrics and the replication alerts
    expect(values.topology).toBe('replication');
    expect(chart.replication.tls).toMatchObject({ enabled: true, requireSecureTransport: true, issuer: { name: 'cluster-ca' } });
    for (const kind of [
      'Certificate', 'NetworkPolicy', 'PodDisruptionBudget', 'StorageClass', 'CronJob', 'PodMonitor', 'PrometheusRule',
    ]) expect(`${kind}: ${kinds(manifests).has(kind)}`).toBe(`${kind}: true`);
    expect(
      sts.spec.template.spec.containers.map((c: Container) => c.name),
    ).toEqual(expect.arrayContaining(['mariadb', 'metrics', 'backup']));
    expect(sts.spec.template.spec.topologySpreadConstraints[0].whenUnsatisfiable).toBe('DoNotSchedule');
    expect(myCnf(manifests)).toContain('require_secure_transport=ON');
    expect(names('Certificate')).toContain('mariadb-backup-tls');
    const alerts = manifests.find((m) => m.kind === 'PrometheusRule').spec.groups
      .flatMap((g: { rules: { alert?: string }[] }) => g.rules.map((r) => r.alert));
    expect(alerts).toEqual(expect.arrayContaining(['MariaDbReplicaLagging', 'MariaDbReplicationThreadStopped']));
  });
});

describe('the scripts in each ConfigMap', () => {
  // `source "$(dirname "${BASH_SOURCE[0]}")/X.sh"` and `source "$NODE_LIB_DIR/X.sh"`: a file of the same directory
  const SOURCED = /^\s*(?:source|\.) "\$(?:\(dirname "\$\{BASH_SOURCE\[0\]\}"\)|NODE_LIB_DIR)\/([\w.-]+\.sh)"/gm;

  test.each(files)('%s: every script a ConfigMap holds finds the scripts it sources by name in that ConfigMap', (file) => {
    // GIVEN every ConfigMap that carries scripts (the pods', the backup job's, the binlog archiver's)
    const maps = synth(file).manifests.filter((m) => m.kind === 'ConfigMap' && Object.keys(m.data ?? {}).some((k) => k.endsWith('.sh')));
    expect(maps.length).toBeGreaterThan(0);
    // WHEN the source lines are read / THEN each names a file of the same ConfigMap
    const missing = maps.flatMap((m) => Object.entries(m.data as Record<string, string>).filter(([k]) => k.endsWith('.sh'))
      .flatMap(([name, text]) => [...text.matchAll(SOURCED)].map((x) => x[1]).filter((f) => !(f in m.data))
        .map((f) => `${m.metadata.name}: ${name} sources ${f}`)));
    expect(missing).toEqual([]);
  });
});
