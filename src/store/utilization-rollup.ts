/**
 * Rolling sums of one host's GPU utilisation (DCGM_FI_DEV_GPU_UTIL), per GPU
 * and time bucket, stored as one bounded value at `rollups/{host}`. Fleet
 * summaries read the mean utilisation of every GPU over a window from these
 * keys (one range), never from the chunks.
 *
 * Buckets get coarser as they age, measured from the host's newest
 * utilisation sample (`newestMs`): 1 minute within 2 h, 15 minutes within
 * 24 h, 1 hour within 7 days; older ones drop out when the value is written
 * again. Tier boundaries are aligned to the coarser tier's width, so a finer
 * bucket always folds into exactly one coarser bucket and no two tiers cover
 * the same instant. A host that stopped reporting keeps its last value, at
 * most ROLLUP_MAX_BYTES.
 *
 * Byte format (version 2; varints are unsigned LEB128, at most 2^53):
 *
 *   u8      ROLLUP_FORMAT (2; version 1 values, written before, lack the next field)
 *   varint + UTF-8   lastMessageId: the queue message that last added to it ('' for none)
 *   varint  newestMs
 *   varint  GPU count
 *   per GPU, by gpuKey:
 *     varint + UTF-8   gpuKey
 *     per tier, finest first:
 *       varint  slots (0: no buckets in this tier, and nothing else follows)
 *       u8      SUMS_FLOAT64 when some sum of the tier is not a safe integer, else 0
 *       varint  first bucket's start / the tier's width
 *       per slot, consecutive buckets: varint count; when count > 0 the sum,
 *       a zigzag varint, or a float64 LE with SUMS_FLOAT64
 *
 * Slots are dense: a tier spans at most ~170 buckets, so an empty bucket (1
 * byte) costs less than a gap field in every bucket would. A GPU reporting
 * every 10 s for 7 days takes ~1.4 kB. Each tier's bytes are kept until it
 * changes: in-order data changes only the finest tier of most messages, so
 * a collector re-encodes ~136 buckets per GPU, not ~350 (measured in
 * `npm run bench:summary`).
 */
import { GputelError } from '../common/gputel-error.js';

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;

/** The metric rolled up. */
export const ROLLUP_METRIC = 'DCGM_FI_DEV_GPU_UTIL';

export interface RollupTier {
  /** Width of this tier's buckets. */
  widthMs: number;
  /** Buckets that start within this long before the host's newest sample stay in this tier (before alignment). */
  keptMs: number;
}

/** Finest first; each width divides the next one. */
export const ROLLUP_TIERS: readonly RollupTier[] = [
  { widthMs: MINUTE_MS, keptMs: 2 * HOUR_MS },
  { widthMs: 15 * MINUTE_MS, keptMs: DAY_MS },
  { widthMs: HOUR_MS, keptMs: 7 * DAY_MS },
];

/** The longest window rollups answer: the span of the coarsest tier. */
export const ROLLUP_MAX_WINDOW_MS = 7 * DAY_MS;
/** A host's encoded rollup stays under this (a message rewrites it in a fenced transaction, next to other hosts'). */
export const ROLLUP_MAX_BYTES = 128 * 1024;

const ROLLUP_FORMAT = 2;
/** Written before rollups recorded their last message: read as added to by no message. */
const ROLLUP_FORMAT_NO_ID = 1;
const SUMS_FLOAT64 = 1;
const FLOAT64_BYTES = 8;
/** A safe integer takes at most 8 varint bytes (7 bits each); a longer varint is corruption. */
const MAX_VARINT_BYTES = 8;

interface Bucket {
  count: number;
  sum: number;
}

/**
 * One GPU: its buckets per tier, and each tier's encoding while it is
 * unchanged. Buckets are keyed by index (start / the tier's width): small
 * integers hash much faster than millisecond times, which are not (encoding
 * took 65 ns a slot keyed by ms).
 */
interface GpuBuckets {
  tiers: Map<number, Bucket>[];
  encoded: (Buffer | undefined)[];
  /** No bucket of tier t starts before oldestMs[t]: settling skips a tier with nothing to move. */
  oldestMs: number[];
}

function emptyGpu(): GpuBuckets {
  return { tiers: ROLLUP_TIERS.map(() => new Map<number, Bucket>()), encoded: ROLLUP_TIERS.map(() => undefined), oldestMs: ROLLUP_TIERS.map(() => Infinity) };
}

/** Where tier `t` begins: buckets of tier t start at or after this, and before the finer tier's start. */
function tierStartMs(newestMs: number, t: number): number {
  const alignMs = ROLLUP_TIERS[Math.min(t + 1, ROLLUP_TIERS.length - 1)].widthMs;
  return Math.floor((newestMs - ROLLUP_TIERS[t].keptMs) / alignMs) * alignMs;
}

/**
 * One host's rollup, decoded for updating (the collector). Not for the hot
 * read path: summaries scan the bytes with `sumRollupWindow` instead.
 */
export class UtilizationRollup {
  /** The newest utilisation sample added, over all GPUs; 0 when empty. */
  newestMs = 0;
  /**
   * The id of the queue message that last added to this rollup, written
   * with it: a replay of that message finds its own id here and adds
   * nothing (see collector/host-rollups.ts). Undefined for none.
   */
  lastMessageId: string | undefined;
  private readonly gpus = new Map<string, GpuBuckets>();

  /** GPUs that hold at least one bucket. */
  get gpuKeys(): string[] {
    return [...this.gpus.keys()];
  }

  /** Adds one sample. Samples may come in any order; `encode` puts every bucket in its tier. */
  add(gpuKey: string, timestampMs: number, value: number): void {
    let gpu = this.gpus.get(gpuKey);
    if (!gpu) this.gpus.set(gpuKey, (gpu = emptyGpu()));
    gpu.encoded[0] = undefined;
    const index = Math.floor(timestampMs / ROLLUP_TIERS[0].widthMs);
    const startMs = index * ROLLUP_TIERS[0].widthMs;
    if (startMs < gpu.oldestMs[0]) gpu.oldestMs[0] = startMs;
    const bucket = gpu.tiers[0].get(index);
    if (bucket) {
      bucket.count++;
      bucket.sum += value;
    } else {
      gpu.tiers[0].set(index, { count: 1, sum: value });
    }
    if (timestampMs > this.newestMs) this.newestMs = timestampMs;
  }

  /**
   * Encodes the rollup, folding aged buckets into coarser ones and dropping
   * those past the coarsest tier. Over `maxBytes`, the GPUs whose newest
   * bucket is oldest are left out (first by key among equals, so a replay
   * drops the same ones) and counted in `droppedGpus`.
   */
  encode(maxBytes = ROLLUP_MAX_BYTES): { bytes: Buffer; droppedGpus: number } {
    this.settle();
    const header = new ByteWriter();
    const keys = [...this.gpus.keys()].sort();
    const segments = new Map(keys.map((key) => [key, encodeGpu(key, this.gpus.get(key)!)]));
    let total = 1 + MAX_VARINT_BYTES * 3 + Buffer.byteLength(this.lastMessageId ?? '') + keys.reduce((sum, key) => sum + segments.get(key)!.length, 0);
    let droppedGpus = 0;
    if (total > maxBytes) {
      const oldestFirst = keys
        .map((key) => ({ key, newestBucketMs: newestBucketMs(this.gpus.get(key)!) }))
        .sort((a, b) => a.newestBucketMs - b.newestBucketMs || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      for (const { key } of oldestFirst) {
        if (total <= maxBytes) break;
        total -= segments.get(key)!.length;
        segments.delete(key);
        this.gpus.delete(key);
        droppedGpus++;
      }
    }
    header.byte(ROLLUP_FORMAT);
    header.string(this.lastMessageId ?? '');
    header.varint(this.newestMs);
    header.varint(segments.size);
    return { bytes: Buffer.concat([header.take(), ...segments.values()]), droppedGpus };
  }

  /** Decodes a stored rollup. Throws STORE_CORRUPT naming `where` when the bytes are not one. */
  static decode(bytes: Buffer, where: string): UtilizationRollup {
    const rollup = new UtilizationRollup();
    readRollup(bytes, where, (newestMs, lastMessageId) => {
      rollup.newestMs = newestMs;
      rollup.lastMessageId = lastMessageId;
    }, (gpuKey) => {
      const gpu = emptyGpu();
      rollup.gpus.set(gpuKey, gpu);
      return (t, startMs, count, sum) => {
        gpu.tiers[t].set(startMs / ROLLUP_TIERS[t].widthMs, { count, sum });
        if (startMs < gpu.oldestMs[t]) gpu.oldestMs[t] = startMs;
      };
    });
    return rollup;
  }

  /** Moves every bucket older than its tier's start into the next tier, dropping those past the last. */
  private settle(): void {
    const starts = ROLLUP_TIERS.map((_, t) => tierStartMs(this.newestMs, t));
    for (const [gpuKey, { tiers, encoded, oldestMs }] of this.gpus) {
      for (let t = 0; t < tiers.length; t++) {
        if (oldestMs[t] >= starts[t]) continue;
        oldestMs[t] = Infinity;
        for (const [index, bucket] of tiers[t]) {
          const startMs = index * ROLLUP_TIERS[t].widthMs;
          if (startMs >= starts[t]) {
            oldestMs[t] = Math.min(oldestMs[t], startMs);
            continue;
          }
          tiers[t].delete(index);
          encoded[t] = undefined;
          if (t === tiers.length - 1) continue;
          encoded[t + 1] = undefined;
          const widthMs = ROLLUP_TIERS[t + 1].widthMs;
          const coarseIndex = Math.floor(startMs / widthMs);
          oldestMs[t + 1] = Math.min(oldestMs[t + 1], coarseIndex * widthMs);
          const coarse = tiers[t + 1].get(coarseIndex);
          if (coarse) {
            coarse.count += bucket.count;
            coarse.sum += bucket.sum;
          } else {
            tiers[t + 1].set(coarseIndex, { ...bucket });
          }
        }
      }
      if (tiers.every((buckets) => buckets.size === 0)) this.gpus.delete(gpuKey);
    }
  }
}

function newestBucketMs(gpu: GpuBuckets): number {
  let newest = -Infinity;
  gpu.tiers.forEach((buckets, t) => {
    for (const index of buckets.keys()) newest = Math.max(newest, index * ROLLUP_TIERS[t].widthMs);
  });
  return newest;
}

function encodeGpu(gpuKey: string, gpu: GpuBuckets): Buffer {
  const key = new ByteWriter();
  key.string(gpuKey);
  for (let t = 0; t < gpu.tiers.length; t++) gpu.encoded[t] ??= encodeTier(gpu.tiers[t]);
  return Buffer.concat([key.take(), ...(gpu.encoded as Buffer[])]);
}

function encodeTier(buckets: Map<number, Bucket>): Buffer {
  const out = new ByteWriter();
  if (buckets.size === 0) {
    out.varint(0);
    return out.take();
  }
  let first = Infinity;
  let last = -Infinity;
  // Zigzag doubles the sum: it must stay a safe integer after that.
  let float = false;
  for (const [index, bucket] of buckets) {
    if (index < first) first = index;
    if (index > last) last = index;
    if (!Number.isSafeInteger(bucket.sum * 2)) float = true;
  }
  out.varint(last - first + 1);
  out.byte(float ? SUMS_FLOAT64 : 0);
  out.varint(first);
  for (let index = first; index <= last; index++) {
    const bucket = buckets.get(index);
    out.varint(bucket?.count ?? 0);
    if (!bucket) continue;
    if (float) out.float64(bucket.sum);
    else out.varint(bucket.sum >= 0 ? bucket.sum * 2 : -bucket.sum * 2 - 1);
  }
  return out.take();
}

/** Visits one bucket: its tier, start, sample count (> 0) and sum. */
type BucketVisitor = (tier: number, startMs: number, count: number, sum: number) => void;

/**
 * Walks encoded rollup bytes without building objects: `onGpu` returns the
 * visitor of that GPU's buckets, or undefined to skip them (still parsed,
 * to reach the next GPU). Throws STORE_CORRUPT naming `where`.
 */
function readRollup(
  bytes: Buffer,
  where: string,
  onHeader: (newestMs: number, lastMessageId: string | undefined) => void,
  onGpu: (gpuKey: string) => BucketVisitor | undefined,
): void {
  const reader = new ByteReader(bytes, where);
  const format = reader.byte();
  if (format !== ROLLUP_FORMAT && format !== ROLLUP_FORMAT_NO_ID) reader.fail(`format ${format} is neither ${ROLLUP_FORMAT} nor ${ROLLUP_FORMAT_NO_ID}`);
  const lastMessageId = format === ROLLUP_FORMAT_NO_ID ? undefined : reader.string() || undefined;
  onHeader(reader.varint(), lastMessageId);
  const gpuCount = reader.varint();
  for (let g = 0; g < gpuCount; g++) {
    const visit = onGpu(reader.string());
    for (let t = 0; t < ROLLUP_TIERS.length; t++) {
      const slots = reader.varint();
      if (slots === 0) continue;
      const float = reader.byte() === SUMS_FLOAT64;
      const widthMs = ROLLUP_TIERS[t].widthMs;
      let startMs = reader.varint() * widthMs;
      for (let s = 0; s < slots; s++, startMs += widthMs) {
        const count = reader.varint();
        if (count === 0) continue;
        let sum: number;
        if (float) {
          sum = reader.float64();
        } else {
          const zigzag = reader.varint();
          sum = zigzag % 2 === 0 ? zigzag / 2 : -(zigzag + 1) / 2;
        }
        visit?.(t, startMs, count, sum);
      }
    }
  }
  if (!reader.done) reader.fail('bytes follow the last GPU');
}

/** The windowed utilisation of one GPU of a host's rollup. */
export interface RollupWindowSum {
  gpuKey: string;
  count: number;
  sum: number;
}

/**
 * Sum and count of every GPU's samples in the buckets of encoded rollup
 * `bytes` that overlap [fromMs, toMs]: the window is widened to whole
 * buckets (see the module comment for their widths). GPUs with no sample in
 * it are left out. Throws STORE_CORRUPT naming `where`.
 */
export function sumRollupWindow(bytes: Buffer, where: string, fromMs: number, toMs: number): RollupWindowSum[] {
  const sums: RollupWindowSum[] = [];
  let current: RollupWindowSum;
  const visit: BucketVisitor = (t, startMs, count, sum) => {
    if (startMs + ROLLUP_TIERS[t].widthMs <= fromMs || startMs > toMs) return;
    current.count += count;
    current.sum += sum;
  };
  readRollup(bytes, where, () => undefined, (gpuKey) => {
    current = { gpuKey, count: 0, sum: 0 };
    sums.push(current);
    return visit;
  });
  return sums.filter((entry) => entry.count > 0);
}

/** A growable byte buffer for the writer side. */
class ByteWriter {
  private buffer = Buffer.allocUnsafe(256);
  private length = 0;

  private room(bytes: number): void {
    if (this.length + bytes <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.length + bytes));
    this.buffer.copy(grown, 0, 0, this.length);
    this.buffer = grown;
  }

  byte(value: number): void {
    this.room(1);
    this.buffer[this.length++] = value;
  }

  /** Unsigned LEB128 of a safe non-negative integer (arithmetic, not bit operations: values pass 2^32). */
  varint(value: number): void {
    this.room(MAX_VARINT_BYTES);
    let rest = value;
    while (rest >= 0x80) {
      this.buffer[this.length++] = (rest % 0x80) | 0x80;
      rest = Math.floor(rest / 0x80);
    }
    this.buffer[this.length++] = rest;
  }

  float64(value: number): void {
    this.room(FLOAT64_BYTES);
    this.buffer.writeDoubleLE(value, this.length);
    this.length += FLOAT64_BYTES;
  }

  string(text: string): void {
    const bytes = Buffer.from(text, 'utf8');
    this.varint(bytes.length);
    this.room(bytes.length);
    bytes.copy(this.buffer, this.length);
    this.length += bytes.length;
  }

  /** The bytes written, copied out (the caller owns them). */
  take(): Buffer {
    return Buffer.from(this.buffer.subarray(0, this.length));
  }
}

/** Reads what ByteWriter wrote; every read past the end or malformed value fails naming `where`. */
class ByteReader {
  private offset = 0;

  constructor(
    private readonly bytes: Buffer,
    private readonly where: string,
  ) {}

  get done(): boolean {
    return this.offset === this.bytes.length;
  }

  fail(problem: string): never {
    throw new GputelError('STORE_CORRUPT', `utilisation rollup at ${this.where} is malformed (${problem} at byte ${this.offset}); its host's collector rewrites it with its next message`);
  }

  byte(): number {
    if (this.offset >= this.bytes.length) this.fail('it ends early');
    return this.bytes[this.offset++];
  }

  varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      const byte = this.byte();
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 0x80;
    }
    return this.fail('a number is too long');
  }

  float64(): number {
    if (this.offset + FLOAT64_BYTES > this.bytes.length) this.fail('it ends early');
    const value = this.bytes.readDoubleLE(this.offset);
    this.offset += FLOAT64_BYTES;
    return value;
  }

  string(): string {
    const length = this.varint();
    if (this.offset + length > this.bytes.length) this.fail('it ends early');
    const text = this.bytes.toString('utf8', this.offset, this.offset + length);
    this.offset += length;
    return text;
  }
}
