// Writes at a steady rate to a node as an administrator would: over the wire, each write a CREATE_HANDLE on
// its own TCP connection in an HS_MAC session (one round trip; a challenge answered with an RSA signature per
// write would cost the shared CPUs more than the node's own work), or over HTTP, a PUT in a `Handle` session
// on kept-alive connections (no connection set up per write). Writes start on a deadline schedule (write i is due at
// start + i / rate), so a late timer makes the next writes go at once instead of shifting them all: the rate
// holds over the run. Writes overlap when the node is slower than the rate, up to a bound.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { AdminClient } from '../src/client/admin-client.js';
import { HandleClient } from '../src/client/handle-client.js';
import { HttpApiClient } from '../src/client/http-api-client.js';
import { readPrivateKey } from '../src/protocol/keyfile.js';
import { makeValue } from '../src/model/value.js';
import { PREFIX } from './common.js';

export interface PacedRun {
  /** handle → the moment (performance.now()) its write was acknowledged. */
  acked: Map<string, number>;
  failed: number;
  /** Writes acknowledged per second, over the time from the first write's start to the last acknowledgement. */
  achievedRate: number;
}

/**
 * Writes in flight at most; beyond it the writer waits, and the achieved rate shows that the node could not
 * keep up. Kept small: a long queue of writes at the primary would delay the mirror's own requests there and
 * measure the queue, not replication.
 */
const MAX_IN_FLIGHT = 32;

export type WriterKind = 'wire' | 'http';

export interface PacedOptions {
  primaryDir: string;
  /** The primary's Handle port (wire) and HTTP API base URL (http). */
  port: number;
  httpUrl?: string;
  writer: WriterKind;
  rate: number;
  seconds: number;
  stem: string;
}

export async function pacedWrites(o: PacedOptions): Promise<PacedRun> {
  const key = readPrivateKey(readFileSync(path.join(o.primaryDir, 'keys', `admin-${PREFIX}.key.pem`)));
  const auth = { handle: `0.NA/${PREFIX}`, index: 300, key };
  const client = new HandleClient({ tcpTimeoutMs: 10_000 });
  let http: HttpApiClient | undefined;
  if (o.writer === 'http') {
    if (!o.httpUrl) throw new Error('the primary serves no HTTP API');
    http = new HttpApiClient(o.httpUrl, auth, 10_000);
  }
  const admin = http ?? new AdminClient(client, { host: '127.0.0.1', port: o.port }, auth, { session: true });
  const acked = new Map<string, number>();
  let failed = 0;
  let firstError = '';
  try {
    // Open the session before the clock starts, so that writes do not race to open one each.
    await admin.create(`${o.stem}-warmup`, [makeValue(1, 'URL', 'https://example.cn/warmup')]);
    const total = Math.round(o.rate * o.seconds);
    const interval = 1000 / o.rate;
    const inFlight = new Set<Promise<void>>();
    const start = performance.now();
    for (let i = 0; i < total; i++) {
      const due = start + i * interval;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      while (inFlight.size >= MAX_IN_FLIGHT) await Promise.race(inFlight);
      const handle = `${o.stem}-${i}`;
      const p: Promise<void> = admin
        .create(handle, [makeValue(1, 'URL', `https://example.cn/lag/${i}`)])
        .then(
          () => void acked.set(handle, performance.now()),
          (err: Error) => {
            failed++;
            firstError ||= err.message;
          },
        )
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
    await Promise.all(inFlight);
    let lastAck = start;
    for (const t of acked.values()) lastAck = Math.max(lastAck, t);
    if (failed) console.log(`  ${failed} writes failed; the first: ${firstError}`);
    return { acked, failed, achievedRate: acked.size / ((lastAck - start) / 1000) };
  } finally {
    client.close();
    await http?.close();
  }
}
