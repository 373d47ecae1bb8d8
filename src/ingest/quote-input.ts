/**
 * Text quoted from input into an error or a rejection reason, made safe for
 * a terminal and a log line: control characters (C0, DEL, C1, which include
 * NUL, ESC and the bytes of a binary file) are shown as `\xNN` escapes, and
 * long values are cut. A backslash is doubled so that an escape seen in a
 * message was always made here.
 */

/** Quoted values are cut to this many characters (escapes count as one). */
export const QUOTED_INPUT_CHARS = 80;

// eslint-disable-next-line no-control-regex -- matching control characters is the point
const NEEDS_ESCAPE = /[\u0000-\u001f\u007f-\u009f\\]/;

/**
 * `text` cut to `maxChars` characters (with "..." when cut) and with every
 * control character escaped. Never throws.
 */
export function quoteInput(text: string, maxChars = QUOTED_INPUT_CHARS): string {
  const cut = text.length > maxChars ? text.slice(0, maxChars - 3) : text;
  const suffix = cut.length < text.length ? '...' : '';
  if (!NEEDS_ESCAPE.test(cut)) return cut + suffix;
  let out = '';
  for (let i = 0; i < cut.length; i++) {
    const code = cut.charCodeAt(i);
    if (code === 92) out += '\\\\';
    else if (code < 0x20 || (code >= 0x7f && code <= 0x9f)) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else out += cut[i];
  }
  return out + suffix;
}
