import { spawn } from 'child_process';
import { join } from 'path';
import { Testing } from 'cdk8s';
import { parse } from 'yaml';
import { Secret } from 'kubernetes-models/v1/Secret';
import { newCredentialsSecret, randomPassword, SECRET_KEYS } from '../../src/core/credentials';
import { GaleraProxySqlChart, GaleraProxySqlChartProps } from '../../src/charts/galera-proxysql-chart';
import type { Container, EnvVar, Volume } from '../../harness/spec';
import type { Manifest } from '../tools/manifest';

const ROOT = join(__dirname, '..', '..');
const SECRET_FILE_KEYS: string[] = Object.values(SECRET_KEYS);

/**
 * Names of settings that hold a password or credentials: admin_password, --password,
 * MYSQL_PWD, admin_credentials, wsrep_sst_auth, "password": ...
 */
const PASSWORD_NAME = /[A-Za-z0-9_.-]*(passw(or)?d|passwd|pwd|credentials|sst_auth)[A-Za-z0-9_.-]*/gi;
const PRIVATE_KEY = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;
/** Environment variable names that point at a Secret key or file rather than carry a password. */
const SECRET_REFERENCE_ENV_NAME = /^[A-Z0-9_]*(PASSWORD|PWD|CREDENTIALS)[A-Z0-9_]*_(FILE|PATH|KEY|DIR)$/;

function synth(props: GaleraProxySqlChartProps = {}): Manifest[] {
  return Testing.synth(new GaleraProxySqlChart(Testing.app(), 'galera-proxysql', props));
}

const CUSTOMIZED: GaleraProxySqlChartProps = {
  namespace: 'shop',
  storage: { existingClassName: 'standard-rwo' },
  galera: {
    name: 'orders', replicas: 5, secretName: 'orders-secrets', appUser: 'orders', appDatabase: 'orders', extraMyCnf: ['long_query_time=2'],
  },
};

/** Every string in a manifest (keys and values), with its JSON path. */
function strings(value: unknown, path = ''): Array<{ path: string; text: string }> {
  if (typeof value === 'string') return [{ path, text: value }];
  if (Array.isArray(value)) return value.flatMap((v, i) => strings(v, `${path}[${i}]`));
  if (value && typeof value === 'object') {
    return Object.entries(value).flatMap(([k, v]) => [{ path: `${path}.${k} (key)`, text: k }, ...strings(v, `${path}.${k}`)]);
  }
  return [];
}

/**
 * Whether a value given to a password setting is a reference, not a password: empty, a shell
 * expansion ($VAR, $(...)), a placeholder filled in at run time (@@NAME@@, %s, {{...}}), a
 * Secret key name, a file path, or a variable name. For user:password values the part after
 * the colon counts.
 */
function isReference(value: string): boolean {
  if (/^[^$@%{<:/]+:./.test(value)) return isReference(value.slice(value.indexOf(':') + 1));
  return value === ''
    || /^[$@%{<]/.test(value) || SECRET_FILE_KEYS.includes(value) || value.startsWith('/') || /^[A-Z][A-Z0-9_]*$/.test(value);
}

/** The value after `name = ` / `name: ` / `"name": ` at the start of rest, or undefined when rest is no assignment. */
function assignedValue(rest: string): string | undefined {
  // "name": x, name=x, name: x, and the default of a shell expansion ${name:-x} / ${name:=x}
  const m = /^(?::[-=]|["']?\s*[=:])\s*(.*)$/.exec(rest);
  if (!m) return undefined;
  const v = m[1];
  const quote = v[0] === '"' || v[0] === "'" ? v[0] : undefined;
  if (quote) return v.slice(1, v.indexOf(quote, 1) < 0 ? undefined : v.indexOf(quote, 1));
  return /^[^\s;,})\]]*/.exec(v)![0];
}

/**
 * Places where a manifest carries a password: a literal value given to a password-like setting
 * (admin_password="x", --password=x, "password": "x", wsrep_sst_auth=sst:x), SQL with a literal
 * (IDENTIFIED BY 'x'), or a private key. Names alone are fine: the scripts name the Secret keys
 * they read (root-password) and the placeholders they fill in (@@APP_PASSWORD@@).
 */
function passwordFindings(manifests: Manifest[]): string[] {
  const findings: string[] = [];
  for (const m of manifests) {
    for (const { path, text } of strings(m)) {
      for (const line of text.split('\n')) {
        const where = `${m.kind}/${m.metadata?.name}${path}: ${line.trim()}`;
        for (const match of line.matchAll(PASSWORD_NAME)) {
          const value = assignedValue(line.slice(match.index! + match[0].length));
          if (value !== undefined && !isReference(value)) findings.push(where);
        }
        if (/IDENTIFIED\s+(BY|VIA\s+\w+\s+USING)\s+(PASSWORD\s*\(\s*)?'[^'$]/i.test(line)) findings.push(where);
        if (PRIVATE_KEY.test(line)) findings.push(`${m.kind}/${m.metadata?.name}${path}: private key`);
      }
    }
  }
  return [...new Set(findings)];
}

/**
 * Secrets in the manifests: every exact occurrence of a planted value (what a test generated),
 * plus every token of the generators' whole alphabets (base64 and base64url, separators included,
 * 24 characters or more) that mixes lowercase, uppercase and digits with high entropy. The exact
 * match finds every value the generator can produce; the heuristic finds secrets nobody planted.
 */
function secretsFound(manifests: Manifest[], planted: readonly string[] = []): string[] {
  const found = new Set<string>();
  for (const m of manifests) {
    for (const { text } of strings(m)) {
      for (const p of planted) if (p.length > 0 && text.includes(p)) found.add(p);
      for (const token of text.match(/[A-Za-z0-9+/_-]{24,}={0,2}/g) ?? []) {
        if (/[a-z]/.test(token) && /[A-Z]/.test(token) && /[0-9]/.test(token) && entropy(token) > 4) found.add(token);
      }
    }
  }
  return [...found];
}

function entropy(s: string): number {
  const counts = new Map<string, number>();
  for (const ch of s) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  return [...counts.values()].reduce((h, n) => h - (n / s.length) * Math.log2(n / s.length), 0);
}

describe.each([
  ['the default chart', {}],
  ['a customized chart', CUSTOMIZED],
  ['a chart with monitoring (exporter sidecar, ProxySQL metrics, dashboard)', { ...CUSTOMIZED, monitoring: { enabled: true } }],
])('%s', (_name, props) => {
  const manifests = synth(props as GaleraProxySqlChartProps);

  test('contains no Secret object', () => {
    // GIVEN / WHEN / THEN
    expect(manifests.filter((m) => m.kind === 'Secret')).toEqual([]);
  });

  test('contains none of the passwords new-secret generates', () => {
    // GIVEN
    const generated = Object.values(newCredentialsSecret('galera-credentials', 'galera').stringData as Record<string, string>);

    // WHEN
    const text = JSON.stringify(manifests);

    // THEN
    expect(generated).toHaveLength(SECRET_FILE_KEYS.length);
    for (const password of generated) expect(text).not.toContain(password);
  });

  test('contains no password-like value and no private key', () => {
    // GIVEN / WHEN / THEN
    expect(passwordFindings(manifests)).toEqual([]);
    expect(secretsFound(manifests)).toEqual([]);
  });

  test('environment variables named like passwords only point at Secret keys or files', () => {
    // GIVEN
    const env = manifests.flatMap((m) => {
      const pod = m.spec?.template?.spec;
      return pod ? [...(pod.containers ?? []), ...(pod.initContainers ?? [])].flatMap((c: Container) => c.env ?? []) : [];
    });

    // WHEN
    const offending = env.filter((e: EnvVar) => /passw|pwd|credential|token/i.test(e.name) && e.value !== undefined)
      .filter((e: Manifest) => !SECRET_REFERENCE_ENV_NAME.test(e.name) || !(SECRET_FILE_KEYS.includes(e.value) || e.value.startsWith('/')));

    // THEN
    expect(env.length).toBeGreaterThan(0);
    expect(offending).toEqual([]);
  });

  test('ConfigMaps contain no password and no key named like a Secret key', () => {
    // GIVEN
    const configMaps = manifests.filter((m) => m.kind === 'ConfigMap');

    // WHEN / THEN
    expect(configMaps.length).toBeGreaterThan(0);
    expect(passwordFindings(configMaps)).toEqual([]);
    for (const cm of configMaps) {
      for (const key of [...Object.keys(cm.data ?? {}), ...Object.keys(cm.binaryData ?? {})]) {
        expect(key).not.toMatch(/passw|secret|credential|\.key$|\.pem$/i);
      }
    }
  });
});

describe('the scanners find what they look for', () => {
  const configMap = (data: Record<string, string>) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' }, data });

  test.each([
    ['a config setting', 'admin_variables={\n  admin_password="hunter2"\n}'],
    ['a command-line option', 'mysql --password=hunter2 -e "SELECT 1"'],
    ['credentials as user:password', 'admin_credentials="admin:hunter2"'],
    ['the SST account', 'wsrep_sst_auth=sst:s3cr3t'],
    ['a MYSQL_PWD export', 'export MYSQL_PWD=hunter2'],
    ['JSON', '{"user": "app", "password": "hunter2"}'],
    ['YAML', 'password: hunter2'],
    ['a shell default', 'ROOT_PASSWORD=${ROOT_PASSWORD:-hunter2}'],
    ['SQL', "CREATE USER 'x'@'%' IDENTIFIED BY 'hunter2';"],
  ])('a literal password in %s is found', (_name, text) => {
    // GIVEN / WHEN / THEN
    expect(passwordFindings([configMap({ 'file': text })])).toHaveLength(1);
  });

  test.each([
    ['read from a Secret key file', 'SET mysql-monitor_password=$(sql_quote "$(secret monitor-password)")'],
    ['a list of Secret key names', 'SECRET_KEYS=(root-password app-password)'],
    ['a placeholder filled in at run time', 'monitor_password="@@MONITOR_PASSWORD@@"'],
    ['user and placeholder', 'admin_credentials="admin:@@ADMIN_PASSWORD@@"'],
    ['a printf format', "printf 'wsrep_sst_auth=%s\\n' \"$(cnf_quote \"sst:$(secret sst-password)\")\""],
    ['SQL from a shell expansion', 'CREATE USER \'root\'@\'%\' IDENTIFIED BY $(sql_quote "$(secret root-password)");'],
    ['names in a loop', 'for name in APP_PASSWORD MONITOR_PASSWORD ADMIN_PASSWORD; do'],
    ['a file path', 'password_file=/etc/galera/credentials/app-password'],
    ['a shell default naming a Secret key', '[APP_PASSWORD]=${PROXYSQL_APP_PASSWORD_KEY:-app-password}'],
  ])('a password %s is not a finding', (_name, text) => {
    // GIVEN / WHEN / THEN
    expect(passwordFindings([configMap({ 'file': text })])).toEqual([]);
  });

  test('a private key is found', () => {
    // GIVEN / WHEN / THEN
    expect(
      passwordFindings([configMap({ 'tls.key': '-----BEGIN RSA PRIVATE KEY-----\nMIIE...' })]),
    ).toEqual(['ConfigMap/x.data.tls.key: private key']);
  });

  test('every generated password is found, whatever characters it draws', () => {
    // GIVEN many draws of the generator, planted where a leak would be
    for (let i = 0; i < 2000; i++) {
      const password = randomPassword();
      // WHEN / THEN: the exact match never misses, whatever the draw
      expect(secretsFound([configMap({ 'my.cnf': `wsrep_sst_auth=sst:${password}` })], [password])).toContain(password);
    }
  });

  test.each([
    ['runs of the separators the generator draws', 'Ab3--__-x9Qz_-Lk2__8PqR-_t7Wv-Nm4'],
    ['standard base64 with / and +', 'Zm9v/YmFy+YmF6/cXV4+cXV1eA9ZZg=='],
    ['a leading separator', '_Q2w3e4R5t6Y7u8I9o0P1a2S3d4F5g6H'],
  ])('the heuristic alone finds an unplanted secret: %s', (_name, secret) => {
    // GIVEN / WHEN / THEN
    expect(secretsFound([configMap({ 'my.cnf': `password=${secret}` })])).toEqual([secret]);
  });

  test.each([
    ['a ProxySQL variable', 'monitor_galera_healthcheck_max_timeout_count'],
    ['a camelCase field', 'preferredDuringSchedulingIgnoredDuringExecution'],
    ['a UUID constant', 'ZERO_UUID=00000000-0000-0000-0000-000000000000'],
    ['a path', '/opt/galera/galera-probe.sh'],
    ['a DNS name', 'galera-0.galera.galera.svc.cluster.local'],
  ])('the heuristic leaves identifiers alone: %s', (_name, text) => {
    expect(secretsFound([configMap({ 'file': text })])).toEqual([]);
  });
});

describe('npm run -s new-secret', () => {
  function newSecret(...args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      const child = spawn('npm', ['run', '-s', 'new-secret', '--', ...args], { cwd: ROOT });
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => { out += d; });
      child.stderr.on('data', (d) => { err += d; });
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`new-secret exited ${code}: ${err}`))));
    });
  }

  let first: Manifest;
  let second: Manifest;
  let named: Manifest;
  beforeAll(async () => {
    const [a, b, c] = await Promise.all([newSecret(), newSecret(), newSecret('orders-secrets', 'shop')]);
    [first, second, named] = [a, b, c].map((text) => parse(text));
  }, 120_000);

  test('prints a valid Secret with every key', () => {
    // GIVEN / WHEN / THEN
    expect(first).toMatchObject({
      apiVersion: 'v1', kind: 'Secret', type: 'Opaque', metadata: { name: 'galera-credentials', namespace: 'galera' },
    });
    expect(Object.keys(first.stringData).sort()).toEqual([...SECRET_FILE_KEYS].sort());
    expect(() => new Secret(first).validate()).not.toThrow();
  });

  test('the passwords are random, long, URL-safe and distinct', () => {
    // GIVEN
    const values: string[] = Object.values(first.stringData);

    // WHEN / THEN
    expect(new Set(values).size).toBe(values.length);
    for (const v of values) {
      expect(v).toMatch(/^[A-Za-z0-9_-]{32,}$/);
      expect(entropy(v)).toBeGreaterThan(4);
    }
  });

  test('two runs give different passwords for every key', () => {
    // GIVEN / WHEN / THEN
    for (const key of SECRET_FILE_KEYS) expect(second.stringData[key]).not.toBe(first.stringData[key]);
  });

  test('takes the Secret name and namespace as arguments', () => {
    // GIVEN / WHEN / THEN
    expect(named.metadata).toMatchObject({ name: 'orders-secrets', namespace: 'shop' });
    expect(Object.keys(named.stringData).sort()).toEqual([...SECRET_FILE_KEYS].sort());
  });

  test('the default Secret name is the one the default chart mounts', () => {
    // GIVEN
    const sts = synth().find((m) => m.kind === 'StatefulSet');

    // WHEN
    const volume = sts.spec.template.spec.volumes.find((v: Volume) => v.secret);

    // THEN
    expect(volume.secret.secretName).toBe(first.metadata.name);
    expect(sts.metadata.namespace).toBe(first.metadata.namespace);
  });
});
