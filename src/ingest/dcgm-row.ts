/**
 * One good row of a DCGM long-format CSV, as the parser hands it out.
 *
 * The parser reuses ONE instance for every row (per-row allocation was the
 * measured bottleneck): a consumer copies what it keeps before returning.
 */
export interface DcgmRow {
  /** 1-based line number in the file (the header is line 1). */
  lineNumber: number;
  /** Source sample time, epoch milliseconds (never the ingest time). */
  timestampMs: number;
  /** Canonical DCGM field name, e.g. DCGM_FI_DEV_GPU_TEMP (old `dcgm_*` names mapped). */
  metricName: string;
  /** The metric name as the file spelled it (differs from metricName for old exporters). */
  sourceMetricName: string;
  gpuId: number;
  device: string;
  uuid: string;
  modelName: string;
  hostname: string;
  /** Kubernetes attribution; '' when no workload holds the GPU. */
  container: string;
  pod: string;
  namespace: string;
  value: number;
  /** labels_raw as between its outer quotes in the file, inner quotes still doubled (`k=""v"",…`); decode with parseLabelsRaw, which also makes the copy to keep (this string is a slice of a ~64 KiB decoded piece). */
  labelsRaw: string;
}

/** A row the parser refused, with where and why. */
export interface RejectedRow {
  lineNumber: number;
  /** Byte offset of the start of the line in the file; -1 when a row the parser accepted was refused later (the streamer's own checks). */
  byteOffset: number;
  reason: string;
}

/** The exact header of a DCGM long-format export, in order. */
export const DCGM_CSV_COLUMNS = [
  'timestamp',
  'metric_name',
  'gpu_id',
  'device',
  'uuid',
  'modelName',
  'Hostname',
  'container',
  'pod',
  'namespace',
  'value',
  'labels_raw',
] as const;

/** A blank row, for a source to fill and reuse for every row it delivers. */
export function emptyRow(): DcgmRow {
  return {
    lineNumber: 0,
    timestampMs: 0,
    metricName: '',
    sourceMetricName: '',
    gpuId: 0,
    device: '',
    uuid: '',
    modelName: '',
    hostname: '',
    container: '',
    pod: '',
    namespace: '',
    value: 0,
    labelsRaw: '',
  };
}
