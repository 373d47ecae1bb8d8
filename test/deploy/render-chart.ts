/** Runs the real helm on deploy/helm/gputel: lint, and template into parsed objects. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { REPO_ROOT, findHelmBinary } from './helm-binary.js';
import type { KubernetesObject } from './kubernetes-schema.js';

export const CHART_DIR = join(REPO_ROOT, 'deploy/helm/gputel');
export const RELEASE = 'fleet';
export const NAMESPACE = 'telemetry';

export interface HelmResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** helm ARGS with the given values (written to a file, as JSON, which is YAML), bounded to 20 s. */
export function runHelm(args: string[], values?: object): HelmResult {
  const folder = mkdtempSync(join(tmpdir(), 'gputel-helm-'));
  try {
    const valueArgs: string[] = [];
    if (values !== undefined) {
      const file = join(folder, 'values.yaml');
      writeFileSync(file, JSON.stringify(values));
      valueArgs.push('--values', file);
    }
    const result = spawnSync(findHelmBinary(), [...args, ...valueArgs], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, HELM_CACHE_HOME: folder, HELM_CONFIG_HOME: folder, HELM_DATA_HOME: folder } });
    if (result.error) throw result.error;
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

/** `helm template` of the chart: every object it renders, parsed strictly (a duplicate key fails). */
export function renderChart(values: object = {}): KubernetesObject[] {
  const result = runHelm(['template', RELEASE, CHART_DIR, '--namespace', NAMESPACE], values);
  if (result.status !== 0) throw new Error(`helm template failed (${result.status}): ${result.stderr}`);
  const objects: KubernetesObject[] = [];
  for (const document of parseAllDocuments(result.stdout, { uniqueKeys: true })) {
    if (document.errors.length > 0) throw new Error(`helm template rendered YAML that does not parse: ${document.errors.map((e) => e.message).join('; ')}`);
    const object = document.toJS() as KubernetesObject | null;
    if (object !== null) objects.push(object);
  }
  return objects;
}

/** `helm template` that must fail: its error text. */
export function renderChartError(values: object): string {
  const result = runHelm(['template', RELEASE, CHART_DIR, '--namespace', NAMESPACE], values);
  if (result.status === 0) throw new Error('helm template was expected to refuse these values, and rendered them');
  return result.stderr;
}
