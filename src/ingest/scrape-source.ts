/**
 * A live source that scrapes dcgm-exporter endpoints (`http://HOST:9400/metrics`)
 * every interval and turns each DCGM sample into a DcgmRow, with the same
 * labels and identity a DCGM CSV export of the same data would have.
 *
 * - Scrapes are aligned to the interval (10 s → :00, :10, …) and every sample
 *   without its own timestamp is stamped with the scheduled scrape time, so
 *   all targets and series share timestamps (what the chunk codec's
 *   delta-of-delta timestamps compress best) and a late reply never moves a
 *   sample's time.
 * - Targets are scraped concurrently, each under its own timeout (shorter than
 *   the interval); a target that is down, slow or serving garbage is counted
 *   and logged and never holds up or stops the others. Each target's rows are
 *   delivered as soon as its answer is in, followed by a position; the next
 *   round starts once every target of this one has answered or timed out.
 * - HTTP goes through node:http with an Agent owned by each read, destroyed
 *   when the read ends: keep-alive between scrapes, and no socket left open
 *   after shutdown (the global fetch dispatcher would keep its own).
 * - Not resumable: a restart scrapes from now. The position is
 *   `{ lastScrapeMs }`, the scheduled time of the last delivered round, for
 *   logs and checkpoints; read() ignores the position it is given.
 */
import http from 'node:http';
import https from 'node:https';
import type { Logger } from '../common/logger.js';
import { counter, gauge } from '../common/metrics.js';
import { errorMessage, GputelError } from '../common/gputel-error.js';
import { abortableDelay, nextAlignedTime } from './abortable-delay.js';
import { emptyRow, type DcgmRow } from './dcgm-row.js';
import { formatLabelsRaw } from './labels-raw-format.js';
import { canonicalMetricName } from './legacy-metric-names.js';
import { PrometheusTextParser, type ExpositionFormat, type PrometheusSample } from './prometheus-text-parser.js';
import type { RowSink, Source, SourcePosition } from './source.js';

export interface ScrapeSourceOptions {
  /** dcgm-exporter endpoints, http:// or https:// (e.g. http://gpu-node-07:9400/metrics). */
  urls: string[];
  /** Time between scrapes (ms). */
  intervalMs: number;
  /** Per-target timeout of one scrape (ms); default 80% of the interval, at most 10 s. Must be below the interval. */
  timeoutMs?: number;
  /** Largest response body accepted (bytes); default 64 MiB. */
  maxBodyBytes?: number;
  logger?: Logger;
}

/** Why a sample of a scrape did not become a row (the `reason` label of the skip counter). */
export type ScrapeSkipReason = 'no_gpu_identity' | 'blank' | 'not_finite' | 'created';

const DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024;
const MAX_DEFAULT_TIMEOUT_MS = 10_000;
const ACCEPT = 'text/plain;version=0.0.4;q=0.9,application/openmetrics-text;version=1.0.0;q=0.5,*/*;q=0.1';

const failures = counter('gputel_scrape_failures_total', 'Scrapes of a target that failed, by reason (connect, timeout, http, body)', ['target', 'reason']);
const up = gauge('gputel_scrape_up', '1 when the last scrape of the target succeeded, else 0', ['target']);
const lastSuccess = gauge('gputel_scrape_last_success_timestamp_seconds', 'Scheduled time of the last successful scrape of the target', ['target']);
const scrapeSeconds = gauge('gputel_scrape_duration_seconds', 'How long the last scrape of the target took', ['target']);
const samplesOut = counter('gputel_scrape_samples_total', 'Samples of the target turned into rows', ['target']);
const samplesSkipped = counter('gputel_scrape_samples_skipped_total', 'Samples of the target not turned into rows (not errors), by reason', ['target', 'reason']);
const linesRejected = counter('gputel_scrape_lines_rejected_total', 'Lines of the target that could not be parsed', ['target']);

/** What one series becomes: its row identity (a row less its time and value), built once, or why it is skipped. */
type SeriesIdentity = Omit<DcgmRow, 'lineNumber' | 'timestampMs' | 'value'>;

interface Target {
  url: URL;
  /** The URL without credentials: the `target` label of the metrics, and what logs name. */
  name: string;
  /** The hostname of rows without a Hostname label. */
  host: string;
  /** host:port, the `instance` label Prometheus would add. */
  instance: string;
  parser: PrometheusTextParser;
  series: Map<string, SeriesIdentity | ScrapeSkipReason>;
  failing: boolean;
}

type ScrapeResult = { ok: true; body: string; format: ExpositionFormat | undefined } | { ok: false; reason: string; error: string };

function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return (hash >>> 0).toString(16).padStart(8, '0');
}

function parseTargetUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new GputelError('BAD_CONFIG', `--scrape "${text}" is not a URL: give http://HOST:9400/metrics`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new GputelError('BAD_CONFIG', `--scrape "${text}" must be an http:// or https:// URL`);
  }
  return url;
}

/** The gpu index from the `gpu` label, or from a `device` of the form nvidiaN; -1 when neither. */
function gpuIndexOf(labels: ReadonlyMap<string, string>): number {
  const text = labels.get('gpu') ?? /^nvidia(\d+)$/.exec(labels.get('device') ?? '')?.[1];
  if (text === undefined || !/^\d{1,9}$/.test(text)) return -1;
  return Number(text);
}

export class ScrapeSource implements Source {
  readonly id: string;
  readonly location: string;
  readonly resumable = false;
  private readonly intervalMs: number;
  private readonly timeoutMs: number;
  private readonly maxBodyBytes: number;
  private readonly logger: Logger | undefined;
  private readonly targets: Target[];
  private readonly row: DcgmRow = emptyRow();

  /** Throws GputelError 'BAD_CONFIG' naming the bad URL or setting. */
  constructor(options: ScrapeSourceOptions) {
    if (options.urls.length === 0) throw new GputelError('BAD_CONFIG', '--scrape needs at least one URL');
    if (!Number.isInteger(options.intervalMs) || options.intervalMs < 1) throw new GputelError('BAD_CONFIG', `--interval must be a positive duration, got ${options.intervalMs} ms`);
    this.intervalMs = options.intervalMs;
    this.timeoutMs = options.timeoutMs ?? Math.max(1, Math.min(MAX_DEFAULT_TIMEOUT_MS, Math.floor(options.intervalMs * 0.8)));
    if (!Number.isInteger(this.timeoutMs) || this.timeoutMs < 1 || this.timeoutMs >= this.intervalMs) {
      throw new GputelError('BAD_CONFIG', `--scrape-timeout (${this.timeoutMs} ms) must be shorter than --interval (${this.intervalMs} ms)`);
    }
    this.maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    this.logger = options.logger;
    const seen = new Set<string>();
    this.targets = options.urls.map((text) => {
      const url = parseTargetUrl(text);
      if (seen.has(url.href)) throw new GputelError('BAD_CONFIG', `--scrape lists ${url.href} twice`);
      seen.add(url.href);
      const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
      const port = url.port !== '' ? url.port : url.protocol === 'https:' ? '443' : '80';
      // Credentials in the URL are sent (basic auth) but never shown in metrics, logs or checkpoints.
      const shown = new URL(url.href);
      shown.username = '';
      shown.password = '';
      return { url, name: shown.href, host, instance: `${url.hostname}:${port}`, parser: new PrometheusTextParser(), series: new Map(), failing: false };
    });
    const sorted = this.targets.map((t) => t.name).sort();
    this.id = `scrape-${this.targets[0].host}${this.targets.length > 1 ? `-and-${this.targets.length - 1}` : ''}-${fnv1a(sorted.join(' '))}`;
    this.location = this.targets.map((t) => t.name).join(',');
  }

  /** Scrapes every interval until `signal` aborts; see the module comment. */
  async *read(_from: SourcePosition, sink: RowSink, signal: AbortSignal): AsyncIterable<SourcePosition> {
    // No maxSockets: targets on one host:port (other paths) each need a socket of their own, or
    // they would queue behind each other. A target has one scrape at a time, so sockets stay few.
    const agents = {
      http: new http.Agent({ keepAlive: true }),
      https: new https.Agent({ keepAlive: true }),
    };
    try {
      let scheduledMs = nextAlignedTime(Date.now(), this.intervalMs);
      for (;;) {
        if (!(await abortableDelay(scheduledMs - Date.now(), signal))) return;
        // Each target's rows are delivered as soon as its answer is in: a slow target delays no
        // one else's rows, and a body is parsed and freed while the others are still on the wire.
        const answered: Array<{ target: Target; result: ScrapeResult & { seconds: number } }> = [];
        let wake: (() => void) | undefined;
        for (const target of this.targets) {
          void this.scrape(target, agents, signal).then((result) => {
            answered.push({ target, result });
            wake?.();
          });
        }
        for (let delivered = 0; delivered < this.targets.length; ) {
          // scrape() never rejects and settles promptly on abort, so this wait always ends.
          if (answered.length === 0) await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
          if (signal.aborted) return;
          const { target, result } = answered.shift()!;
          delivered++;
          this.deliver(target, result, scheduledMs, sink);
          yield { lastScrapeMs: scheduledMs };
        }
        // A consumer that held us up past later ticks skips them rather than scraping in a burst.
        scheduledMs = nextAlignedTime(Math.max(scheduledMs, Date.now()), this.intervalMs);
      }
    } finally {
      agents.http.destroy();
      agents.https.destroy();
    }
  }

  /** One scrape of one target; never rejects. */
  private scrape(target: Target, agents: { http: http.Agent; https: https.Agent }, signal: AbortSignal): Promise<ScrapeResult & { seconds: number }> {
    const started = performance.now();
    const done = (result: ScrapeResult): ScrapeResult & { seconds: number } => ({ ...result, seconds: (performance.now() - started) / 1000 });
    return new Promise((resolve) => {
      const controller = new AbortController();
      let timedOut = false;
      let settled = false;
      const finish = (result: ScrapeResult): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        resolve(done(result));
      };
      const fail = (error: unknown): void => {
        const reason = timedOut ? 'timeout' : signal.aborted ? 'aborted' : 'connect';
        finish({ ok: false, reason, error: timedOut ? `no complete answer within ${this.timeoutMs} ms` : errorMessage(error) });
      };
      // Settled here, not by the request's 'error': a request still queued for the agent's socket
      // emits nothing when aborted (Node 20), and the read would wait for it forever.
      const timer = setTimeout(() => {
        timedOut = true;
        controller.abort();
        fail(undefined);
      }, this.timeoutMs);
      const onAbort = (): void => {
        controller.abort();
        fail(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      const isHttps = target.url.protocol === 'https:';
      const request = (isHttps ? https : http).get(
        target.url,
        { agent: isHttps ? agents.https : agents.http, signal: controller.signal, headers: { accept: ACCEPT } },
        (response) => {
          if (response.statusCode !== 200) {
            // Not drained: a body that never ends would keep its socket busy after this scrape
            // is over, one more socket every round until the read ends.
            response.destroy();
            finish({ ok: false, reason: 'http', error: `HTTP ${response.statusCode ?? '?'} ${response.statusMessage ?? ''}`.trim() });
            return;
          }
          const contentType = response.headers['content-type'] ?? '';
          const format: ExpositionFormat | undefined = contentType.startsWith('application/openmetrics-text') ? 'openmetrics' : contentType.startsWith('text/plain') ? 'prometheus' : undefined;
          const pieces: Buffer[] = [];
          let bytes = 0;
          response.on('data', (piece: Buffer) => {
            bytes += piece.length;
            if (bytes > this.maxBodyBytes) {
              finish({ ok: false, reason: 'body', error: `the answer is larger than ${this.maxBodyBytes} bytes` });
              response.destroy();
              return;
            }
            pieces.push(piece);
          });
          response.on('end', () => finish({ ok: true, body: Buffer.concat(pieces).toString('utf8'), format }));
          response.on('error', fail);
          response.on('aborted', () => fail(new Error('the answer was cut off')));
        },
      );
      request.on('error', fail);
    });
  }

  private deliver(target: Target, result: ScrapeResult & { seconds: number }, scheduledMs: number, sink: RowSink): void {
    const labels = { target: target.name };
    scrapeSeconds.set(labels, result.seconds);
    if (!result.ok) {
      if (result.reason === 'aborted') return;
      failures.inc({ ...labels, reason: result.reason });
      up.set(labels, 0);
      const fields = { target: target.name, reason: result.reason, error: result.error };
      if (!target.failing) this.logger?.warn(fields, 'scrape failed; retrying every interval');
      else this.logger?.debug(fields, 'scrape failed again');
      target.failing = true;
      return;
    }
    if (target.failing) this.logger?.info({ target: target.name }, 'scrape succeeded again');
    target.failing = false;
    up.set(labels, 1);
    lastSuccess.set(labels, scheduledMs / 1000);

    const previous = target.series;
    const current = new Map<string, SeriesIdentity | ScrapeSkipReason>();
    const skipped: Record<ScrapeSkipReason, number> = { no_gpu_identity: 0, blank: 0, not_finite: 0, created: 0 };
    let rows = 0;
    let rejected = 0;
    const row = this.row;
    const stats = target.parser.parse(
      result.body,
      {
        sample: (sample) => {
          const key = `${sample.name}{${sample.labelsText}}`;
          let identity = current.get(key) ?? previous.get(key);
          if (identity === undefined) identity = this.identityOf(target, sample);
          current.set(key, identity);
          if (typeof identity === 'string') {
            skipped[identity]++;
            return;
          }
          if (sample.blank) {
            skipped.blank++;
            return;
          }
          if (!Number.isFinite(sample.value)) {
            skipped.not_finite++;
            return;
          }
          row.lineNumber = sample.lineNumber;
          row.timestampMs = sample.timestampMs ?? scheduledMs;
          row.metricName = identity.metricName;
          row.sourceMetricName = identity.sourceMetricName;
          row.gpuId = identity.gpuId;
          row.device = identity.device;
          row.uuid = identity.uuid;
          row.modelName = identity.modelName;
          row.hostname = identity.hostname;
          row.container = identity.container;
          row.pod = identity.pod;
          row.namespace = identity.namespace;
          row.value = sample.value;
          row.labelsRaw = identity.labelsRaw;
          rows++;
          sink.row(row);
        },
        error: (lineNumber, reason) => {
          rejected++;
          sink.reject({ lineNumber, byteOffset: -1, reason: `${target.name}: ${reason}` });
        },
      },
      result.format,
    );
    // Only series of this scrape stay cached: series that vanish free their memory.
    target.series = current;
    if (rows > 0) samplesOut.inc(labels, rows);
    if (rejected > 0) linesRejected.inc(labels, rejected);
    for (const reason of Object.keys(skipped) as ScrapeSkipReason[]) {
      if (skipped[reason] > 0) samplesSkipped.inc({ ...labels, reason }, skipped[reason]);
    }
    if (!stats.complete) this.logger?.warn({ target: target.name }, 'OpenMetrics answer without "# EOF": it may have been cut off');
  }

  /** The row identity of a new series, built once: labels mapped as a CSV export's columns. */
  private identityOf(target: Target, sample: PrometheusSample): SeriesIdentity | ScrapeSkipReason {
    // OpenMetrics counters carry a `_created` sample (the counter's start time), not a value.
    if (sample.type === 'counter' && sample.family !== sample.name && sample.name.endsWith('_created')) return 'created';
    const labels = sample.labels;
    const uuid = labels.get('UUID') ?? labels.get('uuid') ?? '';
    const gpuId = gpuIndexOf(labels);
    if (uuid === '' || gpuId < 0) return 'no_gpu_identity';
    const raw = new Map(labels);
    raw.set('__name__', sample.name);
    if (!raw.has('instance')) raw.set('instance', target.instance);
    const hostname = labels.get('Hostname');
    return {
      metricName: canonicalMetricName(sample.family),
      sourceMetricName: sample.name,
      gpuId,
      device: labels.get('device') ?? `nvidia${gpuId}`,
      uuid,
      modelName: labels.get('modelName') ?? '',
      hostname: hostname === undefined || hostname === '' ? target.host : hostname,
      container: labels.get('container') || labels.get('container_name') || '',
      pod: labels.get('pod') || labels.get('pod_name') || '',
      namespace: labels.get('namespace') || labels.get('pod_namespace') || '',
      labelsRaw: formatLabelsRaw(raw),
    };
  }
}
