/**
 * Reusable backing memory for the columns a read merges (one Float64Array
 * per metric and one of times: ~1.2 MB for one GPU's 24 h at 10 s).
 * Typed arrays this size live outside the JS heap, and allocating them per
 * read made V8 run full collections inside requests (docs/performance.md).
 * Giving a page's columns back is optional: only a caller that is done with
 * a page (the API, once its answer is written) does it; any other page is
 * collected as usual.
 */

/** Pooled memory all together; a buffer that would exceed it is dropped. */
const MAX_POOLED_BYTES = 32 * 1024 * 1024;
/** Smallest buffer handed out, in elements: small pages share few sizes. */
const MIN_CAPACITY = 1024;

/** Free buffers by capacity in elements (always a power of two). */
const free = new Map<number, ArrayBuffer[]>();
let pooledBytes = 0;
/** Buffers handed out and not given back: only these are taken back, each once. */
const lent = new WeakSet<ArrayBuffer>();

function capacityFor(length: number): number {
  let capacity = MIN_CAPACITY;
  while (capacity < length) capacity *= 2;
  return capacity;
}

/** A Float64Array of `length` elements (contents undefined) over pooled memory when some is free. */
export function takeColumn(length: number): Float64Array {
  const capacity = capacityFor(length);
  let buffer = free.get(capacity)?.pop();
  if (buffer) pooledBytes -= buffer.byteLength;
  else buffer = new ArrayBuffer(capacity * Float64Array.BYTES_PER_ELEMENT);
  lent.add(buffer);
  return new Float64Array(buffer, 0, length);
}

/**
 * Gives the memory of `columns` back for later reads. The caller must not
 * use them afterwards (pages do it through their idempotent `release()`).
 * Memory takeColumn did not lend, or that was given back already, is left
 * alone: a shared array can never be handed to another reader.
 */
export function giveBackColumns(columns: readonly Float64Array[]): void {
  for (const column of columns) {
    const { buffer } = column;
    if (!(buffer instanceof ArrayBuffer) || !lent.delete(buffer)) continue;
    const capacity = buffer.byteLength / Float64Array.BYTES_PER_ELEMENT;
    if (pooledBytes + buffer.byteLength > MAX_POOLED_BYTES) continue;
    let buffers = free.get(capacity);
    if (!buffers) free.set(capacity, (buffers = []));
    buffers.push(buffer);
    pooledBytes += buffer.byteLength;
  }
}
