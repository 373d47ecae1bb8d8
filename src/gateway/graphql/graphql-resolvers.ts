/**
 * The resolvers of the GraphQL schema: thin adapters over the query layer
 * that reuse the REST rules (telemetry-page.ts, summary-params.ts), so a
 * GraphQL answer holds the same values as the REST one. Arguments are
 * checked here, at the edge, with the REST messages under camelCase names.
 */
import { Kind, type GraphQLResolveInfo, type SelectionSetNode } from 'graphql';
import type { IResolvers, MercuriusContext } from 'mercurius';
import { GputelError } from '../../common/gputel-error.js';
import type { Logger } from '../../common/logger.js';
import type { Aggregation } from '../../store/downsampler.js';
import type { FleetStats } from '../../store/fleet-query.js';
import type { GpuRef } from '../../store/fleet-summary.js';
import type { StreamedRecord } from '../../store/record-stream.js';
import type { GpuEntry, HostEntry } from '../../store/registry.js';
import type { ColumnsPage } from '../../store/telemetry-columns.js';
import type { GatewayContext } from '../gateway-context.js';
import { NAMED_FIELDS } from '../named-fields.js';
import { DEFAULT_WINDOW, parseWindow } from '../summary-params.js';
import { migInstanceOf } from '../api-views.js';
import { findGpu } from '../gpu-lookup.js';
import { MAX_COLUMNS_LIMIT, MAX_LIMIT } from '../api-schemas.js';
import { readTelemetryPage } from '../telemetry-page.js';
import { formatTime } from '../time-param.js';
import { graphqlErrorOf } from './graphql-errors.js';
import { camelCase } from './graphql-schema.js';
import { recordFeed } from './record-feed.js';
import { pageRows, valuesRow, type RecordRow } from './record-row.js';
import type { SubscriptionSlots } from './subscription-slots.js';

/** GraphQL gives an argument left out as undefined and one given as null as null: both mean "not given". */
type Optional<T> = T | null | undefined;

interface TelemetryArgs {
  id: string;
  startTime?: Optional<string>;
  endTime?: Optional<string>;
  step?: Optional<string>;
  maxPoints?: Optional<number>;
  agg?: Optional<Aggregation>;
  metrics?: Optional<string[]>;
  limit?: Optional<number>;
  cursor?: Optional<string>;
}

interface TelemetryPageValue {
  gpu: GpuEntry;
  page: ColumnsPage;
  nextCursor: string | null;
}

/** What each graphql-ws connection's context carries (see graphql-plugin.ts). */
export interface SlotsContext {
  subscriptionSlots?: SubscriptionSlots;
}

function requestLogger(context: MercuriusContext): Logger {
  // Over WebSocket mercurius's reply is only { request }.
  return ((context.reply as Partial<MercuriusContext['reply']> | undefined)?.request?.log ?? context.app.log) as Logger;
}

function given<T>(value: Optional<T>): T | undefined {
  return value ?? undefined;
}

function checkRange(name: string, value: number | undefined, min: number, max: number): void {
  if (value !== undefined && !(value >= min && value <= max)) throw new GputelError('BAD_REQUEST', `${name} must be from ${min} to ${max}, not ${value}`);
}

/** Whether the field being resolved selects `name` directly, through fragments included. */
function selects(info: GraphQLResolveInfo, name: string): boolean {
  const seen = new Set<string>();
  const visit = (set: SelectionSetNode | undefined): boolean =>
    (set?.selections ?? []).some((selection) => {
      if (selection.kind === Kind.FIELD) return selection.name.value === name;
      if (selection.kind === Kind.INLINE_FRAGMENT) return visit(selection.selectionSet);
      const fragmentName = selection.name.value;
      if (seen.has(fragmentName)) return false;
      seen.add(fragmentName);
      return visit(info.fragments[fragmentName]?.selectionSet);
    });
  return info.fieldNodes.some((node) => visit(node.selectionSet));
}

function hostNotFound(hostname: string): GputelError {
  return new GputelError('HOST_NOT_FOUND', `no host "${hostname}": see hosts`);
}

function refOf(gpu: GpuRef): { id: string; uuid: string; hostname: string; gpuId: number; migInstanceId: string | null } {
  return { id: gpu.id, uuid: gpu.uuid, hostname: gpu.hostname, gpuId: gpu.gpuId, migInstanceId: migInstanceOf(gpu) };
}

/** The record fields that read one DCGM field each (gpuUtilization, powerDraw, …). */
function namedRecordFields(): Record<string, (row: RecordRow) => number | null> {
  return Object.fromEntries(NAMED_FIELDS.map(([name, field]) => [camelCase(name), (row: RecordRow) => row.value(field)]));
}

/** The resolvers over a gateway's query layer. */
export function graphqlResolvers(context: GatewayContext): IResolvers {
  const { query } = context;
  return {
    Query: {
      gpus: (_root, args: { hostname?: Optional<string>; model?: Optional<string>; status?: Optional<GpuEntry['status']>; namespace?: Optional<string>; pod?: Optional<string> }) =>
        query.gpus({ hostname: given(args.hostname), model: given(args.model), status: given(args.status), namespace: given(args.namespace), pod: given(args.pod) }),
      gpu: (_root, args: { id: string }) => findGpu(query, args.id),
      hosts: () => query.hosts(),
      host: (_root, args: { hostname: string }) => {
        const host = query.hosts().find((candidate) => candidate.hostname === args.hostname);
        if (!host) throw hostNotFound(args.hostname);
        return host;
      },
      telemetry: async (_root, args: TelemetryArgs, ctx: MercuriusContext, info: GraphQLResolveInfo): Promise<TelemetryPageValue> => {
        const limit = given(args.limit);
        // Records are objects per value in the answer; columns are not, so only a page of columns alone may be longer (as format=columns in REST).
        const columnsOnly = !selects(info, 'records');
        checkRange('limit', limit, 1, columnsOnly ? MAX_COLUMNS_LIMIT : MAX_LIMIT);
        checkRange('maxPoints', given(args.maxPoints), 1, MAX_COLUMNS_LIMIT);
        const params = {
          start_time: given(args.startTime),
          end_time: given(args.endTime),
          step: given(args.step),
          max_points: given(args.maxPoints),
          agg: given(args.agg),
          limit,
          cursor: given(args.cursor),
          format: columnsOnly ? ('columns' as const) : ('records' as const),
          // Metric names have no commas (named fields and DCGM_FI_… names): the REST form of the list.
          metrics: args.metrics ? args.metrics.join(',') : undefined,
        };
        const { gpu, page, nextCursor } = await readTelemetryPage(query, args.id, params, requestLogger(ctx));
        return { gpu, page, nextCursor };
      },
      summary: (_root, args: { window?: Optional<string>; idleThreshold?: Optional<number>; hostname?: Optional<string> }, ctx: MercuriusContext) => {
        const window = (given(args.window) ?? DEFAULT_WINDOW).trim();
        const threshold = given(args.idleThreshold) ?? context.idleThreshold.value;
        checkRange('idleThreshold', threshold, 0, 100);
        const log = requestLogger(ctx);
        const summary = query.summary({
          windowMs: parseWindow(window),
          idleThreshold: threshold,
          hostname: given(args.hostname),
          onUnreadable: (key, error) => log.warn({ err: error, key }, 'unreadable utilisation rollup skipped: its GPUs count as not idle'),
        });
        return {
          gpus: summary.gpus,
          byStatus: { active: summary.active, stale: summary.stale },
          utilization: { mean: summary.utilizationMean, max: summary.utilizationMax },
          powerDraw: { total: summary.powerDrawTotal },
          temperature: { max: summary.hottest?.value ?? null, hottest: summary.hottest && { ...refOf(summary.hottest), value: summary.hottest.value } },
          idle: {
            threshold,
            window,
            count: summary.idle.length,
            gpus: summary.idle.map((gpu) => ({ ...refOf(gpu), meanUtilization: gpu.meanUtilization })),
          },
          asOf: summary.asOfMs === undefined ? null : formatTime(summary.asOfMs),
        };
      },
      stats: (): Promise<FleetStats> => query.stats(),
    },
    Subscription: {
      telemetry: {
        subscribe: async (_root: unknown, args: { gpus?: Optional<string[]>; hosts?: Optional<string[]>; metrics?: Optional<string[]> }, ctx: MercuriusContext & SlotsContext) => {
          let release: (() => void) | undefined;
          // The operation id of this subscription on its connection (mercurius puts it in the context).
          const id = String((ctx as { id?: unknown }).id);
          try {
            // Reserved by the plugin's preSubscriptionExecution hook, so a reused id was refused before mercurius stored it.
            release = ctx.subscriptionSlots?.take(id);
            const feed = await recordFeed(query, { gpus: given(args.gpus), hosts: given(args.hosts), metrics: given(args.metrics) }, requestLogger(ctx), { onEnd: release });
            // Completed by the client while the feed was set up: end it now (mercurius would not).
            if (ctx.subscriptionSlots?.wasCompleted(id)) await feed.return?.();
            return feed;
          } catch (error) {
            release?.();
            throw graphqlErrorOf(error);
          }
        },
        resolve: (record: StreamedRecord): RecordRow => valuesRow(record),
      },
    },
    Gpu: {
      id: (gpu: GpuEntry) => gpu.id,
      model: (gpu: GpuEntry) => gpu.modelName,
      driverVersion: (gpu: GpuEntry) => gpu.driverVersion || null,
      firstSeen: (gpu: GpuEntry) => formatTime(gpu.firstSeenMs),
      lastSeen: (gpu: GpuEntry) => formatTime(gpu.lastSeenMs),
      migInstanceId: (gpu: GpuEntry) => migInstanceOf(gpu),
      migProfile: (gpu: GpuEntry) => gpu.migProfile || null,
      latest: async (gpu: GpuEntry): Promise<RecordRow | null> => {
        const latest = await query.latest(gpu);
        return latest ? valuesRow(latest) : null;
      },
    },
    Host: {
      firstSeen: (host: HostEntry) => formatTime(host.firstSeenMs),
      lastSeen: (host: HostEntry) => formatTime(host.lastSeenMs),
      gpus: (host: HostEntry) => query.gpusOfHost(host.hostname),
    },
    Record: {
      timestamp: (row: RecordRow) => formatTime(row.timestampMs),
      uuid: (row: RecordRow) => row.gpu.uuid,
      gpuId: (row: RecordRow) => row.gpu.gpuId,
      hostname: (row: RecordRow) => row.gpu.hostname,
      migInstanceId: (row: RecordRow) => migInstanceOf(row.gpu),
      ...namedRecordFields(),
      metrics: (row: RecordRow) => row.metricNames.map((name) => ({ name, value: row.value(name) })),
    },
    TelemetryPage: {
      records: (value: TelemetryPageValue) => pageRows(value.gpu, value.page),
      columns: (value: TelemetryPageValue) => value.page,
      count: (value: TelemetryPageValue) => value.page.timestampsMs.length,
    },
    TelemetryColumns: {
      timestamps: (page: ColumnsPage) => Array.from(page.timestampsMs),
      metrics: (page: ColumnsPage) => page.metrics.map((name, m) => ({ name, values: Array.from(page.columns[m], (value) => (Number.isNaN(value) ? null : value)) })),
    },
  };
}
