import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DcgmRow } from '../../src/ingest/dcgm-row.js';
import { RowEnrichment } from '../../src/ingest/row-enrichment.js';

const NOW_MS = Date.UTC(2026, 10, 30, 12, 0, 0);

function row(overrides: Partial<DcgmRow> = {}): DcgmRow {
  return {
    lineNumber: 2,
    timestampMs: NOW_MS - 10_000,
    metricName: 'DCGM_FI_DEV_GPU_TEMP',
    sourceMetricName: 'DCGM_FI_DEV_GPU_TEMP',
    gpuId: 0,
    device: 'nvidia0',
    uuid: 'GPU-1',
    modelName: 'NVIDIA H100',
    hostname: 'node-1',
    container: '',
    pod: '',
    namespace: '',
    value: 41,
    labelsRaw: 'gpu=""0"",instance=""10.0.0.7:9400""',
    ...overrides,
  };
}

const enrichment = (): RowEnrichment => new RowEnrichment({ now: () => NOW_MS });

test('an empty Hostname takes the host part of the instance label', () => {
  const r = row({ hostname: '' });
  assert.equal(enrichment().apply(r), undefined);
  assert.equal(r.hostname, '10.0.0.7');
});

test('an IPv6 instance in brackets gives the address without brackets and port', () => {
  const r = row({ hostname: '', labelsRaw: 'instance=""[fe80::1]:9400""' });
  assert.equal(enrichment().apply(r), undefined);
  assert.equal(r.hostname, 'fe80::1');
});

test('a Hostname that is set is kept even when instance names another host', () => {
  const r = row({ hostname: 'dcgm-exporter-abcde' });
  enrichment().apply(r);
  assert.equal(r.hostname, 'dcgm-exporter-abcde');
});

test('an empty Hostname without an instance label is refused with the reason', () => {
  const r = row({ hostname: '', labelsRaw: 'gpu=""0""' });
  assert.match(enrichment().apply(r) ?? '', /^Hostname is empty and the labels have no instance label/);
});

test('empty Kubernetes columns take the old exporter label names', () => {
  const r = row({ labelsRaw: 'container_name=""trainer"",pod_name=""job-1"",pod_namespace=""research"",instance=""h:1""' });
  assert.equal(enrichment().apply(r), undefined);
  assert.deepEqual([r.container, r.pod, r.namespace], ['trainer', 'job-1', 'research']);
});

test('Kubernetes columns that are set win over the old label names', () => {
  const r = row({ container: 'c', pod: 'p', namespace: 'n', labelsRaw: 'container_name=""x"",pod_name=""y"",pod_namespace=""z""' });
  enrichment().apply(r);
  assert.deepEqual([r.container, r.pod, r.namespace], ['c', 'p', 'n']);
});

test('a row dated more than the allowed skew ahead of the clock is refused, naming its time and the setting', () => {
  const reason = enrichment().apply(row({ timestampMs: Date.UTC(2200, 0, 1) }));
  assert.match(reason ?? '', /^timestamp 2200-01-01T00:00:00\.000Z is more than 1h ahead of this machine's clock .*--max-clock-skew/);
});

test('a row within the skew is kept, and the bound follows --max-clock-skew', () => {
  const e = enrichment();
  assert.equal(e.apply(row({ timestampMs: NOW_MS + 3_599_000 })), undefined);
  const strict = new RowEnrichment({ now: () => NOW_MS, maxClockSkewMs: 60_000 });
  assert.match(strict.apply(row({ timestampMs: NOW_MS + 61_000 })) ?? '', /more than 1m ahead/);
  assert.equal(strict.apply(row({ timestampMs: NOW_MS + 59_000 })), undefined);
});

test('the skew bound moves with the clock: a row refused now is kept once the clock has caught up', () => {
  let now = NOW_MS;
  const e = new RowEnrichment({ now: () => now, maxClockSkewMs: 1_000 });
  assert.notEqual(e.apply(row({ timestampMs: NOW_MS + 5_000 })), undefined);
  now += 10_000;
  assert.equal(e.apply(row({ timestampMs: NOW_MS + 5_000 })), undefined);
});

test('derived names are private copies, not slices of labels_raw', () => {
  const r = row({ hostname: '', labelsRaw: `instance=""big-host:1"",${'x'.repeat(1000)}` });
  enrichment().apply(r);
  assert.equal(r.hostname, 'big-host');
});
