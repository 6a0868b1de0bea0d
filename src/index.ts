// The public API: constructs, their props and every type a prop or a public member uses. Helpers
// carry the JSDoc internal tag and are stripped from the published typings; the values-file and
// status machinery is at the subpath `cdk8s-galera-proxysql/cli` (src/cli.ts).
export * from './backend';
export * from './pod';
export * from './pod-peer';
export * from './galera-config';
export * from './galera-cluster';
export * from './proxysql-config';
export * from './proxysql';
export * from './storage';
export * from './galera-proxysql';
export * from './galera-proxysql-chart';
export * from './tls';
export * from './network-policy';
export * from './backup-location';
export * from './galera-backup';
export * from './monitoring';
export * from './mariadb-replication';
export * from './replication-proxysql';
export * from './replication-proxysql-chart';
export { newCertificateAuthority } from './certificates';
export type { PemPair } from './certificates';
export * from './credentials';
export * from './secrets';
export { duplicateObjectNames } from './unique-names';
export { ValidationError } from './validation';
