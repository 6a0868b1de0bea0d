import { spawnSync, SpawnSyncOptions } from 'child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { parseAllDocuments } from 'yaml';

/*
 * The package as a consumer gets it: `npm run compile`, `npm pack`, then a separate cdk8s app
 * (test/fixtures/consumer-app) installs the tarball, type-checks against its typings and synthesizes.
 */
const ROOT = join(__dirname, '..');
const FIXTURE = join(__dirname, 'fixtures', 'consumer-app');
const rootPackage = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));

function run(command: string, args: string[], options: SpawnSyncOptions = {}) {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: 300_000, ...options });
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} (in ${options.cwd}) exited ${result.status ?? result.signal}:\n${output}`);
  return { stdout: String(result.stdout), stderr: String(result.stderr) };
}

let work: string;
let consumer: string;
let packedFiles: string[];
let installedVia: string;
let manifests: any[];

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'galera-library-'));

  // The package, exactly as `npm publish` would upload it.
  run('npm', ['run', 'compile'], { cwd: ROOT });
  const pack = run('npm', ['pack', '--json', '--pack-destination', work], { cwd: ROOT });
  const packed = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('[')))[0];
  packedFiles = packed.files.map((f: { path: string }) => f.path);
  const tarball = join(work, packed.filename);

  // A separate app that depends on the tarball and the same cdk8s and constructs.
  consumer = join(work, 'consumer-app');
  mkdirSync(consumer);
  const template = readFileSync(join(FIXTURE, 'package.template.json'), 'utf8')
    .replace('@TARBALL@', tarball)
    .replace('@CDK8S_VERSION@', rootPackage.dependencies.cdk8s)
    .replace('@CONSTRUCTS_VERSION@', rootPackage.dependencies.constructs);
  writeFileSync(join(consumer, 'package.json'), template);
  const main = readFileSync(join(FIXTURE, 'main.ts'), 'utf8');
  expect(main).toMatch(/^\/\/ @ts-nocheck/);
  writeFileSync(join(consumer, 'main.ts'), main.replace(/^\/\/ @ts-nocheck.*\n/, ''));
  writeFileSync(join(consumer, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      target: 'ES2020', module: 'commonjs', lib: ['ES2020'], strict: true, noUnusedLocals: true, skipLibCheck: true, types: [],
    },
    files: ['main.ts'],
  }));

  // Offline from the npm cache when it has everything (the usual case once the project is
  // installed); otherwise the registry fills in what is missing.
  const install = ['install', '--no-audit', '--no-fund', '--ignore-scripts', '--no-package-lock'];
  try {
    run('npm', [...install, '--offline'], { cwd: consumer });
    installedVia = 'offline';
  } catch {
    run('npm', [...install, '--prefer-offline'], { cwd: consumer });
    installedVia = 'prefer-offline';
  }

  run(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', consumer], { cwd: consumer });
  const outdir = join(work, 'dist');
  run('node', ['main.js'], { cwd: consumer, env: { ...process.env, CDK8S_OUTDIR: outdir } });
  manifests = readdirSync(outdir).filter((f) => f.endsWith('.k8s.yaml'))
    .flatMap((f) => parseAllDocuments(readFileSync(join(outdir, f), 'utf8')).map((d) => d.toJS()) as any[]);
}, 600_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the npm package', () => {
  test('contains the compiled library with typings for every source module', () => {
    // GIVEN
    const modules = readdirSync(join(ROOT, 'src')).filter((f) => f.endsWith('.ts') && f !== 'main.ts').map((f) => f.replace(/\.ts$/, ''));

    // WHEN / THEN
    expect(modules).toContain('index');
    for (const m of modules) {
      expect(packedFiles).toContain(`lib/src/${m}.js`);
      expect(packedFiles).toContain(`lib/src/${m}.d.ts`);
    }
    expect(packedFiles).toEqual(expect.arrayContaining(['lib/imports/k8s.js', 'lib/imports/k8s.d.ts', 'package.json']));
    expect(packedFiles).toContain(rootPackage.main);
    expect(packedFiles).toContain(rootPackage.types);
  });

  test('contains every script the constructs read at synth time (scripts/node, scripts/proxysql, scripts/common)', () => {
    // GIVEN
    const scripts = readdirSync(join(ROOT, 'scripts'), { withFileTypes: true }).filter((d) => d.isDirectory())
      .flatMap((d) => readdirSync(join(ROOT, 'scripts', d.name)).filter((f) => f.endsWith('.sh')).map((f) => `scripts/${d.name}/${f}`));

    // WHEN / THEN
    expect(scripts.filter((s) => s.startsWith('scripts/node/')).length).toBeGreaterThan(0);
    for (const s of scripts) expect(packedFiles).toContain(s);
  });

  test('contains no sources, tests, stale compiled files or build output', () => {
    // GIVEN
    const sources = new Set(readdirSync(join(ROOT, 'src')).filter((f) => f.endsWith('.ts')).map((f) => f.replace(/\.ts$/, '')));

    // WHEN / THEN
    for (const f of packedFiles) {
      expect(f).not.toMatch(/^(src|test|dist|bench|tools|harness|node_modules|imports)\//);
      expect(f).not.toMatch(/^lib\/(test|bench)\//);
      expect(f).not.toMatch(/(?<!\.d)\.ts$/);
      const compiled = /^lib\/src\/([^/]+?)(\.d\.ts|\.js)$/.exec(f);
      if (compiled) expect(sources).toContain(compiled[1]); // a lib file whose source is gone would ship stale code
    }
  });
});

describe('a separate cdk8s app using the package', () => {
  test('installs the tarball and type-checks its use of GaleraCluster, ProxySql and Storage', () => {
    // GIVEN / WHEN: beforeAll installed, compiled (strict, against the packed .d.ts) and ran main.ts

    // THEN
    expect(['offline', 'prefer-offline']).toContain(installedVia);
    const installed = JSON.parse(readFileSync(join(consumer, 'node_modules', 'cdk8s-galera-proxysql', 'package.json'), 'utf8'));
    expect(installed.version).toBe(rootPackage.version);
    expect(readdirSync(consumer)).toContain('main.js');
  });

  test('synthesizes a StatefulSet with a headless Service that publishes not-ready addresses', () => {
    // GIVEN
    const sts = manifests.find((m) => m.kind === 'StatefulSet' && m.metadata.name === 'orders-db');

    // WHEN
    const service = manifests.find((m) => m.kind === 'Service' && m.metadata.name === sts.spec.serviceName);

    // THEN
    expect(sts.metadata.namespace).toBe('shop');
    expect(sts.spec.replicas).toBe(3);
    expect(sts.spec.volumeClaimTemplates[0].spec.storageClassName).toBe('storage-local-path');
    expect(service.spec.clusterIP).toBe('None');
    expect(service.spec.publishNotReadyAddresses).toBe(true);
    expect(manifests.filter((m) => m.kind === 'StorageClass').map((m) => m.metadata.name)).toEqual(['storage-local-path']);
  });

  test('includes ProxySQL and the app\'s own objects built from the construct\'s properties', () => {
    // GIVEN / WHEN
    const appConfig = manifests.find((m) => m.kind === 'ConfigMap' && m.metadata.name === 'shop-app');

    // THEN
    expect(manifests.some((m) => m.kind === 'Deployment' || (m.kind === 'StatefulSet' && m.metadata.name !== 'orders-db'))).toBe(true);
    expect(appConfig.data).toEqual({ DATABASE_ENDPOINT: 'orders-db-direct.shop.svc:3306', DATABASE_SECRET: 'orders-db-credentials' });
  });

  test('every namespaced object, and every pod DNS name in the Galera and ProxySQL configuration, is in the chart\'s namespace', () => {
    // GIVEN a chart with namespace 'shop' and constructs that name none (fixture main.ts)
    const clusterScoped = new Set(['Namespace', 'StorageClass']);

    // WHEN / THEN
    for (const m of manifests) {
      if (clusterScoped.has(m.kind)) expect(m.metadata.namespace).toBeUndefined();
      else expect(`${m.kind}/${m.metadata.name} in ${m.metadata.namespace}`).toBe(`${m.kind}/${m.metadata.name} in shop`);
    }
    const galeraConfig = manifests.find((m) => m.kind === 'ConfigMap' && m.metadata.name === 'orders-db-config');
    const proxyConfig = manifests.find((m) => m.kind === 'ConfigMap' && m.metadata.name === 'orders-db-proxysql-config');
    const peers = ['orders-db-0', 'orders-db-1', 'orders-db-2'].map((p) => `${p}.orders-db.shop.svc.cluster.local`);
    expect(galeraConfig.data['my.cnf']).toContain(`wsrep_cluster_address=gcomm://${peers.join(',')}`);
    for (const peer of peers) expect(proxyConfig.data['proxysql.cnf.tmpl']).toContain(`address="${peer}"`);
    expect(JSON.stringify(manifests)).not.toMatch(/\.default\.svc/);
  });

  test('the ConfigMap carries the node scripts shipped in the package', () => {
    // GIVEN
    const configMap = manifests.find((m) => m.kind === 'ConfigMap' && m.metadata.name === 'orders-db-config');

    // WHEN / THEN
    for (const script of readdirSync(join(ROOT, 'scripts', 'node')).filter((f) => f.endsWith('.sh'))) {
      const shipped = readFileSync(join(consumer, 'node_modules', 'cdk8s-galera-proxysql', 'scripts', 'node', script), 'utf8');
      expect(configMap.data[script]).toBe(shipped);
      expect(shipped).toBe(readFileSync(join(ROOT, 'scripts', 'node', script), 'utf8'));
    }
  });
});
