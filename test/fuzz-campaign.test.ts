// The fuzzing campaign in CI size: hostile Handle datagrams, fragment storms, TCP streams and DNS queries
// against a real node process, with canaries from another address checking every answer
// (fuzz/campaign.ts; `npm run fuzz -- --packets 10000000` is the long form, figures in docs/security.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { repoRoot } from './helpers/paths.js';
import { runCampaign } from '../fuzz/campaign.js';

test('fuzzing campaign (CI size): the node stays up, answers its canaries right, stays within its memory and loses nothing', async () => {
  const seed = Number(process.env.FUZZ_SEED ?? 20261206);
  const r = await runCampaign({ packets: 15000, seed, repoRoot });
  assert.equal(r.alive, true, `seed ${seed}: the node died`);
  assert.deepEqual(r.wrongAnswers, [], `seed ${seed}`);
  assert.equal(r.registryUnchanged, true, `seed ${seed}: stored data changed`);
  assert.ok(r.canaries >= 10, `${r.canaries} canary rounds`);
  assert.ok(r.answers > 1000, `the node answered ${r.answers} of the hostile packets (it reads them, it is not deaf)`);
  assert.ok(r.tcpStreams > 5 && r.dnsQueries > 500);
  assert.ok(r.rssEndBytes - r.rssWarmBytes < 96 * 2 ** 20, `memory grew ${r.rssEndBytes - r.rssWarmBytes} bytes`);
});
