import { ResponseCode } from '../../src/protocol/constants.js';
import { AdminError } from '../../src/client/admin-client.js';

/** The response code an admin operation ended with: SUCCESS when it resolved, the refusal's code when it threw. */
export async function rcOf(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return ResponseCode.SUCCESS;
  } catch (err) {
    if (err instanceof AdminError) return err.responseCode;
    throw err;
  }
}
