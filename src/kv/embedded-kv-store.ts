/**
 * The `embedded` driver: the KV contract of `kv-store.ts` in one process, on
 * SQLite (better-sqlite3), with etcd's semantics: a store-wide revision,
 * create/mod revision and version per key, leases whose expiry deletes their
 * keys, watch from a revision with no gaps, and etcd's default request limits.
 *
 * Why SQLite and not LMDB: see docs/design.md, "Embedded driver: SQLite or LMDB".
 *
 * Layout (one file, `{dataDir}/gputel.db`, WAL, synchronous=NORMAL, 16 KiB pages):
 *   kv(key BLOB PK, value, create_revision, mod_revision, version, lease)
 *   events(revision, seq, type, key, value, create_revision)  the watch history, trimmed to a bound
 *   leases(id PK, ttl_seconds, expires_at_ms)
 *   meta(name PK, value)                     revision, compact_revision, next_lease_id
 * Keys are BLOBs so that SQLite orders them bytewise (memcmp), as etcd does.
 *
 * better-sqlite3 is synchronous: each method runs its statements to the end
 * before it returns, so a method is atomic with respect to every other call in
 * this process. The watch replay relies on that (see `watch`).
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { GputelError, errorMessage } from '../common/gputel-error.js';
import {
  compareHolds,
  prefixEnd,
  type Compare,
  type KeyRange,
  type KeyValue,
  type KvStore,
  type RangeOptions,
  type RangeResult,
  type StoreStatus,
  type TxnOp,
  type TxnOpResult,
  type TxnRequest,
  type TxnResult,
  type WatchEvent,
  type WatchOptions,
  type Watcher,
} from './kv-store.js';
import { LeaseHandle } from './lease-handle.js';
import { describeRange, firstKeyOf } from './request-description.js';

/** etcd's default `--max-txn-ops`: more compares, or more ops in one branch, fail with KV_TOO_MANY_OPS. */
export const ETCD_DEFAULT_MAX_TXN_OPS = 128;
/** etcd's default `--max-request-bytes` (1.5 MiB): a bigger write fails with KV_REQUEST_TOO_LARGE. */
export const ETCD_DEFAULT_MAX_REQUEST_BYTES = 1_572_864;
/**
 * etcd's smallest lease TTL with its default election timeout (1 s) and
 * heartbeat (100 ms): ceil(1.5 × election ticks × heartbeat) = 2 s. A shorter
 * TTL is granted as 2 s by etcd, and so it is here.
 */
export const MIN_LEASE_TTL_SECONDS = 2;

/** File name of the store inside its data directory. */
export const EMBEDDED_DB_FILE = 'gputel.db';

export interface EmbeddedKvStoreOptions {
  /** Directory of the store (created if missing), or ':memory:' for a store that lives and dies with the process. */
  dataDir: string;
  /** Watch history kept, in revisions (default 100,000); a watch from an older revision fails with KV_COMPACTED. */
  historyRevisions?: number;
  /** Watch history kept, in events (default 200,000); whichever bound is smaller wins. Bounds the disk the history takes. */
  historyEvents?: number;
  /**
   * Watch history kept, in bytes of keys and values (default 64 MiB). Queue
   * messages are ~0.5 MB each: without a byte bound the history of an ingest
   * would hold a second copy of everything streamed.
   */
  historyBytes?: number;
  /** Defaults to etcd's 128, so that code that runs here also runs on a default etcd. */
  maxTxnOps?: number;
  /** Defaults to etcd's 1.5 MiB, for the same reason. */
  maxRequestBytes?: number;
  /** How often leases are renewed and expired leases swept (default 500 ms, etcd's own expiry check interval). */
  leaseCheckIntervalMs?: number;
}

const DEFAULT_HISTORY_REVISIONS = 100_000;
const DEFAULT_HISTORY_EVENTS = 200_000;
const DEFAULT_HISTORY_BYTES = 64 * 1024 * 1024;
const DEFAULT_LEASE_CHECK_INTERVAL_MS = 500;
/** Bytes a protobuf request spends per operation besides key and value; only matters near the limit. */
const OP_OVERHEAD_BYTES = 16;
const EVENT_PUT = 0;
const EVENT_DELETE = 1;
const EMPTY = Buffer.alloc(0);

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS kv (
  key BLOB PRIMARY KEY,
  value BLOB NOT NULL,
  create_revision INTEGER NOT NULL,
  mod_revision INTEGER NOT NULL,
  version INTEGER NOT NULL,
  lease INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kv_by_lease ON kv (lease) WHERE lease != 0;
CREATE TABLE IF NOT EXISTS leases (id INTEGER PRIMARY KEY, ttl_seconds INTEGER NOT NULL, expires_at_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS events (
  revision INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  type INTEGER NOT NULL,
  key BLOB NOT NULL,
  value BLOB,
  create_revision INTEGER,
  PRIMARY KEY (revision, seq)
) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (name, value) VALUES ('revision', 1), ('compact_revision', 0), ('next_lease_id', 1);
`;

/** A key range as SQL sees it: one key, [start, end), or every key from start on (etcd's range_end "\0"). */
interface Bounds {
  kind: 'single' | 'bounded' | 'from';
  start: Buffer;
  end: Buffer;
}

/** A change made by a write, kept in memory until it is handed to watchers. */
interface Change {
  type: 'put' | 'delete';
  key: Buffer;
  value: Buffer;
  revision: number;
  /** The key's create revision after a put; 0 for a delete. */
  createRevision: number;
}

interface WatchState {
  bounds: Bounds;
  /** Changes below this revision were replayed from history (or predate the watch) and are not delivered again. */
  minRevision: number;
  queue: WatchEvent[];
  active: boolean;
  options: WatchOptions;
}

interface LeaseState {
  ttlMs: number;
  expiresAtMs: number;
  /** The handle of this process that keeps the lease alive; undefined once released, or for leases of a previous process. */
  owner: EmbeddedLease | undefined;
}

type Row = unknown[];

/** A lease of the embedded store. `release()` stops keep-alive without revoking, as etcd3's `Lease.release()`. */
export class EmbeddedLease extends LeaseHandle {
  constructor(
    id: string,
    private readonly store: EmbeddedKvStore,
  ) {
    super(id);
  }

  /** Stops keeping the lease alive; it expires after its TTL and onLost is not called (the caller let go). */
  release(): void {
    this.store.releaseLease(this);
  }

  /** Deletes the lease and its keys in one revision. */
  protected revokeOnce(): Promise<void> {
    return this.store.revokeLease(this);
  }
}

/** A KvStore in one process on SQLite. Open it with `EmbeddedKvStore.open`. */
export class EmbeddedKvStore implements KvStore {
  readonly driver = 'embedded';
  private readonly db: Database.Database;
  private readonly where: string;
  private readonly statements = new Map<string, Database.Statement>();
  private readonly historyRevisions: number;
  private readonly historyEvents: number;
  private readonly maxTxnOps: number;
  private readonly maxRequestBytes: number;
  private currentRevision: number;
  private compactRevision: number;
  private nextLeaseId: number;
  private eventCount: number;
  private eventBytes: number;
  private readonly historyBytes: number;
  private readonly leases = new Map<number, LeaseState>();
  private readonly watchers = new Set<WatchState>();
  private flushScheduled = false;
  private readonly leaseTimer: NodeJS.Timeout;
  private closing: Promise<void> | undefined;
  private closed = false;

  // Hot statements, prepared once.
  /** Answers the key's create_revision (its revision when the put created it). */
  private readonly upsertKv: Database.Statement;
  private readonly insertEvent: Database.Statement;
  private readonly setMeta: Database.Statement;
  private readonly selectForCompare: Database.Statement;
  private readonly runPut: (key: Buffer, value: Buffer, lease: number, revision: number) => number;
  private readonly runDelete: (bounds: Bounds, revision: number) => Change[];
  private readonly runTxn: (request: TxnRequest, leaseIds: Map<string, number>) => { result: TxnResult; changes: Change[] };
  private readonly runExpire: (leaseId: number, revision: number) => Change[];

  /**
   * Opens (creating if needed) the store at `options.dataDir`. Expired leases
   * left by a previous process are expired at once, deleting their keys.
   * Throws KV_UNAVAILABLE (retryable) if another process holds the store, KV_FAILED
   * if the file cannot be opened. The caller owns the store and must `close()` it.
   */
  static async open(options: EmbeddedKvStoreOptions): Promise<EmbeddedKvStore> {
    return new EmbeddedKvStore(options);
  }

  private constructor(options: EmbeddedKvStoreOptions) {
    const inMemory = options.dataDir === ':memory:';
    this.where = inMemory ? 'embedded store (in memory)' : `embedded store ${path.join(options.dataDir, EMBEDDED_DB_FILE)}`;
    this.historyRevisions = Math.max(1, options.historyRevisions ?? DEFAULT_HISTORY_REVISIONS);
    this.historyEvents = Math.max(1, options.historyEvents ?? DEFAULT_HISTORY_EVENTS);
    this.historyBytes = Math.max(1, options.historyBytes ?? DEFAULT_HISTORY_BYTES);
    this.maxTxnOps = options.maxTxnOps ?? ETCD_DEFAULT_MAX_TXN_OPS;
    this.maxRequestBytes = options.maxRequestBytes ?? ETCD_DEFAULT_MAX_REQUEST_BYTES;
    try {
      if (!inMemory) mkdirSync(options.dataDir, { recursive: true });
      this.db = new Database(inMemory ? ':memory:' : path.join(options.dataDir, EMBEDDED_DB_FILE), { timeout: 0 });
    } catch (error) {
      throw this.translate(error, 'open');
    }
    try {
      // One process owns the store: revisions, leases and watch live in its
      // memory. EXCLUSIVE locking makes a second opener fail fast instead of
      // corrupting that (it must be set before WAL mode is entered).
      this.db.pragma('locking_mode = EXCLUSIVE');
      // 16 KiB pages keep ~1-4 KiB chunk values inside their b-tree page (with
      // 4 KiB pages a 1 KiB value spills to an overflow page), and a larger
      // WAL between checkpoints makes fewer fsyncs: together 3x the txn/s of
      // the defaults (docs/design.md). page_size only applies to a new file.
      this.db.pragma('page_size = 16384');
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      this.db.pragma('wal_autocheckpoint = 4096');
      this.db.exec(SCHEMA);
      addCreateRevisionColumn(this.db);
      const meta = new Map(
        (this.db.prepare('SELECT name, value FROM meta').raw().all() as [string, number][]).map(([name, value]) => [name, value]),
      );
      this.currentRevision = meta.get('revision') ?? 1;
      this.compactRevision = meta.get('compact_revision') ?? 0;
      this.nextLeaseId = meta.get('next_lease_id') ?? 1;
      this.eventCount = (this.db.prepare('SELECT count(*) FROM events').pluck().get() as number) ?? 0;
      this.eventBytes = this.historyBytesStored();

      this.upsertKv = this.db.prepare(
        'INSERT INTO kv (key, value, create_revision, mod_revision, version, lease) VALUES (?, ?, ?, ?, 1, ?) ' +
          'ON CONFLICT (key) DO UPDATE SET value = excluded.value, mod_revision = excluded.mod_revision, ' +
          'version = kv.version + 1, lease = excluded.lease RETURNING create_revision',
      ).pluck();
      this.insertEvent = this.db.prepare('INSERT INTO events (revision, seq, type, key, value, create_revision) VALUES (?, ?, ?, ?, ?, ?)');
      this.setMeta = this.db.prepare('UPDATE meta SET value = ? WHERE name = ?');
      this.selectForCompare = this.db.prepare('SELECT value, version, create_revision, mod_revision FROM kv WHERE key = ?').raw();

      this.runPut = this.db.transaction((key: Buffer, value: Buffer, lease: number, revision: number) => {
        const createRevision = this.upsertKv.get(key, value, revision, revision, lease) as number;
        this.insertEvent.run(revision, 0, EVENT_PUT, key, value, createRevision);
        this.setMeta.run(revision, 'revision');
        return createRevision;
      });
      this.runDelete = this.db.transaction((bounds: Bounds, revision: number) => {
        const changes = this.deleteBounds(bounds, revision, 0);
        if (changes.length > 0) this.setMeta.run(revision, 'revision');
        return changes;
      });
      this.runTxn = this.db.transaction((request: TxnRequest, leaseIds: Map<string, number>) =>
        this.applyTxn(request, leaseIds),
      );
      this.runExpire = this.db.transaction((leaseId: number, revision: number) => {
        const keys = this.stmt('DELETE FROM kv WHERE lease = ? RETURNING key').all(leaseId) as Row[];
        // etcd's lessor deletes a lease's keys in sorted order; so do we.
        if (keys.length > 1) keys.sort((a, b) => Buffer.compare(a[0] as Buffer, b[0] as Buffer));
        const changes: Change[] = [];
        for (let seq = 0; seq < keys.length; seq++) {
          const key = keys[seq][0] as Buffer;
          this.insertEvent.run(revision, seq, EVENT_DELETE, key, null, 0);
          changes.push({ type: 'delete', key, value: EMPTY, revision, createRevision: 0 });
        }
        this.stmt('DELETE FROM leases WHERE id = ?').run(leaseId);
        if (changes.length > 0) this.setMeta.run(revision, 'revision');
        return changes;
      });

      const now = Date.now();
      for (const [id, ttlSeconds, expiresAtMs] of this.stmt('SELECT id, ttl_seconds, expires_at_ms FROM leases').all() as [
        number,
        number,
        number,
      ][]) {
        this.leases.set(id, { ttlMs: ttlSeconds * 1000, expiresAtMs, owner: undefined });
      }
      // Leases of a previous process that ran out while it was down expire now.
      for (const [id, lease] of this.leases) if (lease.expiresAtMs <= now) this.expireLease(id);
    } catch (error) {
      this.db.close();
      throw this.translate(error, 'open');
    }
    this.leaseTimer = setInterval(() => this.checkLeases(), options.leaseCheckIntervalMs ?? DEFAULT_LEASE_CHECK_INTERVAL_MS);
    // The timer must not keep a process alive on its own; close() stops it anyway.
    this.leaseTimer.unref();
  }

  /** The value of one key, or undefined when it does not exist. */
  async get(key: string): Promise<KeyValue | undefined> {
    this.assertOpen('get', key);
    try {
      return this.rangeBounds(singleKey(key), {}).kvs[0];
    } catch (error) {
      throw this.translate(error, 'get', key);
    }
  }

  /** Keys of `range` in byte order (reverse: descending); `count` is the whole range regardless of limit. */
  async range(range: KeyRange, options: RangeOptions = {}): Promise<RangeResult> {
    this.assertOpen('range', describeRange(range));
    try {
      return { ...this.rangeBounds(toBounds(range), options), revision: this.currentRevision };
    } catch (error) {
      throw this.translate(error, 'range', describeRange(range));
    }
  }

  /** Writes one key in its own revision. Throws KV_LEASE_NOT_FOUND for an unknown lease, KV_REQUEST_TOO_LARGE over the request limit. */
  async put(key: string, value: Buffer, options: { lease?: string } = {}): Promise<{ revision: number }> {
    this.assertOpen('put', key);
    const keyBytes = toKeyBytes(key);
    const lease = this.leaseNumber(options.lease, key);
    this.checkRequestBytes(keyBytes.length + value.length + OP_OVERHEAD_BYTES, 'put', key);
    const revision = this.currentRevision + 1;
    let createRevision: number;
    try {
      createRevision = this.runPut(keyBytes, value, lease, revision);
    } catch (error) {
      throw this.translate(error, 'put', key);
    }
    this.currentRevision = revision;
    this.eventCount += 1;
    this.eventBytes += keyBytes.length + value.length;
    if (this.watchers.size > 0) this.notify([{ type: 'put', key: keyBytes, value, revision, createRevision }]);
    this.trimHistoryIfDue();
    return { revision };
  }

  /** Deletes the keys of `range`; the revision moves only when something was deleted (as in etcd). */
  async delete(range: KeyRange): Promise<{ deleted: number; revision: number }> {
    this.assertOpen('delete', describeRange(range));
    const bounds = toBounds(range);
    const revision = this.currentRevision + 1;
    let changes: Change[];
    try {
      changes = this.runDelete(bounds, revision);
    } catch (error) {
      throw this.translate(error, 'delete', describeRange(range));
    }
    if (changes.length > 0) this.committed(revision, changes);
    return { deleted: changes.length, revision: this.currentRevision };
  }

  /**
   * One SQLite transaction: compares, then one branch, as one revision (none
   * when the branch wrote nothing). Enforces etcd's limits: KV_TOO_MANY_OPS,
   * KV_REQUEST_TOO_LARGE; BAD_REQUEST for a key put twice (or put and deleted) in one branch.
   */
  async txn(request: TxnRequest): Promise<TxnResult> {
    this.assertOpen('txn', firstKeyOf(request));
    this.checkTxnLimits(request);
    // etcd checks both branches before it evaluates the compares.
    checkDuplicateKeys(request.success ?? [], this.where);
    checkDuplicateKeys(request.failure ?? [], this.where);
    const leaseIds = new Map<string, number>();
    for (const op of [...(request.success ?? []), ...(request.failure ?? [])]) {
      if (op.type === 'put' && op.lease !== undefined && op.lease !== '0') leaseIds.set(op.lease, 0);
    }
    // Unknown leases fail the txn only if their branch runs, as in etcd; resolve them lazily.
    for (const id of leaseIds.keys()) leaseIds.set(id, this.leaseNumberOrZero(id));
    let outcome: { result: TxnResult; changes: Change[] };
    try {
      outcome = this.runTxn(request, leaseIds);
    } catch (error) {
      throw this.translate(error, 'txn', firstKeyOf(request));
    }
    if (outcome.changes.length > 0) this.committed(outcome.result.revision, outcome.changes);
    return outcome.result;
  }

  /** Grants a lease of max(ttlSeconds, 2) seconds, kept alive by this store until revoked, released or closed. */
  async grantLease(ttlSeconds: number): Promise<EmbeddedLease> {
    this.assertOpen('grant lease');
    if (!Number.isFinite(ttlSeconds) || ttlSeconds <= 0) {
      throw new GputelError('BAD_REQUEST', `lease TTL must be a positive number of seconds, got ${ttlSeconds} (${this.where})`);
    }
    const ttl = Math.max(MIN_LEASE_TTL_SECONDS, Math.ceil(ttlSeconds));
    const id = this.nextLeaseId;
    const expiresAtMs = Date.now() + ttl * 1000;
    try {
      this.db.transaction(() => {
        this.stmt('INSERT INTO leases (id, ttl_seconds, expires_at_ms) VALUES (?, ?, ?)').run(id, ttl, expiresAtMs);
        this.setMeta.run(id + 1, 'next_lease_id');
      })();
    } catch (error) {
      throw this.translate(error, 'grant lease');
    }
    this.nextLeaseId = id + 1;
    const handle = new EmbeddedLease(String(id), this);
    this.leases.set(id, { ttlMs: ttl * 1000, expiresAtMs, owner: handle });
    return handle;
  }

  /**
   * Delivers changes of `range` to `options.onEvent`, asynchronously after
   * each write commits, in revision order. With `fromRevision`, history from
   * that revision is replayed first, with no gap and no duplicate between
   * history and live changes. Rejects with KV_COMPACTED when fromRevision is
   * older than the kept history (as etcd does for a compacted revision).
   */
  async watch(range: KeyRange, options: WatchOptions): Promise<Watcher> {
    this.assertOpen('watch', describeRange(range));
    const bounds = toBounds(range);
    const fromRevision = options.fromRevision ?? 0;
    if (fromRevision > 0 && fromRevision < this.compactRevision) {
      throw new GputelError(
        'KV_COMPACTED',
        `cannot watch ${describeRange(range)} from revision ${fromRevision} in ${this.where}: history before revision ` +
          `${this.compactRevision} was compacted; re-read the current state and watch from its revision`,
      );
    }
    const state: WatchState = {
      bounds,
      minRevision: fromRevision > 0 ? fromRevision : this.currentRevision + 1,
      queue: [],
      active: true,
      options,
    };
    if (fromRevision > 0 && fromRevision <= this.currentRevision) {
      // The replay and the registration below run in one synchronous stretch:
      // no write of this process can commit in between, hence no gap and no
      // duplicate. Later writes are delivered through notify().
      try {
        const { where, params } = boundsSql(bounds);
        const rows = this.stmt(
          `SELECT revision, type, key, value, create_revision FROM events WHERE revision >= ? AND ${where} ORDER BY revision, seq`,
        ).iterate(fromRevision, ...params) as IterableIterator<Row>;
        for (const [revision, type, key, value, createRevision] of rows) {
          const put = type === EVENT_PUT;
          state.queue.push({
            type: put ? 'put' : 'delete',
            key: (key as Buffer).toString('utf8'),
            value: put ? (value as Buffer) : EMPTY,
            modRevision: revision as number,
            // NULL: an event logged before the column existed; read as a create (delivered, never missed).
            createRevision: put ? ((createRevision as number | null) ?? (revision as number)) : 0,
          });
        }
      } catch (error) {
        throw this.translate(error, 'watch', describeRange(range));
      }
      state.minRevision = this.currentRevision + 1;
      if (state.queue.length > 0) this.scheduleFlush();
    }
    this.watchers.add(state);
    return {
      cancel: async () => {
        state.active = false;
        state.queue = [];
        this.watchers.delete(state);
      },
    };
  }

  /** The current store revision. */
  async revision(): Promise<number> {
    this.assertOpen('revision');
    return this.currentRevision;
  }

  /** Resolves when the store can serve requests: it is open and SQLite answers. */
  async ping(): Promise<void> {
    this.assertOpen('ping');
    try {
      this.stmt('SELECT 1').get();
    } catch (error) {
      throw this.translate(error, 'ping');
    }
  }

  /** Size of the SQLite file and of its pages in use; the embedded store raises no alarms. */
  async status(): Promise<StoreStatus> {
    this.assertOpen('status');
    try {
      const pageSize = this.stmt('PRAGMA page_size').pluck().get() as number;
      const pageCount = this.stmt('PRAGMA page_count').pluck().get() as number;
      const freePages = this.stmt('PRAGMA freelist_count').pluck().get() as number;
      return {
        dbSizeBytes: pageSize * pageCount,
        dbSizeInUseBytes: pageSize * (pageCount - freePages),
        alarms: [],
        revision: this.currentRevision,
        compactRevision: this.compactRevision,
      };
    } catch (error) {
      throw this.translate(error, 'status');
    }
  }

  /**
   * Drops watch history before `revision` (as etcd's compact): a later watch
   * from an older revision fails with KV_COMPACTED. Throws KV_COMPACTED when
   * `revision` is already compacted, BAD_REQUEST when it is in the future.
   */
  async compact(revision: number): Promise<void> {
    this.assertOpen('compact');
    if (revision > this.currentRevision) {
      throw new GputelError('BAD_REQUEST', `cannot compact ${this.where} to revision ${revision}: the store is at ${this.currentRevision}`);
    }
    if (revision <= this.compactRevision) {
      throw new GputelError('KV_COMPACTED', `${this.where} is already compacted to revision ${this.compactRevision}`);
    }
    try {
      this.compactTo(revision);
    } catch (error) {
      throw this.translate(error, 'compact');
    }
  }

  /**
   * Stops the lease timer, delivers events already committed, ends every
   * watch with onError(KV_CLOSED) and closes the file. Leases are not revoked:
   * they expire after their TTL (on the next open if the store stays closed).
   * Safe to call twice; both calls resolve when the store is closed.
   */
  close(): Promise<void> {
    this.closing ??= this.closeOnce();
    return this.closing;
  }

  private async closeOnce(): Promise<void> {
    this.closed = true;
    clearInterval(this.leaseTimer);
    this.flush();
    const closed = new GputelError('KV_CLOSED', `${this.where} was closed; the watch ended`);
    for (const state of this.watchers) {
      state.active = false;
      if (state.options.onError !== undefined) state.options.onError(closed);
    }
    this.watchers.clear();
    for (const lease of this.leases.values()) lease.owner = undefined;
    this.leases.clear();
    try {
      this.db.close();
    } catch (error) {
      throw this.translate(error, 'close');
    }
  }

  /** @internal Revokes a lease for its handle. */
  async revokeLease(handle: EmbeddedLease): Promise<void> {
    this.assertOpen('revoke lease', undefined, handle.id);
    const id = Number(handle.id);
    const lease = this.leases.get(id);
    if (lease === undefined) return; // already expired or revoked: revoking is idempotent, as in etcd3
    lease.owner = undefined;
    this.expireLease(id);
  }

  /** @internal Stops keeping a lease alive. */
  releaseLease(handle: EmbeddedLease): void {
    const lease = this.leases.get(Number(handle.id));
    if (lease !== undefined && lease.owner === handle) lease.owner = undefined;
  }

  // ── internals ──────────────────────────────────────────────────────────

  private stmt(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (statement === undefined) {
      statement = this.db.prepare(sql);
      if (statement.reader) statement.raw(true);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  private rangeBounds(bounds: Bounds, options: RangeOptions): Omit<RangeResult, 'revision'> {
    const { where, params } = boundsSql(bounds);
    if (options.countOnly) {
      return { kvs: [], count: this.countBounds(where, params), more: false };
    }
    const limit = options.limit !== undefined && options.limit > 0 ? options.limit : 0;
    const columns = options.keysOnly ? 'key, create_revision, mod_revision, version, lease' : 'key, create_revision, mod_revision, version, lease, value';
    const rows = this.stmt(
      `SELECT ${columns} FROM kv WHERE ${where} ORDER BY key ${options.reverse ? 'DESC' : 'ASC'} LIMIT ?`,
    ).all(...params, limit > 0 ? limit + 1 : -1) as Row[];
    let count = rows.length;
    let more = false;
    if (limit > 0 && rows.length > limit) {
      // Cut short: only now is a count of the whole range worth its scan.
      rows.length = limit;
      more = true;
      count = this.countBounds(where, params);
    }
    const kvs: KeyValue[] = new Array<KeyValue>(rows.length);
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i];
      kvs[i] = {
        key: (row[0] as Buffer).toString('utf8'),
        value: options.keysOnly ? EMPTY : (row[5] as Buffer),
        createRevision: row[1] as number,
        modRevision: row[2] as number,
        version: row[3] as number,
        lease: String(row[4]),
      };
    }
    return { kvs, count, more };
  }

  private countBounds(where: string, params: Buffer[]): number {
    return (this.stmt(`SELECT count(*) FROM kv WHERE ${where}`).get(...params) as Row)[0] as number;
  }

  /** Deletes the keys of `bounds` at `revision`, logging one event per key from `firstSeq` on. Runs inside a transaction. */
  private deleteBounds(bounds: Bounds, revision: number, firstSeq: number): Change[] {
    const { where, params } = boundsSql(bounds);
    const keys = this.stmt(`DELETE FROM kv WHERE ${where} RETURNING key`).all(...params) as Row[];
    // RETURNING promises no order; the events of one delete are logged and delivered in key order.
    if (keys.length > 1) keys.sort((a, b) => Buffer.compare(a[0] as Buffer, b[0] as Buffer));
    const changes: Change[] = new Array<Change>(keys.length);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i][0] as Buffer;
      this.insertEvent.run(revision, firstSeq + i, EVENT_DELETE, key, null, 0);
      changes[i] = { type: 'delete', key, value: EMPTY, revision, createRevision: 0 };
    }
    return changes;
  }

  /** The body of txn(), inside one SQLite transaction; throwing rolls everything back. */
  private applyTxn(request: TxnRequest, leaseIds: Map<string, number>): { result: TxnResult; changes: Change[] } {
    const beginRevision = this.currentRevision;
    const revision = beginRevision + 1;
    const succeeded = (request.compare ?? []).every((compare) => this.evaluate(compare));
    const ops = (succeeded ? request.success : request.failure) ?? [];
    const results: TxnOpResult[] = [];
    const changes: Change[] = [];
    for (const op of ops) {
      if (op.type === 'put') {
        const key = toKeyBytes(op.key);
        const lease = op.lease === undefined || op.lease === '0' ? 0 : leaseIds.get(op.lease)!;
        if (lease === 0 && op.lease !== undefined && op.lease !== '0') throw leaseNotFound(op.lease, op.key, this.where);
        const createRevision = this.upsertKv.get(key, op.value, revision, revision, lease) as number;
        this.insertEvent.run(revision, changes.length, EVENT_PUT, key, op.value, createRevision);
        changes.push({ type: 'put', key, value: op.value, revision, createRevision });
        results.push({ type: 'put' });
      } else if (op.type === 'delete') {
        const deleted = this.deleteBounds(toBounds(op.range), revision, changes.length);
        for (const change of deleted) changes.push(change);
        results.push({ type: 'delete', deleted: deleted.length });
      } else {
        // As in etcd, a range after a write in the same txn sees that write, at the txn's revision.
        const result = this.rangeBounds(toBounds(op.range), op.options ?? {});
        results.push({ type: 'range', result: { ...result, revision: changes.length > 0 ? revision : beginRevision } });
      }
    }
    if (changes.length > 0) this.setMeta.run(revision, 'revision');
    return { result: { succeeded, revision: changes.length > 0 ? revision : beginRevision, results }, changes };
  }

  private evaluate(compare: Compare): boolean {
    const row = this.selectForCompare.get(toKeyBytes(compare.key)) as Row | undefined;
    if (compare.target === 'value') {
      if (!Buffer.isBuffer(compare.operand)) {
        throw new GputelError('BAD_REQUEST', `a value compare on ${compare.key} needs a Buffer operand (${this.where})`);
      }
      // As in etcd: there is no value to compare for a missing key, so the compare is false.
      if (row === undefined) return false;
      return compareHolds(Buffer.compare(row[0] as Buffer, compare.operand), compare.operator);
    }
    if (typeof compare.operand !== 'number') {
      throw new GputelError('BAD_REQUEST', `a ${compare.target} compare on ${compare.key} needs a number operand (${this.where})`);
    }
    // A missing key has version, createRevision and modRevision 0.
    const actual = row === undefined ? 0 : (row[compare.target === 'version' ? 1 : compare.target === 'createRevision' ? 2 : 3] as number);
    return compareHolds(actual - compare.operand, compare.operator);
  }

  private committed(revision: number, changes: Change[]): void {
    this.currentRevision = revision;
    this.eventCount += changes.length;
    for (const change of changes) this.eventBytes += change.key.length + change.value.length;
    if (this.watchers.size > 0) this.notify(changes);
    this.trimHistoryIfDue();
  }

  private notify(changes: Change[]): void {
    for (const state of this.watchers) {
      if (!state.active) continue;
      for (const change of changes) {
        if (change.revision < state.minRevision || !inBounds(change.key, state.bounds)) continue;
        state.queue.push({
          type: change.type,
          key: change.key.toString('utf8'),
          value: change.value,
          modRevision: change.revision,
          createRevision: change.createRevision,
        });
      }
      if (state.queue.length > 0) this.scheduleFlush();
    }
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  /** Hands queued events to their watchers, in order. A handler that throws ends its watch. */
  private flush(): void {
    this.flushScheduled = false;
    for (const state of this.watchers) {
      while (state.active && state.queue.length > 0) {
        const events = state.queue;
        state.queue = [];
        for (const event of events) {
          if (!state.active) break;
          try {
            state.options.onEvent(event);
          } catch (error) {
            state.active = false;
            this.watchers.delete(state);
            const failure = new GputelError('INTERNAL', `a watch handler on ${this.where} threw: ${errorMessage(error)}; the watch ended`, {
              cause: error,
            });
            if (state.options.onError !== undefined) state.options.onError(failure);
            else setImmediate(() => { throw failure; });
          }
        }
      }
    }
  }

  private checkLeases(): void {
    if (this.closed) return;
    const now = Date.now();
    try {
      const renewals: [number, number][] = [];
      for (const [id, lease] of this.leases) {
        if (lease.expiresAtMs <= now) {
          this.expireLease(id);
        } else if (lease.owner !== undefined && lease.expiresAtMs - now < (lease.ttlMs * 2) / 3) {
          // Renew every ~TTL/3, as etcd clients do.
          lease.expiresAtMs = now + lease.ttlMs;
          renewals.push([lease.expiresAtMs, id]);
        }
      }
      if (renewals.length > 0) {
        const update = this.stmt('UPDATE leases SET expires_at_ms = ? WHERE id = ?');
        this.db.transaction(() => {
          for (const [expiresAtMs, id] of renewals) update.run(expiresAtMs, id);
        })();
      }
    } catch (error) {
      // A background timer has no caller to throw to; the next tick tries again.
      process.emitWarning(`${this.where}: lease check failed: ${errorMessage(error)}`);
    }
  }

  /** Deletes a lease and its keys in one revision; tells its owner, if any, that it was lost. */
  private expireLease(id: number): void {
    const lease = this.leases.get(id);
    const revision = this.currentRevision + 1;
    const changes = this.runExpire(id, revision);
    this.leases.delete(id);
    if (changes.length > 0) this.committed(revision, changes);
    if (lease?.owner !== undefined) {
      lease.owner.markLost(
        new GputelError(
          'KV_LEASE_NOT_FOUND',
          `lease ${id} of ${this.where} expired: it was not renewed for ${lease.ttlMs} ms (was the event loop blocked?)`,
        ),
      );
    }
  }

  private trimHistoryIfDue(): void {
    const slackRevisions = Math.max(1, Math.floor(this.historyRevisions / 10));
    const slackEvents = Math.max(1, Math.floor(this.historyEvents / 10));
    const revisionsKept = this.currentRevision - Math.max(this.compactRevision, 1);
    const overBytes = this.eventBytes > this.historyBytes + this.historyBytes / 10;
    if (revisionsKept < this.historyRevisions + slackRevisions && this.eventCount < this.historyEvents + slackEvents && !overBytes) return;
    let keepFrom = Math.max(this.compactRevision, this.currentRevision - this.historyRevisions + 1);
    if (this.eventCount > this.historyEvents) {
      const oldest = this.stmt('SELECT revision FROM events ORDER BY revision DESC, seq DESC LIMIT 1 OFFSET ?').get(
        this.historyEvents - 1,
      ) as Row | undefined;
      // Whole revisions only: the revision that would straddle the bound goes too.
      if (oldest !== undefined) keepFrom = Math.max(keepFrom, (oldest[0] as number) + 1);
    }
    if (overBytes) {
      // The newest revision whose events, with all newer ones, pass the byte bound goes, with all older ones.
      const straddling = this.stmt(
        'SELECT revision FROM (SELECT revision, sum(length(key) + length(value)) OVER (ORDER BY revision DESC, seq DESC) AS newer FROM events) WHERE newer > ? LIMIT 1',
      ).get(this.historyBytes) as Row | undefined;
      if (straddling !== undefined) keepFrom = Math.max(keepFrom, (straddling[0] as number) + 1);
    }
    if (keepFrom > this.compactRevision) {
      try {
        this.compactTo(Math.min(keepFrom, this.currentRevision));
      } catch (error) {
        // The write itself committed; trimming is retried after the next write.
        process.emitWarning(`${this.where}: trimming watch history failed: ${errorMessage(error)}`);
      }
    }
  }

  private compactTo(revision: number): void {
    this.db.transaction(() => {
      const deleted = this.stmt('DELETE FROM events WHERE revision < ?').run(revision).changes;
      this.setMeta.run(revision, 'compact_revision');
      this.eventCount -= deleted;
    })();
    this.eventBytes = this.historyBytesStored();
    this.compactRevision = revision;
  }

  private historyBytesStored(): number {
    return (this.db.prepare('SELECT coalesce(sum(length(key) + length(value)), 0) FROM events').pluck().get() as number) ?? 0;
  }

  private leaseNumber(lease: string | undefined, key: string): number {
    if (lease === undefined || lease === '0') return 0;
    const id = this.leaseNumberOrZero(lease);
    if (id === 0) throw leaseNotFound(lease, key, this.where);
    return id;
  }

  /** The lease's number when it is alive, else 0. */
  private leaseNumberOrZero(lease: string): number {
    const id = Number(lease);
    return Number.isSafeInteger(id) && this.leases.has(id) ? id : 0;
  }

  private checkTxnLimits(request: TxnRequest): void {
    const compares = request.compare ?? [];
    const success = request.success ?? [];
    const failure = request.failure ?? [];
    // etcd checks each list on its own against --max-txn-ops.
    if (compares.length > this.maxTxnOps || success.length > this.maxTxnOps || failure.length > this.maxTxnOps) {
      throw new GputelError(
        'KV_TOO_MANY_OPS',
        `txn on ${firstKeyOf(request)} has ${compares.length} compares, ${success.length} success and ${failure.length} failure ops; ` +
          `${this.where} allows ${this.maxTxnOps} of each (etcd's --max-txn-ops); split it into smaller transactions`,
      );
    }
    let bytes = 0;
    for (const compare of compares) {
      bytes += compare.key.length + OP_OVERHEAD_BYTES + (Buffer.isBuffer(compare.operand) ? compare.operand.length : 0);
    }
    for (const op of success) bytes += opBytes(op);
    for (const op of failure) bytes += opBytes(op);
    this.checkRequestBytes(bytes, 'txn', firstKeyOf(request));
  }

  private checkRequestBytes(bytes: number, what: string, key: string): void {
    if (bytes > this.maxRequestBytes) {
      throw new GputelError(
        'KV_REQUEST_TOO_LARGE',
        `${what} on ${key} is ${bytes} bytes; ${this.where} accepts ${this.maxRequestBytes} (etcd's --max-request-bytes); send smaller batches`,
      );
    }
  }

  private assertOpen(what: string, key?: string, leaseId?: string): void {
    if (this.closed) {
      const target = key !== undefined ? ` on ${key}` : leaseId !== undefined ? ` of lease ${leaseId}` : '';
      throw new GputelError('KV_CLOSED', `${what}${target} failed: ${this.where} is closed`);
    }
  }

  /** The one place SQLite errors become GputelErrors. */
  private translate(error: unknown, what: string, key?: string): GputelError {
    if (error instanceof GputelError) return error;
    const target = key !== undefined ? ` on ${key}` : '';
    const code = typeof (error as { code?: unknown }).code === 'string' ? (error as { code: string }).code : '';
    const detail = errorMessage(error);
    if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
      return new GputelError(
        'KV_UNAVAILABLE',
        `${what}${target} failed: ${this.where} is in use by another process (${detail}); stop it, or point this one at etcd`,
        { retryable: true, cause: error },
      );
    }
    if (code === 'SQLITE_FULL') {
      return new GputelError('KV_FAILED', `${what}${target} failed: the disk of ${this.where} is full (${detail})`, { cause: error });
    }
    return new GputelError('KV_FAILED', `${what}${target} failed in ${this.where}: ${detail}`, { cause: error });
  }
}

// ── pure helpers ───────────────────────────────────────────────────────────

function toKeyBytes(key: string): Buffer {
  if (key.length === 0) throw new GputelError('BAD_KEY', 'a key must not be empty (etcd rejects it too)');
  return Buffer.from(key, 'utf8');
}

function singleKey(key: string): Bounds {
  return { kind: 'single', start: toKeyBytes(key), end: EMPTY };
}

/** etcd's reading of a range: a prefix, a single key, [start, end), or start onwards when end is "\0". */
function toBounds(range: KeyRange): Bounds {
  if ('prefix' in range) {
    if (range.prefix.length === 0) return { kind: 'from', start: EMPTY, end: EMPTY };
    return { kind: 'bounded', start: Buffer.from(range.prefix, 'utf8'), end: Buffer.from(prefixEnd(range.prefix), 'utf8') };
  }
  if (range.end === undefined) return singleKey(range.start);
  if (range.end === '\0') return { kind: 'from', start: Buffer.from(range.start, 'utf8'), end: EMPTY };
  return { kind: 'bounded', start: Buffer.from(range.start, 'utf8'), end: Buffer.from(range.end, 'utf8') };
}

/**
 * Adds events.create_revision to a store written before watch events carried
 * it (CREATE TABLE IF NOT EXISTS leaves an existing table as it is). Its old
 * rows stay NULL, which watch replays read as creates.
 */
function addCreateRevisionColumn(db: Database.Database): void {
  const columns = db.prepare('PRAGMA table_info(events)').all() as { name: string }[];
  if (!columns.some((column) => column.name === 'create_revision')) db.exec('ALTER TABLE events ADD COLUMN create_revision INTEGER');
}

function boundsSql(bounds: Bounds): { where: string; params: Buffer[] } {
  switch (bounds.kind) {
    case 'single':
      return { where: 'key = ?', params: [bounds.start] };
    case 'bounded':
      return { where: 'key >= ? AND key < ?', params: [bounds.start, bounds.end] };
    case 'from':
      return { where: 'key >= ?', params: [bounds.start] };
  }
}

function inBounds(key: Buffer, bounds: Bounds): boolean {
  switch (bounds.kind) {
    case 'single':
      return key.equals(bounds.start);
    case 'bounded':
      return Buffer.compare(key, bounds.start) >= 0 && Buffer.compare(key, bounds.end) < 0;
    case 'from':
      return Buffer.compare(key, bounds.start) >= 0;
  }
}

/**
 * etcd refuses a branch that puts one key twice, or puts a key it also
 * deletes ("duplicate key given in txn request"); so does this driver.
 */
function checkDuplicateKeys(ops: TxnOp[], where: string): void {
  let puts: Set<string> | undefined;
  let deletes: Bounds[] | undefined;
  for (const op of ops) {
    if (op.type === 'delete') (deletes ??= []).push(toBounds(op.range));
  }
  for (const op of ops) {
    if (op.type !== 'put') continue;
    puts ??= new Set();
    const keyBytes = deletes === undefined ? undefined : Buffer.from(op.key, 'utf8');
    if (puts.has(op.key) || (keyBytes !== undefined && deletes!.some((bounds) => inBounds(keyBytes, bounds)))) {
      throw new GputelError('BAD_REQUEST', `txn puts ${op.key} twice, or puts and deletes it, in one branch; ${where} refuses that as etcd does`);
    }
    puts.add(op.key);
  }
}

function opBytes(op: TxnOp): number {
  switch (op.type) {
    case 'put':
      return op.key.length + op.value.length + OP_OVERHEAD_BYTES;
    case 'delete':
    case 'range':
      return describeRange(op.range).length + OP_OVERHEAD_BYTES;
  }
}

function leaseNotFound(lease: string, key: string, where: string): GputelError {
  return new GputelError('KV_LEASE_NOT_FOUND', `put of ${key} with lease ${lease} failed: the lease does not exist in ${where} (expired or revoked)`);
}


