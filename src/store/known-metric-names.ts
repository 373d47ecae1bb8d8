/**
 * The metric names chunk format 2 writes as a one-byte code instead of the
 * name: code k (1-based) stands for KNOWN_METRIC_NAMES[k - 1]; code 0 is
 * followed by the name itself. A 1-record chunk of 16 DCGM fields spends
 * ~400 bytes on names written out, 16 bytes on codes.
 *
 * Part of the stored format: entries may only be APPENDED (up to 127, so
 * that every code stays one varint byte); never reorder or remove one, or
 * stored chunks would read with the wrong names.
 */
export const KNOWN_METRIC_NAMES: readonly string[] = [
  'DCGM_FI_DEV_GPU_UTIL',
  'DCGM_FI_DEV_MEM_COPY_UTIL',
  'DCGM_FI_DEV_FB_USED',
  'DCGM_FI_DEV_FB_FREE',
  'DCGM_FI_DEV_GPU_TEMP',
  'DCGM_FI_DEV_MEMORY_TEMP',
  'DCGM_FI_DEV_POWER_USAGE',
  'DCGM_FI_DEV_SM_CLOCK',
  'DCGM_FI_DEV_MEM_CLOCK',
  'DCGM_FI_DEV_ENC_UTIL',
  'DCGM_FI_DEV_DEC_UTIL',
  'DCGM_FI_DEV_XID_ERRORS',
  'DCGM_FI_DEV_PCIE_REPLAY_COUNTER',
  'DCGM_FI_PROF_GR_ENGINE_ACTIVE',
  'DCGM_FI_PROF_PIPE_TENSOR_ACTIVE',
  'DCGM_FI_PROF_DRAM_ACTIVE',
  'DCGM_FI_DEV_FB_RESERVED',
  'DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION',
  'DCGM_FI_DEV_POWER_MGMT_LIMIT',
  'DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL',
  'DCGM_FI_DEV_VGPU_LICENSE_STATUS',
  'DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS',
  'DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS',
  'DCGM_FI_DEV_ROW_REMAP_FAILURE',
  'DCGM_FI_PROF_SM_ACTIVE',
  'DCGM_FI_PROF_SM_OCCUPANCY',
  'DCGM_FI_PROF_PIPE_FP64_ACTIVE',
  'DCGM_FI_PROF_PIPE_FP32_ACTIVE',
  'DCGM_FI_PROF_PIPE_FP16_ACTIVE',
  'DCGM_FI_PROF_PCIE_TX_BYTES',
  'DCGM_FI_PROF_PCIE_RX_BYTES',
  'DCGM_FI_PROF_NVLINK_TX_BYTES',
  'DCGM_FI_PROF_NVLINK_RX_BYTES',
];

/** Name → code (1-based), for the encoder. */
export const KNOWN_METRIC_CODES: ReadonlyMap<string, number> = new Map(KNOWN_METRIC_NAMES.map((name, index) => [name, index + 1]));
