/**
 * What a collector last read or wrote under one partition it owns (GPU and
 * host metadata, latest values, the partition's counters), so unchanged
 * metadata is not rewritten and counters need no read per message.
 *
 * Only a partition's owner writes these keys, so the cache is exact for as
 * long as one claim lasts. It is thrown away when the claim changes (a new
 * claim revision) and after any failed write.
 */
import type { KvStore, TxnOp } from '../kv/kv-store.js';
import { encodeJson } from '../store/gpu-records.js';

/** Turns stored bytes into a value; throws (STORE_CORRUPT) when they are not one. */
export type Decoder<T> = (bytes: Buffer) => T;

export interface CachedValue<T> {
  value: T | undefined;
  /** The value's JSON as last written or read, to compare without encoding again. */
  bytes?: Buffer;
  modRevision: number;
}

export class OwnedPartitionCache {
  private readonly entries = new Map<string, CachedValue<unknown>>();

  constructor(
    private readonly kv: KvStore,
    /** The claim this cache belongs to. */
    readonly claimRevision: number,
    /** Told about a stored value that does not decode; it is then read as absent and overwritten by the next write. */
    private readonly onUnreadable: (key: string, error: unknown) => void = () => undefined,
  ) {}

  /**
   * The value at key, from the cache or the store. A stored value that does
   * not decode is reported and read as absent, keeping its modRevision: the
   * write that follows replaces it (fenced like any other), so one corrupt
   * value never stalls the partition.
   */
  async read<T>(key: string, decode: Decoder<T>): Promise<CachedValue<T>> {
    const cached = this.entries.get(key) as CachedValue<T> | undefined;
    if (cached) return cached;
    const stored = await this.kv.get(key);
    let entry: CachedValue<T> = { value: undefined, modRevision: 0 };
    if (stored) {
      try {
        entry = { value: decode(stored.value), bytes: stored.value, modRevision: stored.modRevision };
      } catch (error) {
        this.onUnreadable(key, error);
        entry = { value: undefined, modRevision: stored.modRevision };
      }
    }
    this.entries.set(key, entry);
    return entry;
  }

  /**
   * Adds a put of value at key to `writes` unless the cache says the store
   * already holds it (metadata is rewritten only when it changes); `always`
   * writes regardless. A later put of one key replaces an earlier one.
   */
  queueWrite(writes: Map<string, TxnOp>, key: string, value: unknown, always = false): void {
    const cached = this.entries.get(key);
    const bytes = encodeJson(value);
    if (!always && cached?.value !== undefined && (cached.bytes ?? encodeJson(cached.value)).equals(bytes)) return;
    this.entries.set(key, { value, bytes, modRevision: cached?.modRevision ?? 0 });
    writes.delete(key);
    writes.set(key, { type: 'put', key, value: bytes });
  }

  /** Records a value the caller has just written at `revision`. */
  written<T>(key: string, value: T, revision: number): void {
    this.entries.set(key, { value, modRevision: revision });
  }

  clear(): void {
    this.entries.clear();
  }
}
