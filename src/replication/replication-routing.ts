import { show } from '../values/validation';
import { HealthCheckTiming, IProxySqlRouting, RoutingOptions, RoutingScalar, WriterRuleInput } from '../proxysql/routing';

/**
 * ProxySQL's routing for one primary with replicas: `mysql_replication_hostgroups` with
 * check_type read_only (the server with read_only=0 is the writer, the others readers), fed by the
 * read_only check of every server. The primary serves no reads (monitor_writer_is_also_reader off).
 */
export const REPLICATION_ROUTING: IProxySqlRouting = {
  description: 'read_only of every server (mysql_replication_hostgroups)',
  writerRule(r: WriterRuleInput): Record<string, Record<string, RoutingScalar>[]> {
    return {
      mysql_replication_hostgroups: [{
        writer_hostgroup: r.hostgroups.writer,
        reader_hostgroup: r.hostgroups.reader,
        check_type: 'read_only',
        comment: `primary/replica ${r.clusterName}`,
      }],
    };
  },
  healthRule(t: HealthCheckTiming): Record<string, RoutingScalar> {
    return {
      // The writer is the server with read_only=0 (the primary); the replicas are the readers.
      monitor_read_only_interval: t.intervalMs,
      monitor_read_only_timeout: t.timeoutMs,
      monitor_read_only_max_timeout_count: t.maxTimeoutCount,
      monitor_writer_is_also_reader: false,
    };
  },
  checkOptions(o: RoutingOptions, field: (name: string) => string): string[] {
    if (o.writerIsAlsoReader === undefined) return [];
    return [`${field('writerIsAlsoReader')} is a Galera setting; on the primary/replica topology the primary never serves reads, `
      + `got ${show(o.writerIsAlsoReader)}`];
  },
};
