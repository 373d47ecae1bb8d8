/**
 * The named fields of an API record and the DCGM field each one reads.
 * Every other DCGM field is served under its own name in `metrics`.
 */
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
