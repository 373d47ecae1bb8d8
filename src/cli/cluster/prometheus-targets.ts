/**
 * D/prometheus-targets.json: the scrape targets of a local cluster in
 * Prometheus's file_sd format, so that a Prometheus with a `file_sd_configs`
 * job on this file (deploy/prometheus/prometheus.yml) follows the ports that
 * `up` picks anew each time. Written once every process is healthy, removed
 * by `down` and by an `up` that fails.
 */
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ClusterRole, ClusterState } from './cluster-state.js';
import { httpUrl } from './listen-address.js';

export const PROMETHEUS_TARGETS_FILE = 'prometheus-targets.json';

/** One target group of file_sd: one process, its address and labels. */
export interface PrometheusTargetGroup {
  targets: string[];
  labels: { role: ClusterRole; instance: string; cluster_dir: string };
}

/** Every role that serves /metrics on the port the state records: etcd on its client URL, each gputel role on its port; nginx serves none. */
const SCRAPED_ROLES: readonly ClusterRole[] = ['etcd', 'collector', 'gateway', 'streamer'];

export function prometheusTargetsPath(dir: string): string {
  return path.join(dir, PROMETHEUS_TARGETS_FILE);
}

/**
 * One group per process that serves /metrics, in the state's order. The
 * `instance` label is the process's name (gateway-2), not its address: the
 * ports change at every `up`, the names do not, so a series goes on across
 * restarts; `cluster_dir` tells apart clusters of one machine.
 */
export function prometheusTargets(dir: string, state: ClusterState): PrometheusTargetGroup[] {
  return state.processes
    .filter((entry) => SCRAPED_ROLES.includes(entry.role))
    .map((entry) => ({ targets: [new URL(httpUrl(entry.host, entry.port)).host], labels: { role: entry.role, instance: entry.name, cluster_dir: dir } }));
}

/** Writes the file atomically (a temporary file renamed over it): Prometheus, which re-reads it on change, never sees half of it. */
export function writePrometheusTargets(dir: string, state: ClusterState): void {
  const file = prometheusTargetsPath(dir);
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, JSON.stringify(prometheusTargets(dir, state), null, 2) + '\n', { mode: 0o644 });
  renameSync(temporary, file);
}

/** Removes the file (no error when there is none): a stopped cluster has no targets. */
export function removePrometheusTargets(dir: string): void {
  rmSync(prometheusTargetsPath(dir), { force: true });
}
