/**
 * JSON written as ASCII bytes into one growing Buffer, for the API's bulk
 * answers: numbers go in digit by digit, with no string built per value and
 * none for the whole answer (docs/performance.md has the figures).
 */
const COMMA = 0x2c;
const ZERO = 0x30;
const MINUS = 0x2d;
export const NULL_BYTES = Buffer.from('null', 'latin1');
/** Most decimals shortDecimal tries: 10^22 is the largest power of ten a double holds exactly. */
const MAX_DECIMALS = 22;
/** Below this magnitude JSON's own form of a number has an exponent. */
const MIN_PLAIN_DECIMAL = 1e-6;
/** From here on a double has no fraction (integers are written by integer()). */
const MAX_SAFE_WHOLE = 2 ** 52;
/** Longest JSON form of a double: "-1.2345678901234567e-308" is 24 characters. */
export const MAX_NUMBER_BYTES = 24;

/** Scratch buffers kept between answers, in bytes all together; a buffer over it is dropped after its answer. */
const MAX_KEPT_SCRATCH_BYTES = 16 * 1024 * 1024;
const FIRST_SCRATCH_BYTES = 64 * 1024;

/**
 * Scratch buffers the writers start in, given back once their answer has
 * been sent. Why: a fresh buffer grown by doubling per answer allocated
 * ~3.3 MB for one GPU's 24 h in columns (0.69 MB), and copying the answer
 * out of one shared scratch still allocated its size again; that external
 * memory, not the JS heap, made V8 run full collections inside requests,
 * which was most of the p99 (docs/performance.md). Answers in flight at once
 * each hold their own buffer; idle ones wait here.
 */
const idleScratch: Buffer[] = [];
let idleScratchBytes = 0;

function takeScratch(): Buffer {
  const buffer = idleScratch.pop();
  if (!buffer) return Buffer.allocUnsafe(FIRST_SCRATCH_BYTES);
  idleScratchBytes -= buffer.length;
  return buffer;
}

function giveBackScratch(buffer: Buffer): void {
  if (idleScratchBytes + buffer.length > MAX_KEPT_SCRATCH_BYTES) return;
  idleScratch.push(buffer);
  idleScratchBytes += buffer.length;
}

/**
 * Written JSON, in a scratch buffer lent to the answer: `bytes` may be
 * read until `release()`, which gives the buffer back for another answer
 * (call it once the bytes are sent, and at most once). An answer that is
 * never released is simply collected.
 */
export interface JsonAnswer {
  readonly bytes: Buffer;
  release(): void;
}

/** A growing byte buffer for ASCII JSON. */
export class JsonBytes {
  bytes = takeScratch();
  at = 0;

  reserve(count: number): void {
    if (this.at + count <= this.bytes.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.bytes.length * 2, this.at + count));
    this.bytes.copy(grown, 0, 0, this.at);
    this.bytes = grown;
  }

  /** Appends ASCII text (the caller reserved room). */
  ascii(text: string): void {
    const { bytes } = this;
    let at = this.at;
    for (let i = 0; i < text.length; i++) bytes[at++] = text.charCodeAt(i);
    this.at = at;
  }

  /** Appends any text, JSON-escaped as a string by JSON.stringify (names, cursors: few and short). */
  text(text: string): void {
    const written = Buffer.from(text, 'utf8');
    this.reserve(written.length);
    written.copy(this.bytes, this.at);
    this.at += written.length;
  }

  /** Appends a safe integer's digits (the caller reserved room). */
  integer(value: number): void {
    const { bytes } = this;
    if (value < 0) {
      bytes[this.at++] = MINUS;
      value = -value;
    }
    let digits = 1;
    for (let rest = value; rest >= 10; rest = Math.floor(rest / 10)) digits++;
    let at = this.at + digits;
    this.at = at;
    do {
      const next = Math.floor(value / 10);
      bytes[--at] = ZERO + (value - next * 10);
      value = next;
    } while (value > 0);
  }

  /**
   * Appends a value in its shortest decimal form when that form has at most
   * 15 significant digits and no exponent (DCGM values such as 628.154 and
   * most downsampled averages), without building a string; returns false,
   * writing nothing, for any other value. Exact and shortest: `decimals`
   * grows from 1, and the first scaled integer with scaled / 10^decimals ===
   * value is the nearest decimal with that many places that reads back as the
   * value, as JSON's own form (Number::toString) picks it.
   */
  shortDecimal(value: number): boolean {
    const magnitude = value < 0 ? -value : value;
    // Number::toString writes an exponent below 1e-6 and from 1e21; within
    // this range the decimals needed fit in 10^22, which doubles hold exactly.
    if (!(magnitude >= MIN_PLAIN_DECIMAL && magnitude < MAX_SAFE_WHOLE)) return false;
    for (let decimals = 1, scale = 10; decimals <= MAX_DECIMALS; decimals++, scale *= 10) {
      const scaled = Math.round(magnitude * scale);
      if (scaled > Number.MAX_SAFE_INTEGER) return false;
      if (scaled / scale !== magnitude) continue;
      if (value < 0) this.bytes[this.at++] = MINUS;
      let whole = Math.floor(scaled / scale);
      // The division may round up to the next whole number when the fraction is .999…
      if (whole * scale > scaled) whole--;
      this.integer(whole);
      this.bytes[this.at++] = 0x2e; // .
      // The fraction's digits, leading zeros included (no trailing ones: the shortest form has none).
      let fraction = scaled - whole * scale;
      for (let place = scale / 10; place >= 1; place /= 10) {
        const digit = Math.floor(fraction / place);
        this.bytes[this.at++] = ZERO + digit;
        fraction -= digit * place;
      }
      return true;
    }
    return false;
  }

  /** Appends one number, NaN (no sample) and ±Infinity written as null (the caller reserved room). */
  number(value: number): void {
    // Whole numbers (-0 included, which JSON writes as 0) are written digit by digit.
    if (Number.isSafeInteger(value)) this.integer(value);
    // Any other number in JSON's own form (String() writes the same digits as
    // JSON), ±Infinity (never stored: sources refuse it) as null. JSON.stringify
    // was tried here, to keep these strings out of V8's number-string cache in
    // the old generation: alternated builds measured a downsampled read's p99
    // 4-7 ms worse with it (docs/performance.md, "(b)'s p99, bisected").
    else if (!this.shortDecimal(value)) this.ascii(Number.isFinite(value) ? String(value) : 'null');
  }

  /** Appends bytes (the caller reserved room). A loop: Buffer.copy's call costs more than the few bytes of a JSON key. */
  raw(source: Buffer): void {
    const { bytes } = this;
    const at = this.at;
    for (let k = 0; k < source.length; k++) bytes[at + k] = source[k];
    this.at = at + source.length;
  }

  /** Appends a JSON array of numbers, NaN written as null. */
  numbers(values: Float64Array): void {
    this.reserve(2 + values.length * (MAX_NUMBER_BYTES + 1));
    const { bytes } = this;
    bytes[this.at++] = 0x5b; // [
    // A value equal to the one before copies its bytes: clocks, memory and counters repeat a lot.
    let previous = NaN;
    let previousFrom = 0;
    let previousLength = 0;
    for (let i = 0; i < values.length; i++) {
      const value = values[i];
      if (i > 0) bytes[this.at++] = COMMA;
      if (value !== value) {
        NULL_BYTES.copy(bytes, this.at);
        this.at += 4;
      } else if (value === previous) {
        for (let k = 0; k < previousLength; k++) bytes[this.at + k] = bytes[previousFrom + k];
        this.at += previousLength;
      } else {
        const from = this.at;
        this.number(value);
        previous = value;
        previousFrom = from;
        previousLength = this.at - from;
      }
    }
    bytes[this.at++] = 0x5d; // ]
  }

  /** The JSON written, lent in this writer's scratch buffer until released; the writer is not used after it. */
  answer(): JsonAnswer {
    const scratch = this.bytes;
    let released = false;
    return {
      bytes: scratch.subarray(0, this.at),
      release: () => {
        if (released) return;
        released = true;
        giveBackScratch(scratch);
      },
    };
  }
}
