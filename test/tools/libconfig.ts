import { execFileSync, spawnSync } from 'child_process';
import { mkdtempSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';

/** A node of the tree printed by libconfig-check.c. */
export interface CfgNode {
  readonly name?: string;
  readonly type: 'group' | 'list' | 'array' | 'int' | 'int64' | 'float' | 'string' | 'bool';
  readonly value?: number | string | boolean;
  readonly children?: CfgNode[];
}

export interface LibconfigChecker {
  /** Parses a file with the real libconfig library; throws with the parser's message when it does not parse. */
  parse(file: string): CfgNode;
}

export interface LibconfigBuild {
  readonly checker?: LibconfigChecker;
  /** Why there is no checker. */
  readonly error?: string;
  /** True when the only problem is that libconfig (Debian's libconfig-dev) is not installed. */
  readonly libraryMissing: boolean;
}

/**
 * Compiles test/tools/libconfig-check.c against -lconfig. The project's test command installs
 * libconfig-dev; a test may skip only when the library is missing and CI is unset.
 */
export function buildLibconfigChecker(): LibconfigBuild {
  const source = join(__dirname, 'libconfig-check.c');
  const binary = join(mkdtempSync(join(tmpdir(), 'libconfig-check-')), 'libconfig-check');
  const cc = spawnSync('gcc', ['-std=c99', '-Wall', '-Wextra', '-Werror', '-o', binary, source, '-lconfig'], { encoding: 'utf8' });
  if (cc.error || cc.status !== 0) {
    const error = cc.error ? String(cc.error) : cc.stderr;
    return { error: `compiling ${source} failed: ${error}`, libraryMissing: /libconfig\.h: No such file|cannot find -lconfig/.test(error) };
  }
  return {
    libraryMissing: false,
    checker: {
      parse(file: string): CfgNode {
        return JSON.parse(execFileSync(binary, [file], { encoding: 'latin1', stdio: ['ignore', 'pipe', 'pipe'] })) as CfgNode;
      },
    },
  };
}

/** The exact text of a string value (the checker prints non-ASCII bytes as \u00XX, i.e. latin1). */
export function stringValue(node: CfgNode | undefined): string | undefined {
  if (node?.type !== 'string') return undefined;
  return Buffer.from(node.value as string, 'latin1').toString('utf8');
}

/** The child of a group with this name. */
export function child(node: CfgNode | undefined, name: string): CfgNode | undefined {
  return node?.children?.find((c) => c.name === name);
}

/** A group's settings by name. */
export function settings(node: CfgNode | undefined): Record<string, CfgNode> {
  return Object.fromEntries((node?.children ?? []).map((c) => [c.name ?? '', c]));
}
