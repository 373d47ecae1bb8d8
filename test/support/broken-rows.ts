/**
 * Mixes broken rows into a good DCGM CSV, the way real exports break: a bad
 * value, a bad timestamp, missing fields, an empty UUID, a repeated header,
 * Windows line endings, and a last row cut off mid-field.
 */
export interface BrokenFile {
  text: string;
  /** Line numbers (1-based) of the rows that must be rejected. */
  badLines: number[];
}

export function withBrokenRows(goodText: string): BrokenFile {
  const lines = goodText.replace(/\n$/, '').split('\n');
  const header = lines[0];
  const sample = lines[1];
  const fields = sample.split('","');
  const variant = (index: number, value: string): string => {
    const copy = [...fields];
    copy[index] = index === 0 ? `"${value}` : value;
    return copy.join('","');
  };
  const broken = [
    variant(10, 'abc'), // value not a number
    variant(0, '2025-13-45T99:00:00Z'), // impossible timestamp
    '"2025-07-18T20:42:34Z","DCGM_FI_DEV_GPU_UTIL","0"', // too few fields
    variant(4, ''), // empty uuid
    variant(2, 'x7'), // gpu_id not a number
  ];
  const out: string[] = [];
  const badLines: number[] = [];
  lines.forEach((line, i) => {
    out.push(line);
    if (i > 0 && i % 7 === 0 && broken.length > 0) {
      out.push(broken.shift()!);
      badLines.push(out.length);
    }
    if (i === Math.floor(lines.length / 2)) out.push(header); // a repeated header is skipped, not rejected
  });
  out.push(sample.slice(0, Math.floor(sample.length / 2))); // truncated last row, no newline
  badLines.push(out.length);
  return { text: out.join('\r\n'), badLines };
}
