import Ajv, { AnySchemaObject, ErrorObject, ValidateFunction } from 'ajv';
import propsSchema from './props.schema.json';
import type { PropsSchemas } from './props-schemas';
import { Checker, isMapping, show } from './validation';

// The props of every construct and values-file section are checked against the JSON schemas that
// tools/values-schema.ts generates from the props interfaces (src/values/props.schema.json): types,
// ranges, allowed values, formats and unknown keys. What a schema cannot say (one field against
// another, a default computed from others) stays in each construct's resolver.

type Schema = AnySchemaObject;

const ajv = new Ajv({ allErrors: true, verbose: true, strict: true });
ajv.addSchema(propsSchema as Schema, 'props');
const validators = new Map<keyof PropsSchemas, ValidateFunction>();

function validator(name: keyof PropsSchemas): ValidateFunction {
  let v = validators.get(name);
  if (!v) {
    v = ajv.compile({ $ref: `props#/properties/${name}` });
    validators.set(name, v);
  }
  return v;
}

/** A schema with its `$ref` followed (the generator refers to every named type). */
function deref(s: Schema | undefined): Schema | undefined {
  for (let depth = 0; s && typeof s.$ref === 'string' && depth < 10; depth++) {
    const name = decodeURIComponent(s.$ref.replace(/^#\/definitions\//, ''));
    s = (propsSchema.definitions as Record<string, Schema>)[name];
  }
  return s;
}

/** The keys the schema `name` allows, in the order of its declaration. @internal */
export function schemaKeys(name: keyof PropsSchemas): string[] {
  return keysOf((propsSchema.properties as Record<string, Schema>)[name]);
}

/**
 * Checks `value` against the schema `name` and reports every problem into `c`, each naming the
 * field (under `field`, and the checker's prefix), what is allowed and the value given. Returns
 * the value without the invalid parts (an invalid field reads as unset, a list item as undefined),
 * so the resolver's defaults and cross-field rules go on with the rest.
 * @internal
 */
export function checkProps<K extends keyof PropsSchemas>(c: Checker, name: K, value: unknown, field = ''): PropsSchemas[K] {
  if (value === undefined) return {} as PropsSchemas[K];
  const validate = validator(name);
  if (validate(value)) return value as PropsSchemas[K];
  const problems = describe(validate.errors ?? [], value);
  for (const p of problems) {
    const relative = `${field}${fieldPath(value, p.path)}`.replace(/^\./, '');
    c.add(p.message(relative ? c.f(relative) : c.section));
    c.markInvalid(relative);
  }
  const pruned = prune(value, problems.map((p) => p.prune));
  return (isMapping(pruned) ? pruned : {}) as PropsSchemas[K];
}

interface Problem {
  /** Where the field is, as keys and indexes from the value checked. */
  readonly path: readonly string[];
  /** What is removed from the value. */
  readonly prune: readonly string[];
  /** The message for the field spelt `at`. */
  readonly message: (at: string) => string;
}

/** JSON pointer to keys ('/a/b~1c' is ['a', 'b/c']). */
function pointer(p: string): string[] {
  return p === '' ? [] : p.slice(1).split('/').map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** The field a path names, as the user writes it after its parent: `.key`, `['a.b']` or `[0]`. */
function fieldPath(root: unknown, path: readonly string[]): string {
  let out = '';
  let node: unknown = root;
  for (const key of path) {
    if (Array.isArray(node)) out += `[${key}]`;
    else out += /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) ? `.${key}` : `['${key.slice(0, 80)}']`;
    node = isMapping(node) || Array.isArray(node) ? (node as Record<string, unknown>)[key] : undefined;
  }
  return out;
}

const quote = (v: unknown) => (typeof v === 'string' ? `'${v}'` : String(v));
const keysOf = (s: Schema | undefined) => Object.keys(deref(s)?.properties ?? {});
const orList = (items: string[]) => (items.length > 1 ? `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}` : items.join(''));

/** What a schema allows, in words: the named type's description, a range, a list of keys. */
function allowed(s: Schema | undefined, value: unknown): string {
  s = deref(s);
  if (!s) return 'valid';
  const type = s.type;
  if (s.enum) return `one of ${(s.enum as unknown[]).map(quote).join(', ')}`;
  if (type === 'integer' || (type === 'number' && (s.minimum !== undefined || s.maximum !== undefined))) {
    const what = type === 'integer' ? 'an integer' : 'a number';
    if (typeof value !== 'number') return 'a number';
    if (s.minimum !== undefined && s.maximum !== undefined) return `${what} from ${s.minimum} to ${s.maximum}`;
    if (s.minimum !== undefined) return `${what} of at least ${s.minimum}`;
    return s.maximum !== undefined ? `${what} of at most ${s.maximum}` : what;
  }
  if (type === 'number') return 'a number';
  if (type === 'boolean') return 'true or false';
  if (type === 'string') return typeof value === 'string' && typeof s.description === 'string' ? s.description : 'a string';
  if (type === 'object') {
    const keys = keysOf(s);
    if (keys.length > 0) return `a mapping of ${keys.join(', ')}`;
    return typeof s.description === 'string' ? s.description : 'a mapping';
  }
  if (type === 'array') {
    const item = deref(s.items as Schema | undefined);
    if (item?.type === 'object') return keysOf(item).length > 0 ? `a list of mappings of ${keysOf(item).join(', ')}` : 'a list of mappings';
    if (item?.type === 'string') return `a list of strings${typeof item.description === 'string' ? `, each ${item.description}` : ''}`;
    return 'a list';
  }
  return 'valid';
}

/** The first sentence of a field's description, as the end of "x is required: ...". */
function purpose(s: Schema | undefined): string {
  const d = typeof s?.description === 'string' ? s.description : '';
  return d ? `: ${d.charAt(0).toLowerCase()}${d.slice(1).replace(/\.$/, '')}` : '';
}

/** Errors that say more about a value win over the others at the same field (an enum over its type). */
const RANK: Record<string, number> = { enum: 0, const: 0 };

/** One problem per field out of the validator's errors, in the order of the value's keys. */
function describe(errors: ErrorObject[], value: unknown): Problem[] {
  const byField = new Map<string, { rank: number; problem: Problem }>();
  const add = (key: string, rank: number, problem: Problem) => {
    const seen = byField.get(key);
    if (!seen || rank < seen.rank) byField.set(key, { rank, problem });
  };
  for (const e of errors) {
    const path = pointer(e.instancePath);
    const got = `got ${show(e.data)}`;
    const ps = e.parentSchema as Schema | undefined;
    if (e.keyword === 'propertyNames' || e.keyword === 'if' || e.keyword === '$ref') continue;
    if (e.propertyName !== undefined) {
      // a key of a mapping (providerOptions, labels) that its key type refuses
      const name = e.propertyName;
      add(`${e.instancePath}\0key\0${name}`, 1, {
        path, prune: [...path, name],
        message: (at) => `${at} key must be ${typeof ps?.description === 'string' ? ps.description : 'valid'}, got ${show(name)}`,
      });
    } else if (e.keyword === 'additionalProperties') {
      const extra = String((e.params as { additionalProperty: string }).additionalProperty);
      const keys = keysOf(ps).join(', ');
      add(`${e.instancePath}\0extra\0${extra}`, 1, {
        path: [...path, extra], prune: [...path, extra],
        message: (at) => `${at} is not a known setting; allowed here: ${keys}`,
      });
    } else if (e.keyword === 'required') {
      const missing = String((e.params as { missingProperty: string }).missingProperty);
      const property = deref(ps)?.properties?.[missing] as Schema | undefined;
      add(`${e.instancePath}\0required\0${missing}`, 1, {
        path: [...path, missing], prune: path,
        message: (at) => `${at} is required${purpose(property)}`,
      });
    } else if (e.keyword === 'minProperties') {
      add(e.instancePath, 1, { path, prune: path, message: (at) => `${at} must name ${orList(keysOf(ps))}, got ${show(e.data)}` });
    } else {
      const known = ['type', 'enum', 'const', 'pattern', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum'].includes(e.keyword);
      add(e.instancePath, RANK[e.keyword] ?? 1, {
        path, prune: path,
        message: (at) => (known ? `${at} must be ${allowed(ps, e.data)}, ${got}` : `${at} ${e.message ?? 'is invalid'}, ${got}`),
      });
    }
  }
  return [...byField.values()].map((v) => v.problem).sort((a, b) => compareInDocument(value, a.path, b.path));
}

/** Orders two paths as their fields appear in `root` (a missing field after its siblings). */
function compareInDocument(root: unknown, a: readonly string[], b: readonly string[]): number {
  let node: unknown = root;
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] !== b[i]) {
      const keys = isMapping(node) || Array.isArray(node) ? Object.keys(node as object) : [];
      const index = (k: string) => (keys.includes(k) ? keys.indexOf(k) : keys.length);
      return index(a[i]) - index(b[i]);
    }
    node = isMapping(node) || Array.isArray(node) ? (node as Record<string, unknown>)[a[i]] : undefined;
  }
  return a.length - b.length;
}

/** `value` without what `paths` name; only the mappings and lists on the way are copied. */
function prune(value: unknown, paths: readonly (readonly string[])[]): unknown {
  if (paths.some((p) => p.length === 0)) return undefined;
  if (paths.length === 0 || !(isMapping(value) || Array.isArray(value))) return value;
  const copy: Record<string, unknown> | unknown[] = Array.isArray(value) ? [...value] : { ...value };
  const byKey = new Map<string, string[][]>();
  for (const [key, ...rest] of paths) byKey.set(key, [...(byKey.get(key) ?? []), rest]);
  for (const [key, rest] of byKey) {
    if (!Object.prototype.hasOwnProperty.call(copy, key)) continue;
    const kept = prune((copy as Record<string, unknown>)[key], rest);
    if (kept !== undefined) (copy as Record<string, unknown>)[key] = kept;
    else if (Array.isArray(copy)) copy[Number(key)] = undefined;
    else delete copy[key];
  }
  return copy;
}
