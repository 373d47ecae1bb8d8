/**
 * The named fields of an API record and the DCGM field each one reads.
 * Every other DCGM field is served under its own name in `metrics`. The
 * table lives in the query layer (not the gateway) because filters that
 * take these names, such as the record stream's, are resolved here.
 */
import { GputelError } from '../common/gputel-error.js';

export const NAMED_FIELDS = [
  ['gpu_utilization', 'DCGM_FI_DEV_GPU_UTIL'],
  ['memory_utilization', 'DCGM_FI_DEV_MEM_COPY_UTIL'],
  ['memory_used_mb', 'DCGM_FI_DEV_FB_USED'],
  ['memory_free_mb', 'DCGM_FI_DEV_FB_FREE'],
  ['temperature', 'DCGM_FI_DEV_GPU_TEMP'],
  ['power_draw', 'DCGM_FI_DEV_POWER_USAGE'],
  ['sm_clock_mhz', 'DCGM_FI_DEV_SM_CLOCK'],
  ['memory_clock_mhz', 'DCGM_FI_DEV_MEM_CLOCK'],
] as const;

export type NamedField = (typeof NAMED_FIELDS)[number][0];

/** A named field and the DCGM field it reads. */
export type NamedFieldEntry = readonly [name: string, field: string];

const DCGM_FIELD_OF = new Map<string, string>(NAMED_FIELDS);
/** What a DCGM field name looks like (DATA.md: any `DCGM_FI_*` field is kept under its own name). */
const DCGM_FIELD_NAME = /^DCGM_FI_[A-Z0-9_]{1,120}$/;

/** The DCGM field a metric name selects (a named field or a DCGM field name itself), or undefined for anything else. */
export function dcgmFieldOf(name: string): string | undefined {
  return DCGM_FIELD_OF.get(name) ?? (DCGM_FIELD_NAME.test(name) ? name : undefined);
}

/**
 * The DCGM field a metric name selects: a named field (`power_draw`) or a
 * DCGM field name itself. Throws BAD_REQUEST naming the metric and what is
 * allowed for anything else.
 */
export function resolveMetricName(name: string): string {
  const field = dcgmFieldOf(name);
  if (field !== undefined) return field;
  throw new GputelError(
    'BAD_REQUEST',
    `unknown metric ${JSON.stringify(name.slice(0, 80))}: use a DCGM field name (DCGM_FI_…) or one of ${NAMED_FIELDS.map(([field]) => field).join(', ')}`,
  );
}
