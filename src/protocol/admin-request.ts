import { NA_PREFIX, prefixOfPrefixHandle } from '../model/handle.js';
import type { AdminRequest } from '../model/admin-request.js';
import { OpCode, OpFlag, ResponseCode } from './constants.js';
import { DecodeError } from './errors.js';
import type { Packet } from './message.js';
import { decodeHandleOnly, decodeHandleWithValues, decodeRemoveValues } from './admin-bodies.js';

/** Decode an admin opcode's body into the operation it asks for. */
export function decodeAdminRequest(req: Packet): AdminRequest {
  const flags = req.header.opFlags;
  switch (req.header.opCode) {
    case OpCode.CREATE_HANDLE: {
      const b = decodeHandleWithValues(req.body, 'create request');
      return { op: 'create', handle: b.handle, values: b.values, overwrite: (flags & OpFlag.OW) !== 0, mint: (flags & OpFlag.MINT) !== 0 };
    }
    case OpCode.DELETE_HANDLE:
      return { op: 'delete', handle: decodeHandleOnly(req.body, 'delete request') };
    case OpCode.ADD_VALUE: {
      const b = decodeHandleWithValues(req.body, 'add-value request');
      return { op: 'add', handle: b.handle, values: b.values, overwrite: (flags & OpFlag.OW) !== 0 };
    }
    case OpCode.REMOVE_VALUE: {
      const b = decodeRemoveValues(req.body);
      return { op: 'remove', handle: b.handle, indexes: b.indexes };
    }
    case OpCode.MODIFY_VALUE: {
      const b = decodeHandleWithValues(req.body, 'modify-value request');
      return { op: 'modify', handle: b.handle, values: b.values };
    }
    case OpCode.LIST_HANDLES: {
      const h = decodeHandleOnly(req.body, 'list request');
      // "88.118.8" is taken as "0.NA/88.118.8".
      const prefix = prefixOfPrefixHandle(h) ?? (h.includes('/') ? undefined : h);
      if (prefix === undefined || prefix === NA_PREFIX) throw new DecodeError(`"${h}" is not a prefix handle`, ResponseCode.INVALID_HANDLE);
      return { op: 'list', prefix };
    }
    default:
      throw new DecodeError(`opcode ${req.header.opCode} is not an admin operation`, ResponseCode.OPERATION_NOT_SUPPORTED);
  }
}
