// The HTTP baseline: the smallest node:http program that answers the benchmark's GET /api/handles/…
// requests, with the very bodies idres sent for them (bench/http.ts fetches them first) kept in a Map keyed
// by the request target — no routing, no query parsing, no resolution, no metrics. Its rate on this machine
// is the Node ceiling the JSON API is measured against.
//
//   node dist/bench/http-baseline.js --port P --bodies FILE
//
// FILE is JSON: [[target, body], …]. Answers carry the headers idres's do (Content-Type, Content-Length).
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { arg } from './common.js';

const port = arg('port', 0);
const i = process.argv.indexOf('--bodies');
if (i < 0) throw new Error('--bodies FILE is needed');
const entries = JSON.parse(readFileSync(process.argv[i + 1]!, 'utf8')) as Array<[string, string]>;

const TYPE = 'application/json;charset=UTF-8';
const answers = new Map<string, { bytes: Buffer; length: string }>();
for (const [target, body] of entries) {
  const bytes = Buffer.from(body, 'utf8');
  answers.set(target, { bytes, length: String(bytes.length) });
}

const server = http.createServer((req, res) => {
  const a = answers.get(req.url ?? '');
  if (!a) {
    res.writeHead(404, { 'Content-Length': '0' });
    res.end();
    return;
  }
  res.writeHead(200, { 'Content-Type': TYPE, 'Content-Length': a.length });
  res.end(req.method === 'HEAD' ? undefined : a.bytes);
});
server.keepAliveTimeout = 5000;
server.listen(port, '127.0.0.1', () => {
  const p = (server.address() as { port: number }).port;
  console.log(`http baseline ready on ${p} with ${answers.size} answers`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
