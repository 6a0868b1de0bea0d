import { spawn } from 'child_process';
import { join } from 'path';
import { Testing } from 'cdk8s';
import * as yaml from 'js-yaml';
import { Secret } from 'kubernetes-models/v1/Secret';
import { newCredentialsSecret, randomPassword, SECRET_KEYS } from '../src/credentials';
import { GaleraProxySqlChart, GaleraProxySqlChartProps } from '../src/galera-proxysql-chart';

const ROOT = join(__dirname, '..');
const SECRET_FILE_KEYS: string[] = Object.values(SECRET_KEYS);

/**
 * The only words containing "password" allowed in the manifests: the names of the Secret's keys
 * (the files the pods read) and environment variable names that point at such a file.
 */
const ALLOWED_PASSWORD_TOKENS = [...SECRET_FILE_KEYS];
const SECRET_FILE_ENV_NAME = /^[A-Z0-9_]*PASSWORD[A-Z0-9_]*_(FILE|PATH)$/;
const PASSWORD_WORD = /[A-Za-z0-9_.-]*(passw(or)?d|passwd)[A-Za-z0-9_.-]*/gi;
const PRIVATE_KEY = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;

function synth(props: GaleraProxySqlChartProps = {}): any[] {
  return Testing.synth(new GaleraProxySqlChart(Testing.app(), 'galera-proxysql', props));
}

const CUSTOMIZED: GaleraProxySqlChartProps = {
  namespace: 'shop',
  storage: { existingClassName: 'standard-rwo' },
  galera: { name: 'orders', replicas: 5, secretName: 'orders-secrets', appUser: 'orders', appDatabase: 'orders', extraMyCnf: ['long_query_time=2'] },
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
 * Lines that mention a password without taking it from a Secret key. A line may name a password
 * only through an allowed token, or when it reads the value from one of the Secret's key files
 * (for example `IDENTIFIED BY $(sql_quote "$(secret root-password)")`): a literal never passes.
 */
function passwordFindings(manifests: any[]): string[] {
  const findings: string[] = [];
  for (const m of manifests) {
    for (const { path, text } of strings(m)) {
      for (const line of text.split('\n')) {
        const words = line.match(PASSWORD_WORD) ?? [];
        const unexplained = words.filter((w) => !ALLOWED_PASSWORD_TOKENS.includes(w) && !SECRET_FILE_ENV_NAME.test(w));
        if (unexplained.length > 0 && !SECRET_FILE_KEYS.some((k) => line.includes(k))) findings.push(`${m.kind}/${m.metadata.name}${path}: ${line.trim()}`);
        if (PRIVATE_KEY.test(line)) findings.push(`${m.kind}/${m.metadata.name}${path}: private key`);
        // SQL with a literal password: IDENTIFIED BY 'x' / PASSWORD('x') (a shell expansion is not a literal).
        if (/IDENTIFIED\s+(BY|VIA\s+\w+\s+USING)\s+'[^'$]/i.test(line)) findings.push(`${m.kind}/${m.metadata.name}${path}: ${line.trim()}`);
      }
    }
  }
  return findings;
}

/** Tokens that look like generated secrets: long, mixed-case, with digits, of the base64 alphabets. */
function randomLookingTokens(manifests: any[]): string[] {
  const found: string[] = [];
  for (const m of manifests) {
    for (const { text } of strings(m)) {
      for (const token of text.match(/[A-Za-z0-9+/_-]{24,}={0,2}/g) ?? []) {
        if (/[a-z]/.test(token) && /[A-Z]/.test(token) && /[0-9]/.test(token) && !/[/_-]{2}|^[/]/.test(token) && entropy(token) > 4) found.push(token);
      }
    }
  }
  return found;
}

function entropy(s: string): number {
  const counts = new Map<string, number>();
  for (const ch of s) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  return [...counts.values()].reduce((h, n) => h - (n / s.length) * Math.log2(n / s.length), 0);
}

describe.each([
  ['the default chart', {}],
  ['a customized chart', CUSTOMIZED],
])('%s', (_name, props) => {
  const manifests = synth(props as GaleraProxySqlChartProps);

  test('contains no Secret object', () => {
    // GIVEN / WHEN / THEN
    expect(manifests.filter((m) => m.kind === 'Secret')).toEqual([]);
  });

  test('contains none of the passwords new-secret generates', () => {
    // GIVEN
    const generated = Object.values((newCredentialsSecret('galera-credentials', 'galera') as any).stringData as Record<string, string>);

    // WHEN
    const text = JSON.stringify(manifests);

    // THEN
    expect(generated).toHaveLength(SECRET_FILE_KEYS.length);
    for (const password of generated) expect(text).not.toContain(password);
  });

  test('contains no password-like value and no private key', () => {
    // GIVEN / WHEN / THEN
    expect(passwordFindings(manifests)).toEqual([]);
    expect(randomLookingTokens(manifests)).toEqual([]);
  });

  test('environment variables named like passwords never carry a literal value', () => {
    // GIVEN
    const env = manifests.flatMap((m) => {
      const pod = m.spec?.template?.spec;
      return pod ? [...(pod.containers ?? []), ...(pod.initContainers ?? [])].flatMap((c: any) => c.env ?? []) : [];
    });

    // WHEN
    const literal = env.filter((e: any) => /passw|pwd|secret|token/i.test(e.name) && e.value !== undefined && !e.value.startsWith('/'));

    // THEN
    expect(env.length).toBeGreaterThan(0);
    // GALERA_SECRET_NAME names the Secret; it carries no secret.
    expect(literal.filter((e: any) => e.name !== 'GALERA_SECRET_NAME')).toEqual([]);
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

  test('a literal password in a script or config is found', () => {
    // GIVEN / WHEN / THEN
    expect(passwordFindings([configMap({ 'proxysql.cnf': 'admin_variables={\n  admin_password="hunter2"\n}' })])).toHaveLength(1);
    expect(passwordFindings([configMap({ 'init.sql': "CREATE USER 'x'@'%' IDENTIFIED BY 'x';" })])).toHaveLength(1);
    expect(passwordFindings([configMap({ 'notes.txt': 'the root password is hunter2' })])).toHaveLength(1);
  });

  test('a password taken from a Secret key file is not a finding', () => {
    // GIVEN / WHEN / THEN
    expect(passwordFindings([configMap({ 'start.sh': 'SET mysql-monitor_password=$(sql_quote "$(secret monitor-password)")' })])).toEqual([]);
    expect(passwordFindings([configMap({ 'lib.sh': 'SECRET_KEYS=(root-password app-password)' })])).toEqual([]);
  });

  test('a private key is found', () => {
    // GIVEN / WHEN / THEN
    expect(passwordFindings([configMap({ 'tls.key': '-----BEGIN RSA PRIVATE KEY-----\nMIIE...' })])).toEqual(['ConfigMap/x.data.tls.key: private key']);
  });

  test('a generated password is found', () => {
    // GIVEN / WHEN / THEN
    const password = randomPassword();
    expect(randomLookingTokens([configMap({ 'my.cnf': `wsrep_sst_auth=sst:${password}` })])).toEqual([password]);
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

  let first: any;
  let second: any;
  let named: any;
  beforeAll(async () => {
    const [a, b, c] = await Promise.all([newSecret(), newSecret(), newSecret('orders-secrets', 'shop')]);
    [first, second, named] = [a, b, c].map((text) => yaml.load(text));
  }, 120_000);

  test('prints a valid Secret with every key', () => {
    // GIVEN / WHEN / THEN
    expect(first).toMatchObject({ apiVersion: 'v1', kind: 'Secret', type: 'Opaque', metadata: { name: 'galera-credentials', namespace: 'galera' } });
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
    const volume = sts.spec.template.spec.volumes.find((v: any) => v.secret);

    // THEN
    expect(volume.secret.secretName).toBe(first.metadata.name);
    expect(sts.metadata.namespace).toBe(first.metadata.namespace);
  });
});
