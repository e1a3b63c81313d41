import { makeValue, Index, Perm, type HandleValue } from '../model/value.js';
import { prefixAdminData } from '../admin/defaults.js';

// A seeded generator of realistic product identifiers for the demo, the fixtures and the benchmarks:
// traceability records, device management and supply chain entries, as manufacturers register them.

/** mulberry32: a small, fast, seeded PRNG; the same seed gives the same records on every machine. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface ProductRecord {
  handle: string;
  values: HandleValue[];
}

const LINES = [
  { code: 'PUMP', name: '智能水泵', en: 'Smart water pump', models: ['XB200', 'XB350', 'XB500'] },
  { code: 'MTR', name: '永磁同步电机', en: 'PM synchronous motor', models: ['YZ-7.5', 'YZ-15', 'YZ-30'] },
  { code: 'VLV', name: '电动调节阀', en: 'Electric control valve', models: ['DN50', 'DN80', 'DN100'] },
  { code: 'CNC', name: '数控车床', en: 'CNC lathe', models: ['CK6150', 'CK6180'] },
  { code: 'BRG', name: '深沟球轴承', en: 'Deep groove ball bearing', models: ['6204', '6205', '6306'] },
  { code: 'PLC', name: '可编程控制器', en: 'Programmable controller', models: ['S7-X1', 'S7-X2'] },
];
const PLANTS = ['Suzhou', 'Ningbo', 'Qingdao', 'Chengdu', 'Wuhan'];
const STAGES = ['raw-material', 'machining', 'assembly', 'inspection', 'warehouse', 'shipped'];

function pick<T>(rnd: () => number, xs: readonly T[]): T {
  return xs[Math.floor(rnd() * xs.length)]!;
}

function pad(n: number, w: number): string {
  return String(n).padStart(w, '0');
}

/**
 * `count` product records under `prefix`. Every record has a URL (the scan target), a name, a model, a
 * batch and a production date; device records add a firmware version and a maintenance contact; some carry
 * a supply chain record as JSON; one in ten has an internal cost value that is not public.
 */
export function generateProducts(prefix: string, count: number, seed = 20261128, opts: ProductOptions = {}): ProductRecord[] {
  return [...productRecords(prefix, count, seed, opts)];
}

export interface ProductOptions {
  /** Only what a scanner mostly needs (URL, name, batch, admin): one UDP datagram per answer. */
  compact?: boolean;
}

/** The records of generateProducts one at a time, for files of millions (the import benchmark). */
export function* productRecords(prefix: string, count: number, seed = 20261128, opts: ProductOptions = {}): Generator<ProductRecord> {
  const rnd = seededRandom(seed);
  // Every record is administered by the prefix's administrator, as records created by the reference tools are.
  const admin = prefixAdminData(prefix);
  for (let i = 1; i <= count; i++) {
    const line = pick(rnd, LINES);
    const model = pick(rnd, line.models);
    const year = 2024 + Math.floor(rnd() * 3);
    const month = 1 + Math.floor(rnd() * 12);
    const day = 1 + Math.floor(rnd() * 28);
    const batch = `${year}${pad(month, 2)}-${pad(1 + Math.floor(rnd() * 40), 3)}`;
    const suffix = `${line.code}-${model.replace(/[^A-Za-z0-9]/g, '')}-${pad(i, 7)}`;
    const handle = `${prefix}/${suffix}`;
    const url = makeValue(1, 'URL', `https://trace.example-factory.cn/p/${suffix.toLowerCase()}`);
    if (opts.compact) {
      yield { handle, values: [url, makeValue(2, 'productName', `${line.en} ${model}`), makeValue(4, 'batch', batch), makeValue(Index.HS_ADMIN, 'HS_ADMIN', admin)] };
      continue;
    }
    const values: HandleValue[] = [
      url,
      makeValue(2, 'productName', `${line.name} ${model} (${line.en})`),
      makeValue(3, 'model', model),
      makeValue(4, 'batch', batch),
      makeValue(5, 'productionDate', `${year}-${pad(month, 2)}-${pad(day, 2)}`),
      makeValue(6, 'plant', pick(rnd, PLANTS)),
    ];
    if (line.code === 'PLC' || line.code === 'CNC' || line.code === 'MTR') {
      values.push(makeValue(7, 'firmware', `v${1 + Math.floor(rnd() * 4)}.${Math.floor(rnd() * 10)}.${Math.floor(rnd() * 20)}`));
      values.push(makeValue(8, 'EMAIL', `service@example-factory.cn`, { ttl: 3600 }));
    }
    if (rnd() < 0.3) {
      const stage = pick(rnd, STAGES);
      values.push(
        makeValue(10, 'supplyChain', JSON.stringify({ stage, at: `${year}-${pad(month, 2)}-${pad(day, 2)}T08:00:00Z`, site: pick(rnd, PLANTS) })),
      );
    }
    if (rnd() < 0.1) {
      values.push(
        makeValue(20, 'internal.cost', `${(100 + rnd() * 5000).toFixed(2)} CNY`, { permissions: Perm.ADMIN_READ | Perm.ADMIN_WRITE }),
      );
    }
    values.push(makeValue(Index.HS_ADMIN, 'HS_ADMIN', admin));
    yield { handle, values };
  }
}
