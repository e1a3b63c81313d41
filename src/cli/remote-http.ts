import { type ImportFormat, formatOf } from '../admin/import.js';
import { parseCsvHeader, csvRowToRaw, splitCsvRecord, type CsvPlan } from '../admin/import-csv.js';
import { parseNdjsonRow, type RawRow } from '../admin/import-ndjson.js';
import { readLines } from '../admin/import-source.js';
import { RowError, settleValues } from '../admin/import-values.js';
import { AdminError } from '../client/admin-client.js';
import { HttpApiClient } from '../client/http-api-client.js';
import { splitHandle } from '../model/handle.js';
import type { HandleValue } from '../model/value.js';
import { ResponseCode } from '../protocol/constants.js';
import { UsageError } from './values.js';
import { credentialsFrom } from './credentials.js';
import { creatorAdminValue } from '../admin/defaults.js';
import { parseIdentity } from '../admin/permissions.js';

// The CLI against a remote node's HTTP API (--api URL): register, update, delete and list go through the
// same calls as over the wire (remote-wire.ts hands them this client), authenticated with --auth and
// --secret (Basic) or --key (the `Handle` scheme, HS_PUBKEY). `import --api` sends each row of a CSV or NDJSON
// file as one PUT, several in flight, and reports per row, as the local import does.

export interface HttpRemoteOptions {
  api?: string;
  auth?: string;
  key?: string;
  secret?: string;
}

export function httpAdmin(o: HttpRemoteOptions): { admin: HttpApiClient; close: () => Promise<void> } {
  if (!o.api) throw new UsageError('--api URL is needed for a remote node over HTTP');
  const identity = credentialsFrom(o);
  let client: HttpApiClient;
  try {
    client = new HttpApiClient(o.api, identity);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  return { admin: client, close: () => client.close() };
}

export interface RemoteImportOptions extends HttpRemoteOptions {
  format?: ImportFormat;
  /** Replace identifiers that exist (overwrite=true); without, they are reported and kept. */
  update: boolean;
  ttl: number;
  admin: boolean;
  /** PUTs in flight. */
  concurrency?: number;
}

interface Row {
  line: number;
  handle: string;
  values: HandleValue[];
}

/** `idres import FILE --api URL`: each row a PUT of the whole record; exit status 1 when a row was refused. */
export async function remoteImportCommand(file: string, o: RemoteImportOptions): Promise<void> {
  const format = o.format ?? formatOf(file);
  if (!format) throw new UsageError(`cannot tell the format of ${file} from its name: give --format csv or --format ndjson`);
  // Rows without an HS_ADMIN are administered by the identity importing them, as with `register --api`.
  const creator = o.auth !== undefined ? parseIdentity(o.auth) : undefined;
  const rows: Row[] = [];
  const bad: string[] = [];
  let plan: CsvPlan | undefined;
  let pending = '';
  let pendingLine = 0;
  await readLines(file, (l) => {
    if (l.text === undefined) {
      bad.push(`line ${l.number}: ${l.problem}`);
      return true;
    }
    let text = l.text;
    let line = l.number;
    if (format === 'csv') {
      if (pending) {
        text = `${pending}\n${text}`;
        line = pendingLine;
      }
      const fields = splitCsvRecord(text);
      if (!fields) {
        pending = text;
        pendingLine = line;
        return true;
      }
      pending = '';
      if (!plan) {
        try {
          plan = parseCsvHeader(fields);
        } catch (err) {
          throw new UsageError(`${file}: ${(err as Error).message}`);
        }
        return true;
      }
      if (text.trim() === '') return true;
      take(line, () => csvRowToRaw(fields, plan!, o.ttl));
    } else {
      if (text.trim() === '') return true;
      take(line, () => parseNdjsonRow(text, o.ttl));
    }
    return true;
  });
  function take(line: number, read: () => RawRow): void {
    try {
      const raw = read();
      let values = settleValues(raw.drafts, splitHandle(raw.handle).prefix, { ttl: o.ttl, admin: o.admin && !creator });
      const admin = o.admin && creator && !values.some((v) => v.type.toUpperCase() === 'HS_ADMIN') ? creatorAdminValue(creator, values) : undefined;
      if (admin) values = [...values, admin].sort((a, b) => a.index - b.index);
      rows.push({ line, handle: raw.handle, values });
    } catch (err) {
      if (!(err instanceof RowError)) throw err;
      bad.push(`line ${line}${err.handle ? ` (${err.handle})` : ''}: ${err.message}`);
    }
  }

  const { admin, close } = httpAdmin(o);
  let created = 0;
  let kept = 0;
  let next = 0;
  const refused: string[] = [];
  const worker = async () => {
    while (next < rows.length) {
      const r = rows[next++]!;
      try {
        await admin.create(r.handle, r.values, { overwrite: o.update });
        created++;
      } catch (err) {
        if (err instanceof AdminError && err.responseCode === ResponseCode.HANDLE_ALREADY_EXISTS) kept++;
        else if (err instanceof AdminError) refused.push(`line ${r.line} (${r.handle}): ${err.message}`);
        else throw err;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, o.concurrency ?? 8) }, worker));
  } finally {
    await close();
  }
  for (const p of [...bad, ...refused]) console.error(`idres: ${p}`);
  console.log(
    `imported ${file} through ${o.api}: ${rows.length + bad.length} rows, ${created} ${o.update ? 'written' : 'created'}, ` +
      `${kept} already registered (kept; --update replaces them), ${bad.length} bad, ${refused.length} refused`,
  );
  if (bad.length || refused.length) process.exitCode = 1;
}
