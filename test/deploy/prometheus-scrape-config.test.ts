/**
 * deploy/prometheus/prometheus.yml, the example scrape configuration: its
 * Kubernetes pod jobs send the gateways (whose /metrics is behind API keys,
 * on by default in the Helm chart) a key, and nothing else one. Parsed only:
 * no Prometheus loads it here (Debian's promtool lacks kubernetes_sd_configs).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { REPO_ROOT } from './helm-binary.js';

interface RelabelConfig {
  source_labels?: string[];
  action?: string;
  regex?: string;
  target_label?: string;
  replacement?: string;
}

interface ScrapeConfig {
  job_name: string;
  authorization?: { type?: string; credentials_file?: string; credentials?: string };
  kubernetes_sd_configs?: unknown[];
  relabel_configs?: RelabelConfig[];
}

const config = parse(readFileSync(join(REPO_ROOT, 'deploy/prometheus/prometheus.yml'), 'utf8'), { uniqueKeys: true }) as { scrape_configs: ScrapeConfig[] };

function job(name: string): ScrapeConfig {
  const found = config.scrape_configs.filter((j) => j.job_name === name);
  assert.equal(found.length, 1, `job ${name}`);
  return found[0];
}

const COMPONENT = '__meta_kubernetes_pod_label_app_kubernetes_io_component';

/** The rule of a job that keeps or drops pods by their component label. */
function componentFilter(scrape: ScrapeConfig): RelabelConfig | undefined {
  return scrape.relabel_configs?.find((rule) => (rule.action === 'keep' || rule.action === 'drop') && rule.source_labels?.length === 1 && rule.source_labels[0] === COMPONENT);
}

describe('deploy/prometheus/prometheus.yml', () => {
  it('scrapes gateway pods with a bearer token from a file, and only gateway pods', () => {
    const gateways = job('gputel-gateway-pods');
    assert.equal(gateways.authorization?.type, 'Bearer');
    assert.match(gateways.authorization?.credentials_file ?? '', /^\//, 'the key comes from a file, not from the configuration');
    assert.equal(gateways.authorization?.credentials, undefined);
    assert.deepEqual(componentFilter(gateways), { source_labels: [COMPONENT], action: 'keep', regex: 'gateway' });
  });

  it('scrapes the other gputel pods without a key, leaving the gateways out', () => {
    const pods = job('gputel-pods');
    assert.equal(pods.authorization, undefined);
    assert.deepEqual(componentFilter(pods), { source_labels: [COMPONENT], action: 'drop', regex: 'gateway' });
  });

  it('relabels both pod jobs alike: the same pods kept, addresses, job, role, namespace and pod labels', () => {
    const withoutFilter = (scrape: ScrapeConfig): RelabelConfig[] => (scrape.relabel_configs ?? []).filter((rule) => rule !== componentFilter(scrape));
    assert.deepEqual(withoutFilter(job('gputel-gateway-pods')), withoutFilter(job('gputel-pods')));
    assert.ok(withoutFilter(job('gputel-pods')).some((rule) => rule.target_label === 'job' && rule.replacement === 'gputel-$1'));
  });

  it('gives a key to no job but the gateway pods (the local jobs scrape loopback roles that run without keys)', () => {
    const withKeys = config.scrape_configs.filter((j) => j.authorization !== undefined).map((j) => j.job_name);
    assert.deepEqual(withKeys, ['gputel-gateway-pods']);
  });
});
