/**
 * The cursor of a paged telemetry answer: the series (host and GPU), the
 * last timestamp served and the step of a downsampled page, opaque to
 * clients (base64url of a small JSON array). A cursor comes back from the
 * client, so it is validated like any other parameter.
 */
import { GputelError } from '../common/gputel-error.js';
import { MAX_TIME_MS } from './time-param.js';

export interface TelemetryCursor {
  /** The last timestamp served: the next page starts after it (after its bucket when downsampled). */
  afterMs: number;
  hostname: string;
  gpuKey: string;
  /** The step of a downsampled page (max_points picks it once, for every page); a cursor without one goes on only in raw pages. */
  stepMs?: number;
}

/** The cursor of the page after the one that ended at `lastMs`. */
export function encodeTelemetryCursor(series: { hostname: string; gpuKey: string }, lastMs: number, stepMs: number | undefined): string {
  const fields: unknown[] = [lastMs, series.hostname, series.gpuKey];
  if (stepMs !== undefined) fields.push(stepMs);
  return Buffer.from(JSON.stringify(fields)).toString('base64url');
}

/**
 * Reads a cursor this API gave out. Throws BAD_REQUEST for anything else:
 * not base64url JSON, fields of the wrong type, a time no Date holds, a step
 * that is not a whole positive number of ms.
 */
export function decodeTelemetryCursor(cursor: string): TelemetryCursor {
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    decoded = undefined;
  }
  if (
    !Array.isArray(decoded) ||
    !(Number.isSafeInteger(decoded[0]) && Math.abs(decoded[0] as number) <= MAX_TIME_MS) ||
    typeof decoded[1] !== 'string' ||
    typeof decoded[2] !== 'string' ||
    (decoded[3] !== undefined && !(Number.isSafeInteger(decoded[3]) && (decoded[3] as number) >= 1))
  ) {
    throw new GputelError('BAD_REQUEST', `cursor "${cursor.slice(0, 200)}" is not a cursor this API gave out: ask without cursor to start again`);
  }
  return { afterMs: decoded[0] as number, hostname: decoded[1], gpuKey: decoded[2], stepMs: decoded[3] as number | undefined };
}
