import { IConstruct } from 'constructs';
import { newCertificateAuthority, PemPair, TlsSecretRequest, tlsSecrets } from '../tls/certificates';
import { newCredentialsSecret, newSecret, randomPassword } from './credentials';
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
  const byId = new Map<string, Record<string, unknown>>();
  for (const db of databasesUnder(scope)) {
    const id = `${db.namespace}/${db.secretName}`;
    if (!byId.has(id)) byId.set(id, newCredentialsSecret(db.secretName, db.namespace));
  }
  // the declared users' passwords: a key of their own Secret, or one more key of the credentials Secret
  for (const db of databasesUnder(scope)) {
    for (const u of db.declaredUsers) {
      const id = `${db.namespace}/${u.passwordSecret.name}`;
      if (!byId.has(id)) byId.set(id, newSecret(u.passwordSecret.name, db.namespace, {}));
      const data = byId.get(id)!.stringData as Record<string, string>;
      data[u.passwordSecret.key] ??= randomPassword();
    }
  }
  return [...byId.values()];
}

/** Only the Secrets the declared users' passwords come from (see credentialsSecretsFor), for a cluster that has its credentials already. */
export function declaredUserSecretsFor(scope: IConstruct): Record<string, unknown>[] {
  const credentials = new Set(databasesUnder(scope).map((db) => `${db.namespace}/${db.secretName}`));
  return credentialsSecretsFor(scope).filter((s) => {
    const m = s.metadata as { name: string; namespace: string };
    return !credentials.has(`${m.namespace}/${m.name}`);
  });
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
