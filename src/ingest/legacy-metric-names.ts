/**
 * Metric names of old dcgm-exporters (the `dcgm_*` counters of NVIDIA's
 * gpu-monitoring-tools era and custom counter files that kept them) mapped to
 * the DCGM field each one stands for, so that every later stage sees one name
 * per field whatever exporter produced the file (DATA.md, "Older metric names").
 *
 * Some fields had two spellings over the years (`dcgm_memory_clock` /
 * `dcgm_mem_clock`, `dcgm_ecc_sbe` / `dcgm_ecc_sbe_volatile_total`); both map.
 */
export const LEGACY_METRIC_NAMES: ReadonlyMap<string, string> = new Map([
  // Clocks
  ['dcgm_sm_clock', 'DCGM_FI_DEV_SM_CLOCK'],
  ['dcgm_memory_clock', 'DCGM_FI_DEV_MEM_CLOCK'],
  ['dcgm_mem_clock', 'DCGM_FI_DEV_MEM_CLOCK'],
  // Temperature
  ['dcgm_gpu_temp', 'DCGM_FI_DEV_GPU_TEMP'],
  ['dcgm_memory_temp', 'DCGM_FI_DEV_MEMORY_TEMP'],
  ['dcgm_mem_temp', 'DCGM_FI_DEV_MEMORY_TEMP'],
  // Power and energy
  ['dcgm_power_usage', 'DCGM_FI_DEV_POWER_USAGE'],
  ['dcgm_total_energy_consumption', 'DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION'],
  // Utilisation
  ['dcgm_gpu_utilization', 'DCGM_FI_DEV_GPU_UTIL'],
  ['dcgm_mem_copy_utilization', 'DCGM_FI_DEV_MEM_COPY_UTIL'],
  ['dcgm_enc_utilization', 'DCGM_FI_DEV_ENC_UTIL'],
  ['dcgm_dec_utilization', 'DCGM_FI_DEV_DEC_UTIL'],
  // Framebuffer memory
  ['dcgm_fb_free', 'DCGM_FI_DEV_FB_FREE'],
  ['dcgm_fb_used', 'DCGM_FI_DEV_FB_USED'],
  ['dcgm_fb_total', 'DCGM_FI_DEV_FB_TOTAL'],
  // PCIe
  ['dcgm_pcie_tx_throughput', 'DCGM_FI_DEV_PCIE_TX_THROUGHPUT'],
  ['dcgm_pcie_rx_throughput', 'DCGM_FI_DEV_PCIE_RX_THROUGHPUT'],
  ['dcgm_pcie_tx_bytes', 'DCGM_FI_DEV_PCIE_TX_THROUGHPUT'],
  ['dcgm_pcie_rx_bytes', 'DCGM_FI_DEV_PCIE_RX_THROUGHPUT'],
  ['dcgm_pcie_replay_counter', 'DCGM_FI_DEV_PCIE_REPLAY_COUNTER'],
  // Errors and violations
  ['dcgm_xid_errors', 'DCGM_FI_DEV_XID_ERRORS'],
  ['dcgm_power_violation', 'DCGM_FI_DEV_POWER_VIOLATION'],
  ['dcgm_thermal_violation', 'DCGM_FI_DEV_THERMAL_VIOLATION'],
  ['dcgm_sync_boost_violation', 'DCGM_FI_DEV_SYNC_BOOST_VIOLATION'],
  ['dcgm_board_limit_violation', 'DCGM_FI_DEV_BOARD_LIMIT_VIOLATION'],
  ['dcgm_low_util_violation', 'DCGM_FI_DEV_LOW_UTIL_VIOLATION'],
  ['dcgm_reliability_violation', 'DCGM_FI_DEV_RELIABILITY_VIOLATION'],
  // ECC and retired pages
  ['dcgm_ecc_sbe', 'DCGM_FI_DEV_ECC_SBE_VOL_TOTAL'],
  ['dcgm_ecc_dbe', 'DCGM_FI_DEV_ECC_DBE_VOL_TOTAL'],
  ['dcgm_ecc_sbe_volatile_total', 'DCGM_FI_DEV_ECC_SBE_VOL_TOTAL'],
  ['dcgm_ecc_dbe_volatile_total', 'DCGM_FI_DEV_ECC_DBE_VOL_TOTAL'],
  ['dcgm_ecc_sbe_aggregate_total', 'DCGM_FI_DEV_ECC_SBE_AGG_TOTAL'],
  ['dcgm_ecc_dbe_aggregate_total', 'DCGM_FI_DEV_ECC_DBE_AGG_TOTAL'],
  ['dcgm_retired_pages_sbe', 'DCGM_FI_DEV_RETIRED_SBE'],
  ['dcgm_retired_pages_dbe', 'DCGM_FI_DEV_RETIRED_DBE'],
  ['dcgm_retired_pages_pending', 'DCGM_FI_DEV_RETIRED_PENDING'],
  // NVLink
  ['dcgm_nvlink_flit_crc_error_count_total', 'DCGM_FI_DEV_NVLINK_CRC_FLIT_ERROR_COUNT_TOTAL'],
  ['dcgm_nvlink_data_crc_error_count_total', 'DCGM_FI_DEV_NVLINK_CRC_DATA_ERROR_COUNT_TOTAL'],
  ['dcgm_nvlink_replay_error_count_total', 'DCGM_FI_DEV_NVLINK_REPLAY_ERROR_COUNT_TOTAL'],
  ['dcgm_nvlink_recovery_error_count_total', 'DCGM_FI_DEV_NVLINK_RECOVERY_ERROR_COUNT_TOTAL'],
  ['dcgm_nvlink_bandwidth_total', 'DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL'],
  // Profiling
  ['dcgm_gr_engine_active', 'DCGM_FI_PROF_GR_ENGINE_ACTIVE'],
  ['dcgm_sm_active', 'DCGM_FI_PROF_SM_ACTIVE'],
  ['dcgm_sm_occupancy', 'DCGM_FI_PROF_SM_OCCUPANCY'],
  ['dcgm_tensor_active', 'DCGM_FI_PROF_PIPE_TENSOR_ACTIVE'],
  ['dcgm_tensor_core_active', 'DCGM_FI_PROF_PIPE_TENSOR_ACTIVE'],
  ['dcgm_dram_active', 'DCGM_FI_PROF_DRAM_ACTIVE'],
  ['dcgm_fp64_active', 'DCGM_FI_PROF_PIPE_FP64_ACTIVE'],
  ['dcgm_fp32_active', 'DCGM_FI_PROF_PIPE_FP32_ACTIVE'],
  ['dcgm_fp16_active', 'DCGM_FI_PROF_PIPE_FP16_ACTIVE'],
]);

const LOWER_CASE_FIELD_PREFIX = 'dcgm_fi_';

/**
 * The canonical DCGM field name for a metric name as a file spells it.
 *
 * Contract: a known legacy `dcgm_*` name maps to its `DCGM_FI_*` field; a
 * lower-cased field name (`dcgm_fi_dev_gpu_temp`, written by some relabelling
 * pipelines) is upper-cased; any other name comes back unchanged (current
 * `DCGM_FI_*` fields and fields unknown to this table are kept as they are).
 * Never throws; does not validate the name's syntax.
 */
export function canonicalMetricName(name: string): string {
  const mapped = LEGACY_METRIC_NAMES.get(name);
  if (mapped !== undefined) return mapped;
  if (name.startsWith(LOWER_CASE_FIELD_PREFIX)) return name.toUpperCase();
  return name;
}
