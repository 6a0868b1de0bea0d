import { spawnSync, SpawnSyncReturns } from 'child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { Chart, Testing } from 'cdk8s';
import { GaleraCluster, GaleraClusterProps } from '../../src/galera/galera-cluster';
import { MariaDbReplication } from '../../src/replication/mariadb-replication';
import { ProxySql, ProxySqlProps } from '../../src/proxysql/proxysql';
import {
  estimateFailover, PASSWORD_PLACEHOLDERS, PROXYSQL_PATHS, renderLibconfig, serverWeight, TEMPLATE_FILE,
} from '../../src/proxysql/proxysql-config';
import { serverVersionForImage } from '../../src/core/backend';
import { SECRET_KEYS } from '../../src/core/credentials';
import { buildLibconfigChecker, CfgNode, child, settings, stringValue } from '../tools/libconfig';

/*
 * The proxysql.cnf template is rendered by the REAL scripts/proxysql/proxysql-render.sh with
 * test passwords and parsed by the REAL libconfig library (test/tools/libconfig-check.c), the
 * parser ProxySQL uses. No ProxySQL binary exists for this machine, so what ProxySQL's loader
 * (lib/ProxySQL_Config.cpp, v2.7 / v3.0) expects is written down here as tables.
 */

const RENDER_SCRIPT = join(__dirname, '..', '..', 'scripts', 'proxysql', 'proxysql-render.sh');

const libconfig = buildLibconfigChecker();
if (!libconfig.checker && libconfig.libraryMissing && !process.env.CI) {
  // eslint-disable-next-line no-console
  console.warn(`libconfig tests skipped (CI unset): ${libconfig.error}\n  install it with: apt-get install -y libconfig-dev`);
}
const describeLibconfig = libconfig.checker || process.env.CI || !libconfig.libraryMissing ? describe : describe.skip;
function parse(file: string): CfgNode {
  if (!libconfig.checker) throw new Error(libconfig.error);
  return libconfig.checker.parse(file);
}

/** Test passwords: every character the brief names, plus ones that break naive shell, sed or SQL code. */
const PASSWORDS = {
  // mysql_users.password goes into '...' in ProxySQL's loader: quotes of both kinds.
  [SECRET_KEYS.app]: 'a"double" it\'s \\back\\slash $HOME $(id) `id` #hash & spaces ; colon: @@MONITOR_PASSWORD@@ \\" é \'\'',
  // mysql-monitor_password goes into "...".
  [SECRET_KEYS.monitor]: "it's \\ $PATH #no-comment &amp; \\\\ '' say \"hi\" \"\" spaces  ",
  // admin-admin_credentials: everything but : and ;, which ProxySQL splits at.
  [SECRET_KEYS.proxysqlAdmin]: "adm'in \\x41 $1 # & %s ~ \"q\"",
};

/**
 * What ProxySQL's loader makes of a libconfig string it pastes into a SQL literal quoted with
 * `quote` (SQLite: a doubled quote inside is one quote; ProxySQL_Config.cpp adds no escaping).
 */
function asLoaded(fileValue: string, quote: "'" | '"'): string {
  const sql = `${quote}${fileValue}${quote}`;
  let out = '';
  for (let i = 1; i < sql.length - 1; i++) {
    if (sql[i] === quote) {
      if (sql[i + 1] !== quote) throw new Error(`the literal ${sql} ends early: ProxySQL would fail to load it`);
      i += 1;
    }
    out += sql[i];
  }
  return out;
}

function synth(galeraProps: GaleraClusterProps = {}, proxyProps: Omit<ProxySqlProps, 'backend'> = {}) {
  const chart = new Chart(Testing.app(), 'test');
  const galera = new GaleraCluster(chart, 'galera', galeraProps);
  const proxysql = new ProxySql(chart, 'proxysql', { backend: galera, ...proxyProps });
  const manifests = Testing.synth(chart);
  const deployment = manifests.find((m) => m.kind === 'Deployment');
  const configMap = manifests.find((m) => m.kind === 'ConfigMap' && m.metadata.name === `${proxysql.name}-config`);
  return { galera, proxysql, deployment, configMap };
}

interface Rendered {
  readonly dir: string;
  readonly output: string;
  readonly result: SpawnSyncReturns<string>;
}

/**
 * Runs the render script the way the container does: the Deployment's env, with the pod paths
 * mapped into a temporary directory, the ConfigMap's template and the Secret's keys as files.
 */
const TLS_FILES = { 'ca.crt': 'the CA\n', 'tls.crt': 'the certificate\n', 'tls.key': 'the key\n' };

function render(synthesized: ReturnType<typeof synth>, secret: Record<string, string | undefined>, command: string[] = [],
  tlsFiles: Record<string, string> = TLS_FILES, userSecrets: Record<string, Record<string, string>> = {}): Rendered {
  const dir = mkdtempSync(join(tmpdir(), 'proxysql-render-'));
  const map: Record<string, string> = {
    [PROXYSQL_PATHS.scripts]: join(dir, 'scripts'),
    [PROXYSQL_PATHS.credentials]: join(dir, 'credentials'),
    [PROXYSQL_PATHS.rendered]: join(dir, 'rendered'),
    [PROXYSQL_PATHS.tls]: join(dir, 'tls'),
    [PROXYSQL_PATHS.data]: join(dir, 'data'),
    [PROXYSQL_PATHS.declaredPasswords]: join(dir, 'declared'),
  };
  for (const d of Object.values(map)) mkdirSync(d, { recursive: true });
  // the TLS Secret's files (the script only copies them; ProxySQL reads them in the cluster tests)
  for (const [file, text] of Object.entries(tlsFiles)) writeFileSync(join(map[PROXYSQL_PATHS.tls], file), text);
  for (const [file, text] of Object.entries(synthesized.configMap.data as Record<string, string>)) {
    writeFileSync(join(map[PROXYSQL_PATHS.scripts], file), text);
  }
  for (const [key, value] of Object.entries(secret)) {
    if (value !== undefined) writeFileSync(join(map[PROXYSQL_PATHS.credentials], key), value);
  }
  // the declared users' Secrets, each in its own directory (as the Deployment mounts them)
  for (const [name, keys] of Object.entries(userSecrets)) {
    mkdirSync(join(map[PROXYSQL_PATHS.declaredPasswords], name));
    for (const [key, value] of Object.entries(keys)) writeFileSync(join(map[PROXYSQL_PATHS.declaredPasswords], name, key), value);
  }
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  for (const e of synthesized.deployment.spec.template.spec.containers[0].env as { name: string; value: string }[]) {
    let value = e.value;
    // every path in the value (PROXYSQL_USER_PASSWORD_FILES holds several)
    for (const [from, to] of Object.entries(map)) value = value.split(from).join(to);
    env[e.name] = value;
  }
  const result = spawnSync('bash', [RENDER_SCRIPT, ...command], { env, encoding: 'utf8' });
  return { dir, output: env.PROXYSQL_CONFIG, result };
}

/** Type ProxySQL's loader reads each field with (lookupValue into int or std::string). */
const SERVER_FIELDS: Record<string, CfgNode['type']> = {
  address: 'string', hostname: 'string', port: 'int', gtid_port: 'int', hostgroup: 'int', hostgroup_id: 'int', status: 'string',
  compression: 'int', weight: 'int', max_connections: 'int', max_replication_lag: 'int', use_ssl: 'int', max_latency_ms: 'int',
  comment: 'string',
};
const GALERA_FIELDS: Record<string, CfgNode['type']> = {
  writer_hostgroup: 'int', backup_writer_hostgroup: 'int', reader_hostgroup: 'int', offline_hostgroup: 'int', active: 'int',
  max_writers: 'int', writer_is_also_reader: 'int', max_transactions_behind: 'int', comment: 'string',
};
const USER_FIELDS: Record<string, CfgNode['type']> = {
  username: 'string', password: 'string', default_hostgroup: 'int', active: 'int', use_ssl: 'int', default_schema: 'string',
  schema_locked: 'int', transaction_persistent: 'int', fast_forward: 'int', max_connections: 'int', attributes: 'string', comment: 'string',
};
const RULE_FIELDS: Record<string, CfgNode['type']> = {
  rule_id: 'int', active: 'int', username: 'string', schemaname: 'string', flagIN: 'int', client_addr: 'string', proxy_addr: 'string',
  proxy_port: 'int', digest: 'string', match_digest: 'string', match_pattern: 'string', negate_match_pattern: 'int', re_modifiers: 'string',
  flagOUT: 'int', replace_pattern: 'string', destination_hostgroup: 'int', cache_ttl: 'int', reconnect: 'int', timeout: 'int',
  retries: 'int',
  delay: 'int', mirror_flagOUT: 'int', mirror_hostgroup: 'int', error_msg: 'string', OK_msg: 'string', multiplex: 'int', log: 'int',
  apply: 'int', attributes: 'string', comment: 'string',
};
/**
 * Variables this project sets, with the type ProxySQL stores them as (its loader tries bool,
 * then int, then string; an int64 or float would come out as an empty string). Every name was
 * checked against the variable lists of lib/MySQL_Thread.cpp and lib/ProxySQL_Admin.cpp (a
 * misspelt variable is ignored by ProxySQL), default_* against mysql_tracked_variables.
 */
const MYSQL_VARIABLES: Record<string, CfgNode['type']> = {
  threads: 'int', max_connections: 'int', interfaces: 'string', server_version: 'string', default_charset: 'string',
  default_collation_connection: 'string', monitor_enabled: 'bool', monitor_username: 'string', monitor_password: 'string',
  monitor_galera_healthcheck_interval: 'int', monitor_galera_healthcheck_timeout: 'int',
  monitor_galera_healthcheck_max_timeout_count: 'int',
  monitor_ping_interval: 'int', monitor_ping_timeout: 'int', monitor_ping_max_failures: 'int', monitor_connect_interval: 'int',
  monitor_connect_timeout: 'int', monitor_local_dns_cache_ttl: 'int', monitor_local_dns_cache_refresh_interval: 'int',
  connect_timeout_server: 'int', connect_timeout_server_max: 'int', connect_retries_on_failure: 'int', query_retries_on_failure: 'int',
  have_ssl: 'bool', init_connect: 'string', kill_backend_connection_when_disconnect: 'bool',
};
const ADMIN_VARIABLES: Record<string, CfgNode['type']> = {
  admin_credentials: 'string', stats_credentials: 'string', mysql_ifaces: 'string', restapi_enabled: 'bool', web_enabled: 'bool',
};
const TOP_LEVEL: Record<string, CfgNode['type']> = {
  datadir: 'string', admin_variables: 'group', mysql_variables: 'group', mysql_servers: 'list', mysql_galera_hostgroups: 'list',
  mysql_users: 'list', mysql_query_rules: 'list',
};

/** Type problems of a group against a table: unknown names and wrong types. */
function typeProblems(where: string, node: CfgNode | undefined, expected: Record<string, CfgNode['type']>): string[] {
  if (node?.type !== 'group') return [`${where} is a ${node?.type}, not a group`];
  return (node.children ?? []).flatMap((s) => {
    const want = expected[s.name ?? ''];
    if (!want) return [`${where}.${s.name} is not a field ProxySQL reads there`];
    return s.type === want ? [] : [`${where}.${s.name} is a ${s.type}, ProxySQL reads a ${want}`];
  });
}

function listItems(root: CfgNode, name: string): Record<string, CfgNode>[] {
  return (child(root, name)?.children ?? []).map(settings);
}

/** Routes a digest text through the parsed rules as ProxySQL does: rule_id order, first apply=1 match, else default_hostgroup. */
function route(root: CfgNode, digest: string, matches: (pattern: string, text: string) => boolean): number {
  const rules = listItems(root, 'mysql_query_rules').sort((a, b) => (a.rule_id.value as number) - (b.rule_id.value as number));
  for (const r of rules) {
    if (r.active.value === 1
      && r.apply.value === 1 && matches(stringValue(r.match_digest)!, digest)) return r.destination_hostgroup.value as number;
  }
  return listItems(root, 'mysql_users')[0].default_hostgroup.value as number;
}

const jsMatch = (pattern: string, text: string) => new RegExp(pattern, 'i').test(text);
/** PCRE (GNU grep -P, PCRE2): ProxySQL's default regex engine is PCRE (mysql-query_processor_regex=1). */
const pcreMatch = (pattern: string, text: string) => {
  const r = spawnSync('grep', ['-P', '-i', '-q', '--', pattern], { input: `${text}\n`, encoding: 'utf8' });
  if (r.status === 2 || r.error) throw new Error(`grep -P cannot use ${pattern}: ${r.stderr ?? r.error}`);
  return r.status === 0;
};

describeLibconfig('the rendered proxysql.cnf, parsed by libconfig', () => {
  const synthesized = synth();
  let rendered: Rendered;
  let root: CfgNode;

  beforeAll(() => {
    if (!libconfig.checker) throw new Error(libconfig.error);
    // GIVEN the synthesized template and a Secret with hostile passwords (the monitor one with a
    // trailing newline, as `kubectl create secret --from-file` leaves it)
    const secret = { ...PASSWORDS, [SECRET_KEYS.monitor]: `${PASSWORDS[SECRET_KEYS.monitor]}\n` };
    // WHEN the real render script runs
    rendered = render(synthesized, secret, ['bash', '-c', 'printf "exec:%s" "$0"', 'ok']);
    root = parse(rendered.output);
  });
  afterAll(() => rendered && rmSync(rendered.dir, { recursive: true, force: true }));

  test('the render script succeeds, writes the file with mode 0600 and execs the command', () => {
    expect(rendered.result.stderr).toContain('wrote');
    expect(rendered.result.status).toBe(0);
    expect(rendered.result.stdout).toBe('exec:ok');
    expect(statSync(rendered.output).mode & 0o777).toBe(0o600);
    // single pass: the only placeholder-like text left is the one inside the app password
    expect(readFileSync(rendered.output, 'utf8').match(/@@[A-Z_]+@@/g)).toEqual(['@@MONITOR_PASSWORD@@']);
  });

  test('with TLS on, the Secret\'s certificate is installed where ProxySQL reads it, mode 0600', () => {
    const data = join(rendered.dir, 'data');
    expect(readFileSync(join(data, 'proxysql-ca.pem'), 'utf8')).toBe(TLS_FILES['ca.crt']);
    expect(readFileSync(join(data, 'proxysql-cert.pem'), 'utf8')).toBe(TLS_FILES['tls.crt']);
    expect(readFileSync(join(data, 'proxysql-key.pem'), 'utf8')).toBe(TLS_FILES['tls.key']);
    for (const f of ['proxysql-ca.pem', 'proxysql-cert.pem', 'proxysql-key.pem']) expect(statSync(join(data, f)).mode & 0o777).toBe(0o600);
  });

  test('a TLS Secret without a key: exit non-zero, name the Secret and the missing file, start nothing', () => {
    const r = render(synthesized, PASSWORDS, ['bash', '-c', 'echo started'], { 'ca.crt': 'x', 'tls.crt': 'y' });
    rmSync(r.dir, { recursive: true, force: true });
    expect(r.result.status).not.toBe(0);
    expect(r.result.stderr).toMatch(/TLS is on but Secret 'galera-proxysql-tls' lacks tls\.key .*npm run -s new-tls/);
    expect(r.result.stdout).not.toContain('started');
  });

  test('every section and key has the libconfig type ProxySQL reads it as', () => {
    const problems = [
      ...typeProblems('(top level)', root, TOP_LEVEL),
      ...typeProblems('admin_variables', child(root, 'admin_variables'), ADMIN_VARIABLES),
      ...typeProblems('mysql_variables', child(root, 'mysql_variables'), MYSQL_VARIABLES),
    ];
    for (const [list, fields] of [['mysql_servers', SERVER_FIELDS], ['mysql_galera_hostgroups', GALERA_FIELDS], [
      'mysql_users', USER_FIELDS,
    ],
      ['mysql_query_rules', RULE_FIELDS]] as const) {
      (child(root, list)?.children ?? []).forEach((item, i) => problems.push(...typeProblems(`${list}[${i}]`, item, fields)));
    }
    expect(problems).toEqual([]);
    // every top-level section is there, lists hold groups
    expect(Object.keys(settings(root)).sort()).toEqual(Object.keys(TOP_LEVEL).sort());
    expect(child(root, 'mysql_servers')!.children!.length).toBe(3);
    expect(child(root, 'mysql_galera_hostgroups')!.children!.length).toBe(1);
    expect(child(root, 'mysql_users')!.children!.length).toBe(1);
  });

  test('the passwords arrive exactly, with quotes, backslashes, $, #, & and spaces intact', () => {
    const vars = settings(child(root, 'mysql_variables'));
    const admin = settings(child(root, 'admin_variables'));
    const user = listItems(root, 'mysql_users')[0];
    expect(asLoaded(stringValue(user.password)!, "'")).toBe(PASSWORDS[SECRET_KEYS.app]);
    // the trailing newline of the file is dropped, as the Galera node scripts do
    expect(asLoaded(stringValue(vars.monitor_password)!, '"')).toBe(PASSWORDS[SECRET_KEYS.monitor]);
    expect(asLoaded(stringValue(admin.admin_credentials)!, '"')).toBe(`admin:${PASSWORDS[SECRET_KEYS.proxysqlAdmin]}`);
    expect(asLoaded(stringValue(admin.stats_credentials)!, '"')).toBe(`stats:${PASSWORDS[SECRET_KEYS.proxysqlAdmin]}`);
  });

  test('no string holds a lone quote ProxySQL\'s loader would cut it at (it copies values into SQL unescaped)', () => {
    // ProxySQL_Config.cpp: variables and mysql_servers.address go into "...", mysql_users
    // fields and query-rule attributes/comments into '...', query-rule patterns into "...".
    const problems: string[] = [];
    const check = (where: string, node: CfgNode | undefined, quote: string) => {
      const v = stringValue(node);
      try {
        if (v !== undefined) asLoaded(v, quote as "'" | '"');
      } catch {
        problems.push(`${where} contains a lone ${quote}`);
      }
    };
    for (const [k, n] of Object.entries(settings(child(root, 'mysql_variables')))) check(`mysql_variables.${k}`, n, '"');
    for (const [k, n] of Object.entries(settings(child(root, 'admin_variables')))) check(`admin_variables.${k}`, n, '"');
    listItems(root, 'mysql_servers').forEach((s, i) => check(`mysql_servers[${i}].address`, s.address, '"'));
    listItems(root, 'mysql_users').forEach((u, i) => {
      for (const f of ['username', 'password', 'default_schema', 'attributes']) check(`mysql_users[${i}].${f}`, u[f], "'");
    });
    listItems(root, 'mysql_query_rules').forEach((r, i) => {
      for (const f of ['match_digest', 'match_pattern', 're_modifiers']) check(`mysql_query_rules[${i}].${f}`, r[f], '"');
      for (const f of ['comment', 'attributes']) check(`mysql_query_rules[${i}].${f}`, r[f], "'");
    });
    const admin = stringValue(child(child(root, 'admin_variables'), 'admin_credentials'))!;
    if (admin.split(';').length !== 1
      || admin.split(':').length !== 2) problems.push('admin_credentials is not exactly one user:password pair');
    expect(problems).toEqual([]);
  });

  test('the servers are the Galera pods, pod 0 heaviest, every weight distinct', () => {
    const servers = listItems(root, 'mysql_servers');
    expect(servers.map((s) => stringValue(s.address))).toEqual(synthesized.galera.podDnsNames);
    expect(servers.map((s) => s.port.value)).toEqual(synthesized.galera.podDnsNames.map(() => synthesized.galera.port));
    const weights = servers.map((s) => s.weight.value as number);
    expect(weights).toEqual([serverWeight(0), serverWeight(1), serverWeight(2)]);
    expect(new Set(weights).size).toBe(weights.length);
    expect(weights[0]).toBe(Math.max(...weights));
  });

  test('hostgroups are distinct, reader > 0, one writer, writer also reader; users and rules only name them', () => {
    const [g] = listItems(root, 'mysql_galera_hostgroups');
    const ids = ['writer_hostgroup', 'backup_writer_hostgroup', 'reader_hostgroup', 'offline_hostgroup'].map((k) => g[k].value as number);
    expect(new Set(ids).size).toBe(4);
    expect(g.reader_hostgroup.value).toBeGreaterThan(0);
    expect(g.max_writers.value).toBe(1);
    expect(g.writer_is_also_reader.value).toBe(1);
    const named = [
      ...listItems(root, 'mysql_users').map((u) => u.default_hostgroup.value),
      ...listItems(root, 'mysql_query_rules').map((r) => r.destination_hostgroup.value),
      ...listItems(root, 'mysql_servers').map((s) => s.hostgroup.value),
    ];
    expect(named.filter((h) => !ids.includes(h as number))).toEqual([]);
    // writes and the initial server placement use the writer hostgroup
    expect(listItems(root, 'mysql_users')[0].default_hostgroup.value).toBe(g.writer_hostgroup.value);
    expect(listItems(root, 'mysql_users')[0].transaction_persistent.value).toBe(1);
    expect(stringValue(listItems(root, 'mysql_users')[0].username)).toBe(synthesized.galera.appUser);
  });

  test('the admin interface listens on loopback only, with a credential from the Secret, and the monitor user is monitor', () => {
    const admin = settings(child(root, 'admin_variables'));
    expect(stringValue(admin.mysql_ifaces)).toMatch(/^127\.0\.0\.1:6032$/);
    expect(stringValue(admin.admin_credentials)).not.toBe('admin:admin');
    expect(stringValue(admin.stats_credentials)).not.toBe('stats:stats');
    const vars = settings(child(root, 'mysql_variables'));
    expect(stringValue(vars.monitor_username)).toBe('monitor');
    expect(stringValue(vars.interfaces)).toBe('0.0.0.0:6033');
    expect(stringValue(vars.server_version)).toBe('5.5.5-10.11.19-MariaDB');
  });

  test('no statement is re-sent, and a client that disconnects leaves its backend connection unkilled', () => {
    // a KILL of a commit waiting for a semi-sync acknowledgement returns OK to the rest of its group commit (MariaDB 10.11)
    const vars = settings(child(root, 'mysql_variables'));
    expect(vars.query_retries_on_failure.value).toBe(0);
    expect(vars.kill_backend_connection_when_disconnect.value).toBe(false);
  });

  test('the monitor settings in the file take a gone pod out of rotation within 3 s, before the ping monitor can shun it', () => {
    const v = settings(child(root, 'mysql_variables'));
    const n = (k: string) => v[k].value as number;
    const estimate = estimateFailover({
      healthcheckIntervalMs: n('monitor_galera_healthcheck_interval'), healthcheckTimeoutMs: n('monitor_galera_healthcheck_timeout'),
      healthcheckMaxTimeoutCount: n('monitor_galera_healthcheck_max_timeout_count'), pingIntervalMs: n('monitor_ping_interval'),
      pingTimeoutMs: n('monitor_ping_timeout'), pingMaxFailures: n('monitor_ping_max_failures'),
      monitorConnectTimeoutMs: n('monitor_connect_timeout'),
      connectTimeoutServerMs: n('connect_timeout_server'), connectTimeoutServerMaxMs: n('connect_timeout_server_max'),
      dnsCacheTtlMs: n('monitor_local_dns_cache_ttl'), dnsCacheRefreshIntervalMs: n('monitor_local_dns_cache_refresh_interval'),
    });
    expect(estimate.worstMs).toBeLessThanOrEqual(3000);
    expect(estimate.pingShunEarliestMs).toBeGreaterThan(estimate.worstMs);
    expect(n('monitor_galera_healthcheck_timeout')).toBeLessThan(n('monitor_galera_healthcheck_interval'));
    expect(n('connect_timeout_server_max')).toBeGreaterThan(estimate.worstMs);
    // pods get new IPs when rescheduled: the DNS cache must not hold one for minutes
    expect(n('monitor_local_dns_cache_ttl')).toBeLessThanOrEqual(10000);
    expect(n('monitor_local_dns_cache_refresh_interval')).toBeLessThanOrEqual(10000);
  });

  describe('query routing', () => {
    const writer = 10;
    const reader = 30;
    test.each([
      ['SELECT * FROM t WHERE id=? FOR UPDATE', writer],
      ['select id from t where id=? for update nowait', writer],
      ['SELECT * FROM t WHERE id=? FOR SHARE', writer],
      ['SELECT * FROM t WHERE id=? LOCK IN SHARE MODE', writer],
      ['SELECT a INTO @x FROM t WHERE id=?', writer],
      ['SELECT * FROM t INTO OUTFILE ?', writer],
      ['SELECT NEXTVAL(s)', writer],
      ['SELECT NEXT VALUE FOR s', writer],
      ['SELECT GET_LOCK(?,?)', writer],
      ['INSERT INTO t (a) VALUES (?)', writer],
      ['UPDATE t SET a=? WHERE id=?', writer],
      ['DELETE FROM t WHERE id=?', writer],
      ['REPLACE INTO t VALUES (?)', writer],
      ['BEGIN', writer],
      ['CALL p(?)', writer],
      ['WITH x AS (SELECT ?) SELECT * FROM x', writer],
      ['SELECT * FROM t', reader],
      ['select count(*) from orders where status=?', reader],
      ['SELECT into_date, update_count FROM t WHERE id=?', reader],
      ['SELECT * FROM information_schema.tables', reader],
    ])('%s goes to hostgroup %i (JavaScript RegExp and PCRE agree)', (digest, expected) => {
      expect(route(root, digest, jsMatch)).toBe(expected);
      expect(route(root, digest, pcreMatch)).toBe(expected);
    });

    test('every pattern compiles in JavaScript and PCRE and uses no construct RE2 lacks (lookaround, backreferences, '
      + 'atomic groups)', () => {
      const patterns = listItems(root, 'mysql_query_rules').map((r) => stringValue(r.match_digest)!);
      expect(patterns.length).toBeGreaterThan(0);
      for (const p of patterns) {
        expect(() => new RegExp(p, 'i')).not.toThrow();
        expect(() => pcreMatch(p, '')).not.toThrow();
        expect(p).not.toMatch(/\(\?[=!<>]|\\[1-9]|[*+?}]\+/);
      }
    });

    test('with readWriteSplit false there are no rules and every query goes to the writer', () => {
      const plain = render(synth({}, { readWriteSplit: false }), PASSWORDS);
      try {
        const r = parse(plain.output);
        expect(child(r, 'mysql_query_rules')?.children).toEqual([]);
        expect(route(r, 'SELECT * FROM t', jsMatch)).toBe(writer);
      } finally {
        rmSync(plain.dir, { recursive: true, force: true });
      }
    });
  });

  test('non-default hostgroups, writer_is_also_reader 2 and failover settings reach the file', () => {
    const custom = render(synth({ name: 'shop', namespace: 'prod' }, {
      hostgroups: { writer: 1, backupWriter: 2, reader: 3, offline: 4 }, writerIsAlsoReader: 2,
      failover: { healthcheckIntervalMs: 500, healthcheckTimeoutMs: 400 },
    }), PASSWORDS);
    try {
      const r = parse(custom.output);
      const [g] = listItems(r, 'mysql_galera_hostgroups');
      expect([
        g.writer_hostgroup.value, g.backup_writer_hostgroup.value, g.reader_hostgroup.value, g.offline_hostgroup.value,
      ]).toEqual([1, 2, 3, 4]);
      expect(g.writer_is_also_reader.value).toBe(2);
      expect(route(r, 'SELECT 1', jsMatch)).toBe(3);
      expect(route(r, 'UPDATE t SET a=?', jsMatch)).toBe(1);
      expect(settings(child(r, 'mysql_variables')).monitor_galera_healthcheck_interval.value).toBe(500);
      expect(listItems(r, 'mysql_servers').map((s) => stringValue(s.address))).toEqual(
        [0, 1, 2].map((i) => `shop-${i}.shop.prod.svc.cluster.local`),
      );
    } finally {
      rmSync(custom.dir, { recursive: true, force: true });
    }
  });

  test('causal reads: every backend connection runs wsrep_sync_wait=1 first (mysql-init_connect); off by default', () => {
    // GIVEN the default file: no init_connect
    expect(settings(child(root, 'mysql_variables')!).init_connect).toBeUndefined();
    // WHEN causalReads is on
    const custom = render(synth({}, { causalReads: true }), PASSWORDS);
    try {
      // THEN mysql-init_connect holds the causal wait, typed as ProxySQL reads it, and nothing else changed
      const r = parse(custom.output);
      expect(typeProblems('mysql_variables', child(r, 'mysql_variables'), MYSQL_VARIABLES)).toEqual([]);
      expect(stringValue(settings(child(r, 'mysql_variables')!).init_connect)).toBe('SET SESSION wsrep_sync_wait=1');
      const without = (n: CfgNode) => Object.keys(settings(child(n, 'mysql_variables')!)).filter((k) => k !== 'init_connect').sort();
      expect(without(r)).toEqual(without(root));
    } finally {
      rmSync(custom.dir, { recursive: true, force: true });
    }
  });

  test('declared users: each in mysql_users with its password from its own Secret key, any character kept; a missing key is named', () => {
    // GIVEN two declared users whose passwords are keys of another Secret
    const users = [
      {
        name: 'reporter', passwordSecret: { name: 'app-users', key: 'reporter' },
        grants: [{ privileges: ['SELECT' as const], database: 'app' }],
      },
      { name: 'loader', passwordSecret: { name: 'app-users', key: 'loader' } },
    ];
    const withUsers = synth({ users }, { readWriteSplit: false });
    const passwords = { reporter: PASSWORDS[SECRET_KEYS.app], loader: "l'oader \\ \"x\" @@APP_PASSWORD@@" };
    // WHEN the real render script runs with that Secret mounted
    const ok = render(withUsers, PASSWORDS, [], TLS_FILES, { 'app-users': passwords });
    const missing = render(withUsers, PASSWORDS, [], TLS_FILES, { 'app-users': { reporter: 'x' } });
    try {
      // THEN the application account and both users, each password as ProxySQL's loader reads it
      expect(ok.result.status).toBe(0);
      const r = parse(ok.output);
      const found = listItems(r, 'mysql_users');
      expect(found.map((u) => stringValue(u.username))).toEqual(['app', 'reporter', 'loader']);
      expect((child(r, 'mysql_users')?.children ?? []).flatMap((u, i) => typeProblems(`mysql_users[${i}]`, u, USER_FIELDS))).toEqual([]);
      expect(asLoaded(stringValue(found[1].password)!, "'")).toBe(passwords.reporter);
      expect(asLoaded(stringValue(found[2].password)!, "'")).toBe(passwords.loader);
      // reporter starts in its first grant's database; loader has none
      expect(stringValue(found[1].default_schema)).toBe('app');
      expect(found[2].default_schema).toBeUndefined();
      // and a missing key is named with its Secret, nothing written
      expect(missing.result.status).not.toBe(0);
      expect(missing.result.stderr).toContain("Secret 'app-users' has no key 'loader'");
      expect(existsSync(missing.output)).toBe(false);
    } finally {
      rmSync(ok.dir, { recursive: true, force: true });
      rmSync(missing.dir, { recursive: true, force: true });
    }
  });

  test('the template in the ConfigMap holds placeholders where passwords go, and parses too', () => {
    const dir = mkdtempSync(join(tmpdir(), 'proxysql-template-'));
    try {
      const file = join(dir, TEMPLATE_FILE);
      writeFileSync(file, synthesized.configMap.data[TEMPLATE_FILE]);
      const t = parse(file);
      expect(stringValue(listItems(t, 'mysql_users')[0].password)).toBe('@@APP_PASSWORD@@');
      expect(stringValue(child(child(t, 'mysql_variables'), 'monitor_password'))).toBe('@@MONITOR_PASSWORD@@');
      expect(stringValue(child(child(t, 'admin_variables'), 'admin_credentials'))).toBe('admin:@@ADMIN_PASSWORD@@');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the render script refuses what ProxySQL could not load', () => {
  const synthesized = synth({ secretName: 'shop-secrets' });
  const runWith = (secret: Record<string, string | undefined>) => {
    const r = render(synthesized, secret);
    const written = existsSync(r.output);
    rmSync(r.dir, { recursive: true, force: true });
    return { status: r.result.status, stderr: r.result.stderr, written };
  };

  test.each([
    ['a missing key', { [SECRET_KEYS.app]: undefined }, [`Secret 'shop-secrets' has no key '${SECRET_KEYS.app}'`]],
    ['an empty value', { [SECRET_KEYS.monitor]: '' }, [`Secret 'shop-secrets' key '${SECRET_KEYS.monitor}' is empty`]],
    ['a : and a ; in the admin password', { [SECRET_KEYS.proxysqlAdmin]: 'a:b;c' },
      [`key '${SECRET_KEYS.proxysqlAdmin}' contains the character :`, `key '${SECRET_KEYS.proxysqlAdmin}' contains the character ;`]],
    ['a newline inside a password', { [SECRET_KEYS.app]: 'two\nlines' }, [`key '${SECRET_KEYS.app}' contains a control character`]],
  ])('%s: exit non-zero, name the Secret and the key, write nothing', (_name, override, messages) => {
    // GIVEN / WHEN
    const r = runWith({ ...PASSWORDS, ...override });
    // THEN
    expect(r.status).not.toBe(0);
    for (const m of messages) expect(r.stderr).toContain(m);
    expect(r.written).toBe(false);
  });

  test('a missing Secret: every key is named, with the likely cause', () => {
    const r = runWith({});
    expect(r.status).not.toBe(0);
    for (const key of Object.values(PASSWORD_PLACEHOLDERS).map((p) => p.key)) expect(r.stderr).toContain(
      `Secret 'shop-secrets' has no key '${key}'`,
    );
    expect(r.stderr).toContain("the Secret 'shop-secrets' probably does not exist");
    expect(r.written).toBe(false);
  });

  test('a missing Secret whose extra key a declared user names: still the likely cause', () => {
    // GIVEN a declared user whose password is one more key of the same (missing) credentials Secret
    const withUser = synth({
      secretName: 'shop-secrets', users: [{ name: 'reporter', passwordSecret: { name: 'shop-secrets', key: 'reporter' } }],
    });
    // WHEN the Secret is not there at all
    const r = render(withUser, {});
    rmSync(r.dir, { recursive: true, force: true });
    // THEN every key is named, the declared one too, and the hint counts only the credentials keys
    expect(r.result.status).not.toBe(0);
    expect(r.result.stderr).toContain("Secret 'shop-secrets' has no key 'reporter'");
    expect(r.result.stderr).toContain("the Secret 'shop-secrets' probably does not exist");
  });

  test('a template with a placeholder the script does not know is refused', () => {
    const broken = { ...synthesized, configMap: { data: { ...synthesized.configMap.data, [TEMPLATE_FILE]: 'a="@@ROOT_PASSWORD@@"\n' } } };
    const r = render(broken, PASSWORDS);
    rmSync(r.dir, { recursive: true, force: true });
    expect(r.result.status).not.toBe(0);
    expect(r.result.stderr).toContain('unknown placeholder @@ROOT_PASSWORD@@');
  });

  test('the script and PASSWORD_PLACEHOLDERS forbid the same characters', () => {
    // every forbidden character is refused for its key, and only for it
    for (const [name, p] of Object.entries(PASSWORD_PLACEHOLDERS)) {
      for (const ch of p.forbidden) {
        const r = runWith({ ...PASSWORDS, [p.key]: `x${ch}y` });
        expect({ name, ch, status: r.status }).toEqual({ name, ch, status: 1 });
      }
      const others = Object.values(PASSWORD_PLACEHOLDERS).flatMap((o) => [...o.forbidden]).filter((ch) => !p.forbidden.includes(ch));
      const r = runWith({ ...PASSWORDS, [p.key]: `x${others.join('')}y` });
      expect({ name, status: r.status, stderr: r.stderr }).toEqual({ name, status: 0, stderr: expect.stringContaining('wrote') });
    }
  });
});

describe('settings arithmetic', () => {
  test('serverVersionForImage follows the MariaDB handshake (5.5.5- prefix before 11.0)', () => {
    expect(serverVersionForImage('docker.io/library/mariadb:11.4.12')).toBe('11.4.12-MariaDB');
    expect(serverVersionForImage('mariadb:10.11.9-jammy')).toBe('5.5.5-10.11.9-MariaDB');
    expect(serverVersionForImage('registry:5000/mariadb:11.8')).toBe('11.8.0-MariaDB');
    expect(serverVersionForImage('registry:5000/mariadb')).toBeUndefined();
    expect(serverVersionForImage('mariadb:lts')).toBeUndefined();
    expect(serverVersionForImage('mariadb@sha256:0123')).toBeUndefined();
  });

  test('estimateFailover: worst case is count x interval plus the slower of connect (whole seconds) and check timeout', () => {
    const base = {
      pingIntervalMs: 3000, pingTimeoutMs: 1000, pingMaxFailures: 3, connectTimeoutServerMs: 1000, connectTimeoutServerMaxMs: 10000,
      dnsCacheTtlMs: 5000, dnsCacheRefreshIntervalMs: 1000,
    };
    expect(estimateFailover({
      ...base, healthcheckIntervalMs: 5000, healthcheckTimeoutMs: 800, healthcheckMaxTimeoutCount: 3, monitorConnectTimeoutMs: 600,
    }))
      .toEqual({ bestMs: 5000, worstMs: 16000, pingShunEarliestMs: 6000 });
    expect(estimateFailover({
      ...base, healthcheckIntervalMs: 1000, healthcheckTimeoutMs: 800, healthcheckMaxTimeoutCount: 2, monitorConnectTimeoutMs: 2500,
    }).worstMs)
      .toBe(4000);
  });

  test('renderLibconfig refuses values ProxySQL would misread', () => {
    expect(() => renderLibconfig({ a: 1.5 })).toThrow('32-bit integer');
    expect(() => renderLibconfig({ a: 2 ** 31 })).toThrow('32-bit integer');
    expect(() => renderLibconfig({ a: 'line\nbreak' })).toThrow('control characters');
    expect(() => renderLibconfig({ 'bad name': 1 })).toThrow('setting name');
    expect(renderLibconfig({ s: 'a"b\\c' })).toBe('s="a\\"b\\\\c"\n');
  });
});

describeLibconfig('in front of the primary/replica topology: routing by read_only', () => {
  const REPLICATION_FIELDS: Record<string, CfgNode['type']> = {
    writer_hostgroup: 'int', reader_hostgroup: 'int', check_type: 'string', comment: 'string',
  };
  const READ_ONLY_VARIABLES: Record<string, CfgNode['type']> = {
    ...Object.fromEntries(Object.entries(MYSQL_VARIABLES).filter(([k]) => !k.startsWith('monitor_galera_'))),
    monitor_read_only_interval: 'int', monitor_read_only_timeout: 'int', monitor_read_only_max_timeout_count: 'int',
    monitor_writer_is_also_reader: 'bool',
  };

  test('mysql_replication_hostgroups (check_type read_only) replaces the Galera row; the replicas are the only readers', () => {
    // GIVEN ProxySQL in front of a MariaDbReplication
    const chart = new Chart(Testing.app(), 'test');
    const db = new MariaDbReplication(chart, 'mariadb');
    const proxysql = new ProxySql(chart, 'proxysql', { backend: db });
    const manifests = Testing.synth(chart);
    const synthesized = {
      galera: undefined as never, proxysql,
      deployment: manifests.find((m) => m.kind === 'Deployment'),
      configMap: manifests.find((m) => m.kind === 'ConfigMap' && m.metadata.name === `${proxysql.name}-config`),
    };
    // WHEN the real render script fills it in and libconfig parses it
    const rendered = render(synthesized, PASSWORDS);
    try {
      expect(rendered.result.status).toBe(0);
      const root = parse(rendered.output);
      // THEN the types are those ProxySQL reads, and the rows name the construct's hostgroups
      const problems = [
        ...typeProblems('(top level)', root, {
          ...Object.fromEntries(Object.entries(TOP_LEVEL).filter(([k]) => k !== 'mysql_galera_hostgroups')),
          mysql_replication_hostgroups: 'list',
        }),
        ...typeProblems('mysql_variables', child(root, 'mysql_variables'), READ_ONLY_VARIABLES),
        ...(child(root, 'mysql_replication_hostgroups')?.children ?? []).flatMap((item, i) => typeProblems(
          `mysql_replication_hostgroups[${i}]`, item, REPLICATION_FIELDS,
        )),
      ];
      expect(problems).toEqual([]);
      const [row] = listItems(root, 'mysql_replication_hostgroups');
      expect([
        row.writer_hostgroup.value, row.reader_hostgroup.value, stringValue(row.check_type),
      ]).toEqual([proxysql.hostgroups.writer, proxysql.hostgroups.reader, 'read_only']);
      expect(settings(child(root, 'mysql_variables')!).monitor_writer_is_also_reader.value).toBe(false);
      expect(listItems(root, 'mysql_servers').map((s) => stringValue(s.address))).toEqual(db.podDnsNames);
    } finally {
      rmSync(rendered.dir, { recursive: true, force: true });
    }
  });

  test('causalReads is refused: the primary/replica topology has no causal wait a replica could run', () => {
    const chart = new Chart(Testing.app(), 'test');
    const db = new MariaDbReplication(chart, 'mariadb');
    expect(() => new ProxySql(chart, 'proxysql', { backend: db, causalReads: true })).toThrow(
      /causalReads must be false on this topology \(read_only of every server \(mysql_replication_hostgroups\)\), got true/,
    );
  });
});
