import { spawnSync, SpawnSyncOptions } from 'child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { parseAllDocuments } from 'yaml';
import '../../src/tls/certificates'; // sets @peculiar/x509's crypto provider
import { SECRET_KEYS } from '../../src/core/credentials';
import { schemaErrors } from '../tools/schema';
import type { Volume } from '../../harness/spec';
import type { Manifest } from '../tools/manifest';

/*
 * The package as a consumer gets it: `npm run compile`, `npm pack`, then a separate cdk8s app
 * (test/fixtures/consumer-app) installs the tarball, type-checks against its typings and synthesizes.
 */
const ROOT = join(__dirname, '..', '..');
const FIXTURE = join(__dirname, '..', 'fixtures', 'consumer-app');
const rootPackage = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));

function run(command: string, args: string[], options: SpawnSyncOptions = {}) {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: 300_000, ...options });
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
  if (result.status !== 0) throw new Error(
    `${command} ${args.join(' ')} (in ${options.cwd}) exited ${result.status ?? result.signal}:\n${output}`,
  );
  return { stdout: String(result.stdout), stderr: String(result.stderr) };
}

let work: string;
let consumer: string;
let packedFiles: string[];
let installedVia: string;
let manifests: Manifest[];

let credentials: Manifest[];
let tls: Manifest[];

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'galera-library-'));

  // The package, exactly as `npm publish` would upload it: `npm pack` builds it (prepack).
  rmSync(join(ROOT, 'lib'), { recursive: true, force: true });
  const pack = run('npm', ['pack', '--json', '--pack-destination', work], { cwd: ROOT });
  const packed = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('[')))[0];
  packedFiles = packed.files.map((f: { path: string }) => f.path);
  const tarball = join(work, packed.filename);

  // A separate app that depends on the tarball and on the cdk8s and constructs it asks for as peers.
  consumer = join(work, 'consumer-app');
  mkdirSync(consumer);
  const template = readFileSync(join(FIXTURE, 'package.template.json'), 'utf8')
    .replace('@TARBALL@', tarball)
    .replace('@CDK8S_VERSION@', rootPackage.devDependencies.cdk8s)
    .replace('@CDK8S_PLUS_VERSION@', rootPackage.devDependencies['cdk8s-plus-28'])
    .replace('@CONSTRUCTS_VERSION@', rootPackage.devDependencies.constructs);
  writeFileSync(join(consumer, 'package.json'), template);
  const main = readFileSync(join(FIXTURE, 'main.ts'), 'utf8');
  expect(main).toMatch(/^\/\/ @ts-nocheck/);
  writeFileSync(join(consumer, 'main.ts'), main.replace(/^(\/\/ .*\n)*?\/\/ @ts-nocheck.*\n(\/\/ .*\n)*/, ''));
  // The tsconfig `cdk8s init typescript-app` writes (from the cdk8s-cli this project pins): strict,
  // and no skipLibCheck, so the package's .d.ts files are type-checked too.
  const initTsconfig = JSON.parse(
    readFileSync(join(ROOT, 'node_modules', 'cdk8s-cli', 'templates', 'typescript-app', 'tsconfig.json'), 'utf8'),
  );
  expect(initTsconfig.compilerOptions.skipLibCheck).toBeUndefined();
  writeFileSync(join(consumer, 'tsconfig.json'), JSON.stringify(initTsconfig));

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
    .flatMap((f) => parseAllDocuments(readFileSync(join(outdir, f), 'utf8')).map((d) => d.toJS()) as Manifest[]);
  // The package's Secret generator, run on the app as its bin entry (nothing is synthesized by it).
  const bin = join(consumer, 'node_modules', '.bin', 'cdk8s-galera-secrets');
  credentials = parseAllDocuments(run(bin, ['credentials', 'main.js'], { cwd: consumer }).stdout).map((d) => d.toJS());
  tls = parseAllDocuments(run(bin, ['tls', 'main.js'], { cwd: consumer }).stdout).map((d) => d.toJS());
}, 600_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the npm package', () => {
  test('contains the compiled library with typings for every source module', () => {
    // GIVEN
    const excluded: string[] = JSON.parse(readFileSync(join(ROOT, 'tsconfig.build.json'), 'utf8')).exclude;
    const modules = (readdirSync(join(ROOT, 'src'), { recursive: true }) as string[])
      .filter((f) => f.endsWith('.ts') && !excluded.includes(`src/${f}`)).map((f) => f.replace(/\.ts$/, ''));

    // WHEN / THEN
    expect(modules).toContain('index');
    for (const m of modules) {
      expect(packedFiles).toContain(`lib/src/${m}.js`);
      expect(packedFiles).toContain(`lib/src/${m}.d.ts`);
    }
    expect(packedFiles).toEqual(expect.arrayContaining(['lib/imports/k8s.js', 'lib/imports/k8s.d.ts', 'package.json']));
    // the props' JSON schemas: the one the constructs validate with, and the values file's for editors
    expect(packedFiles).toEqual(expect.arrayContaining(['lib/src/values/props.schema.json', 'values.schema.json']));
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
  const ofKind = (kind: string) => manifests.filter((m) => m.kind === kind);
  const named = (kind: string, name: string) => manifests.find((m) => m.kind === kind && m.metadata.name === name);
  /** Does a NetworkPolicy rule's `from` let in pods with these labels in the policy's own namespace? */
  const admits = (rule: Manifest, labels: Record<string, string>) => rule.from.some((f: Manifest) => f.podSelector && !f.namespaceSelector
    && Object.entries(f.podSelector.matchLabels ?? {}).every(([k, v]) => labels[k] === v));
  const portsOf = (rule: Manifest) => rule.ports.map((p: Manifest) => p.port);

  test('installs the tarball and compiles against its typings with the cdk8s init tsconfig (no skipLibCheck)', () => {
    // GIVEN / WHEN: beforeAll installed and compiled main.ts; tsc fails on any error in a .d.ts

    // THEN
    expect(['offline', 'prefer-offline']).toContain(installedVia);
    const installed = JSON.parse(readFileSync(join(consumer, 'node_modules', 'cdk8s-galera-proxysql', 'package.json'), 'utf8'));
    expect(installed.version).toBe(rootPackage.version);
    expect(Object.keys(installed.peerDependencies).sort()).toEqual(['cdk8s', 'cdk8s-plus-28', 'constructs']);
    expect(JSON.parse(readFileSync(join(consumer, 'tsconfig.json'), 'utf8')).compilerOptions.skipLibCheck).toBeUndefined();
    expect(readdirSync(consumer)).toContain('main.js');
  });

  test('two clusters of the two topologies and the app in one namespace share no object name', () => {
    // GIVEN / WHEN: main.ts synthesized
    const keys = manifests.map((m) => `${m.kind}/${m.metadata.namespace ?? '-'}/${m.metadata.name}`);

    // THEN
    expect(new Set(keys).size).toBe(keys.length);
    expect(ofKind('StatefulSet').map((m) => m.metadata.name)).toEqual(['orders', 'users']);
    expect(ofKind('Deployment').map((m) => m.metadata.name).sort()).toEqual(['orders-proxysql', 'users-proxysql', 'web']);
    expect(ofKind('StorageClass').map((m) => m.metadata.name).sort()).toEqual(['orders-local-path', 'users-local-path']);
  });

  test('every namespaced object, the app\'s own included, is in the chart\'s namespace', () => {
    for (const m of manifests) {
      if (['Namespace', 'StorageClass'].includes(m.kind)) expect(m.metadata.namespace).toBeUndefined();
      else expect(`${m.kind}/${m.metadata.name} in ${m.metadata.namespace}`).toBe(`${m.kind}/${m.metadata.name} in shop`);
    }
    expect(JSON.stringify(manifests)).not.toMatch(/\.default\.svc/);
    const web = named('Deployment', 'web').spec.template.spec.containers[0].env;
    expect(web).toEqual(expect.arrayContaining([
      { name: 'ORDERS_DB', value: 'orders-proxysql.shop.svc:3306' }, { name: 'USERS_DB', value: 'users-proxysql.shop.svc:3306' },
    ]));
  });

  test('the policies let the app into ProxySQL, the backup job and the scrapers into the nodes', () => {
    // GIVEN
    const webPods = named('Deployment', 'web').spec.template.metadata.labels;
    const backupPods = named('CronJob', 'orders-backup').spec.jobTemplate.spec.template.metadata.labels;
    const galeraPolicy = named('NetworkPolicy', 'orders');
    const proxyPolicy = named('NetworkPolicy', 'orders-proxysql');

    // WHEN
    const proxyClientRule = proxyPolicy.spec.ingress.find((r: Manifest) => portsOf(r).includes(6033));
    const backupRule = galeraPolicy.spec.ingress.find((r: Manifest) => admits(r, backupPods));
    const scrapeRules = [galeraPolicy, proxyPolicy].map(
      (p) => p.spec.ingress.find((r: Manifest) => r.from.some((f: Manifest) => f.namespaceSelector)),
    );

    // THEN
    expect(admits(proxyClientRule, webPods)).toBe(true);
    expect(admits(proxyClientRule, { app: 'other' })).toBe(false);
    expect(portsOf(backupRule)).toEqual([4445, 4569]);
    expect(scrapeRules.map(portsOf)).toEqual([[9104], [6070]]);
  });

  test('every object passes the Kubernetes schema validation', () => {
    const errors = manifests.map((m) => ({
      object: `${m.kind}/${m.metadata?.name}`, errors: schemaErrors(m),
    })).filter((e) => e.errors.length > 0);
    expect(errors).toEqual([]);
  });

  test('the bin entry makes the credentials Secret of each cluster, in its namespace, with every key', () => {
    // GIVEN the Secrets the pods mount
    const mounted = ofKind('StatefulSet').map(
      (s) => s.spec.template.spec.volumes.find((v: Volume) => v.name === 'credentials').secret.secretName,
    );

    // WHEN / THEN
    expect(credentials.map((s) => `${s.metadata.namespace}/${s.metadata.name}`)).toEqual(mounted.map((n) => `shop/${n}`));
    for (const s of credentials) expect(Object.keys(s.stringData).sort()).toEqual([...Object.values(SECRET_KEYS)].sort());
    expect(
      new Set(credentials.flatMap((s) => Object.values(s.stringData))).size,
    ).toBe(credentials.length * Object.keys(SECRET_KEYS).length);
  });

  test('the bin entry makes the TLS Secrets the Galera pods, ProxySQL and the backup job mount, signed by one CA', async () => {
    // GIVEN every TLS Secret a pod of the Galera cluster's mounts
    const secretVolumes = [named('StatefulSet', 'orders'), named('Deployment', 'orders-proxysql'), named('CronJob', 'orders-backup')]
      .map((o) => (o.spec.jobTemplate ?? o).spec.template.spec.volumes).flat()
      .filter((v: Manifest) => v.secret && /tls/.test(v.secret.secretName));

    // WHEN
    const byName = new Map(tls.map((s) => [s.metadata.name, s]));

    // THEN
    expect(secretVolumes.length).toBeGreaterThanOrEqual(3);
    for (const v of secretVolumes) expect(byName.get(v.secret.secretName)?.metadata.namespace).toBe('shop');
    const ca = byName.get('orders-ca').stringData['tls.crt'];
    for (const v of secretVolumes) {
      const s = byName.get(v.secret.secretName);
      expect(s.stringData['ca.crt']).toBe(ca);
      expect(await verifies(s.stringData['tls.crt'], ca)).toBe(true);
    }
  });

  test('the ConfigMap carries the node scripts shipped in the package', () => {
    // GIVEN
    const configMap = named('ConfigMap', 'orders-config');

    // WHEN / THEN
    for (const script of readdirSync(join(ROOT, 'scripts', 'node')).filter((f) => f.endsWith('.sh'))) {
      const shipped = readFileSync(join(consumer, 'node_modules', 'cdk8s-galera-proxysql', 'scripts', 'node', script), 'utf8');
      expect(configMap.data[script]).toBe(shipped);
      expect(shipped).toBe(readFileSync(join(ROOT, 'scripts', 'node', script), 'utf8'));
    }
  });
});

/** Whether `certPem` is signed by `caPem`. */
async function verifies(certPem: string, caPem: string): Promise<boolean> {
  const cert = new x509.X509Certificate(certPem);
  return cert.verify({ publicKey: await new x509.X509Certificate(caPem).publicKey.export() });
}
