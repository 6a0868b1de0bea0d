import { chmodSync, writeFileSync } from 'fs';
import { join } from 'path';
import { PodCluster, Workload } from '../harness/index';
import { which } from '../harness/proc';

/** What every benchmark needs of sysbench: where, as whom, how long. */
export interface SysbenchTarget {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly password: string;
  /**
   * Connect with TLS (sysbench --mysql-ssl=on). Debian's sysbench 1.0.20 on libmariadb always
   * asks for TLS when the server offers it, with client-key.pem, client-cert.pem and cacert.pem
   * from its working directory (`dir`): against a TLS server, write those first. @default false
   */
  readonly ssl?: boolean;
}

export interface SysbenchOptions {
  readonly workload: 'oltp_read_write' | 'oltp_write_only';
  readonly tables: number;
  readonly tableSize: number;
  readonly threads: number;
  /** Run in this client namespace (a PodCluster client name). @default the cluster's main client */
  readonly client?: string;
}

export interface SysbenchResult { readonly tps: number; readonly p95: number }

/**
 * Runs sysbench from a client namespace of the cluster as the application account; its options
 * (the password among them) go in a 0600 file in `dir`, never on a command line.
 */
export async function sysbench(
  cluster: PodCluster, dir: string, target: SysbenchTarget, o: SysbenchOptions, command: 'prepare' | 'run', seconds: number,
): Promise<SysbenchResult> {
  const config = join(dir, `sysbench-${target.name.replace(/[^a-z0-9]+/gi, '-')}.cfg`);
  writeFileSync(config, [
    `mysql-host=${target.host}`, `mysql-port=${target.port}`, 'mysql-user=app', `mysql-password=${target.password}`, 'mysql-db=app',
    `mysql-ssl=${target.ssl ? 'on' : 'off'}`,
    `tables=${o.tables}`, `table-size=${o.tableSize}`, `threads=${o.threads}`, `time=${seconds}`, 'report-interval=0', 'percentile=95',
    'db-ps-mode=disable',
    'mysql-ignore-errors=1213,1205,1180',
  ].join('\n'), { mode: 0o600 });
  chmodSync(config, 0o600);
  const r = await cluster.clientExec([which('sysbench'), `--config-file=${config}`, o.workload, command], {
    timeoutMs: (seconds + 300) * 1000, client: o.client, cwd: dir,
  });
  if (r.exitCode !== 0) throw new Error(`sysbench ${command} against ${target.name} failed: ${r.stderr || r.stdout}`);
  if (command === 'prepare') return { tps: 0, p95: 0 };
  const tps = Number(/transactions:\s+\d+\s+\(([0-9.]+) per sec/.exec(r.stdout)?.[1]);
  const p95 = Number(/95th percentile:\s+([0-9.]+)/.exec(r.stdout)?.[1]);
  if (!Number.isFinite(tps) || !Number.isFinite(p95)) throw new Error(`cannot read sysbench's output:\n${r.stdout}`);
  return { tps, p95 };
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** True when pod i is Synced in a cluster of `size` nodes. */
export async function synced(pods: Workload, i: number, size: number): Promise<boolean> {
  try {
    const rows = await pods.sql(
      i, "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_local_state_comment','wsrep_cluster_size')", { timeoutMs: 2000 },
    );
    const s = Object.fromEntries(rows.map(([k, v]) => [k, v]));
    return s.wsrep_local_state_comment === 'Synced' && Number(s.wsrep_cluster_size) === size;
  } catch {
    return false;
  }
}

/** Milliseconds from `since` until every listed pod is Synced in a cluster of `size`, polled every 200 ms. */
export async function untilSynced(
  pods: Workload, ordinals: readonly number[], since: number, size = 3, timeoutMs = 300_000,
): Promise<number> {
  const pending = new Set(ordinals);
  while (pending.size > 0) {
    if (Date.now() - since > timeoutMs) throw new Error(`pods ${[...pending].join(',')} not Synced after ${timeoutMs} ms`);
    for (const i of [...pending]) if (await synced(pods, i, size)) pending.delete(i);
    if (pending.size > 0) await sleep(200);
  }
  return Date.now() - since;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
