/**
 * The GraphQL schema: the REST resources under the same names in camelCase
 * (docs/graphql.md). Metrics are a list of `{ name, value }` rather than a
 * JSON scalar: the values stay typed (Float, null when not sampled), GraphiQL
 * can complete them, and no custom scalar has to be taught to clients.
 */
import { AGGREGATIONS } from '../../store/downsampler.js';
import { NAMED_FIELDS } from '../named-fields.js';

/** `memory_used_mb` → `memoryUsedMb`. */
export function camelCase(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_match, letter: string) => letter.toUpperCase());
}

/** How a summary names a GPU (REST's id, uuid, hostname, gpu_id, mig_instance_id). */
const GPU_REF_FIELDS = `  "The id that names this series alone (as /api/v1/gpus lists it)."
  id: String!
  uuid: String!
  hostname: String!
  gpuId: Int!
  "Null for a whole GPU."
  migInstanceId: String`;
const NAMED_RECORD_FIELDS = NAMED_FIELDS.map(([name, field]) => `  "${field}; null when not sampled."\n  ${camelCase(name)}: Float`).join('\n');

export const GRAPHQL_SCHEMA = `
"A GPU, or one MIG instance of it, as the registry knows it."
type Gpu {
  "The id to ask for this GPU by: its UUID, or the instance's id for a MIG instance."
  id: String!
  uuid: String!
  gpuId: Int!
  hostname: String!
  device: String!
  model: String!
  driverVersion: String
  status: GpuStatus!
  "RFC 3339, UTC."
  firstSeen: String!
  lastSeen: String!
  "Null for a whole GPU."
  migInstanceId: String
  migProfile: String
  "The newest record; null before any."
  latest: Record
}

enum GpuStatus {
  active
  stale
}

type Host {
  hostname: String!
  gpuCount: Int!
  firstSeen: String!
  lastSeen: String!
  gpus: [Gpu!]!
}

"A DCGM field's value in one record."
type Metric {
  name: String!
  "Null when this record has no sample of it."
  value: Float
}

"One record: a GPU's samples at one timestamp (or one bucket, downsampled)."
type Record {
  "RFC 3339 with milliseconds, UTC."
  timestamp: String!
  uuid: String!
  gpuId: Int!
  hostname: String!
  "Null for a whole GPU."
  migInstanceId: String
${NAMED_RECORD_FIELDS}
  "Every DCGM field of the page (or of the record, streamed and latest), ascending by name."
  metrics: [Metric!]!
}

type MetricColumn {
  name: String!
  values: [Float]!
}

"A page in columns: values[r] of each metric is at timestamps[r]."
type TelemetryColumns {
  "Epoch milliseconds."
  timestamps: [Float!]!
  metrics: [MetricColumn!]!
}

type TelemetryPage {
  records: [Record!]!
  columns: TelemetryColumns!
  count: Int!
  "Pass as cursor for the next page; null on the last."
  nextCursor: String
}

enum Aggregation {
${AGGREGATIONS.map((a) => `  ${a}`).join('\n')}
}

type StatusCounts {
  active: Int!
  stale: Int!
}

type UtilizationSummary {
  mean: Float
  max: Float
}

type PowerSummary {
  total: Float
}

type GpuValue {
${GPU_REF_FIELDS}
  value: Float!
}

type TemperatureSummary {
  max: Float
  hottest: GpuValue
}

type IdleGpu {
${GPU_REF_FIELDS}
  meanUtilization: Float!
}

type IdleSummary {
  threshold: Float!
  window: String!
  count: Int!
  gpus: [IdleGpu!]!
}

type Summary {
  gpus: Int!
  byStatus: StatusCounts!
  utilization: UtilizationSummary!
  powerDraw: PowerSummary!
  temperature: TemperatureSummary!
  idle: IdleSummary!
  "The cluster's newest sample; null before any."
  asOf: String
}

"Fleet totals. records and samples are Float: they outgrow GraphQL's 32-bit Int."
type Stats {
  gpus: Int!
  hosts: Int!
  records: Float!
  samples: Float!
}

type Query {
  "Every GPU, by hostname, then gpuId, then MIG instance; the arguments filter."
  gpus(hostname: String, model: String, status: GpuStatus, namespace: String, pod: String): [Gpu!]!
  "A GPU by UUID, id or hostname:gpuId."
  gpu(id: String!): Gpu
  hosts: [Host!]!
  host(hostname: String!): Host
  """
  One page of a GPU's telemetry, as GET /api/v1/gpus/{id}/telemetry: times are RFC 3339, epoch ms or now-15m;
  step (30s, 5m, 1h) or maxPoints downsamples with agg (default avg); metrics keeps only these DCGM fields
  (or named fields such as power_draw); limit is at most 10000 (100000 when only columns are selected).
  """
  telemetry(
    id: String!
    startTime: String
    endTime: String
    step: String
    maxPoints: Int
    agg: Aggregation
    metrics: [String!]
    limit: Int
    cursor: String
  ): TelemetryPage
  "The fleet's (or one host's) summary over an idle window of 1m to 7d (default 1h) and threshold in % (default: the gateway's --idle-threshold, 5 unless set)."
  summary(window: String, idleThreshold: Float, hostname: String): Summary
  stats: Stats
}

type Subscription {
  "Every record stored from now on of the GPUs (ids as for gpu) and hosts given (all when absent), with only the metrics given."
  telemetry(gpus: [String!], hosts: [String!], metrics: [String!]): Record!
}
`;
