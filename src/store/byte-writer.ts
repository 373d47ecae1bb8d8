/**
 * A growable little-endian byte buffer for the binary chunk format: bytes,
 * unsigned LEB128 varints, zigzag varints and raw float64, plus a bit writer
 * for the XOR float stream. Integers are JavaScript numbers: varints take
 * any integer in 0..2^53-1, zigzag varints any integer in ±2^52.
 */

import { zigzag } from './zigzag.js';

const INITIAL_BYTES = 256;
/** 2^31: below it, varints are written with 32-bit operations (the common case, measured faster). */
const SMALL_VARINT_LIMIT = 0x8000_0000;

export class ByteWriter {
  private buffer = new Uint8Array(INITIAL_BYTES);
  private length = 0;
  /** Bit writing: the byte being filled sits at `length - 1`; bits left free in it (0 when none is open). */
  private freeBits = 0;
  private readonly scratch = new DataView(new ArrayBuffer(8));

  get byteLength(): number {
    return this.length;
  }

  private reserve(bytes: number): void {
    const needed = this.length + bytes;
    if (needed <= this.buffer.length) return;
    let size = this.buffer.length * 2;
    while (size < needed) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.buffer.subarray(0, this.length));
    this.buffer = grown;
  }

  byte(value: number): void {
    this.reserve(1);
    this.buffer[this.length++] = value & 0xff;
  }

  bytes(data: Uint8Array): void {
    this.reserve(data.length);
    this.buffer.set(data, this.length);
    this.length += data.length;
  }

  /** Unsigned LEB128 of an integer in 0..2^53-1 (at most 8 bytes). */
  varint(value: number): void {
    this.reserve(8);
    const buffer = this.buffer;
    let at = this.length;
    let rest = value;
    if (rest < SMALL_VARINT_LIMIT) {
      while (rest >= 0x80) {
        buffer[at++] = (rest & 0x7f) | 0x80;
        rest >>>= 7;
      }
    } else {
      while (rest >= 0x80) {
        buffer[at++] = (rest % 0x80) | 0x80;
        rest = Math.floor(rest / 0x80);
      }
    }
    buffer[at++] = rest;
    this.length = at;
  }

  /** Zigzag (0, -1, 1, -2, … → 0, 1, 2, 3, …) then varint, for an integer in ±2^52. */
  zigzag(value: number): void {
    this.varint(zigzag(value));
  }

  float64(value: number): void {
    this.scratch.setFloat64(0, value, true);
    this.bytes(new Uint8Array(this.scratch.buffer));
  }

  /** A UTF-8 string preceded by its byte length as a varint. */
  string(text: string): void {
    const encoded = Buffer.from(text, 'utf8');
    this.varint(encoded.length);
    this.bytes(encoded);
  }

  /** Appends the low `count` bits (0..32) of `value`, most significant first, after any bits already written. */
  bits(value: number, count: number): void {
    let left = count;
    while (left > 0) {
      if (this.freeBits === 0) {
        this.byte(0);
        this.freeBits = 8;
      }
      const take = left < this.freeBits ? left : this.freeBits;
      const chunk = (value >>> (left - take)) & ((1 << take) - 1);
      this.buffer[this.length - 1] |= chunk << (this.freeBits - take);
      this.freeBits -= take;
      left -= take;
    }
  }

  /** Ends a bit run: the next write starts on a fresh byte (the unused low bits of the last one stay 0). */
  alignToByte(): void {
    this.freeBits = 0;
  }

  /** The bytes written so far (a view: copy it before writing more). */
  view(): Uint8Array {
    return this.buffer.subarray(0, this.length);
  }
}
