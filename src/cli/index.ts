// The command-line side of the package (`cdk8s-galera-proxysql/cli`): values files, synthesis into
// a directory, and the status command's functions. Constructs and their props are at the root.
export { chartForValues, synthesizeTo } from './synth';
export { CHART_SECTIONS, CHART_TOPOLOGIES, DEFAULT_VALUES_FILE, loadValues, parseValues, VALUES_ENV } from '../values/values';
export type { ChartTopology, ValuesFile } from '../values/values';
export { collectStatus, formatStatus, kubectlClient, statusProblems } from './status';
export type { ArchiverStatus, ClusterStatus, NodeStatus, ProxyStatus, ReplicationNodeStatus, StatusClient, StatusPod } from './status';
