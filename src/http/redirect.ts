import { type HandleValue, TtlType } from '../model/value.js';
import { ResponseCode } from '../protocol/constants.js';
import { dataToJson } from '../protocol/json.js';
import type { ResolutionPipeline } from '../resolve/pipeline.js';
import { readValues } from '../resolve/read-values.js';
import type { HttpExchange } from './exchange.js';
import { flag } from './json.js';

// The redirect front: what a phone camera does with a QR code that holds https://node/88.118.8/ABC123. The
// identifier's URL value answers 302; without one (or with ?noredirect) a small page lists its public values;
// an unknown identifier gets a 404 page. Everything placed in HTML is escaped, and only http(s) URLs are
// redirected to or linked (a value is data someone registered, not something to execute).

const HTML = 'text/html;charset=UTF-8';

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** An http(s) URL in canonical form, or undefined for anything else (javascript:, data:, relative, junk). */
export function webUrl(text: string): string | undefined {
  try {
    const u = new URL(text.trim());
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : undefined;
  } catch {
    return undefined;
  }
}

function page(title: string, body: string): string {
  return (
    '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">' +
    '<meta name="viewport" content="width=device-width, initial-scale=1">' +
    `<title>${escapeHtml(title)}</title>` +
    '<style>body{font-family:system-ui,sans-serif;margin:1.5rem;max-width:60rem;color:#222}' +
    'table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.35rem .6rem;border-bottom:1px solid #ddd;vertical-align:top}' +
    'td.data{word-break:break-all;font-family:ui-monospace,monospace;font-size:.9rem}code{font-size:.95rem}</style>' +
    `</head><body>${body}</body></html>\n`
  );
}

function dataCell(v: HandleValue): string {
  const d = dataToJson(v.type, v.data);
  if (d.format === 'string') {
    const text = d.value as string;
    const url = webUrl(text);
    return url ? `<a href="${escapeHtml(url)}" rel="nofollow noopener">${escapeHtml(text)}</a>` : escapeHtml(text);
  }
  return `<span title="${escapeHtml(d.format)}">${escapeHtml(JSON.stringify(d.value))}</span>`;
}

function ttlText(v: HandleValue): string {
  return v.ttlType === TtlType.ABSOLUTE ? `until ${new Date(v.ttl * 1000).toISOString()}` : `${v.ttl} s`;
}

export function valuesPage(handle: string, values: readonly HandleValue[]): string {
  const rows = values
    .map((v) => `<tr><td>${v.index}</td><td>${escapeHtml(v.type)}</td><td class="data">${dataCell(v)}</td><td>${escapeHtml(ttlText(v))}</td></tr>`)
    .join('');
  const table = values.length
    ? `<table><thead><tr><th>Index</th><th>Type</th><th>Data</th><th>TTL</th></tr></thead><tbody>${rows}</tbody></table>`
    : '<p>This identifier has no public values.</p>';
  return page(handle, `<h1><code>${escapeHtml(handle)}</code></h1>${table}`);
}

export function notFoundPage(handle: string, why: string): string {
  return page(`Not found: ${handle}`, `<h1>Not found</h1><p><code>${escapeHtml(handle)}</code> ${escapeHtml(why)}.</p>`);
}

export class RedirectFront {
  constructor(private readonly pipeline: ResolutionPipeline) {}

  async handle(ex: HttpExchange): Promise<void> {
    if (ex.method !== 'GET' && ex.method !== 'HEAD') return ex.send(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain;charset=UTF-8' }, 'method not allowed\n');
    let handle: string;
    try {
      handle = decodeURIComponent(ex.rawPath.slice(1));
    } catch {
      return ex.send(400, { 'Content-Type': HTML }, page('Bad request', '<h1>Bad request</h1><p>The path is not valid percent-encoding.</p>'));
    }
    // What a QR code or a link may carry in front of the handle.
    handle = handle.replace(/^(?:urn:)?hdl:/i, '');
    if (handle === '') return ex.send(200, { 'Content-Type': HTML }, page('idres', '<h1>idres</h1><p>Open <code>/PREFIX/SUFFIX</code> to resolve an identifier, or use the JSON API under <code>/api/handles/</code>.</p>'));
    const slash = handle.indexOf('/');
    if (slash <= 0 || slash === handle.length - 1) {
      return ex.send(404, { 'Content-Type': HTML }, notFoundPage(handle, 'is not an identifier (PREFIX/SUFFIX)'));
    }
    const a = await readValues(this.pipeline, handle, { recursive: true });
    switch (a.responseCode) {
      case ResponseCode.SUCCESS:
      case ResponseCode.VALUES_NOT_FOUND: {
        const url = a.values.filter((v) => v.type.toUpperCase() === 'URL').map((v) => webUrl(v.data.toString('utf8'))).find((u) => u !== undefined);
        if (url && !flag(ex.query, 'noredirect')) {
          return ex.send(302, { Location: url, 'Content-Type': HTML }, page('Redirect', `<p>See <a href="${escapeHtml(url)}">${escapeHtml(url)}</a>.</p>`));
        }
        return ex.send(200, { 'Content-Type': HTML }, valuesPage(handle, a.values));
      }
      case ResponseCode.HANDLE_NOT_FOUND:
        return ex.send(404, { 'Content-Type': HTML }, notFoundPage(handle, 'is not registered'));
      case ResponseCode.SERVER_NOT_RESP:
        return ex.send(404, { 'Content-Type': HTML }, notFoundPage(handle, 'is not served by this node'));
      default:
        return ex.send(502, { 'Content-Type': HTML }, page('Not resolved', `<h1>Not resolved</h1><p><code>${escapeHtml(handle)}</code> could not be resolved now (response code ${a.responseCode}${a.message ? ': ' + escapeHtml(a.message) : ''}).</p>`));
    }
  }
}
