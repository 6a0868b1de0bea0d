import { readFileSync } from 'fs';
import { App } from 'cdk8s';
import { stringify } from 'yaml';
import { caFromSecret } from '../../tls/ca-secret';
import { GaleraProxySqlChart } from '../../charts/galera-proxysql-chart';
import { ReplicationProxySqlChart } from '../../charts/replication-proxysql-chart';
import type { MariaDbCluster } from '../../core/mariadb-cluster';
import { tlsSecretsFor } from '../../core/secrets';
import { ValidationError } from '../../values/validation';
import { loadValues } from '../../values/values';
import { chartForValues } from '../synth';

// Prints the TLS Secrets the synthesized chart mounts (the same values file as `npm run synth`,
// either topology): a new CA (or the one given with --ca, to renew while every pod keeps trusting
// it), and certificates with every pod and Service name, for `kubectl apply -f -`. Never written to dist/.
// Usage: new-tls [--ca <file with the CA Secret this command printed before>]
async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const caFile = args[0] === '--ca' ? args[1] : undefined;
  if (args.length > 0 && !caFile) throw new Error('usage: new-tls [--ca <file with the CA Secret printed before>]');
  const values = loadValues();
  const chart = chartForValues(new App(), 'chart', values);
  // by the values file: a chart's instanceof answers for any Chart (cdk8s defines Symbol.hasInstance)
  const replication = values?.topology === 'replication';
  const section = replication ? 'replication' : 'galera';
  const db: MariaDbCluster = replication ? (chart as ReplicationProxySqlChart).replication : (chart as GaleraProxySqlChart).galera;
  if (!db.tls.enabled) throw new Error(`TLS is off in this configuration (${section}.tls.enabled: false): there is nothing to create`);
  if (db.tls.issuer) {
    throw new Error(`${section}.tls.issuer names ${db.tls.issuer.name}: cert-manager creates the Secrets, not this command`);
  }
  const caText = caFile ? readFileSync(caFile, 'utf8') : undefined;
  const secrets = await tlsSecretsFor(chart, { caFor: caText ? (name) => caFromSecret(caText, `${name}-ca`) : undefined });
  process.stdout.write(secrets.map((s) => stringify(s)).join('---\n'));
}

main().catch((e) => {
  console.error(`error: ${e instanceof ValidationError ? e.message : (e as Error).message}`);
  process.exit(1);
});
