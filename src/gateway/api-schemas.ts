/**
 * The shapes of the REST API, as TypeBox schemas: the one source of request
 * validation, handler types and the OpenAPI document (GET /openapi.json).
 * Response schemas document the answers; they never change a byte of them
 * (see api-docs.ts: answers are written with JSON.stringify or as bytes).
 */
import { Type, type Static, type TSchema } from 'typebox';
import { AGGREGATIONS } from '../store/downsampler.js';
import { NAMED_FIELDS } from './named-fields.js';
import { DEFAULT_IDLE_THRESHOLD, DEFAULT_WINDOW } from './summary-params.js';

import { responses as routeResponses, type ErrorStatus } from '../common/error-responses.js';

export { ErrorBody, type ErrorStatus } from '../common/error-responses.js';

/**
 * Response schemas of an API route: its successes, the errors every route
 * gives, the ones given, and 401/403 (API keys, docs/security.md). The open
 * pages (the dashboard) use error-responses.ts's `responses` directly.
 */
export function responses<T extends Record<number, object>, E extends ErrorStatus = never>(success: T, ...errors: E[]): ReturnType<typeof routeResponses<T, E | 401 | 403>> {
  return routeResponses<T, E | 401 | 403>(success, 401, 403, ...errors);
}

/** Most records per page in the record form (each value is written twice, with names). */
export const MAX_LIMIT = 10_000;
/** Most records per page in the columnar form: one GPU's 24 h at 1 s in one page. */
export const MAX_COLUMNS_LIMIT = 100_000;
export const DEFAULT_LIMIT = 1000;

const Time = (description: string): TSchema => Type.String({ format: 'date-time', description });
const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

export const Gpu = Type.Object(
  {
    id: Type.String({ description: 'names this series alone: the UUID (or UUID:mig{n}), else hostname:gpu_id, else hostname:UUID[:mig{n}] (docs/api.md, GPU ids)' }),
    uuid: Type.String(),
    gpu_id: Type.Integer({ description: 'index of the GPU on its host' }),
    hostname: Type.String(),
    device: Type.String({ description: 'e.g. nvidia0' }),
    model: Type.String(),
    driver_version: Nullable(Type.String()),
    status: Type.Union([Type.Literal('active'), Type.Literal('stale')], { description: 'stale: newest sample more than --stale-after behind the cluster newest' }),
    first_seen: Time('first sample'),
    last_seen: Time('newest sample'),
    mig_instance_id: Nullable(Type.String({ description: 'the MIG instance; null for a whole GPU' })),
    mig_profile: Nullable(Type.String({ description: 'the MIG profile, e.g. 1g.10gb; null for a whole GPU' })),
  },
  { title: 'Gpu' },
);
export type ApiGpu = Static<typeof Gpu>;

export const GpuList = Type.Object({ data: Type.Array(Gpu), count: Type.Integer() }, { title: 'GpuList', description: 'GPUs by hostname, then gpu_id, then MIG instance' });

export const Host = Type.Object(
  { hostname: Type.String(), gpu_count: Type.Integer(), first_seen: Time('first sample of any of its GPUs'), last_seen: Time('newest sample of any of its GPUs') },
  { title: 'Host' },
);
export type ApiHost = Static<typeof Host>;
export const HostList = Type.Object({ data: Type.Array(Host), count: Type.Integer() }, { title: 'HostList', description: 'hosts by hostname' });

const MetricValue = Nullable(Type.Number());
const namedFields = Object.fromEntries(
  NAMED_FIELDS.map(([name, field]) => [name, Type.Optional(Type.Union([Type.Number(), Type.Null()], { description: `${field}; null: no sample; left out when metrics= does not select it` }))]),
);

export const TelemetryRecord = Type.Object(
  {
    timestamp: Time('sample time (raw) or bucket start (downsampled)'),
    uuid: Type.String(),
    gpu_id: Type.Integer(),
    hostname: Type.String(),
    mig_instance_id: Nullable(Type.String({ description: 'the MIG instance; null for a whole GPU' })),
    ...namedFields,
    metrics: Type.Record(Type.String(), MetricValue, { description: 'every DCGM field of the page (or of the selection), null where this record has no sample' }),
  },
  { title: 'Record' },
);
export type ApiRecord = Static<typeof TelemetryRecord>;

const NextCursor = Nullable(Type.String({ description: 'pass as cursor= for the next page; null on the last page' }));

export const RecordsPage = Type.Object({ data: Type.Array(TelemetryRecord), count: Type.Integer(), next_cursor: NextCursor }, { title: 'RecordsPage' });

export const ColumnsPage = Type.Object(
  {
    data: Type.Object({
      timestamps: Type.Array(Type.Integer(), { description: 'epoch ms, ascending' }),
      metrics: Type.Record(Type.String(), Type.Array(MetricValue), { description: 'metrics[name][i] is the value at timestamps[i], null: no sample' }),
    }),
    count: Type.Integer(),
    next_cursor: NextCursor,
  },
  { title: 'ColumnsPage' },
);

export const TelemetryAnswer = Type.Union([RecordsPage, ColumnsPage], { description: 'format=records (default): a RecordsPage; format=columns: a ColumnsPage' });

export const LatestAnswer = Type.Object({ data: TelemetryRecord }, { title: 'Latest', description: "the GPU's newest record" });
export const LatestList = Type.Object({ data: Type.Array(TelemetryRecord), count: Type.Integer() }, { title: 'LatestList', description: 'the newest record of each GPU of the host that has one' });

export const GpuDetail = Type.Object(
  {
    data: Type.Intersect([
      Gpu,
      Type.Object({
        latest: Nullable(TelemetryRecord),
        namespace: Type.Optional(Type.String({ description: 'Kubernetes namespace of the newest sample, when known' })),
        pod: Type.Optional(Type.String({ description: 'Kubernetes pod of the newest sample, when known' })),
        container: Type.Optional(Type.String({ description: 'container of the newest sample, when known' })),
      }),
    ]),
  },
  { title: 'GpuDetail', description: 'the GPU, its newest record and its Kubernetes attribution' },
);
export type ApiGpuDetail = Static<typeof GpuDetail>['data'];

const GpuRef = { id: Type.String(), uuid: Type.String(), hostname: Type.String(), gpu_id: Type.Integer(), mig_instance_id: Nullable(Type.String()) };
export const GpuRefSchema = Type.Object(GpuRef, { title: 'GpuRef' });
export type ApiGpuRef = Static<typeof GpuRefSchema>;
export const Summary = Type.Object(
  {
    gpus: Type.Integer(),
    by_status: Type.Object({ active: Type.Integer(), stale: Type.Integer() }),
    utilization: Type.Object({ mean: Nullable(Type.Number()), max: Nullable(Type.Number()) }),
    power_draw: Type.Object({ total: Nullable(Type.Number()) }),
    temperature: Type.Object({ max: Nullable(Type.Number()), hottest: Nullable(Type.Object({ ...GpuRef, value: Type.Number() })) }),
    idle: Type.Object({
      threshold: Type.Number(),
      window: Type.String(),
      count: Type.Integer(),
      gpus: Type.Array(Type.Object({ ...GpuRef, mean_utilization: Type.Number() })),
    }),
    as_of: Nullable(Time('newest sample of the cluster')),
  },
  { title: 'Summary', description: 'counts, newest values and idle GPUs' },
);
export type ApiSummary = Static<typeof Summary>;

export const Stats = Type.Object(
  { gpus: Type.Integer(), hosts: Type.Integer(), records: Type.Integer({ description: 'GPU × timestamp pairs stored' }), samples: Type.Integer({ description: 'metric values stored' }) },
  { title: 'Stats', description: 'fleet totals' },
);

/** A query string that takes no parameter (strict-query.ts refuses any). */
export const NoQuery = Type.Object({}, { additionalProperties: false });

/**
 * An integer parameter. The schema says integer (OpenAPI, Ajv's range
 * check); strict-query.ts first refuses any spelling but decimal digits,
 * which Ajv's coercion would take (0x10, 1e3, " 5").
 */
export const IntegerParam = (minimum: number, maximum: number, description: string) => Type.Integer({ minimum, maximum, description });

export const GpusQuery = Type.Object(
  {
    hostname: Type.Optional(Type.String({ description: 'only GPUs of this host (exact)' })),
    model: Type.Optional(Type.String({ description: 'only GPUs of this model name (exact), e.g. NVIDIA H100 80GB HBM3' })),
    status: Type.Optional(Type.Enum(['active', 'stale'], { description: 'only active or only stale GPUs' })),
    namespace: Type.Optional(Type.String({ description: 'only GPUs whose newest sample is attributed to this Kubernetes namespace (exact)' })),
    pod: Type.Optional(Type.String({ description: 'only GPUs whose newest sample is attributed to this Kubernetes pod (exact)' })),
  },
  { additionalProperties: false },
);
export type GpusQueryString = Static<typeof GpusQuery>;

const TimeParam = Type.String({ description: 'RFC 3339, epoch ms, or now-15m style (units ms, s, m, h, d, w); inclusive' });

export const TelemetryQuery = Type.Object(
  {
    start_time: Type.Optional(TimeParam),
    end_time: Type.Optional(TimeParam),
    limit: Type.Optional(IntegerParam(1, MAX_COLUMNS_LIMIT, `records (or buckets) per page; default ${DEFAULT_LIMIT}, at most ${MAX_LIMIT} (${MAX_COLUMNS_LIMIT} with format=columns)`)),
    cursor: Type.Optional(Type.String({ description: 'next_cursor of the previous page' })),
    step: Type.Optional(Type.String({ description: 'downsample into buckets of this width, aligned to multiples of it since the epoch: 30s, 5m, 1h (1ms to 366d)' })),
    max_points: Type.Optional(IntegerParam(1, MAX_COLUMNS_LIMIT, 'downsample with the smallest nice step giving at most this many buckets over the range')),
    agg: Type.Optional(Type.Enum([...AGGREGATIONS], { description: 'aggregation per bucket and metric (default avg); needs step or max_points' })),
    format: Type.Optional(Type.Enum(['records', 'columns'], { description: 'records (default) or columns' })),
    metrics: Type.Optional(
      Type.String({
        description: `comma-separated metrics to return, e.g. power_draw,DCGM_FI_DEV_GPU_TEMP: named fields (${NAMED_FIELDS.map(([name]) => name).join(', ')}) or DCGM field names (DCGM_FI_…); default all`,
      }),
    ),
  },
  // A misspelt parameter (?start=) must be an error, not a silently wider query.
  { additionalProperties: false },
);
export type TelemetryQueryString = Static<typeof TelemetryQuery>;

export const SummaryQuery = Type.Object(
  {
    window: Type.Optional(Type.String({ description: 'idle window ending at as_of: 1m to 7d (1w), e.g. 15m, 1h, 7d', default: DEFAULT_WINDOW })),
    idle_threshold: Type.Optional(Type.Number({ minimum: 0, maximum: 100, description: `a GPU whose mean utilisation (%) over the window is below this is idle (default: the gateway's --idle-threshold, ${DEFAULT_IDLE_THRESHOLD} unless set, live-configurable)` })),
  },
  { additionalProperties: false },
);
export type SummaryQueryString = Static<typeof SummaryQuery>;

export const GpuIdParams = Type.Object({ id: Type.String({ minLength: 1, description: 'UUID, hostname:gpu_id, or a MIG instance id from /api/v1/gpus' }) });
export const HostParams = Type.Object({ hostname: Type.String({ minLength: 1 }) });

/** A 200 answer that is an HTML page, not JSON. */
export const HTML_PAGE = { description: 'an HTML page', content: { 'text/html': { schema: Type.String() } } };
