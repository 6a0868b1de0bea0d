// The public API: constructs, their props and every type a prop or a public member uses. Helpers
// carry the JSDoc internal tag and are stripped from the published typings; the values-file and
// status machinery is at the subpath `cdk8s-galera-proxysql/cli` (src/cli.ts).
export * from './core/backend';
export * from './core/pod';
export * from './core/pod-peer';
export * from './core/mariadb-cluster';
export * from './core/accounts';
export * from './core/external-source';
export * from './core/server-config';
export * from './galera/galera-config';
export * from './galera/galera-cluster';
export * from './galera/galera-routing';
export * from './proxysql/routing';
export * from './proxysql/proxysql-config';
export * from './proxysql/proxysql';
export * from './storage/storage';
export * from './charts/galera-proxysql';
export * from './charts/galera-proxysql-chart';
export * from './tls/tls';
export * from './network/network-policy';
export * from './backup/backup-location';
export * from './backup/mariadb-backup';
export * from './backup/backup-endpoint';
export * from './backup/restore';
export * from './backup/binlog-archiver';
export * from './monitoring/monitoring';
export * from './monitoring/metrics-exporter';
export * from './replication/mariadb-replication';
export * from './replication/replication-routing';
export * from './charts/replication-proxysql';
export * from './charts/replication-proxysql-chart';
export { newCertificateAuthority } from './tls/certificates';
export type { PemPair } from './tls/certificates';
export * from './core/credentials';
export * from './core/secrets';
export { duplicateObjectNames } from './core/unique-names';
export { ValidationError } from './values/validation';
export * from './values/formats';
