import type { AdminOutcome, AdminService } from '../admin/operations.js';
import type { AdminRequest } from '../model/admin-request.js';
import { formatIdentity } from '../admin/permissions.js';
import { NA_PREFIX, splitHandle } from '../model/handle.js';
import type { SiteInfo } from '../model/site.js';
import { type HandleValue, ValueFilter } from '../model/value.js';
import { ResponseCode } from '../protocol/constants.js';
import { siteToJson, valueToJson } from '../protocol/json.js';
import type { ResolutionPipeline } from '../resolve/pipeline.js';
import { readValues } from '../resolve/read-values.js';
import { HttpError, type HttpExchange } from './exchange.js';
import { type AuthResult, AuthThrottled, type HttpAuthenticator, type Identity } from './auth.js';
import { JSON_TYPE, type Operation, flag, httpStatus, jsonText, safeCallback, sendJson, strictFlag } from './json.js';
import { type HttpReadCache, replyHead } from './read-cache.js';
import { BodyError, parsePutBody } from './values.js';

// The JSON API in the reference server's shape (docs/rest-api.md §1–§10): resolution, listing,
// create/replace/add with PUT, delete/remove with DELETE, this node's site, and the sessions the `Handle`
// authentication scheme uses. Reads go through the resolution pipeline (hot cache, registry, recursion);
// writes and listing through the admin layer, with the same checks as the wire; the status of each answer
// follows its response code as the reference maps it.

export interface ApiDeps {
  pipeline: ResolutionPipeline;
  /** Absent on a pure resolver, which keeps no registry and administers nothing. */
  admin?: AdminService;
  auth: HttpAuthenticator;
  site: () => SiteInfo;
  /** Drop cached answers a write just made stale, before the write is acknowledged. */
  noticeWrites: () => void;
  /** Finished answers of anonymous reads (read-cache.ts); absent: every read goes the whole way. */
  reads?: HttpReadCache;
}

const ALLOW = 'GET, HEAD, POST, PUT, DELETE, TRACE, OPTIONS';
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'TRACE']);
const NOT_HOMED = "That prefix doesn't live here";

/** A request the API refuses before doing anything: RC 4 (or another code), with its status. */
class ApiRefusal extends Error {
  constructor(
    readonly responseCode: number,
    message: string,
    readonly status = httpStatus(responseCode, 'other'),
  ) {
    super(message);
  }
}

export class JsonApi {
  /** Counts of answers by operation (reads answered from the read cache apart: a plain number to bump). */
  private readonly counts = new Map<string, number>();
  private resolvedFromCache = 0;

  constructor(private readonly d: ApiDeps) {}

  /** The read cache, for tests and in-process inspection. */
  get reads(): HttpReadCache | undefined {
    return this.d.reads;
  }

  /**
   * An anonymous GET or HEAD answered from the read cache, before anything else is looked at: true when it
   * was. Only requests without credentials qualify (an Authorization header may identify, open a session
   * or be refused, each of which changes the answer), and only targets that resolve() kept are found.
   */
  answerFromCache(ex: HttpExchange): boolean {
    const reads = this.d.reads;
    if (reads === undefined) return false;
    const req = ex.req;
    if (!uncredentialedRead(ex)) return false;
    const r = reads.get(req.url ?? '', this.d.pipeline.now());
    if (r === undefined) return false;
    this.resolvedFromCache++;
    ex.sendBytes(r.status, r.head, r.bytes);
    return true;
  }

  async handle(ex: HttpExchange): Promise<void> {
    const path = ex.rawPath;
    try {
      if (!KNOWN_METHODS.has(ex.method)) throw new ApiRefusal(ResponseCode.PROTOCOL_ERROR, `Unknown method ${ex.method}`, 501);
      if (path === '/api/handles' || path.startsWith('/api/handles/')) return await this.handles(ex, path.slice('/api/handles/'.length));
      if (path === '/api/site' || path === '/api/site/') return this.siteInfo(ex);
      if (path === '/api/sessions' || path.startsWith('/api/sessions/')) return await this.sessions(ex, path);
      throw new ApiRefusal(ResponseCode.PROTOCOL_ERROR, `Unknown HTTP API endpoint ${ex.method} ${path}`, 404);
    } catch (err) {
      if (err instanceof ApiRefusal) return sendJson(ex, err.status, { responseCode: err.responseCode, message: err.message });
      // Credentials sent while their identity or the peer is locked (auth.ts): 429, RC 3, when to retry.
      if (err instanceof AuthThrottled) {
        return sendJson(ex, 429, { responseCode: ResponseCode.SERVER_TOO_BUSY, message: err.message }, { 'Retry-After': String(err.retryAfterSeconds) });
      }
      if (err instanceof HttpError) return sendJson(ex, err.status, { responseCode: err.status >= 500 ? ResponseCode.ERROR : ResponseCode.PROTOCOL_ERROR, message: err.message });
      throw err;
    }
  }

  /** Counts of answers by operation, for the metrics (made when asked: at a scrape). */
  get operations(): ReadonlyMap<string, number> {
    const all = new Map(this.counts);
    if (this.resolvedFromCache > 0) all.set('resolve', (all.get('resolve') ?? 0) + this.resolvedFromCache);
    return all;
  }

  private count(op: string): void {
    this.counts.set(op, (this.counts.get(op) ?? 0) + 1);
  }

  private async handles(ex: HttpExchange, rawHandle: string): Promise<void> {
    if (ex.method === 'OPTIONS') return ex.send(200, { Allow: ALLOW });
    if (ex.method === 'TRACE') throw new ApiRefusal(ResponseCode.PROTOCOL_ERROR, `Unknown HTTP API endpoint TRACE ${ex.rawPath}`, 405);
    // The handle is the raw path after /api/handles/, %-escapes decoded as UTF-8 ("+" stays "+").
    let handle: string;
    try {
      handle = decodeURIComponent(rawHandle);
    } catch {
      throw new ApiRefusal(ResponseCode.INVALID_HANDLE, 'Invalid percent-encoding in the handle');
    }
    if (handle === '') {
      if ((ex.method === 'GET' || ex.method === 'HEAD' || ex.method === 'POST') && ex.query.has('prefix')) return this.list(ex);
      throw new ApiRefusal(ResponseCode.INVALID_HANDLE, 'Empty handle invalid');
    }
    switch (ex.method) {
      case 'GET':
      case 'HEAD':
        return this.resolve(ex, handle, ex.query);
      case 'POST':
        return this.resolve(ex, handle, await postParameters(ex));
      case 'PUT':
        return this.put(ex, handle);
      default:
        return this.remove(ex, handle);
    }
  }

  // ---- resolution -------------------------------------------------------------------------------------

  private async resolve(ex: HttpExchange, handle: string, q: URLSearchParams): Promise<void> {
    this.count('resolve');
    const indexes = q.getAll('index').map(parseIndex);
    // "URL." selects URL and its subtypes (the REST API's rule); the wire filter's "URL." only the subtypes.
    const asked = q.getAll('type');
    const types = [...asked, ...asked.filter((x) => x.endsWith('.') && x.length > 1 && !asked.includes(x.slice(0, -1))).map((x) => x.slice(0, -1))];
    // A handle without a slash names a prefix: 0.NA/<it>, echoed as given.
    const lookup = handle.includes('/') ? handle : `${NA_PREFIX}/${handle}`;
    const auth = this.d.auth.authenticate(ex);
    if (auth.kind === 'failed') return this.unauthorised(ex, auth);
    const identity = auth.kind === 'identified' ? auth.identity : undefined;
    const publicOnly = q.has('publicOnly') ? flag(q, 'publicOnly') : identity === undefined;

    const a = await readValues(this.d.pipeline, lookup, { indexes, types, recursive: true });
    let values = a.values;
    if (!publicOnly && a.local && this.d.admin && (a.responseCode === ResponseCode.SUCCESS || a.responseCode === ResponseCode.VALUES_NOT_FOUND)) {
      // The pipeline serves what anyone may read; the rest is the admin layer's, with the wire's checks.
      const o = this.d.admin.read(lookup, ValueFilter.of(indexes, types), identity);
      if (o.responseCode === ResponseCode.VALUES_NOT_FOUND) values = [];
      else if (o.responseCode !== ResponseCode.SUCCESS) return this.outcome(ex, 'resolve', o, handle, auth);
      else values = o.values!;
    }
    // What is made of a hot-cache answer for an anonymous public GET/HEAD is kept for the next asker of
    // the same target (answerFromCache), for as long as that answer stays in the hot cache.
    const anonymousRead = auth.kind === 'anonymous' && uncredentialedRead(ex);
    const keep = this.d.reads !== undefined && publicOnly && anonymousRead ? a.source : undefined;
    const reply = (status: number, body: unknown) => (keep ? this.sendKept(ex, status, body, keep) : sendJson(ex, status, body));
    if (a.responseCode === ResponseCode.SUCCESS || a.responseCode === ResponseCode.VALUES_NOT_FOUND) {
      if (values.length === 0) return reply(200, { responseCode: ResponseCode.VALUES_NOT_FOUND, values: [], handle });
      return reply(200, { responseCode: ResponseCode.SUCCESS, handle, values: values.map(valueToJson) });
    }
    if (a.responseCode === ResponseCode.PREFIX_REFERRAL || a.responseCode === ResponseCode.SERVICE_REFERRAL) {
      return reply(300, { responseCode: a.responseCode, handle, values: values.map(valueToJson) });
    }
    // Authentication needed answers with challenges that depend on the peer and transport: never kept.
    if (a.responseCode === ResponseCode.AUTHENTICATION_NEEDED || !keep) return this.outcome(ex, 'resolve', { responseCode: a.responseCode, message: a.message }, handle, auth);
    return reply(httpStatus(a.responseCode, 'resolve'), outcomeBody({ responseCode: a.responseCode, message: a.message }, handle));
  }

  /** Write a JSON answer and keep its bytes in the read cache under the request target. */
  private sendKept(ex: HttpExchange, status: number, body: unknown, source: { key: string; serial: number }): void {
    const j = jsonText(ex, body);
    const bytes = Buffer.from(j.text, 'utf8');
    const r = { status, head: replyHead(j.contentType, bytes), bytes, sourceKey: source.key, sourceSerial: source.serial };
    this.d.reads!.set(ex.req.url ?? '', r);
    ex.sendBytes(r.status, r.head, r.bytes);
  }

  // ---- listing ----------------------------------------------------------------------------------------

  private async list(ex: HttpExchange): Promise<void> {
    this.count('list');
    const given = ex.query.get('prefix') ?? '';
    // "0.NA/88.118.8" and "88.118.8" name the same prefix.
    const prefix = given.toUpperCase().startsWith(`${NA_PREFIX}/`) ? given.slice(NA_PREFIX.length + 1) : given;
    const page = optionalInt(ex.query, 'page');
    const pageSize = optionalInt(ex.query, 'pageSize');
    const auth = this.d.auth.authenticate(ex);
    if (auth.kind === 'failed') return this.unauthorised(ex, auth);
    if (!this.d.admin) return this.outcome(ex, 'list', { responseCode: ResponseCode.SERVER_NOT_RESP, message: NOT_HOMED }, undefined, auth);
    const identity = auth.kind === 'identified' ? auth.identity : undefined;
    const o = this.d.admin.perform({ op: 'list', prefix }, identity, clientOf(ex, identity));
    if (o.responseCode !== ResponseCode.SUCCESS) return this.outcome(ex, 'list', o, undefined, auth);
    // Stored names in key order (the registry's), streamed a registry page at a time; the whole count, a
    // string as the reference writes it, comes last, once counted.
    const window = page !== undefined && pageSize !== undefined && page >= 0 && pageSize >= 0 ? { page, pageSize } : undefined;
    const callback = ex.query.get('callback');
    const pieces = listJson({
      prefix: given,
      handles: (o.listing ?? (() => []))(LIST_PIECE),
      ...(window ? { window } : {}),
      pretty: flag(ex.query, 'pretty'),
      ...(callback ? { callback: safeCallback(callback) } : {}),
    });
    await ex.sendStream(200, { 'Content-Type': callback ? 'application/javascript;charset=UTF-8' : JSON_TYPE }, pieces);
  }

  // ---- writes -----------------------------------------------------------------------------------------

  private async put(ex: HttpExchange, handle: string): Promise<void> {
    const type = ex.header('content-type') ?? '';
    if (!/^application\/json\s*(;.*)?$/i.test(type.trim())) {
      throw new ApiRefusal(ResponseCode.PROTOCOL_ERROR, `Unsupported media type ${type || '(none)'}`);
    }
    const text = (await ex.body()).toString('utf8');
    let body;
    try {
      body = parsePutBody(text);
    } catch (err) {
      if (err instanceof BodyError) throw new ApiRefusal(ResponseCode.PROTOCOL_ERROR, err.message);
      throw err;
    }
    if (body.handle !== undefined && !sameRequestedHandle(body.handle, handle)) {
      throw new ApiRefusal(ResponseCode.PROTOCOL_ERROR, 'Mismatched handle in PUT request');
    }
    const indexParams = ex.query.getAll('index');
    const overwrite = strictFlag(ex.query, 'overwrite', true);
    let req: AdminRequest;
    let op: Operation;
    if (indexParams.length === 0) {
      op = 'create';
      req = { op: 'create', handle, values: body.values, overwrite, mint: strictFlag(ex.query, 'mintNewSuffix', false) };
    } else {
      op = 'add';
      if (indexParams[0] !== 'various') {
        const asked = new Set(indexParams.map(parseIndex));
        const sent = new Set(body.values.map((v) => v.index));
        if (asked.size !== sent.size || [...asked].some((i) => !sent.has(i))) {
          throw new ApiRefusal(ResponseCode.PROTOCOL_ERROR, 'Mismatched indexes in PUT request');
        }
      }
      if (body.values.length === 0) throw new ApiRefusal(ResponseCode.INVALID_VALUE, 'Value list was empty');
      const dup = duplicateIndex(body.values);
      if (dup !== undefined) return this.outcome(ex, op, { responseCode: ResponseCode.VALUE_ALREADY_EXISTS, message: `Index conflict for ${dup}` }, handle);
      req = { op: 'add', handle, values: body.values, overwrite };
    }
    this.count(op);
    const auth = this.d.auth.authenticate(ex);
    if (auth.kind === 'failed') return this.unauthorised(ex, auth);
    const o = this.perform(ex, req, auth);
    if (o.responseCode === ResponseCode.SUCCESS) {
      // 201 when nothing existing was touched, 200 when something was replaced.
      return sendJson(ex, o.overwritten ? 200 : 201, { responseCode: ResponseCode.SUCCESS, handle: o.handle ?? handle });
    }
    this.outcome(ex, op, o, handle, auth);
  }

  private remove(ex: HttpExchange, handle: string): void {
    const indexParams = ex.query.getAll('index');
    const req: AdminRequest =
      indexParams.length === 0 ? { op: 'delete', handle } : { op: 'remove', handle, indexes: [...new Set(indexParams.map(parseIndex))] };
    this.count(req.op);
    const auth = this.d.auth.authenticate(ex);
    if (auth.kind === 'failed') return this.unauthorised(ex, auth);
    const o = this.perform(ex, req, auth);
    if (o.responseCode === ResponseCode.SUCCESS) return sendJson(ex, 200, { responseCode: ResponseCode.SUCCESS, handle });
    this.outcome(ex, req.op === 'delete' ? 'delete' : 'remove', o, handle, auth);
  }

  private perform(ex: HttpExchange, req: AdminRequest, auth: AuthResult): AdminOutcome {
    if (!this.d.admin) return { responseCode: ResponseCode.SERVER_NOT_RESP, message: NOT_HOMED };
    const identity = auth.kind === 'identified' ? auth.identity : undefined;
    const o = this.d.admin.perform(req, identity, clientOf(ex, identity), { transport: 'http', address: ex.peer });
    // Local writes invalidate what they change at once: a read right after the answer must see the write.
    if (o.responseCode === ResponseCode.SUCCESS) this.d.noticeWrites();
    return o;
  }

  // ---- the smaller endpoints --------------------------------------------------------------------------

  private siteInfo(ex: HttpExchange): void {
    if (ex.method !== 'GET' && ex.method !== 'HEAD') throw new ApiRefusal(ResponseCode.PROTOCOL_ERROR, `Unknown HTTP API endpoint ${ex.method} ${ex.rawPath}`, 405);
    sendJson(ex, 200, { responseCode: ResponseCode.SUCCESS, site: siteToJson(this.d.site()) });
  }

  /** The sessions API (section 9.4): open a session (its id and nonce), look at it, end it. */
  private async sessions(ex: HttpExchange, path: string): Promise<void> {
    const sessions = this.d.auth.sessions;
    if (!this.d.auth.honours(ex)) return ex.send(403, {});
    if (path === '/api/sessions' || path === '/api/sessions/') {
      if (ex.method !== 'POST') return sendJson(ex, 405, { responseCode: ResponseCode.PROTOCOL_ERROR, message: `Unknown HTTP API endpoint ${ex.method} ${path}` }, { Allow: 'POST, TRACE, OPTIONS' });
      const auth = this.d.auth.authenticate(ex);
      if (auth.kind !== 'anonymous' && auth.session) return ex.send(400, {});
      const s = sessions.create();
      const body: Record<string, unknown> = { sessionId: s.id, nonce: s.nonce.toString('base64') };
      if (auth.kind === 'identified') {
        s.identity = auth.identity;
        body.authenticated = true;
        body.id = formatIdentity(auth.identity);
      } else if (auth.kind === 'failed') body.error = auth.error;
      return sendJson(ex, 201, body, { Location: '/api/sessions/this' });
    }
    if (path !== '/api/sessions/this') return ex.send(403, {});
    const auth = this.d.auth.authenticate(ex);
    if (ex.method === 'DELETE') {
      if (!auth.session) return ex.send(403, {});
      sessions.delete(auth.session.id);
      return ex.send(204, {});
    }
    if (auth.kind === 'failed') {
      if (!auth.session) return ex.send(403, {});
      return sendJson(ex, 401, { sessionId: auth.session.id, nonce: auth.session.nonce.toString('base64'), error: auth.error }, {
        'WWW-Authenticate': this.d.auth.challenge(ex, auth.session, auth.error),
      });
    }
    if (!auth.session) return sendJson(ex, 200, { authenticated: false });
    const body: Record<string, unknown> = { sessionId: auth.session.id, nonce: auth.session.nonce.toString('base64') };
    if (auth.kind === 'identified') {
      body.authenticated = true;
      body.id = formatIdentity(auth.identity);
    }
    sendJson(ex, 200, body);
  }

  // ---- answers ----------------------------------------------------------------------------------------

  /** Wrong credentials: 401, an empty body, fresh challenges (the request was not run). */
  private unauthorised(ex: HttpExchange, auth: Extract<AuthResult, { kind: 'failed' }>): void {
    ex.send(401, { 'WWW-Authenticate': this.d.auth.challenge(ex, auth.session, auth.error) });
  }

  /**
   * A non-success outcome as `{responseCode, message?, handle?}`. Authentication needed is 401 with the
   * challenges where credentials are honoured, and 403 where they are not (plain HTTP, as the reference).
   */
  private outcome(ex: HttpExchange, op: Operation, o: Pick<AdminOutcome, 'responseCode' | 'message'>, handle?: string, auth?: AuthResult): void {
    const body = outcomeBody(o, handle);
    let status = httpStatus(o.responseCode, op);
    const headers: Record<string, string | string[]> = {};
    if (o.responseCode === ResponseCode.AUTHENTICATION_NEEDED) {
      if (this.d.auth.honours(ex)) headers['WWW-Authenticate'] = this.d.auth.challenge(ex, auth?.session);
      else status = 403;
    }
    sendJson(ex, status, body, headers);
  }
}

/** The JSON of a non-success outcome: `{responseCode, message?, handle?}`. */
function outcomeBody(o: Pick<AdminOutcome, 'responseCode' | 'message'>, handle?: string): Record<string, unknown> {
  const body: Record<string, unknown> = { responseCode: o.responseCode };
  if (o.message) body.message = o.message;
  if (handle !== undefined) body.handle = handle;
  return body;
}

/** Handles in one piece of a streamed listing (one read of the registry's keys); other clients are served between pieces. */
const LIST_PIECE = 1000;

/**
 * The JSON of a listing, piece by piece, as JSON.stringify would write
 * `{responseCode, prefix, [page, pageSize,] handles, totalCount}` (indented with `pretty`, wrapped for JSONP
 * with `callback`): every handle is counted, those in the window (all without one) are listed.
 */
export function* listJson(o: {
  prefix: string;
  handles: Iterable<string>;
  window?: { page: number; pageSize: number };
  pretty: boolean;
  callback?: string;
}): Generator<string> {
  const nl = o.pretty ? '\n' : '';
  const in1 = o.pretty ? '  ' : '';
  const in2 = o.pretty ? '    ' : '';
  const colon = o.pretty ? ': ' : ':';
  const member = (name: string, value: unknown) => `${in1}${JSON.stringify(name)}${colon}${JSON.stringify(value)},${nl}`;
  let text = `${o.callback ? `${o.callback}(` : ''}{${nl}${member('responseCode', ResponseCode.SUCCESS)}${member('prefix', o.prefix)}`;
  if (o.window) text += member('page', o.window.page) + member('pageSize', o.window.pageSize);
  text += `${in1}"handles"${colon}[`;
  const from = o.window ? o.window.page * o.window.pageSize : 0;
  const to = o.window ? from + o.window.pageSize : Infinity;
  let total = 0;
  let listed = 0;
  let inPiece = 0;
  for (const h of o.handles) {
    if (total >= from && total < to) text += `${listed++ > 0 ? ',' : ''}${nl}${in2}${JSON.stringify(h)}`;
    total++;
    if (++inPiece === LIST_PIECE) {
      yield text;
      text = '';
      inPiece = 0;
    }
  }
  text += `${listed > 0 ? `${nl}${in1}` : ''}],${nl}${in1}"totalCount"${colon}${JSON.stringify(String(total))}${nl}}${o.callback ? ');' : ''}`;
  yield text;
}

/** An integer query parameter, as the reference parses it (Java's Integer.parseInt); anything else is RC 4. */
function parseIndex(s: string): number {
  if (!/^[+-]?\d{1,10}$/.test(s) || Math.abs(Number(s)) > 0xffffffff) {
    throw new ApiRefusal(ResponseCode.PROTOCOL_ERROR, `For input string: "${s}" (an index must be a number)`);
  }
  const n = Number(s);
  // A negative index matches nothing; the wire carries unsigned indexes, so it is asked for as none.
  return n < 0 ? 0 : n;
}

function optionalInt(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null) return undefined;
  if (!/^[+-]?\d{1,9}$/.test(v)) throw new ApiRefusal(ResponseCode.PROTOCOL_ERROR, `For input string: "${v}" (${name} must be a number)`);
  return Number(v);
}

function duplicateIndex(values: readonly HandleValue[]): number | undefined {
  const seen = new Set<number>();
  for (const v of values) {
    if (seen.has(v.index)) return v.index;
    seen.add(v.index);
  }
  return undefined;
}

/** The body's "handle" names the path's handle: prefix without regard to case, suffix exactly or case-folded. */
function sameRequestedHandle(a: string, b: string): boolean {
  if (a === b) return true;
  const pa = splitHandle(a);
  const pb = splitHandle(b);
  return pa.prefix.toUpperCase() === pb.prefix.toUpperCase() && pa.suffix.toUpperCase() === pb.suffix.toUpperCase();
}

/** Who asked, for the admin layer's per-client quota: the identity, else the peer address. */
function clientOf(ex: HttpExchange, identity: Identity | undefined): string {
  return identity ? formatIdentity(identity) : ex.peer;
}

/** POST resolution: a JSON object's members, or form fields, act as extra query parameters. */
async function postParameters(ex: HttpExchange): Promise<URLSearchParams> {
  const q = new URLSearchParams(ex.rawQuery);
  const body = (await ex.body()).toString('utf8');
  if (body.trim() === '') return q;
  const type = (ex.header('content-type') ?? '').toLowerCase();
  if (type.startsWith('application/json')) {
    let o: unknown;
    try {
      o = JSON.parse(body);
    } catch {
      throw new ApiRefusal(ResponseCode.PROTOCOL_ERROR, 'Invalid JSON in POST request');
    }
    if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new ApiRefusal(ResponseCode.PROTOCOL_ERROR, 'Invalid JSON in POST request');
    for (const [k, v] of Object.entries(o)) for (const x of Array.isArray(v) ? v : [v]) q.append(k, String(x));
    return q;
  }
  for (const [k, v] of new URLSearchParams(body)) q.append(k, v);
  return q;
}

/** The requests the read cache may answer and keep: a GET or HEAD without credentials (answerFromCache). */
function uncredentialedRead(ex: HttpExchange): boolean {
  const m = ex.req.method;
  // Looked for in the raw headers: a hit never builds the header object.
  return (m === 'GET' || m === 'HEAD') && !ex.has('authorization');
}
