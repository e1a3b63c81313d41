import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, defaultConfig, loadConfig, validateConfig } from '../src/node/config.js';
import { RULES, configJsonSchema } from '../src/node/config-schema.js';
import { generatedFiles } from '../src/node/config-write-schema.js';
import { numberOption, portOption, workersOption } from '../src/cli/numbers.js';
import { intRange } from '../src/node/config-schema.js';
import { UsageError } from '../src/cli/usage-error.js';
import { validateJsonSchema } from './helpers/json-schema.js';
import { cli, tempDir } from './helpers/node.js';
import { repoRoot } from './helpers/paths.js';

// One declaration (src/config-schema.ts) gives idres's checks, the defaults, the published JSON Schema and
// docs/config.md: these tests hold them to each other and to the files committed.

type Json = Record<string, unknown>;
const schema = configJsonSchema();

/** The problems listed by a ConfigError (and that it is one). */
function problemsOf(f: () => unknown): string[] {
  try {
    f();
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return [...err.problems];
  }
  assert.fail('no ConfigError');
}

function setAt(target: Json, keys: readonly string[], value: unknown): Json {
  let o = target;
  for (const k of keys.slice(0, -1)) o = (o[k] ??= {}) as Json;
  o[keys.at(-1)!] = value;
  return target;
}

function getAt(from: unknown, keys: readonly string[]): unknown {
  return keys.reduce<unknown>((o, k) => (o as Json)[k], from);
}

/** Every object of the schema that refuses unknown keys, with its path (a map's entry under key "88"). */
function strictObjects(s: Json, keys: string[] = [], out: string[][] = []): string[][] {
  if (s.additionalProperties === false) out.push(keys);
  for (const [k, p] of Object.entries((s.properties ?? {}) as Record<string, Json>)) strictObjects(p, [...keys, k], out);
  if (typeof s.additionalProperties === 'object') strictObjects(s.additionalProperties as Json, [...keys, '88'], out);
  return out;
}

/** Every setting with a default in the schema, with its path; whole sections are left out. */
function leafDefaults(s: Json, keys: string[] = [], out: [string[], unknown][] = []): [string[], unknown][] {
  for (const [k, p] of Object.entries((s.properties ?? {}) as Record<string, Json>)) {
    if (p.properties) leafDefaults(p, [...keys, k], out);
    else if ('default' in p) out.push([[...keys, k], p.default]);
  }
  return out;
}

const deployConfigs = () =>
  readdirSync(path.join(repoRoot, 'deploy'))
    .filter((f) => f.endsWith('.idres.json'))
    .map((f) => ({ f, raw: JSON.parse(readFileSync(path.join(repoRoot, 'deploy', f), 'utf8')) as Json }));

describe('the configuration schema', () => {
  test('deploy/idres.schema.json and docs/config.md are what npm run schema writes now', () => {
    for (const { file, text } of generatedFiles()) {
      assert.equal(readFileSync(path.join(repoRoot, file), 'utf8'), text, `${file} is stale: run npm run schema`);
    }
  });

  test('every example configuration in deploy/ names the schema and is valid by it, and by idres', () => {
    const configs = deployConfigs();
    assert.ok(configs.length >= 4);
    for (const { f, raw } of configs) {
      assert.equal(raw.$schema, './idres.schema.json', f);
      assert.deepEqual(validateJsonSchema(schema, raw), [], f);
      validateConfig(raw, f);
    }
    // What idres init writes (the configuration with its defaults) is valid by the schema too.
    assert.deepEqual(validateJsonSchema(schema, JSON.parse(JSON.stringify(defaultConfig()))), []);
  });

  test('the JSON Schema: draft 2020-12, unknown keys refused in every section, every setting described', () => {
    assert.equal(schema.$schema, 'https://json-schema.org/draft/2020-12/schema');
    assert.equal(schema.type, 'object');
    const sections = strictObjects(schema).map((k) => k.join('.'));
    for (const s of ['', 'listen', 'site', 'udp', 'udp.rateLimit', 'udp.rrl', 'tcp', 'recursion', 'cache', 'dns', 'http', 'admin', 'admin.quotas.88', 'admin.failedAuth', 'securityLog', 'durability']) {
      assert.ok(sections.includes(s), `section "${s}" refuses unknown keys`);
    }
    const undescribed: string[] = [];
    const walk = (s: Json, at: string) => {
      for (const [k, p] of Object.entries((s.properties ?? {}) as Record<string, Json>)) {
        if (typeof p.description !== 'string' || p.description.length < 10) undescribed.push(`${at}${k}`);
        walk(p, `${at}${k}.`);
        if (typeof p.additionalProperties === 'object') walk(p.additionalProperties as Json, `${at}${k}.<key>.`);
      }
    };
    walk(schema, '');
    assert.deepEqual(undescribed, []);
  });

  test('the JSON Schema refuses what idres refuses', () => {
    const bad: Json[] = [
      { listen: { port: 70000 } },
      { listen: { host: 'localhost' } },
      { workers: 1.5 },
      { roles: ['king'] },
      { roles: [] },
      { prefixes: ['88 118'] },
      { udp: { rrl: { slip: -1 } } },
      { udp: { rrl: { exempt: ['somewhere'] } } },
      { http: { plainHttpAuth: 'sometimes' } },
      { http: { enabled: 'yes' } },
      { recursion: { roots: ['root'] } },
      { recursion: { trustAnchors: { root: 'k.pem' } } },
      { dns: { zones: [] } },
      { dns: { nameServers: ['not a name'] } },
      { durability: { synchronous: 'off' } },
      { admin: { quotas: { 'not a prefix': {} } } },
      { admin: { quotas: { '88': { maxHandles: -1 } } } },
      { admin: { serverAdmins: ['nobody'] } },
      { database: '' },
      { colour: 'red' },
    ];
    for (const raw of bad) {
      assert.notDeepEqual(validateJsonSchema(schema, raw), [], `the JSON Schema takes ${JSON.stringify(raw)}`);
      assert.throws(() => validateConfig(raw), ConfigError, `idres takes ${JSON.stringify(raw)}`);
    }
  });

  test('a misspelt key is refused with its path, in every section', () => {
    const sections = strictObjects(schema);
    assert.ok(sections.length >= 16);
    for (const keys of sections) {
      const raw = keys.length ? setAt({}, keys, { misspelt: 1 }) : { misspelt: 1 };
      const where = keys.map((k) => (/^\d/.test(k) ? `['${k}']` : `.${k}`)).join('').replace(/^\./, '');
      const want = `unknown setting "${where ? `${where}.` : ''}misspelt"`;
      assert.deepEqual(problemsOf(() => validateConfig(raw)), [want], want);
      assert.notDeepEqual(validateJsonSchema(schema, raw), [], `the JSON Schema takes ${JSON.stringify(raw)}`);
    }
  });

  test('every problem at once, with its path, rules across settings included', () => {
    const problems = problemsOf(() =>
      validateConfig({
        workers: 0,
        listen: { port: 8000 },
        udp: { rrl: { slip: 101, windw: 1 } },
        dns: { zones: ['a..b'] },
        admin: { failedAuth: { lockoutSeconds: 100, maxLockoutSeconds: 10 } },
        recursion: { allow: true },
      }),
    );
    assert.deepEqual(problems, [
      'workers must be an integer from 1 to 64, not 0',
      'udp.rrl.slip must be an integer from 0 to 100, not 101',
      'unknown setting "udp.rrl.windw"',
      'dns.zones[0]: "a..b" is not a zone name: label "" must be 1–63 letters, digits, "-" or "_"',
      'recursion needs recursion.roots (where walks start) or recursion.upstream',
      'http.port 8000 is also the Handle TCP port (listen.port)',
      'admin.failedAuth.maxLockoutSeconds must not be less than lockoutSeconds',
    ]);
    // The message lists them under the file's name.
    assert.throws(() => validateConfig({ workers: 0, tcp: { idle: 1 } }, 'x/idres.json'), {
      message: 'x/idres.json:\n  - workers must be an integer from 1 to 64, not 0\n  - unknown setting "tcp.idle"',
    });
    // A rule whose settings are wrong in themselves is not checked on top of them.
    assert.deepEqual(problemsOf(() => validateConfig({ listen: { port: 8000 }, http: { port: 'x' } })), ['http.port must be an integer from 0 to 65535, not "x"']);
    assert.deepEqual(problemsOf(() => validateConfig({ listen: 8000 })), ['listen must be an object, not 8000']);
  });

  test('each rule across settings', () => {
    assert.equal(RULES.length, 7);
    const refused = (raw: Json, re: RegExp) => assert.ok(problemsOf(() => validateConfig(raw)).some((p) => re.test(p)), `${JSON.stringify(raw)}: ${re}`);
    // Recursion needs somewhere to start; the resolver role turns it on.
    refused({ roles: ['resolver'] }, /^recursion needs recursion\.roots/);
    refused({ roles: ['mirror'] }, /^a mirror needs replication\.primary/);
    refused({ roles: ['mirror'], replication: { primary: '127.0.0.1:2641' } }, /^a mirror needs replication\.identity/);
    refused({ replication: { primary: '127.0.0.1:2641' } }, /^replication\.primary is for a mirror/);
    refused({ recursion: { allow: true } }, /^recursion needs recursion\.roots/);
    assert.equal(validateConfig({ roles: 'resolver', recursion: { roots: ['127.0.0.1:2642'] } }).recursion.allow, true);
    assert.equal(validateConfig({ recursion: { allow: true, upstream: '127.0.0.1:2642' } }).recursion.upstream, '127.0.0.1:2642');
    validateConfig({ recursion: { roots: [], upstream: null } }); // off: nothing needed
    // Certified answers need the key of the upstream, or of every root, whatever the spelling of the address.
    refused({ recursion: { allow: true, upstream: '[::1]:2642', requireCertified: true, trustAnchors: { '127.0.0.1:2642': 'k.pem' } } }, /needs the public key of \[::1\]:2642/);
    validateConfig({ recursion: { allow: true, upstream: '[::1]:2642', requireCertified: true, trustAnchors: { '[::1]:2642': 'k.pem' } } });
    validateConfig({ recursion: { allow: true, roots: ['[ABCD::1]:2642'], requireCertified: true, trustAnchors: { '[abcd::1]:2642': 'k.pem' } } });
    validateConfig({ recursion: { roots: ['127.0.0.1:2642'], requireCertified: true } }); // not resolving: no keys needed
    // HTTP shares no port with the DNS gateway or the Handle TCP port on the same address; 0 is any free port.
    refused({ dns: { enabled: true, port: 8000 } }, /^http\.port 8000 is also the DNS gateway's port$/);
    refused({ listen: { port: 8000 } }, /^http\.port 8000 is also the Handle TCP port \(listen\.port\)$/);
    refused({ listen: { host: '127.0.0.2', port: 8000 }, http: { host: '127.0.0.2' } }, /also the Handle TCP port/);
    validateConfig({ dns: { enabled: false, port: 8000 } });
    validateConfig({ dns: { enabled: true, port: 8000 }, http: { host: '127.0.0.2' } });
    validateConfig({ listen: { port: 8000 }, http: { enabled: false } });
    validateConfig({ listen: { port: 0 }, http: { port: 0 }, dns: { enabled: true, port: 0 } });
    // Lockouts double up to their longest, and failures are remembered at least that long.
    refused({ admin: { failedAuth: { lockoutSeconds: 100, maxLockoutSeconds: 10 } } }, /maxLockoutSeconds must not be less than lockoutSeconds/);
    refused({ admin: { failedAuth: { forgetSeconds: 60 } } }, /forgetSeconds must not be less than maxLockoutSeconds/);
    // Within one setting: a zone once, a role once.
    refused({ dns: { zones: ['id.example.cn', 'ID.example.cn.'] } }, /^dns\.zones lists a zone twice$/);
    assert.deepEqual(validateConfig({ roles: ['top', 'top', 'resolver'], recursion: { roots: ['127.0.0.1:2642'] } }).roles, ['top', 'resolver']);
  });

  test('the defaults: one declaration for idres and the JSON Schema, fresh each time', () => {
    const d = defaultConfig();
    const leaves = leafDefaults(schema);
    assert.ok(leaves.length >= 75, `${leaves.length} defaults`);
    for (const [keys, value] of leaves) assert.deepEqual(getAt(d, keys), value, keys.join('.'));
    assert.deepEqual(validateConfig({}), d);
    assert.equal('$schema' in validateConfig({ $schema: './idres.schema.json' }), false);
    d.udp.rrl.exempt.push('10.0.0.0/8');
    d.dns.zones.push('x.example');
    assert.deepEqual(defaultConfig().udp.rrl.exempt, ['127.0.0.1/32', '::1/128']);
    assert.deepEqual(defaultConfig().dns.zones, ['id.internal']);
    // Settings with no default stay absent; null is the same as absent.
    const n = validateConfig({ recursion: { upstream: null, sourceAddress: null }, dns: { hostmaster: null }, http: { host: null } });
    assert.equal(n.recursion.upstream, undefined);
    assert.equal(n.dns.hostmaster, undefined);
    assert.equal(n.http.host, undefined);
    assert.equal(d.admin.serverAdmins, undefined);
  });

  test('environment overrides are checked with the rest and named', () => {
    const dir = tempDir('idres-config-');
    try {
      writeFileSync(path.join(dir, 'idres.json'), JSON.stringify({ $schema: './idres.schema.json', listen: { port: 2650 }, http: { port: 2651 } }));
      const file = path.join(dir, 'idres.json');
      const c = loadConfig(dir, { IDRES_LISTEN_HOST: '::1', IDRES_PORT: '2660', IDRES_HTTP_PORT: '0' });
      assert.deepEqual([c.listen.host, c.listen.port, c.http.port], ['::1', 2660, 0]);
      assert.throws(() => loadConfig(dir, { IDRES_PORT: 'abc', IDRES_LISTEN_HOST: 'localhost', IDRES_HTTP_PORT: '70000' }), {
        message:
          `${file}:\n` +
          '  - IDRES_LISTEN_HOST (listen.host) must be an IP address, not "localhost"\n' +
          '  - IDRES_PORT (listen.port) must be an integer from 0 to 65535, not "abc"\n' +
          '  - IDRES_HTTP_PORT (http.port) must be an integer from 0 to 65535, not 70000',
      });
      // The rules see the overrides too, and say where a setting came from.
      assert.deepEqual(problemsOf(() => loadConfig(dir, { IDRES_PORT: '2651' })), ['http.port 2651 is also the Handle TCP port (listen.port); listen.port comes from IDRES_PORT']);
      // An empty variable is no override.
      assert.equal(loadConfig(dir, { IDRES_PORT: '' }).listen.port, 2650);
      // A misspelt key in the file is refused with its path.
      writeFileSync(path.join(dir, 'idres.json'), JSON.stringify({ http: { prot: 1 } }));
      assert.deepEqual(problemsOf(() => loadConfig(dir, {})), ['unknown setting "http.prot"']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('numbers on the command line go through the same pieces', async () => {
    assert.equal(portOption('--port')('2641'), 2641);
    assert.equal(portOption('--port')(' 0 '), 0);
    assert.equal(workersOption('--workers')('4'), 4);
    assert.equal(numberOption('--rate', intRange(0, 10))('10'), 10);
    for (const [parse, text, message] of [
      [workersOption('--workers'), 'abc', '--workers must be an integer from 1 to 64, not "abc"'],
      [workersOption('--workers'), '65', '--workers must be an integer from 1 to 64, not 65'],
      [portOption('--port'), '70000', '--port must be an integer from 0 to 65535, not 70000'],
      [portOption('--http-port'), '', '--http-port must be an integer from 0 to 65535, not ""'],
      [portOption('--port'), '0x10', '--port must be an integer from 0 to 65535, not "0x10"'],
      [portOption('--port'), '1e3', '--port must be an integer from 0 to 65535, not "1e3"'],
      [portOption('--port'), '80.5', '--port must be an integer from 0 to 65535, not 80.5'],
    ] as const) {
      assert.throws(() => parse(text), (err: unknown) => err instanceof UsageError && err.message === message, `${text}: ${message}`);
    }
    // The real command: one line, exit status 2, before any node folder is read.
    const dir = tempDir('idres-config-cli-');
    try {
      for (const [args, line] of [
        [['serve', '--dir', dir, '--workers', 'abc'], 'idres: --workers must be an integer from 1 to 64, not "abc"'],
        [['serve', '--dir', dir, '--port', '70000'], 'idres: --port must be an integer from 0 to 65535, not 70000'],
        [['init', '--dir', dir, '--http-port', '-1'], 'idres: --http-port must be an integer from 0 to 65535, not -1'],
        [['import', 'x.csv', '--dir', dir, '--batch-size', '0'], 'idres: --batch-size must be an integer of at least 1, not 0'],
      ] as const) {
        const r = await cli([...args]);
        assert.equal(r.code, 2, r.stderr);
        assert.equal(r.stderr, line + '\n');
      }
      assert.deepEqual(readdirSync(dir), []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
