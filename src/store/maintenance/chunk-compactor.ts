/**
 * Merges a GPU's small per-message chunks into one chunk per time window
 * (default 4 h, aligned to multiples of the window since the epoch), split
 * into parts that stay well inside etcd's request size.
 *
 * Two phases, a maintenance round apart:
 * 1. The merged chunk is written (fenced by the partition claim) beside the
 *    chunks it merges, under a key no message can write (`~compacted`).
 *    Readers merge chunks by timestamp, so while both exist they read the
 *    same records and values as before: no duplicate, no gap.
 * 2. In the next round the merged inputs are deleted, each compared on the
 *    modRevision it was read at. A reader that listed keys before phase 1
 *    fetched them long before; one that lists after it sees the merged chunk.
 * A crash between or during the phases leaves both copies: the next round
 * merges the window again (the same records give the same bytes under the
 * same keys) and deletes the inputs then. Nothing is lost or counted twice,
 * and partition stats never change (the samples stored stay the same).
 *
 * A window is closed once it ends a grace period before the GPU's newest
 * sample: data time, not the wall clock, so a replayed export compacts too.
 * The still-open window is merged too, in steps (see planCompaction): every
 * GPU always has one, and its per-message chunks cost about twice as much
 * per sample as a merged window.
 * Chunks of messages still queued are never merged: a replay of such a
 * message counts what was stored before it, less its own chunks (by message
 * id in the key); had they been merged, it would count its own samples as
 * old and the stats would lose them.
 */
import { errorMessage, GputelError } from '../../common/gputel-error.js';
import type { Logger } from '../../common/logger.js';
import { counter } from '../../common/metrics.js';
import type { KeySpace } from '../../kv/key-space.js';
import { MAX_REQUEST_BYTES, MAX_TXN_OPS, type Compare, type KvStore, type TxnOp } from '../../kv/kv-store.js';
import { encodeChunk, splitChunk, type Chunk } from '../chunk-codec.js';
import { fetchChunks } from '../chunk-fetch.js';
import { mergeChunks } from '../chunk-merge.js';
import { decodeGpuMetadata, encodeJson } from '../gpu-records.js';
import type { ChunkKey, GpuSeries, MaintenanceScope } from './gpu-chunk-list.js';

/**
 * Default compaction window: 4 h (1,440 records at 10 s, 14,400 at 1 s, in
 * parts). Against 2 h: 4% fewer bytes per sample and half the keys; one
 * GPU's 24 h decodes faster (fewer chunks), a short read decodes a larger
 * chunk (figures in docs/design.md, "Compaction window and open window").
 */
export const DEFAULT_COMPACTION_WINDOW_MS = 4 * 3_600_000;
/** Default grace: a window is merged once the GPU's newest sample is this far past its end (late rows still land first). */
export const DEFAULT_COMPACTION_GRACE_MS = 10 * 60_000;
/**
 * Default age at which the still-open window's chunks are merged: once its
 * oldest unmerged chunk starts 20 min before the GPU's newest sample, the
 * chunks that ended a grace ago (at least ~10 min of data) join the window's
 * partial merge. Each merge rewrites the window so far, so a 4 h window is
 * rewritten at most ~24 times (fewer when rounds are further apart), and at
 * rest at most ~20 min of a GPU's data stays in per-message chunks.
 */
export const DEFAULT_OPEN_WINDOW_MERGE_AGE_MS = 20 * 60_000;
/** Default minimum time between writing a merged chunk and deleting its inputs (readers in flight finish first). */
export const DEFAULT_INPUT_DELETE_DELAY_MS = 5_000;
/** Column bytes of one compacted part at most, as for a message's chunks: no value nears the request limit. */
const MAX_PART_BYTES = 256 * 1024;
/** Room left in each transaction for the fence and the metadata writes. */
const OPS_PER_TXN = MAX_TXN_OPS - 8;
const BYTES_PER_TXN = MAX_REQUEST_BYTES - 64 * 1024;

const chunksMerged = counter('gputel_store_compacted_chunks_total', 'Chunks merged into compacted windows (deleted once the merged chunk was written)');
const windowsCompacted = counter('gputel_store_compacted_windows_total', 'GPU time windows merged into compacted chunks');

export interface ChunkCompactorOptions {
  windowMs?: number;
  graceMs?: number;
  /** The open window is merged once its oldest unmerged chunk starts this long before the GPU's newest sample. */
  openWindowMergeAgeMs?: number;
  inputDeleteDelayMs?: number;
  logger: Logger;
  /** Told about a stored chunk that does not decode (it is left as it is, outside the merge). */
  onUnreadable?: (key: string, error: unknown) => void;
  /** For tests: the clock of the delete delay. */
  now?: () => number;
}

export interface CompactionResult {
  /** Windows merged in this call (phase 1). */
  windows: number;
  /** Chunks merged in this call. */
  merged: number;
  /** Inputs of earlier merges deleted in this call (phase 2). */
  deleted: number;
}

interface PendingDeletes {
  writtenAtMs: number;
  inputs: MergedInput[];
}

/** A chunk a merge took, at the revision it was read, and the parts the merge wrote (which must still stand when it goes). */
interface MergedInput {
  key: string;
  modRevision: number;
  outputs: string[];
}

/**
 * Compacts the windows of GPUs of one partition under one claim: what it
 * remembers between rounds (inputs to delete) belongs to that claim, so a
 * new claim gets a new compactor.
 */
export class ChunkCompactor {
  private readonly windowMs: number;
  private readonly graceMs: number;
  private readonly openWindowMergeAgeMs: number;
  private readonly deleteDelayMs: number;
  private readonly now: () => number;
  /** Per GPU data prefix: inputs of a merge written in an earlier round. */
  private readonly pending = new Map<string, PendingDeletes>();

  constructor(
    private readonly kv: KvStore,
    private readonly keys: KeySpace,
    private readonly options: ChunkCompactorOptions,
  ) {
    this.windowMs = options.windowMs ?? DEFAULT_COMPACTION_WINDOW_MS;
    this.graceMs = options.graceMs ?? DEFAULT_COMPACTION_GRACE_MS;
    this.openWindowMergeAgeMs = options.openWindowMergeAgeMs ?? DEFAULT_OPEN_WINDOW_MERGE_AGE_MS;
    this.deleteDelayMs = options.inputDeleteDelayMs ?? DEFAULT_INPUT_DELETE_DELAY_MS;
    this.now = options.now ?? Date.now;
    if (!(this.openWindowMergeAgeMs >= this.graceMs)) throw new GputelError('BAD_CONFIG', `the open-window merge age (${this.openWindowMergeAgeMs} ms) must be at least the compaction grace (${this.graceMs} ms)`);
    if (!(this.windowMs >= 1_000)) throw new GputelError('BAD_CONFIG', `the compaction window must be at least 1 s, got ${this.windowMs} ms`);
  }

  /**
   * One round for one GPU: deletes the inputs of its earlier merges (when
   * the delay has passed), then merges its closed windows and, in steps,
   * its open one. `chunks` is the
   * GPU's current listing (listGpuChunks); throws CONFLICT (retryable) when
   * the claim was lost, or the store's error.
   */
  async compact(gpu: GpuSeries, chunks: readonly ChunkKey[], scope: MaintenanceScope): Promise<CompactionResult> {
    const result: CompactionResult = { windows: 0, merged: 0, deleted: 0 };
    const prefix = this.keys.gpuDataPrefix(gpu.cluster, gpu.hostname, gpu.gpuKey);
    const pending = this.pending.get(prefix);
    if (pending) {
      if (this.now() - pending.writtenAtMs < this.deleteDelayMs) return result;
      const gone = await this.deleteInputs(pending, scope.fence);
      result.deleted = gone.size;
      this.pending.delete(prefix);
      // Inputs left standing (one changed or went meanwhile) are merged again below, so this round leaves work pending.
      chunks = chunks.filter((chunk) => !gone.has(chunk.key));
    }
    const plan = planCompaction(chunks, scope.queuedMessageIds, { windowMs: this.windowMs, graceMs: this.graceMs, openWindowMergeAgeMs: this.openWindowMergeAgeMs });
    const inputsDone: MergedInput[] = [];
    for (const members of plan) {
      const merged = await this.mergeWindow(gpu, members, scope.fence);
      if (merged.length === 0) continue;
      inputsDone.push(...merged);
      result.windows++;
      result.merged += merged.length;
    }
    if (inputsDone.length > 0) {
      this.pending.set(prefix, { writtenAtMs: this.now(), inputs: inputsDone });
      windowsCompacted.inc(result.windows);
      chunksMerged.inc(result.merged);
    }
    return result;
  }

  /** True while merged inputs wait to be deleted by a later round. */
  get hasPending(): boolean {
    return this.pending.size > 0;
  }

  /** Forgets pending deletes (a failed round may have left the store other than remembered); the next round merges again. */
  forget(): void {
    this.pending.clear();
  }

  /**
   * Writes the merge of one window's chunks; resolves to the inputs to delete
   * next round (those not overwritten by a part of the same key).
   */
  private async mergeWindow(gpu: GpuSeries, members: ChunkKey[], fence: Compare[]): Promise<MergedInput[]> {
    const fetched = await fetchChunks(
      this.kv,
      members.map((chunk) => chunk.key),
      this.options.onUnreadable,
    );
    if (fetched.length === 0) return [];
    const merged = mergeChunks(fetched.map((input) => input.chunk));
    const parts = splitChunk(merged, MAX_PART_BYTES);
    const writes: TxnOp[] = parts.map((part) => {
      const key = this.keys.gpuCompactedChunk(gpu.cluster, gpu.hostname, gpu.gpuKey, part.timestampsMs[0], part.timestampsMs[part.timestampsMs.length - 1]);
      return { type: 'put', key, value: encodeChunk(part) };
    });
    const metadataOps = await this.spanUpdate(gpu, parts);
    if (metadataOps === undefined) return []; // the GPU is being removed (no metadata): nothing to merge into
    await this.writeInBatches([...metadataOps.ops, ...writes], fence, metadataOps.compare);
    const outputs = writes.map((op) => (op.type === 'put' ? op.key : ''));
    const written = new Set(outputs);
    return fetched.filter((input) => !written.has(input.key)).map(({ key, modRevision }) => ({ key, modRevision, outputs }));
  }

  /**
   * Metadata records the GPU's longest chunk span, which bounds readers' key
   * scans: it must cover the merged parts before they are the only copy. It
   * is raised in the first write of the merge (phase 1), a round before the
   * inputs go. Undefined when the GPU has no metadata.
   */
  private async spanUpdate(gpu: GpuSeries, parts: Chunk[]): Promise<{ ops: TxnOp[]; compare: Compare[] } | undefined> {
    const metadataKey = this.keys.gpuMetadata(gpu.cluster, gpu.hostname, gpu.gpuKey);
    const stored = await this.kv.get(metadataKey);
    if (!stored) return undefined;
    let metadata;
    try {
      metadata = decodeGpuMetadata(stored.value);
    } catch (error) {
      // Readers of unreadable metadata scan every chunk: merging is safe, and the collector repairs it.
      this.options.logger.warn({ key: metadataKey, err: error }, `GPU metadata unreadable (${errorMessage(error)}); merging without updating it`);
      return { ops: [], compare: [] };
    }
    const spanMs = Math.max(...parts.map((part) => part.timestampsMs[part.timestampsMs.length - 1] - part.timestampsMs[0]));
    // Metadata without a span makes readers scan everything: nothing to raise.
    if (metadata.maxChunkSpanMs === undefined || metadata.maxChunkSpanMs >= spanMs) return { ops: [], compare: [] };
    const value = encodeJson({ ...metadata, maxChunkSpanMs: spanMs });
    return {
      ops: [
        { type: 'put', key: metadataKey, value },
        { type: 'put', key: this.keys.gpuIndex(gpu.cluster, gpu.gpuKey, gpu.hostname), value },
      ],
      compare: [{ key: metadataKey, target: 'modRevision', operator: '==', operand: stored.modRevision }],
    };
  }

  /**
   * Writes ops in transactions within etcd's limits, in order (metadata
   * first), each fenced; the first also carries `firstOnly` (the metadata's
   * compare: later ones would see the metadata it wrote).
   */
  private async writeInBatches(ops: TxnOp[], fence: Compare[], firstOnly: Compare[]): Promise<void> {
    let compare = [...fence, ...firstOnly];
    let batch: TxnOp[] = [];
    let bytes = 0;
    const flush = async (): Promise<void> => {
      if (batch.length === 0) return;
      const result = await this.kv.txn({ compare, success: batch });
      if (!result.succeeded) throw claimLost();
      compare = fence;
      batch = [];
      bytes = 0;
    };
    for (const op of ops) {
      const size = op.type === 'put' ? op.key.length + op.value.length : 0;
      if (batch.length >= OPS_PER_TXN || (batch.length > 0 && bytes + size > BYTES_PER_TXN)) await flush();
      batch.push(op);
      bytes += size;
    }
    await flush();
  }

  /** Phase 2: deletes merged inputs, each compared on the revision it was merged at; returns the keys deleted. A changed one is left to the next merge. */
  private async deleteInputs(pending: PendingDeletes, fence: Compare[]): Promise<Set<string>> {
    const deleted = new Set<string>();
    let from = 0;
    while (from < pending.inputs.length) {
      // As many inputs as the compares allow: the fence, each input unchanged, and each part their merge wrote still there
      // (retention may have removed a part while an input that reaches past its cutoff stands: that input must stay).
      const inputs: MergedInput[] = [];
      const outputs = new Set<string>();
      while (from < pending.inputs.length) {
        const next = pending.inputs[from];
        const added = next.outputs.filter((output) => !outputs.has(output)).length;
        if (inputs.length > 0 && fence.length + inputs.length + 1 + outputs.size + added > MAX_TXN_OPS) break;
        inputs.push(next);
        for (const output of next.outputs) outputs.add(output);
        from++;
      }
      const result = await this.kv.txn({
        compare: [
          ...fence,
          ...inputs.map((input): Compare => ({ key: input.key, target: 'modRevision', operator: '==', operand: input.modRevision })),
          ...[...outputs].map((output): Compare => ({ key: output, target: 'version', operator: '>', operand: 0 })),
        ],
        success: inputs.map((input): TxnOp => ({ type: 'delete', range: { start: input.key } })),
      });
      if (result.succeeded) {
        for (const input of inputs) deleted.add(input.key);
        continue;
      }
      // Either the claim is gone, or an input changed or went, or a part
      // went (retention): leave these; a later round merges the window again.
      if (!(await this.fenceHolds(fence))) throw claimLost();
    }
    return deleted;
  }

  private async fenceHolds(fence: Compare[]): Promise<boolean> {
    return (await this.kv.txn({ compare: fence })).succeeded;
  }
}

export interface CompactionPlanOptions {
  windowMs: number;
  graceMs: number;
  openWindowMergeAgeMs: number;
}

/**
 * The merges due for one GPU's chunks (listed in key order): per window, the
 * chunks to merge, in key order. Chunks of queued messages are never merged.
 * - A closed window (ending a grace before the newest sample) merges all its
 *   chunks, once it has one not merged yet.
 * - An open window merges its key-order prefix of compacted chunks and of
 *   chunks that ended a grace ago, once that prefix has an unmerged chunk
 *   starting `openWindowMergeAgeMs` before the newest sample. A prefix, so
 *   that every chunk left unmerged sorts after the merged ones, as before:
 *   readers (later key wins) see the same values. Its partial merge is an
 *   input of the next merge of the window, which deletes it a round later.
 * The store bench uses this too, to wait for what a running collector does.
 */
export function planCompaction(chunks: readonly ChunkKey[], queuedMessageIds: ReadonlySet<string>, options: CompactionPlanOptions): ChunkKey[][] {
  if (chunks.length < 2 && chunks.every((chunk) => chunk.compacted)) return [];
  let newestMs = -Infinity;
  for (const chunk of chunks) newestMs = Math.max(newestMs, chunk.endMs);
  const windows = new Map<number, ChunkKey[]>();
  for (const chunk of chunks) {
    const windowStart = Math.floor(chunk.startMs / options.windowMs) * options.windowMs;
    let members = windows.get(windowStart);
    if (!members) windows.set(windowStart, (members = []));
    members.push(chunk);
  }
  const plan: ChunkKey[][] = [];
  for (const [windowStart, members] of windows) {
    if (windowStart + options.windowMs + options.graceMs <= newestMs) {
      const mergeable = members.filter((chunk) => !queuedMessageIds.has(chunk.messageId));
      // A window already merged (one compacted chunk, or several parts) has nothing to do.
      if (!mergeable.every((chunk) => chunk.compacted)) plan.push(mergeable);
      continue;
    }
    const prefix: ChunkKey[] = [];
    let oldestUnmergedMs = Infinity;
    for (const chunk of members) {
      if (!chunk.compacted && (chunk.endMs + options.graceMs > newestMs || queuedMessageIds.has(chunk.messageId))) break;
      prefix.push(chunk);
      if (!chunk.compacted) oldestUnmergedMs = Math.min(oldestUnmergedMs, chunk.startMs);
    }
    if (oldestUnmergedMs + options.openWindowMergeAgeMs <= newestMs) plan.push(prefix);
  }
  return plan;
}

function claimLost(): GputelError {
  return new GputelError('CONFLICT', 'the partition claim changed during chunk compaction; the new owner compacts', { retryable: true });
}
