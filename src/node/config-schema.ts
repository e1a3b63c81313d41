import { isIP } from 'node:net';
import { z } from 'zod';
import { isValidPrefix } from '../model/handle.js';
import { DnsMappingError, normaliseZone } from '../dns/mapping.js';
import { parseIdentity } from '../admin/permissions.js';
import { parseCidr } from '../model/address.js';
import { LOG_LEVELS } from '../log/levels.js';

// The configuration of a node (idres.json), declared once: the TypeScript type (config.ts: NodeConfig), the
// defaults, the checks with the path of every problem, the JSON Schema (deploy/idres.schema.json) and the
// reference (docs/config.md) all come from this declaration. The descriptions are the documentation: they
// are written into the JSON Schema and docs/config.md (npm run schema).

export const ROLES = ['top', 'secondary', 'business', 'resolver', 'mirror'] as const;
export type Role = (typeof ROLES)[number];
export const SYNCHRONOUS = ['normal', 'full', 'extra'] as const;
export type Synchronous = (typeof SYNCHRONOUS)[number];
export const PLAIN_HTTP_AUTH = ['loopback', 'always', 'never'] as const;

export const CONFIG_FILE = 'idres.json';
export const DEFAULT_DIR = 'idres-node';
export const DEFAULT_PORT = 2641;
/** Not 53 (that needs privileges) nor 5353 (mDNS). */
export const DEFAULT_DNS_PORT = 5300;
/** The reference server's HTTP port. */
export const DEFAULT_HTTP_PORT = 8000;

const HOST_PORT = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/;

/** "192.0.2.1:2641" or "[2001:db8::1]:2641". */
export function isHostPort(s: string): boolean {
  const m = HOST_PORT.exec(s);
  if (!m) return false;
  const port = Number(m[3]);
  return isIP(m[1] ?? m[2]!) !== 0 && port > 0 && port <= 65535;
}

/** "address:port" spelled one way (IPv6 in brackets, lower case), to compare configured servers. */
export function canonicalHostPort(s: string): string {
  const m = HOST_PORT.exec(s);
  if (!m) return s;
  const host = (m[1] ?? m[2]!).toLowerCase();
  return `${host.includes(':') ? `[${host}]` : host}:${Number(m[3])}`;
}

// ---------------------------------------------------------------------------------------------------------
// The pieces. Each message is a predicate of the setting's path ("listen.port must be …"); see formatIssues.

const show = (v: unknown): string => (v === undefined ? 'nothing' : JSON.stringify(v));

/** What the JSON Schema says of a piece beyond what zod derives from it (see configJsonSchema). */
const jsonExtras = new WeakMap<object, Record<string, unknown>>();
function json<T extends object>(schema: T, extra: Record<string, unknown>): T {
  jsonExtras.set(schema, extra);
  return schema;
}

/**
 * An integer from min to max. Not z.int(): its non-integer issue aborts the whole parse, which would keep the
 * cross-field rules below from running while another setting is wrong.
 */
export function intRange(min: number, max: number): z.ZodNumber {
  const range = max >= Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `from ${min} to ${max}`;
  const error = (iss: { input?: unknown }) => `must be an integer ${range}, not ${show(iss.input)}`;
  return json(z.number({ error }).min(min, { error }).max(max, { error }).refine(Number.isInteger, { error }), { type: 'integer' });
}

/** A number, fractions allowed, from min (no upper bound). */
export function numberFrom(min: number): z.ZodNumber {
  const error = (iss: { input?: unknown }) => `must be a number of at least ${min}, not ${show(iss.input)}`;
  return z.number({ error }).min(min, { error });
}

/** A TCP or UDP port; 0 asks for any free port. */
export const port = () => intRange(0, 65535);
/** 1 and up, to JavaScript's largest exact integer. */
export const positiveInt = () => intRange(1, Number.MAX_SAFE_INTEGER);
/** 0 and up. */
export const nonNegativeInt = () => intRange(0, Number.MAX_SAFE_INTEGER);
/** A protocol's unsigned 32-bit field (a TTL in seconds, a value's index). */
export const u32 = (min = 0) => intRange(min, 0xffffffff);
/** Processes serving the port together (the setting "workers", and serve --workers). */
export const workerCount = () => intRange(1, 64);

const bool = () => z.boolean({ error: (iss) => `must be true or false, not ${show(iss.input)}` });
const nonEmpty = () => z.string({ error: 'must be a non-empty string' }).min(1, { error: 'must be a non-empty string' });
const ipAddress = () => {
  const error = (iss: { input?: unknown }) => `must be an IP address, not ${show(iss.input)}`;
  return json(z.string({ error }).refine((s) => isIP(s) !== 0, { error }), { anyOf: [{ format: 'ipv4' }, { format: 'ipv6' }] });
};
/**
 * Patterns the JSON Schema gives editors for strings checked here with code (isHostPort, isValidPrefix …):
 * close to those checks, not the checks themselves. `words` is what docs/config.md says of them.
 */
export const PATTERNS = {
  hostPort: { pattern: '^(\\[[0-9A-Fa-f:.]+\\]|[0-9.]+):[0-9]{1,5}$', words: '"address:port", e.g. `192.0.2.1:2641` or `[2001:db8::1]:2641`' },
  prefix: { pattern: '^[^\\s/\\u0000-\\u001f\\u007f.]+(\\.[^\\s/\\u0000-\\u001f\\u007f.]+)*$', words: 'a prefix, e.g. `88.118.8`' },
  cidr: { pattern: '^[0-9A-Fa-f:.]+/[0-9]{1,3}$', words: 'an address block, e.g. `192.0.2.0/24` or `2001:db8::/48`' },
  dnsName: { pattern: '^[A-Za-z0-9_-]{1,63}(\\.[A-Za-z0-9_-]{1,63})*\\.?$', words: 'a DNS name, e.g. `id.example.cn`' },
  identity: { pattern: '^([0-9]+:.+/.*|.+/.*:[0-9]+)$', words: 'an identity INDEX:HANDLE, e.g. `300:0.NA/88.118.8`' },
} as const;
const pattern = (p: keyof typeof PATTERNS) => ({ pattern: PATTERNS[p].pattern });
const hostPort = () => {
  const error = (iss: { input?: unknown }) => `must be "address:port" such as "192.0.2.1:2641" or "[2001:db8::1]:2641", not ${show(iss.input)}`;
  return json(z.string({ error }).refine(isHostPort, { error }), pattern('hostPort'));
};
/** An identity "INDEX:HANDLE"; `example` is what the message offers. */
const identity = (example: string) =>
  json(
    z.string().refine((s) => parseIdentity(s) !== undefined, { error: (iss) => `must be an identity such as "${example}", not ${show(iss.input)}` }),
    pattern('identity'),
  );
/** Absent, or null (the same): a setting with no default. */
const optional = <T extends z.ZodType<string>>(s: T) => s.nullish().transform((v) => v ?? undefined);

/** A host name for NS and SOA fields: letters, digits, "-" and "_" in labels, written absolute. */
function hostName(v: string): string | undefined {
  const n = v.trim().replace(/\.$/, '').toLowerCase();
  if (n.length === 0 || n.length > 253 || !n.split('.').every((l) => /^[a-z0-9_-]{1,63}$/.test(l))) return undefined;
  return n + '.';
}
const hostNameSchema = (what: string) =>
  json(z.string({ error: (iss) => `must be ${what}, not ${show(iss.input)}` }), pattern('dnsName')).transform((v, ctx) => {
    const n = hostName(v);
    if (n === undefined) ctx.issues.push({ code: 'custom', input: v, message: `must be ${what}, not ${show(v)}` });
    return n ?? v;
  });

const zone = json(z.string(), pattern('dnsName')).transform((v, ctx) => {
  try {
    return normaliseZone(v);
  } catch (err) {
    if (!(err instanceof DnsMappingError)) throw err;
    ctx.issues.push({ code: 'custom', input: v, message: err.message, params: { detail: true } });
    return v;
  }
});

const lowerCase = (v: unknown) => (typeof v === 'string' ? v.toLowerCase() : v);
const synchronous = (fallback: Synchronous) =>
  z.preprocess(
    lowerCase,
    z.enum(SYNCHRONOUS, { error: (iss) => `must be one of ${SYNCHRONOUS.join(', ')} (SQLite's synchronous), not ${show(iss.input)}` }).default(fallback),
  );

/** The part of a zod schema the JSON Schema and the documentation show. */
const doc = (description: string) => ({ description });

// ---------------------------------------------------------------------------------------------------------
// The declaration.

const listen = z
  .strictObject({
    host: ipAddress().default('127.0.0.1').meta(doc('The IP address the Handle UDP and TCP ports (and, unless configured apart, HTTP and DNS) listen on. IDRES_LISTEN_HOST overrides it.')),
    port: port().default(DEFAULT_PORT).meta(doc('The Handle protocol port, UDP and TCP (2641 is the protocol\'s; 0: any free port). IDRES_PORT, `idres init --port` and `idres serve --port` set it.')),
  })
  .prefault({})
  .meta(doc('Where the node answers the Handle protocol.'));

const site = z
  .strictObject({
    serial: intRange(0, 65535).default(1).meta(doc('The site record\'s serial number (HS_SITE); also the DNS gateway\'s SOA serial.')),
    serverId: intRange(0, 0xffffffff).default(1).meta(doc('This server\'s id within its site.')),
    description: nonEmpty().default('idres node').meta(doc('The description written into the site record.')),
  })
  .prefault({})
  .meta(doc('What this node writes into its site record (HS_SITE), which clients elsewhere read to reach it.'));

const rrl = z
  .strictObject({
    responsesPerSecond: intRange(0, 10_000_000).default(200).meta(doc('Answers a second per network; 0 turns response limiting off.')),
    burst: intRange(1, 100_000_000).default(200).meta(doc('Answers a quiet network may receive at once (the bucket\'s size).')),
    slip: intRange(0, 100)
      .default(2)
      .meta(doc('Every slip-th limited answer goes out as a short TC answer (the client asks again over TCP), the rest are dropped; 0 drops all, 1 sends every one as TC.')),
    ipv4PrefixLength: intRange(8, 32).default(24).meta(doc('The network an IPv4 source is counted under.')),
    ipv6PrefixLength: intRange(16, 64).default(56).meta(doc('The network an IPv6 source is counted under.')),
    tableSize: intRange(64, 1 << 24)
      .default(65536)
      .meta(doc('Networks tracked at once: a fixed table allocated at start (rounded up to a power of two; 64 bytes each, 4 MiB by default).')),
    exempt: z
      .array(
        json(
          z.string().refine((s) => parseCidr(s) !== undefined, {
            error: (iss) => `must be an address block such as "192.0.2.0/24" or "2001:db8::/48", not ${show(iss.input)}`,
          }),
          pattern('cidr'),
        ),
      )
      .default(['127.0.0.1/32', '::1/128'])
      .meta(
        doc(
          'Address blocks never limited. The host\'s own loopback address is exempt by default (it cannot arrive from outside; local tools, the demo\'s tiers and benchmarks use it); the rest of 127/8 is limited like any network.',
        ),
      ),
  })
  .prefault({})
  .meta(doc('Response-rate limiting of every UDP answer by source network, as NSD and Knot do it (docs/security.md).'));

const udp = z
  .strictObject({
    maxResponseBytes: intRange(492, 262144)
      .default(65536)
      .meta(
        doc(
          'The largest answer sent over UDP; larger ones are refused there and go over TCP. 64 KiB carries the reference\'s own large answers while bounding what one small unauthenticated datagram can make the node send.',
        ),
      ),
    rateLimit: z
      .strictObject({
        minBytes: intRange(492, 262144).default(1232).meta(doc('Answers larger than this (in message bytes) also cost their bytes.')),
        bytesPerSecond: intRange(0, 2 ** 40)
          .default(1048576)
          .meta(doc('Bytes of such answers a second per source network; past it the client gets a short TC answer and asks over TCP, so a forged source gains no amplification. 0 turns the byte budget off.')),
      })
      .prefault({})
      .meta(doc('The byte budget of large UDP answers, per source network (counted in the same table as udp.rrl).')),
    rrl,
  })
  .prefault({})
  .meta(doc('The Handle UDP port: the size of answers and the limits per source network (docs/security.md).'));

const tcp = z
  .strictObject({
    idleTimeoutMs: intRange(100, 3_600_000).default(60000).meta(doc('A connection with no byte either way for this long is closed.')),
    maxConnections: intRange(1, 1_000_000).default(4096).meta(doc('Open Handle TCP connections (and, apart, DNS TCP connections); beyond, new ones are refused.')),
    maxConnectionsPerAddress: intRange(1, 1_000_000)
      .default(64)
      .meta(doc('Connections one address (IPv6: one /64) may hold, on the Handle TCP port and apart on the DNS TCP port; past it, new ones are closed at once.')),
    requestTimeoutMs: intRange(100, 3_600_000)
      .default(10000)
      .meta(doc('A request must arrive whole within this of its first byte, and written answers must be taken within it.')),
    maxQueuedBytes: intRange(512 * 1024, 2 ** 30)
      .default(1024 * 1024)
      .meta(
        doc(
          'Bytes one connection may hold (requests read and not answered, the request being read, answers not yet taken); past it, it is closed. At least what one whole request (256 KiB) and the answer being sent need.',
        ),
      ),
  })
  .prefault({})
  .meta(doc('The Handle TCP port; its per-client bounds also bound DNS over TCP (docs/security.md).'));

const recursion = z
  .strictObject({
    allow: bool().default(false).meta(doc('Resolve for clients that set REC. A node with the resolver role always does.')),
    roots: z.array(hostPort()).default([]).meta(doc('Root (top-level) servers where walks start, "address:port".')),
    upstream: optional(hostPort()).meta(doc('Instead of walking: forward recursive requests to this server ("address:port"), e.g. a business node to its secondary.')),
    maxReferrals: intRange(0, 1000).default(40).meta(doc('Referrals one walk may follow.')),
    maxRecursionCount: intRange(1, 255).default(8).meta(doc('A request that has passed through this many servers already gets RC 6.')),
    udpTimeoutsMs: z
      .array(intRange(1, 60000))
      .default([500, 1000])
      .meta(doc('The wait after each UDP try to another server before the next (then TCP), in milliseconds.')),
    tcpTimeoutMs: intRange(10, 600000).default(3000).meta(doc('The wait for an answer over TCP from another server.')),
    sourceAddress: optional(ipAddress()).meta(
      doc(
        'The address queries to other servers go out from (each from a fresh socket on a random port); absent: the listen address. A loopback address is used only towards loopback servers; a server of the other address family gets the wildcard of its family (docs/security.md).',
      ),
    ),
    maxConcurrentQueries: intRange(1, 65536)
      .default(128)
      .meta(doc('Exchanges with other servers at once; each holds one socket, so this is also the resolver\'s bound on upstream descriptors.')),
    maxQueuedQueries: intRange(0, 1_000_000).default(512).meta(doc('Exchanges waiting for one of those; new work past this gets RC 2 "resolver busy".')),
    failureTtlSeconds: intRange(0, 3600)
      .default(5)
      .meta(doc('How long a prefix whose walk failed or ended in 301 answers so without a new walk; 0 turns it off.')),
    requireCertified: bool()
      .default(false)
      .meta(doc('Ask other servers for certified answers (CT) and believe only those signed with the key of their site; the roots\' (or the upstream\'s) keys are recursion.trustAnchors.')),
    trustAnchors: z
      .record(
        json(z.string().refine(isHostPort, { error: (iss) => `${show(iss.input)} is not "address:port"` }), pattern('hostPort')),
        z.string({ error: 'must be the file of that server\'s public key' }).min(1, { error: 'must be the file of that server\'s public key' }),
      )
      .default({})
      .meta(doc('The public keys of the roots (and of the upstream), for requireCertified: "address:port" → a file with that server\'s public key, relative to the node folder: PEM (`openssl pkey -in keys/server.key.pem -pubout` on that server) or the HS_PUBKEY bytes of a site record. Read at start; a missing or unusable file stops the node with a clear error.')),
  })
  .prefault({})
  .meta(doc('Resolving on behalf of clients: a resolver always does; other roles when recursion.allow is set and a request sets REC (docs/security.md).'));

const cache = z
  .strictObject({
    maxBytes: intRange(0, 2 ** 40).default(64 * 1024 * 1024).meta(doc('Bound on the hot cache of answers.')),
    negativeTtlSeconds: intRange(0, 86400)
      .default(30)
      .meta(doc('How long "not found" (100) and "no such values" (200) are kept; also how long a missing prefix answers 100 for everything under it, and the DNS gateway\'s SOA minimum.')),
    maxTtlSeconds: intRange(0, 31 * 86400).default(86400).meta(doc('Upper bound on any answer\'s time in the cache, whatever its values\' TTLs say.')),
    staleWindowSeconds: intRange(0, 7 * 86400).default(3600).meta(doc('How long past its TTL an answer may still be served when every upstream fails.')),
    writeCheckMs: intRange(0, 60000).default(10).meta(doc('At most this long between checks for writes by other processes (the CLI, imports).')),
  })
  .prefault({})
  .meta(doc('The hot cache of answers, for local and recursive answers alike.'));

const dns = z
  .strictObject({
    enabled: bool().default(false).meta(doc('Open the DNS gateway (`idres init --dns-port` or `--dns-zone` sets it).')),
    port: port()
      .default(DEFAULT_DNS_PORT)
      .meta(doc('UDP and TCP port, on the listen address (0: any free port). Not 53, which needs privileges, nor 5353 (mDNS).')),
    zones: z
      .array(zone)
      .min(1, { error: 'must be a list of zone names such as "id.example.cn"' })
      .refine((zs) => new Set(zs).size === zs.length, { error: 'lists a zone twice' })
      .prefault(['id.internal'])
      .meta(doc('Zones whose names map to identifiers, e.g. "id.example.cn" (kept in lower case, without the trailing dot); several may be served, each once.')),
    nameServers: z
      .array(hostNameSchema('a host name such as "ns1.example.cn"'))
      .min(1, { error: 'must be a list of host names such as "ns1.example.cn"' })
      .prefault(['localhost.'])
      .meta(doc('Host names of the zones\' name servers (NS records; the first is the SOA\'s primary). The default suits a gateway on loopback; an operator names the real servers.')),
    hostmaster: optional(hostNameSchema('a mailbox in DNS form such as "hostmaster.example.cn"')).meta(
      doc('The SOA\'s mailbox in DNS form; absent: hostmaster.<first zone>.'),
    ),
    ttl: intRange(0, 7 * 86400).default(3600).meta(doc('TTL of the SOA and NS records.')),
    udpPayloadSize: intRange(512, 4096)
      .default(1232)
      .meta(doc('The EDNS(0) UDP payload size offered and honoured (1232: no IP fragmentation on common paths, as DNS flag day 2020 asks).')),
    cacheMaxBytes: intRange(0, 2 ** 40).default(16 * 1024 * 1024).meta(doc('Bound on the cache of encoded DNS answers (docs/dns.md, Speed).')),
    tcpIdleTimeoutMs: intRange(100, 3_600_000)
      .default(10000)
      .meta(doc('An idle DNS TCP connection is closed after this; the other bounds of a TCP client (connections per address, the request deadline, bytes held) are the tcp settings, counted apart.')),
  })
  .prefault({})
  .meta(doc('The DNS gateway (docs/dns.md): identifiers answered as DNS names under the zones. Off by default.'));

const http = z
  .strictObject({
    enabled: bool().default(true).meta(doc('Serve HTTP at all (`idres init --no-http` writes false).')),
    port: port()
      .default(DEFAULT_HTTP_PORT)
      .meta(doc('TCP port (0: any free port; `idres init --port 0`, for tests and `demo --port 0`, writes 0 too). `idres init --http-port`, `idres serve --http-port` and IDRES_HTTP_PORT set it. It may not be the Handle TCP port or the DNS gateway\'s port on the same address.')),
    host: optional(ipAddress()).meta(doc('The address to listen on; absent: the listen address.')),
    maxBodyBytes: intRange(1024, 256 * 1024 * 1024)
      .default(1024 * 1024)
      .meta(doc('Largest request body accepted (PUT values); larger ones get 413 (a Content-Length over it before anything is read).')),
    requestTimeoutMs: intRange(100, 3_600_000)
      .default(30000)
      .meta(doc('A whole request (headers and body) must arrive within this, or the connection is closed (408; slow clients); a connection with no byte either way for this long is closed.')),
    headersTimeoutMs: intRange(100, 3_600_000)
      .default(10000)
      .meta(doc('The request line and headers must arrive within this (at most requestTimeoutMs), also on a connection that sends nothing (408).')),
    keepAliveTimeoutMs: intRange(100, 3_600_000).default(5000).meta(doc('An idle kept-alive connection is closed after this.')),
    maxConnections: intRange(1, 1_000_000).default(1024).meta(doc('Open HTTP connections; beyond, new ones are refused.')),
    maxConnectionsPerAddress: intRange(1, 1_000_000)
      .default(64)
      .meta(doc('Connections one address (an IPv6 /64) may hold; past it, new ones are closed at once, so others keep their share.')),
    plainHttpAuth: z
      .enum(PLAIN_HTTP_AUTH, { error: (iss) => `must be one of ${PLAIN_HTTP_AUTH.join(', ')}, not ${show(iss.input)}` })
      .default('loopback')
      .meta(
        doc(
          'When credentials sent over plain HTTP are honoured. The reference honours them only over HTTPS; a node without TLS of its own accepts them from loopback peers (a local tool, or a TLS proxy in front), from anyone with "always" (behind a TLS-terminating proxy), or never.',
        ),
      ),
    readCacheMaxBytes: intRange(0, 2 ** 40)
      .default(16 * 1024 * 1024)
      .meta(doc('Bound on the finished answers of anonymous GET /api/handles reads kept for the next asker (docs/http.md, Speed); 0: none kept.')),
    redirectFront: bool().default(true).meta(doc('Answer GET /PREFIX/SUFFIX with a redirect to the identifier\'s URL (or a page of its values); off: 404.')),
  })
  .prefault({})
  .meta(doc('The HTTP face (docs/http.md): the JSON API, the redirect front, /metrics, /healthz and /readyz. On by default, on the listen address.'));

const quota = z
  .strictObject({
    maxHandles: nonNegativeInt().optional().meta(doc('Identifiers registered directly under the prefix (RC 604 past it).')),
    maxPrefixes: nonNegativeInt().optional().meta(doc('Prefix handles 0.NA/PREFIX.… derived from it (RC 605).')),
    dailyRequestsPerClient: nonNegativeInt().optional().meta(doc('Administrative requests (writes and listings) one client may make under it in a UTC day (RC 603).')),
  })
  .meta(doc('The quotas of one prefix; each is off unless set.'));

const failedAuth = z
  .strictObject({
    perIdentity: intRange(0, 1_000_000).default(10).meta(doc('Failures of one identity before it is locked; 0: no limit per identity.')),
    perSource: intRange(0, 1_000_000).default(30).meta(doc('Failures from one source before it is locked; 0: no limit per source.')),
    lockoutSeconds: intRange(1, 86400).default(1).meta(doc('The first lockout; each further one twice as long.')),
    maxLockoutSeconds: intRange(1, 7 * 86400).default(900).meta(doc('The longest lockout (at least lockoutSeconds).')),
    forgetSeconds: intRange(1, 30 * 86400).default(3600).meta(doc('Failures are forgotten after this long without one (at least maxLockoutSeconds).')),
  })
  .prefault({})
  .meta(doc('Failed authentications per identity and per source before lockouts (docs/security.md).'));

const admin = z
  .strictObject({
    serverAdmins: z
      .array(identity('300:0.NA/88.118.8'))
      .optional()
      .meta(doc('Identities that pass every permission check on this node, as "INDEX:HANDLE" (the reference\'s server_admins). Absent: the administrator of each homed prefix, 300:0.NA/PREFIX.')),
    allowListHandles: bool().default(true).meta(doc('Answer LIST_HANDLES (the reference\'s allow_list_hdls).')),
    challengeTimeoutSeconds: intRange(1, 3600).default(60).meta(doc('How long a 402 challenge may be answered (the reference\'s max_auth_time).')),
    maxSessionSeconds: intRange(1, 7 * 86400)
      .default(86400)
      .meta(doc('Upper bound on the idle timeout a client may ask for its session (the reference\'s max_session_time).')),
    requireSessions: bool().default(false).meta(doc('Refuse administrative requests outside a session (the reference\'s require_sessions).')),
    quotas: z
      .record(
        json(z.string().refine(isValidPrefix, { error: (iss) => `${show(iss.input)} is not a prefix` }), pattern('prefix')),
        quota,
      )
      .default({})
      .meta(doc('Quotas per prefix, keyed by prefix (off unless set). A quota set on a prefix covers the prefixes derived from it too, the nearest configured one applying.')),
    failedAuth,
  })
  .prefault({})
  .meta(doc('Administration over the wire and HTTP (docs/protocol.md §11): who may, for how long, and how much.'));

const securityLog = z
  .strictObject({
    intervalSeconds: intRange(1, 86400).default(10).meta(doc('The log\'s interval (also how often a limited network is reported again).')),
    linesPerInterval: intRange(1, 1_000_000).default(10).meta(doc('Lines per event name per interval; past them events are only counted.')),
  })
  .prefault({})
  .meta(doc('The security log\'s own limit: per event name, at most linesPerInterval lines each intervalSeconds (docs/security.md).'));

/** A fraction of requests: 0 (none) to 1 (every one). */
const sampleRate = () => {
  const error = (iss: { input?: unknown }) => `must be a number from 0 (off) to 1 (every request), not ${show(iss.input)}`;
  return z.number({ error }).min(0, { error }).max(1, { error });
};

const log = z
  .strictObject({
    level: z
      .enum(LOG_LEVELS, { error: (iss) => `must be one of ${LOG_LEVELS.join(', ')}, not ${show(iss.input)}` })
      .default('info')
      .meta(doc('Lines below this level are not written (`idres serve --log-level` overrides it).')),
    intervalSeconds: intRange(1, 86400)
      .default(10)
      .meta(doc('The interval of the limit on lines input can cause (a malformed request, an internal error answering one).')),
    linesPerInterval: intRange(1, 1_000_000)
      .default(10)
      .meta(doc('Lines of each kind input can cause per interval; past them they are only counted, and the count is written when the interval ends.')),
    access: z
      .strictObject({
        sampleRate: sampleRate()
          .default(0)
          .meta(doc('One Handle request in 1/sampleRate is logged: 0 turns the access log off, 1 logs every request, 0.01 one in a hundred.')),
        file: optional(nonEmpty()).meta(doc('The access log\'s file, relative to the node folder (appended to; SIGHUP opens it again after a rotation). Absent: the lines go to the node\'s log.')),
      })
      .prefault({})
      .meta(doc('The access log of Handle requests: client, transport, opcode, handle, response code and time taken, one JSON object a line.')),
  })
  .prefault({})
  .meta(doc('The node\'s log (docs/operations.md): its level, the limit on lines input can cause, and the access log.'));

const audit = z
  .strictObject({
    retainDays: intRange(1, 36500).default(365).meta(doc('Audit rows older than this many days are deleted: when the node starts and once a day while it runs.')),
  })
  .prefault({})
  .meta(doc('The audit log of administrative changes, kept in the registry (docs/operations.md; `idres audit` reads it).'));

const durability = z
  .strictObject({
    synchronous: synchronous('full').meta(
      doc('SQLite\'s synchronous setting for the node\'s connection (every write over the wire and HTTP) and the CLI\'s register, update, delete and prefix commands.'),
    ),
    importSynchronous: synchronous('full').meta(doc('The same for `idres import` (and the quick start\'s demo data).')),
  })
  .prefault({})
  .meta(
    doc(
      'What an acknowledged write survives (docs/security.md, Durability). "full" (the default) survives power loss: the WAL is flushed at every commit; "normal" survives a crash of the process but maybe not the last commits on power loss; "extra" is as full. "off" is refused: it can corrupt the database on power loss. (idres also reads the names in capitals.)',
    ),
  );

const store = z
  .strictObject({
    // The defaults are the registry's (store/registry.ts: DEFAULT_CACHE_MIB, DEFAULT_MMAP_MIB), written out
    // here so the schema does not load the database driver.
    cacheSizeMiB: intRange(1, 2 ** 20)
      .default(64)
      .meta(doc('SQLite\'s page cache for each of the node\'s two connections to the registry (its reads and writes, and the miss path\'s point reads), in MiB: the hot B-tree pages, beside the operating system\'s cache of the file.')),
    mmapSizeMiB: intRange(0, 2 ** 20)
      .default(2047)
      .meta(doc('How much of the registry file SQLite maps into memory, in MiB (reads without a system call each); 0 reads with system calls. SQLite caps it at just under 2 GiB unless built otherwise.')),
  })
  .prefault({})
  .meta(doc('The registry file\'s memory (docs/benchmarks.md, Cold): what a miss of the answer cache reads through.'));

const replication = z
  .strictObject({
    admins: z.array(identity('301:0.NA/88.118.8')).default([]).meta(doc(
      'Identities ("INDEX:HANDLE") allowed to pull this node\'s registry with the replication operations (GET_NEXT_TXN_ID, RETRIEVE_TXN_LOG, DUMP_HANDLES): its mirrors. Empty: nobody may (the reference\'s replication_admins).',
    )),
    retainTxns: intRange(1, Number.MAX_SAFE_INTEGER)
      .default(1_000_000)
      .meta(doc('Transaction log entries kept for mirrors; a mirror further behind re-copies the registry. The newest entries are kept whatever their age.')),
    retainDays: intRange(1, 36500).default(7).meta(doc('Transaction log entries older than this many days are dropped (checked when the node starts and every minute).')),
    primary: optional(hostPort()).meta(doc('On a mirror (role "mirror"): its primary, "address:port" (TCP).')),
    primaryKey: nonEmpty()
      .default('keys/primary.pub')
      .meta(doc('On a mirror: the primary\'s public key (HS_PUBKEY bytes, as `idres init --role mirror` fetched it), relative to the node folder; replication streams are signed with it.')),
    identity: optional(identity('301:0.NA/88.118.8')).meta(doc('On a mirror: the identity it pulls as ("INDEX:HANDLE"), proven with the server key; the primary lists it in replication.admins.')),
    pollMs: intRange(10, 3_600_000).default(200).meta(doc('On a mirror: how often it asks its primary for new transactions once caught up.')),
    maxLagSeconds: intRange(1, 86400 * 365)
      .default(30)
      .meta(doc('On a mirror: /readyz says not ready when it has not been caught up with its primary for longer than this (or while it copies).')),
    timeoutMs: intRange(100, 3_600_000).default(10_000).meta(doc('On a mirror: how long a pull may wait for its primary before it is abandoned and tried again.')),
    parent: optional(hostPort()).meta(doc('On a primary: a server of the parent that delegates its prefixes ("address:port"). The fence check also asks the sites the parent lists for them, so a mirror promoted at the parent is found even when this node\'s own prefix handles do not list it.')),
    fenceCheckSeconds: intRange(1, 86400)
      .default(30)
      .meta(doc('On a primary: how often it asks the other sites of its prefixes whether one of them was promoted (a primary site with a higher serial); if so it fences itself and refuses writes (docs/replication.md, "Switch-over and fencing"). Also checked at start, for at most 2 s.')),
  })
  .prefault({})
  .meta(doc('Mirrors and their primary (docs/replication.md): what a primary keeps and serves, where a mirror pulls from.'));

const roles = z
  .union([z.enum(ROLES), z.array(z.enum(ROLES)).min(1)], { error: (iss) => `must be a list of ${ROLES.join(', ')}, not ${show(iss.input)}` })
  .default(['business'])
  .transform((r): Role[] => [...new Set(typeof r === 'string' ? [r] : r)])
  .meta(doc('What this node does: top (the root of the hierarchy), secondary, business (an enterprise node), resolver, mirror (a read-only copy of a primary: replication.primary); one node may combine roles. A single role may be written as a string.'));

/** The settings as written in idres.json, defaults filled in; the root-level rules follow. */
const settings = z
  .strictObject({
    $schema: z.string().optional().meta(doc('The JSON Schema this file follows, for editors (e.g. "./idres.schema.json"); idres ignores it.')),
    roles,
    prefixes: z
      .array(json(z.string().refine(isValidPrefix, { error: (iss) => `must be a prefix such as "88.118.8", not ${show(iss.input)}` }), pattern('prefix')))
      .default([])
      .meta(doc('Prefixes this node homes (answers for authoritatively), e.g. "88.118.8".')),
    listen,
    workers: workerCount()
      .default(1)
      .meta(doc('Processes serving the port together (node:cluster); 1 is a single process. `idres serve --workers` overrides it. Administration over the wire needs a single process.')),
    publicAddress: ipAddress()
      .default('127.0.0.1')
      .meta(doc('The address written into this node\'s site record: what clients elsewhere use to reach it (not a wildcard address).')),
    caseFoldSuffix: bool()
      .default(true)
      .meta(doc('Fold the case of suffixes (the reference\'s default). Fixed once the registry holds data.')),
    site,
    udp,
    tcp,
    recursion,
    cache,
    dns,
    http,
    admin,
    securityLog,
    durability,
    store,
    log,
    audit,
    replication,
    database: nonEmpty().default('registry.db').meta(doc('The registry\'s SQLite file, relative to the node folder.')),
    serverKey: nonEmpty().default('keys/server.key.pem').meta(doc('The server\'s private key (PEM), relative to the node folder; its public half is in the site record.')),
  })
  .meta({
    title: 'idres node configuration (idres.json)',
    description: 'The configuration of an idres node: <node folder>/idres.json. Every setting has a default; unknown settings are refused.',
  });

type Settings = z.output<typeof settings>;

/** The environment variables that override settings (config.ts: loadConfig), checked with the rest. */
export const ENV_OVERRIDES = [
  { variable: 'IDRES_LISTEN_HOST', path: ['listen', 'host'], number: false },
  { variable: 'IDRES_PORT', path: ['listen', 'port'], number: true },
  { variable: 'IDRES_HTTP_PORT', path: ['http', 'port'], number: true },
] as const;

// ---------------------------------------------------------------------------------------------------------
// Rules across settings. Each runs when the settings it reads are valid, so that it is reported together
// with problems elsewhere; its issue is marked (params.rule) and named by a whole sentence.

type Payload = { issues: readonly { path?: PropertyKey[] | undefined; code?: string; params?: Record<string, unknown> | undefined }[] };

/** No problem (other than an unknown key, or another rule's) at, above or below one of these paths. */
function ruleMayRun(p: Payload, reads: readonly string[]): boolean {
  return !p.issues.some((i) => {
    if (i.code === 'unrecognized_keys' || i.params?.rule) return false;
    const at = (i.path ?? []).map(String).join('.');
    return reads.some((r) => at === r || r.startsWith(at + '.') || at.startsWith(r + '.') || at === '');
  });
}

type AddIssue = (path: (string | number)[], message: string) => void;

export interface Rule {
  /** The settings it reads. */
  reads: readonly string[];
  /** The rule in words, for docs/config.md. */
  doc: string;
  check(c: Settings, add: AddIssue): void;
}

/** Recursion on: the resolver role, or recursion.allow. */
const recurses = (c: Settings) => c.recursion.allow || c.roles.includes('resolver');

export const RULES: readonly Rule[] = [
  {
    reads: ['roles', 'recursion.allow', 'recursion.roots', 'recursion.upstream'],
    doc: 'A node that resolves for its clients (the `resolver` role, or `recursion.allow`) needs `recursion.roots` or `recursion.upstream`.',
    check(c, add) {
      if (recurses(c) && c.recursion.roots.length === 0 && !c.recursion.upstream) {
        add(['recursion'], 'recursion needs recursion.roots (where walks start) or recursion.upstream');
      }
    },
  },
  {
    reads: ['roles', 'recursion.allow', 'recursion.roots', 'recursion.upstream', 'recursion.requireCertified', 'recursion.trustAnchors'],
    doc: 'With `recursion.requireCertified`, `recursion.trustAnchors` holds the key of the upstream, or of every root.',
    check(c, add) {
      if (!recurses(c) || !c.recursion.requireCertified) return;
      // Certified answers are checked with keys: those of the servers a walk starts from must be given.
      const anchored = new Set(Object.keys(c.recursion.trustAnchors).map(canonicalHostPort));
      for (const s of c.recursion.upstream ? [c.recursion.upstream] : c.recursion.roots) {
        if (!anchored.has(canonicalHostPort(s))) add(['recursion', 'trustAnchors'], `recursion.requireCertified needs the public key of ${s} in recursion.trustAnchors`);
      }
    },
  },
  {
    // DNS over TCP and HTTP cannot share a port on the same address.
    reads: ['http.enabled', 'http.port', 'http.host', 'dns.enabled', 'dns.port', 'listen.host'],
    doc: "`http.port` is not the DNS gateway's port (`dns.port`, when the gateway is on) on the same address (`http.host` absent or `listen.host`); 0, any free port, excepted.",
    check(c, add) {
      if (c.http.enabled && c.dns.enabled && c.http.port !== 0 && c.http.port === c.dns.port && (c.http.host ?? c.listen.host) === c.listen.host) {
        add(['http', 'port'], `http.port ${c.http.port} is also the DNS gateway's port`);
      }
    },
  },
  {
    reads: ['http.enabled', 'http.port', 'http.host', 'listen.port', 'listen.host'],
    doc: '`http.port` is not the Handle TCP port (`listen.port`) on the same address; 0 excepted.',
    check(c, add) {
      if (c.http.enabled && c.http.port !== 0 && c.http.port === c.listen.port && (c.http.host ?? c.listen.host) === c.listen.host) {
        add(['http', 'port'], `http.port ${c.http.port} is also the Handle TCP port (listen.port)`);
      }
    },
  },
  {
    reads: ['admin.failedAuth.lockoutSeconds', 'admin.failedAuth.maxLockoutSeconds'],
    doc: '`admin.failedAuth.maxLockoutSeconds` is at least `lockoutSeconds`.',
    check(c, add) {
      const f = c.admin.failedAuth;
      if (f.maxLockoutSeconds < f.lockoutSeconds) add(['admin', 'failedAuth', 'maxLockoutSeconds'], 'admin.failedAuth.maxLockoutSeconds must not be less than lockoutSeconds');
    },
  },
  {
    reads: ['admin.failedAuth.maxLockoutSeconds', 'admin.failedAuth.forgetSeconds'],
    doc: '`admin.failedAuth.forgetSeconds` is at least `maxLockoutSeconds` (else the doubling of lockouts would restart after each one).',
    check(c, add) {
      const f = c.admin.failedAuth;
      if (f.forgetSeconds < f.maxLockoutSeconds) {
        add(['admin', 'failedAuth', 'forgetSeconds'], 'admin.failedAuth.forgetSeconds must not be less than maxLockoutSeconds (the doubling would restart after each lockout)');
      }
    },
  },
  {
    reads: ['roles', 'replication.primary', 'replication.identity'],
    doc: 'A mirror (role `mirror`) names its primary (`replication.primary`) and the identity it pulls as (`replication.identity`); only a mirror names a primary.',
    check(c, add) {
      const mirror = c.roles.includes('mirror');
      if (mirror && !c.replication.primary) add(['replication', 'primary'], 'a mirror needs replication.primary (its primary, "address:port")');
      if (mirror && !c.replication.identity) add(['replication', 'identity'], 'a mirror needs replication.identity (the identity it pulls as)');
      if (!mirror && c.replication.primary) add(['replication', 'primary'], 'replication.primary is for a mirror: add the role "mirror" or remove it');
      if (mirror && c.roles.includes('resolver')) add(['roles'], 'a mirror is not also a resolver');
    },
  },
];

const checked = RULES.reduce(
  (s, rule) =>
    s.superRefine(
      (c, ctx) =>
        rule.check(c, (path, message) => ctx.addIssue({ code: 'custom', path, message, params: { rule: true, sentence: true, reads: rule.reads } })),
      { when: (p) => ruleMayRun(p, rule.reads) },
    ),
  settings,
);

/** The whole configuration: what validateConfig parses, what NodeConfig is. */
export const configSchema = checked.transform(({ $schema: _, ...c }) => {
  // A resolver always resolves for its clients.
  if (c.roles.includes('resolver')) c.recursion.allow = true;
  return c;
});

export type NodeConfig = z.output<typeof configSchema>;

// ---------------------------------------------------------------------------------------------------------
// Problems as lines: "udp.rrl.slip must be an integer from 0 to 100, not -1".

/** "udp.rrl.slip", "dns.zones[1]", "admin.quotas['88.118'].maxHandles". */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const k of path) {
    if (typeof k === 'number') out += `[${k}]`;
    else if (typeof k === 'string' && /^[A-Za-z_$][\w$]*$/.test(k)) out += (out ? '.' : '') + k;
    else out += `['${String(k).replace(/\\/g, '\\\\').replace(/'/g, "\\'")}']`;
  }
  return out;
}

/** Messages for what the declaration leaves to zod: the kind of value expected. */
export const fallbackMessage = (iss: z.core.$ZodRawIssue): string | undefined => {
  if (iss.code === 'invalid_type') {
    const expected = String(iss.expected);
    const what = expected === 'object' ? 'an object' : expected === 'array' ? 'a list' : expected === 'record' ? 'an object' : `a ${expected}`;
    return `must be ${what}, not ${show(iss.input)}`;
  }
  if (iss.code === 'too_small' && iss.origin === 'array') return 'must not be an empty list';
  return undefined;
};

/**
 * One line per problem. `sources` names where a setting came from when not from the file: an environment
 * variable ("listen.port" → "IDRES_PORT"), or a command-line option for a value parsed alone ("" → "--port").
 */
export function formatIssues(issues: readonly z.core.$ZodIssue[], sources: ReadonlyMap<string, string> = new Map()): string[] {
  const lines: string[] = [];
  const name = (path: readonly PropertyKey[]) => {
    const p = formatPath(path);
    const source = sources.get(p);
    return source ? (p ? `${source} (${p})` : source) : p || 'the configuration';
  };
  for (const i of issues) {
    if (i.code === 'unrecognized_keys') {
      for (const k of i.keys) lines.push(`unknown setting "${formatPath([...i.path, k])}"`);
    } else if (i.code === 'invalid_key') {
      // A record's key: the record's path, then what is wrong with the key.
      lines.push(`${name(i.path.slice(0, -1))}: ${i.issues.map((x) => x.message).join('; ')}`);
    } else if (i.code === 'custom' && i.params?.sentence) {
      // A rule across settings: say which of the settings it read came from elsewhere.
      const reads = (i.params.reads as readonly string[] | undefined) ?? [];
      const from = reads.filter((r) => sources.has(r)).map((r) => `${r} comes from ${sources.get(r)}`);
      lines.push([i.message, ...from].join('; '));
    } else if (i.code === 'custom' && i.params?.detail) {
      // A message from elsewhere (the DNS mapping's): after the path, not as its predicate.
      lines.push(`${name(i.path)}: ${i.message}`);
    } else {
      lines.push(`${name(i.path)} ${i.message}`);
    }
  }
  // An integer that is neither whole nor in range is one problem, not two.
  return [...new Set(lines)];
}

// ---------------------------------------------------------------------------------------------------------
// The JSON Schema (deploy/idres.schema.json).

/** The JSON Schema of idres.json, as published in deploy/idres.schema.json. */
export function configJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(configSchema, {
    io: 'input',
    target: 'draft-2020-12',
    override: (ctx) => {
      const extra = jsonExtras.get(ctx.zodSchema);
      if (extra) Object.assign(ctx.jsonSchema, extra);
    },
  }) as Record<string, unknown>;
}
