import { newCertificateAuthority, PemPair, tlsSecrets } from '../../src/tls/certificates';
import { GaleraProxySqlChart } from '../../src/charts/galera-proxysql-chart';

/** A credentials Secret with every key either topology and ProxySQL read, for the tests that need no other passwords. */
export const TEST_CREDENTIALS: Readonly<Record<string, string>> = {
  'root-password': 'root-Pass_7-long-enough',
  'app-password': 'app-Pass_7-long-enough',
  'replication-password': 'repl-Pass_7-long-enough',
  'sst-password': 'sst-Pass_7-long-enough',
  'monitor-password': 'monitor-Pass_7-long-enough',
  'proxysql-admin-password': 'admin-Pass_7-long-enough',
};

/**
 * Every Secret a chart's pods mount, as a user creates them: the credentials, and (TLS on) the
 * certificates `npm run -s new-tls` prints, signed by `ca` (a new CA unless given).
 */
export async function chartSecrets(
  chart: GaleraProxySqlChart, credentials: Record<string, string>, ca?: PemPair,
): Promise<Record<string, Record<string, string>>> {
  const out: Record<string, Record<string, string>> = { [chart.galera.secretName]: credentials };
  const requests = [
    chart.galera.certificateSpec, chart.proxysql.certificateSpec, chart.galera.backupEndpoint?.clientCertificateSpec,
  ].filter((r) => r !== undefined);
  if (requests.length === 0) return out;
  const authority = ca ?? await newCertificateAuthority('test cluster CA');
  for (const s of await tlsSecrets(
    chart.galera.namespace, authority, `${chart.galera.name}-ca`, requests,
  ) as { metadata: { name: string }; stringData: Record<string, string> }[]) {
    out[s.metadata.name] = s.stringData;
  }
  return out;
}
