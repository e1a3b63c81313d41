import { ResponseCode } from './constants.js';

/**
 * Thrown by every decoder when the bytes do not form what they should: a length that runs past the bytes
 * present, a field over a limit, bad UTF-8. It carries the response code the server answers with.
 */
export class DecodeError extends Error {
  constructor(
    message: string,
    readonly responseCode: number = ResponseCode.PROTOCOL_ERROR,
  ) {
    super(message);
    this.name = 'DecodeError';
  }
}
