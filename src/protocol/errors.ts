import { ResponseCode } from './constants.js';

/**
 * Thrown by every decoder when the bytes do not form what they should: a length that runs past the bytes
 * present, a field over a limit, bad UTF-8. It carries the response code the server answers with.
 *
 * It records no stack trace: it describes the input, not the code, and hostile input makes many of them
 * (capturing the stack was a sixth of a node's CPU under a flood of malformed datagrams).
 */
export class DecodeError extends Error {
  readonly responseCode: number;

  constructor(message: string, responseCode: number = ResponseCode.PROTOCOL_ERROR) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = limit;
    this.name = 'DecodeError';
    this.responseCode = responseCode;
  }
}
