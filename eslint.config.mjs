// The TypeScript linter of `npm test` (beside shellcheck): typescript-eslint's recommended rules
// over every TypeScript file of the project, and no line longer than 140 characters.
import stylistic from '@stylistic/eslint-plugin';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', 'lib/**', 'dist/**', 'imports/**', 'test/fixtures/**', '**/*.js', '**/*.mjs'] },
  {
    files: ['src/**/*.ts', 'test/**/*.ts', 'harness/**/*.ts', 'bench/**/*.ts', 'tools/**/*.ts'],
    extends: [tseslint.configs.recommended],
    plugins: { '@stylistic': stylistic },
    rules: {
      '@stylistic/max-len': ['error', { code: 140, tabWidth: 2 }],
      // `_x` names a value left out on purpose (a destructured key dropped from a rest object)
      '@typescript-eslint/no-unused-vars': ['error', { varsIgnorePattern: '^_', argsIgnorePattern: '^_', ignoreRestSiblings: true }],
      // constructs, the harness and the unit tests print nothing: they report by return values and errors
      'no-console': 'error',
    },
  },
  {
    // printing is the job of the CLI entry points, the benchmarks and the tools, and of the cluster
    // tests, which report the figures they measure (times to ready, stalls) beside their verdicts
    files: ['src/main.ts', 'src/cli/**/*.ts', 'bench/**/*.ts', 'tools/**/*.ts', 'test/cluster/**/*.ts'],
    rules: { 'no-console': 'off' },
  },
);
