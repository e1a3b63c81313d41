import type { z } from 'zod';
import { fallbackMessage, formatIssues, intRange, nonNegativeInt, numberFrom, port, positiveInt, u32, workerCount } from '../node/config-schema.js';
import { UsageError } from './usage-error.js';

// Numbers given on the command line go through the pieces the configuration is checked with
// (config-schema.ts): `serve --workers abc` or `--port 70000` is a one-line usage error naming the option,
// never NaN carried into the node.

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)$/;

/** A commander parser: the option's text as a number that satisfies `schema`, else a UsageError naming the option. */
export function numberOption(option: string, schema: z.ZodType<number>): (text: string) => number {
  return (text: string) => {
    const t = text.trim();
    // Only plain decimal numbers are numbers: not "", "0x10", "1e3" or "Infinity", which Number() would take.
    const r = schema.safeParse(NUMBER.test(t) ? Number(t) : text, { error: fallbackMessage });
    if (r.success) return r.data;
    throw new UsageError(formatIssues(r.error.issues, new Map([['', option]])).join('; '));
  };
}

/** A UDP or TCP port (0: any free port). */
export const portOption = (option: string) => numberOption(option, port());
/** Processes serving the port together, as the setting "workers". */
export const workersOption = (option: string) => numberOption(option, workerCount());
/** Seconds of a value's TTL (the protocol's 32 bits). */
export const ttlOption = (option: string) => numberOption(option, u32());
export const positiveIntOption = (option: string) => numberOption(option, positiveInt());
export const nonNegativeIntOption = (option: string) => numberOption(option, nonNegativeInt());
export const intRangeOption = (option: string, min: number, max: number) => numberOption(option, intRange(min, max));
/** A number, fractions allowed, from 0 (a rate, a duration in seconds). */
export const nonNegativeNumberOption = (option: string) => numberOption(option, numberFrom(0));
