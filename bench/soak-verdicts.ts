/**
 * How the soak (bench/soak.ts) judges what it sampled over time: memory that
 * is kept, and etcd's database. Each verdict is 'flat'/'bounded', 'GROWS',
 * or 'too short to tell' with the reason.
 */

/** Samples a memory trend needs after the warm-up: with fewer, a saw-toothing heap's troughs are missed and its floor is noise. */
export const MIN_STEADY_SAMPLES = 24;
/** The warm-up of each process's life: JIT, caches and V8's heap room settle. */
export const WARM_UP_MS = 90_000;

export interface MemoryTrend {
  meanMb: number;
  maxMb: number;
  /** The floor of the last third of the steady part less that of the first third; NaN when too short. */
  floorRiseMb: number;
  verdict: 'flat' | 'GROWS' | 'too short to tell';
}

/**
 * The trend of one memory series over one process's life (`lifeStartMs` on),
 * after WARM_UP_MS. Judged on the floor, the lowest value of the first and of
 * the last third of the steady part: a heap saw-toothing between collections
 * moves the mean and a fitted slope, but only memory that is kept raises the
 * floor. Flat when the floor rose by less than max(10% of the steady mean,
 * 10 MB).
 */
export function floorTrend(series: readonly { atMs: number; mb: number }[], lifeStartMs: number): MemoryTrend {
  const all = series.map((p) => p.mb);
  const meanMb = all.reduce((s, v) => s + v, 0) / Math.max(1, all.length);
  const maxMb = all.length === 0 ? NaN : Math.max(...all);
  const steady = series.filter((p) => p.atMs - lifeStartMs >= WARM_UP_MS);
  if (steady.length < MIN_STEADY_SAMPLES) return { meanMb, maxMb, floorRiseMb: NaN, verdict: 'too short to tell' };
  const steadyMean = steady.reduce((s, p) => s + p.mb, 0) / steady.length;
  const third = Math.floor(steady.length / 3);
  const floorRiseMb = Math.min(...steady.slice(-third).map((p) => p.mb)) - Math.min(...steady.slice(0, third).map((p) => p.mb));
  return { meanMb, maxMb, floorRiseMb, verdict: floorRiseMb <= Math.max(0.1 * steadyMean, 10) ? 'flat' : 'GROWS' };
}

/**
 * A run this long shows whether etcd's database levels off: the collectors
 * merge the small chunks of each message into 4 h windows 20 min after they
 * land (DEFAULT_OPEN_WINDOW_MERGE_AGE_MS), and history is compacted every
 * 5 min to the revision of 5 min before, so for ~30 min it grows with every
 * sample whatever happens after (a 35-minute soak: growing to 30 min, then
 * flat at 213 MB); 40 min leaves 10 of steady state to judge.
 */
export const DATABASE_TREND_MIN_MS = 40 * 60_000;

/**
 * Bounded when the database file (which etcd never shrinks without a
 * defragmentation, but refills from the pages compaction frees) grew by
 * less than 10% over the last quarter of the run; GROWS otherwise. Samples
 * that could not be read (NaN) are left out.
 */
export function databaseTrend(sampled: readonly { atMs: number; mb: number }[]): string {
  const series = sampled.filter((p) => Number.isFinite(p.mb));
  if (series.length < 2) return 'too short to tell (etcd\'s size could not be read)';
  const endMs = series[series.length - 1].atMs;
  if (endMs < DATABASE_TREND_MIN_MS) return `too short to tell (a run of ${DATABASE_TREND_MIN_MS / 60_000} min or more shows it: chunks merge 20 min after they land)`;
  const atThreeQuarters = series.find((p) => p.atMs >= (3 * endMs) / 4)!.mb;
  const end = series[series.length - 1].mb;
  const rise = (end - atThreeQuarters) / atThreeQuarters;
  return `${rise < 0.1 ? 'bounded' : 'GROWS'}: ${atThreeQuarters.toFixed(1)} MB at three quarters of the run, ${end.toFixed(1)} MB at the end (${rise >= 0 ? '+' : ''}${(100 * rise).toFixed(0)}%)`;
}
