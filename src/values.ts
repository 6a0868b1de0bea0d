import { existsSync, readFileSync } from 'fs';
import * as yaml from 'js-yaml';
import { GaleraProxySqlChartProps } from './galera-proxysql-chart';
import { ValidationError } from './validation';

/** Environment variable naming the values file; without it `values.yaml` in the working directory is used if present. */
export const VALUES_ENV = 'GALERA_VALUES';
export const DEFAULT_VALUES_FILE = 'values.yaml';

/** The keys a values file may set, per section; the constructs validate the values themselves. */
const ALLOWED: Record<string, readonly string[] | 'scalar'> = {
  namespace: 'scalar',
  createNamespace: 'scalar',
  storage: ['preset', 'existingClassName', 'className', 'reclaimPolicy'],
  galera: [
    'name', 'replicas', 'allowUnsafeReplicaCount', 'image', 'imagePullPolicy', 'storageSize', 'accessMode', 'resources',
    'innodbBufferPoolSize', 'maxConnections', 'extraMyCnf', 'failureDetection', 'providerOptions', 'secretName', 'appUser', 'appDatabase',
    'antiAffinity', 'topologySpread', 'readyWhenDonor', 'sstSecondsPerGi', 'clusterDomain', 'terminationGracePeriodSeconds',
    'nonPrimaryRestartSeconds',
  ],
  proxysql: 'object',
} as unknown as Record<string, readonly string[] | 'scalar'>;

const NESTED: Record<string, readonly string[]> = {
  'galera.resources': ['cpuRequest', 'cpuLimit', 'memoryRequest', 'memoryLimit'],
  'galera.topologySpread': ['topologyKey', 'maxSkew', 'required'],
};

const NUMBER_FIELDS = new Set(['galera.replicas', 'galera.nonPrimaryRestartSeconds', 'galera.maxConnections', 'galera.sstSecondsPerGi', 'galera.terminationGracePeriodSeconds',
  'galera.topologySpread.maxSkew', 'proxysql.replicas']);
const BOOLEAN_FIELDS = new Set(['createNamespace', 'galera.allowUnsafeReplicaCount', 'galera.readyWhenDonor', 'galera.topologySpread.required']);

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Checks the shape of a parsed values document: known keys, objects where objects belong, and scalar types. */
export function checkValuesShape(doc: unknown, source: string, proxysqlKeys: readonly string[]): GaleraProxySqlChartProps {
  const problems: string[] = [];
  if (doc === undefined || doc === null) return {};
  if (!isPlainObject(doc)) throw new ValidationError(`values file ${source}`, [`the document must be a mapping of ${Object.keys(ALLOWED).join(', ')}, got ${Array.isArray(doc) ? 'a list' : typeof doc}`]);
  const walk = (obj: Record<string, unknown>, path: string, allowed: readonly string[]) => {
    for (const [key, value] of Object.entries(obj)) {
      const field = path ? `${path}.${key}` : key;
      if (!allowed.includes(key)) {
        problems.push(`${field} is not a known setting; allowed here: ${allowed.join(', ')}`);
        continue;
      }
      if (NUMBER_FIELDS.has(field) && typeof value !== 'number') problems.push(`${field} must be a number, got ${JSON.stringify(value)}`);
      if (BOOLEAN_FIELDS.has(field) && typeof value !== 'boolean') problems.push(`${field} must be true or false, got ${JSON.stringify(value)}`);
      const nested = NESTED[field];
      if (nested) {
        if (!isPlainObject(value)) problems.push(`${field} must be a mapping of ${nested.join(', ')}, got ${JSON.stringify(value)}`);
        else walk(value, field, nested);
      }
      if (field === 'galera.extraMyCnf' && !Array.isArray(value)) problems.push(`${field} must be a list of 'key=value' strings, got ${JSON.stringify(value)}`);
      if (field === 'galera.providerOptions' && !isPlainObject(value)) problems.push(`${field} must be a mapping of option names to strings, got ${JSON.stringify(value)}`);
    }
  };
  for (const [section, value] of Object.entries(doc)) {
    const allowed = section === 'proxysql' ? proxysqlKeys : ALLOWED[section];
    if (allowed === undefined) {
      problems.push(`${section} is not a known setting; allowed at the top level: ${Object.keys(ALLOWED).join(', ')}`);
    } else if (allowed === 'scalar') {
      if (section === 'namespace' && typeof value !== 'string') problems.push(`namespace must be a string, got ${JSON.stringify(value)}`);
      if (BOOLEAN_FIELDS.has(section) && typeof value !== 'boolean') problems.push(`${section} must be true or false, got ${JSON.stringify(value)}`);
    } else if (!isPlainObject(value)) {
      problems.push(`${section} must be a mapping of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
    } else {
      walk(value, section, allowed);
    }
  }
  if (problems.length) throw new ValidationError(`values file ${source}`, problems);
  return doc as GaleraProxySqlChartProps;
}

/** Reads the values file named by GALERA_VALUES (or ./values.yaml when present); no file means the seed deployment. */
export function loadValues(proxysqlKeys: readonly string[], env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): GaleraProxySqlChartProps {
  const explicit = env[VALUES_ENV];
  const path = explicit ?? `${cwd}/${DEFAULT_VALUES_FILE}`;
  if (!existsSync(path)) {
    if (explicit) throw new ValidationError(`values file ${path}`, [`${VALUES_ENV} names a file that does not exist`]);
    return {};
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    // e.g. a directory: say so rather than calling it invalid YAML.
    throw new ValidationError(`values file ${path}`, [`${explicit ? `${VALUES_ENV} names` : 'is'} a path that cannot be read as a YAML file: ${(e as Error).message}`]);
  }
  let doc: unknown;
  try {
    doc = yaml.load(text, { filename: path });
  } catch (e) {
    throw new ValidationError(`values file ${path}`, [`is not valid YAML: ${(e as Error).message.split('\n')[0]}`]);
  }
  return checkValuesShape(doc, path, proxysqlKeys);
}
