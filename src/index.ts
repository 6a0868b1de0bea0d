// The public API: constructs, their props and every type a prop uses. Everything else carries
// the JSDoc internal tag and is stripped from the published typings.
export * from './backend';
export * from './pod';
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
export * from './status';
export * from './mariadb-replication';
export { newCertificateAuthority, issueCertificate, tlsSecrets, serialOf } from './certificates';
export type { PemPair, LeafRequest, TlsSecretRequest } from './certificates';
export * from './credentials';
export { ValidationError } from './validation';
export { synthesizeTo } from './synth';
export { loadValues, parseValues, VALUES_ENV, DEFAULT_VALUES_FILE } from './values';
export * from './replication-proxysql';
export * from './replication-proxysql-chart';
