/**
 * How far a source has been committed to the queue. Written in the same
 * transaction as the messages it covers, so that after any crash or
 * unknown outcome the queue and the checkpoint agree.
 */
import { GputelError } from '../common/gputel-error.js';

export interface SourceCheckpoint {
  sourceId: string;
  /** What the source reads (a file path, a URL); informational. */
  location: string;
  /** Bytes of the source fully handled: a resume point at a line boundary. */
  byteOffset: number;
  /** Line number of the line at byteOffset. */
  nextLineNumber: number;
  /** Number of commits made so far; the next commit is sequence + 1. */
  sequence: number;
  /** Number of messages committed so far; also the id counter of the next message. */
  messages: number;
  /** Good rows committed so far (rejected rows are counted apart). */
  rowsRead: number;
  rowsRejected: number;
  updatedAt: string;
  /** Partitions the last commit wrote messages to: collectors wake exactly those. */
  partitions: number[];
  /**
   * The source's opaque resume position (JSON), as its last commit left it.
   * Absent in checkpoints written before sources had positions: those resume
   * from byteOffset / nextLineNumber, which file positions still carry.
   */
  position?: Readonly<Record<string, unknown>> | null;
  /** A random id per commit: a retry after an unknown outcome recognises its own commit by it. */
  commitId?: string;
}

export function emptyCheckpoint(sourceId: string, location: string): SourceCheckpoint {
  return {
    sourceId,
    location,
    byteOffset: 0,
    nextLineNumber: 1,
    sequence: 0,
    messages: 0,
    rowsRead: 0,
    rowsRejected: 0,
    updatedAt: new Date(0).toISOString(),
    partitions: [],
  };
}

export function encodeCheckpoint(checkpoint: SourceCheckpoint): Buffer {
  return Buffer.from(JSON.stringify(checkpoint));
}

/** Parses a stored checkpoint; throws BAD_MESSAGE naming the key when it is not one. */
export function decodeCheckpoint(bytes: Buffer, key: string): SourceCheckpoint {
  let parsed: Partial<SourceCheckpoint>;
  try {
    parsed = JSON.parse(bytes.toString('utf8')) as Partial<SourceCheckpoint>;
  } catch {
    throw new GputelError('BAD_MESSAGE', `checkpoint at ${key} is not JSON; delete the key to start the source over`);
  }
  const numbers = ['byteOffset', 'nextLineNumber', 'sequence', 'messages', 'rowsRead', 'rowsRejected'] as const;
  for (const field of numbers) {
    if (!Number.isInteger(parsed[field]) || (parsed[field] as number) < 0) {
      throw new GputelError('BAD_MESSAGE', `checkpoint at ${key} has no valid ${field}; delete the key to start the source over`);
    }
  }
  if (parsed.position !== undefined && parsed.position !== null && (typeof parsed.position !== 'object' || Array.isArray(parsed.position))) {
    throw new GputelError('BAD_MESSAGE', `checkpoint at ${key} has a position that is not an object; delete the key to start the source over`);
  }
  return parsed as SourceCheckpoint;
}

/**
 * The position a source resumes from: the stored one, or for a checkpoint
 * written before positions existed, the file offset it recorded (files read
 * it as a position without identity). null when nothing was committed.
 */
export function resumePositionOf(checkpoint: SourceCheckpoint): Readonly<Record<string, unknown>> | null {
  if (checkpoint.position !== undefined) return checkpoint.position;
  if (checkpoint.sequence === 0 && checkpoint.byteOffset === 0) return null;
  return { byteOffset: checkpoint.byteOffset, nextLineNumber: checkpoint.nextLineNumber };
}
