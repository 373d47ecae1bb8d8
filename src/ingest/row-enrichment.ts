/**
 * The one enrichment step every source's rows go through, applied by the
 * streamer (sources hand rows over as their input spells them):
 * - an empty Hostname takes the host part of the `instance` label (exporters
 *   behind a Prometheus scrape config often leave Hostname empty);
 * - empty Kubernetes columns take the labels older exporters used
 *   (`container_name`, `pod_name`, `pod_namespace`);
 * - a row dated more than `maxClockSkewMs` ahead of the wall clock is refused:
 *   one row dated 2200 would otherwise make every other GPU look stale.
 *
 * It was part of the CSV parser; moving it here kept the parser's speed
 * (bench/parse-dcgm.ts before and after, docs/design.md "Sources").
 */
import { findLabelInRaw, hostOfInstance } from './labels-raw.js';
import type { DcgmRow } from './dcgm-row.js';

/** Default of `--max-clock-skew`: how far ahead of the wall clock a sample may be dated. */
export const DEFAULT_MAX_CLOCK_SKEW_MS = 3_600_000;

const LEGACY_CONTAINER_LABEL = 'container_name';
const LEGACY_POD_LABEL = 'pod_name';
const LEGACY_NAMESPACE_LABEL = 'pod_namespace';
/**
 * Probes run on a row's labels_raw only when a Kubernetes column is empty.
 * `od_name` is in both `pod_name` and `pod_namespace`; patterns of 7+
 * characters get V8's skipping search: ~50 ns on a 350-character labels_raw
 * where `_name=` took 170 ns (it stops at every `_` of `__name__`, `DCGM_FI_`).
 */
const LEGACY_CONTAINER_PROBE = 'container_name=';
const LEGACY_POD_PROBE = 'od_name';
/** Distinct derived names kept before the table is dropped (bounds memory on hostile input). */
const MAX_INTERNED = 100_000;
/** The wall clock is read once per this many rows: Date.now() per row cost more than the rest of the step. */
const CLOCK_READ_EVERY_ROWS = 4096;

export interface RowEnrichmentOptions {
  /** A row dated more than this many ms after the wall clock is refused; Infinity turns the check off. */
  maxClockSkewMs?: number;
  /** The wall clock (tests pin it). */
  now?: () => number;
}

export class RowEnrichment {
  private readonly maxClockSkewMs: number;
  private readonly now: () => number;
  private latestAcceptedMs = 0;
  private rowsUntilClockRead = 0;
  private readonly interned = new Map<string, string>();

  constructor(options: RowEnrichmentOptions = {}) {
    this.maxClockSkewMs = options.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS;
    this.now = options.now ?? Date.now;
  }

  /**
   * Completes `row` in place (it may be a source's reused object). Returns
   * undefined when the row is good, or the reason it must be refused: no
   * host to attribute it to, or a time too far in the future. Never throws.
   */
  apply(row: DcgmRow): string | undefined {
    if (row.timestampMs > this.latestAcceptedMs || this.rowsUntilClockRead <= 0) {
      // Re-reading the clock only every few thousand rows (or when a row is
      // later than the last bound) keeps the check exact to within that bound.
      this.latestAcceptedMs = this.now() + this.maxClockSkewMs;
      this.rowsUntilClockRead = CLOCK_READ_EVERY_ROWS;
      if (row.timestampMs > this.latestAcceptedMs) {
        return (
          `timestamp ${isoOrNumber(row.timestampMs)} is more than ${formatSkew(this.maxClockSkewMs)} ahead of this machine's clock ` +
          `(${new Date(this.latestAcceptedMs - this.maxClockSkewMs).toISOString()}); fix the exporter's clock, or raise --max-clock-skew and stream the file again under a new --source-id (this source's checkpoint has moved past the row)`
        );
      }
    }
    this.rowsUntilClockRead--;

    if (row.hostname === '') {
      const instance = findLabelInRaw(row.labelsRaw, 'instance');
      const host = instance === undefined ? undefined : hostOfInstance(instance);
      if (host === undefined) return 'Hostname is empty and the labels have no instance label to take the host from';
      row.hostname = this.intern(host);
    }
    const labelsRaw = row.labelsRaw;
    if (row.container === '' && labelsRaw.includes(LEGACY_CONTAINER_PROBE)) {
      row.container = this.labelValue(labelsRaw, LEGACY_CONTAINER_LABEL);
    }
    if ((row.pod === '' || row.namespace === '') && labelsRaw.includes(LEGACY_POD_PROBE)) {
      if (row.pod === '') row.pod = this.labelValue(labelsRaw, LEGACY_POD_LABEL);
      if (row.namespace === '') row.namespace = this.labelValue(labelsRaw, LEGACY_NAMESPACE_LABEL);
    }
    return undefined;
  }

  private labelValue(labelsRaw: string, label: string): string {
    const value = findLabelInRaw(labelsRaw, label);
    return value === undefined || value === '' ? '' : this.intern(value);
  }

  /** A private copy, shared by equal names: a slice of labels_raw would keep a whole decoded piece alive. */
  private intern(value: string): string {
    const known = this.interned.get(value);
    if (known !== undefined) return known;
    if (this.interned.size >= MAX_INTERNED) this.interned.clear();
    const copy = Buffer.from(value, 'utf8').toString('utf8');
    this.interned.set(copy, copy);
    return copy;
  }
}

function isoOrNumber(timestampMs: number): string {
  const date = new Date(timestampMs);
  return Number.isNaN(date.getTime()) ? String(timestampMs) : date.toISOString();
}

function formatSkew(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1_000 === 0) return `${ms / 1_000}s`;
  return `${ms}ms`;
}
