/** Short descriptions of requests, for the error messages both drivers write. */
import type { KeyRange, TxnRequest } from './kv-store.js';

export function describeRange(range: KeyRange): string {
  if ('prefix' in range) return `prefix ${range.prefix}`;
  return range.end === undefined ? range.start : `[${range.start}, ${range.end})`;
}

/** The key a transaction is most about: its first compare's, else its first op's. */
export function firstKeyOf(request: TxnRequest): string {
  const compare = request.compare?.[0];
  if (compare !== undefined) return compare.key;
  const op = request.success?.[0] ?? request.failure?.[0];
  if (op === undefined) return '(empty txn)';
  return op.type === 'put' ? op.key : describeRange(op.range);
}
