/** Typed arrays to and from the raw little-endian bytes the binary codecs store. */

/** A view of the array's bytes (no copy): encode it before the array changes. */
export function bytesOf(array: Uint32Array | Float64Array): Buffer {
  return Buffer.from(array.buffer, array.byteOffset, array.byteLength);
}

/** A fresh copy at offset 0: decoded binary may sit at any offset, and typed arrays need alignment. */
export function alignedCopy(raw: Uint8Array): ArrayBuffer {
  const buffer = new ArrayBuffer(raw.byteLength);
  new Uint8Array(buffer).set(raw);
  return buffer;
}
