import { GputelError } from '../common/gputel-error.js';
import { DCGM_CSV_COLUMNS } from './dcgm-row.js';

/**
 * A deterministic generator of realistic DCGM long-format CSV: the input for
 * tests, demos and the ingest benchmark when no real export is at hand.
 *
 * Each GPU runs its own small simulation (jobs that start and stop; inside a
 * job, training with eval dips and data-loader stalls) from which every metric
 * follows the way it does on an H100: power tracks utilisation, temperature
 * tracks power with a first-order lag, framebuffer memory steps with jobs,
 * clocks rise under load. Every GPU has its own seeded PRNG, so a GPU's series
 * do not depend on how many other hosts or GPUs are generated.
 */

/** What to generate. Every field is validated by countGeneratedRows/generateDcgmCsv. */
export interface DcgmGeneratorOptions {
  /** Number of hosts, named gpu-node-01, gpu-node-02, … (1–9999). */
  hosts: number;
  /** GPUs per host (1–64). */
  gpusPerHost: number;
  /** Time span covered: timestamps are startMs + k·intervalMs < startMs + durationMs. */
  durationMs: number;
  /** Sampling interval (≥ 1 ms). */
  intervalMs: number;
  /** PRNG seed: the same options give the same bytes. */
  seed: number;
  /** First timestamp, epoch milliseconds (years 1970–9999). */
  startMs: number;
  /** When set, a `cluster` label in labels_raw; also feeds the UUIDs so clusters never share one. */
  cluster?: string;
  /**
   * The number of the first host (default 1): hosts firstHost… are named and
   * seeded by their number, so fleets of consecutive host ranges together
   * hold exactly the hosts, GPUs and values of one fleet of them all (how
   * `gputel cluster up` splits a simulated fleet over its streamers).
   */
  firstHost?: number;
}

/** The metrics written for every GPU at every timestamp, in this order. */
export const GENERATED_METRICS = [
  'DCGM_FI_DEV_GPU_UTIL',
  'DCGM_FI_DEV_MEM_COPY_UTIL',
  'DCGM_FI_DEV_FB_USED',
  'DCGM_FI_DEV_FB_FREE',
  'DCGM_FI_DEV_GPU_TEMP',
  'DCGM_FI_DEV_MEMORY_TEMP',
  'DCGM_FI_DEV_POWER_USAGE',
  'DCGM_FI_DEV_SM_CLOCK',
  'DCGM_FI_DEV_MEM_CLOCK',
  'DCGM_FI_DEV_ENC_UTIL',
  'DCGM_FI_DEV_DEC_UTIL',
  'DCGM_FI_DEV_XID_ERRORS',
  'DCGM_FI_DEV_PCIE_REPLAY_COUNTER',
  'DCGM_FI_PROF_GR_ENGINE_ACTIVE',
  'DCGM_FI_PROF_PIPE_TENSOR_ACTIVE',
  'DCGM_FI_PROF_DRAM_ACTIVE',
] as const;

const MODEL_NAME = 'NVIDIA H100 80GB HBM3';
/** FB_USED + FB_FREE on an H100 80GB as DCGM reports it. */
export const H100_FRAMEBUFFER_MIB = 81_559;
const DRIVER_VERSIONS = ['535.129.03', '535.129.03', '535.129.03', '550.54.15'];
const NAMESPACES = ['ml-team', 'research', 'nlp', 'vision'];
const XID_CODES = [13, 31, 43, 48, 63, 79, 94];
/** container, pod and namespace all empty, between the quotes that frame them in a row. */
const IDLE_KUBERNETES = '","","';

const IDLE_POWER_W = 70;
const IDLE_SM_CLOCK_MHZ = 345;
const MIN_BUSY_SM_CLOCK_MHZ = 1755;
const MAX_SM_CLOCK_MHZ = 1980;
const MEM_CLOCK_MHZ = 2619;
const GPU_TEMP_LAG_MS = 90_000;
const MEMORY_TEMP_LAG_MS = 150_000;

const MEAN_IDLE_MS = 20 * 60_000;
const MIN_JOB_MS = 20 * 60_000;
const MAX_JOB_MS = 3 * 3_600_000;
const MEAN_TRAIN_PHASE_MS = 8 * 60_000;
const MEAN_EVAL_MS = 90_000;
const MEAN_STALL_MS = 20_000;
/** Ticks over which a starting job fills the framebuffer. */
const FB_RAMP_TICKS = 3;

/** Writes are gathered into strings of about this size (fewer, larger writes). */
const WRITE_CHUNK_CHARS = 64 * 1024;
const MAX_EPOCH_MS = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z

/** mulberry32: a tiny, fast, well-mixed 32-bit PRNG; deterministic for a seed. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** murmur3's finaliser: spreads a combination of small integers over 32 bits. */
function mix32(value: number): number {
  let h = value >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

type Phase = 'idle' | 'train' | 'eval' | 'stall';

interface GpuSimulation {
  random: () => number;
  phase: Phase;
  jobLeftMs: number;
  jobTicks: number;
  kubernetes: string;
  fbTargetMiB: number;
  fbUsedMiB: number;
  powerMaxW: number;
  gpuTempC: number;
  memoryTempC: number;
  pcieReplays: number;
  /** Per metric: `","METRIC","gpu","device","uuid","model","host","` (after the timestamp). */
  prefixes: string[];
  /** Per metric: `","labels_raw"` and the newline (after the value). */
  suffixes: string[];
}

function checkInteger(name: string, value: unknown, min: number, max: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new GputelError('BAD_CONFIG', `generator option ${name} must be an integer in ${min}..${max}, got ${String(value)}`);
  }
}

function validate(options: DcgmGeneratorOptions): void {
  checkInteger('hosts', options.hosts, 1, 9999);
  checkInteger('gpusPerHost', options.gpusPerHost, 1, 64);
  checkInteger('intervalMs', options.intervalMs, 1, MAX_EPOCH_MS);
  checkInteger('durationMs', options.durationMs, 0, MAX_EPOCH_MS);
  checkInteger('startMs', options.startMs, 0, MAX_EPOCH_MS);
  checkInteger('seed', options.seed, -0x8000_0000, 0xffff_ffff);
  if (options.firstHost !== undefined) {
    checkInteger('firstHost', options.firstHost, 1, 9999);
    checkInteger('firstHost + hosts - 1', options.firstHost + options.hosts - 1, 1, 9999);
  }
  if (options.startMs + options.durationMs > MAX_EPOCH_MS + 1) {
    throw new GputelError('BAD_CONFIG', 'generator options startMs + durationMs must end by 9999-12-31T23:59:59.999Z');
  }
  if (options.cluster !== undefined && !/^[A-Za-z0-9._-]{1,64}$/.test(options.cluster)) {
    throw new GputelError('BAD_CONFIG', `generator option cluster must be 1-64 of [A-Za-z0-9._-], got "${options.cluster}"`);
  }
}

function tickCount(options: DcgmGeneratorOptions): number {
  return Math.ceil(options.durationMs / options.intervalMs);
}

/**
 * The number of data rows generateDcgmCsv writes for these options (the
 * header not counted): hosts × gpusPerHost × timestamps × 16 metrics.
 * Throws GputelError 'BAD_CONFIG' naming the bad option.
 */
export function countGeneratedRows(options: DcgmGeneratorOptions): number {
  validate(options);
  return options.hosts * options.gpusPerHost * tickCount(options) * GENERATED_METRICS.length;
}

/** `GPU-` + 32 deterministic hex digits in 8-4-4-4-12 form. */
function gpuUuid(random: () => number): string {
  let hex = '';
  for (let i = 0; i < 4; i++) hex += Math.floor(random() * 4_294_967_296).toString(16).padStart(8, '0');
  return `GPU-${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** 1 - exp(-dt/mean): the chance that an exponentially distributed phase ends within one tick. */
function endChance(intervalMs: number, meanMs: number): number {
  return 1 - Math.exp(-intervalMs / meanMs);
}

function clamp(value: number, min: number, max: number): number {
  return value < min ? min : value > max ? max : value;
}

/** Roughly normal noise with standard deviation ~1 (sum of three uniforms). */
function noise(random: () => number): number {
  return (random() + random() + random() - 1.5) * 2;
}

function formatTimestamp(ms: number): string {
  const iso = new Date(ms).toISOString();
  return iso.endsWith('.000Z') ? `${iso.slice(0, 19)}Z` : iso;
}

/** One simulated GPU as every row of it names it. */
export interface SimulatedGpu {
  hostname: string;
  gpuId: number;
  device: string;
  uuid: string;
  modelName: string;
  /** labels_raw in the CSV's doubled-quote form, one per metric in GENERATED_METRICS order. */
  labelsRaw: readonly string[];
}

/** The options of a fleet simulation: the generator's, less the time span. */
export type DcgmFleetOptions = Pick<DcgmGeneratorOptions, 'hosts' | 'gpusPerHost' | 'intervalMs' | 'seed' | 'cluster' | 'firstHost'>;

/**
 * The fleet behind generateDcgmCsv, stepped one tick at a time: the live
 * simulator source runs it without an end, and generateDcgmCsv writes it
 * out. Both step the GPUs in the same order from the same seeds, so a
 * simulator and a generated file with the same options hold the same values.
 */
export class DcgmFleetSimulation {
  readonly gpus: readonly SimulatedGpu[];
  /** @internal The per-GPU state, in host-major order (generateDcgmCsv writes from it). */
  readonly simulations: GpuSimulation[];
  /** @internal Per-tick probabilities for the interval. */
  readonly chances: Chances;
  /** @internal firstHost - 1: the absolute index of the first host, which seeds its GPUs' job ids. */
  readonly hostOffset: number;
  private readonly gpusPerHost: number;
  private readonly intervalMs: number;

  /** Throws GputelError 'BAD_CONFIG' naming the bad option. */
  constructor(options: DcgmFleetOptions) {
    validate({ ...options, durationMs: 0, startMs: 0 });
    const { hosts, gpusPerHost, intervalMs } = options;
    this.gpusPerHost = gpusPerHost;
    this.intervalMs = intervalMs;
    const clusterHash = options.cluster === undefined ? 0 : hashString(options.cluster);
    const seed = options.seed >>> 0;
    const firstHost = options.firstHost ?? 1;
    this.hostOffset = firstHost - 1;
    const hostDigits = Math.max(2, String(firstHost + hosts - 1).length);
    const gpus: GpuSimulation[] = [];
    const identities: SimulatedGpu[] = [];
    for (let host = 0; host < hosts; host++) {
      const hostNumber = firstHost + host;
      const hostname = `gpu-node-${String(hostNumber).padStart(hostDigits, '0')}`;
      const hostRandom = mulberry32(mix32(seed ^ mix32(clusterHash + 0x9e37 * hostNumber)));
      const driverVersion = DRIVER_VERSIONS[Math.floor(hostRandom() * DRIVER_VERSIONS.length)];
      for (let gpu = 0; gpu < gpusPerHost; gpu++) {
        const random = mulberry32(mix32(seed + mix32(clusterHash ^ (hostNumber * 0x10001 + gpu * 0x3b9))));
        const uuid = gpuUuid(random);
        const device = `nvidia${gpu}`;
        const prefixes: string[] = [];
        const suffixes: string[] = [];
        const labelsRaw: string[] = [];
        for (const metric of GENERATED_METRICS) {
          prefixes.push(`","${metric}","${gpu}","${device}","${uuid}","${MODEL_NAME}","${hostname}","`);
          // Prometheus sorts label names by byte value, upper case first, as dcgm-exporter's output does.
          const labels =
            `DCGM_FI_DRIVER_VERSION=""${driverVersion}"",Hostname=""${hostname}"",UUID=""${uuid}"",` +
            `__name__=""${metric}"",` +
            (options.cluster === undefined ? '' : `cluster=""${options.cluster}"",`) +
            `device=""${device}"",gpu=""${gpu}"",instance=""${hostname}:9400"",job=""dcgm_exporter"",` +
            `modelName=""${MODEL_NAME}""`;
          suffixes.push(`","${labels}"\n`);
          labelsRaw.push(labels);
        }
        const simulation: GpuSimulation = {
          random,
          phase: 'idle',
          jobLeftMs: 0,
          jobTicks: 0,
          kubernetes: IDLE_KUBERNETES,
          fbTargetMiB: 0,
          fbUsedMiB: 0,
          powerMaxW: 650 + random() * 50,
          gpuTempC: 0,
          memoryTempC: 0,
          pcieReplays: Math.floor(random() * 4),
          prefixes,
          suffixes,
        };
        // About two thirds of GPUs are busy when the file starts, part-way through a job.
        if (random() < 0.65) startJob(simulation, hostNumber - 1, gpu, random() * MAX_JOB_MS, FB_RAMP_TICKS);
        const busy = simulation.phase !== 'idle';
        simulation.gpuTempC = busy ? 60 + random() * 15 : 30 + random() * 6;
        simulation.memoryTempC = simulation.gpuTempC + 3;
        gpus.push(simulation);
        identities.push({ hostname, gpuId: gpu, device, uuid, modelName: MODEL_NAME, labelsRaw });
      }
    }
    this.chances = {
      idleEnds: endChance(intervalMs, MEAN_IDLE_MS),
      trainEnds: endChance(intervalMs, MEAN_TRAIN_PHASE_MS),
      evalEnds: endChance(intervalMs, MEAN_EVAL_MS),
      stallEnds: endChance(intervalMs, MEAN_STALL_MS),
      gpuTempStep: endChance(intervalMs, GPU_TEMP_LAG_MS),
      memoryTempStep: endChance(intervalMs, MEMORY_TEMP_LAG_MS),
      pcieReplay: endChance(intervalMs, 6 * 3_600_000),
      xid: endChance(intervalMs, 30 * 24 * 3_600_000),
    };
    this.simulations = gpus;
    this.gpus = identities;
  }

  /**
   * Advances GPU `index` (host-major, as in `gpus`) by one tick and writes
   * its metric values, formatted as the CSV writes them, into `values`
   * (GENERATED_METRICS order). Call it for every GPU in order once per tick.
   * Returns the GPU's Kubernetes attribution for the tick as the CSV's
   * `container","pod","namespace` fragment (empty fields when idle).
   */
  stepGpu(index: number, values: string[]): string {
    const simulation = this.simulations[index];
    step(simulation, this.hostOffset + Math.floor(index / this.gpusPerHost), index % this.gpusPerHost, this.intervalMs, this.chances, values);
    return simulation.kubernetes;
  }
}

/**
 * Writes a DCGM long-format CSV: the header line as DATA.md shows it, then
 * one row per metric per GPU per timestamp, every field double-quoted and
 * labels_raw with its inner quotes doubled. Rows come in timestamp order;
 * within a timestamp host by host, GPU by GPU, metric by metric
 * (GENERATED_METRICS order). Lines end with LF.
 *
 * Contract: the output depends only on the options (same options, same
 * bytes). `write` receives strings of about 64 KiB; when it returns a promise
 * the generator waits for it (backpressure), and a rejection ends the
 * generation with that error. Throws GputelError 'BAD_CONFIG' naming the bad
 * option before writing anything. Resolves with the number of data rows,
 * equal to countGeneratedRows(options).
 */
export async function generateDcgmCsv(
  options: DcgmGeneratorOptions,
  write: (chunk: string) => void | Promise<void>,
): Promise<{ rows: number }> {
  validate(options);
  const { gpusPerHost, intervalMs, startMs } = options;
  const ticks = tickCount(options);
  const fleet = new DcgmFleetSimulation(options);
  const gpus = fleet.simulations;

  let out = `${DCGM_CSV_COLUMNS.join(',')}\n`;
  let rows = 0;
  const values: string[] = new Array<string>(GENERATED_METRICS.length);
  for (let tick = 0; tick < ticks; tick++) {
    const timestamp = formatTimestamp(startMs + tick * intervalMs);
    for (let index = 0; index < gpus.length; index++) {
      const simulation = gpus[index];
      step(simulation, fleet.hostOffset + Math.floor(index / gpusPerHost), index % gpusPerHost, intervalMs, fleet.chances, values);
      const head = `"${timestamp}`;
      const { prefixes, suffixes, kubernetes } = simulation;
      for (let metric = 0; metric < values.length; metric++) {
        out += `${head}${prefixes[metric]}${kubernetes}","${values[metric]}${suffixes[metric]}`;
      }
      rows += values.length;
      if (out.length >= WRITE_CHUNK_CHARS) {
        const pending = write(out);
        out = '';
        if (pending !== undefined) await pending;
      }
    }
  }
  if (out.length > 0) {
    const pending = write(out);
    if (pending !== undefined) await pending;
  }
  return { rows };
}

function startJob(simulation: GpuSimulation, host: number, gpu: number, durationMs: number, filledTicks: number): void {
  const { random } = simulation;
  const jobId = 1 + Math.floor(random() * 9000) + host * 7;
  const namespace = NAMESPACES[Math.floor(random() * NAMESPACES.length)];
  simulation.kubernetes = `trainer","job-${jobId}-worker-${gpu}","${namespace}`;
  simulation.jobLeftMs = Math.max(durationMs, 1);
  simulation.jobTicks = filledTicks;
  simulation.fbTargetMiB = 61_440 + Math.floor(random() * 18_432); // 60–78 GiB
  simulation.fbUsedMiB = filledTicks >= FB_RAMP_TICKS ? simulation.fbTargetMiB : 0;
  simulation.phase = 'train';
}

function endJob(simulation: GpuSimulation): void {
  simulation.kubernetes = IDLE_KUBERNETES;
  simulation.phase = 'idle';
  simulation.fbTargetMiB = 0;
  simulation.fbUsedMiB = 0;
  simulation.jobTicks = 0;
}

interface Chances {
  idleEnds: number;
  trainEnds: number;
  evalEnds: number;
  stallEnds: number;
  gpuTempStep: number;
  memoryTempStep: number;
  pcieReplay: number;
  xid: number;
}

/** Advances one GPU by one tick and formats its 16 metric values into `values`. */
function step(
  simulation: GpuSimulation,
  host: number,
  gpu: number,
  intervalMs: number,
  chances: Chances,
  values: string[],
): void {
  const { random } = simulation;

  // Job lifecycle, then the phase inside the job.
  if (simulation.phase === 'idle') {
    if (random() < chances.idleEnds) {
      startJob(simulation, host, gpu, MIN_JOB_MS + random() * (MAX_JOB_MS - MIN_JOB_MS), 0);
    }
  } else {
    simulation.jobLeftMs -= intervalMs;
    simulation.jobTicks++;
    if (simulation.jobLeftMs <= 0) {
      endJob(simulation);
    } else if (simulation.phase === 'train') {
      if (random() < chances.trainEnds) simulation.phase = random() < 0.4 ? 'eval' : 'stall';
    } else if (simulation.phase === 'eval') {
      if (random() < chances.evalEnds) simulation.phase = 'train';
    } else if (random() < chances.stallEnds) {
      simulation.phase = 'train';
    }
  }

  let util: number;
  switch (simulation.phase) {
    case 'idle':
      util = random() < 0.8 ? 0 : 1 + Math.floor(random() * 3);
      break;
    case 'train':
      // A job warms up over its first ticks (data loading, compilation).
      util = simulation.jobTicks < 2 ? 20 + random() * 40 : clamp(93 + noise(random) * 3, 85, 100);
      break;
    case 'eval':
      util = 30 + random() * 30;
      break;
    case 'stall':
      util = random() * 15;
      break;
  }
  util = Math.round(util);
  const load = util / 100;

  if (simulation.fbUsedMiB < simulation.fbTargetMiB) {
    const ticks = Math.min(simulation.jobTicks + 1, FB_RAMP_TICKS);
    simulation.fbUsedMiB = Math.round((simulation.fbTargetMiB * ticks) / FB_RAMP_TICKS);
  }
  const fbUsedMiB = simulation.fbUsedMiB;

  const powerW = clamp(IDLE_POWER_W + (simulation.powerMaxW - IDLE_POWER_W) * load ** 1.2 + noise(random) * 4, 60, 700);
  // Temperatures follow power through first-order lags (the heat sink's time constant).
  const gpuTempTarget = 30 + ((powerW - 60) / 640) * 50;
  simulation.gpuTempC += (gpuTempTarget - simulation.gpuTempC) * chances.gpuTempStep;
  simulation.memoryTempC += (gpuTempTarget + 4 - simulation.memoryTempC) * chances.memoryTempStep;

  let smClockMHz = IDLE_SM_CLOCK_MHZ;
  if (util >= 5) {
    // Near the power cap the clock backs off in 15 MHz steps.
    const throttle = clamp((powerW - 0.85 * simulation.powerMaxW) / (0.15 * simulation.powerMaxW), 0, 1);
    smClockMHz = MAX_SM_CLOCK_MHZ - Math.round((throttle * (MAX_SM_CLOCK_MHZ - MIN_BUSY_SM_CLOCK_MHZ)) / 15) * 15;
  }

  const grEngineActive = util === 0 ? 0 : clamp(load * (0.93 + random() * 0.06), 0, 1);
  const tensorShare = simulation.phase === 'train' ? 0.35 + random() * 0.3 : 0.15 + random() * 0.15;
  const tensorActive = grEngineActive * tensorShare;
  const dramActive = grEngineActive * (0.25 + random() * 0.25);
  const memCopyUtil = util === 0 ? 0 : Math.round(clamp(util * (0.35 + random() * 0.2), 0, 100));

  if (random() < chances.pcieReplay) simulation.pcieReplays += 1 + Math.floor(random() * 3);
  const xid = random() < chances.xid ? XID_CODES[Math.floor(random() * XID_CODES.length)] : 0;

  values[0] = String(util);
  values[1] = String(memCopyUtil);
  values[2] = String(fbUsedMiB);
  values[3] = String(H100_FRAMEBUFFER_MIB - fbUsedMiB);
  values[4] = String(Math.round(simulation.gpuTempC));
  values[5] = String(Math.round(simulation.memoryTempC));
  values[6] = powerW.toFixed(3);
  values[7] = String(smClockMHz);
  values[8] = String(MEM_CLOCK_MHZ);
  values[9] = '0';
  values[10] = '0';
  values[11] = String(xid);
  values[12] = String(simulation.pcieReplays);
  values[13] = grEngineActive.toFixed(4);
  values[14] = tensorActive.toFixed(4);
  values[15] = dramActive.toFixed(4);
}

/** Label values written inside OpenMetrics quotes: `\`, `"` and newline escaped as the format asks. */
function openMetricsLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));
}

/**
 * Writes the same fleet as generateDcgmCsv (same options, same values) as
 * OpenMetrics 1.0 text for `promtool tsdb create-blocks-from openmetrics`:
 * one gauge family per metric (GENERATED_METRICS order), in it one series
 * per GPU labelled like dcgm-exporter's (`gpu`, `UUID`, `Hostname`,
 * `modelName`, and `cluster` when set), each series' samples in time order
 * with timestamps in seconds, and `# EOF` last.
 *
 * Families must not interleave in OpenMetrics, and a series' samples must
 * be contiguous, so the output is family-major: the fleet is simulated once
 * per metric, GPU by GPU over all ticks. Every GPU has its own PRNG, so
 * stepping one GPU through all its ticks before the next gives the values
 * generateDcgmCsv writes; nothing but one 64 KiB string is held (a 64-GPU
 * day is 8.8M samples). Costs 16 simulations of the fleet instead of one.
 *
 * Contract: as generateDcgmCsv's (deterministic, backpressure through
 * `write`, BAD_CONFIG before writing anything); resolves with the number of
 * samples, equal to countGeneratedRows(options).
 */
export async function generateDcgmOpenMetrics(
  options: DcgmGeneratorOptions,
  write: (chunk: string) => void | Promise<void>,
): Promise<{ rows: number }> {
  validate(options);
  const { intervalMs, startMs } = options;
  const ticks = tickCount(options);
  const identities = new DcgmFleetSimulation(options).gpus;
  const cluster = options.cluster === undefined ? '' : `,cluster="${openMetricsLabelValue(options.cluster)}"`;
  const labelTexts = identities.map(
    (gpu) =>
      `gpu="${gpu.gpuId}",UUID="${openMetricsLabelValue(gpu.uuid)}",Hostname="${openMetricsLabelValue(gpu.hostname)}",` +
      `modelName="${openMetricsLabelValue(gpu.modelName)}"${cluster}`,
  );
  let out = '';
  let rows = 0;
  const values: string[] = new Array<string>(GENERATED_METRICS.length);
  for (let metric = 0; metric < GENERATED_METRICS.length; metric++) {
    const name = GENERATED_METRICS[metric];
    out += `# TYPE ${name} gauge\n`;
    const fleet = new DcgmFleetSimulation(options);
    for (let index = 0; index < identities.length; index++) {
      const head = `${name}{${labelTexts[index]}} `;
      for (let tick = 0; tick < ticks; tick++) {
        fleet.stepGpu(index, values);
        out += `${head}${values[metric]} ${(startMs + tick * intervalMs) / 1000}\n`;
        rows++;
        if (out.length >= WRITE_CHUNK_CHARS) {
          const pending = write(out);
          out = '';
          if (pending !== undefined) await pending;
        }
      }
    }
  }
  out += '# EOF\n';
  const pending = write(out);
  if (pending !== undefined) await pending;
  return { rows };
}
