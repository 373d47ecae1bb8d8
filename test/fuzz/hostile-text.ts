/**
 * Arbitraries for input from the outside world: short texts drawn from the
 * tokens a format is made of (so that a good share of inputs get deep into
 * a parser), any Unicode and binary, and long runs of one token up to the
 * module's own line bound (so that super-linear paths show as slow runs).
 */
import fc from 'fast-check';

/** Characters that break naive code: controls, quotes, separators, surrogates, BOM, line and paragraph separators. */
export const AWKWARD_CHARS = ['\u0000', '\t', '\r', '\n', ' ', '"', "'", '\\', '/', '%', ',', '.', '{', '}', '=', '#', '\u007f', '\u00e9', '\u20ac', '\ufeff', '\u2028', '\ud800', '\udc00', '\ud83d\ude00'];

/** Any string: the full range of code units (lone surrogates included), awkward characters, or printable ASCII. */
export function anyText(maxLength: number): fc.Arbitrary<string> {
  return fc.oneof(
    fc.string({ maxLength, unit: 'binary' }),
    fc.string({ maxLength, unit: fc.constantFrom(...AWKWARD_CHARS) }),
    fc.string({ maxLength }),
  );
}

/** A text made of `tokens` (and now and then an awkward character), at most `maxTokens` of them. */
export function tokenText(tokens: readonly string[], maxTokens: number): fc.Arbitrary<string> {
  return fc.array(fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...tokens) }, { weight: 1, arbitrary: fc.constantFrom(...AWKWARD_CHARS) }), { maxLength: maxTokens }).map((parts) => parts.join(''));
}

/**
 * One short piece repeated into a long run, between a prefix and a suffix,
 * cut at `maxChars`: `1111…1x`, `{a="…`, `\\\\…` are the inputs that make a
 * backtracking regex or a quadratic loop show.
 */
export function longRun(pieces: fc.Arbitrary<string>, maxChars: number): fc.Arbitrary<string> {
  return fc
    .record({ prefix: pieces, piece: pieces, count: fc.integer({ min: 1, max: maxChars }), suffix: pieces })
    .map(({ prefix, piece, count, suffix }) => (prefix + (piece === '' ? '' : piece.repeat(Math.ceil(count / piece.length))).slice(0, count) + suffix).slice(0, maxChars));
}

/**
 * Like anyText, with lone surrogates replaced by U+FFFD: the text a parser
 * can hand on (it decodes UTF-8, which has no lone surrogates), for codecs
 * that write UTF-8 and so cannot round-trip one.
 */
export function wellFormedText(maxLength: number): fc.Arbitrary<string> {
  return anyText(maxLength).map((text) => (text as string & { toWellFormed(): string }).toWellFormed());
}
