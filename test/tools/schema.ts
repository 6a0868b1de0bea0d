/*
 * Validates synthesized objects against the Kubernetes API schemas, offline, from Kubernetes 1.28
 * (the API this project is written against) to 1.33 (the newest the validator ships).
 *
 * - Kubernetes v1.33: kubernetes-models 4.5.1 (with @kubernetes-models/apimachinery 2.2.0, pinned
 *   in package.json) carries the v1.33 OpenAPI schema as precompiled ajv validators: required
 *   fields, types, enums (e.g. podManagementPolicy), int32 / int-or-string / quantity formats.
 *   It is the newest release for Node 20 with CommonJS: kubernetes-models 5.x (and the 5.x/6.x
 *   CRD packages) are ESM-only and need node >= 22. The custom resources are validated with
 *   @kubernetes-models/cert-manager and @kubernetes-models/prometheus-operator 4.4.4, the last
 *   CommonJS releases, built on the same base and apimachinery.
 * - Unknown fields are errors. The OpenAPI schema does not forbid them (the ajv validators accept
 *   any extra key, as the API server drops them with a warning), so every key of the object is
 *   looked up in the type declarations generated from the same schema (the package's .d.ts
 *   files, read with the TypeScript compiler); a key the type does not have fails with its path.
 * - Kubernetes 1.28: every key must also exist in the Kubernetes 1.28 API, which cdk8s-plus-28
 *   ships as the output of `cdk8s import k8s@1.28` (lib/imports/k8s, the types this project's
 *   L1 objects are built with), and the kind must exist there: a field or kind added after 1.28
 *   fails. (No npm package ships the 1.28 OpenAPI schema itself; the types carry its fields.)
 * - Only GA API versions are accepted: kubernetes-models keeps types that Kubernetes stopped
 *   serving (e.g. policy/v1beta1).
 */
import { readFileSync } from 'fs';
import { dirname, join } from 'path';
import * as ts from 'typescript';
import type { Manifest } from './manifest';

export const SCHEMA_VERSION = 'Kubernetes v1.33 OpenAPI schema (kubernetes-models 4.5.1) and the v1.28 API fields (cdk8s-plus-28), '
  + 'unknown fields rejected';

interface Model { validate(): void }
type ModelClass = new (data: unknown) => Model;

/** The CRDs this project emits objects of, and the kubernetes-models package with their schemas. */
const CRD_MODELS: Record<string, string> = {
  'cert-manager.io/v1': '@kubernetes-models/cert-manager/cert-manager.io/v1',
  'monitoring.coreos.com/v1': '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1',
};
const K8S_128 = 'cdk8s-plus-28/lib/imports/k8s';

const modelModule = (apiVersion: string) => CRD_MODELS[apiVersion] ?? `kubernetes-models/${apiVersion}`;

/** The kubernetes-models class for an apiVersion/kind, or undefined when the schema has no such type. */
function modelClass(apiVersion: unknown, kind: unknown): ModelClass | undefined {
  if (typeof apiVersion !== 'string' || typeof kind !== 'string' || !/^([a-z0-9.-]+\/)?v[0-9a-z]+$/.test(apiVersion)) return undefined;
  let group: Record<string, unknown>;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the module is named by the manifest's apiVersion
    group = require(modelModule(apiVersion));
  } catch {
    return undefined;
  }
  const cls = group[kind];
  return typeof cls === 'function' ? cls as ModelClass : undefined;
}

const GA_API_VERSION = /^([a-z0-9.-]+\/)?v[0-9]+$/;

// --- the type declarations, read once per set of modules --------------------------------------

const ENTRY = join(__dirname, '__schema_types__.ts');
let program: ts.Program | undefined;
const modules = new Set<string>([K8S_128]);

/** The exports of a module of the type program (built again when a module is new). */
function moduleExports(spec: string): Map<string, ts.Symbol> | undefined {
  if (!modules.has(spec) || !program) {
    modules.add(spec);
    const source = [...modules].map((m, i) => `import * as m${i} from ${JSON.stringify(m)};\nexport { m${i} };`).join('\n');
    const host = ts.createCompilerHost({});
    const readFile = host.readFile;
    host.readFile = (f) => (f === ENTRY ? source : readFile(f));
    host.fileExists = ((exists) => (f: string) => f === ENTRY || exists(f))(host.fileExists);
    const options: ts.CompilerOptions = {
      noEmit: true, skipLibCheck: true, types: [], strict: true, moduleResolution: ts.ModuleResolutionKind.Node10,
      baseUrl: dirname(require.resolve('kubernetes-models/package.json')),
    };
    program = ts.createProgram({ rootNames: [ENTRY], options, host, oldProgram: program });
  }
  const checker = program.getTypeChecker();
  const entry = program.getSourceFile(ENTRY);
  const decl = entry?.statements.filter(ts.isImportDeclaration).find((d) => (d.moduleSpecifier as ts.StringLiteral).text === spec);
  const symbol = decl && checker.getSymbolAtLocation(decl.moduleSpecifier);
  if (!symbol) return undefined;
  return new Map(checker.getExportsOfModule(symbol).map((s) => [s.name, s]));
}

/** The declared type of an exported interface of a module, or undefined. */
function exportedType(spec: string, name: string): ts.Type | undefined {
  const symbol = moduleExports(spec)?.get(name);
  if (!symbol || !program) return undefined;
  const checker = program.getTypeChecker();
  const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
  if (!(target.flags & (ts.SymbolFlags.Interface | ts.SymbolFlags.Class))) return undefined;
  return checker.getDeclaredTypeOfSymbol(target);
}

/**
 * The JSON field names whose cdk8s property is spelt otherwise (clusterIP is clusterIp), from the
 * `'json': obj.property` pairs of the import's toJson functions.
 */
let renamed128: Map<string, string> | undefined;
function k8s128Name(key: string): string {
  if (!renamed128) {
    const js = readFileSync(require.resolve(`${K8S_128}.js`), 'utf8');
    renamed128 = new Map([...js.matchAll(/'([^']+)': obj\.([A-Za-z0-9_$]+)/g)].filter((m) => m[1] !== m[2]).map((m) => [m[1], m[2]]));
  }
  return renamed128.get(key) ?? key;
}

/** cdk8s's value classes: leaves whose JSON is a string or a number. */
const LEAF_CLASSES = ['IntOrString', 'Quantity'];

/** Keys of `value` that `type` does not declare, as JSON pointers, walking into objects and arrays. */
function unknownFields(
  value: unknown, type: ts.Type, path: string, rename: (key: string) => string, skipKeys: readonly string[] = [],
): string[] {
  const checker = program!.getTypeChecker();
  if (value === null || typeof value !== 'object') return [];
  if (type.flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) return [];
  if (LEAF_CLASSES.includes(type.getSymbol()?.name ?? '')) return [];
  if (type.isUnion()) {
    // optional fields (T | undefined), string | number, and the object form of a union
    const objects = type.types.filter((t) => t.flags & ts.TypeFlags.Object && !LEAF_CLASSES.includes(t.getSymbol()?.name ?? ''));
    if (objects.length === 0) return [];
    if (objects.length > 1) return [];
    return unknownFields(value, objects[0], path, rename, skipKeys);
  }
  if (Array.isArray(value)) {
    const element = checker.isArrayType(type) ? checker.getTypeArguments(type as ts.TypeReference)[0] : undefined;
    return element ? value.flatMap((v, i) => unknownFields(v, element, `${path}/${i}`, rename)) : [];
  }
  const index = checker.getIndexInfoOfType(type, ts.IndexKind.String);
  const errors: string[] = [];
  for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
    if (skipKeys.includes(key)) continue;
    const property = type.getProperty(rename(key));
    if (property) {
      errors.push(...unknownFields(child, checker.getNonNullableType(checker.getTypeOfSymbol(property)), `${path}/${key}`, rename));
    } else if (index) {
      errors.push(...unknownFields(child, index.type, `${path}/${key}`, rename));
    } else {
      errors.push(`${path}/${key} is not a field of the schema`);
    }
  }
  return errors;
}

/** Schema errors of one manifest (each naming the field as a JSON pointer); empty when it is valid. */
export function schemaErrors(manifest: Manifest): string[] {
  const apiVersion = manifest?.apiVersion;
  const kind = manifest?.kind;
  if (typeof apiVersion === 'string' && !GA_API_VERSION.test(apiVersion)) return [`${apiVersion} is not a GA API version`];
  const cls = modelClass(apiVersion, kind);
  if (!cls) return [`${apiVersion}/${kind} is not a type of the schema`];
  const errors: string[] = [];
  try {
    new cls(manifest).validate();
  } catch (e) {
    errors.push(...String((e as Error).message).split(', '));
  }
  const v133 = exportedType(modelModule(apiVersion), `I${kind}`);
  if (!v133) errors.push(`${apiVersion}/${kind} has no type declaration in kubernetes-models`);
  else errors.push(...unknownFields(manifest, v133, '', (k) => k).map((e) => `${e} `
    + `(${CRD_MODELS[apiVersion] ? CRD_MODELS[apiVersion].split('/').slice(0, 2).join('/') : 'Kubernetes 1.33'})`));
  if (!CRD_MODELS[apiVersion]) {
    const v128 = exportedType(K8S_128, `Kube${kind}Props`);
    if (!v128) errors.push(`${apiVersion}/${kind} is not a kind of Kubernetes 1.28`);
    else errors.push(...unknownFields(manifest, v128, '', k8s128Name, ['apiVersion', 'kind']).map((e) => `${e} (Kubernetes 1.28)`));
  }
  return errors;
}
