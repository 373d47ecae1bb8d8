/**
 * The `etcd` driver: the KV contract of `kv-store.ts` on etcd v3 through the
 * `etcd3` client. It is a thin translation: requests go to the low-level
 * `client.kv` RPC services (txn with mixed compare targets, count-only and
 * sorted ranges are awkward in the builders), revisions come back as strings
 * and become numbers here, and every foreign error becomes a GputelError once,
 * in `translateEtcdError`.
 *
 * etcd's limits (--max-txn-ops, --max-request-bytes) are NOT checked here:
 * the server is the authority and operators may raise them; its refusals
 * come back as KV_TOO_MANY_OPS / KV_REQUEST_TOO_LARGE.
 */
import { ConstantBackoff, handleType, noop, retry } from 'cockatiel';
import {
  ClientClosedError,
  Etcd3,
  EtcdLeaseInvalidError,
  GRPCCancelledError,
  GRPCDeadlineExceededError,
  GRPCResourceExhastedError,
  GRPCUnavailableError,
  type ICompare,
  type IKeyValue,
  type IRangeRequest,
  type IRequestOp,
  type IWatchResponse,
  type Lease as Etcd3Lease,
  type Watcher as Etcd3Watcher,
} from 'etcd3';
import { GputelError, errorMessage } from '../common/gputel-error.js';
import {
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
  type WatchOptions,
  type Watcher,
} from './kv-store.js';
import { startEtcdRequest } from './etcd-request-metrics.js';
import { LeaseHandle } from './lease-handle.js';
import { describeRange, firstKeyOf } from './request-description.js';

export interface EtcdKvStoreOptions {
  /** Client URLs of the etcd members, e.g. `http://127.0.0.1:2379`. */
  endpoints: string[];
  /** How long `connect` waits for etcd to answer (default 5,000 ms). */
  dialTimeoutMs?: number;
  /** Deadline of every unary request (default 10,000 ms); streams (watch, keep-alive) have none. */
  requestTimeoutMs?: number;
  /** Deadline of `ping` (default 2,000 ms), short so that /readyz answers quickly. */
  pingTimeoutMs?: number;
  /** TLS to etcd: the CA of etcd's certificate, and a client certificate and key for --client-cert-auth (PEM bytes). */
  tls?: { ca: Buffer; cert?: Buffer; key?: Buffer };
  /** etcd user and password, when etcd has auth enabled; the client exchanges them for a token. */
  auth?: { username: string; password: string };
  /**
   * The key read (count only) to learn the revision and that a quorum
   * answers (connect, ping, revision). With etcd auth a user may read only
   * its own prefix, so give a key under the root (`/gputel/`); default "\0".
   */
  probeKey?: string;
}

const DEFAULT_DIAL_TIMEOUT_MS = 5_000;
const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
const DEFAULT_PING_TIMEOUT_MS = 2_000;
const DIAL_RETRY_INTERVAL_MS = 250;
/** How long a watch cancel waits for etcd's acknowledgement before it lets go. */
const WATCH_CANCEL_TIMEOUT_MS = 2_000;
/** etcd's range_end "\0": every key from `key` on. Also the key of an empty prefix (etcd refuses an empty key). */
const ZERO_KEY = Buffer.from([0]);
const EMPTY = Buffer.alloc(0);

const COMPARE_TARGET = { value: 'Value', version: 'Version', createRevision: 'Create', modRevision: 'Mod' } as const;
const COMPARE_RESULT = { '==': 'Equal', '!=': 'NotEqual', '<': 'Less', '>': 'Greater' } as const;

/** A lease on etcd. `release()` stops keep-alive without revoking (etcd3's `Lease.release()`). */
export class EtcdLease extends LeaseHandle {
  constructor(
    id: string,
    private readonly lease: Etcd3Lease,
    private readonly store: EtcdKvStore,
  ) {
    super(id);
  }

  /** Stops keep-alive; etcd expires the lease after its TTL and onLost is not called. */
  release(): void {
    this.lease.release();
    this.store.forgetLease(this);
  }

  /** Revokes the lease, deleting its keys; revoking a lost lease succeeds. */
  protected revokeOnce(): Promise<void> {
    return this.store.revokeLease(this, this.lease);
  }
}

/** One watch of this driver: its etcd3 watcher and where its delivery stands. */
interface WatchState {
  watcher: Etcd3Watcher;
  options: WatchOptions;
  description: string;
  /** The next revision to deliver; what a reconnect resumes from. Undefined until etcd acknowledged the watch. */
  nextRevision: number | undefined;
  connected: boolean;
  done: boolean;
  cancelling: Promise<void> | undefined;
}

/** A KvStore on an etcd cluster. Create it with `EtcdKvStore.connect` (or `new` for a lazy client). */
export class EtcdKvStore implements KvStore {
  readonly driver = 'etcd';
  private readonly client: Etcd3;
  private readonly where: string;
  private readonly dialTimeoutMs: number;
  private readonly requestTimeoutMs: number;
  private readonly pingTimeoutMs: number;
  private readonly probeKey: Buffer;
  private readonly leases = new Set<EtcdLease>();
  private readonly watches = new Set<WatchState>();
  private closed = false;
  private closing: Promise<void> | undefined;
  /** The highest revision this client compacted to (etcd's Status does not report the compacted revision). */
  private lastCompactRevision = 0;

  /**
   * Creates a client for `options.endpoints` and waits until etcd answers,
   * for at most dialTimeoutMs. Throws KV_UNAVAILABLE (retryable) when it does
   * not, BAD_CONFIG when no endpoint is given. The caller owns the store and must close() it.
   */
  static async connect(options: EtcdKvStoreOptions): Promise<EtcdKvStore> {
    const store = new EtcdKvStore(options);
    try {
      await store.waitUntilReachable();
    } catch (error) {
      await store.close();
      throw error;
    }
    return store;
  }

  /** Creates the client without contacting etcd; the first request connects. Prefer `connect`. */
  constructor(options: EtcdKvStoreOptions) {
    if (options.endpoints.length === 0) {
      throw new GputelError('BAD_CONFIG', 'the etcd driver needs at least one endpoint, e.g. http://127.0.0.1:2379');
    }
    this.where = `etcd ${options.endpoints.join(',')}`;
    this.dialTimeoutMs = options.dialTimeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS;
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.pingTimeoutMs = options.pingTimeoutMs ?? DEFAULT_PING_TIMEOUT_MS;
    this.probeKey = options.probeKey === undefined || options.probeKey === '' ? ZERO_KEY : Buffer.from(options.probeKey, 'utf8');
    const requestTimeoutMs = this.requestTimeoutMs;
    this.client = new Etcd3({
      hosts: options.endpoints,
      ...(options.tls === undefined ? {} : { credentials: { rootCertificate: options.tls.ca, privateKey: options.tls.key, certChain: options.tls.cert } }),
      ...(options.auth === undefined ? {} : { auth: options.auth }),
      // Fault handling, chosen on purpose (MEASUREMENTS.md): etcd3's default
      // retries anything "recoverable", RESOURCE_EXHAUSTED included, and its
      // per-host circuit breaker then fails the NEXT small request with
      // BrokenCircuitError for ~5 s. Our callers retry on their own (they know
      // what is idempotent), so: no circuit breaker per host, and across hosts
      // only a retry of UNAVAILABLE on the next member (a dead or leaderless
      // member), never of a refused or oversized request. With one endpoint
      // there is nowhere else to go, hence no retry at all.
      // (`Policy.noop` from etcd3's docs is undefined in cockatiel 3.2.1: use `noop`.)
      faultHandling: {
        host: () => noop,
        global:
          options.endpoints.length > 1
            ? retry(handleType(GRPCUnavailableError), { maxAttempts: options.endpoints.length - 1, backoff: new ConstantBackoff(0) })
            : noop,
      },
      // grpc-js refuses responses over 4 MiB by default: a range of 10,000
      // 1 KiB values (10 MB) failed with RESOURCE_EXHAUSTED. etcd itself sends
      // responses of any size; bounding a range is the caller's job (limit).
      grpcOptions: { 'grpc.max_receive_message_length': -1 },
      // A deadline on every unary call: without one a call to a partitioned
      // member waits forever. Streams (watch, lease keep-alive) live on.
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + requestTimeoutMs }),
    });
  }

  /** The value of one key, or undefined when it does not exist. */
  async get(key: string): Promise<KeyValue | undefined> {
    this.assertOpen('get', key);
    const timer = startEtcdRequest('get');
    try {
      const response = await this.client.kv.range({ key: keyBytes(key) });
      timer.succeeded();
      return response.kvs.length > 0 ? toKeyValue(response.kvs[0], false) : undefined;
    } catch (error) {
      throw timer.failed(translateEtcdError(error, 'get', key, this.where));
    }
  }

  /** Keys of `range` in byte order (reverse: descending); `count` is the whole range regardless of limit. */
  async range(range: KeyRange, options: RangeOptions = {}): Promise<RangeResult> {
    this.assertOpen('range', describeRange(range));
    const timer = startEtcdRequest('range');
    try {
      const response = await this.client.kv.range(rangeRequest(range, options));
      timer.succeeded();
      return {
        kvs: response.kvs.map((kv) => toKeyValue(kv, options.keysOnly === true)),
        count: Number(response.count),
        more: response.more,
        revision: Number(response.header.revision),
      };
    } catch (error) {
      throw timer.failed(translateEtcdError(error, 'range', describeRange(range), this.where));
    }
  }

  /** Writes one key in its own revision. Throws KV_LEASE_NOT_FOUND for an unknown lease, KV_REQUEST_TOO_LARGE over etcd's limit. */
  async put(key: string, value: Buffer, options: { lease?: string } = {}): Promise<{ revision: number }> {
    this.assertOpen('put', key);
    const timer = startEtcdRequest('put');
    try {
      const response = await this.client.kv.put({ key: keyBytes(key), value, lease: options.lease ?? '0' });
      timer.succeeded();
      return { revision: Number(response.header.revision) };
    } catch (error) {
      throw timer.failed(translateEtcdError(error, 'put', key, this.where));
    }
  }

  /** Deletes the keys of `range`; the revision moves only when something was deleted. */
  async delete(range: KeyRange): Promise<{ deleted: number; revision: number }> {
    this.assertOpen('delete', describeRange(range));
    const timer = startEtcdRequest('delete');
    try {
      const response = await this.client.kv.deleteRange(etcdRange(range));
      timer.succeeded();
      return { deleted: Number(response.deleted), revision: Number(response.header.revision) };
    } catch (error) {
      throw timer.failed(translateEtcdError(error, 'delete', describeRange(range), this.where));
    }
  }

  /** One etcd txn. etcd refuses more than --max-txn-ops (KV_TOO_MANY_OPS) and a key put twice in a branch (BAD_REQUEST). */
  async txn(request: TxnRequest): Promise<TxnResult> {
    const target = firstKeyOf(request);
    this.assertOpen('txn', target);
    const compares = (request.compare ?? []).map(toEtcdCompare);
    const success = request.success ?? [];
    const failure = request.failure ?? [];
    const timer = startEtcdRequest('txn');
    try {
      const response = await this.client.kv.txn({
        compare: compares,
        success: success.map(toRequestOp),
        failure: failure.map(toRequestOp),
      });
      timer.succeeded();
      const revision = Number(response.header.revision);
      const ops = response.succeeded ? success : failure;
      const results: TxnOpResult[] = ops.map((op, index): TxnOpResult => {
        const reply = response.responses[index];
        switch (op.type) {
          case 'put':
            return { type: 'put' };
          case 'delete':
            return { type: 'delete', deleted: Number(reply.response_delete_range.deleted) };
          case 'range': {
            const range = reply.response_range;
            const keysOnly = op.options?.keysOnly === true;
            return {
              type: 'range',
              result: {
                kvs: range.kvs.map((kv) => toKeyValue(kv, keysOnly)),
                count: Number(range.count),
                more: range.more,
                // etcd fills the header of a range inside a txn with the revision it read at.
                revision: Number(range.header?.revision ?? 0) || revision,
              },
            };
          }
        }
      });
      return { succeeded: response.succeeded, revision, results };
    } catch (error) {
      throw timer.failed(translateEtcdError(error, 'txn', target, this.where));
    }
  }

  /** Grants a lease (etcd raises a TTL under 2 s to 2 s) kept alive by etcd3 until revoked, released or closed. */
  async grantLease(ttlSeconds: number): Promise<EtcdLease> {
    this.assertOpen('grant lease');
    if (!Number.isFinite(ttlSeconds) || ttlSeconds <= 0) {
      throw new GputelError('BAD_REQUEST', `lease TTL must be a positive number of seconds, got ${ttlSeconds} (${this.where})`);
    }
    const lease = this.client.lease(Math.ceil(ttlSeconds), { autoKeepAlive: true });
    const granted: { handle?: EtcdLease } = {};
    // etcd3 reports a loss as an event; it becomes onLost, never an unhandled rejection.
    lease.on('lost', (error) => {
      const handle = granted.handle;
      if (handle === undefined) return; // a failed grant: grant() below rejects instead
      this.leases.delete(handle);
      handle.markLost(translateEtcdError(error, `keep-alive of lease ${handle.id}`, undefined, this.where, 'KV_LEASE_NOT_FOUND'));
    });
    let id: string;
    const timer = startEtcdRequest('lease_grant');
    try {
      id = await lease.grant();
      timer.succeeded();
    } catch (error) {
      throw timer.failed(translateEtcdError(error, 'grant lease', undefined, this.where));
    }
    const handle = new EtcdLease(id, lease, this);
    granted.handle = handle;
    this.leases.add(handle);
    return handle;
  }

  /**
   * Delivers changes of `range` to `options.onEvent` in revision order. With
   * `fromRevision`, history from there is replayed first. Rejects with
   * KV_COMPACTED when fromRevision is compacted; a watch cut off later (etcd
   * compacted past it during a reconnect) ends with onError(KV_COMPACTED).
   * Reconnects resume from the revision after the last one delivered, so
   * nothing is skipped or repeated.
   */
  async watch(range: KeyRange, options: WatchOptions): Promise<Watcher> {
    const description = describeRange(range);
    this.assertOpen('watch', description);
    const fromRevision = options.fromRevision ?? 0;
    if (fromRevision > 0) await this.assertNotCompacted(range, fromRevision, description);
    const { key, range_end } = etcdRange(range);
    const builder = this.client.watch();
    if (range_end === undefined) builder.key(key);
    else builder.inRange({ start: key, end: range_end });
    if (fromRevision > 0) builder.startRevision(String(fromRevision));
    // watcher() rather than create(): the listeners must be in place before
    // the first response can arrive, or replayed history could slip past them.
    const watcher = builder.watcher();
    const state: WatchState = {
      watcher,
      options,
      description,
      nextRevision: fromRevision > 0 ? fromRevision : undefined,
      connected: false,
      done: false,
      cancelling: undefined,
    };
    watcher.on('data', (response: IWatchResponse) => this.deliver(state, response));
    watcher.on('connected', (response: IWatchResponse) => {
      // Set here, not after the await below: a cancel (compaction) can follow in the same tick.
      state.connected = true;
      state.nextRevision ??= Number(response.header.revision) + 1;
    });
    watcher.on('disconnected', () => {
      // etcd3 resumes from the header revision of the last response, which
      // during a history replay is ahead of the events delivered so far:
      // resume from our own position instead.
      if (state.nextRevision !== undefined) watcher.request.start_revision = String(state.nextRevision);
    });
    watcher.on('error', (error: Error) => {
      if (state.connected) this.endWatchOnError(state, error);
    });
    const timer = startEtcdRequest('watch');
    try {
      await this.waitForWatchCreated(state);
      timer.succeeded();
    } catch (error) {
      state.done = true;
      await this.detach(state);
      throw timer.failed(translateEtcdError(error, 'watch', description, this.where));
    }
    if (!state.done) this.watches.add(state);
    return { cancel: () => this.cancelWatch(state) };
  }

  /** The current revision of the cluster (a linearizable read). */
  async revision(): Promise<number> {
    this.assertOpen('revision');
    const timer = startEtcdRequest('revision');
    try {
      const response = await this.client.kv.range({ key: this.probeKey, count_only: true });
      timer.succeeded();
      return Number(response.header.revision);
    } catch (error) {
      throw timer.failed(translateEtcdError(error, 'revision', undefined, this.where));
    }
  }

  /**
   * Resolves when a quorum answers a linearizable read within pingTimeoutMs
   * and no alarm is raised; throws KV_UNAVAILABLE (retryable) when etcd does
   * not answer, KV_NO_SPACE when its NOSPACE alarm refuses every write.
   */
  async ping(): Promise<void> {
    this.assertOpen('ping');
    const deadline = Date.now() + this.pingTimeoutMs;
    let alarms: string[];
    const timer = startEtcdRequest('ping');
    try {
      const [, alarm] = await Promise.all([
        this.client.kv.range({ key: this.probeKey, count_only: true }, { deadline }),
        this.client.maintenance.alarm({ action: 'Get', memberID: 0, alarm: 'None' }, { deadline }),
      ]);
      timer.succeeded();
      alarms = alarm.alarms.map((a) => a.alarm.toUpperCase());
    } catch (error) {
      throw timer.failed(translateEtcdError(error, 'ping', undefined, this.where));
    }
    if (alarms.includes('NOSPACE')) throw noSpaceError(`ping of ${this.where}`, undefined);
    if (alarms.length > 0) {
      throw new GputelError('KV_UNAVAILABLE', `${this.where} has raised the alarm(s) ${alarms.join(', ')}; see etcd's log and docs/etcd-operations.md`, {
        retryable: true,
      });
    }
  }

  /**
   * dbSize and dbSizeInUse of the member that answers, the cluster's alarms,
   * the revision and (best effort) the compacted revision. Throws
   * KV_UNAVAILABLE when etcd does not answer within pingTimeoutMs.
   */
  async status(): Promise<StoreStatus> {
    this.assertOpen('status');
    const deadline = Date.now() + this.pingTimeoutMs;
    const timer = startEtcdRequest('status');
    try {
      const [status, alarm] = await Promise.all([
        this.client.maintenance.status({ deadline }),
        this.client.maintenance.alarm({ action: 'Get', memberID: 0, alarm: 'None' }, { deadline }),
      ]);
      timer.succeeded();
      return {
        dbSizeBytes: Number(status.dbSize),
        dbSizeInUseBytes: Number(status.dbSizeInUse),
        alarms: [...new Set(alarm.alarms.map((a) => a.alarm.toUpperCase()))],
        revision: Number(status.header.revision),
        compactRevision: this.lastCompactRevision,
      };
    } catch (error) {
      throw timer.failed(translateEtcdError(error, 'status', undefined, this.where));
    }
  }

  /**
   * Compacts etcd's history before `revision` (physically). Watches from an
   * older revision then fail with KV_COMPACTED. Throws KV_COMPACTED when that
   * revision already is, BAD_REQUEST when it is in the future.
   */
  async compact(revision: number): Promise<void> {
    this.assertOpen('compact');
    const timer = startEtcdRequest('compact');
    try {
      await this.client.kv.compact({ revision, physical: true });
      timer.succeeded();
      this.lastCompactRevision = Math.max(this.lastCompactRevision, revision);
    } catch (error) {
      throw timer.failed(translateEtcdError(error, `compact to revision ${revision}`, undefined, this.where));
    }
  }

  /**
   * Stops lease keep-alives (leases then expire after their TTL; revoke them
   * first for a faster handover), ends every watch with onError(KV_CLOSED) and
   * closes the connections. Safe to call twice; both calls resolve when closed.
   */
  close(): Promise<void> {
    this.closing ??= this.closeOnce();
    return this.closing;
  }

  private async closeOnce(): Promise<void> {
    this.closed = true;
    // Released before the client closes: otherwise etcd3's keep-alive loop
    // keeps retrying on the closed client until 2 × TTL has passed.
    for (const lease of this.leases) lease.release();
    this.leases.clear();
    const closedError = new GputelError('KV_CLOSED', `${this.where}: the store was closed; the watch ended`);
    // Watchers are detached first for the same reason: etcd3's watch manager
    // would otherwise reconnect forever on a closed client.
    await Promise.all(
      [...this.watches].map(async (state) => {
        const wasActive = !state.done;
        await this.cancelWatch(state);
        if (wasActive) state.options.onError?.(closedError);
      }),
    );
    this.client.close();
  }

  /** @internal */
  async revokeLease(handle: EtcdLease, lease: Etcd3Lease): Promise<void> {
    this.assertOpen('revoke lease', `lease ${handle.id}`);
    this.leases.delete(handle);
    const timer = startEtcdRequest('lease_revoke');
    try {
      await lease.revoke();
      timer.succeeded();
    } catch (error) {
      throw timer.failed(translateEtcdError(error, `revoke lease ${handle.id}`, undefined, this.where));
    }
  }

  /** @internal */
  forgetLease(handle: EtcdLease): void {
    this.leases.delete(handle);
  }

  // ── internals ──────────────────────────────────────────────────────────

  private async waitUntilReachable(): Promise<void> {
    const giveUpAt = Date.now() + this.dialTimeoutMs;
    let cause: string | undefined;
    // A try refused with advice of its own (a certificate etcd or this client does not accept, say): the last try may
    // end on the deadline alone, and that advice must not be lost to the generic one.
    let advised: { error: unknown; translated: GputelError } | undefined;
    for (;;) {
      try {
        await this.client.kv.range({ key: this.probeKey, count_only: true }, { deadline: giveUpAt });
        return;
      } catch (caught) {
        let error = caught;
        let translated = translateEtcdError(error, 'connect', undefined, this.where);
        if (!translated.message.endsWith(UNREACHABLE_HINT)) advised = { error, translated };
        else if (advised !== undefined) ({ error, translated } = advised);
        // The last try often ends on the deadline itself: the cause worth naming is the one before it (refused, not found).
        cause = unreachableCause(errorMessage(caught)) ?? cause;
        if (!translated.retryable || Date.now() + DIAL_RETRY_INTERVAL_MS >= giveUpAt) {
          // Not answering at all: said once, what, where and what to do; a TLS or auth refusal keeps its own advice.
          const message = translated.message.endsWith(UNREACHABLE_HINT)
            ? `cannot reach ${this.where} within ${this.dialTimeoutMs} ms (${cause ?? 'no answer'}): check that etcd runs and that the endpoints (--etcd, GPUTEL_ETCD) are its client URLs, then retry`
            : `${translated.message} (gave up after ${this.dialTimeoutMs} ms)`;
          throw new GputelError(translated.code, message, { retryable: translated.retryable, cause: error });
        }
        await new Promise((resolve) => setTimeout(resolve, DIAL_RETRY_INTERVAL_MS));
      }
    }
  }

  /** A range read at `revision` fails exactly when a watch from it would: etcd compacted it. */
  private async assertNotCompacted(range: KeyRange, revision: number, description: string): Promise<void> {
    try {
      await this.client.kv.range({ ...etcdRange(range), revision, count_only: true });
    } catch (error) {
      const translated = translateEtcdError(error, `watch from revision ${revision}`, description, this.where);
      // A future revision is fine for a watch: it waits for it.
      if (/future revision/.test(errorMessage(error))) return;
      throw translated;
    }
  }

  private waitForWatchCreated(state: WatchState): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(new GRPCUnavailableError(`etcd did not acknowledge the watch within ${this.requestTimeoutMs} ms`));
      }, this.requestTimeoutMs);
      const onConnected = (): void => {
        cleanup();
        resolve();
      };
      const onError = (error: Error): void => {
        cleanup();
        reject(error);
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        state.watcher.removeListener('connected', onConnected);
        state.watcher.removeListener('error', onError);
      };
      state.watcher.on('connected', onConnected);
      state.watcher.on('error', onError);
    });
  }

  private deliver(state: WatchState, response: IWatchResponse): void {
    if (state.done) return;
    const from = state.nextRevision ?? 0;
    let last = 0;
    for (const event of response.events) {
      const modRevision = Number(event.kv.mod_revision);
      // After a reconnect etcd may send again what was delivered before it.
      if (modRevision < from) continue;
      last = modRevision;
      try {
        state.options.onEvent({
          type: event.type === 'Put' ? 'put' : 'delete',
          key: event.kv.key.toString('utf8'),
          value: event.type === 'Put' ? event.kv.value : EMPTY,
          modRevision,
          createRevision: event.type === 'Put' ? Number(event.kv.create_revision) : 0,
        });
      } catch (error) {
        this.endWatchOnError(
          state,
          new GputelError('INTERNAL', `a watch handler on ${state.description} (${this.where}) threw: ${errorMessage(error)}; the watch ended`, {
            cause: error,
          }),
        );
        return;
      }
      if (state.done) return;
    }
    // etcd never splits one revision over two responses (no fragmenting), so
    // after a response every revision up to the last one is complete.
    if (last > 0) state.nextRevision = last + 1;
  }

  /** Ends a watch that cannot go on, and tells its owner why (once). */
  private endWatchOnError(state: WatchState, error: Error): void {
    if (state.done) return;
    state.done = true;
    this.watches.delete(state);
    void this.explainWatchError(state, error).then((translated) => {
      void this.detach(state);
      if (state.options.onError !== undefined) state.options.onError(translated);
      else setImmediate(() => { throw translated; });
    });
  }

  /**
   * etcd cancels a watch on a compacted revision with an empty reason
   * ("Watcher canceled: "); a range read at the watch's position tells
   * whether that was the cause.
   */
  private async explainWatchError(state: WatchState, error: Error): Promise<GputelError> {
    if (error instanceof GputelError) return error;
    if (state.nextRevision !== undefined && !this.closed) {
      try {
        await this.client.kv.range({ key: ZERO_KEY, revision: state.nextRevision, count_only: true });
      } catch (probeError) {
        if (/compacted/.test(errorMessage(probeError))) {
          return new GputelError(
            'KV_COMPACTED',
            `watch of ${state.description} on ${this.where} was cut off: revision ${state.nextRevision} has been compacted; ` +
              're-read the current state and watch from its revision',
            { cause: error },
          );
        }
      }
    }
    return translateEtcdError(error, 'watch', state.description, this.where);
  }

  private cancelWatch(state: WatchState): Promise<void> {
    state.cancelling ??= (async () => {
      state.done = true;
      this.watches.delete(state);
      await this.detach(state);
    })();
    return state.cancelling;
  }

  /** Detaches the etcd3 watcher, waiting at most WATCH_CANCEL_TIMEOUT_MS for etcd's acknowledgement. */
  private async detach(state: WatchState): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        state.watcher.cancel(),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, WATCH_CANCEL_TIMEOUT_MS);
        }),
      ]);
    } catch {
      // The stream is already gone (etcd down, client closing): nothing is left to cancel.
    } finally {
      clearTimeout(timer);
    }
  }

  private assertOpen(what: string, target?: string): void {
    if (this.closed) {
      throw new GputelError('KV_CLOSED', `${what}${target !== undefined ? ` on ${target}` : ''} failed: the store of ${this.where} is closed`);
    }
  }
}

/**
 * What etcd and gRPC say while a member restarts, a leader is elected, or the
 * network drops: each of these may succeed on retry (with backoff). Seen here:
 * "14 UNAVAILABLE: No connection established", "connect ECONNREFUSED",
 * "etcdserver: leader changed", "etcdserver: request timed out",
 * "etcdserver: no leader", and etcd3's circuit-breaker refusal; and, while
 * etcd restarts under a call in flight, gRPC's "13 INTERNAL: Received
 * RST_STREAM with code 0 (Call ended without gRPC status)" (a CI run failed a
 * streamer on it), "Stream removed", GOAWAY, EPIPE and "socket hang up".
 */
const TRANSIENT_ETCD_ERROR =
  /no leader|leader changed|request timed out|timed out|ECONNREFUSED|ECONNRESET|connection refused|No connection established|UNAVAILABLE|DEADLINE_EXCEEDED|server stopped|not capable|unhealthy cluster|too many requests|BrokenCircuitError|circuit breaker|RST_STREAM|Stream removed|GOAWAY|EPIPE|socket hang up/i;

/**
 * etcd's backend quota is full (its NOSPACE alarm): every write fails until an
 * operator compacts, defragments and disarms. Retryable: it heals then, and no
 * message may be dead-lettered for it.
 */
function noSpaceError(what: string, key: string | undefined, cause?: unknown, where?: string): GputelError {
  const target = `${what}${key !== undefined ? ` of ${key}` : ''}${where !== undefined ? ` on ${where}` : ''}`;
  return new GputelError(
    'KV_NO_SPACE',
    `${target} failed: etcd is out of space (NOSPACE alarm): compact, defragment and disarm it ` +
      '(etcdctl compact REV; etcdctl defrag; etcdctl alarm disarm) or raise its --quota-backend-bytes; see docs/etcd-operations.md',
    { retryable: true, cause },
  );
}

/** The advice on an etcd that does not answer; waitUntilReachable tells its translation by it. */
const UNREACHABLE_HINT = 'etcd did not answer; check that it runs and is reachable, then retry';

/**
 * gRPC's text made readable: without an empty "Resolution note:" and the
 * "Error: " of a nested error's name. The raw text stays on the error's cause.
 */
export function readableGrpcDetail(detail: string): string {
  return detail
    .replace(/\.?\s*Resolution note:\s*(?=;|$)/g, '')
    .replace(/Last error: Error: /g, 'last error: ')
    .trim();
}

/**
 * Why a connection to etcd failed, in a few words (connection refused, host
 * name not found, TLS handshake failed), or undefined when the text says
 * only that time ran out (a deadline), which names no cause.
 */
export function unreachableCause(detail: string): string | undefined {
  const refused = /ECONNREFUSED (\S+?)\.?(?:\s|$)/.exec(detail);
  if (refused) return `connection refused by ${refused[1]}`;
  if (/ECONNREFUSED|connection refused/i.test(detail)) return 'connection refused';
  if (/ENOTFOUND|EAI_AGAIN|Name resolution failed|DNS resolution failed/i.test(detail)) return 'host name not found';
  if (/ECONNRESET|socket hang up/i.test(detail)) return 'the connection was reset';
  if (/EHOSTUNREACH|ENETUNREACH/i.test(detail)) return 'no route to the host';
  if (/DEADLINE_EXCEEDED|Deadline exceeded|timed out/i.test(detail)) return undefined;
  return readableGrpcDetail(detail.replace(/^\d+ [A-Z_]+: /, ''));
}

/**
 * The one place etcd3/gRPC errors become GputelErrors: a stable code, whether
 * a retry can help, and a message naming the operation, key and endpoints.
 */
export function translateEtcdError(
  error: unknown,
  what: string,
  key: string | undefined,
  where: string,
  fallback: 'KV_FAILED' | 'KV_LEASE_NOT_FOUND' = 'KV_FAILED',
): GputelError {
  if (error instanceof GputelError) return error;
  const detail = errorMessage(error);
  const prefix = `${what}${key !== undefined ? ` of ${key}` : ''} on ${where} failed: ${readableGrpcDetail(detail)}`;
  const fail = (code: GputelError['code'], hint: string, retryable = false): GputelError =>
    new GputelError(code, hint.length > 0 ? `${prefix}; ${hint}` : prefix, { retryable, cause: error });

  if (detail.includes('too many operations in txn request')) {
    return fail('KV_TOO_MANY_OPS', "split the transaction: etcd allows --max-txn-ops (default 128) operations per list");
  }
  if (detail.includes('request is too large')) {
    return fail('KV_REQUEST_TOO_LARGE', 'send smaller requests: etcd refuses more than --max-request-bytes (default 1.5 MiB)');
  }
  if (detail.includes('too many requests')) return fail('KV_UNAVAILABLE', 'etcd is overloaded; retry with backoff', true);
  if (detail.includes('database space exceeded') || /NOSPACE/.test(detail)) return noSpaceError(what, key, error, where);
  if (detail.includes('Received message larger than max')) {
    return fail('KV_REQUEST_TOO_LARGE', 'the response was larger than the client accepts; read the range in pages (limit)');
  }
  if (error instanceof GRPCResourceExhastedError || detail.includes('RESOURCE_EXHAUSTED')) {
    return fail('KV_REQUEST_TOO_LARGE', 'the gRPC layer refused a message over ~2 MiB; send smaller requests');
  }
  if (detail.includes('required revision has been compacted')) {
    return fail('KV_COMPACTED', 're-read the current state and continue from its revision');
  }
  if (detail.includes('future revision')) return fail('BAD_REQUEST', 'that revision does not exist yet');
  if (error instanceof EtcdLeaseInvalidError || detail.includes('requested lease not found')) {
    return fail('KV_LEASE_NOT_FOUND', 'the lease expired or was revoked; grant a new one');
  }
  if (detail.includes('duplicate key given in txn request')) {
    return fail('BAD_REQUEST', 'a transaction branch may put a key only once, and not put a key it deletes');
  }
  if (detail.includes('key is not provided')) return fail('BAD_KEY', 'keys must not be empty');
  if (error instanceof ClientClosedError) return fail('KV_CLOSED', 'the store was closed');
  // Credentials (docs/security.md): the same at every retry, so not retryable; the hint names the settings to fix.
  if (detail.includes('authentication failed')) return fail('BAD_CONFIG', 'etcd refused the user name or password: check --etcd-user and --etcd-password (GPUTEL_ETCD_PASSWORD)');
  if (detail.includes('user name is empty') || detail.includes('invalid auth token')) {
    return fail('BAD_CONFIG', 'etcd has authentication enabled: give --etcd-user and --etcd-password (GPUTEL_ETCD_PASSWORD), or a client certificate (--etcd-cert, --etcd-key) whose CN is an etcd user');
  }
  if (detail.includes('permission denied')) return fail('BAD_CONFIG', "the etcd user may not do this: grant its role readwrite on the root prefix (etcdctl role grant-permission ROLE --prefix=true readwrite ROOT/)");
  if (
    error instanceof GRPCUnavailableError ||
    error instanceof GRPCDeadlineExceededError ||
    error instanceof GRPCCancelledError ||
    TRANSIENT_ETCD_ERROR.test(detail)
  ) {
    // A TLS handshake that fails comes back as UNAVAILABLE too; it may be etcd restarting with new certificates, so it stays retryable.
    if (/alert bad certificate|certificate required|alert unknown ca/i.test(detail)) {
      return fail('KV_UNAVAILABLE', "etcd refused this client's certificate: give --etcd-cert and --etcd-key signed by a CA that etcd trusts (--trusted-ca-file)", true);
    }
    if (/unable to verify|self[- ]signed certificate|certificate has expired|Hostname\/IP does not match|wrong version number/i.test(detail)) {
      return fail('KV_UNAVAILABLE', "TLS to etcd failed: give --etcd-ca with the CA that signed etcd's certificate (whose names must include the endpoint's host), and https:// endpoints only for etcd members that serve TLS", true);
    }
    return fail('KV_UNAVAILABLE', UNREACHABLE_HINT, true);
  }
  return fail(fallback, '');
}

// ── pure helpers ───────────────────────────────────────────────────────────

function keyBytes(key: string): Buffer {
  if (key.length === 0) throw new GputelError('BAD_KEY', 'a key must not be empty (etcd rejects it)');
  return Buffer.from(key, 'utf8');
}

/** etcd's form of a KeyRange: a prefix, a single key, [start, end), or start onwards when end is "\0". */
function etcdRange(range: KeyRange): { key: Buffer; range_end?: Buffer } {
  if ('prefix' in range) {
    if (range.prefix.length === 0) return { key: ZERO_KEY, range_end: ZERO_KEY };
    return { key: Buffer.from(range.prefix, 'utf8'), range_end: Buffer.from(prefixEnd(range.prefix), 'utf8') };
  }
  if (range.end === undefined) return { key: keyBytes(range.start) };
  // etcd refuses an empty key; no key sorts below "\0" but the empty one, which cannot exist.
  return { key: range.start.length === 0 ? ZERO_KEY : Buffer.from(range.start, 'utf8'), range_end: Buffer.from(range.end, 'utf8') };
}

function rangeRequest(range: KeyRange, options: RangeOptions): IRangeRequest {
  return {
    ...etcdRange(range),
    limit: options.limit !== undefined && options.limit > 0 ? options.limit : 0,
    // Ascending key order is etcd's natural order: asking for it explicitly
    // would make etcd fetch the whole range and sort it in memory.
    sort_order: options.reverse ? 'Descend' : 'None',
    sort_target: 'Key',
    keys_only: options.keysOnly === true,
    count_only: options.countOnly === true,
  };
}

function toKeyValue(kv: IKeyValue, keysOnly: boolean): KeyValue {
  return {
    key: kv.key.toString('utf8'),
    value: keysOnly ? EMPTY : kv.value,
    createRevision: Number(kv.create_revision),
    modRevision: Number(kv.mod_revision),
    version: Number(kv.version),
    lease: kv.lease,
  };
}

function toEtcdCompare(compare: Compare): ICompare {
  const base: ICompare = { key: keyBytes(compare.key), target: COMPARE_TARGET[compare.target], result: COMPARE_RESULT[compare.operator] };
  if (compare.target === 'value') {
    if (!Buffer.isBuffer(compare.operand)) {
      throw new GputelError('BAD_REQUEST', `a value compare on ${compare.key} needs a Buffer operand`);
    }
    return { ...base, value: compare.operand };
  }
  if (typeof compare.operand !== 'number') {
    throw new GputelError('BAD_REQUEST', `a ${compare.target} compare on ${compare.key} needs a number operand`);
  }
  if (compare.target === 'version') return { ...base, version: compare.operand };
  if (compare.target === 'createRevision') return { ...base, create_revision: compare.operand };
  return { ...base, mod_revision: compare.operand };
}

function toRequestOp(op: TxnOp): IRequestOp {
  switch (op.type) {
    case 'put':
      return { request_put: { key: keyBytes(op.key), value: op.value, lease: op.lease ?? '0' } };
    case 'delete':
      return { request_delete_range: etcdRange(op.range) };
    case 'range':
      return { request_range: rangeRequest(op.range, op.options ?? {}) };
  }
}


