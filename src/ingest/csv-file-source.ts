/**
 * A DCGM CSV file (or stdin) as a Source: read once, or tailed with
 * `follow`. This is the ONE read loop for CSV files: the streamer, the
 * tests and the benchmark (through parseDcgmCsvFile) all go through it.
 *
 * The position it yields is `{ identity, byteOffset, nextLineNumber, tailHash }`.
 * The identity (device + inode, size, and a hash of the first 4 KiB, taken
 * again as a followed file grows to 4 KiB: a file followed from creation
 * holds only the header every DCGM export shares) and the hash of the bytes
 * just before byteOffset tell, on resume, whether the file at the path is
 * still the one the checkpoint was made on: a different file (replaced,
 * truncated, rewritten in place) is read from byte 0, with a log line,
 * instead of being resumed in the middle of a line of another file. A file
 * rotated away while the streamer was down (renamed in the same folder,
 * e.g. F.1) is found by its device + inode and finished from the checkpoint
 * first.
 *
 * Following: a partial last line waits for more bytes (it is never rejected
 * as cut short while the file may grow). At end of file the path is checked:
 * a new inode there (rotation by rename) ends the old file, once it has had
 * no new bytes for a grace period (its writer may still append to it), and
 * starts the new one at byte 0; a file shorter than the
 * position, or whose first bytes changed (truncation, copytruncate), is read
 * again from byte 0.
 */
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { open, stat, type FileHandle } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { addAbortSignal, type Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { GputelError } from '../common/gputel-error.js';
import type { Logger } from '../common/logger.js';
import { DcgmCsvParser, type DcgmCsvParserStats } from './dcgm-csv-parser.js';
import type { DcgmRow, RejectedRow } from './dcgm-row.js';
import type { RowSink, Source, SourcePosition } from './source.js';
import { fnv1a } from '../common/fnv1a.js';

/** Bytes of the file's head that its identity hashes. */
export const IDENTITY_HEAD_BYTES = 4096;
/** Read size measured best on the ingest benchmark (64 KiB – 1 MiB were within noise; see bench/parse-dcgm.ts). */
const DEFAULT_READ_BYTES = 256 * 1024;
/**
 * Bytes pushed to the parser between two yielded positions: the streamer can
 * flush within ~150 rows of its batch size. 16 KiB slices measured ~5%
 * slower end to end than 64 KiB (each push carries a partial line over).
 */
const PARSE_SLICE_BYTES = 64 * 1024;
const DEFAULT_POLL_MS = 250;
/** Bytes before the position that its tailHash covers (the end of the last committed line or lines). */
export const TAIL_HASH_BYTES = 256;
/** How long a rotated-away file must stay quiet before it is closed (its writer may append for a moment after the rename). */
const DEFAULT_ROTATION_GRACE_MS = 1_000;

/** What makes a file the same file: compared on resume and while following. */
// Types, not interfaces: a position must be assignable to the JSON record SourcePosition.
export type FileIdentity = {
  device: number;
  inode: number;
  /** Size when the identity was taken (informational: a growing file keeps its identity). */
  size: number;
  /** How many head bytes were hashed: min(4096, size at the time). */
  headBytes: number;
  /** sha256 of those bytes, hex, first 32 characters. */
  headHash: string;
};

/** The position a CsvFileSource yields. `identity` is absent in checkpoints made before identities (and for stdin). */
export type CsvFilePosition = {
  identity?: FileIdentity;
  byteOffset: number;
  nextLineNumber: number;
  /**
   * sha256 (hex, 32 characters) of the up to 256 bytes before byteOffset:
   * a file rewritten in place with the same head (every DCGM export starts
   * with the same header) is told apart on resume. Absent in older checkpoints.
   */
  tailHash?: string;
};

export interface CsvFileSourceOptions {
  /** The file; '-' reads stdin (not resumable). */
  path: string;
  /** Tail the file: wait for more at its end, and follow rotation and truncation. */
  follow?: boolean;
  /** Checkpoint name; default from the path (fileSourceId), 'stdin-{hostname}' for '-'. */
  sourceId?: string;
  logger?: Logger;
  /** Bytes per read (default 256 KiB). */
  readBytes?: number;
  /** How often a followed file is checked for growth and rotation (default 250 ms). */
  pollIntervalMs?: number;
  /** How long a rotated-away followed file is read on until it has no new bytes (default 1 s). */
  rotationGraceMs?: number;
  /** Lines longer than this are rejected unread (the parser's default 1 MiB). */
  maxLineBytes?: number;
  /** What '-' reads (tests); default process.stdin. */
  stdin?: Readable;
}

/** A stable source id for a file: readable, and distinct for files of one name in different folders. */
export function fileSourceId(file: string): string {
  const path = resolve(file);
  return `file-${basename(path)}-${fnv1a(path).toString(16).padStart(8, '0')}`;
}

/** fs error codes that a later attempt may not hit. */
const RETRYABLE_FS_CODES = new Set(['EMFILE', 'ENFILE', 'EAGAIN', 'EBUSY', 'EINTR', 'EIO']);

/** An fs error as a GputelError a user can act on: what, where, what to do. */
export function translateFsError(error: unknown, path: string): GputelError {
  if (error instanceof GputelError) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code ?? 'UNKNOWN';
  const reasons: Record<string, string> = {
    ENOENT: 'no such file; check the path',
    EISDIR: 'it is a directory; pass a DCGM CSV file, or a pattern such as DIR/*.csv',
    EACCES: 'permission denied; make the file readable by this user',
    EPERM: 'permission denied; make the file readable by this user',
    ENOTDIR: 'a part of the path is not a directory; check the path',
  };
  const reason = reasons[code];
  if (reason !== undefined) return new GputelError('BAD_INPUT', `cannot read DCGM CSV file ${path}: ${reason}`, { cause: error });
  const message = error instanceof Error ? error.message : String(error);
  return new GputelError('INTERNAL', `reading DCGM CSV file ${path} failed: ${message}`, {
    cause: error,
    retryable: RETRYABLE_FS_CODES.has(code),
  });
}

/** Takes a file's identity from an open handle. */
export async function fileIdentityOf(handle: FileHandle, stats?: Stats): Promise<FileIdentity> {
  const st = stats ?? (await handle.stat());
  const headBytes = Math.min(IDENTITY_HEAD_BYTES, st.size);
  return { device: st.dev, inode: st.ino, size: st.size, headBytes, headHash: await headHashOf(handle, headBytes) };
}

/** Up to `length` bytes of the file from `position` (fewer at its end). */
async function readAt(handle: FileHandle, position: number, length: number): Promise<Buffer> {
  const bytes = Buffer.alloc(length);
  let read = 0;
  while (read < length) {
    const { bytesRead } = await handle.read(bytes, read, length - read, position + read);
    if (bytesRead === 0) break;
    read += bytesRead;
  }
  return bytes.subarray(0, read);
}

/** The short hash identities and positions keep of some bytes. */
function shortHash(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 32);
}

async function headHashOf(handle: FileHandle, headBytes: number): Promise<string> {
  return shortHash(await readAt(handle, 0, headBytes));
}

/** The tailHash of a position at `offset`: from `buffer` (file bytes from `bufferStart`) when it holds them, else read from the file. */
async function tailHashOf(handle: FileHandle, offset: number, buffer?: Buffer, bufferStart = 0): Promise<string> {
  const from = Math.max(0, offset - TAIL_HASH_BYTES);
  const inBuffer = buffer !== undefined && from >= bufferStart && offset <= bufferStart + buffer.length;
  return shortHash(inBuffer ? buffer.subarray(from - bufferStart, offset - bufferStart) : await readAt(handle, from, offset - from));
}

/**
 * The identity with its head hash taken again over up to 4 KiB, now that
 * `size` bytes were read, when the first `identity.headBytes` bytes are
 * unchanged; else the identity as it was (the change is noticed as a rewrite).
 */
async function regrownIdentity(handle: FileHandle, identity: FileIdentity, size: number): Promise<FileIdentity> {
  const headBytes = Math.min(IDENTITY_HEAD_BYTES, size);
  const head = await readAt(handle, 0, headBytes);
  if (head.length < headBytes || shortHash(head.subarray(0, identity.headBytes)) !== identity.headHash) return identity;
  return { ...identity, size, headBytes, headHash: shortHash(head) };
}

/**
 * True when the open file is the one `identity` was taken of and still holds
 * at least `byteOffset` bytes: same device and inode, and the same first bytes.
 */
export async function isSameFile(handle: FileHandle, identity: FileIdentity, byteOffset: number): Promise<boolean> {
  const st = await handle.stat();
  if (st.dev !== identity.device || st.ino !== identity.inode || st.size < byteOffset || st.size < identity.headBytes) return false;
  return (await headHashOf(handle, identity.headBytes)) === identity.headHash;
}

/** Reads a stored position; throws BAD_MESSAGE naming what is wrong (a checkpoint not made by this source). */
function positionFrom(from: SourcePosition, where: string): CsvFilePosition | undefined {
  if (from === null) return undefined;
  const { byteOffset, nextLineNumber, identity, tailHash } = from as Partial<CsvFilePosition>;
  if (!Number.isSafeInteger(byteOffset) || byteOffset! < 0 || !Number.isSafeInteger(nextLineNumber) || nextLineNumber! < 1) {
    throw new GputelError('BAD_MESSAGE', `the checkpoint of ${where} has no valid byteOffset/nextLineNumber; delete it to stream the file from the start`);
  }
  if (identity !== undefined) {
    const fields = ['device', 'inode', 'size', 'headBytes'] as const;
    if (fields.some((f) => typeof identity[f] !== 'number') || typeof identity.headHash !== 'string') {
      throw new GputelError('BAD_MESSAGE', `the checkpoint of ${where} has a malformed file identity; delete it to stream the file from the start`);
    }
  }
  if (tailHash !== undefined && typeof tailHash !== 'string') {
    throw new GputelError('BAD_MESSAGE', `the checkpoint of ${where} has a malformed tailHash; delete it to stream the file from the start`);
  }
  return { identity, byteOffset: byteOffset!, nextLineNumber: nextLineNumber!, tailHash };
}

interface OpenFile {
  handle: FileHandle;
  identity: FileIdentity;
  byteOffset: number;
  nextLineNumber: number;
  /** The tailHash last computed, and the offset it is for (positions at the same offset reuse it). */
  tailOffset: number;
  tailHash: string;
}

export class CsvFileSource implements Source {
  readonly id: string;
  readonly location: string;
  readonly resumable: boolean;
  private readonly readBytes: number;
  private readonly pollIntervalMs: number;
  private parser: DcgmCsvParser | undefined;

  constructor(private readonly options: CsvFileSourceOptions) {
    const stdin = options.path === '-';
    // stdin of each host is its own source: one shared id would make streamers of different hosts claim (and conflict on) one checkpoint.
    this.id = options.sourceId ?? (stdin ? `stdin-${hostname()}` : fileSourceId(options.path));
    this.location = stdin ? 'stdin' : resolve(options.path);
    this.resumable = !stdin;
    this.readBytes = options.readBytes ?? DEFAULT_READ_BYTES;
    this.pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_MS;
  }

  /** Counters of the file being read (since it was opened or resumed), for summaries and parseDcgmCsvFile. */
  get stats(): DcgmCsvParserStats {
    return { ...(this.parser?.stats ?? { rowsRead: 0, rowsRejected: 0, headerLines: 0, blankLines: 0 }) };
  }

  /**
   * Reads from `from` as the Source contract says. Throws GputelError
   * BAD_INPUT when the file cannot be read or is not a DCGM export, INTERNAL
   * (retryable when transient) for other read errors.
   */
  async *read(from: SourcePosition, sink: RowSink, signal: AbortSignal): AsyncIterable<SourcePosition> {
    if (this.options.path === '-') {
      yield* this.readStdin(sink, signal);
      return;
    }
    const start = positionFrom(from, this.location);
    let file = await this.openAt(start);
    // The file the checkpoint was made on, renamed away (rotated) while no
    // streamer ran: its rows after the checkpoint are read first, then `file`.
    let then: OpenFile | undefined;
    const rotatedAway = start?.identity !== undefined && start.byteOffset > 0 && file.byteOffset === 0 &&
      (file.identity.inode !== start.identity.inode || file.identity.device !== start.identity.device);
    if (rotatedAway) {
      const old = await this.openRotatedAway(start!);
      if (old !== undefined) {
        then = file;
        file = old;
      }
    }
    // Two buffers: the next read runs while the last one is parsed. Reading
    // one piece after another measured ~10% slower than the read-ahead of
    // a read stream (the page-cache copy of 256 KiB is ~12% of its parse).
    const buffers = [Buffer.allocUnsafe(this.readBytes), Buffer.allocUnsafe(this.readBytes)];
    let current = 0;
    let ahead: Promise<number | GputelError> | undefined;
    const readAhead = (handle: FileHandle, into: Buffer, at: number): Promise<number | GputelError> =>
      handle.read(into, 0, into.length, at).then(
        (r) => r.bytesRead,
        (error: unknown) => translateFsError(error, this.location),
      );
    const rotationGraceMs = this.options.rotationGraceMs ?? DEFAULT_ROTATION_GRACE_MS;
    try {
      // Where reading starts (it covers no row yet): a different file at the path starts at 0.
      yield await positionAt(file, file.byteOffset, file.nextLineNumber);
      for (;;) {
        const parser = this.newParser(sink, file.byteOffset, file.nextLineNumber);
        let readAt = file.byteOffset;
        /** When the path was seen to hold another file, or this file last grew after that (0: not rotated). */
        let quietSince = 0;
        let next: OpenFile | undefined;
        while (next === undefined) {
          if (signal.aborted) return;
          const bytesRead = await (ahead ?? readAhead(file.handle, buffers[current], readAt));
          ahead = undefined;
          if (bytesRead instanceof GputelError) throw bytesRead;
          if (bytesRead > 0) {
            const buffer = buffers[current];
            const bufferStart = readAt;
            readAt += bytesRead;
            current ^= 1;
            ahead = readAhead(file.handle, buffers[current], readAt);
            if (quietSince !== 0) quietSince = Date.now();
            // A file followed from its creation held only its header when
            // opened: its head hash is taken again until it covers 4 KiB.
            if (file.identity.headBytes < IDENTITY_HEAD_BYTES && readAt > file.identity.headBytes) {
              file.identity = await regrownIdentity(file.handle, file.identity, readAt);
            }
            for (let at = 0; at < bytesRead; at += PARSE_SLICE_BYTES) {
              parser.push(buffer.subarray(at, Math.min(at + PARSE_SLICE_BYTES, bytesRead)));
              yield await positionOf(file, parser, buffer.subarray(0, bytesRead), bufferStart);
            }
            continue;
          }
          if (then !== undefined) {
            // The rotated-away file found at resume is done: on to the file at the path, from byte 0.
            parser.end();
            yield await positionOf(file, parser);
            next = then;
            then = undefined;
            this.options.logger?.info({ file: this.location, inode: next.identity.inode }, 'finished the rotated-away file from its checkpoint; reading the file now at the path from byte 0');
            break;
          }
          if (!this.options.follow) {
            parser.end();
            yield await positionOf(file, parser);
            return;
          }
          if (quietSince !== 0 && Date.now() - quietSince >= rotationGraceMs) {
            // The old file had no new bytes for the grace period after the
            // rename (its writer has moved on); its cut-short last line is final.
            parser.end();
            yield await positionOf(file, parser);
            next = await this.openAt(undefined);
            this.options.logger?.info({ file: this.location, inode: next.identity.inode }, 'the followed file was rotated; reading the new file from byte 0');
            break;
          }
          if (quietSince === 0) {
            const change = await this.changeAtPath(file, readAt);
            if (change === 'rotated') {
              // Read on from the old handle until it stays quiet: a writer may still append to the renamed inode.
              quietSince = Date.now();
              continue;
            }
            if (change === 'rewritten') {
              next = await this.openAt(undefined);
              this.options.logger?.info({ file: this.location, byteOffset: readAt }, 'the followed file was truncated or rewritten; reading it again from byte 0');
              break;
            }
          }
          // Idle at the end: the position lets the streamer flush what it holds.
          yield await positionOf(file, parser);
          await sleep(quietSince !== 0 ? Math.min(this.pollIntervalMs, rotationGraceMs) : this.pollIntervalMs, undefined, { signal }).catch(() => undefined);
        }
        await file.handle.close();
        file = next;
      }
    } finally {
      // A read still ahead finishes before the handle closes (close waits for it).
      await ahead;
      await file.handle.close().catch(() => undefined);
      await then?.handle.close().catch(() => undefined);
    }
  }

  private newParser(sink: RowSink, startOffset: number, startLineNumber: number): DcgmCsvParser {
    this.parser = new DcgmCsvParser({
      onRow: (row: DcgmRow) => sink.row(row),
      onReject: (rejected: RejectedRow) => sink.reject(rejected),
      startOffset,
      startLineNumber,
      headerSeen: startOffset > 0,
      maxLineBytes: this.options.maxLineBytes,
    });
    return this.parser;
  }

  /** Opens the path and decides where to start: at `position` when it is the same file, else at byte 0. */
  private async openAt(position: CsvFilePosition | undefined): Promise<OpenFile> {
    const path = this.location;
    const handle = await open(path, 'r').catch((error: unknown) => {
      throw translateFsError(error, path);
    });
    try {
      const st = await handle.stat();
      if (st.isDirectory()) throw translateFsError(Object.assign(new Error('directory'), { code: 'EISDIR' }), path);
      if (position === undefined) return { handle, identity: await fileIdentityOf(handle, st), byteOffset: 0, nextLineNumber: 1, tailOffset: -1, tailHash: '' };
      const resumed = await resumeIn(handle, st, position);
      if (resumed !== undefined) return resumed;
      this.options.logger?.info(
        { file: path, committedByteOffset: position.byteOffset, size: st.size, inode: st.ino, checkpointInode: position.identity?.inode },
        'a different file is at this path than the one the checkpoint was made on (replaced, rotated or truncated); reading it from byte 0',
      );
      return { handle, identity: await fileIdentityOf(handle, st), byteOffset: 0, nextLineNumber: 1, tailOffset: -1, tailHash: '' };
    } catch (error) {
      await handle.close().catch(() => undefined);
      throw error;
    }
  }

  /**
   * The file the checkpoint was made on, when it was renamed within the same
   * folder (rotation: F → F.1) and is still the same file up to the
   * checkpoint, opened at the checkpoint; else undefined, with a warning
   * that its rows after the checkpoint cannot be read.
   */
  private async openRotatedAway(position: CsvFilePosition): Promise<OpenFile | undefined> {
    const identity = position.identity!;
    const folder = dirname(this.location);
    const names = await readdir(folder).catch(() => [] as string[]);
    for (const name of names) {
      const candidate = join(folder, name);
      if (candidate === this.location) continue;
      const st = await stat(candidate).catch(() => undefined);
      if (st?.dev !== identity.device || st.ino !== identity.inode || !st.isFile()) continue;
      const handle = await open(candidate, 'r').catch(() => undefined);
      if (handle === undefined) break;
      const resumed = await handle.stat().then((opened) => resumeIn(handle, opened, position)).catch(() => undefined);
      if (resumed !== undefined) {
        this.options.logger?.info({ file: this.location, rotatedTo: candidate, byteOffset: position.byteOffset }, 'the file was rotated while no streamer read it; finishing the rotated file from its checkpoint first');
        return resumed;
      }
      await handle.close().catch(() => undefined);
      break;
    }
    this.options.logger?.warn(
      { file: this.location, folder, inode: identity.inode, byteOffset: position.byteOffset },
      'the file the checkpoint was made on is no longer in its folder (or was changed): the rows it got after the checkpoint cannot be read',
    );
    return undefined;
  }

  /** What happened at the path of a followed file: nothing, a new file there, or this file cut or rewritten. */
  private async changeAtPath(file: OpenFile, readAt: number): Promise<'same' | 'rotated' | 'rewritten'> {
    const atPath = await stat(this.location).catch(() => undefined);
    // No file at the path (renamed away, the new one not yet created): keep reading the old one.
    if (atPath === undefined) return 'same';
    if (atPath.dev !== file.identity.device || atPath.ino !== file.identity.inode) return 'rotated';
    if (atPath.size < readAt) return 'rewritten';
    return (await isSameFile(file.handle, file.identity, 0)) ? 'same' : 'rewritten';
  }

  /** stdin: one pass, positions without identity (nothing to resume). */
  private async *readStdin(sink: RowSink, signal: AbortSignal): AsyncIterable<SourcePosition> {
    const input = this.options.stdin ?? process.stdin;
    const parser = this.newParser(sink, 0, 1);
    addAbortSignal(signal, input);
    try {
      for await (const piece of input) {
        const bytes = typeof piece === 'string' ? Buffer.from(piece) : (piece as Buffer);
        for (let at = 0; at < bytes.length; at += PARSE_SLICE_BYTES) {
          parser.push(bytes.subarray(at, at + PARSE_SLICE_BYTES));
          yield { byteOffset: parser.committedOffset, nextLineNumber: parser.nextLineNumber };
        }
      }
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof GputelError) throw error;
      throw translateFsError(error, 'stdin');
    }
    parser.end();
    yield { byteOffset: parser.committedOffset, nextLineNumber: parser.nextLineNumber };
  }
}

/** The position after the rows `parser` delivered; the bytes before it come from `buffer` (file bytes from `bufferStart`) when it holds them. */
function positionOf(file: OpenFile, parser: DcgmCsvParser, buffer?: Buffer, bufferStart = 0): Promise<CsvFilePosition> {
  return positionAt(file, parser.committedOffset, parser.nextLineNumber, buffer, bufferStart);
}

async function positionAt(file: OpenFile, byteOffset: number, nextLineNumber: number, buffer?: Buffer, bufferStart = 0): Promise<CsvFilePosition> {
  if (byteOffset !== file.tailOffset) {
    file.tailHash = await tailHashOf(file.handle, byteOffset, buffer, bufferStart);
    file.tailOffset = byteOffset;
  }
  return { identity: file.identity, byteOffset, nextLineNumber, tailHash: file.tailHash };
}

/**
 * `handle` opened at `position` when it is the file the position was taken
 * on (identity, then the bytes before the offset), else undefined.
 */
async function resumeIn(handle: FileHandle, st: Stats, position: CsvFilePosition): Promise<OpenFile | undefined> {
  const { identity, byteOffset } = position;
  let same = identity === undefined ? st.size >= byteOffset : await isSameFile(handle, identity, byteOffset);
  // Same inode and head (the shared DCGM header) is not enough: a file rewritten in place must also end the same way before the offset.
  if (same && position.tailHash !== undefined) same = (await tailHashOf(handle, byteOffset)) === position.tailHash;
  if (!same) return undefined;
  // Keep the recorded head length so that later checks compare like with like (it grows again as the file is read).
  const current = identity === undefined ? await fileIdentityOf(handle, st) : { ...identity, size: st.size };
  // An older checkpoint has no tailHash: it is computed (tailOffset -1) for the next position.
  return { handle, identity: current, byteOffset, nextLineNumber: position.nextLineNumber, tailOffset: position.tailHash === undefined ? -1 : byteOffset, tailHash: position.tailHash ?? '' };
}

/** Options of parseDcgmCsvFile. */
export interface ParseDcgmCsvFileOptions {
  /** Byte offset to start reading at (a committedOffset from an earlier run); default 0. */
  startOffset?: number;
  /** Line number of the line at startOffset; default 1. */
  startLineNumber?: number;
  /** Bytes per read; default 256 KiB. Larger pieces cost fewer calls, smaller ones less memory. */
  highWaterMark?: number;
}

/** What parseDcgmCsvFile read: the counters and where a later run should resume. */
export interface ParseDcgmCsvFileResult {
  stats: DcgmCsvParserStats;
  committedOffset: number;
  nextLineNumber: number;
}

/**
 * Reads a whole DCGM CSV file through CsvFileSource (the production read
 * loop), from `startOffset`, never the whole file in memory. Handlers are
 * called as DcgmCsvParser documents (the row object is reused); rows are not
 * enriched. Rejects as CsvFileSource.read.
 */
export async function parseDcgmCsvFile(
  path: string,
  handlers: { onRow(row: DcgmRow): void; onReject(rejected: RejectedRow): void },
  options: ParseDcgmCsvFileOptions = {},
): Promise<ParseDcgmCsvFileResult> {
  const source = new CsvFileSource({ path, readBytes: options.highWaterMark });
  const from = options.startOffset ? { byteOffset: options.startOffset, nextLineNumber: options.startLineNumber ?? 1 } : null;
  let last: CsvFilePosition = { byteOffset: options.startOffset ?? 0, nextLineNumber: options.startLineNumber ?? 1 };
  for await (const position of source.read(from, { row: handlers.onRow, reject: handlers.onReject }, new AbortController().signal)) {
    last = position as unknown as CsvFilePosition;
  }
  return { stats: source.stats, committedOffset: last.byteOffset, nextLineNumber: last.nextLineNumber };
}
