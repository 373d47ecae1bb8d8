/**
 * The storage contract everything above `src/kv` is written against. It
 * mirrors etcd v3 so that the `etcd` driver is a thin translation and the
 * `embedded` driver reproduces the same semantics in one process.
 *
 * Keys are printable-ASCII strings, so string order is byte order (build
 * them with `key-space.ts`, which escapes everything else). Values are raw bytes.
 * Revisions are a store-wide counter that every write transaction bumps by one.
 */

export interface KeyValue {
  key: string;
  /** Empty when the range asked for keysOnly. */
  value: Buffer;
  createRevision: number;
  modRevision: number;
  /** Number of writes since the key was created (1 after the first put). */
  version: number;
  /** Lease id the key is attached to, '0' for none. */
  lease: string;
}

/** Either a prefix, or a half-open interval [start, end); `end` absent means the single key `start`. */
export type KeyRange = { prefix: string } | { start: string; end?: string };

export interface RangeOptions {
  limit?: number;
  reverse?: boolean;
  countOnly?: boolean;
  keysOnly?: boolean;
}

export interface RangeResult {
  kvs: KeyValue[];
  /** Number of keys in the whole range, regardless of limit. */
  count: number;
  /** True when limit cut the result short. */
  more: boolean;
  revision: number;
}

export type CompareTarget = 'value' | 'version' | 'createRevision' | 'modRevision';
export type CompareOperator = '==' | '!=' | '<' | '>';

/**
 * A transaction guard. As in etcd, a missing key has version, createRevision
 * and modRevision 0, and a value compare against a missing key is false.
 */
export interface Compare {
  key: string;
  target: CompareTarget;
  operator: CompareOperator;
  /** Buffer for target 'value', number otherwise. */
  operand: Buffer | number;
}

export type TxnOp =
  | { type: 'put'; key: string; value: Buffer; lease?: string }
  | { type: 'delete'; range: KeyRange }
  | { type: 'range'; range: KeyRange; options?: RangeOptions };

export type TxnOpResult =
  | { type: 'put' }
  | { type: 'delete'; deleted: number }
  | { type: 'range'; result: RangeResult };

export interface TxnRequest {
  compare?: Compare[];
  success?: TxnOp[];
  failure?: TxnOp[];
}

export interface TxnResult {
  succeeded: boolean;
  /** Store revision after the transaction. */
  revision: number;
  /** One result per op of the branch that ran, in order. */
  results: TxnOpResult[];
}

export interface WatchEvent {
  type: 'put' | 'delete';
  key: string;
  /** Empty for deletes. */
  value: Buffer;
  modRevision: number;
  /**
   * Revision at which the key was created, as etcd reports it: equal to
   * modRevision for the put that created the key, smaller for a rewrite of an
   * existing key (followers tell a new key from a rewritten one by it), 0 for deletes.
   */
  createRevision: number;
}

export interface WatchOptions {
  /** Deliver every change with modRevision >= fromRevision (default: changes after now). */
  fromRevision?: number;
  /** Called for every event, in revision order, with no gaps. */
  onEvent: (event: WatchEvent) => void;
  /** Called when the watch can no longer deliver (store closed, history compacted). */
  onError?: (error: Error) => void;
}

export interface Watcher {
  /** Stops delivery. Safe to call twice. */
  cancel(): Promise<void>;
}

export interface Lease {
  readonly id: string;
  /** Kept alive automatically until revoked or lost. */
  revoke(): Promise<void>;
  /** Called once if the lease expires or can no longer be kept alive. */
  onLost(handler: (error: Error) => void): void;
}

/** Health of the store's backend, for /metrics and /readyz. */
export interface StoreStatus {
  /** Bytes the backend database takes on disk (etcd: dbSize of the member that answered). */
  dbSizeBytes: number;
  /** Bytes of it in use; the rest is free pages that only a defragmentation gives back (etcd: dbSizeInUse). */
  dbSizeInUseBytes: number;
  /** Active alarms, e.g. ['NOSPACE'] when etcd's backend quota is full; empty when healthy. */
  alarms: string[];
  /** Current store revision. */
  revision: number;
  /** History below this revision is compacted (0 when unknown or never). */
  compactRevision: number;
}

export interface KvStore {
  /** 'etcd' or 'embedded', for logs and /readyz. */
  readonly driver: string;
  get(key: string): Promise<KeyValue | undefined>;
  range(range: KeyRange, options?: RangeOptions): Promise<RangeResult>;
  put(key: string, value: Buffer, options?: { lease?: string }): Promise<{ revision: number }>;
  delete(range: KeyRange): Promise<{ deleted: number; revision: number }>;
  /** Atomic: the compares are evaluated and one branch applied as a single revision. */
  txn(request: TxnRequest): Promise<TxnResult>;
  /** Grants a lease of ttlSeconds and keeps it alive until revoked or the store closes. */
  grantLease(ttlSeconds: number): Promise<Lease>;
  watch(range: KeyRange, options: WatchOptions): Promise<Watcher>;
  /** Current store revision. */
  revision(): Promise<number>;
  /**
   * Answers quickly whether the store can serve requests, for /readyz. Throws
   * KV_UNAVAILABLE when it does not answer, KV_NO_SPACE when it answers but
   * refuses writes (etcd's NOSPACE alarm).
   */
  ping(): Promise<void>;
  /**
   * Drops the history (older versions of keys, watch events) before
   * `revision`, as etcd's compaction does: reads and watches at an older
   * revision then fail with KV_COMPACTED. Throws KV_COMPACTED when `revision`
   * is already compacted, BAD_REQUEST when it is in the future.
   */
  compact(revision: number): Promise<void>;
  /** Database size and alarms of the backend; throws KV_UNAVAILABLE when it does not answer. */
  status(): Promise<StoreStatus>;
  /** Releases connections, timers and files. Safe to call twice. */
  close(): Promise<void>;
}

/** Largest number of operations one txn may carry: etcd's default --max-txn-ops. */
export const MAX_TXN_OPS = 128;
/** Bytes one request may carry, kept well under etcd's default 1.5 MiB --max-request-bytes. */
export const MAX_REQUEST_BYTES = 1_000_000;

/** The exclusive upper bound of all keys that start with `prefix` (keys are ASCII, see key-space.ts). */
export function prefixEnd(prefix: string): string {
  if (prefix.length === 0) return '\0';
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
}

/** Whether a compare holds, given the stored side minus the operand (its sign is what counts), as etcd evaluates it. */
export function compareHolds(difference: number, operator: Compare['operator']): boolean {
  switch (operator) {
    case '==':
      return difference === 0;
    case '!=':
      return difference !== 0;
    case '<':
      return difference < 0;
    case '>':
      return difference > 0;
  }
}
