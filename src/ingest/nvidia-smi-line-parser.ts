/**
 * Parses the lines `nvidia-smi --query-gpu=… --format=csv,noheader,nounits`
 * prints (DATA.md §3), one line per GPU per interval, into DcgmRows named
 * after the DCGM field each nvidia-smi field stands for, so that every later
 * stage (API names, charts, metadata) treats them like dcgm-exporter data.
 */
import { emptyRow, type DcgmRow, type RejectedRow } from './dcgm-row.js';
import { formatLabelsRaw } from './labels-raw-format.js';

/** The query fields, in the order of the query (DATA.md §3). */
export const NVIDIA_SMI_QUERY_FIELDS = [
  'timestamp',
  'index',
  'uuid',
  'name',
  'driver_version',
  'memory.total',
  'memory.used',
  'memory.free',
  'utilization.gpu',
  'utilization.memory',
  'temperature.gpu',
  'power.draw',
  'clocks.sm',
  'clocks.mem',
] as const;

/** The arguments of the long-lived child, before `-lms <interval>`. */
export const NVIDIA_SMI_QUERY_ARGS = [`--query-gpu=${NVIDIA_SMI_QUERY_FIELDS.join(',')}`, '--format=csv,noheader,nounits'];

/**
 * nvidia-smi field → DCGM field, in query order (the table of
 * docs/live-sources.md). Units agree: with `nounits` memory is MiB, power W,
 * clocks MHz, utilisation %, temperature °C, exactly DCGM's units.
 * memory.total becomes the field DCGM_FI_DEV_FB_TOTAL (as newer
 * dcgm-exporters publish it): a constant series costs next to nothing in the
 * chunk codec and keeps the total beside used and free.
 */
export const NVIDIA_SMI_METRICS: ReadonlyArray<readonly [field: string, dcgmField: string]> = [
  ['memory.total', 'DCGM_FI_DEV_FB_TOTAL'],
  ['memory.used', 'DCGM_FI_DEV_FB_USED'],
  ['memory.free', 'DCGM_FI_DEV_FB_FREE'],
  ['utilization.gpu', 'DCGM_FI_DEV_GPU_UTIL'],
  ['utilization.memory', 'DCGM_FI_DEV_MEM_COPY_UTIL'],
  ['temperature.gpu', 'DCGM_FI_DEV_GPU_TEMP'],
  ['power.draw', 'DCGM_FI_DEV_POWER_USAGE'],
  ['clocks.sm', 'DCGM_FI_DEV_SM_CLOCK'],
  ['clocks.mem', 'DCGM_FI_DEV_MEM_CLOCK'],
];

/** Index in the split line of the first metric field (memory.total). */
const FIRST_METRIC_FIELD = 5;
const FIELD_COUNT = NVIDIA_SMI_QUERY_FIELDS.length;
const MAX_SHOWN_CHARS = 80;

/** How the timestamp column is read: nvidia-smi prints the local time of its process. */
export type NvidiaSmiTimeZone = 'utc' | 'local';

/** A field nvidia-smi could not fill: `[N/A]`, `N/A`, `[Not Supported]`, `[Unknown Error]` and any other `[…]`. */
export function isAbsentNvidiaSmiValue(text: string): boolean {
  return text === 'N/A' || (text.startsWith('[') && text.endsWith(']'));
}

function shown(text: string): string {
  const cut = text.length > MAX_SHOWN_CHARS ? `${text.slice(0, MAX_SHOWN_CHARS - 3)}...` : text;
  // eslint-disable-next-line no-control-regex
  return cut.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/**
 * A plain decimal number, each digit read one way: `\d+\.?\d*` split a run
 * of digits every way and took seconds on a long field (a ReDoS found by
 * test/fuzz/nvidia-smi-line.fuzz.ts).
 */
const DECIMAL_NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$/;

const TIMESTAMP = /^(\d{4})\/(\d{2})\/(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))?$/;

/**
 * `2026/03/02 09:15:00.123` → epoch ms, read as UTC or as the local time of
 * this process. Returns NaN when the text is not such a time or names no
 * real date (2026/02/30). In local time an hour skipped by a DST change maps
 * forward and a repeated hour to its first occurrence (JavaScript's rule),
 * which is why the nvidia-smi source runs its child with TZ=UTC.
 */
export function parseNvidiaSmiTimestamp(text: string, timeZone: NvidiaSmiTimeZone): number {
  const match = TIMESTAMP.exec(text);
  if (match === null) return Number.NaN;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number);
  const ms = match[7] === undefined ? 0 : Number(match[7].padEnd(3, '0'));
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59) return Number.NaN;
  const result = timeZone === 'utc' ? Date.UTC(year, month - 1, day, hour, minute, second, ms) : new Date(year, month - 1, day, hour, minute, second, ms).getTime();
  // Date rolls 2026/02/30 over into March: refuse it instead.
  const check = new Date(result);
  const checkDay = timeZone === 'utc' ? check.getUTCDate() : check.getDate();
  return checkDay === day ? result : Number.NaN;
}

/** Receives the parser's rows and refusals; rows are reused objects (copy what you keep). */
export interface NvidiaSmiLineSink {
  row(row: DcgmRow): void;
  reject(rejected: RejectedRow): void;
}

/**
 * Parses one line at a time. One instance per child process stream: it
 * caches each GPU's labels_raw per metric, built once per GPU identity.
 */
export class NvidiaSmiLineParser {
  private readonly hostname: string;
  private readonly timeZone: NvidiaSmiTimeZone;
  /** `index,uuid,name,driver` → labels_raw per metric (NVIDIA_SMI_METRICS order). */
  private readonly labelsByGpu = new Map<string, string[]>();
  private readonly rowObject: DcgmRow = emptyRow();

  constructor(options: { hostname: string; timeZone: NvidiaSmiTimeZone }) {
    this.hostname = options.hostname;
    this.timeZone = options.timeZone;
  }

  /**
   * Parses one line (without its newline).
   *
   * Contract: calls `sink.row` once per metric field that has a value, in
   * NVIDIA_SMI_METRICS order; an absent field (`[N/A]`…) gives no row and no
   * refusal. A field that is present but not a number is refused on its own
   * (the others still give rows); a line that is not a query line at all
   * (wrong field count, bad timestamp, index or uuid; nvidia-smi's own error
   * messages) is refused whole. A blank line is ignored. Never throws.
   * Returns the line's timestamp in epoch ms, or undefined when refused or blank.
   */
  parse(line: string, lineNumber: number, sink: NvidiaSmiLineSink): number | undefined {
    const text = line.endsWith('\r') ? line.slice(0, -1) : line;
    if (text.trim() === '') return undefined;
    const reject = (reason: string): undefined => {
      sink.reject({ lineNumber, byteOffset: -1, reason });
      return undefined;
    };
    const fields = text.split(',');
    if (fields.length !== FIELD_COUNT) {
      return reject(`expected ${FIELD_COUNT} comma-separated fields of the nvidia-smi query, found ${fields.length}: "${shown(text)}"`);
    }
    for (let i = 0; i < FIELD_COUNT; i++) fields[i] = fields[i].trim();
    const timestampMs = parseNvidiaSmiTimestamp(fields[0], this.timeZone);
    if (Number.isNaN(timestampMs)) return reject(`timestamp "${shown(fields[0])}" is not a time of the form 2026/03/02 09:15:00.123`);
    const indexText = fields[1];
    if (!/^\d{1,4}$/.test(indexText)) return reject(`index "${shown(indexText)}" is not a GPU index`);
    const uuid = fields[2];
    if (uuid === '' || isAbsentNvidiaSmiValue(uuid)) return reject(`GPU ${indexText} has no uuid ("${shown(uuid)}")`);
    const name = isAbsentNvidiaSmiValue(fields[3]) ? '' : fields[3];
    const driver = isAbsentNvidiaSmiValue(fields[4]) ? '' : fields[4];

    const gpuKey = `${indexText},${uuid},${name},${driver}`;
    let labels = this.labelsByGpu.get(gpuKey);
    if (labels === undefined) {
      labels = NVIDIA_SMI_METRICS.map(([, metric]) => {
        const pairs: Array<[string, string]> = [
          ['Hostname', this.hostname],
          ['UUID', uuid],
          ['__name__', metric],
          ['device', `nvidia${Number(indexText)}`],
          ['gpu', String(Number(indexText))],
          ['modelName', name],
        ];
        if (driver !== '') pairs.push(['DCGM_FI_DRIVER_VERSION', driver]);
        return formatLabelsRaw(pairs);
      });
      // A machine has a handful of GPUs; the bound only guards against a stream of changing identities.
      if (this.labelsByGpu.size >= 1024) this.labelsByGpu.clear();
      this.labelsByGpu.set(gpuKey, labels);
    }

    const row = this.rowObject;
    row.lineNumber = lineNumber;
    row.timestampMs = timestampMs;
    row.gpuId = Number(indexText);
    row.device = `nvidia${row.gpuId}`;
    row.uuid = uuid;
    row.modelName = name;
    row.hostname = this.hostname;
    for (let m = 0; m < NVIDIA_SMI_METRICS.length; m++) {
      const valueText = fields[FIRST_METRIC_FIELD + m];
      if (isAbsentNvidiaSmiValue(valueText)) continue;
      const [field, metric] = NVIDIA_SMI_METRICS[m];
      const value = DECIMAL_NUMBER.test(valueText) ? Number(valueText) : Number.NaN;
      // Not finite: 400 digits read as Infinity, and one Infinity in a queued
      // message makes the collector refuse the whole message.
      if (!Number.isFinite(value)) {
        sink.reject({ lineNumber, byteOffset: -1, reason: `GPU ${indexText} ${field} "${shown(valueText)}" is not a number` });
        continue;
      }
      row.metricName = metric;
      row.sourceMetricName = field;
      row.value = value;
      row.labelsRaw = labels[m];
      sink.row(row);
    }
    return timestampMs;
  }
}
