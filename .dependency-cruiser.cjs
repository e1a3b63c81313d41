// The layer rules of docs/architecture.md, checked by `npm run lint:layers` (the first step of `npm test`).
// A request flows one way, and so do the imports:
//
//   cli → node → server → wire, http, dns → resolve, admin → store, client → protocol → model
//
// log/ (the logger, its levels, the limit on lines input can cause) stands apart: any layer that logs may use
// it, model/ and protocol/ excepted; it uses no other folder of src/.
//
// How the TypeScript is read: dependency-cruiser 17 parses TypeScript with the TypeScript compiler's JS API,
// which TypeScript 7 no longer has. Without it, it hands each file to acorn, whose loose parser still reads
// every import and export declaration (ours all sit at the head of a file, type-only ones included, so a
// type import counts like any other). That is why the script passes the files by glob ("src/**/*.ts"): a
// folder would be scanned only for extensions a transpiler is installed for. The NodeNext specifiers
// ("./x.js") resolve to the .ts beside them: resolution looks for .ts first.

/** Modules that reach the outside world: files, sockets, processes, the database, HTTP, logs. */
const IO_CORE = '^(fs|net|dgram|http|https|http2|tls|dns|child_process|cluster|worker_threads|readline)($|/)';
const IO_PACKAGES = 'node_modules/(better-sqlite3|undici|prom-client|pino|commander)/';

/** A rule that `from` may import none of the folders `to` (each a folder under src/). */
const knowsNothingOf = (name, comment, from, folders) => ({
  name,
  comment,
  severity: 'error',
  from: { path: `^src/${from}/` },
  to: { path: `^src/(${folders.join('|')})/` },
});

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'A cycle makes two modules one: neither can be read, tested or moved without the other.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'pure-no-io',
      comment:
        'model/ and protocol/ are pure: no files, sockets, database or HTTP, so they are tested byte for byte and fuzzed without any. ' +
        "(protocol/site.ts reads node:net's isIPv4/isIPv6, which do no I/O.)",
      severity: 'error',
      from: { path: '^src/(model|protocol)/' },
      to: { path: [IO_CORE, IO_PACKAGES], pathNot: '^net$' },
    },
    {
      name: 'pure-no-net',
      comment: 'node:net is allowed in protocol/site.ts alone, for its address syntax checks.',
      severity: 'error',
      from: { path: '^src/(model|protocol)/', pathNot: '^src/protocol/site\\.ts$' },
      to: { path: '^net$' },
    },
    knowsNothingOf('model-is-the-bottom', 'model/ is the vocabulary every layer shares: it imports no other layer.', 'model', [
      'protocol', 'store', 'client', 'resolve', 'admin', 'wire', 'http', 'dns', 'server', 'node', 'cli', 'bench', 'demo', 'log',
    ]),
    knowsNothingOf('protocol-above-model-only', 'protocol/ is the codec: it knows the model and nothing above it.', 'protocol', [
      'store', 'client', 'resolve', 'admin', 'wire', 'http', 'dns', 'server', 'node', 'cli', 'bench', 'demo', 'log',
    ]),
    knowsNothingOf(
      'log-stands-alone',
      'log/ is the logger every layer that logs may use (model/ and protocol/ excepted: they are pure); it knows none of them. What logs requests (the access log) or composes the logging from the configuration lives in wire/ and node/.',
      'log',
      ['model', 'protocol', 'store', 'client', 'resolve', 'admin', 'wire', 'http', 'dns', 'server', 'node', 'cli', 'bench', 'demo'],
    ),
    knowsNothingOf('store-knows-no-resolution', 'store/ keeps handles; what is asked of them, and how, is above it.', 'store', [
      'client', 'resolve', 'admin', 'wire', 'http', 'dns', 'server', 'node', 'cli', 'bench', 'demo',
    ]),
    knowsNothingOf('client-knows-no-server', 'client/ speaks to other servers; it knows nothing of this one.', 'client', [
      'store', 'resolve', 'admin', 'wire', 'http', 'dns', 'server', 'node', 'cli', 'demo',
    ]),
    knowsNothingOf('resolve-knows-no-transport-or-admin', 'resolve/ answers questions whatever carried them, and changes nothing.', 'resolve', [
      'admin', 'wire', 'http', 'dns', 'server', 'node', 'cli', 'demo',
    ]),
    knowsNothingOf('admin-knows-no-transport', 'admin/ checks and carries out operations whatever carried them.', 'admin', [
      'resolve', 'wire', 'http', 'dns', 'server', 'node', 'cli', 'demo',
    ]),
    knowsNothingOf('replicate-knows-no-transport', 'replicate/ copies registries between nodes (the primary\'s source, the mirror\'s loop); it answers nothing itself and knows no transport, resolution or administration.', 'replicate', [
      'resolve', 'admin', 'wire', 'http', 'dns', 'server', 'node', 'cli', 'demo',
    ]),
    knowsNothingOf('fronts-know-no-transport', 'wire/, http/ and dns/ turn requests into answers whatever transport carries them; the transports use them, not the other way round.', '(wire|http|dns)', [
      'server', 'node', 'cli',
    ]),
    knowsNothingOf('wire-is-apart', 'wire/, http/ and dns/ are three front doors on the same layers, none built on another.', 'wire', ['http', 'dns']),
    knowsNothingOf('http-is-apart', 'wire/, http/ and dns/ are three front doors on the same layers, none built on another.', 'http', ['wire', 'dns']),
    knowsNothingOf('dns-is-apart', 'wire/, http/ and dns/ are three front doors on the same layers, none built on another.', 'dns', ['wire', 'http']),
    knowsNothingOf(
      'transports-reach-data-through-the-fronts',
      'server/ moves bytes: it reaches answers only through the dispatcher (wire/), the HTTP exchange (http/) and the DNS gateway, never the layers under them.',
      'server',
      ['resolve', 'admin', 'store', 'client', 'node', 'cli', 'demo'],
    ),
    {
      name: 'only-cli-imports-node',
      comment: 'node/ wires everything together; only the command line starts it (and tests and benchmarks, outside src/).',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(cli|node)/' },
      to: { path: '^src/node/' },
    },
    {
      name: 'nothing-imports-cli',
      comment: 'cli/ is the top: parse, call the layers, print.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/cli/' },
      to: { path: '^src/cli/' },
    },
  ],
  options: {
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: 'node_modules' },
    // A specifier that names no file ("./x.js" in a TypeScript source) is tried again without its
    // extension, and these find "./x.ts".
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
