/**
 * `gputel gpus`, `gputel hosts`, `gputel gpu ID`: the fleet as the gateway
 * lists it (GET /api/v1/gpus, /api/v1/hosts, /api/v1/gpus/{id}).
 */
import { Command } from 'commander';
import { GputelError } from '../../common/gputel-error.js';
import type { ApiGpu, ApiGpuDetail, ApiHost, ApiRecord, ApiSummary } from '../../gateway/api-schemas.js';
import { clientContextOf, withClientOptions } from './client-options.js';
import { formatDetail, formatList, type Column } from './client-output.js';
import { ago, shortTime, statusCell } from './human-units.js';
import { metricColumns } from './record-columns.js';
import { writeOutput } from './write-output.js';

/** A GPU row of the table: its status shows `idle` for an active GPU the summary lists as idle. */
type GpuRow = ApiGpu & { shownStatus: string };

const GPU_COLUMNS: Column<GpuRow>[] = [
  { name: 'id', title: 'ID', value: (g) => g.id },
  { name: 'hostname', title: 'HOST', value: (g) => g.hostname },
  { name: 'gpu_id', title: 'GPU', value: (g) => g.gpu_id, right: true },
  { name: 'mig_instance_id', title: 'MIG', value: (g) => g.mig_instance_id, cell: (g) => (g.mig_instance_id === null ? '-' : `${g.mig_instance_id} (${g.mig_profile ?? '?'})`) },
  { name: 'model', title: 'MODEL', value: (g) => g.model },
  { name: 'status', title: 'STATUS', value: (g) => g.status, cell: (g, colors) => statusCell(g.shownStatus, colors) },
  { name: 'last_seen', title: 'LAST SEEN', value: (g) => g.last_seen as string, cell: (g) => ago(g.last_seen as string) },
];
/** CSV carries every field of the API's GPU; the table only what fits a line. */
const GPU_CSV_COLUMNS: Column<GpuRow>[] = [
  ...GPU_COLUMNS.slice(0, 4),
  { name: 'mig_profile', title: 'MIG PROFILE', value: (g) => g.mig_profile },
  { name: 'uuid', title: 'UUID', value: (g) => g.uuid },
  { name: 'device', title: 'DEVICE', value: (g) => g.device },
  GPU_COLUMNS[4],
  { name: 'driver_version', title: 'DRIVER', value: (g) => g.driver_version },
  GPU_COLUMNS[5],
  { name: 'first_seen', title: 'FIRST SEEN', value: (g) => g.first_seen as string, cell: (g) => shortTime(g.first_seen as string) },
  GPU_COLUMNS[6],
];

const HOST_COLUMNS: Column<ApiHost>[] = [
  { name: 'hostname', title: 'HOST', value: (h) => h.hostname },
  { name: 'gpu_count', title: 'GPUS', value: (h) => h.gpu_count, right: true },
  { name: 'first_seen', title: 'FIRST SEEN', value: (h) => h.first_seen as string, cell: (h) => shortTime(h.first_seen as string) },
  { name: 'last_seen', title: 'LAST SEEN', value: (h) => h.last_seen as string, cell: (h) => ago(h.last_seen as string) },
];

/** `--status`: the API's statuses; idle is a summary's verdict, not a list filter. */
function statusOption(raw: unknown): string | undefined {
  if (raw === undefined || raw === 'active' || raw === 'stale') return raw;
  throw new GputelError('BAD_CONFIG', `--status ${JSON.stringify(raw)}: use active or stale (idle GPUs: gputel idle)`);
}

function gpusCommand(): Command {
  return withClientOptions(new Command('gpus'))
    .description('list the GPUs (each MIG instance on its own line), optionally filtered; the table marks idle GPUs (see gputel idle)')
    .option('--host <hostname>', 'only the GPUs of this host (an unknown host is an error: gputel hosts lists them)')
    .option('--status <status>', 'only active or only stale GPUs')
    .option('--model <name>', 'only GPUs of this model (exact), e.g. "NVIDIA H100 80GB HBM3"')
    .option('--namespace <name>', 'only GPUs whose newest sample is of this Kubernetes namespace')
    .option('--pod <name>', 'only GPUs whose newest sample is of this Kubernetes pod')
    .action(async (options: Record<string, unknown>) => {
      const status = statusOption(options.status);
      const { client, format, colors } = clientContextOf(options);
      const query = { hostname: options.host as string | undefined, status, model: options.model as string | undefined, namespace: options.namespace as string | undefined, pod: options.pod as string | undefined };
      // Only a table shows idle GPUs: one more request, for people.
      const [list, summary] = await Promise.all([
        client.get<{ data: ApiGpu[] }>('/api/v1/gpus', query),
        format === 'table' ? client.get<ApiSummary>('/api/v1/summary') : undefined,
      ]);
      // An empty list for a host the gateway has never seen is a typo, not
      // an answer: NOT_FOUND, as summary --host says (the host's GPU list
      // 404s with HOST_NOT_FOUND). A known host whose GPUs the other filters
      // leave out stays an empty list.
      if (list.data.length === 0 && query.hostname !== undefined) await client.get(`/api/v1/hosts/${encodeURIComponent(query.hostname)}/gpus`);
      const idle = new Set(summary?.idle.gpus.map((gpu) => gpu.id));
      const rows = list.data.map((gpu) => ({ ...gpu, shownStatus: gpu.status === 'active' && idle.has(gpu.id) ? 'idle' : gpu.status }));
      await writeOutput(formatList(format, list.data, rows, format === 'csv' ? GPU_CSV_COLUMNS : GPU_COLUMNS, colors));
    });
}

function hostsCommand(): Command {
  return withClientOptions(new Command('hosts'))
    .description('list the hosts: GPU count, first and last sample')
    .action(async (options: Record<string, unknown>) => {
      const { client, format, colors } = clientContextOf(options);
      const list = await client.get<{ data: ApiHost[] }>('/api/v1/hosts');
      await writeOutput(formatList(format, list.data, list.data, HOST_COLUMNS, colors));
    });
}

/** The fields of `gputel gpu`: the GPU's, its workload's, then its newest values. */
function gpuDetailColumns(): Column<ApiGpuDetail>[] {
  const latest = (g: ApiGpuDetail): ApiRecord | null => g.latest;
  const fromGpu = GPU_CSV_COLUMNS.map((column): Column<ApiGpuDetail> => ({
    ...column,
    value: (g) => column.value({ ...g, shownStatus: g.status }),
    cell: column.cell && ((g, colors) => column.cell!({ ...g, shownStatus: g.status }, colors)),
  }));
  const workload: Column<ApiGpuDetail>[] = (['namespace', 'pod', 'container'] as const).map((name) => ({ name, title: name.toUpperCase(), value: (g) => g[name] }));
  const values = metricColumns(undefined).map((column): Column<ApiGpuDetail> => ({
    name: column.name,
    title: column.title,
    value: (g) => (latest(g) === null ? null : column.value(latest(g)!)),
    cell: (g, colors) => (latest(g) === null ? '-' : column.cell!(latest(g)!, colors)),
  }));
  return [...fromGpu, ...workload, { name: 'latest_timestamp', title: 'LATEST', value: (g) => g.latest?.timestamp as string | undefined, cell: (g) => shortTime(g.latest?.timestamp as string | undefined) }, ...values];
}

function gpuCommand(): Command {
  return withClientOptions(new Command('gpu'))
    .description('one GPU: its metadata, the Kubernetes workload holding it, and its newest values')
    .argument('<id>', 'a GPU id from gputel gpus (UUID, hostname:gpu_id, or a MIG instance id)')
    .action(async (id: string, options: Record<string, unknown>) => {
      const { client, format, colors } = clientContextOf(options);
      const answer = await client.get<{ data: ApiGpuDetail }>(`/api/v1/gpus/${encodeURIComponent(id)}`);
      await writeOutput(formatDetail(format, answer.data, answer.data, gpuDetailColumns(), colors));
    });
}

export function fleetCommands(): Command[] {
  return [gpusCommand(), hostsCommand(), gpuCommand()];
}
