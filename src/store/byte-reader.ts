/**
 * Bounds-checked reads over stored bytes, the counterpart of ByteWriter.
 * Every read past the end, every varint longer than 8 bytes or above 2^53-1,
 * and every length that points past the end throws GputelError
 * 'STORE_CORRUPT' naming `where` (the key), so a corrupt value can never
 * cause another kind of exception, an endless loop or a huge allocation.
 */
import { GputelError } from '../common/gputel-error.js';
import { unzigzag } from './zigzag.js';

/** 8 × 7 bits = 56 bits: enough for any integer up to 2^53-1; a 9th continuation byte is corruption. */
export const MAX_VARINT_BYTES = 8;
// ignoreBOM keeps a leading U+FEFF: by default TextDecoder drops it, and a
// pod named "\ufeffx" read back as "x" (test/fuzz/chunk-codec.fuzz.ts).
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export class ByteReader {
  /** The next byte to read. */
  offset: number;
  private readonly end: number;
  /** Bit reading: the byte being consumed sits at offset - 1; bits of it not yet read. */
  private bitsLeft = 0;

  constructor(
    readonly bytes: Uint8Array,
    readonly where: string,
    start = 0,
  ) {
    this.offset = start;
    this.end = bytes.length;
  }

  /** Throws STORE_CORRUPT: `what` says which part of the chunk is bad. */
  corrupt(what: string): never {
    throw new GputelError('STORE_CORRUPT', `chunk ${this.where} is corrupt: ${what}; delete the key or restore it from a backup`);
  }

  get remaining(): number {
    return this.end - this.offset;
  }

  get atEnd(): boolean {
    return this.offset === this.end;
  }

  byte(what: string): number {
    if (this.offset >= this.end) this.corrupt(`${what} runs past the end`);
    return this.bytes[this.offset++];
  }

  /** A view of the next `length` bytes (no copy). */
  take(length: number, what: string): Uint8Array {
    if (length > this.end - this.offset) this.corrupt(`${what} (${length} bytes) runs past the end`);
    const view = this.bytes.subarray(this.offset, this.offset + length);
    this.offset += length;
    return view;
  }

  /** Unsigned LEB128 written by ByteWriter.varint. */
  varint(what: string): number {
    const bytes = this.bytes;
    let at = this.offset;
    // One byte (values below 128) is the common case: most deltas of a column.
    if (at < this.end && bytes[at] < 0x80) {
      this.offset = at + 1;
      return bytes[at];
    }
    let result = 0;
    let scale = 1;
    for (let count = 0; count < MAX_VARINT_BYTES; count++) {
      if (at >= this.end) this.corrupt(`${what} runs past the end`);
      const byte = bytes[at++];
      result += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        if (result > Number.MAX_SAFE_INTEGER) this.corrupt(`${what} is above 2^53`);
        this.offset = at;
        return result;
      }
      scale *= 0x80;
    }
    return this.corrupt(`${what} is a varint longer than ${MAX_VARINT_BYTES} bytes`);
  }

  /** A varint that counts things of at least `minBytes` each still to come: bounds allocations by the bytes present. */
  count(what: string, max: number, minBytes = 1): number {
    const value = this.varint(what);
    if (value > max) this.corrupt(`${what} ${value} is above the limit ${max}`);
    if (value * minBytes > this.remaining) this.corrupt(`${what} ${value} is more than the bytes left can hold`);
    return value;
  }

  zigzag(what: string): number {
    return unzigzag(this.varint(what));
  }

  float64(what: string): number {
    const view = this.take(8, what);
    return new DataView(view.buffer, view.byteOffset, 8).getFloat64(0, true);
  }

  string(what: string): string {
    const length = this.varint(`${what} length`);
    const raw = this.take(length, what);
    try {
      return decoder.decode(raw);
    } catch {
      return this.corrupt(`${what} is not UTF-8`);
    }
  }

  /** The next `count` bits (0..32) as an unsigned number, most significant first. */
  bits(count: number, what: string): number {
    let result = 0;
    let left = count;
    while (left > 0) {
      if (this.bitsLeft === 0) {
        if (this.offset >= this.end) this.corrupt(`${what} runs past the end`);
        this.offset++;
        this.bitsLeft = 8;
      }
      const take = left < this.bitsLeft ? left : this.bitsLeft;
      const chunk = (this.bytes[this.offset - 1] >>> (this.bitsLeft - take)) & ((1 << take) - 1);
      result = (result * (1 << take)) + chunk;
      this.bitsLeft -= take;
      left -= take;
    }
    return result;
  }

  /** Ends a bit run: the rest of the current byte is skipped. */
  alignToByte(): void {
    this.bitsLeft = 0;
  }
}
