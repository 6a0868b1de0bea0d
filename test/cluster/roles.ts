import { Workload } from '../../harness/index';
import { NODE_PATHS } from '../../src/core/node-env';
import { waitFor } from './wait';

// The role a primary/replica pod runs as, as its start script writes it (repl-start.sh: the
// runtime file `role`), and its replication status, for the suites of that topology.

/** The role pod i of a primary/replica workload runs as (primary, replica, fenced, handover...). */
export async function roleOf(pods: Workload, i: number): Promise<string> {
  return (await pods.exec(i, ['cat', `${NODE_PATHS.runtime}/role`])).output.trim();
}

/** The pod among `ordinals` whose role is primary, waited for (2 minutes). */
export async function primaryOf(pods: Workload, ordinals: readonly number[] = [0, 1, 2]): Promise<number> {
  let found = -1;
  await waitFor('a primary', async () => {
    for (const i of ordinals) {
      if (pods.isRunning(i) && (await roleOf(pods, i).catch(() => '')) === 'primary') { found = i; return true; }
    }
    return false;
  }, 120_000);
  return found;
}

/** SHOW SLAVE STATUS of pod i, field by field (empty when it replicates from nobody). */
export async function slaveStatusOf(pods: Workload, i: number): Promise<Record<string, string>> {
  const out = (await pods.exec(i, ['mariadb', `--defaults-file=${NODE_PATHS.runtime}/my.cnf`, '-E', '-e', 'SHOW SLAVE STATUS'])).output;
  return Object.fromEntries(out.split('\n').map((l) => /^\s*([A-Za-z_]+): ?(.*)$/.exec(l)).filter((m) => m).map((m) => [m![1], m![2]]));
}
