#!/usr/bin/env node
import { readFileSync } from 'fs';
import { dirname, resolve } from 'path';
import { IConstruct } from 'constructs';
import { stringify } from 'yaml';
import { caFromSecret } from '../../tls/ca-secret';
import { credentialsSecretsFor, tlsSecretsFor } from '../../core/secrets';

// The package's own Secret generator for a cluster defined in code: it loads the user's compiled
// cdk8s app (its App.synth() is intercepted, so nothing is written), finds every database in it and
// prints the Secrets those pods read. Printed only; pipe it into kubectl.
//   cdk8s-galera-secrets credentials <app.js>                 | kubectl create -f -
//   cdk8s-galera-secrets tls [--ca <ca-secrets.yaml>] <app.js> | kubectl apply -f -
const USAGE = 'usage: cdk8s-galera-secrets credentials <app.js> | tls [--ca <file with the CA Secrets printed before>] <app.js>';

/** The construct trees the app module builds: the Apps it synthesizes, or a construct it exports. */
function loadApp(file: string): IConstruct[] {
  const path = resolve(file);
  // the app's own cdk8s, which may be another copy than this package's
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a module found at run time, loaded synchronously
  const cdk8s = require(require.resolve('cdk8s', { paths: [dirname(path)] }));
  const apps: IConstruct[] = [];
  const synth = cdk8s.App.prototype.synth;
  cdk8s.App.prototype.synth = function capture(this: IConstruct) {
    apps.push(this);
  };
  let exported: Record<string, unknown>;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the user's app, named on the command line
    exported = require(path);
  } finally {
    cdk8s.App.prototype.synth = synth;
  }
  const constructs = Object.values(exported ?? {}).filter((v): v is IConstruct => typeof (v as IConstruct)?.node?.findAll === 'function');
  const roots = apps.length > 0 ? apps : constructs;
  if (roots.length === 0) throw new Error(`${file} neither calls app.synth() nor exports a construct`);
  return roots;
}

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  const caIndex = rest.indexOf('--ca');
  const caFile = caIndex >= 0 ? rest[caIndex + 1] : undefined;
  const files = rest.filter((_a, i) => caIndex < 0 || (i !== caIndex && i !== caIndex + 1));
  if (!['credentials', 'tls'].includes(command)
    || files.length !== 1 || (caIndex >= 0 && !caFile) || (command === 'credentials' && caFile)) throw new Error(USAGE);
  const roots = loadApp(files[0]);
  let secrets: Record<string, unknown>[];
  if (command === 'credentials') {
    secrets = roots.flatMap(credentialsSecretsFor);
  } else {
    const caText = caFile ? readFileSync(caFile, 'utf8') : undefined;
    secrets = [];
    for (const root of roots) secrets.push(
      ...await tlsSecretsFor(root, { caFor: caText ? (name) => caFromSecret(caText, `${name}-ca`) : undefined }),
    );
  }
  if (secrets.length === 0) throw new Error(
    `${files[0]} defines no ${command === 'tls' ? 'cluster with TLS from Secrets (TLS off, or cert-manager issues them)' : 'database'}`,
  );
  process.stdout.write(secrets.map((s) => stringify(s)).join('---\n'));
}

main().catch((e) => {
  console.error(`error: ${(e as Error).message}`);
  process.exit(1);
});
