import { App } from 'cdk8s';
import { stringify } from 'yaml';
import { declaredUserSecretsFor } from '../../core/secrets';
import { ValidationError } from '../../values/validation';
import { loadValues } from '../../values/values';
import { chartForValues } from '../synth';

// Prints the Secrets the declared users' passwords come from (users[].passwordSecret, the same
// values file as `npm run synth`, either topology), each declared key with a fresh random
// password, for `kubectl create -f -`. Never written to dist/. A user whose key is in the
// credentials Secret itself gets no Secret here: add that key to it.
// Usage: new-user-secrets
function main(): void {
  if (process.argv.length > 2) throw new Error('usage: new-user-secrets (reads the values file, as npm run synth does)');
  const chart = chartForValues(new App(), 'chart', loadValues());
  const secrets = declaredUserSecretsFor(chart);
  if (secrets.length === 0) throw new Error('this configuration declares no user with a Secret of its own (users[].passwordSecret)');
  process.stdout.write(secrets.map((s) => stringify(s)).join('---\n'));
}

try {
  main();
} catch (e) {
  console.error(`error: ${e instanceof ValidationError ? e.message : (e as Error).message}`);
  process.exit(1);
}
