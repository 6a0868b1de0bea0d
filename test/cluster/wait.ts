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

/**
 * Until `writer` has acknowledged at least `count` writes in all: progress is waited for up to a
 * generous bound, never asserted inside a fixed window (a loaded machine may take seconds).
 */
export async function untilAcked(writer: { ackedCount(): number }, count: number, what: string, timeoutMs = 120_000): Promise<void> {
  const t0 = Date.now();
  while (writer.ackedCount() < count) {
    if (Date.now() - t0 > timeoutMs) {
      throw new Error(`${what}: ${writer.ackedCount()} writes acknowledged, not ${count}, within ${timeoutMs} ms`);
    }
    await sleep(100);
  }
}
