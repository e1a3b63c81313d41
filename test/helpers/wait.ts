import assert from 'node:assert/strict';

/** Poll (bounded) until `ok` holds; fails naming `what` (read when it fails) when it does not within `timeoutMs`. */
export async function until(what: string | (() => string), ok: () => Promise<boolean> | boolean, timeoutMs = 10000, everyMs = 25): Promise<void> {
  const start = Date.now();
  while (!(await ok())) {
    if (Date.now() - start > timeoutMs) assert.fail(`${typeof what === 'string' ? what : what()}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
