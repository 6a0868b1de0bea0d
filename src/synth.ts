import { mkdtempSync, readdirSync, renameSync, rmSync, mkdirSync, existsSync, copyFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { App } from 'cdk8s';
import { GaleraProxySqlChart, GaleraProxySqlChartProps } from './galera-proxysql-chart';
import { ReplicationProxySqlChart } from './replication-proxysql-chart';

/**
 * Synthesizes the chart into a temporary directory and only then replaces the manifests in
 * `outdir`, so a validation error leaves `outdir` exactly as it was and stale files vanish.
 */
export function synthesizeTo(outdir: string, props: GaleraProxySqlChartProps, chartId = 'galera-proxysql'): string[] {
  const staging = mkdtempSync(join(tmpdir(), 'galera-synth-'));
  try {
    const app = new App({ outdir: staging });
    if (props.topology === 'replication') new ReplicationProxySqlChart(app, chartId, props);
    else new GaleraProxySqlChart(app, chartId, props);
    app.synth();
    const files = readdirSync(staging).filter((f) => f.endsWith('.k8s.yaml'));
    mkdirSync(outdir, { recursive: true });
    for (const old of readdirSync(outdir).filter((f) => f.endsWith('.k8s.yaml'))) rmSync(join(outdir, old));
    for (const f of files) {
      try {
        renameSync(join(staging, f), join(outdir, f));
      } catch {
        copyFileSync(join(staging, f), join(outdir, f)); // across file systems
      }
    }
    return files.map((f) => join(outdir, f));
  } finally {
    if (existsSync(staging)) rmSync(staging, { recursive: true, force: true });
  }
}
