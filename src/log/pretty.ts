// Readable log lines for a terminal, made from the JSON lines the logger writes (pino-pretty's job, in the
// few lines idres needs):
//
//   2026-05-01 09:30:12.345 WARN  handler internal_error: internal error answering CREATE_HANDLE  source=127.0.0.2 transport=tcp
//       Error: …
//           at …
//
// the time (UTC), the level, the component and event, the message, then every other field as key=value,
// and an error's stack indented under the line. A line that is not JSON is passed through as it is.

const LEVEL_COLORS: Record<string, string> = {
  fatal: '\x1b[41m\x1b[97m',
  error: '\x1b[31m',
  warn: '\x1b[33m',
  info: '\x1b[32m',
  debug: '\x1b[90m',
  trace: '\x1b[90m',
};
const RESET = '\x1b[0m';
const DIM = '\x1b[2m';
const BOLD = '\x1b[1m';

/** Fields shown in the line's head, or left out (pid: one process writes a terminal). */
const HEAD = new Set(['level', 'time', 'pid', 'msg', 'component', 'event', 'err']);

export interface PrettyOptions {
  colors?: boolean;
}

function scalar(v: unknown): string {
  if (typeof v === 'string') return v === '' || /[\s"=]/.test(v) ? JSON.stringify(v) : v;
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  return JSON.stringify(v);
}

/** One readable line (with its newline) for one JSON log line. */
export function prettyLine(json: string, opts: PrettyOptions = {}): string {
  let o: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(json);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return json.endsWith('\n') ? json : json + '\n';
    o = parsed as Record<string, unknown>;
  } catch {
    return json.endsWith('\n') ? json : json + '\n';
  }
  const c = (code: string, s: string) => (opts.colors ? `${code}${s}${RESET}` : s);
  const level = typeof o.level === 'string' ? o.level : typeof o.level === 'number' ? levelName(o.level) : 'info';
  const time = typeof o.time === 'string' ? o.time.replace('T', ' ').replace(/Z$/, '') : typeof o.time === 'number' ? new Date(o.time).toISOString().replace('T', ' ').replace(/Z$/, '') : '';
  const parts: string[] = [];
  if (time) parts.push(c(DIM, time));
  parts.push(c(LEVEL_COLORS[level] ?? '', level.toUpperCase().padEnd(5)));
  const where = [o.component, o.event].filter((x): x is string => typeof x === 'string' && x.length > 0);
  let head = where.length ? c(BOLD, where.join(' ')) : '';
  if (typeof o.msg === 'string' && o.msg.length > 0) head = head ? `${head}: ${o.msg}` : o.msg;
  if (head) parts.push(head);
  const fields = Object.entries(o)
    .filter(([k]) => !HEAD.has(k))
    .map(([k, v]) => `${c(DIM, k + '=')}${scalar(v)}`);
  let line = parts.join(' ');
  if (fields.length) line += '  ' + fields.join(' ');
  const err = o.err as { stack?: unknown; message?: unknown; type?: unknown } | undefined;
  if (err && typeof err === 'object') {
    const text = typeof err.stack === 'string' ? err.stack : `${String(err.type ?? 'Error')}: ${String(err.message ?? '')}`;
    line += '\n' + text.split('\n').map((l) => '    ' + l).join('\n');
  }
  return line + '\n';
}

function levelName(n: number): string {
  return n >= 60 ? 'fatal' : n >= 50 ? 'error' : n >= 40 ? 'warn' : n >= 30 ? 'info' : n >= 20 ? 'debug' : 'trace';
}
