import { spawnSync } from 'child_process';
import { mkdtempSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { stringify } from 'yaml';
import { dashboardPanels, RuleGroup } from '../../src/monitoring/monitoring';
import { MonitoredCluster } from '../../src/monitoring/topology-metrics';

// Helpers for the monitoring tests: promtool (Debian's `prometheus` package), the metric names
// the rules and the dashboard use, and the Prometheus text format a real scrape returns.

/** Runs promtool; its exit code and output. */
export function promtool(args: string[], cwd?: string): { status: number; output: string } {
  const r = spawnSync('promtool', args, { encoding: 'utf8', cwd, timeout: 60_000 });
  if (r.error) throw new Error(`promtool could not run (Debian package prometheus): ${r.error.message}`);
  return { status: r.status ?? -1, output: `${r.stdout}${r.stderr}` };
}

/** A new temporary directory. */
export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Writes rule groups as a Prometheus rules file; returns its path. */
export function writeRules(dir: string, groups: RuleGroup[], file = 'rules.yaml'): string {
  const path = join(dir, file);
  writeFileSync(path, stringify({ groups }));
  return path;
}

/** Every PromQL expression of the dashboard, as recording rules (so that promtool parses them). */
export function dashboardAsRecordingRules(m: MonitoredCluster): { groups: { name: string; rules: { record: string; expr: string }[] }[] } {
  const exprs = dashboardPanels(m).flatMap((p) => p.targets.map((t) => t.expr));
  return { groups: [{ name: 'dashboard', rules: exprs.map((expr, i) => ({ record: `dashboard:expr_${i}`, expr })) }] };
}

/** The metric names an expression reads (those of the exporters and of Kubernetes' own). */
export function metricNamesOf(expr: string): string[] {
  return [...new Set(expr.match(/\b(mysql|proxysql|kubelet|kube|certmanager)_[a-zA-Z0-9_]+\b/g) ?? [])];
}

/** One sample of a scrape: name, labels, value. */
export interface Sample { readonly name: string; readonly labels: Record<string, string>; readonly value: number }

/** Parses the Prometheus text exposition format (no timestamps, which the exporters do not send). */
export function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return out;
}

/** The value of the single sample of `name` (labels matching `labels`), or undefined. */
export function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const s = samples.filter((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  if (s.length > 1) throw new Error(`${name} ${JSON.stringify(labels)} has ${s.length} samples`);
  return s[0]?.value;
}

/** A series selector in promtool's input_series syntax. */
export function seriesOf(name: string, labels: Record<string, string>): string {
  return `${name}{${Object.entries(labels).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ')}}`;
}
