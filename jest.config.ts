import type { Config } from 'jest';

const tsJest = { '^.+\\.ts$': ['ts-jest', { diagnostics: { warnOnly: false } }] } as Config['transform'];

// Two projects: `unit` synthesizes and checks manifests and scripts in seconds; `cluster` runs the
// node scripts on a real multi-node Galera cluster in network namespaces (root, Debian packages).
const config: Config = {
  // A test's timeout catches a hang, not slowness: a shared 2-core machine can take seconds for
  // what takes milliseconds when it is idle. (The cluster tests set their own.)
  testTimeout: 60_000,
  // the longest files first, also on a fresh clone (test/sequencer.js)
  testSequencer: '<rootDir>/test/sequencer.js',
  projects: [
    { displayName: 'unit', testEnvironment: 'node', transform: tsJest, testMatch: ['<rootDir>/test/**/*.test.ts'], testPathIgnorePatterns: ['/cluster/'] },
    { displayName: 'cluster', testEnvironment: 'node', transform: tsJest, testMatch: ['<rootDir>/test/cluster/**/*.test.ts'] },
  ],
};

export default config;
