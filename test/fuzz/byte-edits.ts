/**
 * Edits to good encodings: flipped, dropped and inserted bytes and cuts. A
 * decoder fed good bytes with a few edits gets deeper into its checks than
 * one fed random bytes, which mostly fail on the first byte.
 */
import fc from 'fast-check';

export interface ByteEdit {
  at: number;
  kind: 'flip' | 'drop' | 'insert' | 'cut' | 'set';
  byte: number;
}

export const byteEdits: fc.Arbitrary<ByteEdit[]> = fc.array(
  fc.record({ at: fc.nat(), kind: fc.constantFrom<ByteEdit['kind']>('flip', 'drop', 'insert', 'cut', 'set'), byte: fc.constantFrom(0, 1, 0x7f, 0x80, 0xff, 0xc4, 0xdd, 0xcb).chain((b) => fc.oneof(fc.constant(b), fc.integer({ min: 0, max: 255 }))) }),
  { minLength: 1, maxLength: 6 },
);

/** `original` with `edits` applied in order (positions taken modulo the current length); a copy. */
export function applyEdits(original: Uint8Array, edits: readonly ByteEdit[]): Buffer {
  let bytes = [...original];
  for (const { at, kind, byte } of edits) {
    const i = bytes.length === 0 ? 0 : at % bytes.length;
    if (kind === 'flip') bytes[i] ^= byte || 1;
    else if (kind === 'set') bytes[i] = byte;
    else if (kind === 'drop') bytes.splice(i, 1);
    else if (kind === 'insert') bytes.splice(i, 0, byte);
    else bytes = bytes.slice(0, i);
  }
  return Buffer.from(bytes);
}
