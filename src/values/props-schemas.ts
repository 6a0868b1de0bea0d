import type { MariaDbBackupProps } from '../backup/mariadb-backup';
import type { BackupOptions } from '../charts/database-proxysql';
import type { GaleraSection } from '../charts/galera-proxysql';
import type { GaleraProxySqlChartProps } from '../charts/galera-proxysql-chart';
import type { ReplicationSection } from '../charts/replication-proxysql';
import type { GaleraClusterProps } from '../galera/galera-cluster';
import type { MonitoringOptions, MonitoringProps } from '../monitoring/monitoring';
import type { MariaDbNetworkPoliciesProps, NetworkPeer, NetworkPolicyProps } from '../network/network-policy';
import type { ProxySqlOptions, ProxySqlProps } from '../proxysql/proxysql';
import type { MariaDbReplicationProps } from '../replication/mariadb-replication';
import type { StorageProps } from '../storage/storage';
import type { ValuesFile } from './values';

/**
 * What each construct's props and each values-file section are validated against, by schema name.
 * tools/values-schema.ts generates their JSON schemas (src/values/props.schema.json) from the
 * props interfaces and their JSDoc; checkProps validates with them. References to other
 * constructs (a cluster, a backend) are no data and are left out: the constructs check them.
 * Not exported from the package root, and not tagged internal: the generator skips internal types.
 */
export interface PropsSchemas {
  readonly GaleraCluster: GaleraClusterProps;
  readonly MariaDbReplication: MariaDbReplicationProps;
  readonly ProxySql: Omit<ProxySqlProps, 'backend'>;
  readonly Storage: StorageProps;
  readonly MariaDbBackup: Omit<MariaDbBackupProps, 'cluster'>;
  readonly MariaDbMonitoring: MonitoringOptions;
  readonly MariaDbNetworkPolicies: Omit<MariaDbNetworkPoliciesProps, 'cluster' | 'proxysql' | 'backup'>;
  readonly NetworkPeer: NetworkPeer;
  /** The chart's own settings (a chart's other props are its sections). */
  readonly Chart: Pick<GaleraProxySqlChartProps, 'namespace' | 'createNamespace'>;
  readonly GaleraSection: GaleraSection;
  readonly ReplicationSection: ReplicationSection;
  readonly ProxySqlSection: ProxySqlOptions;
  readonly NetworkPolicySection: NetworkPolicyProps;
  readonly BackupSection: BackupOptions;
  readonly MonitoringSection: MonitoringProps;
  readonly ValuesFile: ValuesFile;
}
