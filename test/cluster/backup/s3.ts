import { spawnSync } from 'child_process';
import { tmpdir } from 'os';
import { PodCluster } from '../../../harness/index';
import { waitFor } from '../wait';

// The S3 bucket of the backup tests: s3rver (npm) on a directory of the test machine, served from
// a client namespace of the harness under the name the charts are given, and rclone (Debian's,
// the version of the rclone image) to look into it as the jobs do.

/** The bucket: its name in the cluster, its port and name, and the keys of its Secret. */
export const S3 = {
  host: 'minio.storage.svc', port: 9000, bucket: 'db-backups', keys: { 'access-key-id': 'S3RVER', 'secret-access-key': 'S3RVER' },
} as const;
/** The bucket as a backup destination or restore source takes it (the Secret 'backup-s3'). */
export const S3_LOCATION = { endpoint: `http://${S3.host}:${S3.port}`, bucket: S3.bucket, secretName: 'backup-s3' };
const S3RVER = require.resolve('s3rver/bin/s3rver.js');

/** s3rver serving a directory to one harness cluster; stop() and start() take it away and bring it back. */
export class Bucket {
  /** Serves the bucket (s3rver on `dir`) from a client namespace of `cluster`, under the name S3.host, with the Secret 'backup-s3'. */
  public static async serve(cluster: PodCluster, dir: string): Promise<Bucket> {
    const slot = await cluster.addClient('s3', { labels: { app: 's3' }, namespace: 'storage' });
    cluster.setHost(S3.host, slot.ip);
    cluster.setSecret('backup-s3', { ...S3.keys });
    const bucket = new Bucket(cluster, dir, slot.ip);
    await bucket.start();
    return bucket;
  }

  private constructor(private readonly cluster: PodCluster, private readonly dir: string, private readonly ip: string) {}

  /** Starts s3rver (killed by the cluster's cleanup, or by stop()) and waits until it listens. */
  public async start(): Promise<void> {
    const args = [S3RVER, '-d', this.dir, '-a', this.ip, '-p', String(S3.port), '--configure-bucket', S3.bucket, '--no-vhost-buckets',
      '--silent'];
    void this.cluster.clientExec([process.execPath, ...args], { client: 's3', timeoutMs: 60 * 60_000 }).catch(() => undefined);
    await waitFor('s3rver to listen', () => this.listens(), 30_000);
  }

  /** Kills s3rver: the bucket refuses connections until start(). */
  public async stop(): Promise<void> {
    spawnSync('pkill', ['-KILL', '-f', `s3rver.js -d ${this.dir} -a ${this.ip} `]);
    await waitFor('s3rver to stop listening', async () => !(await this.listens()), 30_000);
  }

  /** rclone with the bucket as remote "b", from the s3 client namespace; its output. */
  public async rclone(args: string[]): Promise<string> {
    const env = {
      PATH: process.env.PATH, HOME: tmpdir(), RCLONE_CONFIG_B_TYPE: 's3', RCLONE_CONFIG_B_PROVIDER: 'Other',
      RCLONE_CONFIG_B_ENDPOINT: S3_LOCATION.endpoint, RCLONE_CONFIG_B_FORCE_PATH_STYLE: 'true',
      RCLONE_CONFIG_B_ACCESS_KEY_ID: S3.keys['access-key-id'], RCLONE_CONFIG_B_SECRET_ACCESS_KEY: S3.keys['secret-access-key'],
    };
    const r = await this.cluster.clientExec(['rclone', ...args], { client: 's3', env, timeoutMs: 120_000 });
    if (r.exitCode !== 0) throw new Error(`rclone ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  }

  /** The files under a prefix of the bucket, sorted. */
  public async files(prefix: string): Promise<string[]> {
    return (await this.rclone(['lsf', '--files-only', `b:${S3.bucket}/${prefix}`])).split('\n').filter(Boolean).sort();
  }

  private async listens(): Promise<boolean> {
    return (await this.cluster.clientExec(['bash', '-c', `</dev/tcp/${this.ip}/${S3.port}`], { client: 's3' })).exitCode === 0;
  }
}
