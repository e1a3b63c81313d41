import { Command, CommanderError, Option } from 'commander';
import { ConfigError, DEFAULT_DIR, DEFAULT_PORT, ROLES, type Role } from '../config.js';
import { HandleSyntaxError } from '../model/handle.js';
import { RegistryError } from '../store/registry.js';
import { ClientError } from '../client/handle-client.js';
import { UsageError } from './values.js';
import { initCommand } from './init.js';
import { serveCommand } from './serve.js';
import { registerCommand } from './register.js';
import { resolveCommand } from './resolve.js';
import { quickstartCommand } from './quickstart.js';
import { delegateCommand, homePrefixCommand, listPrefixesCommand } from './prefix.js';
import { demoCommand } from './demo.js';
import { benchCommand } from './bench.js';
import { dnsNameCommand } from './dns-name.js';
import { DnsMappingError } from '../dns/mapping.js';
import { importCommand, parseBatchSize, parseWorkers } from './import.js';
import { intRangeOption, nonNegativeIntOption, nonNegativeNumberOption, portOption, positiveIntOption, ttlOption, workersOption } from './numbers.js';
import { remoteImportCommand } from './remote-http.js';
import { deleteCommand, keysGenerateCommand, listCommand, updateCommand } from './admin.js';
import { grantCommand, listAdminsCommand, revokeCommand } from './administrators.js';
import { statusCommand } from './status.js';
import { PERMISSION_NAMES } from './admin-perms.js';
import { KeyFileError } from '../protocol/keyfile.js';

const collect = (v: string, prev: string[] = []) => [...prev, v];

const VALUE_FORMS_HELP = `
Readable values (the data column resolve prints reads back the same):
  --value '100:HS_ADMIN=300:0.NA/88.118.8 perms=all'    perms: all, none, or ${PERMISSION_NAMES.slice(0, 3).join(',')},…
  --value 200:HS_VLIST=300:88.118.8/A,300:88.118.8/B
  --value '1:HS_SITE=10.0.0.1:2641,10.0.0.2:2641 hash=handle serial=1 desc="site of 88.118.9" keys=fetch'
  --value 301:HS_SECKEY=SECRET                           (private whatever the option)
  --value 300:HS_PUBKEY=@operator.key.pub.bin            (or a PEM key file)
  --json-value '{"index":100,"type":"HS_ADMIN","data":{"format":"admin","value":{"handle":"0.NA/88.118.8","index":300,"permissions":"111111111111"}}}'
(docs/admin.md: Readable values)`;
/** --server/--auth/--key/--secret/--session: work on a remote node over the wire (src/cli/remote-wire.ts). */
function remoteOptions(c: Command): Command {
  return c
    .option('-s, --server <host:port>', 'a remote node to administer over the Handle protocol (TCP) instead of the local registry')
    .option('--api <url>', "a remote node to administer through its HTTP API instead, e.g. http://127.0.0.1:8000 (docs/http.md)")
    .option('--auth <handle:index>', 'the administrator identity, e.g. 0.NA/88.118.8:300')
    .option('--key <file>', "the identity's private key: PEM or the reference's key file (passphrase in IDRES_KEY_PASSPHRASE)")
    .option('--secret <secret>', 'an HS_SECKEY secret instead of a key (or IDRES_SECRET)')
    .option('--session', 'open a Diffie-Hellman session first, as the reference admin tools do');
}
const remoteOf = (o: Record<string, unknown>) => ({
  ...(o.server !== undefined ? { server: o.server as string } : {}),
  ...(o.api !== undefined ? { api: o.api as string } : {}),
  ...(o.auth !== undefined ? { auth: o.auth as string } : {}),
  ...(o.key !== undefined ? { key: o.key as string } : {}),
  ...(o.secret !== undefined ? { secret: o.secret as string } : {}),
  session: Boolean(o.session),
});

const dirOption = () =>
  new Option('-d, --dir <path>', 'the node folder (config, registry, keys)').env('IDRES_DIR').default(DEFAULT_DIR);

export function buildProgram(): Command {
  const program = new Command('idres')
    .description('Identifier resolution for the Industrial Internet: a Handle protocol (2.11) node over UDP and TCP.')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    // A missing or unknown option is bad input like any other: exit status 2 (main below), not commander's 1.
    .exitOverride();

  program
    .command('init')
    .description('create a node folder: configuration, server key, registry and the prefix handles of its prefixes')
    .addOption(dirOption())
    .option('-p, --prefix <prefix>', 'a prefix this node homes, e.g. 88.118.8 (repeatable)', collect, [])
    .addOption(new Option('-r, --role <role>', 'what the node does (repeatable)').choices([...ROLES]).argParser(collect))
    .option('--listen <address>', 'IP address to listen on', '127.0.0.1')
    .option('--port <port>', 'UDP and TCP port', portOption('--port'), DEFAULT_PORT)
    .option('--public-address <address>', 'address clients elsewhere use to reach this node (default: --listen)')
    .option('--case-sensitive', 'match suffixes with their case (the default folds case, as the reference does)')
    .option('--description <text>', 'description written into the site record')
    .option('--force', 'rewrite an existing configuration (registry and keys are kept)')
    .option('--root <address:port>', 'a root (top-level) server where recursive walks start (repeatable)', collect, [])
    .option('--upstream <address:port>', 'forward recursive requests to this server instead of walking')
    .option('--allow-recursion', 'resolve for clients that set REC (a resolver always does)')
    .option('--dns-port <port>', 'open the DNS gateway on this UDP and TCP port (docs/dns.md)', portOption('--dns-port'))
    .option('--dns-zone <zone>', 'a zone the DNS gateway answers, e.g. id.example.cn (repeatable; opens the gateway)', collect, [])
    .option('--http-port <port>', 'port of the HTTP API, redirect front and /metrics (default 8000; any free port with --port 0)', portOption('--http-port'))
    .option('--no-http', 'no HTTP face at all')
    .action((o) =>
      initCommand({
        dir: o.dir,
        prefixes: o.prefix,
        roles: (o.role as Role[] | undefined) ?? ['business'],
        host: o.listen,
        port: o.port,
        publicAddress: o.publicAddress,
        caseFoldSuffix: !o.caseSensitive,
        description: o.description,
        force: Boolean(o.force),
        roots: o.root,
        upstream: o.upstream,
        ...(o.allowRecursion ? { allowRecursion: true } : {}),
        ...(o.dnsPort !== undefined || o.dnsZone.length
          ? { dns: { enabled: true, ...(o.dnsPort !== undefined ? { port: o.dnsPort } : {}), ...(o.dnsZone.length ? { zones: o.dnsZone } : {}) } }
          : {}),
        ...(o.http === false ? { http: { enabled: false } } : o.httpPort !== undefined ? { http: { port: o.httpPort } } : {}),
      }),
    );

  program
    .command('serve')
    .description('run the node: answer the Handle protocol on UDP and TCP')
    .addOption(dirOption())
    .option('--listen <address>', 'override the configured listen address')
    .option('--port <port>', 'override the configured port (0: any free port)', portOption('--port'))
    .option('--http-port <port>', 'override the configured HTTP port (0: any free port)', portOption('--http-port'))
    .option('--workers <n>', 'processes serving the port together (default: the configured "workers", 1)', workersOption('--workers'))
    .action(async (o) => {
      await serveCommand({ dir: o.dir, host: o.listen, port: o.port, httpPort: o.httpPort, ...(o.workers ? { workers: o.workers } : {}) });
    });

  remoteOptions(program
    .command('register')
    .description('register one identifier with its values, in the local registry or on a remote node (--server)')
    .argument('<handle>', 'the identifier, PREFIX/SUFFIX, e.g. 88.118.8/PUMP-XB200-0001')
    .addOption(dirOption())
    .option('-v, --value <[index:]type=data>', 'a public value, e.g. URL=https://… or 5:EMAIL=a@b.cn (repeatable)', collect, [])
    .option('--private <[index:]type=data>', 'a value only administrators may read (repeatable)', collect, [])
    .option('--hex <[index:]type=hex>', 'a public value given as hex bytes (repeatable)', collect, [])
    .option('--json-value <json>', 'a value in the REST API\'s JSON shape, as resolve --json prints it (repeatable)', collect, [])
    .option('--ttl <seconds>', 'TTL of the values', ttlOption('--ttl'), 86400)
    .option('--no-admin', 'do not add the default HS_ADMIN value (the prefix administrator; remotely, the --auth identity)')
    .option('--overwrite', 'replace the values of an existing identifier')
    .option('--allow-unhomed', 'register under a prefix this node does not home')
    .option('--json', 'print the result as JSON')
    .option('--show-secrets', 'print HS_SECKEY secrets instead of hiding them'))
    .addHelpText('after', VALUE_FORMS_HELP)
    .action((handle, o) =>
      registerCommand(handle, {
        ...remoteOf(o),
        dir: o.dir,
        values: o.value,
        privateValues: o.private,
        hexValues: o.hex,
        jsonValues: o.jsonValue,
        ttl: o.ttl,
        admin: o.admin,
        overwrite: Boolean(o.overwrite),
        allowUnhomed: Boolean(o.allowUnhomed),
        json: Boolean(o.json),
        showSecrets: Boolean(o.showSecrets),
      }),
    );

  remoteOptions(program
    .command('update')
    .description('set values (by index) of, or remove values from, an existing identifier: locally or on a remote node')
    .argument('<handle>', 'the identifier (or a prefix handle 0.NA/PREFIX)')
    .addOption(dirOption())
    .option('-v, --value <index:type=data>', 'a public value to add or replace (repeatable)', collect, [])
    .option('--private <index:type=data>', 'a value only administrators may read (repeatable)', collect, [])
    .option('--hex <index:type=hex>', 'a public value given as hex bytes (repeatable)', collect, [])
    .option('--json-value <json>', 'a value in the REST API\'s JSON shape, as resolve --json prints it (repeatable)', collect, [])
    .option('--remove <index>', 'remove the value at this index (repeatable)', collect, [])
    .option('--ttl <seconds>', 'TTL of the values set', ttlOption('--ttl'), 86400)
    .option('--json', 'print the result as JSON')
    .option('--show-secrets', 'print HS_SECKEY secrets instead of hiding them'))
    .addHelpText('after', VALUE_FORMS_HELP)
    .action((handle, o) =>
      updateCommand(handle, {
        ...remoteOf(o),
        dir: o.dir,
        values: o.value,
        privateValues: o.private,
        hexValues: o.hex,
        jsonValues: o.jsonValue,
        remove: o.remove,
        ttl: o.ttl,
        json: Boolean(o.json),
        showSecrets: Boolean(o.showSecrets),
      }),
    );

  remoteOptions(program
    .command('delete')
    .description('delete an identifier: locally or on a remote node')
    .argument('<handle>')
    .addOption(dirOption())
    .option('--json', 'print the result as JSON'))
    .action((handle, o) => deleteCommand(handle, { ...remoteOf(o), dir: o.dir, json: Boolean(o.json) }));

  remoteOptions(program
    .command('list')
    .description('list the identifiers under a prefix: locally or on a remote node (LIST_HANDLES)')
    .argument('<prefix>', 'e.g. 88.118.8 (or 0.NA/88.118.8)')
    .addOption(dirOption())
    .option('--limit <n>', 'at most this many (local only)', nonNegativeIntOption('--limit'))
    .option('--json', 'print {"prefix", "handles": [...]}'))
    .action((prefix, o) => listCommand(prefix, { ...remoteOf(o), dir: o.dir, json: Boolean(o.json), ...(o.limit !== undefined ? { limit: o.limit } : {}) }));

  const admins = program
    .command('admin')
    .description('who administers a prefix or a handle: its HS_ADMIN values, without hex (locally, or on a remote node with --server/--api)');
  remoteOptions(admins
    .command('grant')
    .description('make an identity (a key, a secret or an HS_VLIST group) an administrator of a prefix or handle, with these permissions')
    .argument('<prefix-or-handle>', 'a prefix (88.118.8: its prefix handle 0.NA/88.118.8) or a handle')
    .requiredOption('--to <index:handle>', 'the identity, e.g. 300:88.118.8/OPERATOR (its key at index 300) or 200:88.118.8/GROUP')
    .requiredOption('--perms <list>', `all, or some of: ${PERMISSION_NAMES.join(', ')}`)
    .option('--index <n>', 'the index of the new HS_ADMIN value (default: the first free from 100 to 199)', intRangeOption('--index', 1, 0x7fffffff))
    .addOption(dirOption())
    .option('--json', 'print the result as JSON'))
    .action((target, o) =>
      grantCommand(target, { ...remoteOf(o), dir: o.dir, json: Boolean(o.json), to: o.to, perms: o.perms, ...(o.index !== undefined ? { index: o.index } : {}) }),
    );
  remoteOptions(admins
    .command('revoke')
    .description('remove the HS_ADMIN values naming an identity from a prefix or handle')
    .argument('<prefix-or-handle>', 'a prefix (88.118.8: its prefix handle) or a handle')
    .requiredOption('--from <index:handle>', 'the identity, e.g. 300:88.118.8/OPERATOR')
    .option('--force', 'remove it even when it is the last administrator')
    .addOption(dirOption())
    .option('--json', 'print the result as JSON'))
    .action((target, o) => revokeCommand(target, { ...remoteOf(o), dir: o.dir, json: Boolean(o.json), from: o.from, force: Boolean(o.force) }));
  remoteOptions(admins
    .command('list')
    .description('the administrators of a prefix or handle and their permissions')
    .argument('<prefix-or-handle>', 'a prefix (88.118.8: its prefix handle) or a handle')
    .addOption(dirOption())
    .option('--json', 'print the result as JSON'))
    .action((target, o) => listAdminsCommand(target, { ...remoteOf(o), dir: o.dir, json: Boolean(o.json) }));

  program
    .command('status')
    .description("a node's state: roles, prefixes, handle count, cache, ports, upstream health (asks the running node over HTTP, else reads its folder)")
    .addOption(dirOption())
    .option('--api <url>', 'ask a running node through its HTTP face, e.g. http://127.0.0.1:8000')
    .option('-s, --server <host:port>', "ask a Handle server for its site (GET_SITE_INFO): all the wire tells")
    .option('--json', 'print the status as JSON')
    .action((o) => statusCommand({ dir: o.dir, json: Boolean(o.json), ...(o.api !== undefined ? { api: o.api } : {}), ...(o.server !== undefined ? { server: o.server } : {}) }));

  const keys = program.command('keys').description("administrators' keys, in the reference's formats");
  keys
    .command('generate')
    .description('make a key pair: FILE (private: the reference key file, or PEM) and FILE.pub.bin (HS_PUBKEY data); RSA, or SM2 with --sm2')
    .requiredOption('-o, --out <file>', 'where to write the private key')
    .option('--bits <n>', 'RSA modulus size', positiveIntOption('--bits'), 2048)
    .option('--passphrase-env <var>', 'encrypt the private key with the passphrase in this environment variable')
    .option('--pem', 'write the private key as PKCS#8 PEM instead of the reference format')
    .option('--sm2', "an SM2 key (GB/T 32918, the national system's commercial cryptography): PKCS#8 PEM, HS_PUBKEY of type SM2_PUB_KEY")
    .option('--force', 'replace existing files')
    .option('--json', 'print what was written as JSON')
    .action((o) =>
      keysGenerateCommand({ out: o.out, bits: o.bits, force: Boolean(o.force), pem: Boolean(o.pem), sm2: Boolean(o.sm2), json: Boolean(o.json), ...(o.passphraseEnv ? { passphraseEnv: o.passphraseEnv } : {}) }),
    );

  program
    .command('import')
    .description('register identifiers in bulk from a CSV or NDJSON file (docs/import.md): batched, idempotent, resumable')
    .argument('<file>', 'the file: .csv (a handle column and one column per value type) or .ndjson/.jsonl (one identifier a line)')
    .addOption(dirOption())
    .addOption(new Option('--format <format>', 'the file format, when its name does not say').choices(['csv', 'ndjson']))
    .option('--update', 'replace identifiers whose stored values differ from the file (default: report them, keep what is stored)')
    .option('--errors <file>', 'write every row not applied (line, handle, kind, problem) to this CSV file')
    .option('--allow-unhomed', 'accept handles under prefixes this node does not home')
    .option('--batch-size <rows>', 'rows per transaction', parseBatchSize, 10000)
    .option('--workers <n>', 'threads that parse and check rows beside the writer (default: a core each beyond one, at most 4, for files of 8 MiB or more; 0: none)', parseWorkers)
    .option('--ttl <seconds>', 'TTL of values that do not give one', ttlOption('--ttl'), 86400)
    .option('--no-admin', 'do not add the default HS_ADMIN value (index 100) to rows without one')
    .option('--restart', 'read the file from its first row even if an earlier run of it was interrupted')
    .addOption(new Option('--progress <mode>', 'progress on stderr: a bar on a terminal, else a line per batch').choices(['auto', 'bar', 'lines', 'none']).default('auto'))
    .option('--json', 'print the summary as JSON (local import)')
    .option('--api <url>', "import into a remote node through its HTTP API (one PUT per row; with --auth and --secret or --key)")
    .option('--auth <handle:index>', 'with --api: the administrator identity, e.g. 0.NA/88.118.8:300')
    .option('--key <file>', 'with --api: the identity\'s private key (PEM or the reference\'s key file)')
    .option('--secret <secret>', 'with --api: an HS_SECKEY secret (or IDRES_SECRET)')
    .action((file, o) =>
      o.api !== undefined
        ? remoteImportCommand(file, { ...remoteOf(o), api: o.api, ...(o.format ? { format: o.format } : {}), update: Boolean(o.update), ttl: o.ttl, admin: o.admin })
        : importCommand(file, {
        dir: o.dir,
        ...(o.format ? { format: o.format } : {}),
        update: Boolean(o.update),
        allowUnhomed: Boolean(o.allowUnhomed),
        ...(o.errors ? { errors: o.errors } : {}),
        batchSize: o.batchSize,
        ...(o.workers !== undefined ? { workers: o.workers } : {}),
        ttl: o.ttl,
        admin: o.admin,
        restart: Boolean(o.restart),
        progress: o.progress,
        json: Boolean(o.json),
      }),
    );

  program
    .command('resolve')
    .description('resolve an identifier as a client: UDP with retries, then TCP')
    .argument('<identifier>', 'a handle (88.118.8/ABC123), an hdl: URI, or an http(s) URL ending in the handle')
    .option('-s, --server <host:port>', 'the server to ask (default: the local node of --dir, else 127.0.0.1:2641)')
    .option('--root <host:port>', 'walk the hierarchy from this root instead, as Handle clients do (repeatable)', collect, [])
    .addOption(dirOption())
    .option('--tcp', 'use TCP only')
    .option('--udp', 'use UDP only (no TCP fallback)')
    .option('-t, --type <type>', 'only values of this type; "HS_SITE." matches HS_SITE.* (repeatable)', collect, [])
    .option('-i, --index <index>', 'only the value at this index (repeatable)', collect, [])
    .option('--json', 'print the answer as JSON, values in the shape of the Handle REST API')
    .option('--show-secrets', 'print HS_SECKEY secrets instead of hiding them')
    .option('--timeout <ms>', 'overall TCP timeout', positiveIntOption('--timeout'), 10000)
    .action((id, o) =>
      resolveCommand(id, {
        server: o.server,
        roots: o.root,
        dir: o.dir,
        transport: o.tcp ? 'tcp' : o.udp ? 'udp' : 'auto',
        types: o.type,
        indexes: (o.index as string[]).map((x) => {
          const n = Number(x);
          if (!Number.isInteger(n) || n < 0) throw new UsageError(`"${x}" is not an index`);
          return n;
        }),
        json: Boolean(o.json),
        showSecrets: Boolean(o.showSecrets),
        timeoutMs: o.timeout,
      }),
    );

  const prefix = program.command('prefix').description('prefixes: what this node homes, and what it delegates to other nodes');
  prefix
    .command('delegate')
    .description('delegate a prefix to the node(s) that serve it: writes the prefix handle 0.NA/PREFIX here')
    .argument('<prefix>', 'the child prefix, e.g. 88.118.8')
    .addOption(dirOption())
    .option('--site <address:port,…>', 'a site serving the prefix: its servers, comma-separated (repeatable: several sites)', collect, [])
    .option('--serv <handle>', 'a service handle whose HS_SITE values give the sites (repeatable)', collect, [])
    .option('--no-derived', 'do not also serve prefixes derived from it (no HS_SITE.PREFIX / HS_SERV.PREFIX)')
    .addOption(new Option('--hash <part>', 'how clients pick a server of a multi-server site').choices(['prefix', 'suffix', 'handle']).default('handle'))
    .option('--ttl <seconds>', 'TTL of the delegation values', ttlOption('--ttl'))
    .option('--overwrite', 'replace an existing delegation')
    .option('--no-fetch-keys', "do not ask the servers for their public keys (GET_SITE_INFO)")
    .action((p, o) =>
      delegateCommand(p, {
        dir: o.dir,
        sites: o.site,
        services: o.serv,
        derived: o.derived,
        hash: o.hash,
        overwrite: Boolean(o.overwrite),
        fetchKeys: o.fetchKeys,
        ...(o.ttl !== undefined ? { ttl: o.ttl } : {}),
      }),
    );
  prefix
    .command('list')
    .description('list the prefixes homed here and the prefix handles held here (own and delegated)')
    .addOption(dirOption())
    .option('--json', 'print the result as JSON')
    .action((o) => listPrefixesCommand({ dir: o.dir, json: Boolean(o.json) }));
  prefix
    .command('home')
    .description('answer for identifiers under a prefix here (a secondary hosting a small enterprise, say)')
    .argument('<prefix>')
    .addOption(dirOption())
    .option('--unhome', 'stop answering for it')
    .action((p, o) => homePrefixCommand(p, { dir: o.dir, unhome: Boolean(o.unhome) }));

  program
    .command('dns-name')
    .description("the DNS name of an identifier, or the identifier of a DNS name (the gateway's mapping, docs/dns.md)")
    .argument('<identifier-or-name>', 'e.g. 88.118.8/ABC123, or abc123._.8.118.88.id.internal')
    .option('-z, --zone <zone>', 'the zone (repeatable; default: the zones of the node in --dir, else id.internal)', collect, [])
    .addOption(dirOption())
    .action((x, o) => dnsNameCommand(x, { zones: o.zone, dir: o.dir }));

  program
    .command('demo')
    .description('run a whole hierarchy on loopback: top-level (88), secondary (88.118), business (88.118.8) and a resolver')
    .option('-d, --dir <path>', 'folder for the four node folders', 'idres-demo')
    .option('--port <port>', 'the resolver port; the top, secondary and business nodes take the next three (0: any free ports)', portOption('--port'), DEFAULT_PORT)
    .option('--count <n>', 'demo product identifiers on the business node (first run)', nonNegativeIntOption('--count'), 3000)
    .action(async (o) => {
      await demoCommand({ dir: o.dir, port: o.port, count: o.count });
    });

  program
    .command('bench')
    .description('load-test a Handle server (yours, on loopback): many requests in flight or a fixed rate, then rates, codes and latency')
    .option('-s, --server <host:port>', 'the server under test', '127.0.0.1:2641')
    .option('--handle <id>', 'an identifier to ask for (repeatable)', collect, [])
    .option('--handles-file <file>', 'identifiers to ask for, one per line (asked in turn)')
    .addOption(new Option('--transport <t>', 'udp, tcp (a connection per request) or tcp-kc (kept connections)').choices(['udp', 'tcp', 'tcp-kc']).default('udp'))
    .option('--rate <qps>', 'requests a second; 0 = as many as answered (saturation)', nonNegativeNumberOption('--rate'), 0)
    .option('--concurrency <n>', 'requests in flight (UDP) or connections (TCP)', positiveIntOption('--concurrency'), 100)
    .option('--duration <seconds>', 'how long to run', nonNegativeNumberOption('--duration'), 10)
    .option('--pipeline <n>', 'requests in flight per kept TCP connection', positiveIntOption('--pipeline'), 8)
    .option('--json', 'print the report as JSON')
    .action((o) =>
      benchCommand({
        server: o.server,
        handles: o.handle,
        handlesFile: o.handlesFile,
        transport: o.transport,
        rate: o.rate,
        concurrency: o.concurrency,
        durationSeconds: o.duration,
        pipeline: o.pipeline,
        json: Boolean(o.json),
      }),
    );

  program
    .command('quickstart')
    .description('create (once) and run a business node for 88.118.8 with a few thousand demo product identifiers')
    .addOption(dirOption())
    .option('--port <port>', 'UDP and TCP port', portOption('--port'), DEFAULT_PORT)
    .option('--count <n>', 'demo identifiers to register on first run', nonNegativeIntOption('--count'), 2000)
    .action((o) => quickstartCommand({ dir: o.dir, port: o.port, count: o.count }));

  return program;
}

/** Errors a user can act on are printed as one line; anything else is a bug and keeps its stack. */
export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander has printed its message (or the help); --help and --version end well.
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    if (
      err instanceof UsageError ||
      err instanceof ConfigError ||
      err instanceof RegistryError ||
      err instanceof HandleSyntaxError ||
      err instanceof ClientError ||
      err instanceof DnsMappingError ||
      err instanceof KeyFileError
    ) {
      console.error(`idres: ${err.message}`);
      process.exitCode = 2;
      return;
    }
    throw err;
  }
}
