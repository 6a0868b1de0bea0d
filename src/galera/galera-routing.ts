import { show } from '../values/validation';
import {
  HealthCheckTiming, IProxySqlRouting, RoutingOptions, RoutingScalar, WRITER_IS_ALSO_READER_VALUES, WriterRuleInput,
} from '../proxysql/routing';

/** Only read_only=1 nodes are compared with it (ProxySQL's "slave is lagging"); Galera nodes here are writable. @internal */
export const MAX_TRANSACTIONS_BEHIND = 100;

/**
 * ProxySQL's routing for a Galera cluster: `mysql_galera_hostgroups` (one writer, the other
 * Synced nodes backup writers and readers, the rest offline), fed by the Galera health check of
 * every node (wsrep_local_state, wsrep_cluster_status, wsrep_desync, wsrep_reject_queries).
 */
export const GALERA_ROUTING: IProxySqlRouting = {
  description: 'the wsrep status of every node (mysql_galera_hostgroups)',
  // 1: reads (SELECT, SHOW, BEGIN) wait until the node has applied what the cluster had
  // committed when they began (MariaDB's wsrep_sync_wait bitmask).
  causalReadStatement: 'SET SESSION wsrep_sync_wait=1',
  writerRule(r: WriterRuleInput): Record<string, Record<string, RoutingScalar>[]> {
    const hg = r.hostgroups;
    return {
      mysql_galera_hostgroups: [{
        writer_hostgroup: hg.writer,
        backup_writer_hostgroup: hg.backupWriter,
        reader_hostgroup: hg.reader,
        offline_hostgroup: hg.offline,
        active: 1,
        max_writers: 1,
        writer_is_also_reader: r.writerIsAlsoReader,
        max_transactions_behind: MAX_TRANSACTIONS_BEHIND,
        comment: `galera cluster ${r.clusterName}`,
      }],
    };
  },
  healthRule(t: HealthCheckTiming): Record<string, RoutingScalar> {
    return {
      monitor_galera_healthcheck_interval: t.intervalMs,
      monitor_galera_healthcheck_timeout: t.timeoutMs,
      monitor_galera_healthcheck_max_timeout_count: t.maxTimeoutCount,
    };
  },
  checkOptions(o: RoutingOptions, field: (name: string) => string): string[] {
    const value = o.writerIsAlsoReader;
    if (value === undefined) return [];
    if (!(WRITER_IS_ALSO_READER_VALUES as readonly unknown[]).includes(value)) {
      return [`${field('writerIsAlsoReader')} must be 1 or 2, got ${show(value)}: 0 leaves no reader at all because every Galera node is `
        + `writable`];
    }
    if (value === 2 && o.replicas < 3 && o.readWriteSplit) {
      return [`${field('writerIsAlsoReader')} must be 1 with ${o.replicas} Galera node(s), got 2: with 2 ProxySQL has no reader whenever `
        + 'the writer is the only node, so every SELECT would fail'];
    }
    return [];
  },
};
