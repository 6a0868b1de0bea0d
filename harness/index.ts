// The pod harness: runs synthesized manifests' pods for real in network namespaces (see cluster.ts).
export { PodCluster } from './cluster';
export type { PodClusterOptions, Slot } from './cluster';
export { Workload, sqlIn } from './workload';
export type { SqlOptions } from './workload';
export { PodRuntime } from './pod';
export type { PodStatus, ProbeKind, ProbeResult, StopResult, StopSignal, Completion } from './pod';
export type { ExecResult } from './containers';
export type { Ack, WriterHandle, WriterOptions, WriterResult, LedgerReport, OpsLedgerReport, OpsFailures } from './ledger';
export { formatOpsReport } from './ledger';
