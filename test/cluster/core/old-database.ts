import { execFile, execFileSync } from 'child_process';
import { mkdirSync, writeFileSync } from 'fs';
import { join } from 'path';
import { promisify } from 'util';
import { PodCluster } from '../../../harness/index';
import { waitFor } from '../wait';

// The database an application runs on today, as the external-source tests need it: Debian's
// mariadbd (the packages the tests run everywhere) with a binary log, in a client namespace of
// the harness under a DNS name of another namespace, with a certificate for that name when asked.
// Its datadir is in the run directory, and its process is the cluster's to kill at cleanup, like
// every client process.

const run = promisify(execFile);

/** The old database: its DNS name, address and port, and SQL as its administrator (over its socket, no password). */
export class OldDatabase {
  /** Starts mariadbd in a new client namespace `client`, reachable as `host`:3306 from every pod. */
  public static async start(
    cluster: PodCluster,
    opts: { host: string; client: string; namespace: string; serverId: number; tls?: { cert: string; key: string; ca: string } },
  ): Promise<OldDatabase> {
    const slot = await cluster.addClient(opts.client, { namespace: opts.namespace });
    cluster.setHost(opts.host, slot.ip);
    const dir = join(cluster.runDir, `old-db-${opts.client}`);
    mkdirSync(dir, { recursive: true });
    const db = new OldDatabase(opts.host, slot.ip, dir);
    const tls: string[] = [];
    if (opts.tls) {
      for (const [file, pem] of Object.entries(opts.tls)) writeFileSync(join(dir, `${file}.pem`), pem, { mode: 0o600 });
      tls.push(`ssl_cert=${dir}/cert.pem`, `ssl_key=${dir}/key.pem`, `ssl_ca=${dir}/ca.pem`);
    }
    execFileSync('mariadb-install-db', ['--no-defaults', `--datadir=${dir}/data`, '--user=root', '--skip-test-db'], { stdio: 'ignore' });
    writeFileSync(join(dir, 'my.cnf'), ['[mysqld]', `datadir=${dir}/data`, `socket=${db.socket}`, `pid-file=${dir}/mysqld.pid`,
      `bind-address=${slot.ip}`, 'port=3306', 'user=root', 'skip-name-resolve', 'log_bin=old-bin', `server_id=${opts.serverId}`,
      'binlog_format=ROW', 'innodb_buffer_pool_size=64M', `log_error=${dir}/error.log`, ...tls, ''].join('\n'));
    void cluster.clientExec(['mariadbd', `--defaults-file=${dir}/my.cnf`], { client: opts.client, timeoutMs: 4 * 3600_000 })
      .catch(() => undefined);
    await waitFor('the old database to answer', async () => (await db.sql('SELECT 1').catch(() => [])).length === 1, 60_000);
    return db;
  }

  public readonly socket: string;

  private constructor(public readonly host: string, public readonly ip: string, dir: string) {
    this.socket = join(dir, 'mysqld.sock');
  }

  /** Rows of the last result set of `statements` (on stdin), as its administrator over the socket. */
  public async sql(statements: string): Promise<string[][]> {
    const child = run('mariadb', ['--no-defaults', '-S', this.socket, '-uroot', '-N', '-B'], { timeout: 60_000 });
    // a client that exits at once (the server not up yet) closes its stdin: an error of the promise, not of the stream
    child.child.stdin?.on('error', () => undefined);
    child.child.stdin?.end(statements);
    const { stdout } = await child;
    return stdout.split('\n').filter(Boolean).map((l) => l.split('\t'));
  }

  /** The highest seq of GTID domain `domain` in its binary log. */
  public async seq(domain = 0): Promise<number> {
    return seqOf((await this.sql('SELECT @@GLOBAL.gtid_binlog_pos'))[0]?.[0] ?? '', domain);
  }
}

/** The highest seq of one domain in a GTID list; -1 when it holds none. */
export function seqOf(list: string, domain: number): number {
  return list.split(',').map((g) => g.trim().split('-').map(Number))
    .filter((p) => p.length === 3 && p[0] === domain).reduce((top, p) => Math.max(top, p[2]), -1);
}
