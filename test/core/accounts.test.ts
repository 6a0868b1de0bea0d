import { spawnSync } from 'child_process';
import { join } from 'path';
import { Chart, Testing } from 'cdk8s';
import { parse } from 'yaml';
import { credentialsSecretsFor, declaredUserSecretsFor } from '../../src/core/secrets';
import { DeclaredUser, resolveAccounts } from '../../src/core/accounts';
import { GaleraCluster, MariaDbReplication, ProxySql } from '../../src/index';
import { Checker } from '../../src/values/validation';

// The declaration of users and databases, checked against itself and the cluster's own accounts
// (issue 23): every mistake of one run reported together, each naming its field.

const ROOT = join(__dirname, '..', '..');
const OWN = { reservedUsers: ['root', 'repl', 'monitor'], appUser: 'app', appDatabase: 'app' };
const secret = { name: 'orders-db', key: 'password' };

function resolve(p: Parameters<typeof resolveAccounts>[1]): { problems: string[]; r: ReturnType<typeof resolveAccounts> } {
  const c = new Checker('MariaDbReplication \'mariadb\'', 'mariadb.');
  const r = resolveAccounts(c, p, OWN);
  let problems: string[] = [];
  try { c.throwIfAny(); } catch (e) { problems = (e as Error).message.split('\n').slice(1).map((l) => l.replace(/^\s*-\s*/, '')); }
  return { problems, r };
}

describe('declared users and databases', () => {
  test('GIVEN a database and two users WHEN resolved THEN the defaults are applied and nothing is refused', () => {
    // GIVEN
    const users: DeclaredUser[] = [
      { name: 'orders_rw', passwordSecret: secret, grants: [{ privileges: ['SELECT', 'INSERT', 'DELETE'], database: 'orders' }] },
      {
        name: 'reporting', passwordSecret: { ...secret, key: 'reporting' }, maxConnections: 5,
        grants: [{ privileges: ['SELECT'], database: 'app', table: 'events' }],
      },
    ];
    // WHEN
    const { problems, r } = resolve({ databases: [{ name: 'orders' }], users });
    // THEN
    expect(problems).toEqual([]);
    expect(r.databases).toEqual([{ name: 'orders', characterSet: 'utf8mb4', collation: 'utf8mb4_general_ci' }]);
    expect(r.users.map((u) => [u.name, u.maxConnections, u.grants.map((g) => `${g.database}.${g.table}`)]))
      .toEqual([['orders_rw', 0, ['orders.*']], ['reporting', 5, ['app.events']]]);
  });

  test('GIVEN every kind of mistake WHEN resolved THEN each is named with its field, in one run', () => {
    const { problems } = resolve({
      databases: [{ name: 'mysql' }, { name: 'app' }, { name: 'orders', characterSet: 'latin1' }, { name: 'orders' }],
      users: [
        { name: 'repl', passwordSecret: secret },
        { name: 'app', passwordSecret: secret },
        { name: 'x', passwordSecret: secret, grants: [
          { privileges: [], database: 'orders' },
          { privileges: ['ALL PRIVILEGES', 'SELECT'], database: 'orders' },
          { privileges: ['SELECT', 'SELECT'], database: 'billing' },
        ] },
        { name: 'x', passwordSecret: secret },
      ],
    });
    expect(problems).toEqual([
      "mariadb.databases[0].name must not be a system database (mysql, information_schema, performance_schema, sys), got 'mysql'",
      "mariadb.databases[1].name 'app' is the application database (appDatabase), which the cluster creates already",
      "mariadb.databases[2].collation 'utf8mb4_general_ci' is not a collation of mariadb.databases[2].characterSet 'latin1' "
        + "(its collations start with 'latin1_')",
      "mariadb.databases[3].name 'orders' is declared more than once",
      "mariadb.users[0].name must not be one of the accounts the cluster owns (root, repl, monitor, app), got 'repl'",
      "mariadb.users[1].name must not be one of the accounts the cluster owns (root, repl, monitor, app), got 'app'",
      'mariadb.users[2].grants[0].privileges must not be empty',
      'mariadb.users[2].grants[1].privileges: ALL PRIVILEGES stands alone, got ALL PRIVILEGES, SELECT',
      'mariadb.users[2].grants[2].privileges names SELECT more than once',
      "mariadb.users[2].grants[2].database must be the application database or a declared one (app, orders), got 'billing'",
      "mariadb.users[3].name 'x' is declared more than once",
    ]);
  });
});

describe.each(['galera', 'replication'] as const)('declared accounts in the synthesized %s pods', (topology) => {
  // GIVEN two users whose passwords are keys of one Secret, a third of another, and a database
  const chart = new Chart(Testing.app(), 'test', { namespace: 'db' });
  const users: DeclaredUser[] = [
    {
      name: 'reporter', passwordSecret: { name: 'app-users', key: 'reporter' }, grants: [{ privileges: ['SELECT'], database: 'orders' }],
    },
    { name: 'loader', passwordSecret: { name: 'app-users', key: 'loader' }, maxConnections: 3 },
    { name: 'etl', passwordSecret: { name: 'etl-db', key: 'password' } },
  ];
  const props = { name: 'db', users, databases: [{ name: 'orders' }] };
  const db = topology === 'galera' ? new GaleraCluster(chart, 'db', props) : new MariaDbReplication(chart, 'db', props);
  const proxy = new ProxySql(chart, 'proxysql', { backend: db });
  // WHEN synthesized
  const manifests = Testing.synth(chart);
  const sts = manifests.find((m) => m.kind === 'StatefulSet');
  const dep = manifests.find((m) => m.kind === 'Deployment' && m.metadata.name === proxy.name);
  const config = manifests.find((m) => m.kind === 'ConfigMap' && m.metadata.name === 'db-config');

  test('THEN the declaration is in the ConfigMap, without a password, each password a file of its Secret', () => {
    expect(config.data['accounts.list']).toBe([
      'database\torders\tutf8mb4\tutf8mb4_general_ci',
      'user\treporter\t0\t/etc/mariadb/declared-passwords/app-users/reporter',
      'user\tloader\t3\t/etc/mariadb/declared-passwords/app-users/loader',
      'user\tetl\t0\t/etc/mariadb/declared-passwords/etl-db/password',
      'grant\treporter\tSELECT\torders\t*',
      '',
    ].join('\n'));
    expect(Object.keys(config.data)).toContain('accounts.sh');
    const volumes = sts.spec.template.spec.volumes.filter((v: { name: string }) => v.name.startsWith('declared-passwords'));
    expect(volumes).toEqual([
      { name: 'declared-passwords-0', secret: { secretName: 'app-users', items: [{ key: 'reporter', path: 'reporter' },
        { key: 'loader', path: 'loader' }], defaultMode: 0o440, optional: true } },
      { name: 'declared-passwords-1', secret: { secretName: 'etl-db', items: [{ key: 'password', path: 'password' }],
        defaultMode: 0o440, optional: true } },
    ]);
    const main = sts.spec.template.spec.containers.find((c: { name: string }) => c.name === 'mariadb');
    expect(main.volumeMounts.filter((m: { name: string }) => m.name.startsWith('declared-passwords'))).toEqual([
      { name: 'declared-passwords-0', mountPath: '/etc/mariadb/declared-passwords/app-users', readOnly: true },
      { name: 'declared-passwords-1', mountPath: '/etc/mariadb/declared-passwords/etl-db', readOnly: true },
    ]);
  });

  test('THEN ProxySQL mounts the same keys and names each placeholder\'s file', () => {
    expect(db.declaredUsers.map((u) => [u.name, u.defaultSchema]))
      .toEqual([['reporter', 'orders'], ['loader', undefined], ['etl', undefined]]);
    const env = Object.fromEntries(dep.spec.template.spec.containers[0].env.map((e: { name: string; value: string }) => [e.name, e.value]));
    expect(env.PROXYSQL_USER_PASSWORD_FILES).toBe('USER_PASSWORD_1=/etc/proxysql/declared-passwords/app-users/reporter '
      + 'USER_PASSWORD_2=/etc/proxysql/declared-passwords/app-users/loader '
      + 'USER_PASSWORD_3=/etc/proxysql/declared-passwords/etl-db/password');
    expect(dep.spec.template.spec.volumes.filter((v: { name: string }) => v.name.startsWith('declared-passwords')).map(
      (v: { secret: { secretName: string } }) => v.secret.secretName)).toEqual(['app-users', 'etl-db']);
  });

  test('THEN nothing declared adds nothing to the pods', () => {
    const plain = new Chart(Testing.app(), 'plain', { namespace: 'db' });
    const other = topology === 'galera'
      ? new GaleraCluster(plain, 'db', { name: 'db' })
      : new MariaDbReplication(plain, 'db', { name: 'db' });
    new ProxySql(plain, 'proxysql', { backend: other });
    const out = Testing.synth(plain);
    const configKeys = out.filter((m) => m.kind === 'ConfigMap').flatMap((m) => Object.keys(m.data));
    const specs = out.filter((m) => m.kind === 'StatefulSet' || m.kind === 'Deployment').map((m) => m.spec.template.spec);
    expect(configKeys).not.toContain('accounts.list');
    expect(specs.flatMap((s) => s.volumes.map((v: { name: string }) => v.name)).filter((n) => n.startsWith('declared'))).toEqual([]);
    expect(specs.flatMap((s) => s.containers.flatMap((c: { env?: { name: string }[] }) => (c.env ?? []).map((e) => e.name))))
      .not.toContain('PROXYSQL_USER_PASSWORD_FILES');
  });
});


describe('the Secrets of the declared users\' passwords', () => {
  // GIVEN users whose passwords are keys of their own Secret, and one more key of the credentials Secret
  const chart = new Chart(Testing.app(), 'test', { namespace: 'db' });
  new GaleraCluster(chart, 'db', {
    name: 'db',
    users: [
      { name: 'reporter', passwordSecret: { name: 'app-users', key: 'reporter' } },
      { name: 'loader', passwordSecret: { name: 'app-users', key: 'loader' } },
      { name: 'etl', passwordSecret: { name: 'db-credentials', key: 'etl-password' } },
    ],
  });

  test('credentialsSecretsFor prints each with a random password per declared key, '
    + 'merged into the credentials Secret when it is that one', () => {
    // WHEN
    const secrets = credentialsSecretsFor(chart) as { metadata: { name: string; namespace: string }; stringData: Record<string, string> }[];
    // THEN
    expect(secrets.map((s) => `${s.metadata.namespace}/${s.metadata.name}`)).toEqual(['db/db-credentials', 'db/app-users']);
    expect(Object.keys(secrets[1].stringData)).toEqual(['reporter', 'loader']);
    expect(Object.keys(secrets[0].stringData)).toEqual(expect.arrayContaining(['root-password', 'app-password', 'etl-password']));
    const passwords = [...Object.values(secrets[1].stringData), secrets[0].stringData['etl-password']];
    expect(new Set(passwords).size).toBe(3);
    for (const p of passwords) expect(p).toMatch(/^[A-Za-z0-9_-]{32}$/);
    // and declaredUserSecretsFor leaves the credentials Secret out
    expect((declaredUserSecretsFor(chart) as { metadata: { name: string } }[]).map((s) => s.metadata.name)).toEqual(['app-users']);
  });

  test('a user may not take a key of the credentials Secret that holds a password the cluster owns', () => {
    const c = new Chart(Testing.app(), 'bad', { namespace: 'db' });
    expect(() => new MariaDbReplication(c, 'db', {
      name: 'db', users: [{ name: 'x', passwordSecret: { name: 'db-credentials', key: 'root-password' } }],
    })).toThrow(new RegExp("users\\[0\\]\\.passwordSecret names the key 'root-password' of the credentials Secret 'db-credentials', "
      + 'which holds the password of an account the cluster owns'));
  });

  test('npm run new-user-secrets prints the Secrets of the values file\'s users, with fresh passwords', () => {
    // WHEN the command runs on examples/accounts.yaml
    const run = () => spawnSync('npx', ['ts-node', '--transpile-only', join(ROOT, 'src/cli/bin/new-user-secrets.ts')], {
      cwd: ROOT, encoding: 'utf8', env: { ...process.env, GALERA_VALUES: join(ROOT, 'examples/accounts.yaml') }, timeout: 60_000,
    });
    const [a, b] = [run(), run()];
    // THEN one Secret, app-users in the values file's namespace, with the two declared keys, different each time
    expect([a.status, a.stderr]).toEqual([0, '']);
    const secret = parse(a.stdout);
    expect(secret).toMatchObject({ kind: 'Secret', metadata: { name: 'app-users', namespace: 'galera' } });
    expect(Object.keys(secret.stringData)).toEqual(['reporter', 'loader']);
    expect(parse(b.stdout).stringData.reporter).not.toBe(secret.stringData.reporter);
  }, 120_000);
});
