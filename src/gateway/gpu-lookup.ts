/**
 * A GPU asked for by id in a request: the one series it names, or the error
 * that tells the client which id to use. The lookup itself is the query
 * layer's (FleetQuery.findGpu), shared with GraphQL.
 */
import { GputelError } from '../common/gputel-error.js';
import type { GpuEntry } from '../store/registry.js';
import type { FleetQuery } from '../store/fleet-query.js';

function gpuNotFound(id: string): GputelError {
  return new GputelError('GPU_NOT_FOUND', `no GPU "${id}": use an id, UUID or hostname:gpu_id from /api/v1/gpus`);
}

/** AMBIGUOUS_GPU, listing in `ids` (and the message) the id of each series `id` names. */
export function ambiguousGpu(id: string, gpus: readonly GpuEntry[]): GputelError {
  const ids = gpus.map((gpu) => gpu.id);
  const hostnames = new Set(gpus.map((gpu) => gpu.hostname));
  const instances = hostnames.size === 1 && gpus.every((gpu) => gpu.uuid === gpus[0].uuid && gpu.migInstanceId !== '');
  const what = instances ? 'MIG instances' : hostnames.size === 1 ? `series on host "${gpus[0].hostname}"` : `series under ${hostnames.size} hostnames`;
  return new GputelError('AMBIGUOUS_GPU', `GPU "${id}" names ${gpus.length} ${what}: ask by one of the ids in error.ids (${ids.join(', ')})`, { details: { ids } });
}

/**
 * The one GPU series `id` names. Throws GPU_NOT_FOUND when it names none,
 * AMBIGUOUS_GPU (with the ids to use) when it names several.
 */
export function findGpu(query: FleetQuery, id: string): GpuEntry {
  const lookup = query.findGpu(id);
  if (lookup.kind === 'found') return lookup.gpu;
  throw lookup.kind === 'none' ? gpuNotFound(id) : ambiguousGpu(id, lookup.gpus);
}

/**
 * The series a cursor names, which `id` must name too, alone or among
 * others: a cursor names its series, so paging by a UUID goes on even when
 * the UUID turned ambiguous after the first page (seen under a second
 * hostname). Throws GPU_NOT_FOUND for an unknown id, BAD_REQUEST for a
 * cursor of another GPU or of a series no longer stored.
 */
export function findCursorGpu(query: FleetQuery, id: string, series: { hostname: string; gpuKey: string }): GpuEntry {
  const lookup = query.findGpu(id);
  if (lookup.kind === 'none') throw gpuNotFound(id);
  const named = lookup.kind === 'found' ? [lookup.gpu] : lookup.gpus;
  const gpu = named.find((candidate) => candidate.hostname === series.hostname && candidate.gpuKey === series.gpuKey);
  if (gpu) return gpu;
  if (query.findSeries(series.hostname, series.gpuKey)) {
    throw new GputelError('BAD_REQUEST', `the cursor belongs to another GPU's telemetry than "${id}": ask without cursor to start again`);
  }
  throw new GputelError('BAD_REQUEST', `the cursor names a series that no longer exists: ask without cursor to start again`);
}
