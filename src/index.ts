export * from './galera-cluster';
export * from './proxysql';
export * from './storage';
export * from './galera-proxysql-chart';
export * from './credentials';
export * from './validation';
export { synthesizeTo } from './synth';
export { loadValues, checkValuesShape, VALUES_ENV, DEFAULT_VALUES_FILE } from './values';
