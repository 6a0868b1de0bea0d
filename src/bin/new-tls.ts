import { readFileSync } from 'fs';
import { App } from 'cdk8s';
import { parse, stringify } from 'yaml';
import { newCertificateAuthority, PemPair, TlsSecretRequest, tlsSecrets } from '../certificates';
import { GaleraProxySqlChart } from '../galera-proxysql-chart';
import { ValidationError } from '../validation';
import { loadValues } from '../values';

// Prints the TLS Secrets the synthesized chart mounts (the same values file as `npm run synth`):
// a new CA (or the one given with --ca, to renew while every pod keeps trusting it), and
// certificates with every pod and Service name, for `kubectl apply -f -`. Never written to dist/.
// Usage: new-tls [--ca <file with the CA Secret this command printed before>]
async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const caFile = args[0] === '--ca' ? args[1] : undefined;
  if (args.length > 0 && !caFile) throw new Error('usage: new-tls [--ca <file with the CA Secret printed before>]');
  const chart = new GaleraProxySqlChart(new App(), 'galera-proxysql', loadValues());
  const requests = [chart.galera.certificateSpec, chart.proxysql.certificateSpec, chart.galera.backupEndpoint?.clientCertificateSpec]
    .filter((r): r is TlsSecretRequest => r !== undefined);
  if (requests.length === 0) throw new Error('TLS is off in this configuration (galera.tls.enabled: false): there is nothing to create');
  if (chart.galera.tls.issuer) throw new Error(`galera.tls.issuer names ${chart.galera.tls.issuer.name}: cert-manager creates the Secrets, not this command`);
  const caSecretName = `${chart.galera.name}-ca`;
  const ca = caFile ? caFromSecret(readFileSync(caFile, 'utf8'), caSecretName) : await newCertificateAuthority(`${chart.galera.name} cluster CA (${chart.galera.namespace})`);
  const secrets = await tlsSecrets(chart.galera.namespace, ca, caSecretName, requests);
  process.stdout.write(secrets.map((s) => stringify(s)).join('---\n'));
}

/** The CA from a YAML stream holding the CA Secret this command printed before. */
function caFromSecret(text: string, name: string): PemPair {
  for (const doc of text.split(/^---$/m).map((d) => parse(d) as { kind?: string; metadata?: { name?: string }; stringData?: Record<string, string>; data?: Record<string, string> })) {
    if (doc?.kind !== 'Secret' || doc.metadata?.name !== name) continue;
    const get = (k: string) => doc.stringData?.[k] ?? (doc.data?.[k] ? Buffer.from(doc.data[k], 'base64').toString('utf8') : undefined);
    const cert = get('tls.crt');
    const key = get('tls.key');
    if (cert && key) return { cert, key };
  }
  throw new Error(`no Secret '${name}' with tls.crt and tls.key in the --ca file (kubectl get secret ${name} -o yaml > ca.yaml)`);
}

main().catch((e) => {
  console.error(`error: ${e instanceof ValidationError ? e.message : (e as Error).message}`);
  process.exit(1);
});
