import { parse } from 'yaml';
import { PemPair } from './certificates';

/**
 * The CA from a YAML stream holding the CA Secret printed before (`kubectl get secret <name>-ca -o yaml`).
 * @internal
 */
export function caFromSecret(text: string, name: string): PemPair {
  for (const doc of text.split(/^---$/m).map((d) => parse(d) as {
    kind?: string; metadata?: { name?: string }; stringData?: Record<string, string>; data?: Record<string, string>;
  })) {
    if (doc?.kind !== 'Secret' || doc.metadata?.name !== name) continue;
    const get = (k: string) => doc.stringData?.[k] ?? (doc.data?.[k] ? Buffer.from(doc.data[k], 'base64').toString('utf8') : undefined);
    const cert = get('tls.crt');
    const key = get('tls.key');
    if (cert && key) return { cert, key };
  }
  throw new Error(`no Secret '${name}' with tls.crt and tls.key in the --ca file (kubectl get secret ${name} -o yaml > ca.yaml)`);
}

