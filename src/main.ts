import { synthesizeTo } from './cli/synth';
import { ValidationError } from './values/validation';
import { loadValues } from './values/values';

// `npm run synth`: the seed deployment, or the values file named by GALERA_VALUES (./values.yaml by default).
try {
  const outdir = process.env.CDK8S_OUTDIR ?? 'dist';
  const files = synthesizeTo(outdir, loadValues());
  for (const f of files) console.log(`wrote ${f}`);
} catch (e) {
  if (e instanceof ValidationError) {
    console.error(`error: ${e.message}\nnothing was written to dist/`);
    process.exit(1);
  }
  throw e;
}
