import { readFileSync, existsSync } from 'fs';
import { join } from 'path';

/**
 * The node and ProxySQL scripts are real files in the repository (so shellcheck and the
 * tests run them); the constructs embed their text into ConfigMaps at synth time.
 */
function scriptsRoot(): string {
  // src/core/ (ts-node) and lib/src/core/ (compiled package) both sit below the package root.
  for (const candidate of [join(__dirname, '..', '..', 'scripts'), join(__dirname, '..', '..', '..', 'scripts')]) {
    if (existsSync(join(candidate, 'node'))) return candidate;
  }
  throw new Error(`cannot find the scripts/ directory next to ${__dirname}`);
}

export function readScript(relativePath: string): string {
  return readFileSync(join(scriptsRoot(), relativePath), 'utf8');
}
