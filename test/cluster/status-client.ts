import { StatusClient } from '../../src/cli';
import { Workload } from '../../harness/index';

/**
 * The status command's client over the pod harness, as the user's kubectl would answer: the pods
 * with the project's label (component and app name from the manifests' labels), exec into a named
 * container, and a container's current log.
 */
export function harnessStatusClient(sets: readonly { w: Workload; ordinals: readonly number[] }[]): StatusClient {
  const ours = sets.filter(({ w }) => w.template.metadata?.labels?.['app.kubernetes.io/part-of'] === 'galera-proxysql');
  const find = (name: string) => {
    for (const { w, ordinals } of ours) for (const i of ordinals) if (w.podName(i) === name) return { w, i };
    throw new Error(`Error from server (NotFound): pods "${name}" not found`);
  };
  return {
    pods: async () => ours.flatMap(({ w, ordinals }) => ordinals.map((i) => {
      const st = w.status(i);
      const labels = w.template.metadata?.labels ?? {};
      return {
        name: w.podName(i), component: labels['app.kubernetes.io/component'] ?? '', app: labels['app.kubernetes.io/name'] ?? '',
        ready: st.ready, restarts: st.restarts, phase: st.state,
      };
    })),
    exec: async (pod, container, command) => {
      const { w, i } = find(pod);
      const r = await w.exec(i, command, { container, timeoutMs: 15_000 });
      if (r.exitCode !== 0) throw new Error(`command terminated with exit code ${r.exitCode}: ${r.output}`);
      return r.output;
    },
    logs: async (pod, container) => {
      const { w, i } = find(pod);
      return w.logs(i, container);
    },
  };
}
