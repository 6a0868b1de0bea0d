import { sleep } from '../../harness/proc';

export { sleep };

/** Polls `check` every 500 ms until it resolves true (a rejection counts as false); throws after timeoutMs naming `what`. */
export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const t0 = Date.now();
  while (!(await check().catch(() => false))) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(500);
  }
}
