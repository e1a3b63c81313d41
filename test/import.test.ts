// Bulk import (`idres import`): the real command in child processes against a node folder, the registry
// inspected directly, a running node resolving what was imported, and a child killed with SIGKILL.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { HandleClient } from '../src/client/handle-client.js';
import { ResponseCode } from '../src/protocol/constants.js';
import { loadConfig } from '../src/node/config.js';
import { Registry } from '../src/store/registry.js';
import { type HandleValue, Perm, TtlType } from '../src/model/value.js';
import { type ProductRecord, productRecords } from '../src/demo/products.js';
import { PRODUCT_CSV_HEADER, productCsv, productNdjson } from '../src/demo/product-import-rows.js';
import { splitCsvRecord } from '../src/admin/import-csv.js';
import { type ImportResult, type RowProblem, importFile } from '../src/admin/import.js';
import { type Line, readLines } from '../src/admin/import-source.js';
import { cli, startTestNode, tempDir } from './helpers/node.js';
import { TestClock } from './helpers/clock.js';
import { cliPath, repoRoot } from './helpers/paths.js';

const PREFIX = '88.118.8';

async function initNode(root: string, name = 'node'): Promise<string> {
  const dir = path.join(root, name);
  const r = await cli(['init', '--dir', dir, '--prefix', PREFIX, '--port', '0']);
  assert.equal(r.code, 0, r.stderr);
  return dir;
}

function openRegistry(dir: string): Registry {
  const c = loadConfig(dir);
  return new Registry(path.join(dir, c.database), { foldSuffix: c.caseFoldSuffix });
}

/** Write a file line by line without holding it whole; `line(i, record)` may replace line i (1-based). */
function writeRows(file: string, records: Iterable<ProductRecord>, render: (p: ProductRecord) => string, opts: { header?: string; line?: (i: number, p: ProductRecord) => string | Buffer | undefined } = {}): void {
  const fd = openSync(file, 'w');
  let chunk: Array<string | Buffer> = [];
  const flush = () => {
    writeSync(fd, Buffer.concat(chunk.map((c) => (typeof c === 'string' ? Buffer.from(c) : c))));
    chunk = [];
  };
  if (opts.header) chunk.push(opts.header + '\n');
  let i = opts.header ? 1 : 0;
  for (const p of records) {
    i++;
    chunk.push(opts.line?.(i, p) ?? render(p), '\n');
    if (chunk.length > 4000) flush();
  }
  flush();
  closeSync(fd);
}

/** Stored values as comparable tuples (timestamps set by the registry are left out). */
const shape = (vs: readonly HandleValue[]) => vs.map((v) => [v.index, v.type, v.data.toString('hex'), v.ttlType, v.ttl, v.permissions]);

describe('idres import', () => {
  const root = tempDir('idres-import-');
  after(() => rmSync(root, { recursive: true, force: true }));

  test('100,000 NDJSON rows with malformed ones: exactly the bad rows reported, the rest committed; a second run changes nothing', async () => {
    const dir = await initNode(root, 'big');
    const file = path.join(root, 'big.ndjson');
    const N = 100_000;
    // Line → the damage done to it and the reason the report must give.
    const bad = new Map<number, [string | Buffer, RegExp]>([
      [10, ['{"handle": "88.118.8/BROKEN", "values": [', /not valid JSON/]],
      [5_000, ['{"handle":"88.118.8-NO-SLASH","values":[{"type":"URL","data":"https://a"}]}', /not PREFIX\/SUFFIX/]],
      [12_345, ['{"handle":"88.999/UNHOMED-1","values":[{"type":"URL","data":"https://a"}]}', /not homed/]],
      [33_333, ['{"handle":"88.118.8/DUP-IDX","values":[{"index":3,"type":"A","data":"a"},{"index":3,"type":"B","data":"b"}]}', /index 3 is given twice/]],
      [50_000, ['{"handle":"88.118.8/BAD-HEX","values":[{"type":"chip","data":{"format":"hex","value":"abc"}}]}', /hex digits/]],
      [60_000, [Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), /not valid UTF-8/]],
      [77_777, ['{"handle":"88.118.8/NO-VALUES","values":[]}', /no values/]],
      [99_999, ['{"handle":"88.118.8/X","values":[{"type":"URL","data":"https://a","permissions":"12"}]}', /permissions/]],
      [N, ['"just a string"', /not a JSON object/]],
    ]);
    const blank = 70_000;
    const records: ProductRecord[] = [];
    writeRows(file, productRecords(PREFIX, N, 7), productNdjson, {
      line: (i, p) => {
        if (i === blank) return '';
        const b = bad.get(i);
        if (b) return b[0];
        if (i % 997 === 0) records.push(p); // a sample to compare value by value
        return undefined;
      },
    });
    const before = openRegistry(dir);
    const initialCount = before.count();
    before.close();

    const errors = path.join(root, 'big-errors.csv');
    const first = await cli(['import', file, '--dir', dir, '--errors', errors], { timeoutMs: 120_000 });
    assert.equal(first.code, 1, first.stderr); // some rows were not applied
    const report = parseCsv(readFileSync(errors), { columns: true }) as Array<{ line: string; handle: string; kind: string; problem: string }>;
    assert.deepEqual(report.map((r) => Number(r.line)), [...bad.keys()]);
    for (const r of report) {
      assert.equal(r.kind, 'bad');
      assert.match(r.problem, bad.get(Number(r.line))![1], `line ${r.line}: ${r.problem}`);
    }
    const good = N - bad.size - 1;
    assert.match(first.stdout, new RegExp(`created\\s+${good.toLocaleString('en-US')}\\b`));
    assert.match(first.stdout, /bad\s+9\b/);
    // A file this size (about 50 MB) is prepared by worker threads wherever there is a core to spare.
    if (availableParallelism() > 1) assert.match(first.stdout, /rows prepared by \d+ worker threads?/);

    const reg = openRegistry(dir);
    assert.equal(reg.count(), initialCount + good);
    for (const p of records) assert.deepEqual(shape(reg.getValues(p.handle)!), shape(p.values), p.handle);
    const txnAfterFirst = reg.lastTxnId();
    reg.close();

    const second = await cli(['import', file, '--dir', dir], { timeoutMs: 120_000 });
    assert.match(second.stdout, /created\s+0\b/);
    assert.match(second.stdout, new RegExp(`unchanged\\s+${good.toLocaleString('en-US')}\\b`));
    assert.match(second.stdout, /nothing changed/);
    const reg2 = openRegistry(dir);
    assert.equal(reg2.count(), initialCount + good);
    assert.equal(reg2.lastTxnId(), txnAfterFirst, 'a run that changes nothing writes nothing to the transaction log');
    reg2.close();
  });

  test('worker threads prepare the rows: the same registry, problems, batches and resumption as in one thread', async () => {
    const file = path.join(root, 'workers.ndjson');
    const N = 6_000;
    const badLines = new Map<number, string>([
      [7, '{"handle": "88.118.8/BROKEN", "values": ['],
      [2_501, '{"handle":"88.999/UNHOMED","values":[{"type":"URL","data":"https://a"}]}'],
      [5_999, '{"handle":"88.118.8/NO-VALUES","values":[]}'],
    ]);
    const all = [...productRecords(PREFIX, N, 41)];
    writeRows(file, all, productNdjson, { line: (i) => badLines.get(i) });
    type Seen = { problems: RowProblem[]; batches: Array<[number, number]>; result: ImportResult };
    const run = async (name: string, workers: number, extra: Partial<Parameters<typeof importFile>[2]> = {}): Promise<Seen> => {
      const reg = openRegistry(path.join(root, name));
      const seen: Seen = { problems: [], batches: [], result: undefined as unknown as ImportResult };
      try {
        seen.result = await importFile(reg, file, {
          batchSize: 250,
          workers,
          onProblem: (p) => seen.problems.push(p),
          onBatch: (b) => seen.batches.push([b.firstLine, b.lastLine]),
          ...extra,
        });
      } finally {
        reg.close();
      }
      return seen;
    };
    await initNode(root, 'w0');
    await initNode(root, 'w3');
    const one = await run('w0', 0);
    const three = await run('w3', 3);
    assert.deepEqual(three.result.counts, one.result.counts);
    assert.equal(one.result.counts.created, N - badLines.size);
    assert.deepEqual(three.problems, one.problems);
    assert.deepEqual(three.problems.map((p) => p.line), [...badLines.keys()]);
    assert.deepEqual(three.batches, one.batches, 'batches are committed in file order, the same ones');
    const r0 = openRegistry(path.join(root, 'w0'));
    const r3 = openRegistry(path.join(root, 'w3'));
    for (let i = 0; i < N; i += 7) {
      const h = all[i]!.handle;
      if (badLines.has(i + 1)) continue;
      assert.deepEqual(shape(r3.getValues(h)!), shape(r0.getValues(h)!), h);
      assert.deepEqual(shape(r3.getValues(h)!), shape(all[i]!.values), h);
    }
    assert.equal(r3.count(), r0.count());
    r0.close();
    r3.close();

    // Stopped after the third batch is acknowledged: the batches already handed to workers are committed
    // too (rows read are never dropped), whole, and a second run resumes after the last of them.
    await initNode(root, 'w-stop');
    const stop = new AbortController();
    let acks = 0;
    const stopped = await run('w-stop', 3, { signal: stop.signal, onBatch: () => ++acks === 3 && stop.abort() });
    assert.equal(stopped.result.interrupted, true);
    const committed = stopped.result.counts.rows;
    assert.ok(committed >= 750 && committed < N && committed % 250 === 0, `${committed} rows committed`);
    const rest = await run('w-stop', 3);
    assert.equal(rest.result.resumed?.afterLine, stopped.result.lastLine);
    assert.equal(stopped.result.counts.created + rest.result.counts.created, N - badLines.size);
    // A bad number of workers is refused before anything is read.
    await assert.rejects(run('w-stop', -1, { restart: true }), /number of workers/);
  });

  test('a changed row is reported and left as stored; --update replaces it, and only it', async () => {
    const dir = await initNode(root, 'upd');
    const file = path.join(root, 'upd.ndjson');
    writeRows(file, productRecords(PREFIX, 500, 11), productNdjson);
    assert.equal((await cli(['import', file, '--dir', dir])).code, 0);
    const edited = path.join(root, 'upd-edited.ndjson');
    const lines = readFileSync(file, 'utf8').split('\n');
    lines[41] = lines[41]!.replace(/"batch","data":"[^"]*"/, '"batch","data":"209912-999"'); // line 42
    lines[99] = lines[99]!.replace(/,\{"index":6,[^}]*\}/, ''); // line 100: the plant value removed
    writeFileSync(edited, lines.join('\n'));
    const h42 = (JSON.parse(lines[41]!) as { handle: string }).handle;
    const h100 = (JSON.parse(lines[99]!) as { handle: string }).handle;

    const reg = openRegistry(dir);
    const stored42 = shape(reg.getValues(h42)!);
    reg.close();

    const plain = await cli(['import', edited, '--dir', dir]);
    assert.equal(plain.code, 1);
    assert.match(plain.stdout, /changed\s+2\b/);
    assert.match(plain.stdout, /unchanged\s+498\b/);
    assert.match(plain.stdout, new RegExp(`line 42  ${h42.replace(/[.]/g, '\\.')}  changed: differs from the registry: index 4 \\(batch\\) differs`));
    assert.match(plain.stdout, /line 100 .*index 6 \(plant\) is not in the file/);
    let r = openRegistry(dir);
    assert.deepEqual(shape(r.getValues(h42)!), stored42, 'without --update the stored record stays');
    const txn = r.lastTxnId();
    r.close();

    const upd = await cli(['import', edited, '--dir', dir, '--update']);
    assert.equal(upd.code, 0, upd.stdout);
    assert.match(upd.stdout, /updated\s+2\b/);
    r = openRegistry(dir);
    assert.equal(r.getValues(h42)!.find((v) => v.index === 4)!.data.toString(), '209912-999');
    assert.equal(r.getValues(h100)!.find((v) => v.index === 6), undefined);
    // Two handles written: one log entry each, so a running node drops just their answers.
    assert.deepEqual(r.changesSince(txn).map((c) => [c.op, c.handle_key]), [[ 'overwrite', r.key(h42) ], [ 'overwrite', r.key(h100) ]].sort((a, b) => (a[1]! < b[1]! ? -1 : 1)));
    r.close();
    const again = await cli(['import', edited, '--dir', dir, '--update']);
    assert.match(again.stdout, /unchanged\s+500\b/);
  });

  test('SIGKILL mid-import: every acknowledged batch is present, no batch half-written, and the rerun resumes and completes', async () => {
    const dir = await initNode(root, 'kill');
    const file = path.join(root, 'kill.ndjson');
    const N = 12_000;
    const batch = 500;
    const all = [...productRecords(PREFIX, N, 23)];
    writeRows(file, all, productNdjson);
    const before = openRegistry(dir);
    const initialCount = before.count();
    before.close();

    const child = spawn(process.execPath, [cliPath, 'import', file, '--dir', dir, '--batch-size', String(batch), '--progress', 'lines'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let acknowledged = 0;
    let acks = 0;
    let stderr = '';
    const exited = new Promise<number | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal === 'SIGKILL' ? -9 : _code)));
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      stderr += d;
      for (const m of d.matchAll(/committed lines \d+-(\d+)/g)) {
        acknowledged = Math.max(acknowledged, Number(m[1]));
        if (++acks === 3) child.kill('SIGKILL');
      }
    });
    assert.equal(await exited, -9, `the import finished before it could be killed:\n${stderr}`);
    assert.ok(acknowledged >= 3 * batch);

    const reg = openRegistry(dir);
    const present = reg.count() - initialCount;
    // Whole batches only, and at least every acknowledged one.
    assert.equal(present % batch, 0, `${present} identifiers: not a whole number of batches`);
    assert.ok(present >= acknowledged && present < N, `${present} present, ${acknowledged} acknowledged`);
    for (let i = 0; i < N; i++) {
      const values = reg.getValues(all[i]!.handle);
      if (i < present) assert.deepEqual(shape(values!), shape(all[i]!.values), all[i]!.handle);
      else assert.equal(values, undefined, `${all[i]!.handle} (line ${i + 1}) was never committed`);
    }
    reg.close();

    const resumed = await cli(['import', file, '--dir', dir, '--batch-size', String(batch)]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, new RegExp(`resumed after line ${present}:`));
    assert.match(resumed.stdout, new RegExp(`created\\s+${(N - present).toLocaleString('en-US')}\\b`));
    const done = openRegistry(dir);
    assert.equal(done.count(), initialCount + N);
    done.close();
  });

  test('the example fixtures: CSV and NDJSON give the same identifiers; the bad-row examples report each bad row', async () => {
    const dir = await initNode(root, 'fixtures');
    const fx = (name: string) => path.join(repoRoot, 'fixtures', name);
    const csv = await cli(['import', fx('import-example.csv'), '--dir', dir]);
    assert.equal(csv.code, 0, csv.stderr);
    assert.match(csv.stdout, /created\s+40\b/);
    const nd = await cli(['import', fx('import-example.ndjson'), '--dir', dir]);
    assert.match(nd.stdout, /unchanged\s+40\b/, 'the same records in the other format are already stored');

    const reg = openRegistry(dir);
    const cnc = reg.getValues('88.118.8/CNC-CK6180-0000002')!;
    assert.equal(cnc.find((v) => v.index === 10)!.data.toString(), '{"stage":"machining","at":"2025-10-25T08:00:00Z","site":"Suzhou"}');
    assert.equal(cnc.find((v) => v.index === 8)!.ttl, 3600);
    assert.equal(cnc.find((v) => v.index === 100)!.type, 'HS_ADMIN');
    reg.close();

    const badCsv = await cli(['import', fx('import-bad-rows.csv'), '--dir', dir]);
    assert.equal(badCsv.code, 1);
    assert.deepEqual([...badCsv.stdout.matchAll(/line (\d+) .* bad:/g)].map((m) => Number(m[1])), [4, 5, 6, 8, 9, 12, 14]);
    assert.match(badCsv.stdout, /created\s+4\b/);
    const badNd = await cli(['import', fx('import-bad-rows.ndjson'), '--dir', dir]);
    assert.deepEqual([...badNd.stdout.matchAll(/line (\d+) .* bad:/g)].map((m) => Number(m[1])), [3, 4, 5, 6, 8, 9, 10, 13, 14]);
    assert.match(badNd.stdout, /created\s+5\b/);

    const r = openRegistry(dir);
    const quoted = r.getValues('88.118.8/VLV-DN80-0100008')!;
    assert.equal(quoted.find((v) => v.type === 'productName')!.data.toString(), '电动调节阀 DN80, "quoted" name\non two lines');
    const priv = r.getValues('88.118.8/VLV-DN50-0100002')!.find((v) => v.type === 'internal.cost')!;
    assert.equal(priv.index, 4);
    assert.equal(priv.permissions & Perm.PUBLIC_READ, 0);
    const formats = r.getValues('88.118.8/MTR-YZ15-0200007')!;
    assert.equal(formats.find((v) => v.index === 30)!.data.toString('hex'), '0a1b2c3d');
    assert.equal(formats.find((v) => v.index === 31)!.data.toString('base64'), 'MIIBCgKCAQEA');
    assert.equal(formats.find((v) => v.index === 40)!.ttlType, TtlType.ABSOLUTE);
    assert.equal(formats.find((v) => v.index === 101)!.type, 'HS_ADMIN');
    const auto = r.getValues('88.118.8/MTR-YZ30-0200010')!;
    assert.deepEqual(auto.map((v) => [v.index, v.type]), [[1, 'URL'], [2, 'productName'], [8, 'EMAIL'], [100, 'HS_ADMIN']]);
    r.close();

    const unusable = path.join(root, 'no-handle.csv');
    writeFileSync(unusable, 'URL,productName\nhttps://a,b\n');
    const refused = await cli(['import', unusable, '--dir', dir]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /no "handle" column/);
    const missing = await cli(['import', path.join(root, 'nope.csv'), '--dir', dir]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read .*ENOENT/);
  });

  test('a CSV import of the demo records reads cells exactly as csv-parse does, and resumes mid-file after the header', async () => {
    const dir = await initNode(root, 'csv');
    const file = path.join(root, 'demo.csv');
    const all = [...productRecords(PREFIX, 3_000, 5)];
    writeRows(file, all, productCsv, { header: PRODUCT_CSV_HEADER });
    const text = readFileSync(file, 'utf8');
    const oracle = parseCsv(text) as string[][];
    const mine = text.trimEnd().split('\n').map((l) => splitCsvRecord(l)!);
    assert.deepEqual(mine, oracle);

    // Interrupted after its first batch (in process, through the engine), then resumed by the command.
    const stop = new AbortController();
    const partial = openRegistry(dir);
    const first = await importFile(partial, file, { batchSize: 500, signal: stop.signal, onBatch: () => stop.abort() });
    partial.close();
    assert.equal(first.interrupted, true);
    assert.equal(first.counts.created, 500);
    assert.equal(first.lastLine, 501); // the header is line 1
    const r = await cli(['import', file, '--dir', dir, '--batch-size', '500']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /resumed after line 501:/);
    assert.match(r.stdout, /created\s+2,500\b/);
    const reg = openRegistry(dir);
    for (const p of all.filter((_, i) => i % 101 === 0)) assert.deepEqual(shape(reg.getValues(p.handle)!), shape(p.values));
    reg.close();
  });

  test('reading lines: byte offsets survive multi-byte text, a resume starts at an offset, a huge line is skipped', async () => {
    const file = path.join(root, 'lines.txt');
    writeFileSync(file, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('第一行\r\nsecond\n'), Buffer.alloc(3000, 0x61), Buffer.from('\nlast')]));
    const got: Line[] = [];
    await readLines(file, (l) => (got.push({ ...l }), true), { chunkBytes: 7, maxLineBytes: 1000 });
    assert.deepEqual(got.map((l) => [l.number, l.text, l.problem?.includes('longer') ?? false]), [
      [1, '第一行', false], [2, 'second', false], [3, undefined, true], [4, 'last', false],
    ]);
    const again: Line[] = [];
    await readLines(file, (l) => (again.push({ ...l }), true), { start: got[0]!.end, firstLine: 2 });
    assert.deepEqual(again.map((l) => l.text?.length ?? -1), [6, 3000, 4]);
  });

  describe('with a running node', () => {
    let t: Awaited<ReturnType<typeof startTestNode>>;
    const client = new HandleClient({ udpTimeoutsMs: [300, 600], tcpTimeoutMs: 5000 });
    const clock = new TestClock();
    before(async () => {
      t = await startTestNode({ start: { clock: clock.now } });
    });
    after(async () => {
      client.close();
      await t.stop();
    });

    test('sees imported identifiers at once: its cached 100 is dropped', async () => {
      const handle = '88.118.8/CNC-CK6150-0000001';
      const miss = await client.resolve(t.server, handle);
      assert.equal(miss.responseCode, ResponseCode.HANDLE_NOT_FOUND); // now cached as a negative answer
      const r = await cli(['import', path.join(repoRoot, 'fixtures', 'import-example.ndjson'), '--dir', t.dir]);
      assert.equal(r.code, 0, r.stderr);
      clock.advance(30); // the next request looks for other processes' writes (writeCheckMs is 10 ms)
      const hit = await client.resolve(t.server, handle);
      assert.equal(hit.responseCode, ResponseCode.SUCCESS);
      assert.equal(hit.values.find((v) => v.index === 1)!.data.toString(), 'https://trace.example-factory.cn/p/cnc-ck6150-0000001');
    });
  });
});
