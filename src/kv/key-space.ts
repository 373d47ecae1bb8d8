/**
 * Every key gputel writes is built here, and nowhere else (the design's key
 * space, ARCHITECTURE.md). Names that come from the outside world (hostnames,
 * UUIDs, cluster ids, source ids) become key segments only through
 * `escapeSegment`, so a '/' or a control character can never reach into
 * another subtree, and all keys stay printable ASCII (string order = byte order).
 */
import { GputelError } from '../common/gputel-error.js';

/** Width of a millisecond timestamp in a key: 13 digits lasts until the year 2286. */
export const TIMESTAMP_KEY_WIDTH = 13;
const MAX_SEGMENT_CHARS = 256;
/** The largest partition number a 4-digit segment holds. */
const MAX_PARTITION = 9999;

// Unreserved characters pass through as they are; every other UTF-8 byte,
// including '%' itself, becomes %XX. The mapping is one-to-one, so escaped
// segments of different names never collide.
const PLAIN_SEGMENT_CHAR = /^[A-Za-z0-9._:@~-]$/;
const PLAIN_SEGMENT = /^[A-Za-z0-9._:@~-]+$/;

/**
 * Escapes one name into a key segment. Throws BAD_KEY for an empty name, a
 * name longer than 256 characters, or the names '.' and '..'.
 */
export function escapeSegment(name: string, what = 'name'): string {
  if (name.length === 0) throw new GputelError('BAD_KEY', `${what} is empty; it cannot name a key`);
  // A lone surrogate has no UTF-8 form: Buffer.from writes U+FFFD for every
  // one, so different names would escape to the same segment.
  if (!isWellFormed(name)) {
    throw new GputelError('BAD_KEY', `${what} ${JSON.stringify(name.slice(0, 40))} is not well-formed Unicode (it holds a lone surrogate); fix the source of this name`);
  }
  if (name.length > MAX_SEGMENT_CHARS) {
    throw new GputelError('BAD_KEY', `${what} "${name.slice(0, 40)}…" is longer than ${MAX_SEGMENT_CHARS} characters`);
  }
  if (name === '.' || name === '..') throw new GputelError('BAD_KEY', `${what} "${name}" is not allowed`);
  if (PLAIN_SEGMENT.test(name)) return name;
  let escaped = '';
  for (const char of name) {
    if (PLAIN_SEGMENT_CHAR.test(char)) {
      escaped += char;
    } else {
      for (const byte of Buffer.from(char, 'utf8')) escaped += '%' + byte.toString(16).toUpperCase().padStart(2, '0');
    }
  }
  return escaped;
}

/** `String.prototype.isWellFormed` (Node 20; ES2024, newer than this project's lib typings). */
function isWellFormed(text: string): boolean {
  return (text as string & { isWellFormed(): boolean }).isWellFormed();
}

/**
 * Inverse of escapeSegment. Throws BAD_KEY for a segment escapeSegment cannot
 * have written (a stray '%', an escape that is not UTF-8): such a key was
 * written by something else, and callers that follow a prefix skip it.
 */
export function unescapeSegment(segment: string): string {
  if (!segment.includes('%')) return segment;
  try {
    return decodeURIComponent(segment);
  } catch (error) {
    throw new GputelError('BAD_KEY', `key segment "${segment.slice(0, 80)}" is not an escaped name (${error instanceof Error ? error.message : String(error)})`, { cause: error });
  }
}

/** What a message id may hold: it becomes the last segment of chunk keys. */
const MESSAGE_ID = /^[A-Za-z0-9._:@~-]{1,200}$/;

/**
 * Checks a message id taken from a key before it goes into other keys (chunk
 * keys, dead letters): a '/' or other byte in it would reach into another
 * subtree. Throws BAD_KEY (a poison message) when it is not one.
 */
export function checkMessageId(messageId: string): string {
  if (!MESSAGE_ID.test(messageId)) {
    throw new GputelError('BAD_KEY', `message id ${JSON.stringify(messageId.slice(0, 80))} is malformed: ids are 1-200 letters, digits, '.', '_', ':', '@', '~' or '-'`);
  }
  return messageId;
}

/** Fixed-width decimal milliseconds, so that key order is time order. */
export function timestampSegment(timestampMs: number): string {
  if (!Number.isInteger(timestampMs) || timestampMs < 0 || timestampMs >= 10 ** TIMESTAMP_KEY_WIDTH) {
    throw new GputelError('BAD_KEY', `timestamp ${timestampMs} cannot be stored: it must be a whole number of ms between 1970 and 2286`);
  }
  return String(timestampMs).padStart(TIMESTAMP_KEY_WIDTH, '0');
}

/** Start and end times of a chunk, read from its key's last segment. */
export function chunkTimeRange(chunkKey: string): { startMs: number; endMs: number } {
  const name = chunkKey.slice(chunkKey.lastIndexOf('/') + 1);
  return {
    startMs: Number(name.slice(0, TIMESTAMP_KEY_WIDTH)),
    endMs: Number(name.slice(TIMESTAMP_KEY_WIDTH + 1, 2 * TIMESTAMP_KEY_WIDTH + 1)),
  };
}

/** The last segment of compacted chunks' keys, in place of a message id. */
export const COMPACTED_CHUNK_SUFFIX = '~compacted';

/** True when a chunk key was written by compaction (not by a message). */
export function isCompactedChunkKey(chunkKey: string): boolean {
  return chunkKey.endsWith(`-${COMPACTED_CHUNK_SUFFIX}`);
}

/** The message id (or compaction suffix) at the end of a chunk key. */
export function chunkMessageId(chunkKey: string): string {
  const name = chunkKey.slice(chunkKey.lastIndexOf('/') + 1);
  return name.slice(2 * TIMESTAMP_KEY_WIDTH + 2);
}

/**
 * Fixed-width partition number (up to 9999 partitions). Throws BAD_KEY for
 * anything but a whole number 0–9999: `-1000` once wrote `-1000`, so that
 * topic `a` with partition -1000 and topic `a-` with partition 1000 shared
 * one stats key (found by test/fuzz/key-space.fuzz.ts).
 */
export function partitionSegment(partition: number): string {
  if (!Number.isInteger(partition) || partition < 0 || partition > MAX_PARTITION) {
    throw new GputelError('BAD_KEY', `partition ${partition} cannot be stored: partitions are whole numbers from 0 to ${MAX_PARTITION}`);
  }
  return String(partition).padStart(4, '0');
}

/**
 * The key space under one root prefix. Methods return full keys; methods
 * named `...Prefix` return a prefix ending in '/', for ranges and watches.
 */
export class KeySpace {
  readonly root: string;

  constructor(root = '/gputel') {
    if (!/^\/[A-Za-z0-9._/-]*[A-Za-z0-9._-]$/.test(root) || root.includes('//')) {
      throw new GputelError('BAD_CONFIG', `root prefix "${root}" must start with '/', not end with '/', and use only letters, digits, '.', '_', '-' and '/'`);
    }
    this.root = root;
  }

  // ── queue ──────────────────────────────────────────────────────────────
  topicPrefix(topic: string): string {
    return `${this.root}/queue/${escapeSegment(topic, 'topic')}/`;
  }
  /** The topic's settings every role must agree on (its partition count). */
  topicConfig(topic: string): string {
    return `${this.topicPrefix(topic)}config`;
  }
  partitionPrefix(topic: string, partition: number): string {
    return `${this.topicPrefix(topic)}p/${partitionSegment(partition)}/`;
  }
  message(topic: string, partition: number, messageId: string): string {
    return this.partitionPrefix(topic, partition) + checkMessageId(messageId);
  }
  membersPrefix(topic: string): string {
    return `${this.topicPrefix(topic)}members/`;
  }
  member(topic: string, consumerId: string): string {
    return this.membersPrefix(topic) + escapeSegment(consumerId, 'consumer id');
  }
  ownersPrefix(topic: string): string {
    return `${this.topicPrefix(topic)}owners/`;
  }
  owner(topic: string, partition: number): string {
    return this.ownersPrefix(topic) + partitionSegment(partition);
  }
  deadLetter(topic: string, messageId: string): string {
    return `${this.topicPrefix(topic)}dlq/${checkMessageId(messageId)}`;
  }
  deadLetterPrefix(topic: string): string {
    return `${this.topicPrefix(topic)}dlq/`;
  }
  checkpointsPrefix(topic: string): string {
    return `${this.topicPrefix(topic)}checkpoints/`;
  }
  checkpoint(topic: string, sourceId: string): string {
    return this.checkpointsPrefix(topic) + escapeSegment(sourceId, 'source id');
  }
  sourceClaimsPrefix(topic: string): string {
    return `${this.topicPrefix(topic)}sources/`;
  }
  /** `sources/{source-id}`: held under a lease by the one streamer reading that source. */
  sourceClaim(topic: string, sourceId: string): string {
    return this.sourceClaimsPrefix(topic) + escapeSegment(sourceId, 'source id');
  }

  // ── maintenance ────────────────────────────────────────────────────────
  maintenancePrefix(): string {
    return `${this.root}/maintenance/`;
  }
  /** The leased key whose holder is the one instance that compacts etcd's history. */
  historyCompactorLeader(): string {
    return `${this.maintenancePrefix()}history-compactor`;
  }
  /** `{revision, atMs}`: the revision the compactor remembered and when; the next leader compacts to it once it is one interval old. */
  historyCompactionMark(): string {
    return `${this.maintenancePrefix()}history-mark`;
  }

  // ── encryption ─────────────────────────────────────────────────────────
  encryptionKeyChecksPrefix(): string {
    return `${this.root}/encryption/`;
  }
  /** A constant sealed with key `keyId`: processes check their key file against it before writing (docs/encryption.md). */
  encryptionKeyCheck(keyId: string): string {
    return this.encryptionKeyChecksPrefix() + escapeSegment(keyId, 'key id');
  }

  // ── clusters ───────────────────────────────────────────────────────────
  clusterPrefix(cluster: string): string {
    return `${this.root}/clusters/${escapeSegment(cluster, 'cluster')}/`;
  }
  hostsPrefix(cluster: string): string {
    return `${this.clusterPrefix(cluster)}hosts/`;
  }
  hostPrefix(cluster: string, hostname: string): string {
    return `${this.hostsPrefix(cluster)}${escapeSegment(hostname, 'hostname')}/`;
  }
  hostMetadata(cluster: string, hostname: string): string {
    return `${this.hostPrefix(cluster, hostname)}metadata`;
  }
  gpuPrefix(cluster: string, hostname: string, gpuKey: string): string {
    return `${this.hostPrefix(cluster, hostname)}gpus/${escapeSegment(gpuKey, 'GPU id')}/`;
  }
  gpuMetadata(cluster: string, hostname: string, gpuKey: string): string {
    return `${this.gpuPrefix(cluster, hostname, gpuKey)}metadata`;
  }
  gpuDataPrefix(cluster: string, hostname: string, gpuKey: string): string {
    return `${this.gpuPrefix(cluster, hostname, gpuKey)}data/`;
  }
  /**
   * A chunk key: `{start}-{end}-{message-id}`. The start first makes key order
   * time order; the end lets a reader skip chunks from keys alone; the
   * message id last makes a replay rewrite the same key.
   */
  gpuChunk(cluster: string, hostname: string, gpuKey: string, startMs: number, endMs: number, messageId: string): string {
    return `${this.gpuDataPrefix(cluster, hostname, gpuKey)}${timestampSegment(startMs)}-${timestampSegment(endMs)}-${checkMessageId(messageId)}`;
  }
  /**
   * A compacted chunk: `{start}-{end}-~compacted`. The suffix passes
   * checkMessageId but is no message id (those are digits and hex, see
   * queue/message-id.ts), so it never collides with a message's chunk and a
   * reader's `excludeMessageId` never matches it. Parts of one compaction
   * cover disjoint times, so their keys differ by start.
   */
  gpuCompactedChunk(cluster: string, hostname: string, gpuKey: string, startMs: number, endMs: number): string {
    return this.gpuChunk(cluster, hostname, gpuKey, startMs, endMs, COMPACTED_CHUNK_SUFFIX);
  }
  latestPrefix(cluster: string): string {
    return `${this.clusterPrefix(cluster)}latest/`;
  }
  latest(cluster: string, hostname: string): string {
    return this.latestPrefix(cluster) + escapeSegment(hostname, 'hostname');
  }
  rollupsPrefix(cluster: string): string {
    return `${this.clusterPrefix(cluster)}rollups/`;
  }
  /** `rollups/{host}`: the host's rolling utilisation sums per GPU and time bucket (store/utilization-rollup.ts). */
  rollup(cluster: string, hostname: string): string {
    return this.rollupsPrefix(cluster) + escapeSegment(hostname, 'hostname');
  }
  /**
   * `rollup-marks/{topic}-{partition}/{message id}`: which hosts' rollups a
   * message wrote before its final transaction, which deletes it
   * (collector/host-rollups.ts): a replay from the DLQ adds nothing twice.
   */
  rollupMark(cluster: string, topic: string, partition: number, messageId: string): string {
    return `${this.clusterPrefix(cluster)}rollup-marks/${escapeSegment(topic, 'topic')}-${partitionSegment(partition)}/${escapeSegment(messageId, 'message id')}`;
  }
  gpuIndexPrefix(cluster: string): string {
    return `${this.clusterPrefix(cluster)}index/gpus/`;
  }
  /** `index/gpus/{gpu}/{host}`: a UUID's hosts (usually one) are the range under its prefix. */
  gpuIndex(cluster: string, gpuKey: string, hostname: string): string {
    return `${this.gpuIndexPrefix(cluster)}${escapeSegment(gpuKey, 'GPU id')}/${escapeSegment(hostname, 'hostname')}`;
  }
  statsPrefix(cluster: string): string {
    return `${this.clusterPrefix(cluster)}stats/`;
  }
  /** Per-partition counters: only the partition's owner writes them, so they never contend. */
  partitionStats(cluster: string, topic: string, partition: number): string {
    return `${this.statsPrefix(cluster)}${escapeSegment(topic, 'topic')}-${partitionSegment(partition)}`;
  }
  configPrefix(cluster: string): string {
    return `${this.clusterPrefix(cluster)}config/`;
  }
  /** `config/settings/`: the live settings, one key per flag name (docs/configuration.md); apart from `config/topic`. */
  liveSettingsPrefix(cluster: string): string {
    return `${this.configPrefix(cluster)}settings/`;
  }
  liveSetting(cluster: string, flag: string): string {
    return `${this.liveSettingsPrefix(cluster)}${escapeSegment(flag, 'setting name')}`;
  }
  /** `config/history/`: the last changes of live settings, oldest first (etcd's own history is compacted). */
  configHistoryPrefix(cluster: string): string {
    return `${this.configPrefix(cluster)}history/`;
  }
  /** A history entry: fixed-width time, then a unique suffix, so key order is time order. */
  configHistoryEntry(cluster: string, atMs: number, suffix: string): string {
    return `${this.configHistoryPrefix(cluster)}${timestampSegment(atMs)}-${escapeSegment(suffix, 'history suffix')}`;
  }
  /** The one topic that feeds the cluster: its per-partition keys assume a single owner per partition. */
  clusterTopic(cluster: string): string {
    return `${this.configPrefix(cluster)}topic`;
  }
}
