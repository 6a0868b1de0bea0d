import { mkdtempSync, readdirSync, renameSync, rmSync, mkdirSync, existsSync, copyFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { App } from 'cdk8s';
import { Construct } from 'constructs';
import { GaleraProxySqlChart } from '../charts/galera-proxysql-chart';
import { ReplicationProxySqlChart } from '../charts/replication-proxysql-chart';
import { CHART_TOPOLOGIES, ValuesFile } from '../values/values';
import { checkProps } from '../values/schema';
import { Checker, ValidationError } from '../values/validation';

/** The chart id, and so the manifest file (`<id>.k8s.yaml`), of each topology: named after it. */
export const CHART_IDS = { galera: 'galera-proxysql', replication: 'replication-proxysql' } as const;

/**
 * Synthesizes the chart into a temporary directory and only then replaces the manifests in
 * `outdir`, so a validation error leaves `outdir` exactly as it was and stale files vanish.
 * The file is named after the topology (CHART_IDS) unless `chartId` is given.
 */
export function synthesizeTo(outdir: string, props: ValuesFile,
  chartId: string = CHART_IDS[props?.topology === 'replication' ? 'replication' : 'galera']): string[] {
  const staging = mkdtempSync(join(tmpdir(), 'galera-synth-'));
  try {
    const app = new App({ outdir: staging });
    chartForValues(app, chartId, props);
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

/**
 * The chart a values file describes: its topology picks the chart, which gets the other sections
 * (and refuses those it does not build, by name).
 */
export function chartForValues(scope: Construct, id: string, values: ValuesFile): GaleraProxySqlChart | ReplicationProxySqlChart {
  const { topology, ...props } = values ?? {};
  if (topology !== undefined && !(CHART_TOPOLOGIES as readonly unknown[]).includes(topology)) {
    const c = new Checker('chart');
    checkProps(c, 'ValuesFile', { topology });
    // the other sections' mistakes too, in the same run (a scratch app: nothing is added to scope)
    try {
      new GaleraProxySqlChart(new App(), id, props);
    } catch (e) {
      if (e instanceof ValidationError) throw ValidationError.combine([c.error()!, e]);
      throw e;
    }
    throw c.error()!;
  }
  return topology === 'replication' ? new ReplicationProxySqlChart(scope, id, props) : new GaleraProxySqlChart(scope, id, props);
}
