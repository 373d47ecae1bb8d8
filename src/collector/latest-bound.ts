/**
 * Keeps `latest/{host}` a bounded value. It holds every GPU ever seen on the
 * host, and nothing else removes entries: a host that reports thousands of
 * GPUs (an aggregator, GPUs replaced over years) would grow it past etcd's
 * request limit, and then every message of its partition would fail for good.
 *
 * GPUs far behind the host's newest sample go first, then, while the encoded
 * value is still over the byte budget, the oldest others. A dropped GPU keeps
 * its metadata and chunks: the registry lists it from its metadata (last seen
 * = first seen, so "stale"), only its latest values are gone until it reports
 * again.
 */
import type { LatestHost } from '../store/gpu-records.js';

/** A GPU whose newest sample is this far behind the host's newest is dropped from latest. */
export const LATEST_MAX_LAG_MS = 24 * 60 * 60 * 1000;
/** Encoded `latest/{host}` stays under this (etcd takes ~1.5 MiB a request, shared with the message's other writes). */
export const LATEST_MAX_BYTES = 256 * 1024;

export interface LatestDropped {
  /** GPUs dropped for being more than LATEST_MAX_LAG_MS behind the host's newest sample. */
  stale: number;
  /** GPUs dropped (oldest first) to bring the value under LATEST_MAX_BYTES. */
  overBudget: number;
}

/** Drops entries from `latest` in place (see above); returns how many for which reason. */
export function boundLatest(latest: LatestHost, maxBytes = LATEST_MAX_BYTES, maxLagMs = LATEST_MAX_LAG_MS): LatestDropped {
  const dropped: LatestDropped = { stale: 0, overBudget: 0 };
  const entries = Object.entries(latest.gpus);
  let newestMs = -Infinity;
  for (const [, gpu] of entries) newestMs = Math.max(newestMs, gpu.lastSeenMs);
  for (const [gpuKey, gpu] of entries) {
    if (newestMs - gpu.lastSeenMs > maxLagMs) {
      delete latest.gpus[gpuKey];
      dropped.stale++;
    }
  }
  // The common case (a host of a few GPUs) costs one encoding.
  if (Buffer.byteLength(JSON.stringify(latest)) <= maxBytes) return dropped;
  // Bytes as JSON.stringify writes them, summed per entry: one pass, no re-encoding per drop.
  const overhead = Buffer.byteLength(JSON.stringify({ hostname: latest.hostname, gpus: {} }));
  const sized = Object.entries(latest.gpus).map(([gpuKey, gpu]) => ({ gpuKey, lastSeenMs: gpu.lastSeenMs, bytes: Buffer.byteLength(JSON.stringify({ [gpuKey]: gpu })) - 1 }));
  // Each entry counted with a separating comma: one too many among them.
  let bytes = overhead + sized.reduce((sum, entry) => sum + entry.bytes, 0) - (sized.length > 0 ? 1 : 0);
  if (bytes <= maxBytes) return dropped;
  // Oldest first; among equals by key, so every replay drops the same ones.
  sized.sort((a, b) => a.lastSeenMs - b.lastSeenMs || (a.gpuKey < b.gpuKey ? -1 : a.gpuKey > b.gpuKey ? 1 : 0));
  for (const entry of sized) {
    if (bytes <= maxBytes) break;
    delete latest.gpus[entry.gpuKey];
    bytes -= entry.bytes;
    dropped.overBudget++;
  }
  return dropped;
}
