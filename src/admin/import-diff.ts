import { type HandleValue, sameValueContent } from '../model/value.js';

// Whether an imported row says the same as the stored identifier. Timestamps are not compared: the registry
// stamps every write, the file does not carry them.


/**
 * Undefined when the row matches what is stored; otherwise what differs, for the report, e.g.
 * "index 4 (batch) differs; index 7 (firmware) is not in the file". Both lists sorted by index.
 */
export function describeDifference(stored: readonly HandleValue[], wanted: readonly HandleValue[]): string | undefined {
  const parts: string[] = [];
  let i = 0;
  let j = 0;
  while (i < stored.length || j < wanted.length) {
    const s = stored[i];
    const w = wanted[j];
    if (s && (!w || s.index < w.index)) {
      parts.push(`index ${s.index} (${s.type}) is not in the file`);
      i++;
    } else if (w && (!s || w.index < s.index)) {
      parts.push(`index ${w.index} (${w.type}) is not stored`);
      j++;
    } else {
      if (!sameValueContent(s!, w!)) parts.push(`index ${w!.index} (${w!.type}) differs`);
      i++;
      j++;
    }
  }
  if (parts.length === 0) return undefined;
  return parts.length > 4 ? `${parts.slice(0, 4).join('; ')}; and ${parts.length - 4} more` : parts.join('; ');
}
