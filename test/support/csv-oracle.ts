/**
 * An independent reading of a DCGM CSV for tests: deliberately simple and
 * slow (a character loop), sharing no code with the real parser, so the
 * pipeline's output can be checked against it value by value.
 */
import { readFileSync } from 'node:fs';

export interface OracleRow {
  line: number;
  timestampMs: number;
  metric: string;
  gpuId: number;
  uuid: string;
  hostname: string;
  value: number;
}

function splitCsvLine(line: string): string[] | undefined {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      fields.push(field);
      field = '';
    } else field += c;
  }
  if (quoted) return undefined;
  fields.push(field);
  return fields;
}

/** Reads the rows a correct parser must accept (rows that parse and validate). */
export function readOracle(path: string): OracleRow[] {
  const text = readFileSync(path, 'utf8').replace(/^\uFEFF/, '');
  const lines = text.split(/\r?\n/);
  const rows: OracleRow[] = [];
  lines.forEach((line, index) => {
    if (line.trim() === '' || line.startsWith('"timestamp"') || line.startsWith('timestamp,')) return;
    const f = splitCsvLine(line);
    if (!f || f.length !== 12) return;
    const timestampMs = Date.parse(f[0]);
    const value = f[10].trim() === '' ? NaN : Number(f[10]);
    const gpuId = Number(f[2]);
    if (!Number.isFinite(timestampMs) || !Number.isFinite(value) || !Number.isInteger(gpuId) || gpuId < 0 || f[1] === '' || f[4] === '' || f[6] === '') return;
    rows.push({ line: index + 1, timestampMs, metric: f[1], gpuId, uuid: f[4], hostname: f[6], value });
  });
  return rows;
}

/** uuid → timestamp → metric → value. */
export function expectedSeries(rows: OracleRow[]): Map<string, Map<number, Map<string, number>>> {
  const byGpu = new Map<string, Map<number, Map<string, number>>>();
  for (const row of rows) {
    let byTime = byGpu.get(row.uuid);
    if (!byTime) byGpu.set(row.uuid, (byTime = new Map()));
    let metrics = byTime.get(row.timestampMs);
    if (!metrics) byTime.set(row.timestampMs, (metrics = new Map()));
    metrics.set(row.metric, row.value);
  }
  return byGpu;
}
