/**
 * Gorilla XOR compression of float64 values (Pelkonen et al., VLDB 2015, as
 * in Prometheus's tsdb/chunkenc): each value is XORed with the previous one
 * and only the meaningful bits of the XOR are written. Bit-exact for every
 * float64 (-0, subnormals, ±Infinity, NaN payloads). It is format 2's
 * fallback for columns that are not short decimals; see docs/chunk-format.md.
 *
 * Per value after the first (written as its 64 raw bits):
 *   '0'                                  the same value again
 *   '10' + bits                          the XOR fits the previous window
 *   '11' + 5 bits leading zeros + 6 bits length (64 as 0) + bits
 */
import type { ByteReader } from './byte-reader.js';
import type { ByteWriter } from './byte-writer.js';

/** Width of the leading-zero count: leading zeros above 31 are written as 31. */
export const XOR_LEADING_BITS = 5;
/** Width of the meaningful-bit length; a length of 64 is written as 0. */
export const XOR_LENGTH_BITS = 6;
const MAX_LEADING = (1 << XOR_LEADING_BITS) - 1;

// Little-endian hosts (x86, ARM as Node runs them): word 0 is the low half.
const float = new Float64Array(1);
const words = new Uint32Array(float.buffer);

function trailingZeros32(value: number): number {
  return value === 0 ? 32 : 31 - Math.clz32(value & -value);
}

/** Writes the low `length` (1..64) bits of the 64-bit value (hi, lo) shifted right by `shift`. */
function writeShifted(out: ByteWriter, hi: number, lo: number, shift: number, length: number): void {
  let high = hi;
  let low = lo;
  if (shift >= 32) {
    low = hi >>> (shift - 32);
    high = 0;
  } else if (shift > 0) {
    low = ((lo >>> shift) | (hi << (32 - shift))) >>> 0;
    high = hi >>> shift;
  }
  if (length > 32) {
    out.bits(high, length - 32);
    out.bits(low, 32);
  } else {
    out.bits(low, length);
  }
}

/** Appends `count` values of `values` taken at `indexes` (or all in order when null) as one XOR bit run, byte-aligned at the end. */
export function writeXorFloats(out: ByteWriter, values: Float64Array, indexes: Uint32Array | null, count: number): void {
  let prevHi = 0;
  let prevLo = 0;
  let windowLeading = -1;
  let windowTrailing = 0;
  for (let i = 0; i < count; i++) {
    float[0] = values[indexes === null ? i : indexes[i]];
    const hi = words[1];
    const lo = words[0];
    if (i === 0) {
      out.bits(hi, 32);
      out.bits(lo, 32);
    } else {
      const xorHi = (hi ^ prevHi) >>> 0;
      const xorLo = (lo ^ prevLo) >>> 0;
      if (xorHi === 0 && xorLo === 0) {
        out.bits(0, 1);
      } else {
        let leading = xorHi === 0 ? 32 + Math.clz32(xorLo) : Math.clz32(xorHi);
        if (leading > MAX_LEADING) leading = MAX_LEADING;
        const trailing = xorLo === 0 ? 32 + trailingZeros32(xorHi) : trailingZeros32(xorLo);
        if (windowLeading >= 0 && leading >= windowLeading && trailing >= windowTrailing) {
          out.bits(0b10, 2);
          writeShifted(out, xorHi, xorLo, windowTrailing, 64 - windowLeading - windowTrailing);
        } else {
          const length = 64 - leading - trailing;
          out.bits(0b11, 2);
          out.bits(leading, XOR_LEADING_BITS);
          out.bits(length & 0x3f, XOR_LENGTH_BITS);
          writeShifted(out, xorHi, xorLo, trailing, length);
          windowLeading = leading;
          windowTrailing = trailing;
        }
      }
    }
    prevHi = hi;
    prevLo = lo;
  }
  out.alignToByte();
}

/**
 * Reads `count` values written by writeXorFloats into `target` at `indexes`
 * (or 0..count-1 when null). Throws STORE_CORRUPT (through the reader) when
 * the bits run out or a window does not fit in 64 bits.
 */
export function readXorFloats(input: ByteReader, target: Float64Array, indexes: Uint32Array | null, count: number, what: string): void {
  let hi = 0;
  let lo = 0;
  let windowLeading = -1;
  let windowTrailing = 0;
  for (let i = 0; i < count; i++) {
    if (i === 0) {
      hi = input.bits(32, what);
      lo = input.bits(32, what);
    } else if (input.bits(1, what) === 1) {
      let length: number;
      if (input.bits(1, what) === 0) {
        if (windowLeading < 0) input.corrupt(`${what} reuses an XOR window before any was set`);
        length = 64 - windowLeading - windowTrailing;
      } else {
        windowLeading = input.bits(XOR_LEADING_BITS, what);
        length = input.bits(XOR_LENGTH_BITS, what) || 64;
        windowTrailing = 64 - windowLeading - length;
        if (windowTrailing < 0) input.corrupt(`${what} has an XOR window wider than 64 bits`);
      }
      // Read the meaningful bits, then shift them left by the trailing zeros.
      let high = 0;
      let low: number;
      if (length > 32) {
        high = input.bits(length - 32, what);
        low = input.bits(32, what);
      } else {
        low = input.bits(length, what);
      }
      const shift = windowTrailing;
      let xorHi: number;
      let xorLo: number;
      if (shift >= 32) {
        xorHi = shift === 64 ? 0 : (low << (shift - 32)) >>> 0;
        xorLo = 0;
      } else if (shift > 0) {
        xorHi = ((high << shift) | (low >>> (32 - shift))) >>> 0;
        xorLo = (low << shift) >>> 0;
      } else {
        xorHi = high;
        xorLo = low;
      }
      hi = (hi ^ xorHi) >>> 0;
      lo = (lo ^ xorLo) >>> 0;
    }
    words[1] = hi;
    words[0] = lo;
    target[indexes === null ? i : indexes[i]] = float[0];
  }
  input.alignToByte();
}
