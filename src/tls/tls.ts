import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import { Checker, isMapping, show } from '../values/validation';

/** The cert-manager issuer that signs the certificates. */
export interface TlsIssuer {
  /** Name of the Issuer or ClusterIssuer. */
  readonly name: string;
  /** @default 'Issuer' */
  readonly kind?: 'Issuer' | 'ClusterIssuer';
  /** @default 'cert-manager.io' */
  readonly group?: string;
}

/** TLS between clients, ProxySQL and the database nodes, and between the nodes. */
export interface TlsProps {
  /**
   * Encrypt client and ProxySQL connections, Galera replication, IST and SST with TLS, and
   * authenticate Galera peers by the cluster CA. Turning it off is explicit.
   * @default true
   */
  readonly enabled?: boolean;
  /**
   * A cert-manager issuer: the constructs emit Certificate objects and cert-manager keeps the
   * Secrets current (renewed in place; the pods reload them without a restart).
   * @default - none: create the Secrets with `npm run -s new-tls`
   */
  readonly issuer?: TlsIssuer;
  /** Refuse plain-text clients: MariaDB's require_secure_transport, and TLS required by ProxySQL for the application account. @default false */
  readonly requireSecureTransport?: boolean;
  /**
   * While TLS is being turned on for a running cluster (see the README): Galera nodes accept
   * plain and TLS peers (socket.dynamic) and joiners use a plain SST, so that old and new pods
   * keep one cluster during the rolling restart. Turn it off in a second rollout.
   * @default false
   */
  readonly transitional?: boolean;
}

/** TlsProps with the defaults applied. @internal */
export interface ResolvedTls {
  readonly enabled: boolean;
  readonly issuer?: Required<TlsIssuer>;
  readonly requireSecureTransport: boolean;
  readonly transitional: boolean;
}

const TLS_KEYS = Object.keys({ enabled: 0, issuer: 0, requireSecureTransport: 0, transitional: 0 } satisfies Record<keyof TlsProps, 0>);
const ISSUER_KEYS = ['name', 'kind', 'group'];

/** @internal */
export function resolveTls(c: Checker, field: string, input: TlsProps | undefined, enabledByDefault = true): ResolvedTls {
  if (input !== undefined && !isMapping(input)) c.add(`${c.f(field)} must be a mapping of ${TLS_KEYS.join(', ')}, got ${show(input)}`);
  const t: TlsProps = c.mapping(field, isMapping(input) ? input as TlsProps : undefined, TLS_KEYS) ?? {};
  const enabled = c.bool(`${field}.enabled`, t.enabled, enabledByDefault);
  const i: Partial<TlsIssuer> | undefined = c.mapping(`${field}.issuer`, t.issuer, ISSUER_KEYS);
  if (i !== undefined && i.name === undefined) c.add(`${c.f(field)}.issuer.name is required: the name of a cert-manager Issuer or ClusterIssuer`);
  const issuer = i === undefined ? undefined : {
    name: c.dnsSubdomain(`${field}.issuer.name`, i.name, 'missing'),
    kind: c.oneOf(`${field}.issuer.kind`, i.kind, ['Issuer', 'ClusterIssuer'] as const, 'Issuer'),
    group: c.dnsSubdomain(`${field}.issuer.group`, i.group, 'cert-manager.io'),
  };
  const resolved = {
    enabled,
    issuer,
    requireSecureTransport: c.bool(`${field}.requireSecureTransport`, t.requireSecureTransport, false),
    transitional: c.bool(`${field}.transitional`, t.transitional, false),
  };
  c.check(enabled || !(resolved.requireSecureTransport || resolved.transitional || issuer),
    `${c.f(field)}: requireSecureTransport, transitional and issuer need enabled: true`);
  c.check(!(resolved.requireSecureTransport && resolved.transitional),
    `${c.f(field)}: requireSecureTransport cannot be on while transitional (old pods still speak plain text)`);
  return resolved;
}

/** Where every pod reads its certificate (the layout cert-manager writes). @internal */
export const TLS_FILES = { ca: 'ca.crt', cert: 'tls.crt', key: 'tls.key' } as const;

/** What a certificate is for and the names it must carry (what `new-tls` and cert-manager put in its Secret). */
export interface CertificateSpec {
  /** The Secret that holds the certificate (ca.crt, tls.crt, tls.key). */
  readonly secretName: string;
  /** The certificate's common name. */
  readonly commonName: string;
  /** Every DNS name the certificate carries. */
  readonly dnsNames: readonly string[];
  /** Whether it serves, authenticates a client, or both. */
  readonly usages: readonly ('server' | 'client')[];
}

/**
 * A cert-manager Certificate for one Secret: ECDSA P-256, 90 days, renewed 30 days before it
 * expires, the private key rotated on every renewal.
 * @internal
 */
export function certificate(scope: Construct, id: string, namespace: string, labels: Record<string, string>, issuer: Required<TlsIssuer>, spec: CertificateSpec): ApiObject {
  return new ApiObject(scope, id, {
    apiVersion: 'cert-manager.io/v1',
    kind: 'Certificate',
    metadata: { name: spec.secretName, namespace, labels },
    spec: {
      secretName: spec.secretName,
      commonName: spec.commonName,
      dnsNames: [...spec.dnsNames],
      duration: '2160h',
      renewBefore: '720h',
      privateKey: { algorithm: 'ECDSA', size: 256, rotationPolicy: 'Always' },
      usages: ['digital signature', 'key encipherment', ...spec.usages.map((u) => (u === 'server' ? 'server auth' : 'client auth'))],
      issuerRef: { name: issuer.name, kind: issuer.kind, group: issuer.group },
    },
  });
}

/** The DNS names of a Service in every form a client may use. @internal */
export function serviceDnsNames(service: string, namespace: string, clusterDomain: string): string[] {
  return [service, `${service}.${namespace}`, `${service}.${namespace}.svc`, `${service}.${namespace}.svc.${clusterDomain}`];
}
