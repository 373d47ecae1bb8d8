/**
 * Fleet and host summaries: how many GPUs, how many stale, their newest
 * utilisation, power and temperature, and which were idle over a window.
 *
 * Nothing here reads the store. Newest values come from the registry (the
 * `latest/{host}` keys, followed through watch); the idle window comes from
 * the utilisation rollups (`rollups/{host}`), which the registry follows the
 * same way: a summary is as fresh as the registry's GPU list and latest
 * values, and takes no round trip (docs/performance.md). Protocol-free: the
 * REST routes only parse and shape.
 */
import { GputelError } from '../common/gputel-error.js';
import type { GpuEntry, Registry } from './registry.js';
import { ROLLUP_MAX_WINDOW_MS, ROLLUP_METRIC, sumRollupWindow } from './utilization-rollup.js';

/** The shortest idle window: the rollups' finest buckets are one minute wide. */
export const SUMMARY_MIN_WINDOW_MS = 60_000;
/** The longest idle window: what the rollups keep. */
export const SUMMARY_MAX_WINDOW_MS = ROLLUP_MAX_WINDOW_MS;

const POWER_METRIC = 'DCGM_FI_DEV_POWER_USAGE';
const TEMPERATURE_METRIC = 'DCGM_FI_DEV_GPU_TEMP';

export interface SummaryQuery {
  /** Length of the idle window, ending at the cluster's newest sample (SUMMARY_MIN_WINDOW_MS to SUMMARY_MAX_WINDOW_MS). */
  windowMs: number;
  /** A GPU whose mean utilisation (percent) over the window is below this is idle. */
  idleThreshold: number;
  /** Summarise this host's GPUs only. */
  hostname?: string;
  /** Told about a rollup that does not decode; its GPUs then count as not idle. */
  onUnreadable?: (key: string, error: unknown) => void;
}

/** A GPU named the way the API names one. */
export interface GpuRef {
  /** The id that names the series alone (GpuEntry.id). */
  id: string;
  uuid: string;
  hostname: string;
  gpuId: number;
  /** '' for a whole GPU. */
  migInstanceId: string;
}

export interface FleetSummaryResult {
  gpus: number;
  active: number;
  stale: number;
  /** Mean and max of the GPUs' newest utilisation; null when no GPU has one. */
  utilizationMean: number | null;
  utilizationMax: number | null;
  /** Sum of the GPUs' newest power draw (W); null when no GPU has one. */
  powerDrawTotal: number | null;
  /** The hottest GPU by newest temperature; null when no GPU has one. */
  hottest: (GpuRef & { value: number }) | null;
  /** GPUs whose mean utilisation over the window is below the threshold, in registry order. */
  idle: (GpuRef & { meanUtilization: number })[];
  /** The cluster's newest sample; undefined before any. */
  asOfMs: number | undefined;
}

export class FleetSummary {
  constructor(private readonly registry: Registry) {}

  /**
   * Summarises the cluster, or one host. Throws HOST_NOT_FOUND for a host
   * with no GPU, BAD_REQUEST for a window out of range, or a store error.
   * A GPU is counted as stale or active by the registry's rule (its newest
   * sample more than --stale-after behind the cluster's newest).
   */
  summarize(query: SummaryQuery): FleetSummaryResult {
    const { windowMs, hostname } = query;
    if (!(windowMs >= SUMMARY_MIN_WINDOW_MS && windowMs <= SUMMARY_MAX_WINDOW_MS)) {
      throw new GputelError('BAD_REQUEST', `window of ${windowMs} ms is out of range: from ${SUMMARY_MIN_WINDOW_MS} ms (1m) to ${SUMMARY_MAX_WINDOW_MS} ms (7d)`);
    }
    const all = this.registry.gpus();
    const gpus = hostname === undefined ? all : all.filter((gpu) => gpu.hostname === hostname);
    if (hostname !== undefined && gpus.length === 0) throw new GputelError('HOST_NOT_FOUND', `no host "${hostname}": see /api/v1/hosts`);
    const asOfMs = this.registry.asOfMs();

    const result: FleetSummaryResult = {
      gpus: gpus.length,
      active: 0,
      stale: 0,
      utilizationMean: null,
      utilizationMax: null,
      powerDrawTotal: null,
      hottest: null,
      idle: [],
      asOfMs,
    };
    let utilizationSum = 0;
    let utilizationCount = 0;
    for (const gpu of gpus) {
      if (gpu.status === 'active') result.active++;
      else result.stale++;
      const values = gpu.latest?.values;
      if (!values) continue;
      const utilization = values[ROLLUP_METRIC];
      if (utilization !== undefined) {
        utilizationSum += utilization;
        utilizationCount++;
        result.utilizationMax = Math.max(result.utilizationMax ?? -Infinity, utilization);
      }
      const power = values[POWER_METRIC];
      if (power !== undefined) result.powerDrawTotal = (result.powerDrawTotal ?? 0) + power;
      const temperature = values[TEMPERATURE_METRIC];
      // The first of equals in registry order (hostname, gpu_id), so the answer is stable.
      if (temperature !== undefined && (result.hottest === null || temperature > result.hottest.value)) result.hottest = { ...refOf(gpu), value: temperature };
    }
    if (utilizationCount > 0) result.utilizationMean = utilizationSum / utilizationCount;
    // A sum of values with a few decimals picks up binary noise (2296.5190000000002): 9 decimals is below any source's precision.
    if (result.powerDrawTotal !== null) result.powerDrawTotal = Math.round(result.powerDrawTotal * 1e9) / 1e9;
    if (asOfMs !== undefined && gpus.length > 0) result.idle = this.idleGpus(gpus, asOfMs, query);
    return result;
  }

  /** GPUs whose mean utilisation in the rollup buckets overlapping [asOf − window, asOf] is below the threshold. */
  private idleGpus(gpus: readonly GpuEntry[], asOfMs: number, query: SummaryQuery): FleetSummaryResult['idle'] {
    const rollups = this.registry.rollups();
    // Only the hosts asked about are decoded: one for a host summary.
    const hostnames = query.hostname !== undefined ? [query.hostname] : rollups.keys();
    // hostname → gpuKey → mean over the window.
    const means = new Map<string, Map<string, number>>();
    for (const hostname of hostnames) {
      const stored = rollups.get(hostname);
      if (!stored) continue;
      try {
        const sums = sumRollupWindow(stored.value, stored.key, asOfMs - query.windowMs, asOfMs);
        means.set(hostname, new Map(sums.map((entry) => [entry.gpuKey, entry.sum / entry.count])));
      } catch (error) {
        query.onUnreadable?.(stored.key, error);
      }
    }
    const idle: FleetSummaryResult['idle'] = [];
    for (const gpu of gpus) {
      const mean = means.get(gpu.hostname)?.get(gpu.gpuKey);
      // No utilisation sample in the window: unknown, so not idle.
      if (mean !== undefined && mean < query.idleThreshold) idle.push({ ...refOf(gpu), meanUtilization: mean });
    }
    return idle;
  }
}

function refOf(gpu: GpuEntry): GpuRef {
  return { id: gpu.id, uuid: gpu.uuid, hostname: gpu.hostname, gpuId: gpu.gpuId, migInstanceId: gpu.migInstanceId };
}
