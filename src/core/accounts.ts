import type * as k8s from '../../imports/k8s';
import { Checker } from '../values/validation';
import { secretKeysVolume } from './pod';
import { CharacterSetName, CollationName, DatabaseName, DnsSubdomain, MariaDbUserName, SecretKeyName, TableName } from '../values/formats';

// Users, databases and grants the cluster keeps as declared (issue 23): created and changed on
// every rollout, and dropped once removed from the declaration, only if the cluster created them.
// Passwords stay in Secrets; what the pods receive is the declaration without them.

/** A privilege a declared user may be granted on a database or a table. */
export type GrantPrivilege = 'SELECT' | 'INSERT' | 'UPDATE' | 'DELETE' | 'CREATE' | 'DROP' | 'ALTER' | 'INDEX' | 'REFERENCES'
  | 'CREATE VIEW' | 'SHOW VIEW' | 'TRIGGER' | 'EXECUTE' | 'CREATE ROUTINE' | 'ALTER ROUTINE' | 'LOCK TABLES'
  | 'CREATE TEMPORARY TABLES' | 'EVENT' | 'ALL PRIVILEGES';

/** Privileges on every table of a database, or on one table. */
export interface Grant {
  /** What is granted (ALL PRIVILEGES alone, or a list of the others). */
  readonly privileges: GrantPrivilege[];
  /** The database: a declared one or the application database. */
  readonly database: DatabaseName;
  /** One table of it. @default - every table of the database */
  readonly table?: TableName;
}

/** A key of a Secret in the cluster's namespace. */
export interface SecretKeyReference {
  /** The Secret. */
  readonly name: DnsSubdomain;
  /** The key whose value is the password. */
  readonly key: SecretKeyName;
}

/** An account the cluster creates and keeps as declared; it connects from anywhere ('%'), through ProxySQL too. */
export interface DeclaredUser {
  /** The account name; not one the scripts own, not the application account. */
  readonly name: MariaDbUserName;
  /** Its password: a Secret key (never in the manifests). */
  readonly passwordSecret: SecretKeyReference;
  /** What it may do. @default - nothing but connect */
  readonly grants?: Grant[];
  /**
   * MAX_USER_CONNECTIONS: its connections at once on one node; 0 is no limit.
   * @default 0 @asType integer @minimum 0 @maximum 100000
   */
  readonly maxConnections?: number;
}

/** A database the cluster creates (never dropped: removing it from the declaration leaves it and its data). */
export interface DeclaredDatabase {
  /** The database name. */
  readonly name: DatabaseName;
  /** Its default character set. @default 'utf8mb4' */
  readonly characterSet?: CharacterSetName;
  /** Its default collation, of that character set. @default 'utf8mb4_general_ci' */
  readonly collation?: CollationName;
}

/** The declaration with defaults applied, as the pods receive it (no password). @internal */
export interface ResolvedAccounts {
  readonly databases: readonly Required<DeclaredDatabase>[];
  readonly users: readonly {
    readonly name: string;
    readonly passwordSecret: SecretKeyReference;
    readonly grants: readonly { readonly privileges: readonly GrantPrivilege[]; readonly database: string; readonly table: string }[];
    readonly maxConnections: number;
  }[];
}

/** The props of the shared core that declare accounts. @internal */
export interface AccountsProps {
  readonly users?: readonly DeclaredUser[];
  readonly databases?: readonly DeclaredDatabase[];
}

/** The accounts and database the cluster owns already. @internal */
export interface ClusterAccounts {
  readonly reservedUsers: readonly string[];
  readonly appUser: string;
  readonly appDatabase: string;
  /** The credentials Secret and its keys, which no declared user may share. */
  readonly credentials?: { readonly secretName: string; readonly keys: readonly string[] };
}

/** Where the node pods see the declared users' password Secrets, each in its own directory. @internal */
export const DECLARED_PASSWORDS_DIR = '/etc/mariadb/declared-passwords';

/** The schemas MariaDB keeps for itself: never declared. */
const SYSTEM_DATABASES = ['mysql', 'information_schema', 'performance_schema', 'sys'];

/**
 * Checks the declaration against itself and the cluster's own accounts, reporting every problem
 * into `c`, and applies the defaults. @internal
 */
export function resolveAccounts(c: Checker, p: AccountsProps, own: ClusterAccounts): ResolvedAccounts {
  const databases = (p.databases ?? []).map((d) => ({
    name: d.name, characterSet: d.characterSet ?? 'utf8mb4', collation: d.collation ?? 'utf8mb4_general_ci',
  }));
  for (const [i, d] of databases.entries()) {
    const field = c.f(`databases[${i}]`);
    c.check(!SYSTEM_DATABASES.includes(d.name.toLowerCase()),
      `${field}.name must not be a system database (${SYSTEM_DATABASES.join(', ')}), got '${d.name}'`);
    c.check(d.name !== own.appDatabase,
      `${field}.name '${d.name}' is the application database (appDatabase), which the cluster creates already`);
    c.check(d.collation.startsWith(`${d.characterSet}_`), `${field}.collation '${d.collation}' is not a collation of `
      + `${field}.characterSet '${d.characterSet}' (its collations start with '${d.characterSet}_')`);
    duplicate(c, `databases[${i}].name`, d.name, databases.slice(0, i).map((x) => x.name));
  }
  const declared = databases.map((d) => d.name).filter((n) => !SYSTEM_DATABASES.includes(n.toLowerCase()));
  const grantable = [...new Set([own.appDatabase, ...declared])];
  const users = (p.users ?? []).map((u, i) => {
    const field = `users[${i}]`;
    const owned = [...own.reservedUsers, own.appUser];
    c.check(!owned.includes(u.name),
      `${c.f(`${field}.name`)} must not be one of the accounts the cluster owns (${owned.join(', ')}), got '${u.name}'`);
    duplicate(c, `${field}.name`, u.name, (p.users ?? []).slice(0, i).map((x) => x.name));
    const cred = own.credentials;
    c.check(!cred || u.passwordSecret.name !== cred.secretName || !cred.keys.includes(u.passwordSecret.key),
      `${c.f(`${field}.passwordSecret`)} names the key '${u.passwordSecret.key}' of the credentials Secret '${cred?.secretName}', `
      + `which holds the password of an account the cluster owns: name another key (not ${cred?.keys.join(', ')}) or another Secret`);
    const grants = (u.grants ?? []).map((g, k) => {
      const gf = c.f(`${field}.grants[${k}]`);
      c.check(g.privileges.length > 0, `${gf}.privileges must not be empty`);
      c.check(!(g.privileges.includes('ALL PRIVILEGES') && g.privileges.length > 1),
        `${gf}.privileges: ALL PRIVILEGES stands alone, got ${g.privileges.join(', ')}`);
      const twice = g.privileges.filter((x, j) => g.privileges.indexOf(x) !== j);
      c.check(twice.length === 0, `${gf}.privileges names ${[...new Set(twice)].join(', ')} more than once`);
      c.check(grantable.includes(g.database),
        `${gf}.database must be the application database or a declared one (${grantable.join(', ')}), got '${g.database}'`);
      return { privileges: g.privileges, database: g.database, table: g.table ?? '*' };
    });
    return { name: u.name, passwordSecret: u.passwordSecret, grants, maxConnections: u.maxConnections ?? 0 };
  });
  return { databases, users };
}

function duplicate(c: Checker, field: string, value: string, before: readonly string[]): void {
  c.check(!before.includes(value), `${c.f(field)} '${value}' is declared more than once`);
}

/** A declared user as ProxySQL needs it: its name, its password's Secret key and its default schema. */
export interface BackendUser {
  /** The account name. */
  readonly name: string;
  /** The Secret key holding its password. */
  readonly passwordSecret: SecretKeyReference;
  /** The schema a session starts in (its first grant's database). @default - none (ProxySQL's default) */
  readonly defaultSchema?: string;
}

/** The declared users as ProxySQL needs them. @internal */
export function backendUsers(r: ResolvedAccounts): BackendUser[] {
  return r.users.map((u) => ({
    name: u.name, passwordSecret: u.passwordSecret, ...(u.grants[0] ? { defaultSchema: u.grants[0].database } : {}),
  }));
}

/** One Secret volume per Secret the declared users' passwords come from, with only their keys. @internal */
interface PasswordVolume {
  /** The volume's name in the pod. */
  readonly volume: string;
  readonly secretName: string;
  readonly keys: readonly string[];
}

/** The Secret volumes the declared users' passwords need, in declaration order. @internal */
function passwordVolumes(users: readonly { readonly passwordSecret: SecretKeyReference }[]): PasswordVolume[] {
  const secrets = [...new Set(users.map((u) => u.passwordSecret.name))];
  return secrets.map((secretName, i) => ({
    volume: `declared-passwords-${i}`,
    secretName,
    keys: [...new Set(users.filter((u) => u.passwordSecret.name === secretName).map((u) => u.passwordSecret.key))],
  }));
}

/** The pod volumes of the declared users' password Secrets: only the declared keys (secretKeysVolume). @internal */
export function passwordSecretVolumes(users: readonly { readonly passwordSecret: SecretKeyReference }[]): k8s.Volume[] {
  return passwordVolumes(users).map((v) => secretKeysVolume(v.volume, v.secretName, v.keys));
}

/** Their mounts: each Secret in its own directory below `dir` (see passwordFile). @internal */
export function passwordSecretMounts(users: readonly { readonly passwordSecret: SecretKeyReference }[], dir: string): k8s.VolumeMount[] {
  return passwordVolumes(users).map((v) => ({ name: v.volume, mountPath: `${dir}/${v.secretName}`, readOnly: true }));
}

/** Where a declared user's password file is, its Secret mounted below `dir` in its own directory. @internal */
export function passwordFile(dir: string, s: SecretKeyReference): string {
  return `${dir}/${s.name}/${s.key}`;
}

/**
 * The declaration as scripts/common/accounts.sh reads it (accounts.list in the ConfigMap): one
 * tab-separated line per database, user and grant; passwords are files below `dir`. Undefined
 * when nothing is declared. @internal
 */
export function accountsList(r: ResolvedAccounts, dir: string): string | undefined {
  if (r.databases.length === 0 && r.users.length === 0) return undefined;
  const lines = [
    ...r.databases.map((d) => ['database', d.name, d.characterSet, d.collation]),
    ...r.users.map((u) => ['user', u.name, String(u.maxConnections), passwordFile(dir, u.passwordSecret)]),
    ...r.users.flatMap((u) => u.grants.map((g) => ['grant', u.name, g.privileges.join(','), g.database, g.table])),
  ];
  return lines.map((l) => `${l.join('\t')}\n`).join('');
}
