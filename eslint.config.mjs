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
      // printing is for the CLI, the benchmarks and the figures tests report; each place says so
      'no-console': 'error',
    },
  },
);
