import { isAscii, isUtf8 } from 'node:buffer';
import { detachedString } from '../common/detached-string.js';
import { GputelError } from '../common/gputel-error.js';
import { DCGM_CSV_COLUMNS, emptyRow, type DcgmRow, type RejectedRow } from './dcgm-row.js';
import { canonicalMetricName } from './legacy-metric-names.js';
import { quoteInput } from './quote-input.js';
import { parseRfc3339 } from './rfc3339.js';

/**
 * A push parser for DCGM long-format CSV (DATA.md §1), specialised for speed.
 *
 * Why hand-written: general CSV libraries reach 26–139k rows/s on this data,
 * a parser specialised for the format ~450k rows/s (MEASUREMENTS.md, "Parsing
 * a DCGM CSV in Node"). The choices that buy that speed, each measured:
 * - Whole pieces are decoded at once with latin1 when the piece is ASCII
 *   (`isAscii` is SIMD): utf8 decoding was ~5× slower. A non-ASCII piece is
 *   decoded line by line as UTF-8, and only complete lines are ever decoded
 *   (the incomplete tail stays bytes), so a multi-byte character split across
 *   pushes is never mangled. In an ASCII piece, string index = byte offset.
 * - Fields are found with indexOf and kept as slices; labels_raw stays in its
 *   CSV-doubled form (undoubling it cost ~850 ns a row, see labels-raw.ts).
 * - gpu_id … namespace (one GPU's identity and pod) are compared as one span
 *   with the previous row's and their decoded values reused when equal; when
 *   not, each column is compared with its own previous value. The strings
 *   handed out are interned private copies, never slices that would keep a
 *   whole decoded piece alive in a consumer's registry.
 * - Metric names are predicted: each known name remembers the name that
 *   followed it, which is right for every row of a regular export.
 * - The last timestamp string is cached with its epoch ms (the ~91 ns RFC 3339
 *   parse then runs once per timestamp, not once per row).
 * - Numbers with ≤ 15 digits and no exponent are read digit by digit and
 *   scaled by one exact division, which is correctly rounded and thus equal to
 *   `Number()`; anything else falls back to `Number()`.
 *
 * Result (bench/parse-dcgm.ts, 1M generated rows, 453 MB, one core of the
 * 2-core dev machine): 740k–890k rows/s, 0.9–1.07× `readline` line events on
 * the same file, the same ratio the reference parser reached (450k vs 419k).
 *
 * Lines are the unit: a quoted field cannot span lines (DCGM exports never
 * contain newlines in fields), which is what lets a row cut short by a
 * truncated file be rejected on its own instead of swallowing the next lines.
 */

/** The parser's callbacks and where the pushed data sits in its file. */
export interface DcgmCsvParserOptions {
  /**
   * Called for every good row, synchronously from push/end. The row object is
   * reused for every call: copy what you keep before returning. During the
   * call, committedOffset and nextLineNumber already point past this row.
   */
  onRow(row: DcgmRow): void;
  /** Called for every rejected row, with its line, byte offset and reason; the object is the callee's. */
  onReject(rejected: RejectedRow): void;
  /** Absolute byte offset in the file where the pushed data starts (default 0). A BOM is looked for only at 0. */
  startOffset?: number;
  /** Line number of the first line pushed (default 1). */
  startLineNumber?: number;
  /** True when resuming after the header: the first line is then data (a header there is still skipped). */
  headerSeen?: boolean;
  /** Lines longer than this many bytes are rejected unread (default 1 MiB); bounds the memory one line can take. */
  maxLineBytes?: number;
}

/** Counters of what the parser has seen; rowsRead counts good rows only. */
export interface DcgmCsvParserStats {
  rowsRead: number;
  rowsRejected: number;
  headerLines: number;
  blankLines: number;
}

const FIELD_COUNT = DCGM_CSV_COLUMNS.length;
const COL_TIMESTAMP = 0;
const COL_METRIC = 1;
const COL_GPU_ID = 2;
const COL_DEVICE = 3;
const COL_UUID = 4;
const COL_MODEL = 5;
const COL_HOSTNAME = 6;
const COL_CONTAINER = 7;
const COL_POD = 8;
const COL_NAMESPACE = 9;
const COL_VALUE = 10;
const COL_LABELS = 11;

const KIND_UNQUOTED = 0;
const KIND_QUOTED = 1;
/** Quoted and containing `""` pairs: the text between the quotes still needs undoubling. */
const KIND_QUOTED_DOUBLED = 2;

const BYTE_LF = 10;
const CHAR_CR = 13;
const CHAR_QUOTE = 34;
const CHAR_COMMA = 44;
const CHAR_SPACE = 32;
const CHAR_TAB = 9;
const CHAR_BOM = 0xfeff;
/** The UTF-8 byte order mark a file may start with. */
const BOM_BYTES = Buffer.from([0xef, 0xbb, 0xbf]);

const DEFAULT_MAX_LINE_BYTES = 1024 * 1024;
/** Shown values are cut to this many characters in rejection reasons and errors. */
const SHOWN_VALUE_CHARS = 80;
/** Largest gpu_id accepted: well past any real index, small enough to stay an exact small integer. */
const MAX_GPU_ID_DIGITS = 9;
/** Interned distinct strings kept before the table is dropped and rebuilt (bounds memory on hostile input). */
const MAX_INTERNED = 100_000;
const MAX_METRIC_ENTRIES = 10_000;

/** Exact powers of ten for the fast number path (10^0 … 10^22 are exact doubles). */
const POWERS_OF_TEN = Array.from({ length: 23 }, (_, i) => 10 ** i);
const FAST_NUMBER_MAX_DIGITS = 15;

const HEADER_TEXT = DCGM_CSV_COLUMNS.join(',');

/** Decoded string pieces stay at or under this size when lines allow (see parsePiece). */
const DECODE_PIECE_BYTES = 64 * 1024;

interface MetricEntry {
  /** The name as the file spells it. */
  source: string;
  canonical: string;
  /** The entry that followed this one last time: the prediction for the next row. */
  next: MetricEntry | undefined;
}

/** A value quoted in a reason: cut, and control characters escaped (a binary file must not reach the terminal raw). */
function shown(value: string): string {
  return quoteInput(value, SHOWN_VALUE_CHARS);
}

function isMetricNameStart(code: number): boolean {
  return (code >= 65 && code <= 90) || (code >= 97 && code <= 122) || code === 95;
}

function isMetricNameChar(code: number): boolean {
  return isMetricNameStart(code) || (code >= 48 && code <= 57) || code === 58;
}

function isValidMetricName(name: string): boolean {
  if (name.length === 0 || !isMetricNameStart(name.charCodeAt(0))) return false;
  for (let i = 1; i < name.length; i++) if (!isMetricNameChar(name.charCodeAt(i))) return false;
  return true;
}

/**
 * A finite decimal number in `text[start, end)`, or NaN. Refuses what
 * `Number()` would accept but a CSV value must not be: empty or blank text,
 * surrounding spaces, hex/octal/binary literals, Infinity.
 */
function parseValue(text: string, start: number, end: number): number {
  let at = start;
  let negative = false;
  let code = text.charCodeAt(at);
  if (code === 45) {
    negative = true;
    at++;
  } else if (code === 43) {
    at++;
  }
  let mantissa = 0;
  let digits = 0;
  let fractionDigits = 0;
  let sawDot = false;
  for (; at < end; at++) {
    code = text.charCodeAt(at);
    if (code >= 48 && code <= 57) {
      mantissa = mantissa * 10 + (code - 48);
      digits++;
      if (sawDot) fractionDigits++;
    } else if (code === 46 && !sawDot) {
      sawDot = true;
    } else {
      return parseValueSlow(text, start, end);
    }
  }
  if (digits === 0) return Number.NaN;
  if (digits > FAST_NUMBER_MAX_DIGITS) return parseValueSlow(text, start, end);
  const value = fractionDigits === 0 ? mantissa : mantissa / POWERS_OF_TEN[fractionDigits];
  return negative ? -value : value;
}

/** Exponents, long mantissas: `Number()` after a shape check. */
function parseValueSlow(text: string, start: number, end: number): number {
  if (end <= start) return Number.NaN;
  const first = text.charCodeAt(start);
  const last = text.charCodeAt(end - 1);
  const firstOk = (first >= 48 && first <= 57) || first === 45 || first === 43 || first === 46;
  const lastOk = (last >= 48 && last <= 57) || last === 46;
  if (!firstOk || !lastOk) return Number.NaN;
  if (first === 48 && end - start > 1) {
    const second = text.charCodeAt(start + 1) | 0x20; // lower-cased
    if (second === 120 || second === 111 || second === 98) return Number.NaN; // 0x, 0o, 0b
  }
  const value = Number(text.slice(start, end));
  return Number.isFinite(value) ? value : Number.NaN;
}

/** True when `text[start, end)` is the DCGM header, fields quoted or not, after an optional BOM. */
function isHeaderLine(text: string, start: number, end: number): boolean {
  let line = text.slice(start, end);
  if (line.charCodeAt(0) === CHAR_BOM) line = line.slice(1);
  if (line === HEADER_TEXT) return true;
  const fields = line.split(',');
  if (fields.length !== FIELD_COUNT) return false;
  for (let i = 0; i < FIELD_COUNT; i++) {
    let field = fields[i];
    if (field.length >= 2 && field.charCodeAt(0) === CHAR_QUOTE && field.charCodeAt(field.length - 1) === CHAR_QUOTE) {
      field = field.slice(1, -1);
    }
    if (field !== DCGM_CSV_COLUMNS[i]) return false;
  }
  return true;
}

function isBlank(text: string, start: number, end: number): boolean {
  for (let at = start; at < end; at++) {
    const code = text.charCodeAt(at);
    if (code !== CHAR_SPACE && code !== CHAR_TAB) return false;
  }
  return true;
}

/**
 * Push parser for DCGM long-format CSV. Feed it bytes with push(), call end()
 * at the end of input; it calls onRow for each good row and onReject for each
 * bad one, synchronously, in file order.
 *
 * Contract:
 * - The first non-blank line must be the DCGM header (quoted or not) unless
 *   `headerSeen`; otherwise push/end throws GputelError 'BAD_INPUT' quoting
 *   the line found, and the parser must not be used further.
 * - A BOM at offset 0 is skipped; LF and CRLF both end lines; blank lines and
 *   repeated header lines are skipped and counted, never rejected.
 * - A bad row never stops the stream: it is reported with its line number,
 *   the byte offset of its line and a reason naming the column and value.
 * - Results do not depend on how the input is cut into pushes.
 * - committedOffset / nextLineNumber always describe a line boundary: a new
 *   parser given them (and headerSeen) continues exactly where this one was.
 * - An exception thrown by a callback propagates out of push/end; the parser
 *   must then not be used further (committedOffset is already past that line).
 * - push copies whatever it keeps, so the caller may reuse its buffers.
 */
export class DcgmCsvParser {
  /** Counters; rowsRead counts good rows. Read-only for callers. */
  readonly stats: DcgmCsvParserStats = { rowsRead: 0, rowsRejected: 0, headerLines: 0, blankLines: 0 };

  private readonly onRow: (row: DcgmRow) => void;
  private readonly onReject: (rejected: RejectedRow) => void;
  private readonly maxLineBytes: number;
  private offset: number;
  private lineNumber: number;
  private headerSeen: boolean;
  /** True until the first bytes at offset 0 show whether the file starts with a BOM. */
  private bomPending: boolean;
  /** The first bytes while fewer than a BOM's three have come and they may still be one. */
  private bomHead: Buffer | undefined;
  private ended = false;

  /** Bytes of the incomplete last line, in arrival order (copies). */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** > 0 while discarding an over-long line: the bytes discarded so far. */
  private skippedBytes = 0;

  private readonly row: DcgmRow = emptyRow();

  // Field positions of the line being parsed (reused: no per-row arrays).
  private readonly fieldStart = new Int32Array(FIELD_COUNT);
  private readonly fieldEnd = new Int32Array(FIELD_COUNT);
  private readonly fieldKind = new Uint8Array(FIELD_COUNT);

  private lastTimestampText = '';
  private lastTimestampMs = 0;
  private readonly metrics = new Map<string, MetricEntry>();
  private lastMetric: MetricEntry | undefined;
  /** The text from gpu_id to namespace of the last row whose identity was decoded, and what it decoded to. */
  private lastIdentitySpan = '\u0000';
  private identityGpuId = -1;
  private identityDevice = '';
  private identityUuid = '';
  private identityModel = '';
  private identityHostname = '';
  private identityContainer = '';
  private identityPod = '';
  private identityNamespace = '';
  /** Previous row's value of each string column, indexed by column. */
  private readonly lastValues: string[] = new Array<string>(FIELD_COUNT).fill('');
  private readonly interned = new Map<string, string>();

  constructor(options: DcgmCsvParserOptions) {
    this.onRow = options.onRow;
    this.onReject = options.onReject;
    this.offset = options.startOffset ?? 0;
    this.lineNumber = options.startLineNumber ?? 1;
    this.headerSeen = options.headerSeen ?? false;
    this.maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
    this.bomPending = this.offset === 0;
    if (!Number.isSafeInteger(this.offset) || this.offset < 0) {
      throw new GputelError('BAD_CONFIG', `startOffset must be a non-negative integer, got ${this.offset}`);
    }
    if (!Number.isSafeInteger(this.lineNumber) || this.lineNumber < 1) {
      throw new GputelError('BAD_CONFIG', `startLineNumber must be a positive integer, got ${this.lineNumber}`);
    }
    if (!Number.isSafeInteger(this.maxLineBytes) || this.maxLineBytes < 1) {
      throw new GputelError('BAD_CONFIG', `maxLineBytes must be a positive integer, got ${this.maxLineBytes}`);
    }
  }

  /** Absolute byte offset just past the last line fully handled (good, rejected, blank or header): a resume point. */
  get committedOffset(): number {
    return this.offset;
  }

  /** Line number of the next line to be read: store it with committedOffset. */
  get nextLineNumber(): number {
    return this.lineNumber;
  }

  /**
   * Parses every complete line in the data pushed so far, synchronously.
   * Throws GputelError 'BAD_INPUT' when the first line is not the header
   * (see the class contract), 'INTERNAL' when called after end().
   */
  push(chunk: Buffer): void {
    if (this.ended) throw new GputelError('INTERNAL', 'DcgmCsvParser.push called after end()');
    let data = chunk;
    if (this.bomPending) {
      const head = this.skipBom(data);
      if (head === undefined) return;
      data = head;
    }
    if (this.skippedBytes > 0) {
      const newline = data.indexOf(BYTE_LF);
      if (newline === -1) {
        this.skippedBytes += data.length;
        return;
      }
      this.finishSkippedLine(this.skippedBytes + newline + 1);
      data = data.subarray(newline + 1);
    }
    if (data.length === 0) return;

    const lastNewline = data.lastIndexOf(BYTE_LF);
    if (lastNewline === -1) {
      this.keepPending(data);
      return;
    }
    let from = 0;
    if (this.pendingBytes > 0) {
      // Complete the pending line with the head of this chunk, on its own, so
      // that the big rest of the chunk is parsed in place without a copy.
      const firstNewline = data.indexOf(BYTE_LF);
      this.pending.push(data.subarray(0, firstNewline + 1));
      const line = Buffer.concat(this.pending, this.pendingBytes + firstNewline + 1);
      this.pending = [];
      this.pendingBytes = 0;
      this.parsePiece(line);
      from = firstNewline + 1;
    }
    if (from <= lastNewline) this.parsePiece(data.subarray(from, lastNewline + 1));
    if (lastNewline + 1 < data.length) this.keepPending(data.subarray(lastNewline + 1));
  }

  /**
   * End of input: parses the last line when it has no trailing newline (a row
   * cut short there is rejected). Calling it again does nothing. Throws as push.
   */
  end(): void {
    if (this.ended) return;
    if (this.bomHead !== undefined) {
      // Fewer than three bytes in all, a BOM's first ones: they are data.
      const head = this.bomHead;
      this.bomHead = undefined;
      this.bomPending = false;
      this.push(head);
    }
    this.ended = true;
    if (this.skippedBytes > 0) {
      this.finishSkippedLine(this.skippedBytes);
      return;
    }
    if (this.pendingBytes > 0) {
      const last = Buffer.concat(this.pending, this.pendingBytes);
      this.pending = [];
      this.pendingBytes = 0;
      this.parsePiece(last);
    }
  }

  /**
   * Skips a BOM at offset 0, before any line is cut, so that a line's bytes
   * and offset never include it however the input is cut into pushes (it
   * once counted towards an over-long first line when that line arrived in
   * pieces, and not when it arrived whole). Returns the data to parse, or
   * undefined while the first bytes may still be a BOM (kept in bomHead).
   */
  private skipBom(chunk: Buffer): Buffer | undefined {
    const head = this.bomHead === undefined ? chunk : Buffer.concat([this.bomHead, chunk]);
    if (head.length < BOM_BYTES.length && head.equals(BOM_BYTES.subarray(0, head.length))) {
      this.bomHead = Buffer.from(head);
      return undefined;
    }
    this.bomHead = undefined;
    this.bomPending = false;
    if (head.subarray(0, BOM_BYTES.length).equals(BOM_BYTES)) {
      this.offset += BOM_BYTES.length;
      return head.subarray(BOM_BYTES.length);
    }
    return head;
  }

  private keepPending(bytes: Buffer): void {
    if (this.pendingBytes + bytes.length > this.maxLineBytes) {
      this.skippedBytes = this.pendingBytes + bytes.length;
      this.pending = [];
      this.pendingBytes = 0;
      return;
    }
    this.pending.push(Buffer.from(bytes));
    this.pendingBytes += bytes.length;
  }

  /** Handles a line that was too long to keep: `lineBytes` includes its newline when it has one. */
  private finishSkippedLine(lineBytes: number): void {
    this.skippedBytes = 0;
    this.tooLong(this.offset, lineBytes);
  }

  private tooLong(lineOffset: number, lineBytes: number): void {
    if (!this.headerSeen) {
      throw new GputelError(
        'BAD_INPUT',
        `line ${this.lineNumber} (byte offset ${lineOffset}) is longer than ${this.maxLineBytes} bytes where the ` +
          `DCGM CSV header "${HEADER_TEXT}" was expected: this is not a DCGM long-format export`,
      );
    }
    this.reject(`line is longer than ${this.maxLineBytes} bytes`, lineOffset, lineBytes);
  }

  /** Parses `bytes`: whole lines, each ending with LF except possibly the very last line of the input. */
  private parsePiece(piece: Buffer): void {
    // Decode in sub-pieces of at most ~64 KiB cut at line ends: a larger
    // string lands in V8's large-object space and latin1 decoding measured
    // ~1 GB/s there against ~4.8 GB/s at 64 KiB.
    const length = piece.length;
    let from = 0;
    while (from < length) {
      let to = length;
      if (length - from > DECODE_PIECE_BYTES) {
        const newline = piece.lastIndexOf(BYTE_LF, from + DECODE_PIECE_BYTES - 1);
        to = newline >= from ? newline + 1 : piece.indexOf(BYTE_LF, from + DECODE_PIECE_BYTES) + 1;
        if (to === 0) to = length;
      }
      const part = piece.subarray(from, to);
      if (isAscii(part)) this.parseAsciiText(part.toString('latin1'));
      else this.parseMixedBytes(part);
      from = to;
    }
  }

  /** ASCII piece: decoded once; a character index is a byte offset from the piece start. */
  private parseAsciiText(text: string): void {
    const base = this.offset;
    const length = text.length;
    let lineStart = 0;
    while (lineStart < length) {
      let newline = text.indexOf('\n', lineStart);
      const next = newline === -1 ? length : newline + 1;
      if (newline === -1) newline = length;
      this.parseLine(text, lineStart, newline, base + lineStart, next - lineStart);
      lineStart = next;
    }
  }

  /** A piece with non-ASCII bytes: each line decoded on its own, as UTF-8 when valid. */
  private parseMixedBytes(bytes: Buffer): void {
    const length = bytes.length;
    let lineStart = 0;
    while (lineStart < length) {
      let newline = bytes.indexOf(BYTE_LF, lineStart);
      const next = newline === -1 ? length : newline + 1;
      if (newline === -1) newline = length;
      const lineOffset = this.offset;
      const line = bytes.subarray(lineStart, newline);
      if (next - lineStart > this.maxLineBytes) {
        this.tooLong(lineOffset, next - lineStart);
      } else if (isAscii(line)) {
        const text = line.toString('latin1');
        this.parseLine(text, 0, text.length, lineOffset, next - lineStart);
      } else if (isUtf8(line)) {
        const text = line.toString('utf8');
        this.parseLine(text, 0, text.length, lineOffset, next - lineStart);
      } else if (!this.headerSeen) {
        this.parseLine(line.toString('latin1'), 0, line.length, lineOffset, next - lineStart);
      } else {
        this.reject('line is not valid UTF-8', lineOffset, next - lineStart);
      }
      lineStart = next;
    }
  }

  /** Marks the line handled: the parser's offsets move past it before any callback runs. */
  private commitLine(lineBytes: number): number {
    const lineNumber = this.lineNumber;
    this.offset += lineBytes;
    this.lineNumber = lineNumber + 1;
    return lineNumber;
  }

  private reject(reason: string, lineOffset: number, lineBytes: number): void {
    const lineNumber = this.commitLine(lineBytes);
    this.stats.rowsRejected++;
    this.onReject({ lineNumber, byteOffset: lineOffset, reason });
  }

  /**
   * Parses one line, `text[start, newline)` without its LF, that starts at
   * absolute byte `lineOffset` and spans `lineBytes` bytes with its LF.
   */
  private parseLine(text: string, start: number, newline: number, lineOffset: number, lineBytes: number): void {
    let end = newline;
    if (end > start && text.charCodeAt(end - 1) === CHAR_CR) end--;
    if (lineBytes > this.maxLineBytes) {
      this.tooLong(lineOffset, lineBytes);
      return;
    }
    if (end === start || (text.charCodeAt(start) <= CHAR_SPACE && isBlank(text, start, end))) {
      this.commitLine(lineBytes);
      this.stats.blankLines++;
      return;
    }
    if (!this.headerSeen) {
      if (!isHeaderLine(text, start, end)) {
        throw new GputelError(
          'BAD_INPUT',
          `line ${this.lineNumber} (byte offset ${lineOffset}) is not the DCGM CSV header: found "${shown(text.slice(start, end))}" ` +
            `where "${HEADER_TEXT}" was expected. This is not a DCGM long-format export (dcgm-exporter CSV); ` +
            'check that the file is the right one',
        );
      }
      this.headerSeen = true;
      this.commitLine(lineBytes);
      this.stats.headerLines++;
      return;
    }

    // Split into fields: positions only, no strings yet.
    const starts = this.fieldStart;
    const ends = this.fieldEnd;
    const kinds = this.fieldKind;
    let count = 0;
    let at = start;
    for (;;) {
      if (at < end && text.charCodeAt(at) === CHAR_QUOTE) {
        let kind = KIND_QUOTED;
        let quote = text.indexOf('"', at + 1);
        while (quote !== -1 && quote + 1 < end && text.charCodeAt(quote + 1) === CHAR_QUOTE) {
          kind = KIND_QUOTED_DOUBLED;
          quote = text.indexOf('"', quote + 2);
        }
        if (quote === -1 || quote >= end) {
          const column = count < FIELD_COUNT ? DCGM_CSV_COLUMNS[count] : `field ${count + 1}`;
          this.reject(`unterminated quoted field in column ${column} (row cut short?)`, lineOffset, lineBytes);
          return;
        }
        if (count < FIELD_COUNT) {
          starts[count] = at + 1;
          ends[count] = quote;
          kinds[count] = kind;
        }
        count++;
        at = quote + 1;
        if (at === end) break;
        if (text.charCodeAt(at) !== CHAR_COMMA) {
          const column = count <= FIELD_COUNT ? DCGM_CSV_COLUMNS[count - 1] : `field ${count}`;
          this.reject(`unexpected character after the closing quote of column ${column}`, lineOffset, lineBytes);
          return;
        }
        at++;
      } else {
        let comma = text.indexOf(',', at);
        if (comma === -1 || comma > end) comma = end;
        if (count < FIELD_COUNT) {
          starts[count] = at;
          ends[count] = comma;
          kinds[count] = KIND_UNQUOTED;
        }
        count++;
        if (comma === end) break;
        at = comma + 1;
      }
    }
    if (count !== FIELD_COUNT) {
      if (isHeaderLine(text, start, end)) {
        this.skipRepeatedHeader(lineBytes);
        return;
      }
      this.reject(`expected ${FIELD_COUNT} fields, found ${count}`, lineOffset, lineBytes);
      return;
    }

    // timestamp: usually the same text as the previous row's. Comparing a
    // slice with === measured 2-3x faster than startsWith(text, position).
    const row = this.row;
    let fieldStart = starts[COL_TIMESTAMP];
    let fieldEnd = ends[COL_TIMESTAMP];
    const timestampText = text.slice(fieldStart, fieldEnd);
    let timestampMs = this.lastTimestampMs;
    if (timestampText !== this.lastTimestampText) {
      timestampMs = parseRfc3339(text, fieldStart, fieldEnd);
      if (Number.isNaN(timestampMs)) {
        if (isHeaderLine(text, start, end)) {
          this.skipRepeatedHeader(lineBytes);
          return;
        }
        this.reject(`timestamp "${shown(timestampText)}" is not an RFC 3339 date-time`, lineOffset, lineBytes);
        return;
      }
      this.lastTimestampText = detachedString(timestampText);
      this.lastTimestampMs = timestampMs;
    }

    // metric_name: predicted from the previous row's metric.
    fieldStart = starts[COL_METRIC];
    fieldEnd = ends[COL_METRIC];
    const metricText = text.slice(fieldStart, fieldEnd);
    let metric = this.lastMetric === undefined ? undefined : this.lastMetric.next;
    if (metric === undefined || metric.source !== metricText) {
      metric = this.lookUpMetric(metricText);
      if (metric === undefined) {
        this.reject(
          metricText === '' ? 'metric_name is empty' : `metric_name "${shown(metricText)}" is not a valid metric name`,
          lineOffset,
          lineBytes,
        );
        return;
      }
      if (this.lastMetric !== undefined) this.lastMetric.next = metric;
    }
    this.lastMetric = metric;

    // gpu_id … namespace: the same for all the metrics of one GPU at one
    // timestamp, so the whole span is compared at once with the previous
    // row's and, when equal, its decoded columns are reused.
    // The span includes the quotes framing its first and last fields, so that
    // equal text always means equally parsed fields.
    const identitySpan = text.slice(
      kinds[COL_GPU_ID] === KIND_UNQUOTED ? starts[COL_GPU_ID] : starts[COL_GPU_ID] - 1,
      kinds[COL_NAMESPACE] === KIND_UNQUOTED ? ends[COL_NAMESPACE] : ends[COL_NAMESPACE] + 1,
    );
    if (identitySpan !== this.lastIdentitySpan) this.decodeIdentity(text, identitySpan);
    const gpuId = this.identityGpuId;
    if (gpuId < 0) {
      const shownGpuId = text.slice(starts[COL_GPU_ID], ends[COL_GPU_ID]);
      this.reject(`gpu_id "${shown(shownGpuId)}" is not a non-negative integer`, lineOffset, lineBytes);
      return;
    }
    if (this.identityUuid === '') {
      this.reject('uuid is empty', lineOffset, lineBytes);
      return;
    }

    // value: a finite number.
    fieldStart = starts[COL_VALUE];
    fieldEnd = ends[COL_VALUE];
    const value = kinds[COL_VALUE] === KIND_QUOTED_DOUBLED ? Number.NaN : parseValue(text, fieldStart, fieldEnd);
    if (Number.isNaN(value)) {
      const shownValue = text.slice(fieldStart, fieldEnd);
      this.reject(
        shownValue === '' ? 'value is empty' : `value "${shown(shownValue)}" is not a finite number`,
        lineOffset,
        lineBytes,
      );
      return;
    }

    // labels_raw: kept in its CSV-doubled form (see labels-raw.ts).
    let labelsRaw = text.slice(starts[COL_LABELS], ends[COL_LABELS]);
    if (kinds[COL_LABELS] === KIND_UNQUOTED && labelsRaw.includes('"')) labelsRaw = labelsRaw.replaceAll('"', '""');

    row.lineNumber = this.commitLine(lineBytes);
    row.timestampMs = timestampMs;
    row.metricName = metric.canonical;
    row.sourceMetricName = metric.source;
    row.gpuId = gpuId;
    row.device = this.identityDevice;
    row.uuid = this.identityUuid;
    row.modelName = this.identityModel;
    // Hostname and the Kubernetes columns are as the file has them: the
    // streamer's shared enrichment (row-enrichment.ts) fills empty ones.
    row.hostname = this.identityHostname;
    row.container = this.identityContainer;
    row.pod = this.identityPod;
    row.namespace = this.identityNamespace;
    row.value = value;
    row.labelsRaw = labelsRaw;
    this.stats.rowsRead++;
    this.onRow(row);
  }

  /** Decodes gpu_id … namespace of the current line (fields already located) into the identity cache. */
  private decodeIdentity(text: string, identitySpan: string): void {
    this.lastIdentitySpan = identitySpan;
    const fieldStart = this.fieldStart[COL_GPU_ID];
    const fieldEnd = this.fieldEnd[COL_GPU_ID];
    let gpuId = fieldEnd === fieldStart || fieldEnd - fieldStart > MAX_GPU_ID_DIGITS ? -1 : 0;
    for (let i = fieldStart; i < fieldEnd && gpuId >= 0; i++) {
      const digit = text.charCodeAt(i) - 48;
      gpuId = digit >= 0 && digit <= 9 ? gpuId * 10 + digit : -1;
    }
    this.identityGpuId = gpuId;
    this.identityDevice = this.columnValue(text, COL_DEVICE);
    this.identityUuid = this.columnValue(text, COL_UUID);
    this.identityModel = this.columnValue(text, COL_MODEL);
    this.identityHostname = this.columnValue(text, COL_HOSTNAME);
    this.identityContainer = this.columnValue(text, COL_CONTAINER);
    this.identityPod = this.columnValue(text, COL_POD);
    this.identityNamespace = this.columnValue(text, COL_NAMESPACE);
  }

  private skipRepeatedHeader(lineBytes: number): void {
    this.commitLine(lineBytes);
    this.stats.headerLines++;
  }

  /**
   * The unquoted text of a string column, reusing the previous row's string
   * when the text is the same (compared in place, no allocation), otherwise
   * an interned private copy.
   */
  private columnValue(text: string, column: number): string {
    const fieldStart = this.fieldStart[column];
    const fieldEnd = this.fieldEnd[column];
    const last = this.lastValues[column];
    const kind = this.fieldKind[column];
    let value = text.slice(fieldStart, fieldEnd);
    if (kind === KIND_QUOTED_DOUBLED) value = value.replaceAll('""', '"');
    if (value === last) return last;
    value = this.intern(value);
    this.lastValues[column] = value;
    return value;
  }

  private intern(value: string): string {
    const known = this.interned.get(value);
    if (known !== undefined) return known;
    if (this.interned.size >= MAX_INTERNED) this.interned.clear();
    const copy = detachedString(value);
    this.interned.set(copy, copy);
    return copy;
  }

  /** The entry for a metric name not predicted; undefined when the name is invalid. */
  private lookUpMetric(source: string): MetricEntry | undefined {
    const known = this.metrics.get(source);
    if (known !== undefined) return known;
    if (!isValidMetricName(source)) return undefined;
    if (this.metrics.size >= MAX_METRIC_ENTRIES) {
      this.metrics.clear();
      this.lastMetric = undefined;
    }
    const copy = detachedString(source);
    const canonical = canonicalMetricName(copy);
    const entry: MetricEntry = { source: copy, canonical, next: undefined };
    this.metrics.set(copy, entry);
    return entry;
  }
}
