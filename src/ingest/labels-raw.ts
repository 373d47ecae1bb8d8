import { GputelError } from '../common/gputel-error.js';

/**
 * Decoding of the `labels_raw` column of a DCGM CSV: the Prometheus labels of
 * the sample, written as Prometheus label text (`k="v",k2="v2"`, values
 * escaped with `\\`, `\"` and `\n`) and then CSV-quoted, which doubles every
 * quote: `k=""v"",k2=""v2""`.
 *
 * `DcgmRow.labelsRaw` holds that doubled form, exactly as between the outer
 * quotes in the file. Undoubling on every row (a `replaceAll('""', '"')`)
 * measured ~850 ns per row here, a third of the parser's whole per-row
 * budget, so the parser never does it: decoding waits until a consumer needs
 * the labels, typically once per new series.
 */

const CHAR_QUOTE = 34;
const CHAR_BACKSLASH = 92;
const CHAR_EQUALS = 61;
const CHAR_COMMA = 44;
const CHAR_SPACE = 32;
const CHAR_TAB = 9;
const CHAR_N = 110;

function isLabelNameStart(code: number): boolean {
  return (code >= 65 && code <= 90) || (code >= 97 && code <= 122) || code === 95;
}

function isLabelNameChar(code: number): boolean {
  return isLabelNameStart(code) || (code >= 48 && code <= 57);
}

function malformed(text: string, at: number, what: string): GputelError {
  const shown = text.length > 80 ? `${text.slice(0, 77)}...` : text;
  return new GputelError('BAD_INPUT', `malformed Prometheus labels at character ${at}: ${what} in "${shown}"`);
}

/**
 * Parses Prometheus label text, `k="v",k2="v2"` (the form between the braces
 * of an exposition-format line), into a map from label name to value.
 *
 * Contract: values are unescaped (`\\` → `\`, `\"` → `"`, `\n` → newline; any
 * other backslash pair is kept as written); whitespace around commas and a
 * trailing comma are accepted; an empty text gives an empty map. Throws
 * GputelError 'BAD_INPUT' naming the position when a name is not
 * `[A-Za-z_][A-Za-z0-9_]*`, a value is not quoted or not closed, or a name
 * repeats. The returned map and its strings belong to the caller.
 */
export function parsePrometheusLabels(text: string): Map<string, string> {
  const labels = new Map<string, string>();
  const end = text.length;
  let at = 0;
  for (;;) {
    while (at < end && (text.charCodeAt(at) === CHAR_SPACE || text.charCodeAt(at) === CHAR_TAB)) at++;
    if (at >= end) return labels;
    const nameStart = at;
    if (!isLabelNameStart(text.charCodeAt(at))) throw malformed(text, at, 'expected a label name');
    at++;
    while (at < end && isLabelNameChar(text.charCodeAt(at))) at++;
    const name = text.slice(nameStart, at);
    if (text.charCodeAt(at) !== CHAR_EQUALS) throw malformed(text, at, `expected "=" after label ${name}`);
    at++;
    if (text.charCodeAt(at) !== CHAR_QUOTE) throw malformed(text, at, `expected a quoted value for label ${name}`);
    at++;
    let value = '';
    let runStart = at;
    for (;;) {
      if (at >= end) throw malformed(text, at, `unterminated value of label ${name}`);
      const code = text.charCodeAt(at);
      if (code === CHAR_QUOTE) break;
      if (code === CHAR_BACKSLASH && at + 1 < end) {
        const next = text.charCodeAt(at + 1);
        if (next === CHAR_BACKSLASH || next === CHAR_QUOTE || next === CHAR_N) {
          value += text.slice(runStart, at) + (next === CHAR_N ? '\n' : String.fromCharCode(next));
          at += 2;
          runStart = at;
          continue;
        }
      }
      at++;
    }
    value += text.slice(runStart, at);
    at++;
    if (labels.has(name)) throw malformed(text, nameStart, `label ${name} repeated`);
    labels.set(name, value);
    while (at < end && (text.charCodeAt(at) === CHAR_SPACE || text.charCodeAt(at) === CHAR_TAB)) at++;
    if (at >= end) return labels;
    if (text.charCodeAt(at) !== CHAR_COMMA) throw malformed(text, at, `expected "," after label ${name}`);
    at++;
  }
}

/**
 * Parses a `labels_raw` field in the form `DcgmRow.labelsRaw` holds (CSV
 * doubled quotes: `k=""v"",k2=""v2""`) into a map from label name to value.
 *
 * Contract: as parsePrometheusLabels once the quotes are undoubled; throws
 * GputelError 'BAD_INPUT' when the text is malformed. The map and its strings
 * are new (they never share memory with the parser's decoded piece, so
 * keeping them does not pin the piece).
 */
export function parseLabelsRaw(raw: string): Map<string, string> {
  // Quotes come in pairs in the doubled form, so a left-to-right replace is
  // exact. The copy through a Buffer detaches the text from the large piece
  // string the parser sliced `raw` from (V8 slices keep their parent alive).
  const undoubled = raw.includes('""') ? raw.replaceAll('""', '"') : Buffer.from(raw, 'utf8').toString('utf8');
  return parsePrometheusLabels(undoubled);
}

/**
 * The value of one label in a doubled-form `labels_raw`, without decoding the
 * others: the parser's cheap path for its Hostname and Kubernetes fallbacks.
 *
 * Contract: returns the unescaped value of the first `name=""…""` that starts
 * the text or follows a comma (optionally with spaces), or undefined when
 * there is none or its value is not closed. Never throws. It does not check
 * the rest of the text, so a label value that itself contains
 * `,name=""` could mislead it; no exporter writes such values.
 */
export function findLabelInRaw(raw: string, name: string): string | undefined {
  const needle = `${name}=""`;
  let from = 0;
  for (;;) {
    const found = raw.indexOf(needle, from);
    if (found === -1) return undefined;
    let before = found - 1;
    while (before >= 0 && raw.charCodeAt(before) === CHAR_SPACE) before--;
    if (before < 0 || raw.charCodeAt(before) === CHAR_COMMA) {
      return readDoubledValue(raw, found + needle.length);
    }
    from = found + 1;
  }
}

/** Reads a doubled-form value starting at `at` up to its closing `""`; undefined when unclosed. */
function readDoubledValue(raw: string, at: number): string | undefined {
  const end = raw.length;
  let value = '';
  let runStart = at;
  while (at < end) {
    const code = raw.charCodeAt(at);
    if (code === CHAR_QUOTE) {
      if (raw.charCodeAt(at + 1) !== CHAR_QUOTE) return undefined;
      return value + raw.slice(runStart, at);
    }
    if (code === CHAR_BACKSLASH) {
      const next = raw.charCodeAt(at + 1);
      if (next === CHAR_BACKSLASH || next === CHAR_N) {
        value += raw.slice(runStart, at) + (next === CHAR_N ? '\n' : '\\');
        at += 2;
        runStart = at;
        continue;
      }
      if (next === CHAR_QUOTE && raw.charCodeAt(at + 2) === CHAR_QUOTE) {
        value += raw.slice(runStart, at) + '"';
        at += 3;
        runStart = at;
        continue;
      }
    }
    at++;
  }
  return undefined;
}

/**
 * The NVIDIA driver version from decoded labels (`DCGM_FI_DRIVER_VERSION`).
 * Contract: undefined when absent or empty. Never throws.
 */
export function driverVersionOf(labels: ReadonlyMap<string, string>): string | undefined {
  const version = labels.get('DCGM_FI_DRIVER_VERSION');
  return version === undefined || version === '' ? undefined : version;
}

/** A MIG instance of a GPU: one UUID carries several, each its own series. */
export interface MigInstance {
  /** The GPU instance id (label `GPU_I_ID`), e.g. "1". */
  instanceId: string;
  /** The MIG profile (label `GPU_I_PROFILE`), e.g. "1g.10gb"; '' when the exporter did not say. */
  profile: string;
}

/**
 * The MIG instance a sample belongs to, from decoded labels.
 * Contract: undefined when `GPU_I_ID` is absent or empty (a whole GPU);
 * otherwise a new object the caller owns. Never throws.
 */
export function migInstanceOf(labels: ReadonlyMap<string, string>): MigInstance | undefined {
  const instanceId = labels.get('GPU_I_ID');
  if (instanceId === undefined || instanceId === '') return undefined;
  return { instanceId, profile: labels.get('GPU_I_PROFILE') ?? '' };
}

/**
 * The host part of a Prometheus `instance` value: `gpu-node-07:9400` →
 * `gpu-node-07`, `10.0.0.7:9400` → `10.0.0.7`, `[fe80::1]:9400` → `fe80::1`,
 * a value without a port unchanged.
 * Contract: undefined when the result would be empty. Never throws.
 */
export function hostOfInstance(instance: string): string | undefined {
  let host = instance;
  if (host.startsWith('[')) {
    const close = host.indexOf(']');
    host = close === -1 ? host.slice(1) : host.slice(1, close);
  } else {
    const colon = host.lastIndexOf(':');
    // Only one colon means host:port; several without brackets is a bare IPv6 address.
    if (colon !== -1 && host.indexOf(':') === colon) host = host.slice(0, colon);
  }
  return host === '' ? undefined : host;
}

/**
 * The host part of the `instance` label (`host:9400` → `host`), from decoded
 * labels: the better host identity when the `Hostname` label names the
 * exporter pod rather than the node (DATA.md).
 * Contract: undefined when `instance` is absent or has no host part. Never throws.
 */
export function instanceHostOf(labels: ReadonlyMap<string, string>): string | undefined {
  const instance = labels.get('instance');
  return instance === undefined ? undefined : hostOfInstance(instance);
}
