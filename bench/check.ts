// The check benchmark (`idres check`, docs/replication.md): how long the two digests of a registry of N
// product identifiers take — the local one (a table scan in one read transaction) and the primary's, read
// from a DUMP_HANDLES stream of an `idres serve` child over loopback TCP, signed and verified as a mirror
// pulls it. A check of a mirror is about the two together (and one more dump for --list). Wall time and
// CPU time are both printed: on a shared machine the CPU time is the figure to compare.
//
//   npm run build && node dist/bench/check.js [--rows N] [--buckets B] [--runs K]
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ReplicationClient } from '../src/client/replication-client.js';
import { keyVerifier } from '../src/protocol/replication.js';
import { Registry } from '../src/store/registry.js';
import { digestRegistry } from '../src/store/registry-digest.js';
import { digestPrimary } from '../src/replicate/compare.js';
import { PREFIX, arg, machine, makeNodeDir, median, patchConfig, removeDir, startIdres, tempDir } from './common.js';

const rows = arg('rows', 1_000_000);
const buckets = arg('buckets', 64);
const runs = arg('runs', 3);
const IDENTITY = { index: 300, handle: `0.NA/${PREFIX}` };

/** CPU seconds (user + system) of this process since `from`: the figure that holds on a shared machine. */
function cpu(from: NodeJS.CpuUsage): string {
  const u = process.cpuUsage(from);
  return ((u.user + u.system) / 1e6).toFixed(1);
}

const dir = path.join(tempDir('check'), 'node');
try {
  const b0 = performance.now();
  makeNodeDir(dir, rows);
  patchConfig(dir, (c) => ((c.replication as Record<string, unknown>) = { admins: [`${IDENTITY.index}:${IDENTITY.handle}`] }));
  console.log(`check benchmark: ${rows.toLocaleString('en-US')} identifiers (built in ${((performance.now() - b0) / 1000).toFixed(1)} s), ${buckets} buckets, ${machine()}`);

  const registry = new Registry(path.join(dir, 'registry.db'), { readonly: true });
  const local: number[] = [];
  let summary = '';
  for (let i = 1; i <= runs; i++) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const d = digestRegistry(registry, buckets);
    local.push((performance.now() - t0) / 1000);
    summary = `${d.digest.handles.toLocaleString('en-US')} handles in ${d.digest.summaries().length} ranges`;
    console.log(`local digest, run ${i}: ${local[i - 1]!.toFixed(2)} s, ${cpu(c0)} s CPU (${summary})`);
  }
  registry.close();

  const { server, port } = await startIdres(dir);
  try {
    const serverKey = createPrivateKey(readFileSync(path.join(dir, 'keys', 'server.key.pem')));
    const key = createPrivateKey(readFileSync(path.join(dir, 'keys', `admin-${PREFIX}.key.pem`)));
    const client = new ReplicationClient({ host: '127.0.0.1', port }, { ...IDENTITY, key }, 60_000);
    const verify = keyVerifier(createPublicKey(serverKey));
    const fold = new Registry(path.join(dir, 'registry.db'), { readonly: true });
    const remote: number[] = [];
    for (let i = 1; i <= runs; i++) {
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      const s0 = server.cpuSeconds();
      const p = await digestPrimary(client, verify, (h) => fold.key(h), buckets);
      remote.push((performance.now() - t0) / 1000);
      console.log(
        `dump digest, run ${i}: ${remote[i - 1]!.toFixed(2)} s, ${cpu(c0)} s CPU here, ${(server.cpuSeconds() - s0).toFixed(1)} s CPU in the primary ` +
          `(${p.digest.handles.toLocaleString('en-US')} handles)`,
      );
    }
    fold.close();
    console.log(`median: local ${median(local).toFixed(2)} s (${Math.round(rows / median(local)).toLocaleString('en-US')} rows/s), dump ${median(remote).toFixed(2)} s (${Math.round(rows / median(remote)).toLocaleString('en-US')} rows/s)`);
  } finally {
    await server.stop();
  }
} finally {
  removeDir(path.dirname(dir));
}
