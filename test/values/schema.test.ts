import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import Ajv, { ErrorObject } from 'ajv';
import { Testing } from 'cdk8s';
import { parse } from 'yaml';
import { resolveGaleraBackup } from '../../src/backup/mariadb-backup';
import { GaleraProxySqlChart } from '../../src/charts/galera-proxysql-chart';
import { ReplicationProxySqlChart } from '../../src/charts/replication-proxysql-chart';
import { resolveGaleraCluster } from '../../src/galera/galera-cluster';
import { GALERA_ROUTING } from '../../src/galera/galera-routing';
import { resolveMonitoringOptions } from '../../src/monitoring/monitoring';
import { resolveNetworkPolicy } from '../../src/network/network-policy';
import { resolveProxySql } from '../../src/proxysql/proxysql';
import { resolveMariaDbReplication } from '../../src/replication/mariadb-replication';
import { loadValues } from '../../src/values/values';
import { Checker, ValidationError } from '../../src/values/validation';
import { generateSchemas, SCHEMA_FILES, staleSchemas } from '../../tools/values-schema';

// values.schema.json (for editors) and src/values/props.schema.json (what the constructs validate
// with) are generated from the props interfaces; they must be what the code says now, accept every
// example, and refuse what the constructs refuse, naming the same fields.
const ROOT = join(__dirname, '..', '..');
const EXAMPLES = join(ROOT, 'examples');
const valuesSchema = JSON.parse(readFileSync(join(ROOT, SCHEMA_FILES.values), 'utf8'));
const propsSchema = JSON.parse(readFileSync(join(ROOT, SCHEMA_FILES.props), 'utf8'));
const validateValues = new Ajv({ allErrors: true, strict: true }).compile(valuesSchema);

let scratch: string;
beforeAll(() => { scratch = mkdtempSync(join(tmpdir(), 'galera-schema-')); });
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** The fields a schema's errors name, spelt as the constructs' messages spell them (galera.extraMyCnf[0]). */
function schemaFields(errors: ErrorObject[], data: unknown): string[] {
  const fields = errors.map((e) => {
    const keys = e.instancePath.split('/').slice(1);
    if (e.keyword === 'additionalProperties') keys.push((e.params as { additionalProperty: string }).additionalProperty);
    if (e.keyword === 'required') keys.push((e.params as { missingProperty: string }).missingProperty);
    let node: unknown = data;
    let field = '';
    for (const k of keys) {
      field += Array.isArray(node) ? `[${k}]` : `${field ? '.' : ''}${k}`;
      node = (node as Record<string, unknown> | undefined)?.[k];
    }
    return field;
  });
  return [...new Set(fields)].sort();
}

/** The fields the constructs' error names: the first word of each problem, without the subject. */
function runtimeFields(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    return [...new Set(e.message.split('\n').filter((l) => l.startsWith('  - ')).map((l) => l.slice(4).split(' ')[0]))].sort();
  }
  throw new Error('expected a ValidationError, but the input was accepted');
}

describe('the generated schemas', () => {
  test('are what `npm run schema` generates from the props interfaces now', () => {
    // GIVEN / WHEN
    const stale = staleSchemas(generateSchemas());

    // THEN
    expect(stale).toEqual([]);
  }, 120_000);

  test('a prop added to an interface without `npm run schema` makes both files stale, and the generated ones name it', () => {
    // GIVEN a copy of the sources with one more prop on MariaDbClusterProps, and the committed schemas
    const copy = join(scratch, 'repo');
    cpSync(join(ROOT, 'src'), join(copy, 'src'), { recursive: true });
    for (const f of ['tsconfig.json', SCHEMA_FILES.values, SCHEMA_FILES.props]) cpSync(join(ROOT, f), join(copy, f));
    for (const d of ['node_modules', 'imports']) symlinkSync(join(ROOT, d), join(copy, d));
    const file = join(copy, 'src', 'core', 'mariadb-cluster.ts');
    const source = readFileSync(file, 'utf8');
    const anchor = 'export interface MariaDbClusterProps {\n';
    expect(source).toContain(anchor);
    const added = '  /** A setting added for this test. @default false */\n  readonly addedSetting?: boolean;\n';
    writeFileSync(file, source.replace(anchor, `${anchor}${added}`));

    // WHEN
    const generated = generateSchemas(copy);

    // THEN
    expect(staleSchemas(generated, copy).sort()).toEqual([SCHEMA_FILES.props, SCHEMA_FILES.values].sort());
    expect(Object.keys(JSON.parse(generated.values).definitions.GaleraSection.properties)).toContain('addedSetting');
    expect(Object.keys(propsSchema.definitions.GaleraClusterProps.properties)).not.toContain('addedSetting');
  }, 120_000);

  test('values.schema.json describes the values file: its keys, no others, and the sections of both topologies', () => {
    expect(Object.keys(valuesSchema.properties)).toEqual([
      'topology', 'namespace', 'createNamespace', 'storage', 'galera', 'replication', 'proxysql', 'networkPolicy', 'backup', 'monitoring',
    ]);
    expect(valuesSchema.additionalProperties).toBe(false);
    expect(valuesSchema.definitions.ChartTopology.enum).toEqual(['galera', 'replication']);
    const { GaleraSection, ReplicationSection } = valuesSchema.definitions;
    expect(Object.keys(ReplicationSection.properties)).toEqual(expect.arrayContaining(['failoverSeconds', 'noReplicaAck']));
    expect(Object.keys(GaleraSection.properties)).toEqual(expect.arrayContaining(['failureDetection', 'replicas', 'tls']));
    // the props the composition sets are no keys of a section
    for (const owned of ['namespace', 'storageClassName', 'backupEndpoint', 'metrics']) {
      expect(GaleraSection.properties).not.toHaveProperty(owned);
      expect(ReplicationSection.properties).not.toHaveProperty(owned);
    }
  });

  test('a prose default (`@default - ...`) is no schema default; a literal one is', () => {
    const galera = valuesSchema.definitions.GaleraSection.properties;
    expect(galera.replicas).toMatchObject({ type: 'integer', minimum: 1, maximum: 99, default: 3 });
    expect(galera.image.default).toBe('docker.io/library/mariadb:10.11.19');
    for (const prose of ['name', 'secretName', 'terminationGracePeriodSeconds', 'tls', 'resources']) {
      expect(galera[prose]).not.toHaveProperty('default');
    }
  });
});

describe('values.schema.json and the values files', () => {
  const files = readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml')).sort();

  test.each(files)('accepts examples/%s, which names it for the YAML language server', (file) => {
    // GIVEN
    const text = readFileSync(join(EXAMPLES, file), 'utf8');
    const values = parse(text) ?? {};

    // WHEN / THEN
    expect(text.split('\n')[0]).toBe('# yaml-language-server: $schema=../values.schema.json');
    expect(validateValues(values) ? [] : validateValues.errors).toEqual([]);
  });

  test('accepts the empty values file (the seed deployment) and a file with every section of both topologies', () => {
    expect(validateValues({})).toBe(true);
    const replication = { topology: 'replication', namespace: 'shop', createNamespace: false, replication: { failoverSeconds: 20 } };
    expect(validateValues(replication)).toBe(true);
  });

  test.each([
    ['galera', 'namespace: Bad_NS\n'
      + 'storage: { preset: nvme, className: Fast_SSD }\n'
      + 'galera:\n  replicas: 0\n  antiAffinity: sometimes\n  replica: 3\n  resources: { cpu: "1", memoryLimit: 2 GiB }\n'
      + '  tls: { issuer: { kind: Vault } }\n  extraMyCnf: [long_query_time=2, "[client]"]\n  providerOptions: { GCACHE SIZE: 1G }\n'
      + 'proxysql:\n  failover: { pingIntervalMs: 10, intervalMs: 5 }\n  hostgroups: { reader: 0 }\n  writerIsAlsoReader: 0\n'
      + 'networkPolicy:\n  clients: [{}, { podSelector: { matchLabels: { app: my shop } } }]\n  dns: everyone\n'
      + 'backup:\n  schedule: "0 3 * *"\n  retention: { count: 0 }\n  destination: { s3: { bucket: DB_Backups } }\n'
      + 'monitoring:\n  labels: { bad key!: x }\n  scrapeInterval: "30"\n'],
    ['replication', 'topology: replication\n'
      + 'replication:\n  fenceSeconds: 1\n  noReplicaAck: maybe\n  appUser: shop-app\n  restoreFrom: { backup: yesterday, volume: {} }\n'
      + 'proxysql:\n  name: Front_Proxy\n  serverVersion: "11"\n'],
  ])('a wrong %s values file fails the schema and the constructs, both naming the same fields', (_topology, text) => {
    // GIVEN
    const file = join(scratch, `wrong-${_topology}.yaml`);
    writeFileSync(file, `# yaml-language-server: $schema=../values.schema.json\n${text}`);
    const values = parse(text);

    // WHEN
    const valid = validateValues(values);
    const fromSchema = schemaFields(validateValues.errors ?? [], values);
    const fromConstructs = runtimeFields(() => {
      const v = loadValues({ GALERA_VALUES: file }, scratch);
      return v.topology === 'replication' ? new ReplicationProxySqlChart(Testing.app(), 'mariadb', v)
        : new GaleraProxySqlChart(Testing.app(), 'galera-proxysql', v);
    });

    // THEN
    expect(valid).toBe(false);
    expect(fromSchema.length).toBeGreaterThanOrEqual(7);
    expect(fromConstructs).toEqual(fromSchema);
  });
});

describe('the literal defaults of the schemas are the defaults the constructs apply', () => {
  interface Schema { $ref?: string; default?: unknown; properties?: Record<string, Schema> }
  /** Every literal default of a schema, by its dotted path (following $refs into nested props). */
  function literalDefaults(schema: Schema | undefined, path: string[] = [], depth = 0): Array<[string[], unknown]> {
    const named = (ref: string): Schema => propsSchema.definitions[decodeURIComponent(ref.replace('#/definitions/', ''))];
    const resolved = schema?.$ref ? named(schema.$ref) : schema;
    const own: Array<[string[], unknown]> = schema && 'default' in schema ? [[path, schema.default]] : [];
    if (!resolved?.properties || depth > 3) return own;
    return [...own, ...Object.entries(resolved.properties).flatMap(([k, s]) => literalDefaults(s, [...path, k], depth + 1))];
  }
  const at = (value: unknown, path: string[]) => path.reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], value);
  const backend = { name: 'galera', replicas: 3, routing: GALERA_ROUTING };
  const cluster = { name: 'galera', storageSize: '10Gi' };

  test.each<[string, (c: Checker) => unknown]>([
    ['GaleraCluster', (c) =>
      resolveGaleraCluster({ topologySpread: {}, metrics: { enabled: true }, tls: { issuer: { name: 'ca' } } }, c, 'db')],
    ['MariaDbReplication', (c) => resolveMariaDbReplication({ tls: { enabled: true, issuer: { name: 'ca' } } }, c, 'ns')],
    ['ProxySql', (c) => resolveProxySql({}, c, backend)],
    ['MariaDbBackup', (c) => {
      const r = resolveGaleraBackup({}, c, cluster);
      return { ...r, destination: { volume: r.volume } };
    }],
    ['MariaDbMonitoring', () => resolveMonitoringOptions({})],
    ['MariaDbNetworkPolicies', () => resolveNetworkPolicy({})],
  ])('%s', (name, resolve) => {
    // GIVEN every literal default of the schema, and the props resolved with nothing set
    const defaults = literalDefaults(propsSchema.properties[name]);
    const c = new Checker(name);
    const resolved = resolve(c);
    expect(c.error()).toBeUndefined();

    // WHEN the resolved value of each field with a literal default is looked up
    const compared = defaults.filter(([path]) => at(resolved, path) !== undefined);

    // THEN each is the schema's default, and most defaults were found
    for (const [path, value] of compared) {
      expect(`${path.join('.')}: ${JSON.stringify(at(resolved, path))}`).toBe(`${path.join('.')}: ${JSON.stringify(value)}`);
    }
    expect(compared.length).toBeGreaterThanOrEqual(Math.min(3, defaults.length));
    expect(compared.length / defaults.length).toBeGreaterThan(0.6);
  });
});
