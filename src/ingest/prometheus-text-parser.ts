/**
 * A parser for the Prometheus text exposition format (0.0.4) and OpenMetrics
 * 1.0 text, as served by dcgm-exporter on `/metrics` (DATA.md §2).
 *
 * Why hand-written: the format is small, and DCGM needs two things no generic
 * parser does. dcgm-exporter prints a field DCGM could not read as a *blank
 * sentinel* (int64 ≥ 0x7ffffffffffffff0, fp64 ≥ 2^47), and a label it could
 * not fill as `<<<NULL>>>`; both must become absent values, never numbers.
 * `Number("9223372036854775792")` rounds to 2^63, so the int64 comparison is
 * made on the text (as a BigInt only when the text is long enough to matter).
 *
 * Which rule applies depends on how the value is written: dcgm-exporter prints
 * int64 fields with `%d` (integer text) and fp64 fields with `%f` (a decimal
 * point). Integer text uses the int64 rule only, so a large but real integer
 * counter (NVLink bytes past 2^47) is kept; text with a point or an exponent
 * uses the fp64 rule.
 *
 * A bad line is reported with its line number and reason and the rest of the
 * text is still parsed. Labels of a series are parsed once and shared by
 * every later parse of the same label text (a scrape repeats every series
 * every interval), and the cache keeps only series seen in the last parse.
 */

/** `# TYPE` of a family; 'unknown' when the text declares none (0.0.4's `untyped` is reported as 'unknown'). */
export type PrometheusMetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'unknown' | 'info' | 'stateset' | 'gaugehistogram';

export type ExpositionFormat = 'prometheus' | 'openmetrics';

/** One sample line. The parser reuses the object for every call: copy what you keep. */
export interface PrometheusSample {
  /** 1-based line number in the text. */
  lineNumber: number;
  /** The sample name as written, e.g. `DCGM_FI_DEV_GPU_TEMP` or `foo_total`. */
  name: string;
  /**
   * The metric family the sample belongs to: the name, except for an
   * OpenMetrics counter sample `foo_total` (or `foo_created`) of family `foo`.
   */
  family: string;
  /** The family's declared type. */
  type: PrometheusMetricType;
  /** Labels, unescaped, without those whose value is `<<<NULL>>>`. Shared per series: never mutate. */
  labels: ReadonlyMap<string, string>;
  /** The label text between the braces exactly as written ('' without braces): equal text, equal series. */
  labelsText: string;
  /** The value; NaN when `blank`. May be NaN, +Infinity or -Infinity as written. */
  value: number;
  /** True when the value is a DCGM blank sentinel: the field has no value this time. */
  blank: boolean;
  /** The sample's own timestamp in epoch ms, or undefined when the line has none. */
  timestampMs: number | undefined;
}

export interface PrometheusTextHandler {
  /** A good sample line (also a blank one: check `blank`). */
  sample(sample: PrometheusSample): void;
  /** A line that could not be parsed; the other lines are still parsed. */
  error(lineNumber: number, reason: string): void;
}

export interface PrometheusParseStats {
  lines: number;
  samples: number;
  blankSamples: number;
  errors: number;
  /** True when an OpenMetrics text ended with `# EOF` (always true for 0.0.4). */
  complete: boolean;
}

/** dcgm-exporter's label value for "DCGM could not tell". */
export const DCGM_NULL_LABEL = '<<<NULL>>>';
/** DCGM_INT64_BLANK (0x7ffffffffffffff0): this and every larger int64 is a sentinel. */
export const DCGM_INT64_BLANK = 9_223_372_036_854_775_792n;
/** DCGM_FP64_BLANK (2^47): this and every larger double is a sentinel. */
export const DCGM_FP64_BLANK = 140_737_488_355_328;
const INT64_BLANK_DIGITS = DCGM_INT64_BLANK.toString().length;

const METRIC_TYPES: ReadonlySet<string> = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped', 'unknown', 'info', 'stateset', 'gaugehistogram']);
const COUNTER_SUFFIXES = ['_total', '_created'];
/** Lines longer than this are refused: one line can never take unbounded memory or time. */
const MAX_LINE_CHARS = 64 * 1024;

const CHAR_SPACE = 32;
const CHAR_TAB = 9;
const CHAR_QUOTE = 34;
const CHAR_BACKSLASH = 92;
const CHAR_COMMA = 44;
const CHAR_EQUALS = 61;
const CHAR_OPEN_BRACE = 123;
const CHAR_CLOSE_BRACE = 125;
const CHAR_HASH = 35;
const CHAR_N = 110;

const EMPTY_LABELS: ReadonlyMap<string, string> = new Map();

function isNameStart(code: number): boolean {
  return (code >= 65 && code <= 90) || (code >= 97 && code <= 122) || code === 95 || code === 58;
}

function isNameChar(code: number): boolean {
  return isNameStart(code) || (code >= 48 && code <= 57);
}

function isLabelNameStart(code: number): boolean {
  return (code >= 65 && code <= 90) || (code >= 97 && code <= 122) || code === 95;
}

function isLabelNameChar(code: number): boolean {
  return isLabelNameStart(code) || (code >= 48 && code <= 57);
}

function isSpace(code: number): boolean {
  return code === CHAR_SPACE || code === CHAR_TAB;
}

/** Input quoted in a reason: control characters escaped (never echoed to a terminal raw), long text cut. */
function quoted(text: string): string {
  const cut = text.length > 60 ? `${text.slice(0, 57)}...` : text;
  // eslint-disable-next-line no-control-regex
  return cut.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** A decimal number as the format writes one: `1`, `1.`, `1.5`, `.5`, with an optional exponent; linear to match. */
const DECIMAL_NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/** Thrown inside the parser for one bad line; caught per line and reported. */
class LineError extends Error {}

/** Is the value text one of dcgm-exporter's blank sentinels? Only called for text Number() accepted. */
export function isDcgmBlankValue(text: string, value: number): boolean {
  if (!(value >= DCGM_FP64_BLANK)) return false;
  let digits = text;
  if (digits.charCodeAt(0) === 43 /* + */) digits = digits.slice(1);
  let integerText = true;
  for (let i = 0; i < digits.length; i++) {
    const code = digits.charCodeAt(i);
    if (code < 48 || code > 57) {
      integerText = false;
      break;
    }
  }
  if (!integerText) return true; // fp64 text ≥ 2^47
  // int64 rule, compared exactly: fewer digits than the sentinel means smaller.
  if (digits.length < INT64_BLANK_DIGITS) {
    // Leading zeros aside, a shorter number is below the sentinel.
    return false;
  }
  return BigInt(digits) >= DCGM_INT64_BLANK;
}

/** Parses a sample value: decimal floats, NaN and ±Inf (any case), as Prometheus does. */
function parseValue(text: string): number {
  if (text === '') throw new LineError('the value is missing');
  const lower = text.toLowerCase();
  if (lower === 'nan') return Number.NaN;
  if (lower === '+inf' || lower === 'inf' || lower === '+infinity' || lower === 'infinity') return Number.POSITIVE_INFINITY;
  if (lower === '-inf' || lower === '-infinity') return Number.NEGATIVE_INFINITY;
  // Number() also takes hex, binary and '' forms the format does not allow.
  // DECIMAL_NUMBER reads each digit one way: `\d+\.?\d*` split a run of
  // digits every way and took 5 s on a 64 Ki-digit value (a ReDoS found by
  // test/fuzz/prometheus-text.fuzz.ts).
  if (!DECIMAL_NUMBER.test(text)) throw new LineError(`value "${quoted(text)}" is not a number`);
  return Number(text);
}

/** 0.0.4: an integer of milliseconds. OpenMetrics: seconds, optionally with a fraction. */
function parseTimestamp(text: string, format: ExpositionFormat): number {
  if (format === 'prometheus') {
    if (!/^-?\d{1,16}$/.test(text)) throw new LineError(`timestamp "${quoted(text)}" is not an integer of milliseconds`);
    return Number(text);
  }
  const match = /^(-?\d{1,13})(?:\.(\d+))?$/.exec(text);
  if (match === null) {
    if (DECIMAL_NUMBER.test(text) && /[eE]/.test(text)) {
      const seconds = Number(text);
      if (Math.abs(seconds) < 1e13) return Math.round(seconds * 1000);
    }
    throw new LineError(`timestamp "${quoted(text)}" is not a number of seconds`);
  }
  // Integer milliseconds from the digits (no float rounding): seconds·1000 + the first 3 fraction digits, rounded by the 4th.
  const fraction = (match[2] ?? '').padEnd(4, '0');
  const negative = match[1].startsWith('-');
  let ms = Math.abs(Number(match[1])) * 1000 + Number(fraction.slice(0, 3)) + (fraction.charCodeAt(3) >= 53 ? 1 : 0);
  if (negative) ms = -ms;
  return ms;
}

/**
 * Parses Prometheus / OpenMetrics text and hands every sample line to a
 * handler. One parser per source of text (one per scrape target): it keeps
 * the family types and label maps of the previous parse for reuse.
 */
export class PrometheusTextParser {
  private labelCache = new Map<string, ReadonlyMap<string, string>>();
  private nextLabelCache = new Map<string, ReadonlyMap<string, string>>();
  private readonly sampleObject: PrometheusSample = {
    lineNumber: 0,
    name: '',
    family: '',
    type: 'unknown',
    labels: EMPTY_LABELS,
    labelsText: '',
    value: 0,
    blank: false,
    timestampMs: undefined,
  };

  /**
   * Parses one whole exposition.
   *
   * Contract: calls `handler.sample` for each good sample line in order and
   * `handler.error` for each bad line (with its 1-based number and a reason
   * quoting the input safely); never throws for bad input. `format` picks
   * the timestamp unit and the `_total` family rule; when undefined it is
   * OpenMetrics if the text's last non-empty line is `# EOF`. In OpenMetrics,
   * lines after `# EOF` are errors, and a missing `# EOF` leaves
   * `complete` false (the body may have been cut off).
   */
  parse(text: string, handler: PrometheusTextHandler, format?: ExpositionFormat): PrometheusParseStats {
    const resolvedFormat = format ?? (/(^|\n)# EOF\s*$/.test(text) ? 'openmetrics' : 'prometheus');
    const stats: PrometheusParseStats = { lines: 0, samples: 0, blankSamples: 0, errors: 0, complete: resolvedFormat === 'prometheus' };
    const types = new Map<string, PrometheusMetricType>();
    const sample = this.sampleObject;
    let lineNumber = 0;
    let at = 0;
    let ended = false;
    while (at < text.length) {
      let lineEnd = text.indexOf('\n', at);
      if (lineEnd === -1) lineEnd = text.length;
      let line = text.slice(at, lineEnd);
      at = lineEnd + 1;
      lineNumber++;
      if (line.endsWith('\r')) line = line.slice(0, -1);
      stats.lines++;
      try {
        if (ended) throw new LineError('text after "# EOF"');
        if (line.length > MAX_LINE_CHARS) throw new LineError(`line is longer than ${MAX_LINE_CHARS} characters`);
        if (line.trim() === '') {
          if (resolvedFormat === 'openmetrics' && at < text.length) throw new LineError('empty line (OpenMetrics allows none)');
          continue;
        }
        if (line.charCodeAt(0) === CHAR_HASH) {
          if (line === '# EOF' || line.trimEnd() === '# EOF') {
            ended = true;
            stats.complete = true;
            continue;
          }
          this.parseComment(line, types, resolvedFormat);
          continue;
        }
        this.parseSampleLine(line, types, resolvedFormat, sample);
        sample.lineNumber = lineNumber;
        stats.samples++;
        if (sample.blank) stats.blankSamples++;
        handler.sample(sample);
      } catch (error) {
        if (!(error instanceof LineError)) throw error;
        stats.errors++;
        handler.error(lineNumber, error.message);
      }
    }
    // Only series seen in this parse stay cached: vanished series free their memory.
    this.labelCache = this.nextLabelCache;
    this.nextLabelCache = new Map();
    return stats;
  }

  private parseComment(line: string, types: Map<string, PrometheusMetricType>, format: ExpositionFormat): void {
    // `# HELP name text`, `# TYPE name type`, `# UNIT name unit`; other comments are free text in 0.0.4.
    const match = /^#\s+(HELP|TYPE|UNIT)\s+(\S+)(?:\s+(.*))?$/.exec(line);
    if (match === null) return;
    const [, keyword, name, rest] = match;
    if (!isValidMetricName(name)) throw new LineError(`${keyword} names an invalid metric "${quoted(name)}"`);
    if (keyword !== 'TYPE') return;
    const type = (rest ?? '').trim();
    if (!METRIC_TYPES.has(type)) throw new LineError(`TYPE of ${name} is "${quoted(type)}", not a metric type`);
    if (types.has(name) && format === 'openmetrics') throw new LineError(`second TYPE line for ${name}`);
    types.set(name, type === 'untyped' ? 'unknown' : (type as PrometheusMetricType));
  }

  private parseSampleLine(line: string, types: Map<string, PrometheusMetricType>, format: ExpositionFormat, sample: PrometheusSample): void {
    const end = line.length;
    let at = 0;
    while (at < end && isSpace(line.charCodeAt(at))) at++;
    const nameStart = at;
    if (!isNameStart(line.charCodeAt(at))) throw new LineError(`expected a metric name, found "${quoted(line.slice(at, at + 20))}"`);
    while (at < end && isNameChar(line.charCodeAt(at))) at++;
    const name = line.slice(nameStart, at);
    let braceAt = at;
    while (braceAt < end && isSpace(line.charCodeAt(braceAt))) braceAt++;

    let labelsText = '';
    let labels = EMPTY_LABELS;
    if (line.charCodeAt(braceAt) === CHAR_OPEN_BRACE) {
      at = braceAt;
      const close = findLabelsEnd(line, at + 1);
      labelsText = line.slice(at + 1, close);
      at = close + 1;
      const cached = this.labelCache.get(labelsText) ?? this.nextLabelCache.get(labelsText);
      labels = cached ?? parseLabels(labelsText);
      this.nextLabelCache.set(labelsText, labels);
    }

    // value [timestamp] [# exemplar]
    const rest = line.slice(at);
    if (rest.length === 0 || !isSpace(rest.charCodeAt(0))) throw new LineError(rest.length === 0 ? `${name} has no value` : `expected a space before the value of ${name}`);
    const exemplarAt = format === 'openmetrics' ? rest.indexOf(' # ') : -1;
    const fields = (exemplarAt === -1 ? rest : rest.slice(0, exemplarAt)).trim().split(/[ \t]+/);
    if (fields.length > 2) throw new LineError(`unexpected "${quoted(fields.slice(2).join(' '))}" after the value of ${name}`);
    const valueText = fields[0];
    const value = parseValue(valueText);
    const timestampMs = fields.length === 2 ? parseTimestamp(fields[1], format) : undefined;

    let family = name;
    let type = types.get(name);
    if (type === undefined && format === 'openmetrics') {
      for (const suffix of COUNTER_SUFFIXES) {
        if (name.endsWith(suffix) && types.get(name.slice(0, -suffix.length)) === 'counter') {
          family = name.slice(0, -suffix.length);
          type = 'counter';
          break;
        }
      }
    }
    sample.name = name;
    sample.family = family;
    sample.type = type ?? 'unknown';
    sample.labels = labels;
    sample.labelsText = labelsText;
    const blank = Number.isFinite(value) && isDcgmBlankValue(valueText, value);
    sample.blank = blank;
    sample.value = blank ? Number.NaN : value;
    sample.timestampMs = timestampMs;
  }
}

/** A metric name as the format allows: `[a-zA-Z_:][a-zA-Z0-9_:]*`. */
export function isValidMetricName(name: string): boolean {
  if (name.length === 0 || !isNameStart(name.charCodeAt(0))) return false;
  for (let i = 1; i < name.length; i++) if (!isNameChar(name.charCodeAt(i))) return false;
  return true;
}

/** The index of the `}` closing a label block that starts at `from` (after `{`), skipping quoted values. */
function findLabelsEnd(line: string, from: number): number {
  let at = from;
  let inValue = false;
  while (at < line.length) {
    const code = line.charCodeAt(at);
    if (inValue) {
      if (code === CHAR_BACKSLASH) at++;
      else if (code === CHAR_QUOTE) inValue = false;
    } else if (code === CHAR_QUOTE) {
      inValue = true;
    } else if (code === CHAR_CLOSE_BRACE) {
      return at;
    }
    at++;
  }
  throw new LineError(inValue ? 'a label value is not closed' : 'the label set is not closed with "}"');
}

/**
 * Parses the text between the braces: `name="value"` pairs separated by
 * commas, spaces allowed after commas and around `=`, a trailing comma
 * allowed; values unescaped (`\\`, `\"`, `\n`). Labels whose value is
 * `<<<NULL>>>` are left out. Throws LineError naming the problem.
 */
function parseLabels(text: string): ReadonlyMap<string, string> {
  const labels = new Map<string, string>();
  const seen = new Set<string>();
  const end = text.length;
  let at = 0;
  for (;;) {
    while (at < end && isSpace(text.charCodeAt(at))) at++;
    if (at >= end) return labels;
    const nameStart = at;
    if (!isLabelNameStart(text.charCodeAt(at))) throw new LineError(`expected a label name at "${quoted(text.slice(at, at + 20))}"`);
    while (at < end && isLabelNameChar(text.charCodeAt(at))) at++;
    const name = text.slice(nameStart, at);
    while (at < end && isSpace(text.charCodeAt(at))) at++;
    if (text.charCodeAt(at) !== CHAR_EQUALS) throw new LineError(`expected "=" after label ${name}`);
    at++;
    while (at < end && isSpace(text.charCodeAt(at))) at++;
    if (text.charCodeAt(at) !== CHAR_QUOTE) throw new LineError(`expected a quoted value for label ${name}`);
    at++;
    let value = '';
    let runStart = at;
    for (;;) {
      if (at >= end) throw new LineError(`the value of label ${name} is not closed`);
      const code = text.charCodeAt(at);
      if (code === CHAR_QUOTE) break;
      if (code === CHAR_BACKSLASH) {
        const next = text.charCodeAt(at + 1);
        if (next === CHAR_BACKSLASH || next === CHAR_QUOTE || next === CHAR_N) {
          value += text.slice(runStart, at) + (next === CHAR_N ? '\n' : String.fromCharCode(next));
          at += 2;
          runStart = at;
          continue;
        }
        throw new LineError(`label ${name} has an unknown escape "\\${quoted(text.charAt(at + 1))}"`);
      }
      at++;
    }
    value += text.slice(runStart, at);
    at++;
    if (seen.has(name)) throw new LineError(`label ${name} is repeated`);
    seen.add(name);
    if (value !== DCGM_NULL_LABEL) labels.set(name, value);
    while (at < end && isSpace(text.charCodeAt(at))) at++;
    if (at >= end) return labels;
    if (text.charCodeAt(at) !== CHAR_COMMA) throw new LineError(`expected "," after label ${name}`);
    at++;
  }
}

/** Escapes a label value for the text format: `\` → `\\`, `"` → `\"`, newline → `\n`. */
export function escapeLabelValue(value: string): string {
  return value.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n');
}
