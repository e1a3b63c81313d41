import { type Command, Option } from 'commander';
import { DEFAULT_DIR } from '../node/config.js';
import { LOG_LEVELS, type LogLevel } from '../log/levels.js';
import { PERMISSION_NAMES } from './admin-perms.js';
import type { SpecSources } from './values.js';

// Options and their parsers that several commands share.

/** A repeatable option's values, in the order given. */
export const collect = (v: string, prev: string[] = []) => [...prev, v];

export const VALUE_FORMS_HELP = `
Readable values (the data column resolve prints reads back the same):
  --value '100:HS_ADMIN=300:0.NA/88.118.8 perms=all'    perms: all, none, or ${PERMISSION_NAMES.slice(0, 3).join(',')},…
  --value 200:HS_VLIST=300:88.118.8/A,300:88.118.8/B
  --value '1:HS_SITE=10.0.0.1:2641,10.0.0.2:2641 hash=handle serial=1 desc="site of 88.118.9" keys=fetch'
  --value 301:HS_SECKEY=SECRET                           (private whatever the option)
  --value 300:HS_PUBKEY=@operator.key.pub.bin            (or a PEM key file)
  --json-value '{"index":100,"type":"HS_ADMIN","data":{"format":"admin","value":{"handle":"0.NA/88.118.8","index":300,"permissions":"111111111111"}}}'
(docs/admin.md: Readable values)`;

/** --server/--auth/--key/--secret/--session: work on a remote node over the wire (src/cli/remote-wire.ts). */
export function remoteOptions(c: Command): Command {
  return c
    .option('-s, --server <host:port>', 'a remote node to administer over the Handle protocol (TCP) instead of the local registry')
    .option('--api <url>', "a remote node to administer through its HTTP API instead, e.g. http://127.0.0.1:8000 (docs/http.md)")
    .option('--auth <handle:index>', 'the administrator identity, e.g. 0.NA/88.118.8:300')
    .option('--key <file>', "the identity's private key: PEM or the reference's key file (passphrase in IDRES_KEY_PASSPHRASE)")
    .option('--secret <secret>', 'an HS_SECKEY secret instead of a key (or IDRES_SECRET)')
    .option('--session', 'open a Diffie-Hellman session first, as the reference admin tools do');
}

/** What remoteOptions parsed, as the commands take it. */
export const remoteOf = (o: Record<string, unknown>) => ({
  ...(o.server !== undefined ? { server: o.server as string } : {}),
  ...(o.api !== undefined ? { api: o.api as string } : {}),
  ...(o.auth !== undefined ? { auth: o.auth as string } : {}),
  ...(o.key !== undefined ? { key: o.key as string } : {}),
  ...(o.secret !== undefined ? { secret: o.secret as string } : {}),
  session: Boolean(o.session),
});

export const dirOption = () =>
  new Option('-d, --dir <path>', 'the node folder (config, registry, keys)').env('IDRES_DIR').default(DEFAULT_DIR);

/** --log-level, for the commands that run nodes (serve, demo). */
export function logLevelOption(): Option {
  return new Option('--log-level <level>', 'log lines below this level are left out (default: the configured log.level, info)').choices([...LOG_LEVELS]);
}

/** --log-level as the commands take it: absent when not given. */
export function logLevelOf(o: Record<string, unknown>): { logLevel?: LogLevel } {
  return o.logLevel !== undefined ? { logLevel: o.logLevel as LogLevel } : {};
}

/**
 * The value options register and update share (--value, --private, --hex, --json-value); `indexed` says
 * whether each value must name its index (update) or may leave it to be given (register).
 */
export function valueOptions(command: Command, indexed: boolean): Command {
  const spec = indexed ? 'index:type' : '[index:]type';
  return command
    .option(`-v, --value <${spec}=data>`, indexed ? 'a public value to add or replace (repeatable)' : 'a public value, e.g. URL=https://… or 5:EMAIL=a@b.cn (repeatable)', collect, [])
    .option(`--private <${spec}=data>`, 'a value only administrators may read (repeatable)', collect, [])
    .option(`--hex <${spec}=hex>`, 'a public value given as hex bytes (repeatable)', collect, [])
    .option('--json-value <json>', 'a value in the REST API\'s JSON shape, as resolve --json prints it (repeatable)', collect, []);
}

/** What valueOptions parsed, as specsFrom (values.ts) reads it. */
export function valueSourcesOf(o: { value: string[]; private: string[]; hex: string[]; jsonValue: string[] }): Required<SpecSources> {
  return { values: o.value, privateValues: o.private, hexValues: o.hex, jsonValues: o.jsonValue };
}
