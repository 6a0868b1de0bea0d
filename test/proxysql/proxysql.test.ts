import { createHash } from 'crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { Chart, Testing } from 'cdk8s';
import { stringify } from 'yaml';
import { SECRET_KEYS } from '../../src/core/credentials';
import { GaleraCluster, GaleraClusterProps } from '../../src/galera/galera-cluster';
import { GaleraProxySqlChart } from '../../src/charts/galera-proxysql-chart';
import { ProxySql, ProxySqlProps } from '../../src/proxysql/proxysql';
import { schemaKeys } from '../../src/values/schema';
import { PROXYSQL_PATHS, TEMPLATE_FILE } from '../../src/proxysql/proxysql-config';
import { readScript } from '../../src/core/scripts';
import { ValidationError } from '../../src/values/validation';
import { loadValues } from '../../src/values/values';
import { schemaErrors } from '../tools/schema';
import type { EnvVar, Volume, VolumeMount } from '../../harness/spec';
import type { Manifest } from '../tools/manifest';

const CHECKSUM_ANNOTATION = 'galera-proxysql/config-checksum';

function synth(proxyProps: Omit<ProxySqlProps, 'backend'> = {}, galeraProps: GaleraClusterProps = {}) {
  const chart = new Chart(Testing.app(), 'test');
  const galera = new GaleraCluster(chart, 'galera', galeraProps);
  const proxysql = new ProxySql(chart, 'proxysql', { backend: galera, ...proxyProps });
  const own = new Set(proxysql.node.findAll().map((c) => c.node.path));
  const manifests = Testing.synth(chart);
  const mine = manifests.filter((m) => [proxysql.configMap, proxysql.service, proxysql.deployment, proxysql.podDisruptionBudget]
    .some((o) => o.kind === m.kind && o.name === m.metadata.name));
  const deployment = mine.find((m) => m.kind === 'Deployment');
  return {
    galera, proxysql, own, manifests: mine,
    deployment,
    pod: deployment.spec.template.spec,
    container: deployment.spec.template.spec.containers[0],
    service: mine.find((m) => m.kind === 'Service'),
    configMap: mine.find((m) => m.kind === 'ConfigMap'),
    pdb: mine.find((m) => m.kind === 'PodDisruptionBudget'),
  };
}

/** The problems of the ValidationError that constructing with these props throws. */
function problemsOf(proxyProps: Record<string, unknown>, galeraProps: GaleraClusterProps = {}): string[] {
  try {
    synth(proxyProps as Omit<ProxySqlProps, 'backend'>, galeraProps);
  } catch (e) {
    if (e instanceof ValidationError) return e.problems;
    throw e;
  }
  throw new Error('no ValidationError was thrown');
}

describe('ProxySql with defaults', () => {
  const s = synth();

  test('matches the snapshot', () => {
    expect(s.manifests).toMatchSnapshot();
  });

  test('emits a ConfigMap <name>-config, a Deployment, a Service and a PodDisruptionBudget named after the Galera cluster', () => {
    expect(s.manifests.map((m) => `${m.kind}/${m.metadata.name}`).sort()).toEqual([
      'ConfigMap/galera-proxysql-config', 'Deployment/galera-proxysql', 'PodDisruptionBudget/galera-proxysql', 'Service/galera-proxysql',
    ]);
    for (const m of s.manifests) {
      expect(m.metadata.namespace).toBe('default');
      expect(m.metadata.labels['app.kubernetes.io/part-of']).toBe('galera-proxysql');
    }
    expect(s.proxysql.name).toBe('galera-proxysql');
    expect(s.proxysql.port).toBe(3306);
    expect(s.proxysql.endpoint).toBe('galera-proxysql.default.svc:3306');
  });

  test('the Service maps 3306 to the container port 6033 and does not expose the admin port', () => {
    expect(s.service.spec.type).toBe('ClusterIP');
    expect(s.service.spec.ports).toEqual([{ name: 'mysql', port: 3306, targetPort: 6033, protocol: 'TCP' }]);
    expect(JSON.stringify(s.service)).not.toContain('6032');
    expect(s.container.ports).toEqual([{ name: 'mysql', containerPort: 6033, protocol: 'TCP' }]);
    // the Service selects exactly the pods of this Deployment
    expect(s.service.spec.selector).toEqual(s.deployment.spec.selector.matchLabels);
    for (const [k, v] of Object.entries(s.service.spec.selector)) expect(s.deployment.spec.template.metadata.labels[k]).toBe(v);
  });

  test('3 replicas, a PodDisruptionBudget of maxUnavailable 1 and preferred anti-affinity over nodes', () => {
    expect(s.deployment.spec.replicas).toBe(3);
    expect(s.deployment.spec.strategy.rollingUpdate).toEqual({ maxSurge: 1, maxUnavailable: 0 });
    expect(s.pdb.spec).toEqual({ maxUnavailable: 1, selector: { matchLabels: s.deployment.spec.selector.matchLabels } });
    expect(s.pod.affinity).toEqual({
      podAntiAffinity: {
        preferredDuringSchedulingIgnoredDuringExecution: [{
          weight: 100, podAffinityTerm: {
            topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: s.deployment.spec.selector.matchLabels },
          },
        }],
      },
    });
  });

  test('runs as uid/gid 999, non-root, read-only root filesystem, no privilege escalation, no capabilities', () => {
    expect(s.pod.securityContext).toMatchObject({
      runAsUser: 999, runAsGroup: 999, fsGroup: 999, runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(s.container.securityContext).toEqual({
      allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] },
    });
    expect(s.pod.automountServiceAccountToken).toBe(false);
  });

  test('every path ProxySQL writes is an emptyDir; the one with the rendered passwords is memory-backed', () => {
    const volumes = Object.fromEntries(s.pod.volumes.map((v: Volume) => [v.name, v]));
    const mounts = Object.fromEntries(s.container.volumeMounts.map((m: VolumeMount) => [m.mountPath, m]));
    expect(volumes[mounts[PROXYSQL_PATHS.rendered].name].emptyDir).toEqual({ medium: 'Memory', sizeLimit: '1Mi' });
    expect(volumes[mounts[PROXYSQL_PATHS.data].name].emptyDir).toBeDefined();
    expect(volumes[mounts[PROXYSQL_PATHS.tmp].name].emptyDir).toBeDefined();
    expect(volumes[mounts[PROXYSQL_PATHS.agent].name].emptyDir).toEqual({ medium: 'Memory', sizeLimit: '1Mi' });
    // the writable mounts are exactly those four
    expect(s.container.volumeMounts.filter((m: VolumeMount) => !m.readOnly).map((m: VolumeMount) => m.mountPath).sort())
      .toEqual([PROXYSQL_PATHS.rendered, PROXYSQL_PATHS.data, PROXYSQL_PATHS.tmp, PROXYSQL_PATHS.agent].sort());
    expect(mounts[PROXYSQL_PATHS.scripts]).toMatchObject({ readOnly: true });
    expect(volumes[mounts[PROXYSQL_PATHS.scripts].name].configMap.name).toBe('galera-proxysql-config');
  });

  test('the Galera cluster\'s Secret is mounted as files, only the three keys ProxySQL needs, '
    + 'optional so the script can name what is missing', () => {
    const credentials = s.pod.volumes.find((v: Volume) => v.secret);
    expect(credentials.secret).toEqual({
      secretName: s.galera.secretName,
      items: [SECRET_KEYS.app, SECRET_KEYS.monitor, SECRET_KEYS.proxysqlAdmin].map((k) => ({ key: k, path: k })),
      defaultMode: 0o440,
      optional: true,
    });
    expect(
      s.container.volumeMounts.find((m: VolumeMount) => m.name === credentials.name),
    ).toEqual({ name: credentials.name, mountPath: PROXYSQL_PATHS.credentials, readOnly: true });
    const env = Object.fromEntries(s.container.env.map((e: EnvVar) => [e.name, e.value]));
    expect(env).toMatchObject({
      PROXYSQL_SECRET_NAME: s.galera.secretName,
      PROXYSQL_SECRET_DIR: PROXYSQL_PATHS.credentials,
      PROXYSQL_APP_PASSWORD_KEY: SECRET_KEYS.app,
      PROXYSQL_MONITOR_PASSWORD_KEY: SECRET_KEYS.monitor,
      PROXYSQL_ADMIN_PASSWORD_KEY: SECRET_KEYS.proxysqlAdmin,
      PROXYSQL_TEMPLATE: `${PROXYSQL_PATHS.scripts}/${TEMPLATE_FILE}`,
      PROXYSQL_CONFIG: `${PROXYSQL_PATHS.rendered}/proxysql.cnf`,
    });
    // no password travels through the environment or the pod spec
    expect(JSON.stringify(s.deployment)).not.toMatch(/secretKeyRef/);
  });

  test('the container renders the configuration, then starts ProxySQL in the foreground with --initial on that file', () => {
    expect(s.container.command).toEqual(['bash', `${PROXYSQL_PATHS.scripts}/proxysql-render.sh`]);
    expect(s.container.args).toEqual([
      'proxysql', '-f', '--initial', '-c', `${PROXYSQL_PATHS.rendered}/proxysql.cnf`, '-D', PROXYSQL_PATHS.data,
    ]);
    expect(s.container.image).toBe('docker.io/proxysql/proxysql:2.7.1');
  });

  test('the ConfigMap holds the template and the real scripts, and no password', () => {
    expect(Object.keys(s.configMap.data).sort()).toEqual(
      ['log.sh', 'proxysql-agent.sh', 'proxysql-probe.sh', 'proxysql-render.sh', TEMPLATE_FILE].sort(),
    );
    expect(s.configMap.data['proxysql-agent.sh']).toBe(readScript('proxysql/proxysql-agent.sh'));
    expect(s.configMap.data['log.sh']).toBe(readScript('common/log.sh'));
    expect(s.configMap.data['proxysql-render.sh']).toBe(readScript('proxysql/proxysql-render.sh'));
    expect(s.configMap.data['proxysql-probe.sh']).toBe(readScript('proxysql/proxysql-probe.sh'));
    const template: string = s.configMap.data[TEMPLATE_FILE];
    // every password setting is a placeholder
    expect(template).toContain('password="@@APP_PASSWORD@@"');
    expect(template).toContain('monitor_password="@@MONITOR_PASSWORD@@"');
    expect(template).toContain('admin_credentials="admin:@@ADMIN_PASSWORD@@"');
    expect(template).toContain('stats_credentials="stats:@@ADMIN_PASSWORD@@"');
    expect(template.match(/(password|credentials)=/g)).toHaveLength(4);
    expect(template).not.toMatch(/"admin:admin"|"stats:stats"|monitor_password="monitor"/);
  });

  test('the pod template carries a checksum of the ConfigMap data, so a config change rolls the pods', () => {
    const data: Record<string, string> = s.configMap.data;
    const expected = createHash('sha256').update(JSON.stringify(Object.keys(data).sort().map((k) => [k, data[k]]))).digest('hex').slice(
      0, 16,
    );
    expect(s.deployment.spec.template.metadata.annotations[CHECKSUM_ANNOTATION]).toBe(expected);
    const annotation = (
      p: Omit<ProxySqlProps, 'backend'>, g: GaleraClusterProps = {},
    ) => synth(p, g).deployment.spec.template.metadata.annotations[CHECKSUM_ANNOTATION];
    expect(annotation({ readWriteSplit: false })).not.toBe(expected);
    expect(annotation({}, { replicas: 5 })).not.toBe(expected);
    expect(annotation({ replicas: 5 })).toBe(expected);
  });

  test('explicit startup, readiness and liveness probes speak MySQL to the local ProxySQL (no TCP-only or HTTP probe)', () => {
    for (const [mode, probe] of [
      ['startup', s.container.startupProbe], ['readiness', s.container.readinessProbe], ['liveness', s.container.livenessProbe],
    ]) {
      expect(probe.exec.command).toEqual(['bash', `${PROXYSQL_PATHS.scripts}/proxysql-probe.sh`, mode]);
      expect(probe.tcpSocket).toBeUndefined();
      expect(probe.httpGet).toBeUndefined();
      expect(probe.timeoutSeconds).toBeLessThan(probe.periodSeconds);
    }
    // startup waits for the first Galera checks (every 1 s) before the pod can become ready
    expect(s.container.startupProbe.initialDelaySeconds).toBeGreaterThanOrEqual(2);
    // liveness is more patient than readiness: a busy proxy leaves the Service before it is restarted
    const budget = (p: Manifest) => p.periodSeconds * p.failureThreshold;
    expect(budget(s.container.livenessProbe)).toBeGreaterThan(budget(s.container.readinessProbe));
    const env = Object.fromEntries(s.container.env.map((e: EnvVar) => [e.name, e.value]));
    expect(env.PROXYSQL_PROBE_PORT).toBe('6033');
    expect(env.PROXYSQL_SERVER_VERSION).toBe(s.proxysql.serverVersion);
  });

  test('resources: requests, a memory limit and no CPU limit', () => {
    expect(s.container.resources).toEqual({ requests: { cpu: '200m', memory: '256Mi' }, limits: { memory: '1Gi' } });
  });

  test('the objects are valid against the Kubernetes schemas, unknown fields included', () => {
    const problems = s.manifests.flatMap((m: Manifest) => schemaErrors(m).map((e) => `${m.kind}/${m.metadata.name}: ${e}`));
    expect(problems).toEqual([]);
  });
});

describe('ProxySql options', () => {
  test('name, replicas, image, resources, anti-affinity and an in-memory datadir', () => {
    // GIVEN / WHEN
    const s = synth({
      name: 'front', replicas: 2, image: 'registry.example.com/proxysql:3.0.2', imagePullPolicy: 'Always',
      resources: { cpuRequest: '1', cpuLimit: '2', memoryRequest: '512Mi', memoryLimit: '2Gi' }, antiAffinity: 'required',
      dataDirInMemory: true,
    }, { name: 'orders', namespace: 'shop' });
    // THEN
    expect(s.manifests.map((m) => m.metadata.name).sort()).toEqual(['front', 'front', 'front', 'front-config']);
    expect(s.proxysql.endpoint).toBe('front.shop.svc:3306');
    expect(s.deployment.spec.replicas).toBe(2);
    expect(s.container).toMatchObject({ image: 'registry.example.com/proxysql:3.0.2', imagePullPolicy: 'Always' });
    expect(s.container.resources).toEqual({ requests: { cpu: '1', memory: '512Mi' }, limits: { cpu: '2', memory: '2Gi' } });
    expect(s.pod.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution).toHaveLength(1);
    const data = s.pod.volumes.find((v: Volume) => v.name === 'data');
    expect(data.emptyDir.medium).toBe('Memory');
    expect(s.configMap.data[TEMPLATE_FILE]).toContain('address="orders-0.orders.shop.svc.cluster.local"');
    expect(s.pod.volumes.find((v: Volume) => v.secret).secret.secretName).toBe('orders-credentials');
  });

  test('a slower Galera check interval delays the first startup probe accordingly', () => {
    expect(synth({
      failover: { healthcheckIntervalMs: 5000, healthcheckTimeoutMs: 800, pingIntervalMs: 10000, connectTimeoutServerMaxMs: 20000 },
    }).container.startupProbe.initialDelaySeconds).toBe(10);
  });

  test('an explicit undefined keeps the default', () => {
    const s = synth({ hostgroups: { writer: undefined, reader: 31 }, failover: { healthcheckIntervalMs: undefined } });
    expect(s.configMap.data[TEMPLATE_FILE]).toContain('writer_hostgroup=10, backup_writer_hostgroup=20, reader_hostgroup=31');
    expect(s.configMap.data[TEMPLATE_FILE]).toContain('monitor_galera_healthcheck_interval=1000');
  });

  test('antiAffinity none leaves scheduling free', () => {
    expect(synth({ antiAffinity: 'none' }).pod.affinity).toBeUndefined();
  });

  test.each([
    ['docker.io/library/mariadb:11.4.12', '11.4.12-MariaDB'],
    ['docker.io/library/mariadb:10.11.9', '5.5.5-10.11.9-MariaDB'],
    ['docker.io/library/mariadb:10.11.19', '5.5.5-10.11.19-MariaDB'],
    ['docker.io/library/mariadb:lts', '5.5.5-10.11.19-MariaDB'],
  ])('the server version follows the Galera image %s: %s', (image, version) => {
    const s = synth({}, { image });
    expect(s.proxysql.serverVersion).toBe(version);
    expect(s.configMap.data[TEMPLATE_FILE]).toContain(`server_version="${version}"`);
  });

  test('an explicit serverVersion wins', () => {
    expect(synth({ serverVersion: '11.8.3-MariaDB' }, { image: 'mariadb:10.11.9' }).proxysql.serverVersion).toBe('11.8.3-MariaDB');
  });

  test('the proxysql section of a values file takes every prop but backend and metrics (the chart\'s monitoring section)', () => {
    // GIVEN every prop (the type makes this list complete)
    const every: Required<Omit<ProxySqlProps, 'backend' | 'metrics'>> = {
      name: 'px', replicas: 2, image: 'registry.example.com/proxysql:2.7.3', imagePullPolicy: 'Always',
      resources: { cpuRequest: '100m', memoryLimit: '512Mi' }, antiAffinity: 'required', dataDirInMemory: true, drainSeconds: 20,
      readWriteSplit: false, causalReads: true,
      writerIsAlsoReader: 2, hostgroups: { writer: 1, backupWriter: 2, reader: 3, offline: 4 }, serverVersion: '11.4.12-MariaDB',
      maxClientConnections: 500, backendMaxConnections: 100, failover: { healthcheckIntervalMs: 2000, healthcheckTimeoutMs: 1000 },
    };
    expect([...schemaKeys('ProxySqlSection')].sort()).toEqual(Object.keys(every).sort());
    const dir = mkdtempSync(join(tmpdir(), 'proxysql-values-'));
    try {
      writeFileSync(join(dir, 'values.yaml'), stringify({ proxysql: every }));
      // WHEN
      const props = loadValues({}, dir);
      const chart = new GaleraProxySqlChart(Testing.app(), 'c', props);
      // THEN
      expect(chart.proxysql.name).toBe('px');
      expect(Testing.synth(chart).find((m) => m.kind === 'Deployment' && m.metadata.name === 'px').spec.replicas).toBe(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('bad input: every problem names the field, the value given and what is allowed', () => {
  test.each<[string, Record<string, unknown>, GaleraClusterProps, RegExp]>([
    ['name', { name: 'Front_Proxy' }, {}, /^name must be a DNS-1123 label .* got "Front_Proxy"$/],
    ['replicas', { replicas: 0 }, {}, /^replicas must be an integer from 1 to 50, got 0$/],
    ['image', { image: 'Not An Image' }, {}, /^image must be an image reference .*, got "Not An Image"$/],
    [
      'imagePullPolicy', { imagePullPolicy: 'Sometimes' }, {},
      /^imagePullPolicy must be one of 'Always', 'IfNotPresent', 'Never', got "Sometimes"$/,
    ],
    [
      'resources quantity', { resources: { memoryLimit: 'lots' } }, {},
      /^resources\.memoryLimit must be a Kubernetes quantity .*, got "lots"$/,
    ],
    [
      'resources key', { resources: { memory: '1Gi' } }, {},
      /^resources\.memory is not a known setting; allowed here: cpuRequest, cpuLimit, memoryRequest, memoryLimit$/,
    ],
    [
      'memory request above the limit', { resources: { memoryRequest: '2Gi' } }, {},
      /^resources\.memoryRequest \(2Gi\) must not exceed resources\.memoryLimit \(1Gi\)$/,
    ],
    [
      'tiny memory limit', { resources: { memoryRequest: '64Mi', memoryLimit: '64Mi' } }, {},
      /^resources\.memoryLimit must be at least 128Mi for ProxySQL, got "64Mi"$/,
    ],
    [
      'CPU request above the limit', { resources: { cpuLimit: '100m' } }, {},
      /^resources\.cpuRequest \(200m\) must not exceed resources\.cpuLimit \(100m\)$/,
    ],
    ['antiAffinity', { antiAffinity: 'maybe' }, {}, /^antiAffinity must be one of 'preferred', 'required', 'none', got "maybe"$/],
    ['dataDirInMemory', { dataDirInMemory: 'yes' }, {}, /^dataDirInMemory must be true or false, got "yes"$/],
    ['readWriteSplit', { readWriteSplit: 'yes' }, {}, /^readWriteSplit must be true or false, got "yes"$/],
    ['writerIsAlsoReader 0', { writerIsAlsoReader: 0 }, {}, /^writerIsAlsoReader must be one of 1, 2, got 0$/],
    ['writerIsAlsoReader 2 with one node', { writerIsAlsoReader: 2 }, { replicas: 1, allowUnsafeReplicaCount: true },
      /^writerIsAlsoReader must be 1 with 1 Galera node\(s\), got 2: /],
    ['hostgroups.reader 0', { hostgroups: { reader: 0 } }, {}, /^hostgroups\.reader must be an integer from 1 to 2147483647, got 0$/],
    [
      'hostgroups.writer negative', { hostgroups: { writer: -1 } }, {},
      /^hostgroups\.writer must be an integer from 0 to 2147483647, got -1$/,
    ],
    ['hostgroups not distinct', { hostgroups: { writer: 5, offline: 5 } }, {},
      /^hostgroups must be four distinct ids .*, got writer=5, backupWriter=20, reader=30, offline=5$/],
    [
      'hostgroups key', { hostgroups: { primary: 1 } }, {},
      /^hostgroups\.primary is not a known setting; allowed here: writer, backupWriter, reader, offline$/,
    ],
    [
      'serverVersion', { serverVersion: 'MariaDB "11"' }, {},
      /^serverVersion must be a server version such as '11\.4\.12-MariaDB'.*, got "MariaDB \\"11\\""$/,
    ],
    ['maxClientConnections', { maxClientConnections: 0 }, {}, /^maxClientConnections must be an integer from 1 to 1000000, got 0$/],
    [
      'backendMaxConnections', { backendMaxConnections: 20000 }, {},
      /^backendMaxConnections must be an integer from 1 to 10000, got 20000$/,
    ],
    [
      'failover key', { failover: { intervalMs: 100 } }, {},
      /^failover\.intervalMs is not a known setting; allowed here: healthcheckIntervalMs, /,
    ],
    [
      'failover integer', { failover: { healthcheckIntervalMs: 1.5 } }, {},
      /^failover\.healthcheckIntervalMs must be an integer from 50 to 600000, got 1\.5$/,
    ],
    ['failover connect timeout', { failover: { monitorConnectTimeoutMs: 500 } }, {},
      /^failover\.monitorConnectTimeoutMs must be an integer from 1000 to 600000, got 500$/],
    ['failover timeout >= interval', { failover: { healthcheckTimeoutMs: 1000 } }, {},
      /^failover\.healthcheckTimeoutMs must be less than failover\.healthcheckIntervalMs \(1000\), got 1000: /],
    ['ping faster than the Galera check', { failover: { pingIntervalMs: 1000 } }, {},
      new RegExp(
        String.raw`^failover\.pingIntervalMs x \(failover\.pingMaxFailures - 1\) must exceed the Galera check's worst detection time of `
        + String.raw`3000 ms .*got 1000 x 2 = 2000 ms: `,
      )],
    ['clients give up before the failover ends', { failover: { connectTimeoutServerMaxMs: 2000 } }, {},
      /^failover\.connectTimeoutServerMaxMs must exceed the worst detection time of 3000 ms, got 2000: /],
    ['failover not a mapping', { failover: 3 }, {}, /^failover must be a mapping of healthcheckIntervalMs, .*, got 3$/],
  ])('%s', (_name, proxyProps, galeraProps, expected) => {
    // GIVEN / WHEN
    const problems = problemsOf(proxyProps, galeraProps);
    // THEN
    expect(problems.filter((p) => expected.test(p))).toHaveLength(1);
  });

  test('several problems are reported together, under the construct\'s name', () => {
    let error: unknown;
    try {
      synth({ name: 'px', replicas: 100, hostgroups: { reader: 0 }, writerIsAlsoReader: 3 as never });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).message).toMatch(/^ProxySql 'px': invalid configuration:/);
    expect((error as ValidationError).problems).toHaveLength(3);
  });

  test('backend must be a database backend', () => {
    const chart = new Chart(Testing.app(), 'test');
    expect(() => new ProxySql(chart, 'p', {} as ProxySqlProps)).toThrow(
      /backend must be the database this ProxySQL routes to \(an IProxySqlBackend such as a GaleraCluster\), got nothing/,
    );
    expect(() => new ProxySql(chart, 'p2', { backend: { name: 'x' } } as never)).toThrow(
      /backend must be the database this ProxySQL routes to .*got \{"name":"x"\}/,
    );
  });
});

describe('ProxySql TLS follows the backend', () => {
  const template = (s: ReturnType<typeof synth>) => s.configMap.data[TEMPLATE_FILE] as string;
  const env = (container: Manifest) => Object.fromEntries(container.env.map((e: Manifest) => [e.name, e.value]));

  test('with TLS on: clients may use TLS, every backend connection uses it, the Secret <name>-tls is mounted in both containers', () => {
    // GIVEN / WHEN
    const s = synth({ name: 'shop-proxy' });

    // THEN
    expect(template(s)).toMatch(/have_ssl\s*=\s*true/);
    for (const server of template(s).match(/\{ address="[^}]*\}/g)!) expect(server).toContain('use_ssl=1');
    // the application account may still connect in plain text unless requireSecureTransport
    expect(template(s)).toMatch(/username="app",[^}]*use_ssl=0/);
    expect(s.proxysql.tlsSecretName).toBe('shop-proxy-tls');
    expect(s.pod.volumes).toContainEqual({ name: 'tls', secret: { secretName: 'shop-proxy-tls', defaultMode: 0o440, optional: true } });
    for (const c of s.pod.containers) expect(c.volumeMounts).toContainEqual({ name: 'tls', mountPath: PROXYSQL_PATHS.tls, readOnly: true });
    expect(env(s.container)).toMatchObject({ PROXYSQL_TLS_DIR: PROXYSQL_PATHS.tls, PROXYSQL_TLS_SECRET_NAME: 'shop-proxy-tls' });
    // the certificate names the Service in every form a client may use
    expect(s.proxysql.certificateSpec!.dnsNames).toEqual([
      'shop-proxy', 'shop-proxy.default', 'shop-proxy.default.svc', 'shop-proxy.default.svc.cluster.local',
    ]);
  });

  test('requireSecureTransport on the backend: the application account must use TLS through ProxySQL too', () => {
    expect(template(synth({}, { tls: { requireSecureTransport: true } }))).toMatch(/username="app",[^}]*use_ssl=1/);
  });

  test('with TLS off on the backend: no TLS anywhere, no Secret', () => {
    const s = synth({}, { tls: { enabled: false } });
    expect(template(s)).toMatch(/have_ssl\s*=\s*false/);
    expect(template(s)).not.toMatch(/use_ssl=1/);
    expect(s.proxysql.tlsSecretName).toBeUndefined();
    expect(s.pod.volumes.map((v: Volume) => v.name)).not.toContain('tls');
    expect(env(s.container).PROXYSQL_TLS_DIR).toBeUndefined();
  });

  test('the backend\'s issuer signs ProxySQL\'s certificate too', () => {
    const chart = new Chart(Testing.app(), 'test');
    const galera = new GaleraCluster(chart, 'galera', { tls: { issuer: { name: 'ca' } } });
    new ProxySql(chart, 'proxysql', { backend: galera });
    const certs = Testing.synth(chart).filter((m) => m.kind === 'Certificate');
    expect(certs.map((c) => [c.metadata.name, c.spec.issuerRef])).toEqual([
      ['galera-tls', { name: 'ca', kind: 'Issuer', group: 'cert-manager.io' }],
      ['galera-proxysql-tls', { name: 'ca', kind: 'Issuer', group: 'cert-manager.io' }],
    ]);
  });
});
