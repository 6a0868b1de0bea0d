import { IConstruct } from 'constructs';
import { newCertificateAuthority, PemPair, TlsSecretRequest, tlsSecrets } from '../tls/certificates';
import { newCredentialsSecret } from './credentials';
import { MariaDbCluster } from './mariadb-cluster';
import { ProxySql } from '../proxysql/proxysql';

/** The database constructs under `scope` (the scope itself included), in tree order. */
function databasesUnder(scope: IConstruct): MariaDbCluster[] {
  return scope.node.findAll().filter((c): c is MariaDbCluster => c instanceof MariaDbCluster);
}

/**
 * The credentials Secrets of every database under `scope` (a chart, an app, a GaleraProxySql…),
 * with fresh random passwords: one per Secret the pods read, in its namespace. For
 * `kubectl create -f -`, once; never write them to `dist/` or git.
 */
export function credentialsSecretsFor(scope: IConstruct): Record<string, unknown>[] {
  const seen = new Set<string>();
  const out: Record<string, unknown>[] = [];
  for (const db of databasesUnder(scope)) {
    const id = `${db.namespace}/${db.secretName}`;
    if (seen.has(id)) continue;
    seen.add(id);
    out.push(newCredentialsSecret(db.secretName, db.namespace));
  }
  return out;
}

/** Options of tlsSecretsFor. */
export interface TlsSecretsOptions {
  /**
   * The CA to sign with, per cluster name (the CA Secret printed before, to renew certificates
   * while every pod keeps trusting the chain). @default - a new CA for each cluster
   */
  readonly caFor?: (clusterName: string, namespace: string) => PemPair | undefined;
}

/**
 * The TLS Secrets of every database (either topology) under `scope` whose TLS is on without a cert-manager
 * issuer: a CA Secret '<name>-ca' and the certificates of its nodes, of every ProxySql in front
 * of it and of its backup job, with every pod and Service name. For `kubectl apply -f -`.
 */
export async function tlsSecretsFor(scope: IConstruct, options: TlsSecretsOptions = {}): Promise<Record<string, unknown>[]> {
  const proxies = scope.node.findAll().filter((c): c is ProxySql => c instanceof ProxySql);
  const out: Record<string, unknown>[] = [];
  for (const db of databasesUnder(scope)) {
    if (!db.certificateSpec || db.tls.issuer) continue;
    const requests: TlsSecretRequest[] = [
      db.certificateSpec, ...proxies.filter((p) => p.backend === db && p.certificateSpec).map((p) => p.certificateSpec!),
    ];
    if (db.backupEndpoint) requests.push(db.backupEndpoint.clientCertificateSpec);
    const ca = options.caFor?.(db.name, db.namespace) ?? await newCertificateAuthority(`${db.name} cluster CA (${db.namespace})`);
    out.push(...await tlsSecrets(db.namespace, ca, `${db.name}-ca`, requests));
  }
  return out;
}
