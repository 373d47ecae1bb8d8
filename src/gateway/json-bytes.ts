/**
 * JSON written as ASCII bytes into one growing Buffer, for the API's bulk
 * answers: numbers go in digit by digit, with no string built per value and
 * none for the whole answer (docs/performance.md has the figures).
 */
const COMMA = 0x2c;
const ZERO = 0x30;
const MINUS = 0x2d;
export const NULL_BYTES = Buffer.from('null', 'latin1');
/** Values with at most this many decimals (as a power of ten) are written without String(). */
const DECIMAL_SCALE = 10_000;
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
   * Appends a value with at most four decimals below 1e10 in magnitude
   * (most DCGM values: 628.154, 0.2689) without String(), which costs most of
   * the writing; returns false, writing nothing, for any other value. Exact:
   * when scaled / 10^4 === value, the decimal scaled / 10^4 reads back as the
   * value, and with at most 14 significant digits no shorter decimal does, so
   * it is the shortest form String() would write.
   */
  shortDecimal(value: number): boolean {
    if (!(value > -1e10 && value < 1e10)) return false;
    const scaled = Math.round(value * DECIMAL_SCALE);
    if (scaled / DECIMAL_SCALE !== value) return false;
    const magnitude = scaled < 0 ? -scaled : scaled;
    if (scaled < 0) this.bytes[this.at++] = MINUS;
    const whole = Math.floor(magnitude / DECIMAL_SCALE);
    let fraction = magnitude - whole * DECIMAL_SCALE;
    this.integer(whole);
    if (fraction === 0) return true;
    this.bytes[this.at++] = 0x2e; // .
    let place = DECIMAL_SCALE / 10;
    while (fraction > 0) {
      const digit = Math.floor(fraction / place);
      this.bytes[this.at++] = ZERO + digit;
      fraction -= digit * place;
      place /= 10;
    }
    return true;
  }

  /** Appends one number, NaN (no sample) and ±Infinity written as null (the caller reserved room). */
  number(value: number): void {
    // String(n) is JSON's own form of every finite number; whole numbers
    // (-0 included, which JSON writes as 0) are written digit by digit.
    if (Number.isSafeInteger(value)) this.integer(value);
    // ±Infinity is never stored (sources refuse it); JSON has no form for it.
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
