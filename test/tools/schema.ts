/*
 * Validates synthesized objects against the Kubernetes OpenAPI schema, offline.
 *
 * No npm package ships the Kubernetes 1.28 OpenAPI / JSON schema. kubernetes-models 4.3.x-4.4.x
 * carry the v1.27.1 schema as precompiled ajv validators (4.5.x jumps to v1.33.0, and 5.x is
 * ESM-only for node >= 22), so the closest available, 1.27.1, is what this file validates against.
 * package.json pins kubernetes-models 4.4.2 and its @kubernetes-models/apimachinery to 2.0.2
 * (the release generated from the same v1.27.1 schema). Every API this project emits (v1,
 * apps/v1, policy/v1, storage.k8s.io/v1) is GA in both 1.27 and 1.28 with the same fields.
 *
 * What the schema checks: required fields, types, enums (e.g. podManagementPolicy),
 * int32 / int-or-string / quantity formats, and that the apiVersion/kind exists. It does not
 * reject unknown fields (the OpenAPI schema does not forbid them).
 */
export const SCHEMA_VERSION = 'Kubernetes v1.27.1 OpenAPI schema (kubernetes-models 4.4.2; closest npm-shipped version to 1.28)';

interface Model { validate(): void }
type ModelClass = new (data: unknown) => Model;

/** The CRDs this project emits objects of, and the kubernetes-models package with their schemas. */
const CRD_MODELS: Record<string, string> = {
  'cert-manager.io/v1': '@kubernetes-models/cert-manager/cert-manager.io/v1',
  'monitoring.coreos.com/v1': '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1',
};

/** The kubernetes-models class for an apiVersion/kind, or undefined when the schema has no such type. */
function modelClass(apiVersion: unknown, kind: unknown): ModelClass | undefined {
  if (typeof apiVersion !== 'string' || typeof kind !== 'string' || !/^([a-z0-9.-]+\/)?v[0-9a-z]+$/.test(apiVersion)) return undefined;
  let group: Record<string, unknown>;
  try {
    group = require(CRD_MODELS[apiVersion] ?? `kubernetes-models/${apiVersion}`);
  } catch {
    return undefined;
  }
  const cls = group[kind];
  return typeof cls === 'function' ? cls as ModelClass : undefined;
}

/**
 * kubernetes-models keeps the types of API versions that Kubernetes stopped serving (e.g.
 * policy/v1beta1), so the served versions are checked here: only GA versions, which 1.28 serves.
 */
const GA_API_VERSION = /^([a-z0-9.-]+\/)?v[0-9]+$/;

/** Schema errors of one manifest; empty when it is valid. */
export function schemaErrors(manifest: any): string[] {
  if (typeof manifest?.apiVersion === 'string' && !GA_API_VERSION.test(manifest.apiVersion)) {
    return [`${manifest.apiVersion} is not a GA API version`];
  }
  const cls = modelClass(manifest?.apiVersion, manifest?.kind);
  if (!cls) return [`${manifest?.apiVersion}/${manifest?.kind} is not a type of the schema`];
  try {
    new cls(manifest).validate();
    return [];
  } catch (e) {
    return String((e as Error).message).split(', ');
  }
}

