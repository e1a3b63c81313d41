import { type KeyObject, randomBytes } from 'node:crypto';
import { signChallenge } from '../protocol/auth-crypto.js';
import { Agent, request } from 'undici';
import type { HandleValue } from '../model/value.js';
import { ResponseCode, responseCodeName } from '../protocol/constants.js';
import { valueToJson } from '../protocol/json.js';
import { type AdminAuth, AdminError } from './admin-client.js';
import { ClientError } from './handle-client.js';

// A client of a node's JSON API (the reference's REST shape, docs/http.md) with undici: the same operations
// as the wire's AdminClient (create, add, remove, delete, list), so the CLI can administer a remote node over
// either. Credentials: Basic (an HS_SECKEY secret) or the `Handle` scheme with an HS_PUBKEY signature over the
// session nonce and a client nonce, as the reference's HTTP clients authenticate.


export class HttpApiClient {
  private readonly base: string;
  private readonly agent: Agent;
  /** The authenticated `Handle` session (HS_PUBKEY), opened once and shared by concurrent requests. */
  private session: Promise<string> | undefined;

  constructor(
    baseUrl: string,
    /** The same credentials as the wire's AdminClient takes. */
    private readonly identity: AdminAuth | undefined,
    timeoutMs = 30000,
  ) {
    let u: URL;
    try {
      u = new URL(baseUrl);
    } catch {
      throw new ClientError(`"${baseUrl}" is not a URL such as http://127.0.0.1:8000`, 'network');
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ClientError(`"${baseUrl}" is not an http(s) URL`, 'network');
    this.base = u.origin + u.pathname.replace(/\/+$/, '');
    this.agent = new Agent({ connections: 16, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  private async call(method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> | undefined; headers: Record<string, unknown> }> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    const auth = await this.authorization();
    if (auth) headers.Authorization = auth;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let r;
    try {
      r = await request(this.base + path, {
        method: method as 'GET',
        headers,
        dispatcher: this.agent,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (err) {
      throw new ClientError(`${this.base}: ${(err as Error).message}`, 'network');
    }
    const text = await r.body.text();
    let json: Record<string, unknown> | undefined;
    try {
      json = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
    } catch {
      json = undefined;
    }
    return { status: r.statusCode, json, headers: r.headers };
  }

  /** Basic with the secret; with a key, a `Handle` session opened and authenticated on first use. */
  private async authorization(): Promise<string | undefined> {
    const id = this.identity;
    if (!id) return undefined;
    const user = encodeURIComponent(`${id.index}:${id.handle}`).replace(/%2F/gi, '/');
    if (id.secret) return 'Basic ' + Buffer.concat([Buffer.from(`${user}:`), id.secret]).toString('base64');
    if (!id.key) return undefined;
    this.session ??= this.openSession(id.key, user, id.handle);
    return `Handle sessionId="${await this.session}"`;
  }

  /** POST /api/sessions for a nonce, then authenticate the session with a signature over nonce ‖ cnonce. */
  private async openSession(key: KeyObject, user: string, identityHandle: string): Promise<string> {
    const post = async (method: string, path: string, headers: Record<string, string> = {}) => {
      try {
        const r = await request(this.base + path, { method: method as 'GET', headers, dispatcher: this.agent });
        return { status: r.statusCode, json: (await r.body.json().catch(() => undefined)) as Record<string, unknown> | undefined };
      } catch (err) {
        throw new ClientError(`${this.base}: ${(err as Error).message}`, 'network');
      }
    };
    const s = await post('POST', '/api/sessions');
    const sessionId = s.json?.sessionId;
    const nonce = s.json?.nonce;
    if (s.status !== 201 || typeof sessionId !== 'string' || typeof nonce !== 'string') {
      throw new ClientError(`${this.base} opened no session (HTTP ${s.status})`, 'protocol');
    }
    const cnonce = randomBytes(16);
    const signed = signChallenge(key, Buffer.concat([Buffer.from(nonce, 'base64'), cnonce]), [2, 11], identityHandle);
    const alg = signed.hashAlg === 'SHA-256' ? 'SHA256' : signed.hashAlg;
    const auth = `Handle sessionId="${sessionId}", id="${user}", type="HS_PUBKEY", cnonce="${cnonce.toString('base64')}", alg="${alg}", signature="${signed.signature.toString('base64')}"`;
    const a = await post('PUT', '/api/sessions/this', { Authorization: auth });
    if (a.status !== 200 || a.json?.authenticated !== true) {
      throw new AdminError(`${this.base}: the key did not authenticate ${user} (HTTP ${a.status})`, ResponseCode.AUTHENTICATION_FAILED);
    }
    return sessionId;
  }

  private check(what: string, r: { status: number; json: Record<string, unknown> | undefined }): Record<string, unknown> {
    const rc = typeof r.json?.responseCode === 'number' ? r.json.responseCode : undefined;
    if ((r.status === 200 || r.status === 201) && rc === ResponseCode.SUCCESS) return r.json!;
    if (rc === undefined) {
      const why = r.status === 401 ? 'the credentials were not accepted' : 'the answer is not the JSON API';
      throw new AdminError(`${what}: HTTP ${r.status}: ${why}`, r.status === 401 ? ResponseCode.AUTHENTICATION_FAILED : ResponseCode.ERROR);
    }
    const message = typeof r.json?.message === 'string' && r.json.message ? `: ${r.json.message}` : '';
    throw new AdminError(`${what}: ${responseCodeName(rc)} (${rc})${message}`, rc);
  }

  private path(handle: string, query = ''): string {
    // Each character a path may not hold escaped; the slash between prefix and suffix stays.
    return `/api/handles/${encodeURIComponent(handle).replace(/%2F/gi, '/')}${query}`;
  }

  /** PUT the whole record; the handle created (another when minting). */
  async create(handle: string, values: readonly HandleValue[], o: { overwrite?: boolean; mint?: boolean } = {}): Promise<string> {
    const q = `?overwrite=${o.overwrite ? 'true' : 'false'}${o.mint ? '&mintNewSuffix=true' : ''}`;
    const json = this.check(`create ${handle}`, await this.call('PUT', this.path(handle, q), { values: values.map(valueToJson) }));
    return typeof json.handle === 'string' ? json.handle : handle;
  }

  async add(handle: string, values: readonly HandleValue[], o: { overwrite?: boolean } = {}): Promise<void> {
    const q = '?' + [...values.map((v) => `index=${v.index}`), `overwrite=${o.overwrite ? 'true' : 'false'}`].join('&');
    this.check(`add to ${handle}`, await this.call('PUT', this.path(handle, q), { values: values.map(valueToJson) }));
  }

  async remove(handle: string, indexes: readonly number[]): Promise<void> {
    this.check(`remove from ${handle}`, await this.call('DELETE', this.path(handle, '?' + indexes.map((i) => `index=${i}`).join('&'))));
  }

  async delete(handle: string): Promise<void> {
    this.check(`delete ${handle}`, await this.call('DELETE', this.path(handle)));
  }

  /** Every handle under a prefix, page by page. */
  async list(prefix: string, pageSize = 10000): Promise<string[]> {
    const out: string[] = [];
    for (let page = 0; ; page++) {
      const json = this.check(`list ${prefix}`, await this.call('GET', `/api/handles?prefix=${encodeURIComponent(prefix)}&page=${page}&pageSize=${pageSize}`));
      const handles = Array.isArray(json.handles) ? (json.handles as string[]) : [];
      out.push(...handles);
      if (handles.length < pageSize || out.length >= Number(json.totalCount)) return out;
    }
  }
}
