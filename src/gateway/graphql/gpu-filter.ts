/**
 * The filters of the `gpus` query over the registry's list.
 *
 * LEAD: branch rest adds these filters (and namespace, pod) to the query
 * layer as FleetQuery.gpus(filter): call that instead and drop this file.
 */
import type { GpuEntry } from '../../store/registry.js';

export interface GpuFilter {
  hostname?: string;
  model?: string;
  status?: GpuEntry['status'];
}

/** The GPUs matching every filter given, in the list's order. */
export function filterGpus(gpus: readonly GpuEntry[], filter: GpuFilter): readonly GpuEntry[] {
  const { hostname, model, status } = filter;
  if (hostname === undefined && model === undefined && status === undefined) return gpus;
  return gpus.filter((gpu) => (hostname === undefined || gpu.hostname === hostname) && (model === undefined || gpu.modelName === model) && (status === undefined || gpu.status === status));
}
