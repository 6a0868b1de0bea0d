import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import { Checker, Resolved, withDefaults } from '../values/validation';
import type { DnsSubdomain } from '../values/formats';

/** The cert-manager issuer that signs the certificates. */
export interface TlsIssuer {
  /** The name of a cert-manager Issuer or ClusterIssuer. */
  readonly name: DnsSubdomain;
  /** Whether name is an Issuer (in the cluster's namespace) or a ClusterIssuer. @default 'Issuer' */
  readonly kind?: 'Issuer' | 'ClusterIssuer';
  /** API group of the issuer. @default 'cert-manager.io' */
  readonly group?: DnsSubdomain;
}

/** TLS between clients, ProxySQL and the database nodes, and between the nodes. */
export interface TlsProps {
  /**
   * Encrypt client and ProxySQL connections and the traffic between the nodes with TLS (Galera:
   * replication, IST and SST, peers authenticated by the cluster CA; primary/replica: the
   * replication channel, the primary verified and the replicas authenticated by the CA, and the
   * clone stream). Turning it off is explicit.
   * @default true
   */
  readonly enabled?: boolean;
  /**
   * A cert-manager issuer: the constructs emit Certificate objects and cert-manager keeps the
   * Secrets current (renewed in place; the pods reload them without a restart).
   * @default - none: create the Secrets with `npm run -s new-tls`
   */
  readonly issuer?: TlsIssuer;
  /**
   * Refuse plain-text clients: MariaDB's require_secure_transport, and TLS required by ProxySQL for the application account.
   * @default false
   */
  readonly requireSecureTransport?: boolean;
  /**
   * While TLS is being turned on for a running cluster (see docs/security.md): Galera nodes accept
   * plain and TLS peers (socket.dynamic) and joiners use a plain SST, so that old and new pods
   * keep one cluster during the rolling restart. Turn it off in a second rollout.
   * @default false
   */
  readonly transitional?: boolean;
}

/** TlsProps with the defaults applied. @internal */
export type ResolvedTls = Resolved<TlsProps, 'issuer', { readonly issuer?: Required<TlsIssuer> }>;

/** TlsProps (checked by their schema) with the defaults applied and the rules between them. @internal */
export function resolveTls(c: Checker, field: string, t: TlsProps | undefined, enabledByDefault = true): ResolvedTls {
  const resolved = withDefaults({ enabled: enabledByDefault, requireSecureTransport: false, transitional: false }, t);
  const { enabled, issuer: i } = resolved;
  const issuer = i && withDefaults({ kind: 'Issuer' as const, group: 'cert-manager.io' }, i);
  c.check(enabled || !(resolved.requireSecureTransport || resolved.transitional || issuer),
    `${c.f(field)}: requireSecureTransport, transitional and issuer need enabled: true`);
  c.check(!(resolved.requireSecureTransport && resolved.transitional),
    `${c.f(field)}: requireSecureTransport cannot be on while transitional (old pods still speak plain text)`);
  return { ...resolved, issuer };
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
export function certificate(
  scope: Construct, id: string, namespace: string, labels: Record<string, string>, issuer: Required<TlsIssuer>, spec: CertificateSpec,
): ApiObject {
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
