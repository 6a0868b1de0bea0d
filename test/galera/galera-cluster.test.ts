import { readFileSync } from 'fs';
import { join } from 'path';
import { Testing } from 'cdk8s';
import { GaleraCluster, GaleraClusterProps } from '../../src/galera/galera-cluster';
import { GALERA_PATHS, GALERA_PORTS } from '../../src/galera/galera-config';
import type { Container, EnvVar, Volume, VolumeMount } from '../../harness/spec';
import type { Manifest } from '../tools/manifest';

const NODE_SCRIPTS = [
  'galera-lib.sh', 'galera-election.sh', 'galera-init.sh', 'galera-start.sh', 'galera-probe.sh', 'galera-state.sh', 'galera-sst.sh',
  'galera-cutover.sh',
];
/** Scripts shared by every ConfigMap (scripts/common). */
const COMMON_SCRIPTS = ['log.sh', 'node-lib.sh', 'accounts.sh', 'source.sh'];
const CHECKSUM_ANNOTATION = 'galera-proxysql/config-checksum';

/** Synthesizes one GaleraCluster in a fresh chart and returns its manifests by kind and name. */
function synth(props: GaleraClusterProps = {}) {
  const chart = Testing.chart();
  const cluster = new GaleraCluster(chart, 'galera', props);
  const manifests = Testing.synth(chart);
  const find = (kind: string, name: string) => {
    const found = manifests.filter((m) => m.kind === kind && m.metadata.name === name);
    expect(found).toHaveLength(1);
    return found[0];
  };
  const name = cluster.name;
  const sts = find('StatefulSet', name);
  const pod = sts.spec.template.spec;
  return {
    cluster,
    manifests,
    find,
    sts,
    pod,
    mariadb: pod.containers.find((c: Container) => c.name === 'mariadb'),
    init: pod.initContainers.find((c: Container) => c.name === 'init'),
    headless: find('Service', name),
    direct: find('Service', `${name}-direct`),
    read: find('Service', `${name}-read`),
    configMap: find('ConfigMap', `${name}-config`),
    pdb: find('PodDisruptionBudget', name),
  };
}

/**
 * The snapshot pins the construct's own output. The node scripts (owned and edited separately,
 * checked below against the files) and the checksum derived from them are replaced by markers.
 */
function stable(manifests: Manifest[]): Manifest[] {
  return JSON.parse(JSON.stringify(manifests), function (this: Manifest, key: string, value: Manifest) {
    if (key === CHECKSUM_ANNOTATION) return '<sha256 of the ConfigMap data>';
    if (this && this['my.cnf'] !== undefined && NODE_SCRIPTS.includes(key)) return `<contents of scripts/node/${key}>`;
    if (this && this['my.cnf'] !== undefined && COMMON_SCRIPTS.includes(key)) return `<contents of scripts/common/${key}>`;
    return value;
  });
}

const scriptOnDisk = (name: string) => readFileSync(join(__dirname, '..', '..', 'scripts', 'node', name), 'utf8');

test('default GaleraCluster matches the snapshot', () => {
  // GIVEN / WHEN
  const { manifests } = synth();

  // THEN
  expect(manifests.map((m) => `${m.kind}/${m.metadata.name}`).sort()).toEqual([
    'ConfigMap/galera-config', 'PodDisruptionBudget/galera', 'Service/galera', 'Service/galera-direct', 'Service/galera-read',
    'StatefulSet/galera',
  ]);
  expect(stable(manifests)).toMatchSnapshot();
});

test('customized GaleraCluster matches the snapshot', () => {
  // GIVEN / WHEN
  const { manifests } = synth({
    name: 'orders', namespace: 'shop', replicas: 5, storageSize: '50Gi', storageClassName: 'fast-ssd', accessMode: 'ReadWriteOncePod',
    resources: { cpuRequest: '2', cpuLimit: '4', memoryRequest: '4Gi', memoryLimit: '8Gi' }, innodbBufferPoolSize: '4G',
    maxConnections: 1000,
    extraMyCnf: ['long_query_time=2'], providerOptions: { 'gcache.size': '2G', 'evs.suspect_timeout': 'PT4S' },
    secretName: 'orders-secrets',
    appUser: 'orders', appDatabase: 'orders', antiAffinity: 'required', topologySpread: { required: true }, readyWhenDonor: true,
    sstSecondsPerGi: 30, clusterDomain: 'example.internal', terminationGracePeriodSeconds: 300, imagePullPolicy: 'Always',
  });

  // THEN
  expect(stable(manifests)).toMatchSnapshot();
});

describe('StatefulSet', () => {
  test('runs 3 replicas with the Parallel pod management policy by default', () => {
    // GIVEN / WHEN
    const { sts, headless, cluster } = synth();

    // THEN
    expect(cluster.replicas).toBe(3);
    expect(sts.spec.replicas).toBe(3);
    // OrderedReady would deadlock a full restart whose bootstrap node is not pod 0.
    expect(sts.spec.podManagementPolicy).toBe('Parallel');
    expect(sts.spec.serviceName).toBe(headless.metadata.name);
    expect(sts.spec.updateStrategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { partition: 0 } });
  });

  test('the selector matches the pod template labels and the exposed selectorLabels', () => {
    // GIVEN / WHEN
    const { sts, cluster } = synth({ name: 'orders' });

    // THEN
    expect(sts.spec.selector.matchLabels).toEqual(cluster.selectorLabels);
    expect(sts.spec.template.metadata.labels).toMatchObject(cluster.selectorLabels);
    expect(cluster.selectorLabels).toEqual({ 'app.kubernetes.io/name': 'mariadb-galera', 'app.kubernetes.io/instance': 'orders' });
  });

  test('every object is in the namespace and carries the part-of label', () => {
    // GIVEN / WHEN
    const { manifests } = synth({ namespace: 'shop' });

    // THEN
    for (const m of manifests) {
      expect(m.metadata.namespace).toBe('shop');
      expect(m.metadata.labels['app.kubernetes.io/part-of']).toBe('galera-proxysql');
    }
  });

  test('replicas follow the props', () => {
    // GIVEN / WHEN
    const { sts, cluster } = synth({ replicas: 7 });

    // THEN
    expect(sts.spec.replicas).toBe(7);
    expect(cluster.podDnsNames).toHaveLength(7);
  });

  test('volumeClaimTemplates request 10Gi ReadWriteOnce from the default class by default', () => {
    // GIVEN / WHEN
    const { sts, mariadb } = synth();

    // THEN
    expect(sts.spec.volumeClaimTemplates).toHaveLength(1);
    const claim = sts.spec.volumeClaimTemplates[0];
    expect(claim.metadata.name).toBe('data');
    expect(claim.spec.accessModes).toEqual(['ReadWriteOnce']);
    expect(claim.spec.resources.requests.storage).toBe('10Gi');
    expect(claim.spec.storageClassName).toBeUndefined();
    // The claim is what backs the data directory (it is not a pod volume).
    expect(mariadb.volumeMounts).toContainEqual({ name: 'data', mountPath: GALERA_PATHS.data });
  });

  test('volumeClaimTemplates follow storageSize, storageClassName and accessMode', () => {
    // GIVEN / WHEN
    const { sts } = synth({ storageSize: '250Gi', storageClassName: 'fast-ssd', accessMode: 'ReadWriteOncePod' });

    // THEN
    const claim = sts.spec.volumeClaimTemplates[0];
    expect(claim.spec.resources.requests.storage).toBe('250Gi');
    expect(claim.spec.storageClassName).toBe('fast-ssd');
    expect(claim.spec.accessModes).toEqual(['ReadWriteOncePod']);
  });

  test('every volume mount refers to a pod volume or the claim template', () => {
    // GIVEN / WHEN
    const { sts, pod } = synth();

    // THEN
    const known = new Set([
      ...pod.volumes.map((v: Manifest) => v.name), ...sts.spec.volumeClaimTemplates.map((c: Manifest) => c.metadata.name),
    ]);
    for (const c of [...pod.containers, ...pod.initContainers]) {
      for (const m of c.volumeMounts) expect(known).toContain(m.name);
    }
  });

  test('image and pull policy default to the pinned official image', () => {
    // GIVEN / WHEN
    const { mariadb, init } = synth();

    // THEN
    for (const c of [mariadb, init]) {
      expect(c.image).toBe('docker.io/library/mariadb:10.11.19');
      expect(c.imagePullPolicy).toBe('IfNotPresent');
    }
  });
});

describe('probes', () => {
  test('the mariadb container has exactly the three exec probes of the construct', () => {
    // GIVEN / WHEN
    const { mariadb } = synth();

    // THEN
    const probeKeys = Object.keys(mariadb).filter((k) => k.endsWith('Probe')).sort();
    expect(probeKeys).toEqual(['livenessProbe', 'readinessProbe', 'startupProbe']);
    for (const [key, kind] of [['startupProbe', 'startup'], ['readinessProbe', 'readiness'], ['livenessProbe', 'liveness']]) {
      const probe = mariadb[key];
      // No silent TCP or HTTP probe (cdk8s-plus adds a TCP startup probe when a port is set).
      expect(probe.tcpSocket).toBeUndefined();
      expect(probe.httpGet).toBeUndefined();
      expect(probe.grpc).toBeUndefined();
      expect(probe.exec).toEqual({ command: ['bash', `${GALERA_PATHS.config}/galera-probe.sh`, kind] });
    }
    expect(mariadb.readinessProbe).toMatchObject({ periodSeconds: 5, timeoutSeconds: 4, failureThreshold: 2, successThreshold: 1 });
    expect(mariadb.livenessProbe).toMatchObject({ periodSeconds: 10, timeoutSeconds: 8, failureThreshold: 6, successThreshold: 1 });
  });

  test('the init container has no probe', () => {
    // GIVEN / WHEN
    const { init } = synth();

    // THEN
    expect(Object.keys(init).filter((k) => k.endsWith('Probe'))).toEqual([]);
  });

  test('the startup probe allows a state transfer of the whole volume', () => {
    // GIVEN / WHEN
    const small = synth().mariadb.startupProbe;
    const large = synth({ storageSize: '100Gi', sstSecondsPerGi: 30 }).mariadb.startupProbe;

    // THEN: 120 s plus sstSecondsPerGi (default 60) per GiB, in periods of 10 s.
    expect(small.periodSeconds).toBe(10);
    expect(small.periodSeconds * small.failureThreshold).toBe(120 + 60 * 10);
    expect(large.periodSeconds * large.failureThreshold).toBe(120 + 30 * 100);
    // Far more than the ~30 s of a default startup probe.
    expect(small.periodSeconds * small.failureThreshold).toBeGreaterThan(300);
  });

  test('every script the pod runs is in the ConfigMap mounted at the config path', () => {
    // GIVEN / WHEN
    const { pod, mariadb, init, configMap } = synth();

    // THEN
    const configVolume = pod.volumes.find((v: Volume) => v.name === 'config');
    expect(configVolume.configMap.name).toBe(configMap.metadata.name);
    expect(mariadb.volumeMounts).toContainEqual({ name: 'config', mountPath: GALERA_PATHS.config, readOnly: true });
    const commands = [
      mariadb.command, init.command, mariadb.startupProbe.exec.command, mariadb.readinessProbe.exec.command,
      mariadb.livenessProbe.exec.command,
    ];
    for (const command of commands) {
      expect(command[0]).toBe('bash');
      expect(command[1].startsWith(`${GALERA_PATHS.config}/`)).toBe(true);
      expect(Object.keys(configMap.data)).toContain(command[1].slice(GALERA_PATHS.config.length + 1));
    }
  });
});

describe('security context', () => {
  test('the pod runs as the mysql user 999 and never as root', () => {
    // GIVEN / WHEN
    const { pod } = synth();

    // THEN
    expect(pod.securityContext).toMatchObject({ runAsUser: 999, runAsGroup: 999, fsGroup: 999, runAsNonRoot: true });
    expect(pod.securityContext.seccompProfile).toEqual({ type: 'RuntimeDefault' });
    expect(pod.automountServiceAccountToken).toBe(false);
  });

  test('every container has a read-only root, no privilege escalation and drops ALL capabilities', () => {
    // GIVEN / WHEN
    const { pod } = synth();

    // THEN
    const containers = [...pod.initContainers, ...pod.containers];
    expect(containers.map((c: Container) => c.name).sort()).toEqual(['init', 'mariadb']);
    for (const c of containers) {
      expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, runAsNonRoot: true });
      expect(c.securityContext.capabilities).toEqual({ drop: ['ALL'] });
      expect(c.securityContext.privileged).not.toBe(true);
    }
  });

  test('with a read-only root, every written path is a volume', () => {
    // GIVEN / WHEN
    const { mariadb } = synth();

    // THEN
    const mounted = mariadb.volumeMounts.filter((m: VolumeMount) => !m.readOnly).map((m: VolumeMount) => m.mountPath);
    for (const path of [GALERA_PATHS.data, GALERA_PATHS.runtime, GALERA_PATHS.socketDir, GALERA_PATHS.tmp]) expect(mounted).toContain(path);
  });
});

describe('scheduling', () => {
  test('anti-affinity is preferred on the hostname by default', () => {
    // GIVEN / WHEN
    const { pod, cluster } = synth();

    // THEN
    expect(pod.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution).toBeUndefined();
    expect(pod.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution).toEqual([{
      weight: 100,
      podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: cluster.selectorLabels } },
    }]);
  });

  test('required anti-affinity puts every pod on its own node', () => {
    // GIVEN / WHEN
    const { pod, cluster } = synth({ antiAffinity: 'required' });

    // THEN
    expect(pod.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution).toBeUndefined();
    expect(pod.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution).toEqual([
      { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: cluster.selectorLabels } },
    ]);
  });

  test('antiAffinity none emits no affinity', () => {
    // GIVEN / WHEN
    const { pod } = synth({ antiAffinity: 'none' });

    // THEN
    expect(pod.affinity).toBeUndefined();
  });

  test('no topology spread constraint by default', () => {
    // GIVEN / WHEN
    const { pod } = synth();

    // THEN
    expect(pod.topologySpreadConstraints).toBeUndefined();
  });

  test('topology spread defaults to zones, skew 1, ScheduleAnyway', () => {
    // GIVEN / WHEN
    const { pod, cluster } = synth({ topologySpread: {} });

    // THEN
    expect(pod.topologySpreadConstraints).toEqual([{
      topologyKey: 'topology.kubernetes.io/zone', maxSkew: 1, whenUnsatisfiable: 'ScheduleAnyway',
      labelSelector: { matchLabels: cluster.selectorLabels },
    }]);
  });

  test('required topology spread with a custom key and skew', () => {
    // GIVEN / WHEN
    const { pod } = synth({ topologySpread: { topologyKey: 'example.com/rack', maxSkew: 2, required: true } });

    // THEN
    expect(pod.topologySpreadConstraints).toHaveLength(1);
    expect(pod.topologySpreadConstraints[0]).toMatchObject({
      topologyKey: 'example.com/rack', maxSkew: 2, whenUnsatisfiable: 'DoNotSchedule',
    });
  });
});

describe('Services', () => {
  test('the headless Service publishes not-ready pods with the named Galera ports', () => {
    // GIVEN / WHEN
    const { headless, cluster } = synth();

    // THEN
    expect(headless.spec.clusterIP).toBe('None');
    expect(headless.spec.publishNotReadyAddresses).toBe(true);
    expect(headless.spec.selector).toEqual(cluster.selectorLabels);
    const ports = Object.fromEntries(headless.spec.ports.map((p: Manifest) => [p.name, p.port]));
    expect(ports).toMatchObject({ mysql: 3306, galera: 4567, ist: 4568, sst: 4444 });
    for (const p of headless.spec.ports) {
      expect(p.protocol).toBe('TCP');
      expect(p.targetPort).toBe(p.port);
    }
    expect(cluster.headlessService.name).toBe('galera');
  });

  test('the container declares every Galera port under the same name', () => {
    // GIVEN / WHEN
    const { mariadb } = synth();

    // THEN
    const ports = Object.fromEntries(mariadb.ports.map((p: Manifest) => [p.name, p.containerPort]));
    expect(ports).toEqual({ ...GALERA_PORTS });
  });

  test('the direct Service is a sticky ClusterIP on the mysql port', () => {
    // GIVEN / WHEN
    const { direct, cluster } = synth();

    // THEN
    expect(direct.spec.type).toBe('ClusterIP');
    expect(direct.spec.clusterIP).toBeUndefined();
    expect(direct.spec.publishNotReadyAddresses).toBeUndefined();
    expect(direct.spec.sessionAffinity).toBe('ClientIP');
    expect(direct.spec.selector).toEqual(cluster.selectorLabels);
    expect(direct.spec.ports).toEqual([{ name: 'mysql', port: 3306, targetPort: 'mysql', protocol: 'TCP' }]);
    expect(cluster.endpoint).toBe('galera-direct.default.svc:3306');
  });

  test('the read Service spreads connections over ready nodes', () => {
    // GIVEN / WHEN
    const { read, cluster } = synth();

    // THEN
    expect(read.spec.type).toBe('ClusterIP');
    expect(read.spec.sessionAffinity).toBeUndefined();
    expect(read.spec.publishNotReadyAddresses).toBeUndefined();
    expect(read.spec.selector).toEqual(cluster.selectorLabels);
    expect(read.spec.ports).toEqual([{ name: 'mysql', port: 3306, targetPort: 'mysql', protocol: 'TCP' }]);
  });
});

describe('PodDisruptionBudget', () => {
  test('allows one node down at a time', () => {
    // GIVEN / WHEN
    const { pdb, cluster } = synth({ replicas: 5 });

    // THEN
    expect(pdb.apiVersion).toBe('policy/v1');
    expect(pdb.spec.maxUnavailable).toBe(1);
    expect(pdb.spec.minAvailable).toBeUndefined();
    expect(pdb.spec.selector).toEqual({ matchLabels: cluster.selectorLabels });
  });
});

describe('ConfigMap', () => {
  test('contains my.cnf and every node script, byte for byte', () => {
    // GIVEN / WHEN
    const { configMap } = synth();

    // THEN
    expect(Object.keys(configMap.data).sort()).toEqual(['my.cnf', ...NODE_SCRIPTS, ...COMMON_SCRIPTS].sort());
    for (const script of NODE_SCRIPTS) expect(configMap.data[script]).toBe(scriptOnDisk(script));
    for (const script of COMMON_SCRIPTS) expect(configMap.data[script]).toBe(
      readFileSync(join(__dirname, '..', '..', 'scripts', 'common', script), 'utf8'),
    );
  });

  test('my.cnf names the cluster, every peer and the merged provider options', () => {
    // GIVEN / WHEN
    const { configMap, cluster } = synth({ name: 'orders', providerOptions: { 'gcache.size': '2G', 'evs.suspect_timeout': 'PT4S' } });

    // THEN
    const cnf: string = configMap.data['my.cnf'];
    const lines = cnf.split('\n');
    expect(lines).toContain('wsrep_on=ON');
    expect(lines).toContain('wsrep_cluster_name=orders');
    expect(lines).toContain(`wsrep_cluster_address=gcomm://${cluster.podDnsNames.join(',')}`);
    expect(lines).toContain('binlog_format=ROW');
    expect(lines).toContain('innodb_autoinc_lock_mode=2');
    const options = lines.find((l) => l.startsWith('wsrep_provider_options='))!;
    // User options override the defaults; the other defaults stay.
    expect(options).toBe('wsrep_provider_options="gcache.size=2G;gcache.recover=yes;pc.recovery=FALSE;evs.suspect_timeout=PT4S;'
      + 'evs.inactive_timeout=PT6S;evs.inactive_check_period=PT1S;evs.keepalive_period=PT1S;evs.install_timeout=PT6S;'
      + 'socket.ssl=YES;socket.ssl_cert=/etc/mariadb/tls/tls.crt;socket.ssl_key=/etc/mariadb/tls/tls.key;'
      + 'socket.ssl_ca=/etc/mariadb/tls/ca.crt"');
  });

  test('extraMyCnf lines land in the [mysqld] section', () => {
    // GIVEN / WHEN
    const { configMap } = synth({ extraMyCnf: ['long_query_time=2', 'slow_query_log=ON'] });

    // THEN
    const lines: string[] = configMap.data['my.cnf'].split('\n');
    const mysqld = lines.indexOf('[mysqld]');
    const client = lines.indexOf('[client]');
    for (const extra of ['long_query_time=2', 'slow_query_log=ON']) {
      expect(lines.indexOf(extra)).toBeGreaterThan(mysqld);
      expect(lines.indexOf(extra)).toBeLessThan(client);
    }
  });

  test('buffer pool and max_connections follow the props', () => {
    // GIVEN / WHEN
    const defaults: string[] = synth().configMap.data['my.cnf'].split('\n');
    const custom: string[] = synth({
      innodbBufferPoolSize: '4G', maxConnections: 2000, resources: { memoryRequest: '6Gi', memoryLimit: '6Gi' },
    }).configMap.data['my.cnf'].split('\n');

    // THEN
    expect(defaults).toEqual(expect.arrayContaining(['innodb_buffer_pool_size=512M', 'max_connections=500']));
    expect(custom).toEqual(expect.arrayContaining(['innodb_buffer_pool_size=4G', 'max_connections=2000']));
  });
});

describe('config checksum annotation', () => {
  const checksum = (props: GaleraClusterProps = {}) => synth(props).sts.spec.template.metadata.annotations[CHECKSUM_ANNOTATION];

  test('is a stable hex digest', () => {
    // GIVEN / WHEN / THEN
    expect(checksum()).toMatch(/^[0-9a-f]{16}$/);
    expect(checksum()).toBe(checksum());
  });

  test('changes when the configuration changes, so the pods roll', () => {
    // GIVEN
    const base = checksum();

    // WHEN / THEN
    expect(checksum({ maxConnections: 600 })).not.toBe(base);
    expect(checksum({ extraMyCnf: ['long_query_time=2'] })).not.toBe(base);
    expect(checksum({ providerOptions: { 'gcache.size': '1G' } })).not.toBe(base);
    expect(checksum({ replicas: 5 })).not.toBe(base); // the peer list is in my.cnf
  });

  test('stays the same when only non-config settings change', () => {
    // GIVEN
    const base = checksum();

    // WHEN / THEN
    expect(checksum({ storageSize: '20Gi' })).toBe(base);
    expect(checksum({ antiAffinity: 'required' })).toBe(base);
    expect(checksum({ resources: { cpuRequest: '1' } })).toBe(base);
  });
});

describe('environment and credentials', () => {
  test('the pods get their peers and the Secret name, never a password', () => {
    // GIVEN / WHEN
    const { mariadb, init, cluster, pod } = synth({ secretName: 'orders-secrets' });

    // THEN
    for (const c of [mariadb, init]) {
      const env = Object.fromEntries(c.env.map((e: EnvVar) => [e.name, e.value ?? e.valueFrom]));
      expect(env.NODE_PEERS).toBe(cluster.podDnsNames.join(','));
      expect(env.NODE_SECRET_NAME).toBe('orders-secrets');
      expect(env.NODE_CREDENTIALS_DIR).toBe(GALERA_PATHS.credentials);
      expect(env.POD_NAME).toEqual({ fieldRef: { fieldPath: 'metadata.name' } });
    }
    expect(pod.volumes.find((v: Volume) => v.name === 'credentials')).toEqual({
      name: 'credentials', secret: { secretName: 'orders-secrets', defaultMode: 0o440, optional: true },
    });
    expect(cluster.secretName).toBe('orders-secrets');
  });

  test('the Secret name defaults to <name>-credentials', () => {
    // GIVEN / WHEN / THEN
    expect(synth({ name: 'orders' }).cluster.secretName).toBe('orders-credentials');
  });
});

describe('properties', () => {
  test('podDnsNames lists one FQDN per ordinal, pod 0 first', () => {
    // GIVEN / WHEN
    const { cluster } = synth();

    // THEN
    expect(cluster.podDnsNames).toEqual([
      'galera-0.galera.default.svc.cluster.local',
      'galera-1.galera.default.svc.cluster.local',
      'galera-2.galera.default.svc.cluster.local',
    ]);
  });

  test('podDnsNames follow name, namespace, replicas and clusterDomain', () => {
    // GIVEN / WHEN
    const { cluster } = synth({ name: 'orders', namespace: 'shop', replicas: 5, clusterDomain: 'example.internal' });

    // THEN
    expect(cluster.podDnsNames).toHaveLength(5);
    cluster.podDnsNames.forEach((dns, i) => expect(dns).toBe(`orders-${i}.orders.shop.svc.example.internal`));
  });

  test('exposes name, namespace, port and the sub-objects', () => {
    // GIVEN / WHEN
    const { cluster } = synth({ name: 'orders', namespace: 'shop' });

    // THEN
    expect(cluster.name).toBe('orders');
    expect(cluster.namespace).toBe('shop');
    expect(cluster.port).toBe(3306);
    expect(cluster.statefulSet.name).toBe('orders');
    expect(cluster.directService.name).toBe('orders-direct');
    expect(cluster.readService.name).toBe('orders-read');
    expect(cluster.configMap.name).toBe('orders-config');
    expect(cluster.podDisruptionBudget.name).toBe('orders');
    expect(cluster.appUser).toBe('app');
    expect(cluster.appDatabase).toBe('app');
  });
});

describe('resources', () => {
  test('default requests and a memory limit, no CPU limit', () => {
    // GIVEN / WHEN
    const { mariadb } = synth();

    // THEN
    expect(mariadb.resources).toEqual({ requests: { cpu: '500m', memory: '1Gi' }, limits: { memory: '2Gi' } });
  });

  test('custom resources, with a CPU limit only when asked', () => {
    // GIVEN / WHEN
    const { mariadb, init } = synth({ resources: { cpuRequest: '2', cpuLimit: '4', memoryRequest: '4Gi', memoryLimit: '8Gi' } });

    // THEN
    expect(mariadb.resources).toEqual({ requests: { cpu: '2', memory: '4Gi' }, limits: { cpu: '4', memory: '8Gi' } });
    expect(init.resources.limits.memory).toBe('8Gi');
  });
});

describe('failure detector options', () => {
  test('a suspect timeout longer than the inactive timeout is rejected, naming both options', () => {
    // GIVEN a chart / WHEN only evs.suspect_timeout is raised past the balanced inactive timeout
    const chart = Testing.chart();
    // THEN synthesis stops with an error naming the fields and the allowed presets
    expect(() => new GaleraCluster(chart, 'g', { providerOptions: { 'evs.suspect_timeout': 'PT10S' } }))
      .toThrow(/evs\.suspect_timeout \(PT10S\) must not exceed evs\.inactive_timeout \(PT6S\).*'galera-default', 'balanced' or 'fast'/);
  });

  test('an unknown failureDetection preset is rejected with the allowed values', () => {
    const chart = Testing.chart();
    expect(() => new GaleraCluster(chart, 'g', { failureDetection: 'instant' as never }))
      .toThrow("failureDetection must be one of 'galera-default', 'balanced', 'fast', got \"instant\"");
  });

  test('fast preset renders the measured fast timeouts', () => {
    const chart = Testing.chart();
    new GaleraCluster(chart, 'g', { failureDetection: 'fast' });
    const cm = Testing.synth(chart).find((o: Manifest) => o.kind === 'ConfigMap');
    expect(cm.data['my.cnf']).toContain(
      'evs.suspect_timeout=PT2S;evs.inactive_timeout=PT4S;evs.inactive_check_period=PT0.5S;evs.keepalive_period=PT0.5S;'
        + 'evs.install_timeout=PT4S',
    );
  });

  const providerOptions = (props: GaleraClusterProps): Record<string, string> => {
    const chart = Testing.chart();
    new GaleraCluster(chart, 'g', props);
    const cm = Testing.synth(chart).find((o: Manifest) => o.kind === 'ConfigMap');
    const line = (cm.data['my.cnf'] as string).split('\n').find((l) => l.startsWith('wsrep_provider_options='))!;
    return Object.fromEntries(line.slice('wsrep_provider_options="'.length, -1).split(';').map((kv) => kv.split('=') as [string, string]));
  };

  test('the install timeout follows the inactive timeout, so the survivors of a crash agree on a new view before giving up', () => {
    // GIVEN / WHEN a user's own inactive timeout, without an install timeout
    const own = providerOptions({ providerOptions: { 'evs.suspect_timeout': 'PT5S', 'evs.inactive_timeout': 'PT10S' } });
    // THEN Galera's default (half the inactive timeout) is replaced by the inactive timeout
    expect(own['evs.install_timeout']).toBe('PT10S');
    // and an install timeout the user sets is kept; Galera's own defaults stay Galera's
    expect(providerOptions({ providerOptions: { 'evs.install_timeout': 'PT4S' } })['evs.install_timeout']).toBe('PT4S');
    expect(providerOptions({ failureDetection: 'galera-default' })['evs.install_timeout']).toBeUndefined();
  });

  test('an install timeout longer than the inactive timeout (mariadbd would not start) is rejected, naming both', () => {
    const chart = Testing.chart();
    expect(() => new GaleraCluster(chart, 'g', { providerOptions: { 'evs.install_timeout': 'PT7S' } }))
      .toThrow('providerOptions: evs.install_timeout (PT7S) must not exceed evs.inactive_timeout (PT6S)');
    expect(() => new GaleraCluster(Testing.chart(), 'g', {
      failureDetection: 'galera-default', providerOptions: { 'evs.install_timeout': 'PT16S' },
    }))
      .toThrow("evs.install_timeout (PT16S) must not exceed evs.inactive_timeout (PT15S, Galera's default)");
  });
});

describe('TLS', () => {
  const cnfLines = (props: GaleraClusterProps) => (synth(props).configMap.data['my.cnf'] as string).split('\n');
  const env = (container: Manifest) => Object.fromEntries(container.env.map((e: Manifest) => [e.name, e.value]));

  test('on by default: clients, replication and SST use the certificate of the Secret <name>-tls, mounted whole (renewals arrive)', () => {
    // GIVEN / WHEN
    const { cluster, pod, mariadb, configMap } = synth({ name: 'orders' });

    // THEN
    const lines = (configMap.data['my.cnf'] as string).split('\n');
    expect(lines).toEqual(expect.arrayContaining([
      'ssl_cert=/etc/mariadb/tls/tls.crt', 'ssl_key=/etc/mariadb/tls/tls.key', 'ssl_ca=/etc/mariadb/tls/ca.crt',
      'require_secure_transport=OFF',
    ]));
    expect(lines.find((l) => l.startsWith('wsrep_provider_options='))).toContain('socket.ssl=YES;');
    expect(lines.find((l) => l.startsWith('wsrep_provider_options='))).not.toContain('socket.dynamic');
    // the [sst] section verifies the donor's certificate against the CA
    expect(lines.slice(lines.indexOf('[sst]'))).toContain('ssl-mode=VERIFY_CA');
    expect(cluster.tlsSecretName).toBe('orders-tls');
    expect(pod.volumes).toContainEqual({ name: 'tls', secret: { secretName: 'orders-tls', defaultMode: 0o440, optional: true } });
    const mount = mariadb.volumeMounts.find((m: VolumeMount) => m.name === 'tls');
    expect(mount).toEqual({ name: 'tls', mountPath: '/etc/mariadb/tls', readOnly: true });
    expect(env(mariadb)).toMatchObject({ NODE_TLS: 'on', NODE_TLS_SECRET_NAME: 'orders-tls' });
    // the certificate names every pod and Service name a client or a peer uses
    expect(cluster.certificateSpec!.dnsNames).toEqual(
      expect.arrayContaining([...cluster.podDnsNames, 'orders-direct.default.svc', 'orders-read', '*.orders.default.svc.cluster.local']),
    );
  });

  test('requireSecureTransport refuses plain-text clients', () => {
    expect(cnfLines({ tls: { requireSecureTransport: true } })).toContain('require_secure_transport=ON');
  });

  test('transitional: nodes accept plain and TLS peers, SST is plain, so old and new pods stay one cluster', () => {
    const lines = cnfLines({ tls: { transitional: true } });
    expect(lines.find((l) => l.startsWith('wsrep_provider_options='))).toContain('socket.dynamic=YES');
    expect(lines).not.toContain('[sst]');
    expect(env(synth({ tls: { transitional: true } }).mariadb).NODE_TLS).toBe('transitional');
  });

  test('enabled: false: no ssl settings, no Secret volume, and rsync SST stays possible', () => {
    const { cluster, pod, mariadb, configMap } = synth({ tls: { enabled: false } });
    expect(configMap.data['my.cnf']).not.toMatch(/ssl/);
    expect(cluster.tlsSecretName).toBeUndefined();
    expect(pod.volumes.map((v: Volume) => v.name)).not.toContain('tls');
    expect(env(mariadb).NODE_TLS).toBe('off');
  });

  test('with an issuer, a cert-manager Certificate keeps the Secret current (ECDSA, rotated key, renewed 30 days ahead)', () => {
    // GIVEN / WHEN
    const { manifests } = synth({ tls: { issuer: { name: 'cluster-ca', kind: 'ClusterIssuer' } } });

    // THEN
    const certs = manifests.filter((m) => m.kind === 'Certificate');
    expect(certs).toHaveLength(1);
    expect(certs[0].spec).toMatchObject({
      secretName: 'galera-tls', duration: '2160h', renewBefore: '720h',
      privateKey: { algorithm: 'ECDSA', size: 256, rotationPolicy: 'Always' },
      issuerRef: { name: 'cluster-ca', kind: 'ClusterIssuer', group: 'cert-manager.io' },
    });
    expect(certs[0].spec.usages).toEqual(expect.arrayContaining(['server auth', 'client auth']));
  });

  test('without an issuer no Certificate object is emitted (the Secret comes from npm run -s new-tls)', () => {
    expect(synth().manifests.filter((m) => m.kind === 'Certificate')).toEqual([]);
  });
});
