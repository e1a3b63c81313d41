// The node's log (docs/operations.md): pino, one JSON object a line, readable lines on a terminal, the level
// from the configuration or --log-level; lines that input can cause are limited per kind (a flood of bad
// packets is a few lines and a count); the access log samples requests. And the suite itself: no test
// sleeps to wait for a TTL, an expiry or a stale window (they move the node's clock instead).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { startTestNode, type TestNode } from './helpers/node.js';
import { cliPath, repoRoot } from './helpers/paths.js';
import { HandleClient } from '../src/client/handle-client.js';
import { makeValue } from '../src/model/value.js';
import { OpCode, ResponseCode } from '../src/protocol/constants.js';
import { createLogger } from '../src/log/logger.js';
import { prettyLine } from '../src/log/pretty.js';
import { LineLimiter } from '../src/log/limiter.js';
import { HandlerProblems, ProblemLog } from '../src/log/problems.js';
import { AccessLog } from '../src/wire/access-log.js';
import type { PacketHandler } from '../src/wire/dispatcher.js';
import { validateConfig } from '../src/node/config.js';

type Line = Record<string, unknown>;
const parse = (lines: readonly string[]): Line[] => lines.map((l) => JSON.parse(l) as Line);

/** A malformed request: a whole envelope and header, a body length running past the datagram. */
function malformed(requestId: number): Buffer {
  const b = Buffer.alloc(60);
  b[0] = 2;
  b[1] = 11;
  b.writeUInt32BE(requestId, 8);
  b.writeUInt32BE(40, 16); // message length
  b.writeUInt32BE(OpCode.RESOLUTION, 20);
  b.writeUInt32BE(0xffff, 40); // body length: far more than there is
  return b;
}

describe('the logger', () => {
  test('one JSON object a line with level, time, component and event; below the level nothing', () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'warn', sink: (l) => lines.push(l) });
    log.child({ component: 'handler' }).warn({ event: 'internal_error', source: '192.0.2.1' }, 'something broke');
    log.info({ component: 'x', event: 'hidden' }, 'not written at warn');
    log.error({ component: 'http', event: 'internal_error', err: new Error('boom') }, 'with a stack');
    assert.equal(lines.length, 2);
    const [a, b] = parse(lines);
    assert.equal(a!.level, 'warn');
    assert.match(String(a!.time), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    assert.deepEqual([a!.component, a!.event, a!.source, a!.msg], ['handler', 'internal_error', '192.0.2.1', 'something broke']);
    assert.equal((b!.err as { message: string }).message, 'boom');
    assert.match((b!.err as { stack: string }).stack, /Error: boom\n\s+at /);
  });

  test('the terminal formatter: time, level, component and event, message, key=value fields, the stack indented', () => {
    const json = JSON.stringify({
      level: 'error',
      time: '2026-05-01T09:30:12.345Z',
      pid: 42,
      component: 'handler',
      event: 'internal_error',
      transport: 'udp',
      source: '192.0.2.7',
      reason: 'a b',
      n: 3,
      err: { type: 'Error', message: 'boom', stack: 'Error: boom\n    at f (x.js:1:1)' },
      msg: 'internal error answering RESOLUTION',
    });
    assert.equal(
      prettyLine(json),
      '2026-05-01 09:30:12.345 ERROR handler internal_error: internal error answering RESOLUTION  transport=udp source=192.0.2.7 reason="a b" n=3\n' +
        '    Error: boom\n        at f (x.js:1:1)\n',
    );
    assert.equal(prettyLine('{"level":"info","time":"2026-05-01T09:30:12.345Z","msg":"hello"}'), '2026-05-01 09:30:12.345 INFO  hello\n');
    assert.equal(prettyLine('not json'), 'not json\n', 'anything else passes through');
    assert.match(prettyLine(json, { colors: true }), /\x1b\[31mERROR\x1b\[0m/, 'colours only when asked');
  });

  test('a terminal gets readable lines, anything else JSON', () => {
    const capture = (isTTY: boolean) => {
      let out = '';
      const stream = Object.assign(new Writable({ write: (c, _e, cb) => ((out += String(c)), cb()) }), { isTTY });
      createLogger({ stream, colors: false }).info({ component: 'node', event: 'started' }, 'serving');
      return out;
    };
    assert.match(capture(true), /^\d{4}-\d{2}-\d{2} [\d:.]+ INFO  node started: serving\n$/);
    assert.equal(JSON.parse(capture(false)).event, 'started');
  });

  test('log.level and the limit are configured, validated, with defaults (info; 10 lines each 10 s; access log off)', () => {
    const d = validateConfig({});
    assert.deepEqual(d.log, { level: 'info', intervalSeconds: 10, linesPerInterval: 10, access: { sampleRate: 0 } });
    assert.equal(validateConfig({ log: { level: 'debug', access: { sampleRate: 0.5, file: 'access.log' } } }).log.access.file, 'access.log');
    assert.throws(() => validateConfig({ log: { level: 'loud' } }), /log\.level must be one of fatal, error, warn, info, debug, trace, silent/);
    assert.throws(() => validateConfig({ log: { access: { sampleRate: 2 } } }), /log\.access\.sampleRate/);
    assert.throws(() => validateConfig({ log: { colour: true } }), /unknown setting "log\.colour"/);
  });
});

describe('lines input can cause are limited', () => {
  test('the limiter: N lines of a key an interval, then one line with the count when the interval ends', () => {
    let now = 0;
    const summaries: Array<[string, number]> = [];
    const l = new LineLimiter<string>({ intervalMs: 1000, linesPerInterval: 3 }, (k, n) => summaries.push([k, n]), () => now);
    const allowed = Array.from({ length: 100 }, () => l.allow('a')).filter(Boolean).length;
    assert.equal(allowed, 3);
    assert.equal(l.allow('b'), true, 'each key has its own lines');
    l.flush();
    assert.deepEqual(summaries, [], 'the interval is not over');
    now = 1000;
    assert.equal(l.allow('a'), true, 'a new interval writes again…');
    assert.deepEqual(summaries, [['a', 97]], '…after the count of the last');
    for (let i = 0; i < 10; i++) l.allow('a');
    l.flush(true);
    assert.deepEqual(summaries, [['a', 97], ['a', 8]], 'stopping writes what is pending');
  });

  test('internal errors (a stack each) and malformed requests: a few lines an interval per kind, then a count', () => {
    let now = 0;
    const lines: string[] = [];
    const problems = new HandlerProblems(new ProblemLog(createLogger({ sink: (l) => lines.push(l) }), { intervalMs: 10_000, linesPerInterval: 5 }, () => now));
    for (let i = 0; i < 10_000; i++) {
      problems.internalError(new TypeError(`bug ${i}`), 'answering RESOLUTION', { transport: 'udp', peer: '192.0.2.1' });
      problems.malformed('body length runs past the datagram', { transport: 'udp', peer: '192.0.2.1' }, true);
    }
    assert.equal(lines.length, 10);
    now = 10_000;
    problems.malformed('x', undefined, false);
    const all = parse(lines);
    const counts = all.filter((l) => l.suppressed !== undefined).map((l) => [l.event, l.suppressed, l.intervalSeconds]);
    assert.deepEqual(counts, [['malformed_request', 9995, 10]]);
    const errors = all.filter((l) => l.event === 'internal_error');
    assert.equal(errors.length, 5);
    assert.match((errors[0]!.err as { stack: string }).stack, /TypeError: bug 0/);
    assert.equal(errors[0]!.level, 'error');
    assert.equal(problems.internal.count, 10_000, 'everything is counted, logged or not');
  });
});

describe('a node under a flood of malformed packets, its log at JSON', () => {
  let t: TestNode;
  const lines: string[] = [];
  let now = 5_000_000;
  before(async () => {
    t = await startTestNode({ start: { log: (l) => lines.push(l), clock: () => now } });
  });
  after(() => t.stop());

  test('100,000 malformed datagrams from 127.0.0.2: fewer than 50 lines, one of them the count of those left out', async (tt) => {
    const stats = t.node.handler.stats;
    const before = stats.protocolErrors + stats.dropped;
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.2', r));
    const TOTAL = 100_000;
    const BATCH = 100;
    const read = () => stats.protocolErrors + stats.dropped - before;
    for (let sent = 0; sent < TOTAL; sent += BATCH) {
      for (let i = 0; i < BATCH; i++) sock.send(malformed(sent + i + 1), t.node.port, '127.0.0.1');
      // Short pauses so the node (in this process) reads what was sent before more is (a socket's receive
      // buffer holds a few hundred datagrams): at most 100 unread, or 20 pauses.
      for (let w = 0; w < 20 && sent + BATCH - read() > BATCH; w++) await new Promise((r) => setTimeout(r, 1));
    }
    // Until the node has read what arrived (bounded).
    let seen = -1;
    for (let i = 0; i < 100 && stats.protocolErrors + stats.dropped !== seen; i++) {
      seen = stats.protocolErrors + stats.dropped;
      await new Promise((r) => setTimeout(r, 50));
    }
    sock.close();
    const processed = read();
    assert.ok(processed >= TOTAL * 0.9, `the node read most of them (${processed})`);
    // The interval ends (by the node's clock) and the counts are written.
    now += 10_000;
    t.node.logging.flush();
    t.node.security.log.flush();

    const all = parse(lines);
    tt.diagnostic(`${processed} malformed requests read, ${lines.length} log lines`);
    assert.ok(lines.length < 50, `${lines.length} lines for ${processed} malformed requests`);
    for (const l of all) {
      assert.equal(typeof l.level, 'string');
      assert.equal(typeof l.component, 'string');
      assert.equal(typeof l.event, 'string');
    }
    const malformedLines = all.filter((l) => l.event === 'malformed_request');
    const written = malformedLines.filter((l) => l.suppressed === undefined);
    assert.equal(written.length, 10, 'log.linesPerInterval lines');
    assert.deepEqual([written[0]!.component, written[0]!.transport, written[0]!.source, written[0]!.answered], ['handler', 'udp', '127.0.0.2', true]);
    const summary = malformedLines.find((l) => l.suppressed !== undefined);
    assert.equal(summary?.suppressed, processed - 10, 'one line counts the rest');
    // The answers to that network were rate-limited, and the security log says so in the same log, also limited.
    assert.ok(all.some((l) => l.component === 'security' && l.event === 'udp_rate_limited'));
  });
});

describe('--log-level', () => {
  test('idres serve --log-level warn leaves out info lines (a malformed request), keeps warnings (rate limiting)', async () => {
    const { dir, stop } = await (async () => {
      const t = await startTestNode();
      await t.node.stop();
      return { dir: t.dir, stop: () => rmSync(path.dirname(t.dir), { recursive: true, force: true }) };
    })();
    try {
      const run = async (level: string[]) => {
        const child = spawn(process.execPath, [cliPath, 'serve', '--dir', dir, '--port', '0', '--http-port', '0', ...level], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        child.stderr.on('data', (d) => (err += d));
        const port = await new Promise<number>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`not serving: ${out}${err}`)), 15000);
          child.stdout.on('data', (d) => {
            out += d;
            const m = / port (\d+) \(UDP and TCP\)/.exec(out);
            if (m) {
              clearTimeout(timer);
              resolve(Number(m[1]));
            }
          });
        });
        // More than the rate limit's burst (200) from one network: info lines (malformed) and a warning (limited).
        const sock = dgram.createSocket('udp4');
        await new Promise<void>((r) => sock.bind(0, '127.0.0.3', r));
        for (let i = 0; i < 300; i++) sock.send(malformed(i + 1), port, '127.0.0.1');
        const client = new HandleClient({ udpTimeoutsMs: [500], tcpTimeoutMs: 3000 });
        await client.resolve({ host: '127.0.0.1', port }, '88.118.8/NONE'); // after the datagrams: they have been read
        client.close();
        sock.close();
        await new Promise<void>((r) => {
          child.once('exit', () => r());
          child.kill('SIGTERM');
        });
        return err.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Line);
      };
      const atInfo = await run([]);
      assert.ok(atInfo.some((l) => l.event === 'malformed_request' && l.level === 'info'), 'info lines by default');
      const atWarn = await run(['--log-level', 'warn']);
      assert.ok(!atWarn.some((l) => l.level === 'info'), 'no info line at warn');
      assert.ok(atWarn.some((l) => l.event === 'udp_rate_limited' && l.level === 'warn'), 'warnings still');
      const bad = await new Promise<number | null>((r) => spawn(process.execPath, [cliPath, 'serve', '--dir', dir, '--log-level', 'loud'], { stdio: 'ignore' }).once('exit', r));
      assert.equal(bad, 2, 'an unknown level is a usage error');
    } finally {
      stop();
    }
  });
});

describe('the access log', () => {
  test('sampled: off by default (the transports get the handler itself); one in round(1/rate); no line made for the rest', async () => {
    let calls = 0;
    const inner: PacketHandler = { handle: () => (calls++, null) } as unknown as PacketHandler;
    assert.equal(new AccessLog({ sampleRate: 0 }).wrap(inner), inner, 'off: nothing in the path');
    const lines: string[] = [];
    const log = new AccessLog({ sampleRate: 0.1, sink: (l) => lines.push(l) });
    const h = log.wrap(inner);
    for (let i = 0; i < 100; i++) await h.handle(Buffer.alloc(10), { transport: 'udp', peer: '192.0.2.1' });
    assert.equal(calls, 100);
    assert.equal(lines.length, 10);
    assert.deepEqual(Object.keys(JSON.parse(lines[0]!)), ['time', 'client', 'transport', 'opcode', 'rc', 'code', 'us']);
  });

  test('to a file: client, transport, opcode, handle, response code and microseconds, one JSON object a line', async () => {
    for (const [rate, expected] of [[1, 10], [0.25, 3]] as const) {
      const t = await startTestNode({ patch: (c) => ((c.log = { access: { sampleRate: rate, file: 'logs/access.log' } })) });
      try {
        t.node.registry!.create('88.118.8/ACCESS-1', [makeValue(1, 'URL', 'https://example.cn/a')]);
        const client = new HandleClient({ udpTimeoutsMs: [500], tcpTimeoutMs: 3000 });
        for (let i = 0; i < 6; i++) assert.equal((await client.resolve(t.server, '88.118.8/ACCESS-1', { transport: 'udp' })).responseCode, ResponseCode.SUCCESS);
        for (let i = 0; i < 3; i++) await client.resolve(t.server, '88.118.8/ACCESS-1', { transport: 'tcp' });
        assert.equal((await client.resolve(t.server, '88.118.8/MISSING', { transport: 'udp' })).responseCode, ResponseCode.HANDLE_NOT_FOUND);
        client.close();
        await t.node.stop();
        const lines = readFileSync(path.join(t.dir, 'logs', 'access.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Line);
        assert.equal(lines.length, expected, `sampleRate ${rate}`);
        const first = lines[0]!;
        assert.deepEqual([first.client, first.transport, first.opcode, first.handle, first.rc, first.code], ['127.0.0.1', 'udp', 'RESOLUTION', '88.118.8/ACCESS-1', 1, 'SUCCESS']);
        assert.ok(Number.isInteger(first.us) && (first.us as number) >= 0);
        if (rate === 1) {
          assert.deepEqual(lines.map((l) => l.transport), ['udp', 'udp', 'udp', 'udp', 'udp', 'udp', 'tcp', 'tcp', 'tcp', 'udp']);
          assert.deepEqual([lines[9]!.handle, lines[9]!.code], ['88.118.8/MISSING', 'HANDLE_NOT_FOUND']);
        }
      } finally {
        rmSync(path.dirname(t.dir), { recursive: true, force: true });
      }
    }
  });
});

/** An awaited timer: `await sleep(N)` or `await new Promise((r) => setTimeout(r, N))`. */
const AWAITED_TIMER = /await\s+(?:sleep\(\s*([^)]*)\)|new Promise(?:<[^>]*>)?\(\s*\(?\s*(\w+)\s*\)?\s*=>\s*setTimeout\(\s*\2\s*,\s*([^)]*)\))/;
/** Words of a wait for time to pass in the node: a TTL, an expiry, a stale window, a refill, a lockout, a write check. */
const TIME_WORDS = /\b(?:ttl|ttls|expir\w*|stale|refill\w*|lockout\w*|writeCheck\w*)\b/i;

test('no test sleeps to wait for a TTL: every awaited timer in test/ is short and not about a TTL, an expiry or a stale window', (t) => {
  const files = [
    ...readdirSync(path.join(repoRoot, 'test')).filter((f) => f.endsWith('.ts')).map((f) => path.join('test', f)),
    ...readdirSync(path.join(repoRoot, 'test', 'helpers')).filter((f) => f.endsWith('.ts')).map((f) => path.join('test', 'helpers', f)),
  ];
  const offending: string[] = [];
  const remaining: string[] = [];
  for (const file of files) {
    const lines = readFileSync(path.join(repoRoot, file), 'utf8').split('\n');
    lines.forEach((line, i) => {
      const code = line.trim();
      if (code.startsWith('//') || code.startsWith('*') || code.startsWith('/*')) return; // comments
      if (line.includes('AWAITED_TIMER') || line.includes('TIME_WORDS')) return; // this rule itself
      const m = AWAITED_TIMER.exec(line);
      if (!m) return;
      const ms = (m[1] ?? m[3] ?? '').trim();
      const where = `${file}:${i + 1}: ${line.trim()}`;
      const context = lines.slice(Math.max(0, i - 2), i + 2).join('\n');
      if ((/^\d+$/.test(ms) && Number(ms) >= 500) || TIME_WORDS.test(context)) offending.push(where);
      else remaining.push(where);
    });
  }
  t.diagnostic(`awaited timers left (packets in flight, polling for a state, real network timeouts, yields):\n${remaining.join('\n')}`);
  assert.deepEqual(offending, [], 'move the node\'s clock (test/helpers/clock.ts) instead of sleeping');
});
