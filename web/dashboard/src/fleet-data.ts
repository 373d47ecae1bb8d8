/**
 * The fleet's GPUs with their newest values in ONE request (GraphQL's
 * `gpus { latest }`, served from the gateway's in-memory registry), instead
 * of one latest call per GPU or host.
 */
import { graphql } from './api-client.js';
import type { MetricName } from './metrics.js';

export interface FleetGpu {
  id: string;
  uuid: string;
  gpuId: number;
  hostname: string;
  model: string;
  migInstanceId: string | null;
  migProfile: string | null;
  status: 'active' | 'stale';
  lastSeen: string;
  latest: { gpuUtilization: number | null; temperature: number | null; powerDraw: number | null; memoryUsedMb: number | null } | null;
}

const FLEET_QUERY = `query DashboardFleet {
  gpus { id uuid gpuId hostname model migInstanceId migProfile status lastSeen
         latest { gpuUtilization temperature powerDraw memoryUsedMb } }
}`;

export async function fetchFleet(signal?: AbortSignal): Promise<FleetGpu[]> {
  return (await graphql<{ gpus: FleetGpu[] }>(FLEET_QUERY, {}, signal)).gpus;
}

/** A GPU's newest values by the dashboard's metric names. */
export function latestValues(gpu: FleetGpu): Record<MetricName, number | null> {
  const latest = gpu.latest;
  return {
    gpu_utilization: latest?.gpuUtilization ?? null,
    temperature: latest?.temperature ?? null,
    power_draw: latest?.powerDraw ?? null,
    memory_used_mb: latest?.memoryUsedMb ?? null,
    memory_utilization: null,
    sm_clock_mhz: null,
  };
}

/**
 * What names a series in a record (`/ws`, REST): its hostname, UUID and MIG
 * instance together. A record carries no `id`, and its UUID alone is shared
 * by a GPU's MIG instances and by one GPU seen under two hostnames.
 */
export function seriesKey(hostname: string, uuid: string, migInstanceId: string | null): string {
  return `${hostname}\u0000${uuid}\u0000${migInstanceId ?? ''}`;
}

/** How a GPU is named on screen: its index, and its MIG instance when it is one. */
export function gpuLabel(gpu: { gpuId: number; migInstanceId: string | null }): string {
  return gpu.migInstanceId === null ? `GPU ${gpu.gpuId}` : `GPU ${gpu.gpuId} MIG ${gpu.migInstanceId}`;
}
