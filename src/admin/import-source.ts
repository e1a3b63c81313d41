import { isUtf8 } from 'node:buffer';
import { open } from 'node:fs/promises';

// Reading an import file as lines without holding it in memory: fixed-size chunks, from any byte offset (a
// resumed import starts where the last committed batch ended), each line with its number and the byte
// offset just after it. Bytes, not text, are split, so offsets stay exact whatever the UTF-8 holds.

export const DEFAULT_CHUNK_BYTES = 1 << 20;
/** A longer line is reported as a bad row and skipped, so a file without line breaks cannot fill memory. */
export const DEFAULT_MAX_LINE_BYTES = 1 << 20;

export interface Line {
  /** The line without its terminator (\n or \r\n); undefined when `problem` says why it cannot be read. */
  text: string | undefined;
  problem: string | undefined;
  /** 1-based line number in the file. */
  number: number;
  /** Byte offset just after the line's terminator: where the next line starts. */
  end: number;
}

export interface ReadOptions {
  start?: number;
  /** The number of the line at `start`. */
  firstLine?: number;
  chunkBytes?: number;
  maxLineBytes?: number;
  /** Called after the lines of each chunk, with the offset of the first byte not yet handed out. */
  onChunk?: (offset: number) => void;
}

const UTF8_BOM = [0xef, 0xbb, 0xbf];

/**
 * Call `onLine` for every line from `start` to the end of the file, or until it returns false (or a promise
 * of false: reading waits for it). The same Line object is reused from call to call: copy what you keep.
 */
export async function readLines(file: string, onLine: (line: Line) => boolean | Promise<boolean>, o: ReadOptions = {}): Promise<void> {
  const chunkBytes = o.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  const maxLine = o.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(chunkBytes + maxLine);
    let position = o.start ?? 0; // file offset of the next read
    let held = 0; // bytes at the front of buf not yet consumed (a line's beginning)
    let heldStart = position; // file offset of buf[0]
    let skipping = false; // inside a too-long line, dropping bytes until its end
    const line: Line = { text: undefined, problem: undefined, number: o.firstLine ?? 1, end: 0 };
    let first = position === 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, held, chunkBytes, position);
      position += bytesRead;
      const eof = bytesRead === 0;
      const avail = held + bytesRead;
      let pos = 0;
      if (first && avail >= 3) {
        first = false;
        if (buf[0] === UTF8_BOM[0] && buf[1] === UTF8_BOM[1] && buf[2] === UTF8_BOM[2]) pos = 3;
      }
      for (;;) {
        let nl = buf.indexOf(10, pos);
        if (nl < 0 || nl >= avail) {
          if (!eof || pos >= avail) break;
          nl = avail; // the last line, without a terminator
        }
        const endOfLine = nl > pos && buf[nl - 1] === 13 ? nl - 1 : nl;
        line.end = heldStart + Math.min(nl + 1, avail);
        if (skipping) {
          skipping = false;
          line.text = undefined;
          line.problem = `the line is longer than ${maxLine} bytes`;
        } else if (!isUtf8(buf.subarray(pos, endOfLine))) {
          line.text = undefined;
          line.problem = 'the line is not valid UTF-8 (save the file as UTF-8, e.g. "CSV UTF-8" in a spreadsheet)';
        } else {
          line.text = buf.toString('utf8', pos, endOfLine);
          line.problem = undefined;
        }
        const go = onLine(line);
        if (!(typeof go === 'boolean' ? go : await go)) return;
        line.number++;
        pos = nl + 1;
      }
      o.onChunk?.(Math.min(heldStart + pos, position));
      if (eof) {
        if (skipping) {
          line.text = undefined;
          line.problem = `the line is longer than ${maxLine} bytes`;
          line.end = position;
          await onLine(line);
        }
        return;
      }
      // Keep the unfinished line's bytes at the front of the buffer for the next read.
      held = avail - pos;
      if (held > maxLine) {
        skipping = true;
        held = 0;
      } else if (held > 0) {
        buf.copyWithin(0, pos, avail);
      }
      heldStart = position - held;
    }
  } finally {
    await fh.close();
  }
}
