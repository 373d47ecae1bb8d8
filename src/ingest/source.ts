/**
 * A Source is where telemetry comes from: a DCGM CSV file (read once or
 * tailed), stdin, a dcgm-exporter endpoint, nvidia-smi, the simulator. It
 * yields parsed rows and an opaque position to resume from; it knows nothing
 * of batching, the queue or checkpoints. The streamer is `source + producer`,
 * so flushing, checkpoints, backpressure and metrics exist once for all.
 *
 * Contract:
 * - `read` delivers rows synchronously to `sink.row` (the row object may be
 *   reused between calls: the sink copies what it keeps) and refused input to
 *   `sink.reject`, with where and why.
 * - Between deliveries it yields a `SourcePosition`: every row delivered
 *   before that yield is covered by the position, and none after it. The
 *   streamer may flush and commit at any yield, and a later `read(position)`
 *   continues exactly after the rows it covers.
 * - A finite source (a file read once) ends its iteration when it is done.
 *   A live source (tail, scrape, nvidia-smi, simulator) runs until `signal`
 *   aborts, then ends its iteration promptly without throwing.
 * - It throws a GputelError for what stops the source as a whole (an
 *   unreadable file, a file that is not a DCGM export), never for one bad row.
 * - Rows are not yet enriched: the streamer applies the shared enrichment
 *   step (hostname from `instance`, old Kubernetes label names) to every row
 *   of every source.
 */
import type { DcgmRow, RejectedRow } from './dcgm-row.js';

/**
 * Where a source stands: JSON-serialisable, stored in the source checkpoint,
 * and meaningful only to the source that produced it. `null` means "from the
 * start" (or, for a live source, "from now").
 */
export type SourcePosition = Readonly<Record<string, unknown>> | null;

export interface RowSink {
  /** A good row. The object may be reused by the source after the call returns. */
  row(row: DcgmRow): void;
  /** A row (or line, or series) refused, with where and why; the object is the sink's. */
  reject(rejected: RejectedRow): void;
}

export interface Source {
  /** The default checkpoint name of this source (a file's name and path hash, a URL's host…). */
  readonly id: string;
  /** What it reads, for logs, summaries and the checkpoint's location (a path, URLs, a command). */
  readonly location: string;
  /** False for sources that cannot resume (stdin, live scrapes): a restart begins anew. */
  readonly resumable: boolean;
  /** Reads from `from` (null: the beginning), as described in the module comment. */
  read(from: SourcePosition, sink: RowSink, signal: AbortSignal): AsyncIterable<SourcePosition>;
}
