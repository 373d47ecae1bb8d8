/**
 * `gputel summary` and `gputel idle`: the fleet (or one host) at a glance,
 * and the GPUs idle over a window (GET /api/v1/summary,
 * /api/v1/hosts/{hostname}/summary). The summary's answer has no `data`
 * wrapper: `summary` prints all of it, `idle` its `idle` part.
 */
import { Command } from 'commander';
import { GputelError } from '../../common/gputel-error.js';
import type { ApiSummary } from '../../gateway/api-schemas.js';
import { parseWindow } from '../../gateway/summary-params.js';
import { printable } from '../output-format.js';
import { clientContextOf, withClientOptions } from './client-options.js';
import { formatDetail, formatList, type Column } from './client-output.js';
import { celsius, formatNumber, gpuLabel, percent, shortTime, watts } from './human-units.js';
import { writeOutput } from './write-output.js';

type IdleGpu = ApiSummary['idle']['gpus'][number];

/** The summary's query from --window and --threshold, checked here (BAD_CONFIG names the option). */
function summaryQuery(options: Record<string, unknown>): { window?: string; idle_threshold?: string } {
  const window = options.window === undefined ? undefined : String(options.window).trim();
  if (window !== undefined) {
    try {
      parseWindow(window);
    } catch (error) {
      throw new GputelError('BAD_CONFIG', `--${error instanceof Error ? error.message : String(error)}`);
    }
  }
  const threshold = options.threshold === undefined ? undefined : String(options.threshold).trim();
  if (threshold !== undefined && !(/^\d+(?:\.\d+)?$/.test(threshold) && Number(threshold) <= 100)) {
    throw new GputelError('BAD_CONFIG', `--threshold "${threshold}" must be a number from 0 to 100 (percent utilisation)`);
  }
  return { window, idle_threshold: threshold };
}

function withSummaryOptions(command: Command): Command {
  return withClientOptions(command)
    .option('--window <duration>', 'the idle window, ending at the newest sample: 1m to 7d (default 1h)')
    .option('--threshold <percent>', 'idle: mean utilisation under this over the window (default 5)')
    .option('--host <hostname>', "this host's GPUs only");
}

async function fetchSummary(options: Record<string, unknown>): Promise<{ summary: ApiSummary } & ReturnType<typeof clientContextOf>> {
  const query = summaryQuery(options);
  const context = clientContextOf(options);
  const path = typeof options.host === 'string' ? `/api/v1/hosts/${encodeURIComponent(options.host)}/summary` : '/api/v1/summary';
  return { summary: await context.client.get<ApiSummary>(path, query), ...context };
}

const SUMMARY_COLUMNS: Column<ApiSummary>[] = [
  { name: 'gpus', title: 'GPUS', value: (s) => s.gpus },
  { name: 'active', title: 'ACTIVE', value: (s) => s.by_status.active, cell: (s, colors) => colors.green(String(s.by_status.active)) },
  { name: 'stale', title: 'STALE', value: (s) => s.by_status.stale, cell: (s, colors) => (s.by_status.stale > 0 ? colors.yellow(String(s.by_status.stale)) : '0') },
  { name: 'idle', title: 'IDLE', value: (s) => s.idle.count, cell: (s, colors) => `${s.idle.count > 0 ? colors.cyan(String(s.idle.count)) : '0'} (under ${formatNumber(s.idle.threshold)}% over ${s.idle.window})` },
  { name: 'utilization_mean', title: 'UTIL MEAN', value: (s) => s.utilization.mean, cell: (s) => percent(s.utilization.mean) },
  { name: 'utilization_max', title: 'UTIL MAX', value: (s) => s.utilization.max, cell: (s) => percent(s.utilization.max) },
  { name: 'power_draw_total', title: 'POWER', value: (s) => s.power_draw.total, cell: (s) => watts(s.power_draw.total) },
  { name: 'temperature_max', title: 'TEMP MAX', value: (s) => s.temperature.max, cell: (s) => celsius(s.temperature.max) },
  {
    name: 'hottest_id',
    title: 'HOTTEST',
    value: (s) => s.temperature.hottest?.id,
    // A person reads host and GPU number (JSON and CSV keep the id to ask for it by).
    cell: (s, colors) => (s.temperature.hottest ? `${gpuLabel(s.temperature.hottest)} (${colors.red(celsius(s.temperature.hottest.value))})` : '-'),
  },
  { name: 'idle_window', title: 'WINDOW', value: (s) => s.idle.window },
  { name: 'idle_threshold', title: 'THRESHOLD', value: (s) => s.idle.threshold, cell: (s) => percent(s.idle.threshold) },
  { name: 'as_of', title: 'AS OF', value: (s) => s.as_of as string | null, cell: (s) => shortTime(s.as_of as string | null) },
];

const IDLE_COLUMNS: Column<IdleGpu>[] = [
  { name: 'id', title: 'ID', value: (g) => g.id },
  { name: 'hostname', title: 'HOST', value: (g) => g.hostname },
  { name: 'gpu_id', title: 'GPU', value: (g) => g.gpu_id, right: true },
  { name: 'mig_instance_id', title: 'MIG', value: (g) => g.mig_instance_id },
  { name: 'uuid', title: 'UUID', value: (g) => g.uuid },
  { name: 'mean_utilization', title: 'MEAN UTIL', value: (g) => g.mean_utilization, cell: (g, colors) => colors.cyan(percent(g.mean_utilization)), right: true },
];

function summaryCommand(): Command {
  return withSummaryOptions(new Command('summary'))
    .description('the fleet (or one host) at a glance: GPUs by status, utilisation, power, the hottest GPU, how many are idle')
    .action(async (options: Record<string, unknown>) => {
      const { summary, format, colors } = await fetchSummary(options);
      // The table leaves out what it already says in IDLE.
      const columns = format === 'table' ? SUMMARY_COLUMNS.filter((c) => c.name !== 'idle_window' && c.name !== 'idle_threshold') : SUMMARY_COLUMNS;
      await writeOutput(formatDetail(format, summary, summary, columns, colors));
    });
}

function idleCommand(): Command {
  return withSummaryOptions(new Command('idle'))
    .description('the GPUs whose mean utilisation over the window is under the threshold (a GPU with no utilisation sample in it is not idle)')
    .action(async (options: Record<string, unknown>) => {
      const { summary, format, colors } = await fetchSummary(options);
      const { idle } = summary;
      if (format === 'table') {
        await writeOutput(`${idle.count} GPU(s) idle: mean utilisation under ${formatNumber(idle.threshold)}% over ${printable(idle.window)} up to ${shortTime(summary.as_of as string | null)}\n`);
      }
      if (format !== 'table' || idle.count > 0) await writeOutput(`${format === 'table' ? '\n' : ''}${formatList(format, idle, idle.gpus, IDLE_COLUMNS, colors)}`);
    });
}

export function summaryCommands(): Command[] {
  return [summaryCommand(), idleCommand()];
}
