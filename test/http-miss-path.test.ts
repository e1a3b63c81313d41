// A JSON read of every value of a handle this node homes takes the miss path that copies the stored value
// list (resolve/read-values.ts → resolve/blob-miss.ts), and answers exactly what the general path answers:
// the same handles read over real HTTP from a node with the miss path and from one without, compared.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { type HandleValue, Perm } from '../src/model/value.js';
import { encodeAdmin } from '../src/protocol/admin-data.js';
import { Registry } from '../src/store/registry.js';
import { Nodes } from './helpers/tiers.js';
import { baseOf, call } from './helpers/http.js';

const NOW_S = 1_800_000_000;
const NOW_MS = NOW_S * 1000 + 250;
const PREFIX = '88.118.8';
const PUBLIC = Perm.ADMIN_READ | Perm.ADMIN_WRITE | Perm.PUBLIC_READ;

const v = (index: number, type: string, data: string | Buffer, extra: Partial<HandleValue> = {}): HandleValue => ({
  index,
  type,
  data: typeof data === 'string' ? Buffer.from(data, 'utf8') : data,
  timestamp: 1_700_000_000,
  ttlType: 0,
  ttl: 3600,
  permissions: PUBLIC,
  references: [],
  ...extra,
});

test('over real HTTP, a read answered by the blob copy is the general path\'s answer, and is kept by the read cache', async () => {
  const nodes = new Nodes();
  const clock = () => NOW_MS;
  try {
    const first = await nodes.start('business', { prefixes: [PREFIX] }, undefined, 0, { clock });
    const dir = first.dir;
    await nodes.stop(first);
    const registry = new Registry(path.join(dir, 'registry.db'));
    const records: Record<string, HandleValue[]> = {
      'PUMP-1': [v(1, 'URL', 'https://example.cn/p/1'), v(2, 'productName', '水泵 XB-200'), v(100, 'HS_ADMIN', encodeAdmin({ permissions: 0xfff, handle: `0.NA/${PREFIX}`, index: 300 }))],
      'BINARY-2': [v(1, 'URL', 'https://example.cn/p/2'), v(3, 'blob', Buffer.from([0, 1, 2, 255, 254]))],
      'ABS-3': [v(1, 'URL', 'https://example.cn/p/3', { ttlType: 1, ttl: NOW_S + 600 })],
      'REF-4': [v(1, 'URL', 'https://example.cn/p/4', { references: [{ handle: `${PREFIX}/PUMP-1`, index: 1 }] })],
      'PRIVATE-5': [v(1, 'URL', 'https://example.cn/p/5'), v(2, 'cost', '12.50', { permissions: Perm.ADMIN_READ | Perm.ADMIN_WRITE })],
      'TYPE-6': [v(1, '类型', 'declined: a type that is not ASCII')],
      'BIG-7': [v(1, 'DESC', 'x'.repeat(20_000))],
    };
    for (const [suffix, values] of Object.entries(records)) registry.create(`${PREFIX}/${suffix}`, values, { now: NOW_S });
    registry.close();

    const targets = [
      ...Object.keys(records).map((s) => `/api/handles/${PREFIX}/${s}`),
      `/api/handles/${PREFIX}/pump-1`, // the suffix as a client may write it
      `/api/handles/${PREFIX}/NOT-THERE`,
      `/api/handles/${PREFIX}/PUMP-1?index=1`,
      `/api/handles/${PREFIX}/PUMP-1?type=URL`,
      `/api/handles/${PREFIX}/PUMP-1?pretty`,
    ];
    const readAll = async (blobMisses: boolean) => {
      const n = await nodes.startDir(dir, { clock, blobMisses });
      try {
        const out: string[] = [];
        for (const t of targets) {
          const r = await call(baseOf(n), 'GET', t);
          out.push(`${r.status} ${r.text}`);
        }
        // Asked again: answered from the read cache, which keeps what the blob copy made as it keeps the rest.
        const hitsBefore = n.http!.api.reads!.stats.hits;
        for (const t of targets.slice(0, 4)) out.push(`${(await call(baseOf(n), 'GET', t)).text}`);
        return { out, readHits: n.http!.api.reads!.stats.hits - hitsBefore, answered: n.pipeline.blobMiss?.stats.answered ?? 0 };
      } finally {
        await nodes.stop(n);
      }
    };
    const fast = await readAll(true);
    const general = await readAll(false);
    assert.equal(general.answered, 0);
    // PUMP-1, BINARY-2, ABS-3, REF-4, BIG-7, NOT-THERE (and pump-1 as asked, or the hot hit of PUMP-1).
    assert.ok(fast.answered >= 6, `blob copies: ${fast.answered}`);
    assert.equal(fast.readHits, 4, 'the second reads come from the read cache');
    assert.deepEqual(fast.out, general.out);
    assert.match(fast.out[0]!, /^200 .*"productName"/);
  } finally {
    await nodes.stopAll();
  }
});
