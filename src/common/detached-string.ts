/**
 * A copy of a string that shares no memory with it. V8 keeps the whole
 * parent string of a slice alive: a short field sliced from a 64 KiB piece
 * of input, kept in a cache, would keep the whole piece.
 */
export function detachedString(text: string): string {
  return text.length === 0 ? '' : Buffer.from(text, 'utf8').toString('utf8');
}
