/**
 * Prometheus metrics of the process. One registry per process: in
 * `gputel start` every role shares it, so each role's metric names carry
 * the role (gputel_streamer_…, gputel_collector_…, gputel_gateway_…).
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export const metricsRegistry = new Registry();
// Standard names (process_*, nodejs_*), so the usual dashboards work unchanged.
collectDefaultMetrics({ register: metricsRegistry });

function once<T>(name: string, make: () => T): T {
  return (metricsRegistry.getSingleMetric(name) as T | undefined) ?? make();
}

export function counter(name: string, help: string, labelNames: string[] = []): Counter<string> {
  return once(name, () => new Counter({ name, help, labelNames, registers: [metricsRegistry] }));
}

/** `collect`, when given, runs at every scrape before the gauge's values are read (set them there; it may be async). */
export function gauge(name: string, help: string, labelNames: string[] = [], collect?: (this: Gauge<string>) => void | Promise<void>): Gauge<string> {
  return once(name, () => new Gauge({ name, help, labelNames, registers: [metricsRegistry], ...(collect ? { collect } : {}) }));
}

export function histogram(name: string, help: string, buckets: number[], labelNames: string[] = []): Histogram<string> {
  return once(name, () => new Histogram({ name, help, buckets, labelNames, registers: [metricsRegistry] }));
}
