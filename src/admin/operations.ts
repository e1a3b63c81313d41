import { randomUUID } from 'node:crypto';
import { AdminPerm } from '../model/admin.js';
import type { AdminRequest } from '../model/admin-request.js';
import { HandleSyntaxError, NA_PREFIX, isPrefixHandle, isValidPrefix, prefixHandle, prefixOfPrefixHandle, splitHandle, validateHandle } from '../model/handle.js';
import { type HandleValue, Perm, type ValueFilter, selectFor } from '../model/value.js';
import { ResponseCode } from '../protocol/constants.js';
import { RegistryError, type Registry } from '../store/registry.js';
import { type Identity, Authorizer } from './permissions.js';
import type { Quotas } from './quotas.js';
import { creatorAdminValue } from './defaults.js';
import { type AuditOrigin, type AuditTrail, changeBetween, identityName } from './audit.js';

// The administrative operations (create, delete, add, remove, modify, list) with the reference server's
// checks in the reference's order (docs/protocol.md §11.7 and §11.8), independent of how a request arrived:
// the Handle wire protocol and the HTTP API both come here, so nothing is possible over one that is not over
// the other. Authentication is the caller's: it hands in an identity it has proven, or none.

export interface AdminOutcome {
  responseCode: number;
  /** Empty on success; the reference's words (or ours) otherwise. */
  message: string;
  /** create: the handle created (the minted one with MINT). */
  handle?: string;
  /** list: the handles, read from the registry a page at a time as they are consumed. */
  listing?: HandleListing;
  /** create/add with overwrite: something existing was replaced. */
  overwritten?: boolean;
}

/**
 * The handles under a prefix, in key order, read `pageSize` at a time as the iteration goes (never all in
 * memory at once); each call starts again from the first.
 */
export type HandleListing = (pageSize: number) => Iterable<string>;

export interface AdminServiceOptions {
  /** Does this node home the prefix (answer for its identifiers)? */
  homes: (prefix: string) => boolean;
  serverAdmins: readonly Identity[];
  /** The reference's allow_list_hdls. */
  allowListHandles: boolean;
  quotas?: Quotas;
  nowSeconds?: () => number;
  /** The clock (ms) of the audit log and, without nowSeconds, of value timestamps (tests pass a fake one). */
  now?: () => number;
  /** The audit log: every write carried out or refused here is recorded (audit.ts). */
  audit?: AuditTrail;
  /**
   * On a mirror: where its primary is ("address:port"), asked at each request since a promotion changes
   * it; every write is then refused with RC 301, before any challenge, naming the primary.
   */
  primary?: () => string | undefined;
}

const SUCCESS: AdminOutcome = { responseCode: ResponseCode.SUCCESS, message: '' };
const fail = (responseCode: number, message: string): AdminOutcome => ({ responseCode, message });
const NEEDS_AUTH = fail(ResponseCode.AUTHENTICATION_NEEDED, 'authentication needed');
const NOT_ADMIN = fail(ResponseCode.INVALID_ADMIN, 'the identity is not an administrator with the permission this needs');

/** Result of the checks before the work: a refusal, or nothing (go ahead). */
type Verdict = AdminOutcome | undefined;

export class AdminService {
  readonly authorizer: Authorizer;
  private readonly now: () => number;

  constructor(
    readonly registry: Registry,
    private readonly opts: AdminServiceOptions,
  ) {
    this.authorizer = new Authorizer((h) => registry.getValues(h), opts.serverAdmins);
    const clock = opts.now ?? Date.now;
    this.now = opts.nowSeconds ?? (() => Math.floor(clock() / 1000));
  }

  /**
   * Every check before the work, in the reference's order. Without an identity, a request that needs one is
   * answered AUTHENTICATION_NEEDED at the point where the reference would challenge; with one, the
   * identity's permissions are checked (the caller checks its proof only after this passes: a non-admin
   * gets 400 whatever it signed).
   */
  check(req: AdminRequest, identity: Identity | undefined): Verdict {
    const primary = req.op === 'list' ? undefined : this.opts.primary?.();
    if (primary !== undefined) return fail(ResponseCode.SERVER_NOT_RESP, `this server is not the primary (a mirror, or a primary that a newer one replaced): send administration to the primary at ${primary}`);
    switch (req.op) {
      case 'create':
        return this.checkCreate(req, identity);
      case 'delete':
        return this.checkDelete(req.handle, identity);
      case 'add':
        return this.checkAdd(req, identity);
      case 'remove':
        return this.checkRemove(req, identity);
      case 'modify':
        return this.checkModify(req, identity);
      case 'list':
        return this.checkList(req.prefix, identity);
    }
  }

  /**
   * Check, then carry out. `client` names who asked (an identity or an address), for the daily quota;
   * `origin` where from, for the audit log (the identity is one its caller has proven).
   */
  perform(req: AdminRequest, identity: Identity | undefined, client: string, origin?: AuditOrigin): AdminOutcome {
    const refused = this.check(req, identity);
    if (refused) return this.refused(req, identity, origin, refused);
    return this.execute(req, client, identity, origin);
  }

  /**
   * A write refused by its caller after check() (over the wire, where a challenge comes between): recorded
   * in the audit log, and returned. `proven`: the identity has proven itself (false: only claimed).
   */
  refused(req: AdminRequest, identity: Identity | undefined, origin: AuditOrigin | undefined, outcome: AdminOutcome, proven = identity !== undefined): AdminOutcome {
    if (this.opts.audit && origin && req.op !== 'list') {
      this.opts.audit.record({
        identity: identityName(identity),
        authenticated: proven && identity !== undefined,
        origin,
        op: req.op,
        handle: req.handle,
        detail: requestDetail(req),
        responseCode: outcome.responseCode,
        message: outcome.message,
      });
    }
    return outcome;
  }

  /**
   * Carry out a request whose checks passed (now, or when its challenge was answered: they are made again
   * here only where the registry may have changed in between). `identity`, who asked, becomes the
   * administrator of a handle it creates without an HS_ADMIN value.
   */
  execute(req: AdminRequest, client: string, identity?: Identity, origin?: AuditOrigin): AdminOutcome {
    const quota = this.opts.quotas?.countRequest(req.op === 'list' ? req.prefix : prefixFor(req.handle), client);
    if (quota) return this.refused(req, identity, origin, fail(quota.responseCode, quota.message));
    try {
      return this.opts.audit && origin && req.op !== 'list' ? this.executeAudited(req, identity, origin, this.opts.audit) : this.executeUnchecked(req, identity);
    } catch (err) {
      if (err instanceof RegistryError) {
        const rc = err.code === 'exists' ? ResponseCode.HANDLE_ALREADY_EXISTS : err.code === 'not-found' ? ResponseCode.HANDLE_NOT_FOUND : ResponseCode.INVALID_VALUE;
        return this.refused(req, identity, origin, fail(rc, err.message));
      }
      throw err;
    }
  }

  /** The write and its audit record in one transaction: both commit, or neither (IMMEDIATE: see Registry). */
  private executeAudited(req: Exclude<AdminRequest, { op: 'list' }>, identity: Identity | undefined, origin: AuditOrigin, audit: AuditTrail): AdminOutcome {
    const r = this.registry;
    return r.db.transaction(() => {
      const before = req.op === 'create' && req.mint ? undefined : r.getValues(req.handle);
      const o = this.executeUnchecked(req, identity);
      const handle = o.handle ?? req.handle;
      audit.record({
        identity: identityName(identity),
        authenticated: identity !== undefined,
        origin,
        op: req.op,
        handle,
        ...(o.responseCode === ResponseCode.SUCCESS ? { change: changeBetween(before, r.getValues(handle)) } : {}),
        detail: { ...requestDetail(req, o.responseCode !== ResponseCode.SUCCESS), ...(o.overwritten ? { overwritten: true } : {}) },
        responseCode: o.responseCode,
        message: o.message,
      });
      return o;
    }).immediate();
  }

  /**
   * May the identity read the non-public values of a handle (READ_VALUE in one of its HS_ADMIN values)?
   * Undefined when it may.
   */
  authorizeRead(handle: string, identity: Identity): AdminOutcome | undefined {
    return this.authorizer.permits(this.registry.getValues(handle), AdminPerm.READ_VALUE, identity) ? undefined : NOT_ADMIN;
  }

  /**
   * A read of every value a filter selects, as the reference answers a resolution without PO (the wire's
   * after a challenge, and the HTTP API's): 100 for a missing handle, 401 when a selected value is readable by
   * nobody, then, when one is not public (or `requireReader`, as inside a session), 402 without an identity
   * and 400 without READ_VALUE; 200 when nothing is selected.
   */
  read(handle: string, filter: ValueFilter, identity: Identity | undefined, opts: { requireReader?: boolean } = {}): AdminOutcome & { values?: HandleValue[] } {
    const stored = this.registry.getValues(handle);
    if (stored === undefined) return fail(ResponseCode.HANDLE_NOT_FOUND, '');
    const sel = selectFor(stored, filter);
    if (sel.unreadable) return fail(ResponseCode.INSUFFICIENT_PERMISSIONS, 'a selected value is readable by nobody');
    if (sel.restricted.length > 0 || opts.requireReader) {
      if (!identity) return NEEDS_AUTH;
      if (!this.authorizer.permits(stored, AdminPerm.READ_VALUE, identity)) return NOT_ADMIN;
    }
    const values = stored.filter((v) => filter.matches(v));
    if (values.length === 0) return fail(ResponseCode.VALUES_NOT_FOUND, '');
    return { ...SUCCESS, values };
  }

  private executeUnchecked(req: AdminRequest, identity: Identity | undefined): AdminOutcome {
    const r = this.registry;
    const now = this.now();
    switch (req.op) {
      case 'create': {
        let handle = req.handle;
        if (req.mint) {
          // The handle given is only a leading part; the rest is a random UUID, unused by construction.
          do handle = req.handle + randomUUID();
          while (r.exists(handle));
        }
        const exists = r.exists(handle);
        if (!exists) {
          const quota = isPrefixHandle(handle)
            ? this.opts.quotas?.checkNewPrefix(parentPrefix(prefixOfPrefixHandle(handle)!) ?? NA_PREFIX)
            : this.opts.quotas?.checkNewHandle(splitHandle(handle).prefix);
          if (quota) return fail(quota.responseCode, quota.message);
        }
        r.create(handle, exists ? req.values : withCreator(req.values, identity), { overwrite: req.overwrite, now });
        return { ...SUCCESS, handle, ...(exists ? { overwritten: true } : {}) };
      }
      case 'delete':
        r.delete(req.handle);
        return SUCCESS;
      case 'add': {
        const stored = r.getValues(req.handle) ?? [];
        const replaced = req.values.some((v) => stored.some((s) => s.index === v.index));
        r.upsertValues(req.handle, req.values, now);
        return { ...SUCCESS, ...(replaced ? { overwritten: true } : {}) };
      }
      case 'modify':
        r.upsertValues(req.handle, req.values, now);
        return SUCCESS;
      case 'remove':
        r.removeValues(req.handle, req.indexes, now);
        return SUCCESS;
      case 'list': {
        const prefix = req.prefix;
        return { ...SUCCESS, listing: (pageSize) => r.eachUnder(prefix, pageSize) };
      }
    }
  }

  /** 301 unless the handle is this node's to administer (docs/protocol.md §11.8, rule 6). */
  private responsible(handle: string): Verdict {
    const na = prefixOfPrefixHandle(handle);
    if (na !== undefined) {
      // A prefix handle is kept by the node that homes the prefix itself or one it derives from (its parent).
      const parent = parentPrefix(na);
      if (this.opts.homes(na) || (parent !== undefined && this.opts.homes(parent)) || this.opts.homes(NA_PREFIX)) return undefined;
      return fail(ResponseCode.SERVER_NOT_RESP, "That prefix doesn't live here");
    }
    const { prefix } = splitHandle(handle);
    return this.opts.homes(prefix) ? undefined : fail(ResponseCode.SERVER_NOT_RESP, "That prefix doesn't live here");
  }

  private checkValues(values: readonly HandleValue[], allowEmpty: boolean): Verdict {
    if (!allowEmpty && values.length === 0) return fail(ResponseCode.INVALID_VALUE, 'Value list was empty');
    const seen = new Set<number>();
    for (const v of values) {
      if (v.index <= 0 || v.index > 0x7fffffff) return fail(ResponseCode.INVALID_VALUE, 'Value indexes must be positive');
    }
    for (const v of values) {
      if (seen.has(v.index)) return fail(ResponseCode.VALUE_ALREADY_EXISTS, `Index conflict for ${v.index}`);
      seen.add(v.index);
    }
    return undefined;
  }

  private checkSyntax(handle: string): Verdict {
    if (isPrefixHandle(handle)) {
      return isValidPrefix(prefixOfPrefixHandle(handle)!) ? undefined : fail(ResponseCode.INVALID_HANDLE, `"${handle}" is not a valid prefix handle`);
    }
    try {
      validateHandle(handle);
      return undefined;
    } catch (err) {
      if (err instanceof HandleSyntaxError) return fail(ResponseCode.INVALID_HANDLE, err.message);
      throw err;
    }
  }

  private checkCreate(req: Extract<AdminRequest, { op: 'create' }>, id: Identity | undefined): Verdict {
    const where = this.responsible(req.mint ? mintProbe(req.handle) : req.handle);
    if (where) return where;
    const syntax = this.checkSyntax(req.mint ? mintProbe(req.handle) : req.handle);
    if (syntax) return syntax;
    const bad = this.checkValues(req.values, true);
    if (bad) return bad;
    const existing = req.mint ? undefined : this.registry.getValues(req.handle);
    if (existing && !req.overwrite) return fail(ResponseCode.HANDLE_ALREADY_EXISTS, 'Handle already exists');
    if (!id) return NEEDS_AUTH;
    if (existing) {
      // Overwriting: the bits the change needs on the existing handle (as an ADD with OW would, unless that
      // needs ADD_ADMIN), or ADD_ADMIN, or DELETE_HANDLE there; failing those, the plain create rule.
      const change = changeBits(existing, req.values, existing.filter((v) => !req.values.some((n) => n.index === v.index)));
      const a = this.authorizer;
      if ((!(change & AdminPerm.ADD_ADMIN) && a.permits(existing, change, id)) || a.permits(existing, AdminPerm.ADD_ADMIN, id) || a.permits(existing, AdminPerm.DELETE_HANDLE, id)) {
        return undefined;
      }
    }
    return this.createRule(req.mint ? mintProbe(req.handle) : req.handle, id) ? undefined : NOT_ADMIN;
  }

  /** CREATE permission: ADD_HANDLE on 0.NA/PREFIX; for a derived prefix 0.NA/A.B, ADD_NA on 0.NA/A; for 0.NA/A, ADD_HANDLE on 0.NA/0.NA. */
  private createRule(handle: string, id: Identity): boolean {
    const na = prefixOfPrefixHandle(handle);
    if (na !== undefined) {
      const parent = parentPrefix(na);
      if (parent === undefined) return this.authorizer.permits(this.registry.getValues(prefixHandle(NA_PREFIX)), AdminPerm.ADD_HANDLE, id);
      return this.authorizer.permits(this.registry.getValues(prefixHandle(parent)), AdminPerm.ADD_NA, id);
    }
    return this.authorizer.permits(this.registry.getValues(prefixHandle(splitHandle(handle).prefix)), AdminPerm.ADD_HANDLE, id);
  }

  private checkDelete(handle: string, id: Identity | undefined): Verdict {
    // The reference deliberately lets strays under prefixes it no longer homes be deleted: no 301 here.
    if (!id) return NEEDS_AUTH;
    const values = this.registry.getValues(handle);
    if (values === undefined) return fail(ResponseCode.HANDLE_NOT_FOUND, 'Handle not found');
    return this.authorizer.permits(values, AdminPerm.DELETE_HANDLE, id) ? undefined : NOT_ADMIN;
  }

  private checkAdd(req: Extract<AdminRequest, { op: 'add' }>, id: Identity | undefined): Verdict {
    const where = this.responsible(req.handle);
    if (where) return where;
    const bad = this.checkValues(req.values, false);
    if (bad) return bad;
    if (!id) return NEEDS_AUTH;
    const stored = this.registry.getValues(req.handle);
    if (stored === undefined) return fail(ResponseCode.HANDLE_NOT_FOUND, 'Handle not found');
    const clash = req.values.find((v) => stored.some((s) => s.index === v.index));
    if (clash && !req.overwrite) return fail(ResponseCode.VALUE_ALREADY_EXISTS, `Index conflict for ${clash.index}`);
    return this.authorizer.permits(stored, changeBits(stored, req.values, []), id) ? undefined : NOT_ADMIN;
  }

  private checkRemove(req: Extract<AdminRequest, { op: 'remove' }>, id: Identity | undefined): Verdict {
    const where = this.responsible(req.handle);
    if (where) return where;
    if (!id) return NEEDS_AUTH;
    const stored = this.registry.getValues(req.handle);
    if (stored === undefined) return fail(ResponseCode.HANDLE_NOT_FOUND, 'Handle not found');
    let bits = 0;
    for (const i of req.indexes) {
      const v = stored.find((s) => s.index === i);
      if (!v) return fail(ResponseCode.VALUES_NOT_FOUND, `No value at index ${i}`);
      bits |= v.type === 'HS_ADMIN' ? AdminPerm.REMOVE_ADMIN : AdminPerm.REMOVE_VALUE;
    }
    return this.authorizer.permits(stored, bits, id) ? undefined : NOT_ADMIN;
  }

  private checkModify(req: Extract<AdminRequest, { op: 'modify' }>, id: Identity | undefined): Verdict {
    const where = this.responsible(req.handle);
    if (where) return where;
    const stored = this.registry.getValues(req.handle);
    if (stored === undefined) return fail(ResponseCode.HANDLE_NOT_FOUND, 'Handle not found');
    let open = true; // every change is to a public-write, non-admin value: no authentication at all
    for (const v of req.values) {
      const old = stored.find((s) => s.index === v.index);
      if (!old) return fail(ResponseCode.VALUES_NOT_FOUND, `No value at index ${v.index}`);
      // A public-write value may be changed by anyone, but not into (or out of) what grants or proves
      // authority: an admin entry, a key or a group.
      const publicWrite = (old.permissions & Perm.PUBLIC_WRITE) !== 0 && !grantsAuthority(old.type) && !grantsAuthority(v.type);
      if (!(old.permissions & Perm.ADMIN_WRITE) && !publicWrite) return fail(ResponseCode.INSUFFICIENT_PERMISSIONS, 'Value is read-only');
      if (!publicWrite) open = false;
    }
    if (open) return this.checkValues(req.values, false);
    if (!id) return NEEDS_AUTH;
    if (!this.authorizer.permits(stored, changeBits(stored, req.values, []), id)) return NOT_ADMIN;
    return this.checkValues(req.values, false);
  }

  private checkList(prefix: string, id: Identity | undefined): Verdict {
    if (!this.opts.allowListHandles) return fail(ResponseCode.OPERATION_NOT_SUPPORTED, 'This server does not support the list handles operation.');
    if (!this.opts.homes(prefix)) return fail(ResponseCode.SERVER_NOT_RESP, "That prefix doesn't live here");
    if (!id) return NEEDS_AUTH;
    return this.authorizer.permits(this.registry.getValues(prefixHandle(prefix)), AdminPerm.LIST_HANDLES, id) ? undefined : NOT_ADMIN;
  }
}

/**
 * The bits needed to put `values` into a handle holding `stored` (and, for an overwrite, to drop `dropped`):
 * a new index needs ADD_VALUE (ADD_ADMIN for HS_ADMIN); replacing one needs MODIFY_VALUE (none when the old
 * value is public-write), MODIFY_ADMIN admin→admin, REMOVE_ADMIN + MODIFY_VALUE admin→value, MODIFY_VALUE +
 * ADD_ADMIN value→admin.
 */
function changeBits(stored: readonly HandleValue[], values: readonly HandleValue[], dropped: readonly HandleValue[]): number {
  let bits = 0;
  for (const v of values) {
    const old = stored.find((s) => s.index === v.index);
    const newAdmin = v.type === 'HS_ADMIN';
    if (!old) {
      bits |= newAdmin ? AdminPerm.ADD_ADMIN : AdminPerm.ADD_VALUE;
      continue;
    }
    const oldAdmin = old.type === 'HS_ADMIN';
    if (oldAdmin && newAdmin) bits |= AdminPerm.MODIFY_ADMIN;
    else if (oldAdmin) bits |= AdminPerm.REMOVE_ADMIN | AdminPerm.MODIFY_VALUE;
    else if (newAdmin) bits |= AdminPerm.MODIFY_VALUE | AdminPerm.ADD_ADMIN;
    else if (!(old.permissions & Perm.PUBLIC_WRITE)) bits |= AdminPerm.MODIFY_VALUE;
  }
  for (const d of dropped) bits |= d.type === 'HS_ADMIN' ? AdminPerm.REMOVE_ADMIN : AdminPerm.REMOVE_VALUE;
  return bits;
}

/** Types whose values decide who may administer: HS_ADMIN, keys (HS_PUBKEY, HS_SECKEY and subtypes) and groups. */
function grantsAuthority(type: string): boolean {
  const t = type.toUpperCase();
  return t === 'HS_ADMIN' || t === 'HS_VLIST' || t.startsWith('HS_PUBKEY') || t.startsWith('HS_SECKEY');
}

/**
 * A new handle without an HS_ADMIN value is administered by the identity that created it (at 100, or the
 * first free index up to 199), as the reference's tools write it. Only for new handles: over an existing one
 * the overwrite's permission check has decided what may change, and an added administrator is not part of it.
 */
function withCreator(values: HandleValue[], creator: Identity | undefined): HandleValue[] {
  if (!creator || values.some((v) => v.type.toUpperCase() === 'HS_ADMIN')) return values;
  const admin = creatorAdminValue(creator, values);
  return admin ? [...values, admin].sort((a, b) => a.index - b.index) : values;
}

/** 88.118.8 → 88.118; 88 → undefined. */
function parentPrefix(prefix: string): string | undefined {
  const dot = prefix.lastIndexOf('.');
  return dot > 0 ? prefix.slice(0, dot) : undefined;
}

/** What a MINT request's leading part will look like once a suffix is appended, for the syntax and home checks. */
function mintProbe(lead: string): string {
  return lead + '00000000-0000-4000-8000-000000000000';
}

/**
 * What the audit log keeps of a request besides the change it made: its flags, and for a refusal what it
 * asked for — the [index, type] of its values, or the indexes to remove (never the values' data).
 */
function requestDetail(req: Exclude<AdminRequest, { op: 'list' }>, asked = true): Record<string, unknown> {
  const values = (vs: readonly HandleValue[]) => (asked ? { values: vs.map((v) => [v.index, v.type]) } : {});
  switch (req.op) {
    case 'create':
      return { ...(req.overwrite ? { overwrite: true } : {}), ...(req.mint ? { mint: true } : {}), ...values(req.values) };
    case 'add':
      return { ...(req.overwrite ? { overwrite: true } : {}), ...values(req.values) };
    case 'modify':
      return values(req.values);
    case 'remove':
      return asked ? { indexes: req.indexes } : {};
    case 'delete':
      return {};
  }
}

function prefixFor(handle: string): string {
  return prefixOfPrefixHandle(handle) ?? splitHandle(handle).prefix;
}
