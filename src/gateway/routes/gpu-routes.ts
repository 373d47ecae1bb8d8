/** GET /api/v1/gpus and GET /api/v1/gpus/{id}/telemetry. */
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { GputelError } from '../../common/gputel-error.js';
import type { GpuEntry } from '../../store/registry.js';
import { readTelemetry, reportUnreadable } from '../../store/telemetry-reader.js';
import { decodeGpuMetadata } from '../../store/gpu-records.js';
import type { Logger } from '../../common/logger.js';
import { gpuView, recordView } from '../api-views.js';
import type { GatewayContext } from '../gateway-context.js';
import { parseTimeParam } from '../time-param.js';

export const DEFAULT_LIMIT = 1000;
export const MAX_LIMIT = 10_000;

const TelemetryQuery = Type.Object(
  {
  start_time: Type.Optional(Type.String({ description: 'RFC 3339, epoch ms, or now-15m style; inclusive' })),
  end_time: Type.Optional(Type.String({ description: 'RFC 3339, epoch ms, or now-15m style; inclusive' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_LIMIT, default: DEFAULT_LIMIT })),
  cursor: Type.Optional(Type.String({ description: 'next_cursor of the previous page' })),
  },
  // A misspelt parameter (?start=) must be an error, not a silently wider query.
  { additionalProperties: false },
);

/** A cursor is the series (host and GPU) and the last timestamp served, opaque to clients. */
function encodeCursor(gpu: GpuEntry, lastMs: number): string {
  return Buffer.from(JSON.stringify([lastMs, gpu.hostname, gpu.gpuKey])).toString('base64url');
}

function decodeCursor(cursor: string): { afterMs: number; hostname: string; gpuKey: string } {
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    decoded = undefined;
  }
  if (!Array.isArray(decoded) || !Number.isInteger(decoded[0]) || typeof decoded[1] !== 'string' || typeof decoded[2] !== 'string') {
    throw new GputelError('BAD_REQUEST', `cursor "${cursor}" is not a cursor this API gave out`);
  }
  return { afterMs: decoded[0] as number, hostname: decoded[1], gpuKey: decoded[2] };
}

export function registerGpuRoutes(app: FastifyInstance, context: GatewayContext): void {
  app.get('/api/v1/gpus', async () => {
    const data = context.registry.gpus().map(gpuView);
    return { data, count: data.length };
  });

  app.get<{ Params: { id: string }; Querystring: { start_time?: string; end_time?: string; limit?: number; cursor?: string } }>(
    '/api/v1/gpus/:id/telemetry',
    { schema: { params: Type.Object({ id: Type.String({ minLength: 1 }) }), querystring: TelemetryQuery } },
    async (request) => {
      const { id } = request.params;
      const query = request.query;
      let gpu = context.registry.findGpu(id);
      if (!gpu) throw new GputelError('GPU_NOT_FOUND', `no GPU "${id}": use a UUID or hostname:gpu_id from /api/v1/gpus`);
      const cursor = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
      if (cursor) {
        // Page on through the series the cursor started in, even if a UUID seen
        // under two hostnames now resolves to the other one.
        if (cursor.gpuKey !== gpu.gpuKey) throw new GputelError('BAD_REQUEST', `cursor "${query.cursor}" belongs to another GPU's telemetry`);
        const series = context.registry.findSeries(cursor.hostname, cursor.gpuKey);
        if (!series) throw new GputelError('BAD_REQUEST', `cursor "${query.cursor}" names a series that no longer exists`);
        gpu = series;
      }
      const startMs = query.start_time === undefined ? 0 : parseTimeParam(query.start_time, 'start_time');
      const endMs = query.end_time === undefined ? Number.MAX_SAFE_INTEGER : parseTimeParam(query.end_time, 'end_time');
      if (endMs < startMs) throw new GputelError('BAD_REQUEST', `end_time (${query.end_time}) is before start_time (${query.start_time})`);
      const afterMs = cursor?.afterMs;
      const limit = query.limit ?? DEFAULT_LIMIT;
      // The longest chunk span bounds the key scan. Read it from the store, not
      // the watch-fed registry: metadata is written no later than the chunks, so
      // a fresh read covers every chunk the scan can see.
      const metadata = await context.kv.get(context.keys.gpuMetadata(context.cluster, gpu.hostname, gpu.gpuKey));
      // Unreadable metadata gives no span: scan every chunk (slower, still right).
      const maxChunkSpanMs = metadata ? readMaxChunkSpanMs(metadata.value) : undefined;
      const page = await readTelemetry(context.kv, context.keys, context.cluster, { hostname: gpu.hostname, gpuKey: gpu.gpuKey, maxChunkSpanMs }, {
        startMs: afterMs === undefined ? startMs : Math.max(startMs, afterMs + 1),
        endMs: Math.min(endMs, 10 ** 13 - 1),
        limit,
        onUnreadable: (key, error) => reportUnreadable(request.log as Logger, key, error),
      });
      const pageMetrics = [...new Set(page.records.flatMap((r) => [...r.values.keys()]))].sort();
      const data = page.records.map((record) => recordView(gpu, record, pageMetrics));
      return {
        data,
        count: data.length,
        next_cursor: page.more && page.lastTimestampMs !== undefined ? encodeCursor(gpu, page.lastTimestampMs) : null,
      };
    },
  );
}

function readMaxChunkSpanMs(bytes: Buffer): number | undefined {
  try {
    return decodeGpuMetadata(bytes).maxChunkSpanMs;
  } catch {
    return undefined;
  }
}
