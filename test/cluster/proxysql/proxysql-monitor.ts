import { MAX_TRANSACTIONS_BEHIND } from '../../../src/galera/galera-routing';

/**
 * ProxySQL's Galera health-check query for MariaDB backends, as sent by its monitor
 * (sysown/proxysql lib/MySQL_Monitor.cpp, v2.7, monitor_galera_thread).
 */
export const GALERA_HEALTHCHECK_QUERY = "SELECT (SELECT VARIABLE_VALUE FROM INFORMATION_SCHEMA.GLOBAL_STATUS WHERE "
  + "VARIABLE_NAME='WSREP_LOCAL_STATE') wsrep_local_state, "
  + '@@read_only read_only, '
  + "(SELECT VARIABLE_VALUE FROM INFORMATION_SCHEMA.GLOBAL_STATUS WHERE VARIABLE_NAME='WSREP_LOCAL_RECV_QUEUE') wsrep_local_recv_queue, "
  + '@@wsrep_desync wsrep_desync, @@wsrep_reject_queries wsrep_reject_queries, '
    + '@@wsrep_sst_donor_rejects_queries wsrep_sst_donor_rejects_queries, '
  + "(SELECT VARIABLE_VALUE FROM INFORMATION_SCHEMA.GLOBAL_STATUS WHERE VARIABLE_NAME='WSREP_CLUSTER_STATUS') wsrep_cluster_status, "
  + "(SELECT 'DISABLED') pxc_maint_mode";

export type Verdict = 'writer-candidate' | 'reader' | 'offline';

/**
 * What ProxySQL concludes from one result row (or an error), following its documented decision
 * logic: any non-timeout error or a non-Primary, desynced, rejecting or non-Synced node is
 * taken offline; read_only nodes within max_transactions_behind are readers; the rest may write.
 */
export function proxysqlVerdict(row: string[] | Error): Verdict {
  if (row instanceof Error) return 'offline';
  const [localState, readOnly, recvQueue, desync, rejectQueries, donorRejects, clusterStatus] = row;
  if (clusterStatus !== 'Primary') return 'offline';
  if (desync === '1' || desync === 'ON') return 'offline';
  if (rejectQueries !== 'NONE') return 'offline';
  const donorOk = localState === '2' && (donorRejects === '0' || donorRejects === 'OFF');
  if (localState !== '4' && !donorOk) return 'offline';
  if (readOnly === '1' || readOnly === 'ON') return Number(recvQueue) > MAX_TRANSACTIONS_BEHIND ? 'offline' : 'reader';
  return 'writer-candidate';
}
