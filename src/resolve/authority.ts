import { ResponseCode } from '../protocol/constants.js';
import { encodeErrorBody, encodeHandleValues, type ResolutionRequest } from '../protocol/bodies.js';
import { normalisePrefix } from '../model/handle.js';
import { ValueFilter, minTtlSeconds, selectFor } from '../model/value.js';
import type { Registry } from '../store/registry.js';
import type { Answer } from './answer.js';

export const NOT_HOMED_MESSAGE = "That prefix doesn't live here";

/**
 * Answers resolutions from the local registry for the prefixes this node homes, with the reference's
 * semantics: 100 for a handle that does not exist, 200 when the filter (types and indexes, a union) selects
 * nothing the asker may read. Which handles are its to answer (and the 301 for the rest) is the pipeline's
 * business.
 */
export class Authority {
  private homed = new Set<string>();

  constructor(readonly registry: Registry) {
    this.reloadHomed();
  }

  /** Re-read the homed prefixes (after this or another process homed or unhomed one). */
  reloadHomed(): void {
    this.homed = new Set(this.registry.homedPrefixes().map(normalisePrefix));
  }

  homes(prefix: string): boolean {
    return this.homed.has(normalisePrefix(prefix));
  }

  /**
   * Answer from the registry, for a reader who has not authenticated (authenticated reads are the admin
   * layer's: AdminService.read). The caller has checked that the handle is ours.
   */
  resolve(req: ResolutionRequest, opts: { nowSeconds: number }): Answer {
    const handleKey = this.registry.key(req.handle);
    const values = this.registry.getValues(req.handle);
    if (values === undefined) return { responseCode: ResponseCode.HANDLE_NOT_FOUND, body: EMPTY_MESSAGE, handleKey, local: true };
    const sel = selectFor(values, ValueFilter.of(req.indexes, req.types));
    const selected = sel.public;
    const restricted = sel.restricted.length > 0 || sel.unreadable;
    if (selected.length === 0) {
      return { responseCode: ResponseCode.VALUES_NOT_FOUND, body: EMPTY_MESSAGE, handleKey, local: true, ...(restricted ? { restricted } : {}) };
    }
    return {
      responseCode: ResponseCode.SUCCESS,
      body: encodeHandleValues(req.handle, selected),
      handleKey,
      ttl: minTtlSeconds(selected, opts.nowSeconds),
      local: true,
      ...(restricted ? { restricted } : {}),
    };
  }
}
const EMPTY_MESSAGE = encodeErrorBody('');
