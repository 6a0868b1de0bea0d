import { existsSync, readFileSync } from 'fs';
import { isPair, isScalar, isSeq, LineCounter, parseDocument, visit } from 'yaml';
import type { DatabaseSections } from '../charts/database-proxysql';
import type { GaleraProxySqlProps } from '../charts/galera-proxysql';
import type { GaleraProxySqlChartProps } from '../charts/galera-proxysql-chart';
import type { ReplicationProxySqlProps } from '../charts/replication-proxysql';
import type { DnsLabel } from './formats';
import { schemaKeys } from './schema';
import { isMapping, show, ValidationError } from './validation';

/** The database topologies a values file chooses between. */
export const CHART_TOPOLOGIES = ['galera', 'replication'] as const;
/** A database topology: a Galera cluster, or one primary with semi-synchronous replicas. */
export type ChartTopology = typeof CHART_TOPOLOGIES[number];

/** The keys of a values file besides its sections. */
export interface ValuesFileSettings {
  /**
   * The database topology: a Galera cluster, or one primary with semi-synchronous replicas (the `replication` section).
   * @default 'galera'
   */
  readonly topology?: ChartTopology;
  /** Namespace of every namespaced object. @default - 'galera', or 'mariadb' with topology 'replication' */
  readonly namespace?: DnsLabel;
}

/**
 * A values file: the props of the chart its topology picks (GaleraProxySqlChart, or
 * ReplicationProxySqlChart with `topology: replication`), as synthesizeTo builds it. Its JSON
 * schema is values.schema.json (npm run schema).
 */
// The schema generator lists the members of the last interface extended first: this order gives
// the keys in the order a values file is read (topology, namespace, createNamespace, storage, ...).
export interface ValuesFile extends Omit<DatabaseSections, 'namespace' | 'storage'>, Pick<ReplicationProxySqlProps, 'replication'>,
  Pick<GaleraProxySqlProps, 'galera'>, Pick<DatabaseSections, 'storage'>, Pick<GaleraProxySqlChartProps, 'createNamespace'>,
  ValuesFileSettings {}

/** The top-level keys of a values file (those of ValuesFile). */
export const CHART_SECTIONS: readonly string[] = schemaKeys('ValuesFile');

/** Environment variable naming the values file; without it `values.yaml` in the working directory is used if present. */
export const VALUES_ENV = 'GALERA_VALUES';
/** The values file read from the working directory when GALERA_VALUES names none. */
export const DEFAULT_VALUES_FILE = 'values.yaml';
/** A values file is a handful of settings; anything larger is not one. */
const MAX_VALUES_BYTES = 1024 * 1024;

/**
 * Parses a values document. Only the YAML is checked here (syntax, no aliases, a mapping of the
 * chart's sections); each section is then resolved by the construct that owns it.
 */
export function parseValues(text: string, source: string): ValuesFile {
  const fail = (problem: string) => new ValidationError(`values file ${source}`, [problem]);
  if (text.length > MAX_VALUES_BYTES) throw fail(`is ${text.length} bytes; a values file may have at most ${MAX_VALUES_BYTES}`);
  const lines = new LineCounter();
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false, lineCounter: lines, strict: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const at = e.pos ? lines.linePos(e.pos[0]) : undefined;
    const what = e.code === 'DUPLICATE_KEY' ? 'duplicated mapping key' : e.message.split('\n')[0];
    throw fail(`is not valid YAML: ${what}${at ? ` (line ${at.line}, column ${at.col})` : ''}`);
  }
  // Aliases are refused outright: a few hundred bytes of nested aliases expand to gigabytes.
  // One problem per setting (the first alias of a list stands for the others).
  const aliases = new Map<string, string>();
  visit(doc, {
    Alias(key, node, path) {
      const field = fieldOf(path, key);
      const setting = field.replace(/\[[0-9]+\]/g, '');
      if (!aliases.has(setting)) aliases.set(
        setting,
        `${field} uses the YAML alias *${String(node.source).slice(0, 40)}; aliases are not allowed in a values file, write the value out`,
      );
      return visit.SKIP;
    },
  });
  if (aliases.size > 0) throw new ValidationError(`values file ${source}`, [...aliases.values()].slice(0, 20));
  const value: unknown = doc.toJS({ maxAliasCount: 0 });
  if (value === undefined || value === null) return {};
  if (!isMapping(value)) {
    throw fail(`the document must be a mapping of ${CHART_SECTIONS.join(', ')}, got ${Array.isArray(value) ? 'a list' : typeof value}`);
  }
  const unknown = Object.keys(value).filter((k) => !CHART_SECTIONS.includes(k));
  if (unknown.length > 0) {
    throw new ValidationError(`values file ${source}`, unknown.slice(0, 20).map((k) => `${show(k).replace(/^"|"$/g, '')} is not a known `
      + `setting; allowed at the top level: ${CHART_SECTIONS.join(', ')}`));
  }
  return value as ValuesFile;
}

/** The dotted field of a node from its ancestors and its key, as `visit` gives them (galera.extraMyCnf[0]). */
function fieldOf(path: readonly unknown[], key: number | 'key' | 'value' | null): string {
  let field = '';
  for (let i = 0; i < path.length; i++) {
    const node = path[i];
    if (isPair(node) && isScalar(node.key)) field += `${field ? '.' : ''}${String(node.key.value).slice(0, 40)}`;
    if (isSeq(node)) {
      const index = i + 1 < path.length ? node.items.indexOf(path[i + 1] as never) : key;
      if (typeof index === 'number' && index >= 0) field += `[${index}]`;
    }
  }
  return field || 'the document';
}

/** Reads the values file named by GALERA_VALUES (or ./values.yaml when present); no file means the seed deployment. */
export function loadValues(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): ValuesFile {
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
    throw new ValidationError(`values file ${path}`, [
      `${explicit ? `${VALUES_ENV} names` : 'is'} a path that cannot be read as a YAML file: ${(e as Error).message}`,
    ]);
  }
  return parseValues(text, path);
}
