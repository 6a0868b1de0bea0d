import { readFileSync } from 'fs';
import { join } from 'path';
import { collect, renderApi, renderReadme } from '../../tools/api-docs';

// docs/API.md and the props tables of docs/configuration.md are generated from the JSDoc (npm run docs); they
// must be what the code says now.
const ROOT = join(__dirname, '..', '..');
const entries = collect();

test('docs/API.md is generated from the current JSDoc', () => {
  expect(readFileSync(join(ROOT, 'docs', 'API.md'), 'utf8')).toBe(renderApi(entries));
});

test('the props tables of docs/configuration.md are generated from the current JSDoc', () => {
  const readme = readFileSync(join(ROOT, 'docs', 'configuration.md'), 'utf8');
  expect(readme).toBe(renderReadme(readme, entries));
  for (const props of ['StorageProps', 'GaleraClusterProps', 'ProxySqlProps']) expect(readme).toContain(`<!-- props:${props} -->`);
});

test('every prop a user can set is documented, with a default where it is optional', () => {
  const props = entries.filter((e) => e.kind === 'interface' && /Props$|Settings$|Hostgroups$|Resources$|Spread$/.test(e.name));
  expect(props.map((p) => p.name)).toEqual(
    expect.arrayContaining(['GaleraClusterProps', 'ProxySqlProps', 'StorageProps', 'GaleraProxySqlChartProps', 'ProxySqlFailoverSettings']),
  );
  for (const p of props) {
    for (const m of p.members) {
      expect(`${p.name}.${m.name}: ${m.doc}`).not.toMatch(/: $/);
      if (m.optional && !['labels', 'disableResourceNameHashes'].includes(m.name)) expect(
        `${p.name}.${m.name} @default ${m.dflt ?? 'MISSING'}`,
      ).not.toMatch(/MISSING$/);
    }
  }
});

test('no internal helper is part of the public API', () => {
  const names = entries.map((e) => e.name);
  for (const internal of [
    'Checker', 'renderMyCnf', 'GALERA_PATHS', 'resolveGaleraCluster', 'podTemplate', 'show',
  ]) expect(names).not.toContain(internal);
  for (const exported of [
    'GaleraCluster', 'ProxySql', 'Storage', 'GaleraProxySqlChart', 'IProxySqlBackend', 'ProxySqlFailoverSettings', 'GaleraHostgroups',
    'WriterIsAlsoReader', 'ValidationError',
  ]) {
    expect(names).toContain(exported);
  }
});
