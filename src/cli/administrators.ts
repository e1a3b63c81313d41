import type { Command } from 'commander';
import { loadConfig } from '../node/config.js';
import { serverAdminsOf } from '../node/node.js';
import { AdminError } from '../client/admin-client.js';
import { ADMIN_INDEXES, freeIndexIn } from '../admin/defaults.js';
import { formatIdentity, parseIdentity, sameHandle } from '../admin/permissions.js';
import { type VListEntry, adminPermissionBits } from '../model/admin.js';
import { isValidPrefix, prefixHandle } from '../model/handle.js';
import { type HandleValue, makeValue } from '../model/value.js';
import { decodeAdmin, decodeVList, encodeAdmin } from '../protocol/admin-data.js';
import { ResponseCode } from '../protocol/constants.js';
import { describePublicKey } from '../protocol/json.js';
import type { Registry } from '../store/registry.js';
import { PERMISSION_NAMES, formatPermissions, parsePermissions, permissionNames } from './admin-perms.js';
import { withRegistry } from './open-registry.js';
import { audited } from './local-audit.js';
import { checkHandleArgument } from './register.js';
import { readRemoteValues } from './remote-read.js';
import { type RemoteOptions, isRemote, remoteName, withRemote } from './remote-wire.js';
import { parseReference, referenceText } from './value-forms.js';
import { UsageError, printJson } from './values.js';
import { dirOption, remoteOf, remoteOptions } from './options.js';
import { intRangeOption } from './numbers.js';

// `idres admin grant|revoke|list`: who administers a prefix or a handle, as HS_ADMIN values (100–199) of the
// handle (a prefix's: its prefix handle 0.NA/PREFIX), changed without hex. Locally on the registry (--dir), or
// on a remote node over the wire (--server) or HTTP (--api), where the node checks the permissions of the
// identity doing it (ADD_ADMIN to add, MODIFY_ADMIN to change, REMOVE_ADMIN to remove) as for any client.

export interface AdminCommandOptions extends RemoteOptions {
  dir: string;
  json: boolean;
}

/** One HS_ADMIN value of a handle, decoded. */
interface AdminEntry {
  index: number;
  admin: VListEntry;
  permissions: number;
  value: HandleValue;
}

/** A prefix (88.118.8) means its prefix handle 0.NA/88.118.8; a handle is itself. */
export function targetHandle(arg: string): string {
  if (arg.includes('/')) {
    checkHandleArgument(arg);
    return arg;
  }
  if (!isValidPrefix(arg)) throw new UsageError(`"${arg}" is neither a prefix (88.118.8) nor a handle (88.118.8/PUMP-1, 0.NA/88.118.8)`);
  return prefixHandle(arg);
}

/** INDEX:HANDLE (as HS_ADMIN names it), or HANDLE:INDEX as --auth takes it. */
function identityArgument(text: string, option: string): VListEntry {
  try {
    return parseReference(text);
  } catch {
    const id = parseIdentity(text.trim());
    if (id) return id;
    throw new UsageError(`${option} "${text}" is not INDEX:HANDLE, e.g. 300:88.118.8/OPERATOR (a key at index 300) or 200:88.118.8/GROUP (an HS_VLIST group)`);
  }
}

function adminEntries(values: readonly HandleValue[]): AdminEntry[] {
  const out: AdminEntry[] = [];
  for (const v of values) {
    if (v.type.toUpperCase() !== 'HS_ADMIN') continue;
    try {
      const a = decodeAdmin(v.data);
      out.push({ index: v.index, admin: { handle: a.handle, index: a.index }, permissions: a.permissions, value: v });
    } catch {
      // An HS_ADMIN that does not decode names nobody.
    }
  }
  return out.sort((a, b) => a.index - b.index);
}

const sameRef = (a: VListEntry, b: VListEntry) => a.index === b.index && sameHandle(a.handle, b.handle);

// ---- grant ----------------------------------------------------------------------------------------------

export interface GrantOptions extends AdminCommandOptions {
  to: string;
  perms: string;
  index?: number;
}

interface GrantPlan {
  value: HandleValue;
  /** An HS_ADMIN naming the identity was there: it is replaced. */
  previous?: AdminEntry;
  /** The index was chosen here (another may be tried when the node says it is taken). */
  chosen: boolean;
}

function planGrant(handle: string, values: readonly HandleValue[], who: VListEntry, permissions: number, index: number | undefined): GrantPlan {
  const data = encodeAdmin({ permissions, handle: who.handle, index: who.index });
  const previous = adminEntries(values).find((e) => sameRef(e.admin, who));
  if (previous) {
    if (index !== undefined && index !== previous.index) {
      throw new UsageError(`${formatIdentity(who)} is already named by the HS_ADMIN at index ${previous.index} of ${handle}: grant changes that one (leave out --index)`);
    }
    return { value: { ...previous.value, data }, previous, chosen: false };
  }
  const taken = new Set(values.map((v) => v.index));
  if (index !== undefined) {
    const there = values.find((v) => v.index === index);
    if (there) throw new UsageError(`index ${index} of ${handle} holds ${there.type === 'HS_ADMIN' ? 'another administrator' : `an ${there.type} value`}: choose another --index`);
    return { value: makeValue(index, 'HS_ADMIN', data), chosen: false };
  }
  const free = freeIndexIn(taken, ADMIN_INDEXES.first, ADMIN_INDEXES.last);
  if (free === undefined) throw new UsageError(`${handle} has no free index from ${ADMIN_INDEXES.first} to ${ADMIN_INDEXES.last}: give --index`);
  return { value: makeValue(free, 'HS_ADMIN', data), chosen: true };
}

export async function grantCommand(target: string, o: GrantOptions): Promise<void> {
  const handle = targetHandle(target);
  const who = identityArgument(o.to, '--to');
  const permissions = parsePermissions(o.perms);
  if (o.index !== undefined && (!Number.isInteger(o.index) || o.index < 1 || o.index > 0x7fffffff)) throw new UsageError('--index must be a positive whole number');
  let plan: GrantPlan;
  let after: HandleValue[];
  if (isRemote(o)) {
    const values = await readRemoteValues(o, handle);
    if (!values) throw new UsageError(`${handle} is not registered on ${remoteName(o)}`);
    plan = planGrant(handle, values, who, permissions, o.index);
    const taken = new Set(values.map((v) => v.index));
    await withRemote(o, async (admin) => {
      for (;;) {
        try {
          await admin.add(handle, [plan.value], { overwrite: plan.previous !== undefined });
          return;
        } catch (err) {
          // An index our public read could not see (a private value) is taken: the next one, as the reference's tools do.
          if (!(err instanceof AdminError) || err.responseCode !== ResponseCode.VALUE_ALREADY_EXISTS || !plan.chosen) throw err;
          taken.add(plan.value.index);
          const next = freeIndexIn(taken, ADMIN_INDEXES.first, ADMIN_INDEXES.last);
          if (next === undefined) throw new UsageError(`${handle} has no free index from ${ADMIN_INDEXES.first} to ${ADMIN_INDEXES.last}: give --index`);
          plan = { ...plan, value: { ...plan.value, index: next } };
        }
      }
    });
    after = [...values.filter((v) => v.index !== plan.value.index), plan.value].sort((a, b) => a.index - b.index);
  } else {
    after = await withRegistry(o.dir, (registry) => {
      const values = stored(registry, handle);
      plan = planGrant(handle, values, who, permissions, o.index);
      const change = { op: 'grant', handle, detail: { administrator: formatIdentity(who), permissions: permissionNames(permissions) } };
      audited(registry, change, () => registry.upsertValues(handle, [plan.value]));
      return stored(registry, handle);
    });
  }
  const p = plan!;
  const where = isRemote(o) ? ` on ${remoteName(o)}` : '';
  if (o.json) {
    return printJson({
      handle,
      ...(isRemote(o) ? { server: remoteName(o) } : {}),
      granted: { ...entryJson({ index: p.value.index, admin: who, permissions, value: p.value }), ...(p.previous ? { previousPermissions: permissionNames(p.previous.permissions) } : {}) },
      administrators: adminEntries(after).map((e) => entryJson(e)),
    });
  }
  const was = p.previous ? ` (was ${formatPermissions(p.previous.permissions)})` : '';
  console.log(`${p.previous ? 'changed' : 'granted'} ${formatIdentity(who)} on ${handle}${where}: ${formatPermissions(permissions)}${was} (HS_ADMIN at index ${p.value.index})`);
  console.log(adminTable(adminEntries(after)));
}

// ---- revoke ---------------------------------------------------------------------------------------------

export interface RevokeOptions extends AdminCommandOptions {
  from: string;
  force: boolean;
}

function planRevoke(handle: string, values: readonly HandleValue[], who: VListEntry, force: boolean, where: string): AdminEntry[] {
  const entries = adminEntries(values);
  const gone = entries.filter((e) => sameRef(e.admin, who));
  if (gone.length === 0) {
    const names = entries.map((e) => formatIdentity(e.admin)).join(', ') || 'nobody';
    throw new UsageError(`${formatIdentity(who)} is not an administrator of ${handle}${where} (its HS_ADMIN values name ${names})`);
  }
  if (gone.length === entries.length && !force) {
    throw new UsageError(
      `${formatIdentity(who)} is the last administrator of ${handle}${where}: without it only the node's server administrators could change it. ` +
        'Grant another first, or give --force',
    );
  }
  return gone;
}

export async function revokeCommand(target: string, o: RevokeOptions): Promise<void> {
  const handle = targetHandle(target);
  const who = identityArgument(o.from, '--from');
  const where = isRemote(o) ? ` on ${remoteName(o)}` : '';
  let gone: AdminEntry[];
  let after: HandleValue[];
  if (isRemote(o)) {
    const values = await readRemoteValues(o, handle);
    if (!values) throw new UsageError(`${handle} is not registered on ${remoteName(o)}`);
    gone = planRevoke(handle, values, who, o.force, where);
    const indexes = gone.map((e) => e.index);
    await withRemote(o, (admin) => admin.remove(handle, indexes));
    after = values.filter((v) => !indexes.includes(v.index));
  } else {
    after = await withRegistry(o.dir, (registry) => {
      gone = planRevoke(handle, stored(registry, handle), who, o.force, where);
      audited(registry, { op: 'revoke', handle, detail: { administrator: formatIdentity(who) } }, () => registry.removeValues(handle, gone.map((e) => e.index)));
      return stored(registry, handle);
    });
  }
  const removed = gone!;
  if (o.json) {
    return printJson({
      handle,
      ...(isRemote(o) ? { server: remoteName(o) } : {}),
      revoked: removed.map((e) => entryJson(e)),
      administrators: adminEntries(after).map((e) => entryJson(e)),
    });
  }
  console.log(`revoked ${formatIdentity(who)} on ${handle}${where} (HS_ADMIN at index ${removed.map((e) => e.index).join(', ')})`);
  const left = adminEntries(after);
  console.log(left.length ? adminTable(left) : `${handle} has no administrator left: only the node's server administrators can change it`);
}

// ---- list -----------------------------------------------------------------------------------------------

export async function listAdminsCommand(target: string, o: AdminCommandOptions): Promise<void> {
  const handle = targetHandle(target);
  if (isRemote(o)) {
    const values = await readRemoteValues(o, handle);
    if (!values) throw new UsageError(`${handle} is not registered on ${remoteName(o)}`);
    const entries = adminEntries(values);
    if (o.json) return printJson({ handle, server: remoteName(o), administrators: entries.map((e) => entryJson(e)) });
    console.log(`${handle} on ${remoteName(o)}: ${count(entries.length)} (its public HS_ADMIN values)`);
    if (entries.length) console.log(adminTable(entries));
    return;
  }
  const config = loadConfig(o.dir);
  const serverAdmins = serverAdminsOf(config).map(formatIdentity);
  await withRegistry(o.dir, (registry) => {
    const entries = adminEntries(stored(registry, handle));
    const what = (e: AdminEntry) => describeIdentity(registry, e.admin);
    if (o.json) return printJson({ handle, administrators: entries.map((e) => entryJson(e, what(e))), serverAdministrators: serverAdmins });
    console.log(`${handle}: ${count(entries.length)}`);
    if (entries.length) console.log(adminTable(entries, what));
    console.log(`server administrators of this node (they pass every check): ${serverAdmins.join(', ') || 'none'}`);
  });
}

// ---- shared ---------------------------------------------------------------------------------------------

function stored(registry: Registry, handle: string): HandleValue[] {
  const values = registry.getValues(handle);
  if (!values) throw new UsageError(`${handle} is not registered here`);
  return values;
}

const count = (n: number) => (n === 1 ? '1 administrator' : `${n} administrators`);

function entryJson(e: AdminEntry, what?: string): Record<string, unknown> {
  return {
    index: e.index,
    administrator: formatIdentity(e.admin),
    handle: e.admin.handle,
    keyIndex: e.admin.index,
    permissions: permissionNames(e.permissions),
    permissionBits: adminPermissionBits(e.permissions),
    ...(what !== undefined ? { identity: what } : {}),
  };
}

function adminTable(entries: readonly AdminEntry[], what?: (e: AdminEntry) => string): string {
  const head = ['index', 'administrator', 'permissions', ...(what ? ['identity'] : [])];
  const rows = entries.map((e) => [String(e.index), referenceText(e.admin), formatPermissions(e.permissions), ...(what ? [what(e)] : [])]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : i === 0 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
  return [line(head), ...rows.map(line)].join('\n');
}

/** What the reference names, when this node holds it: a key, a secret, a group (and its members). */
function describeIdentity(registry: Registry, ref: VListEntry): string {
  const values = registry.getValues(ref.handle);
  if (!values) return 'not held here';
  if (ref.index === 0) return 'any key of the handle';
  const v = values.find((x) => x.index === ref.index);
  if (!v) return `no value at index ${ref.index}`;
  const t = v.type.toUpperCase();
  if (t.startsWith('HS_PUBKEY')) {
    const k = describePublicKey(v.data);
    return k ? `public key ${k.algorithm} ${k.fingerprint}` : 'public key (unreadable)';
  }
  if (t.startsWith('HS_SECKEY')) return 'secret key';
  if (t.startsWith('HS_VLIST')) {
    try {
      const members = decodeVList(v.data);
      return `group of ${members.length}: ${members.map(referenceText).join(', ')}`;
    } catch {
      return 'group (unreadable)';
    }
  }
  return `an ${v.type} value (no key)`;
}

/** `idres admin grant|revoke|list`: the administrators of a prefix or handle. */
export function addAdminCommand(program: Command): void {
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
}
