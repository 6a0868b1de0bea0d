import 'reflect-metadata'; // @peculiar/x509 resolves its ASN.1 parsers through tsyringe, which needs it
import { webcrypto } from 'crypto';
import * as x509 from '@peculiar/x509';

// Certificates for `npm run -s new-tls` and the tests: a CA and leaf certificates signed by it,
// generated with @peculiar/x509 over Node's WebCrypto (ECDSA P-256, SHA-256). The Secrets have
// the layout cert-manager writes (ca.crt, tls.crt, tls.key), so the pods cannot tell them apart.

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** A certificate with its private key, as PEM. */
export interface PemPair {
  readonly cert: string;
  readonly key: string;
}

/** What a leaf certificate is for. */
export interface LeafRequest {
  readonly commonName: string;
  /** DNS names (subject alternative names). */
  readonly dnsNames: readonly string[];
  /** serverAuth, clientAuth or both (Galera nodes are both: the donor connects to the joiner). */
  readonly usages: readonly ('server' | 'client')[];
  /** @default 730 */
  readonly days?: number;
}

async function keyPair(): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']) as Promise<CryptoKeyPair>;
}

async function keyPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

function serial(): string {
  // 16 random bytes, top bit clear (a positive INTEGER)
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] &= 0x7f;
  return Buffer.from(bytes).toString('hex');
}

function validity(days: number): { notBefore: Date; notAfter: Date } {
  const notBefore = new Date(Date.now() - 5 * 60_000); // clock skew between nodes
  return { notBefore, notAfter: new Date(notBefore.getTime() + days * 86_400_000) };
}

/** A new self-signed CA (10 years). */
export async function newCertificateAuthority(commonName: string, days = 3650): Promise<PemPair> {
  const keys = await keyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${commonName}`,
    ...validity(days),
    signingAlgorithm: ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert: cert.toString('pem'), key: await keyPem(keys.privateKey) };
}

/** A leaf certificate signed by the CA. */
export async function issueCertificate(ca: PemPair, req: LeafRequest): Promise<PemPair> {
  const caCert = new x509.X509Certificate(ca.cert);
  const caKey = await webcrypto.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(ca.key), ALGORITHM, false, ['sign']);
  const keys = await keyPair();
  const eku = req.usages.map((u) => (u === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${req.commonName}`,
    issuer: caCert.subject,
    ...validity(req.days ?? 730),
    signingAlgorithm: ALGORITHM,
    publicKey: keys.publicKey,
    signingKey: caKey as CryptoKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension(eku, false),
      new x509.SubjectAlternativeNameExtension(req.dnsNames.map((value) => ({ type: 'dns' as const, value }))),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  return { cert: cert.toString('pem'), key: await keyPem(keys.privateKey) };
}

/** The serial number of a PEM certificate (hex, as `openssl x509 -serial` prints it, upper case). */
export function serialOf(certPem: string): string {
  return new x509.X509Certificate(certPem).serialNumber.toUpperCase();
}

/** What a Secret is made from: its name and the certificate it must hold. */
export interface TlsSecretRequest {
  readonly secretName: string;
  readonly commonName: string;
  readonly dnsNames: readonly string[];
  readonly usages: readonly ('server' | 'client')[];
}

/**
 * Secret manifests (as objects) in the layout cert-manager writes (type kubernetes.io/tls with
 * ca.crt), one per request, all signed by `ca`; the CA itself goes into `<caSecretName>` so that
 * later renewals (`new-tls --ca`) keep the chain every pod trusts.
 */
export async function tlsSecrets(
  namespace: string, ca: PemPair, caSecretName: string, requests: readonly TlsSecretRequest[],
): Promise<Record<string, unknown>[]> {
  const secret = (name: string, data: Record<string, string>, labels: Record<string, string>) => ({
    apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls',
    metadata: { name, namespace, labels: { 'app.kubernetes.io/part-of': 'galera-proxysql', ...labels } }, stringData: data,
  });
  const out = [secret(caSecretName, { 'tls.crt': ca.cert, 'tls.key': ca.key, 'ca.crt': ca.cert }, { 'galera-proxysql/role': 'ca' })];
  for (const r of requests) {
    const leaf = await issueCertificate(ca, r);
    out.push(secret(r.secretName, { 'ca.crt': ca.cert, 'tls.crt': leaf.cert, 'tls.key': leaf.key }, {}));
  }
  return out;
}
