/**
 * Encryption at rest as a KvStore around another (docs/encryption.md): the
 * values of sealed keys (sealed-key-policy.ts) are sealed on every put, in
 * txns too, and opened on every read (get, range, txn ranges, watch events).
 * Everything above sees plaintext, so no other component knows about it.
 *
 * - A sealed value this process cannot open throws STORE_KEY: never bytes
 *   that a decoder would then misread.
 * - A plaintext value under a sealed key (written before encryption was
 *   turned on) is read as it is, counted and logged: data migrates as it is
 *   rewritten (latest, metadata, stats at once; chunks when compaction
 *   rewrites them).
 * - A process without a key file wraps its store too: it writes plaintext,
 *   and a sealed value it meets is a STORE_KEY error naming the key id,
 *   rather than garbage, a dead letter or a "repaired" overwrite.
 * - Sealing uses a fresh nonce, so the same plaintext seals to different
 *   bytes and etcd cannot compare sealed values: a txn that compares the
 *   value of a sealed key is evaluated here, exactly (see txnComparingValues).
 */
import type { Logger } from '../common/logger.js';
import { counter } from '../common/metrics.js';
import { GputelError } from '../common/gputel-error.js';
import {
  MAX_REQUEST_BYTES,
  MAX_TXN_OPS,
  compareHolds,
  prefixEnd,
  type Compare,
  type KeyRange,
  type KeyValue,
  type KvStore,
  type Lease,
  type RangeOptions,
  type RangeResult,
  type StoreStatus,
  type TxnOp,
  type TxnOpResult,
  type TxnRequest,
  type TxnResult,
  type Watcher,
  type WatchOptions,
} from './kv-store.js';
import type { SealedKeyPolicy } from './sealed-key-policy.js';
import { isSealedValue, sealedKeyId, type ValueSealer } from './value-sealer.js';

const sealedWrites = counter(
  'gputel_store_sealed_values_total',
  'Values sealed with each encryption key (AES-GCM with random nonces: rotate the key well before 2^32 values)',
  ['key_id'],
);
const plaintextReads = counter(
  'gputel_store_plaintext_values_read_total',
  'Unsealed values read under sealed keys while an encryption key is configured (written before encryption was on; sealed when next rewritten)',
);
/** Plaintext reads logged per process; after that they are only counted. */
const MAX_PLAINTEXT_LOGGED = 5;
/**
 * Rounds of "read the compared keys, then apply the branch if none changed"
 * before a txn comparing sealed values gives up with a retryable CONFLICT.
 * Each round loses only to a write of one of its compared keys in between.
 */
const MAX_COMPARE_ROUNDS = 16;
/** Values read per page by reseal(): chunks are up to ~256 KiB each, so a page stays under ~8 MiB. */
const RESEAL_PAGE = 32;

/** What reseal() did. */
export interface ResealSummary {
  /** Values under sealed keys looked at. */
  examined: number;
  /** Values sealed with an older key, now sealed with the newest. */
  resealed: number;
  /** Plaintext values (from before encryption), now sealed. */
  sealedPlaintext: number;
  /** Values that changed while being resealed (rewritten by a role meanwhile): run reseal again to be sure. */
  changedMeanwhile: number;
}

export interface SealedKvStoreOptions {
  sealer: ValueSealer;
  isSealedKey: SealedKeyPolicy;
  logger?: Logger;
}

export class SealedKvStore implements KvStore {
  private readonly sealer: ValueSealer;
  private readonly isSealedKey: SealedKeyPolicy;
  private readonly logger: Logger | undefined;
  private readonly sealedByNewestKey;
  private plaintextLogged = 0;

  constructor(
    private readonly inner: KvStore,
    options: SealedKvStoreOptions,
  ) {
    this.sealer = options.sealer;
    this.isSealedKey = options.isSealedKey;
    this.logger = options.logger;
    this.sealedByNewestKey = options.sealer.ring ? sealedWrites.labels(options.sealer.ring.newest.id) : undefined;
  }

  get driver(): string {
    return this.inner.driver;
  }

  async get(key: string): Promise<KeyValue | undefined> {
    const found = await this.inner.get(key);
    return found && this.openKeyValue(found);
  }

  async range(range: KeyRange, options?: RangeOptions): Promise<RangeResult> {
    return this.openRange(await this.inner.range(range, options));
  }

  put(key: string, value: Buffer, options?: { lease?: string }): Promise<{ revision: number }> {
    return this.inner.put(key, this.sealFor(key, value), options);
  }

  delete(range: KeyRange): Promise<{ deleted: number; revision: number }> {
    return this.inner.delete(range);
  }

  async txn(request: TxnRequest): Promise<TxnResult> {
    if (request.compare?.some((c) => c.target === 'value' && this.isSealedKey(c.key))) return this.txnComparingValues(request);
    return this.openTxnResult(
      await this.inner.txn({
        compare: request.compare,
        success: request.success && this.sealOps(request.success),
        failure: request.failure && this.sealOps(request.failure),
      }),
    );
  }

  grantLease(ttlSeconds: number): Promise<Lease> {
    return this.inner.grantLease(ttlSeconds);
  }

  /**
   * Events are opened before delivery. One that does not open ends the
   * watch through onError with the STORE_KEY error (its followers reload
   * and report it), rather than delivering it or skipping it silently.
   */
  async watch(range: KeyRange, options: WatchOptions): Promise<Watcher> {
    let failed = false;
    // Set once the inner watch resolves; an event may fail before that.
    const inner: { watcher?: Watcher } = {};
    const fail = (error: Error): void => {
      if (failed) return;
      failed = true;
      if (inner.watcher) void inner.watcher.cancel().catch(() => undefined);
      options.onError?.(error);
    };
    inner.watcher = await this.inner.watch(range, {
      fromRevision: options.fromRevision,
      onEvent: (event) => {
        if (failed) return;
        let value: Buffer;
        try {
          value = this.open(event.key, event.value);
        } catch (error) {
          fail(error instanceof Error ? error : new Error(String(error)));
          return;
        }
        options.onEvent(value === event.value ? event : { ...event, value });
      },
      onError: fail,
    });
    if (failed) await inner.watcher.cancel().catch(() => undefined);
    return inner.watcher;
  }

  revision(): Promise<number> {
    return this.inner.revision();
  }

  ping(): Promise<void> {
    return this.inner.ping();
  }

  compact(revision: number): Promise<void> {
    return this.inner.compact(revision);
  }

  status(): Promise<StoreStatus> {
    return this.inner.status();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  /**
   * Rewrites every value under a sealed key in `range` that is plaintext or
   * sealed with an older key, sealed with the newest key; after it, keys
   * older than the newest can leave the key file (docs/encryption.md). Each
   * rewrite is guarded by the value's modRevision, so a value a role wrote
   * meanwhile is left as it is (and counted). Leases are kept. Throws
   * BAD_CONFIG without a key file, STORE_KEY for a value that does not open.
   */
  async reseal(range: { prefix: string }, onPage?: (summary: ResealSummary) => void): Promise<ResealSummary> {
    const ring = this.sealer.ring;
    if (ring === undefined) throw new GputelError('BAD_CONFIG', 'resealing needs --encryption-key-file: the newest key of that file seals every value');
    const summary: ResealSummary = { examined: 0, resealed: 0, sealedPlaintext: 0, changedMeanwhile: 0 };
    const end = prefixEnd(range.prefix);
    let start = range.prefix;
    for (;;) {
      const page = await this.inner.range({ start, end }, { limit: RESEAL_PAGE });
      const rewrites: { kv: KeyValue; value: Buffer }[] = [];
      for (const kv of page.kvs) {
        if (!this.isSealedKey(kv.key) || kv.value.length === 0) continue;
        summary.examined++;
        const sealed = isSealedValue(kv.value);
        if (sealed && sealedKeyId(kv.value) === ring.newest.id) continue;
        if (sealed) summary.resealed++;
        else summary.sealedPlaintext++;
        rewrites.push({ kv, value: this.sealer.seal(kv.key, sealed ? this.sealer.open(kv.key, kv.value) : kv.value) });
        this.sealedByNewestKey?.inc();
      }
      summary.changedMeanwhile += await this.rewriteGuarded(rewrites);
      onPage?.(summary);
      if (!page.more || page.kvs.length === 0) return summary;
      start = page.kvs[page.kvs.length - 1].key + '\0';
    }
  }

  /** Puts each value if its key is unchanged; resolves to how many had changed. Batched within etcd's limits; a batch that loses a compare is retried one by one. */
  private async rewriteGuarded(rewrites: { kv: KeyValue; value: Buffer }[]): Promise<number> {
    const txnFor = (batch: typeof rewrites): TxnRequest => ({
      compare: batch.map(({ kv }): Compare => ({ key: kv.key, target: 'modRevision', operator: '==', operand: kv.modRevision })),
      success: batch.map(({ kv, value }): TxnOp => ({ type: 'put', key: kv.key, value, lease: kv.lease === '0' ? undefined : kv.lease })),
    });
    let changed = 0;
    let batch: typeof rewrites = [];
    let bytes = 0;
    const flush = async (): Promise<void> => {
      if (batch.length === 0) return;
      if (!(await this.inner.txn(txnFor(batch))).succeeded) {
        for (const one of batch) if (!(await this.inner.txn(txnFor([one]))).succeeded) changed++;
      }
      batch = [];
      bytes = 0;
    };
    for (const rewrite of rewrites) {
      const size = rewrite.kv.key.length + rewrite.value.length;
      if (batch.length >= MAX_TXN_OPS / 2 || bytes + size > MAX_REQUEST_BYTES) await flush();
      batch.push(rewrite);
      bytes += size;
    }
    await flush();
    return changed;
  }

  /**
   * A txn that compares the value of a sealed key: etcd cannot (a value seals
   * to different bytes each time), so the compared keys are read in one
   * snapshot, every compare is evaluated here on their plaintext, and the
   * branch so chosen is applied guarded by "none of the compared keys changed
   * since" (their modRevisions; 0 for a missing key, as etcd compares it).
   * The guard holding means every compare would have evaluated the same in
   * the store, so the result is exactly what the store would have done;
   * a guard that fails means a write came in between, and the round is
   * repeated from a fresh read.
   */
  private async txnComparingValues(request: TxnRequest): Promise<TxnResult> {
    const compares = request.compare ?? [];
    const keys = [...new Set(compares.map((c) => c.key))];
    for (let round = 0; round < MAX_COMPARE_ROUNDS; round++) {
      const snapshot = await this.inner.txn({ success: keys.map((key): TxnOp => ({ type: 'range', range: { start: key } })) });
      const current = new Map<string, KeyValue>();
      for (const result of snapshot.results) {
        if (result.type === 'range' && result.result.kvs.length > 0) current.set(result.result.kvs[0].key, result.result.kvs[0]);
      }
      const holds = compares.every((c) => this.evaluate(c, current.get(c.key)));
      const ops = (holds ? request.success : request.failure) ?? [];
      const guarded = await this.inner.txn({
        compare: keys.map((key): Compare => ({ key, target: 'modRevision', operator: '==', operand: current.get(key)?.modRevision ?? 0 })),
        success: this.sealOps(ops),
      });
      if (guarded.succeeded) return this.openTxnResult({ succeeded: holds, revision: guarded.revision, results: guarded.results });
    }
    throw new GputelError(
      'CONFLICT',
      `a transaction comparing the value of ${keys.join(', ')} lost ${MAX_COMPARE_ROUNDS} rounds in a row to writes of those keys; retry it`,
      { retryable: true },
    );
  }

  /** One compare on the key's current state (undefined when missing), as etcd evaluates it. */
  private evaluate(compare: Compare, found: KeyValue | undefined): boolean {
    let order: number;
    if (compare.target === 'value') {
      // As in etcd: a value compare against a missing key is false, whatever the operator.
      if (!found) return false;
      order = Buffer.compare(this.open(found.key, found.value), compare.operand as Buffer);
    } else {
      const stored = found ? found[compare.target] : 0;
      order = Math.sign(stored - (compare.operand as number));
    }
    return compareHolds(order, compare.operator);
  }

  private sealFor(key: string, value: Buffer): Buffer {
    if (!this.sealer.sealing || !this.isSealedKey(key)) return value;
    this.sealedByNewestKey?.inc();
    return this.sealer.seal(key, value);
  }

  private sealOps(ops: TxnOp[]): TxnOp[] {
    return ops.map((op) => (op.type === 'put' ? { ...op, value: this.sealFor(op.key, op.value) } : op));
  }

  /** The plaintext of a value read at `key`: opened when sealed, as it is otherwise. */
  private open(key: string, value: Buffer): Buffer {
    if (isSealedValue(value)) return this.sealer.open(key, value);
    if (value.length > 0 && this.sealer.sealing && this.isSealedKey(key)) this.countPlaintext(key);
    return value;
  }

  private openKeyValue(kv: KeyValue): KeyValue {
    const value = this.open(kv.key, kv.value);
    return value === kv.value ? kv : { ...kv, value };
  }

  private openRange(result: RangeResult): RangeResult {
    if (result.kvs.length === 0) return result;
    return { ...result, kvs: result.kvs.map((kv) => this.openKeyValue(kv)) };
  }

  private openTxnResult(result: TxnResult): TxnResult {
    if (!result.results.some((r) => r.type === 'range')) return result;
    return {
      ...result,
      results: result.results.map((r): TxnOpResult => (r.type === 'range' ? { type: 'range', result: this.openRange(r.result) } : r)),
    };
  }

  private countPlaintext(key: string): void {
    plaintextReads.inc();
    if (this.plaintextLogged >= MAX_PLAINTEXT_LOGGED || this.logger === undefined) return;
    this.plaintextLogged++;
    this.logger.warn(
      { key },
      `value at ${key} is not sealed although an encryption key is configured: it was written before encryption was turned on, and is read as it is until it is rewritten` +
        (this.plaintextLogged === MAX_PLAINTEXT_LOGGED ? ' (further ones are only counted: gputel_store_plaintext_values_read_total)' : ''),
    );
  }
}
