import { DumpStreamReader, type StreamVerify, utf8Text } from '../protocol/replication.js';
import type { ReplicationClient } from '../client/replication-client.js';
import type { StreamConsumer } from '../client/stream-exchange.js';
import { joinValues } from '../store/value-blob.js';
import { type HandleDiff, RegistryDigest } from '../store/registry-digest.js';

// The primary's side of `idres check` (docs/replication.md, Checking a mirror): its registry read through a
// DUMP_HANDLES stream — the same request and the same signed records a mirror copies from, so it needs no
// operation of its own and works against any primary that serves dumps — and summed up as it arrives, a
// record at a time. Each handle's values are joined into a blob exactly as the mirror stores them, so a row
// digests the same on both sides when it is the same.

/** What a dump held besides its rows: where it began and where the primary's log was when it ended. */
export interface PrimaryDump {
  /** The dump's serverInfo: the primary's last transaction id when it began. */
  startTxn: number;
  /** The primary's last transaction id asked right after the dump ended. */
  endTxn: number;
}

/** Read the primary's whole dump, each handle row (as the mirror would store it) and homed prefix to `visit`. */
export async function readDump(
  client: ReplicationClient,
  verify: StreamVerify,
  visit: { row(handle: string, blob: Buffer): void; homed(prefix: string): void },
): Promise<PrimaryDump> {
  const reader = new DumpStreamReader(verify);
  let startTxn = -1;
  const consumer: StreamConsumer = {
    data: (chunk) => {
      for (const rec of reader.push(chunk)) {
        if (rec.type === 'serverInfo') startTxn = rec.txnId;
        else if (rec.type === 'handle') visit.row(utf8Text(rec.handle, 'a handle in the stream'), joinValues(rec.values));
        else if (rec.type === 'homedPrefix') visit.homed(utf8Text(rec.prefix, 'a homed prefix in the stream'));
      }
      return reader.done;
    },
  };
  await client.dump({ hashType: 0, numServers: 1, serverNum: 0 }, consumer);
  const endTxn = (await client.nextTxnId()) - 1;
  return { startTxn: Math.max(startTxn, 0), endTxn };
}

/** The primary's digest, its rows placed by `keyOf` (the mirror's own lookup key, its case folding). */
export async function digestPrimary(
  client: ReplicationClient,
  verify: StreamVerify,
  keyOf: (handle: string) => string,
  buckets: number,
): Promise<PrimaryDump & { digest: RegistryDigest }> {
  const digest = new RegistryDigest(buckets);
  const dump = await readDump(client, verify, {
    row: (handle, blob) => digest.addRow(keyOf(handle), handle, blob),
    homed: (prefix) => digest.addHomed(prefix),
  });
  return { ...dump, digest };
}

/** The handles that differ in `ranges`, the primary's dump against the local registry the diff reads. */
export async function diffPrimary(client: ReplicationClient, verify: StreamVerify, diff: HandleDiff): Promise<PrimaryDump> {
  const dump = await readDump(client, verify, { row: (handle, blob) => diff.there(handle, blob), homed: () => undefined });
  diff.finish();
  return dump;
}

