/**
 * What an operator sees of a running pipeline, checked on real processes on
 * a real etcd: every metric the Grafana dashboard queries is exported by
 * some role, the counts an operator reads are exact (rows in and rejected by
 * source, messages produced = consumed, the queue drained to depth 0), and
 * one batch can be followed from the streamer's log into the collector's by
 * its correlation id.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileSourceId } from '../../src/ingest/csv-file-source.js';
import { KeySpace } from '../../src/kv/key-space.js';
import { metricsRegistry } from '../../src/common/metrics.js';
import { DeadLetterQueue } from '../../src/queue/dead-letter-queue.js';
import { exportPartitionDepths } from '../../src/queue/partition-depth-metrics.js';
import { encodeMessage } from '../../src/queue/message-codec.js';
import { messageId } from '../../src/queue/message-id.js';
import { TelemetryBatchBuilder } from '../../src/queue/telemetry-batch.js';
import { CSV_HEADER, csvLines } from '../support/csv-lines.js';
import { findFreePorts } from '../support/etcd-process.js';
import type { GputelProcess } from '../support/gputel-process.js';
import { parseMetricsText, scrapeMetrics, sumOf, type MetricsScrape } from '../support/metrics-scrape.js';
import { usePipelineHarness } from '../support/pipeline-harness.js';
import { metricFamilyOf, promqlMetricNames } from '../support/promql-metric-names.js';
import { waitFor } from '../support/wait-for.js';

const DASHBOARD = new URL('../../../deploy/grafana/gputel-dashboard.json', import.meta.url);
const PARTITIONS = 4;
const GOOD_ROWS_PER_HOST = 30;
const HOSTS = 3;
const GOOD_ROWS = GOOD_ROWS_PER_HOST * HOSTS;

interface LogLine {
  msg?: string;
  correlationId?: string;
  messageId?: string;
  messageIds?: string[];
  reqId?: string;
  [field: string]: unknown;
}

function logLines(stderr: string): LogLine[] {
  return stderr
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine);
}

/** Every `expr` of the dashboard's panels, rows' panels included. */
function dashboardExpressions(): string[] {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: { targets?: { expr?: string }[]; panels?: { targets?: { expr?: string }[] }[] }[] };
  const panels = dashboard.panels.flatMap((panel) => [panel, ...(panel.panels ?? [])]);
  return panels.flatMap((panel) => (panel.targets ?? []).map((target) => target.expr ?? '')).filter((expr) => expr !== '');
}

describe('observability of a pipeline on etcd', { timeout: 60_000 }, () => {
  const harness = usePipelineHarness('observability', { kv: true });
  let file = '';
  let streamer: GputelProcess;
  let collector: GputelProcess;
  let gateway: GputelProcess;
  const urls = { streamer: '', collector: '', gateway: '' };
  const scrapes: Record<keyof typeof urls, MetricsScrape | undefined> = { streamer: undefined, collector: undefined, gateway: undefined };

  before(async () => {
    file = join(harness.dir, 'fleet.csv');
    let text = `${CSV_HEADER}\n`;
    for (let tag = 1; tag <= HOSTS; tag++) text += csvLines(GOOD_ROWS_PER_HOST, tag);
    // One bad row: a timestamp that is not one. It is rejected by line; the rest of the file goes on.
    text += `"not-a-time","DCGM_FI_DEV_GPU_TEMP","0","nvidia0","GPU-9","NVIDIA H100","host-9","","","","1","gpu=""0"""\n`;
    writeFileSync(file, text);

    const [streamerPort, collectorPort, gatewayPort] = await findFreePorts(3);
    const debug = ['--log-level', 'debug'];
    const queue = ['--partitions', String(PARTITIONS)];
    gateway = harness.run(['gateway', ...harness.common, '--port', String(gatewayPort), ...debug]);
    collector = harness.run(['collector', ...harness.common, ...queue, '--port', String(collectorPort), ...debug]);
    // --follow keeps the streamer (and its /metrics) up after the file is read.
    streamer = harness.run(['streamer', ...harness.common, ...queue, '--port', String(streamerPort), '--file', file, '--follow', '--flush-interval', '50ms', ...debug]);
    urls.streamer = `http://127.0.0.1:${streamerPort}`;
    urls.collector = `http://127.0.0.1:${collectorPort}`;
    urls.gateway = `http://127.0.0.1:${gatewayPort}`;

    // Stored, and the queue drained as the owning collector reports it (a scrape per poll, bounded in time).
    await waitFor('every good row stored and the queue drained', 30_000, async () => {
      // The gateway too: the request below needs it listening.
      const [fromStreamer, fromCollector] = await Promise.all([scrapeMetrics(urls.streamer), scrapeMetrics(urls.collector), scrapeMetrics(urls.gateway)]).catch(() => [undefined, undefined]);
      if (!fromStreamer || !fromCollector) return undefined;
      const depthSeries = fromCollector.samples.filter((sample) => sample.name === 'gputel_queue_depth_messages');
      const produced = sumOf(fromStreamer, 'gputel_streamer_messages_total');
      const drained = depthSeries.length === PARTITIONS && depthSeries.every((sample) => sample.value === 0);
      return sumOf(fromStreamer, 'gputel_streamer_rows_total') === GOOD_ROWS && produced > 0 && sumOf(fromCollector, 'gputel_collector_messages_total') === produced && drained
        ? true
        : undefined;
    }, 100);
    // A request the gateway's histogram records under its route pattern, and whose log lines carry our request id.
    const response = await fetch(`${urls.gateway}/api/v1/gpus/GPU-1`, { headers: { 'x-request-id': 'observability-test-1' } });
    assert.equal(response.status, 200);
    await response.arrayBuffer();
    scrapes.streamer = await scrapeMetrics(urls.streamer);
    scrapes.collector = await scrapeMetrics(urls.collector);
    scrapes.gateway = await scrapeMetrics(urls.gateway);
  });

  it('exports every metric the Grafana dashboard queries', () => {
    const families = new Map<string, string>();
    for (const scrape of Object.values(scrapes)) for (const [name, type] of scrape!.families) families.set(name, type);
    const queried = new Set(dashboardExpressions().flatMap(promqlMetricNames));
    assert.ok(queried.size >= 40, `the dashboard queries ${queried.size} metrics`);
    const missing = [...queried].filter((name) => metricFamilyOf(name, families) === undefined);
    assert.deepEqual(missing, [], 'metrics the dashboard queries that no role exports');
  });

  it('counts rows in and rejected by source, and messages produced = consumed, exactly', () => {
    const source = fileSourceId(file);
    const streamerMetrics = scrapes.streamer!;
    const collectorMetrics = scrapes.collector!;
    assert.equal(sumOf(streamerMetrics, 'gputel_streamer_rows_total', { source }), GOOD_ROWS);
    assert.equal(sumOf(streamerMetrics, 'gputel_streamer_rows_rejected_total', { source }), 1);
    assert.equal(sumOf(streamerMetrics, 'gputel_streamer_samples_total', { source }), GOOD_ROWS);
    const produced = sumOf(streamerMetrics, 'gputel_streamer_messages_total', { source });
    assert.ok(produced >= HOSTS / PARTITIONS && produced > 0);
    assert.equal(sumOf(collectorMetrics, 'gputel_collector_messages_total'), produced);
    assert.equal(sumOf(collectorMetrics, 'gputel_collector_samples_total'), GOOD_ROWS);
    assert.equal(sumOf(collectorMetrics, 'gputel_collector_chunks_written_total') >= HOSTS, true);
    assert.equal(sumOf(collectorMetrics, 'gputel_collector_message_lag_seconds_count', { topic: 'telemetry' }), produced);
    assert.equal(sumOf(collectorMetrics, 'gputel_collector_rebalances_total', { topic: 'telemetry' }) >= 1, true);
  });

  it('exports depth 0 and age 0 for every partition the collector owns once the queue is drained', () => {
    const collectorMetrics = scrapes.collector!;
    for (const name of ['gputel_queue_depth_messages', 'gputel_queue_oldest_message_age_seconds']) {
      const series = collectorMetrics.samples.filter((sample) => sample.name === name);
      assert.deepEqual(series.map((sample) => sample.labels.partition).sort(), ['0', '1', '2', '3'], name);
      assert.ok(series.every((sample) => sample.labels.topic === 'telemetry' && sample.value === 0), name);
    }
    // Only the owner exports a partition: the streamer and the gateway own none.
    assert.equal(scrapes.streamer!.samples.filter((sample) => sample.name === 'gputel_queue_depth_messages').length, 0);
  });

  it('exports the depth and oldest age of messages waiting in an owned partition, and no series once it is let go', async () => {
    const keys = new KeySpace('/gputel');
    const producedAtMs = Date.now() - 60_000;
    for (let i = 0; i < 3; i++) await harness.kv.put(keys.message('depth-test', 2, messageId(producedAtMs + i, '0000cafe', i)), Buffer.from('waiting'));
    let owned = [2];
    const stopExporting = exportPartitionDepths({ kv: harness.kv, keys, topic: 'depth-test', ownedPartitions: () => owned });
    try {
      const waiting = parseMetricsText(await metricsRegistry.metrics());
      assert.equal(sumOf(waiting, 'gputel_queue_depth_messages', { topic: 'depth-test', partition: '2' }), 3);
      const ageSeconds = sumOf(waiting, 'gputel_queue_oldest_message_age_seconds', { topic: 'depth-test', partition: '2' });
      assert.ok(ageSeconds >= 60 && ageSeconds < 90, `oldest age ${ageSeconds} s`);
      owned = [];
      await sleep(300); // past the window in which both gauges share one read
      const released = parseMetricsText(await metricsRegistry.metrics());
      assert.equal(released.samples.filter((sample) => sample.labels.topic === 'depth-test').length, 0);
    } finally {
      stopExporting();
    }
  });

  it('measures etcd requests by operation, and API requests by route pattern and method, never by raw URL', () => {
    const collectorMetrics = scrapes.collector!;
    for (const op of ['txn', 'range', 'lease_grant', 'watch']) {
      assert.ok(sumOf(collectorMetrics, 'gputel_etcd_request_seconds_count', { op }) > 0, `etcd ${op} requests measured`);
    }
    const routes = new Set(scrapes.gateway!.samples.filter((sample) => sample.name === 'gputel_gateway_request_seconds_count').map((sample) => `${sample.labels.method} ${sample.labels.route} ${sample.labels.status}`));
    assert.ok(routes.has('GET /api/v1/gpus/:id 200'), [...routes].join(', '));
    assert.ok(![...routes].some((route) => route.includes('GPU-1')), 'a GPU id never becomes a label value');
  });

  it("carries each batch's correlation id from the streamer's log line into the collector's", () => {
    const committed = logLines(streamer.stderr()).filter((line) => line.msg === 'batch committed to the queue' && (line.messageIds?.length ?? 0) > 0);
    assert.ok(committed.length > 0, `no committed batch logged:\n${streamer.stderr().slice(-2000)}`);
    const applied = logLines(collector.stderr()).filter((line) => line.msg === 'message applied');
    const appliedById = new Map(applied.map((line) => [line.messageId, line.correlationId]));
    for (const line of committed) {
      assert.match(line.correlationId ?? '', /^[0-9a-f-]{36}$/);
      for (const messageId of line.messageIds!) assert.equal(appliedById.get(messageId), line.correlationId, `message ${messageId}`);
    }
    assert.equal(applied.length, committed.reduce((sum, line) => sum + line.messageIds!.length, 0));
  });

  it("logs the gateway's request lines with the request's id", () => {
    const ours = logLines(gateway.stderr()).filter((line) => line.reqId === 'observability-test-1');
    assert.ok(ours.some((line) => line.msg === 'request' && line.url === '/api/v1/gpus/GPU-1'), gateway.stderr().slice(-2000));
    const requestLines = logLines(gateway.stderr()).filter((line) => line.msg === 'request');
    assert.ok(requestLines.length > 1 && requestLines.every((line) => typeof line.reqId === 'string' && line.reqId !== ''));
  });

  it('keeps the correlation id of a message it dead-letters, in the log line and in the dead letter', async () => {
    const keys = new KeySpace('/gputel');
    // A message that decodes, for a cluster another topic feeds: set aside once its correlation id is known.
    await harness.kv.put(keys.clusterTopic('elsewhere'), Buffer.from('other-topic'));
    const builder = new TelemetryBatchBuilder('elsewhere', 'poison-source');
    const gpu = builder.gpuSlot('g', () => ({ hostname: 'h', uuid: 'GPU-p', gpuId: 0, device: 'nvidia0', modelName: 'm', driverVersion: '', container: '', pod: '', namespace: '', migInstanceId: '', migProfile: '' }));
    builder.add(gpu, builder.metricSlot('DCGM_FI_DEV_GPU_UTIL'), Date.UTC(2026, 2, 2, 8), 1);
    const id = messageId(Date.now(), '0000beef', 1);
    await harness.kv.put(keys.message('telemetry', 1, id), encodeMessage({ ...builder.take(), correlationId: 'poison-correlation-1' }));
    const line = await waitFor('the dead-letter log line', 10_000, () =>
      logLines(collector.stderr()).find((entry) => entry.msg === 'message moved to the dead-letter queue' && entry.messageId === id),
    );
    assert.equal(line.correlationId, 'poison-correlation-1');
    const letter = await new DeadLetterQueue(harness.kv, keys, 'telemetry').get(id);
    assert.equal(letter?.record.correlationId, 'poison-correlation-1');
  });

  it('reads metric names out of PromQL, histogram series under their family', () => {
    assert.deepEqual(
      promqlMetricNames('histogram_quantile(0.99, sum by (le, route) (rate(gputel_gateway_request_seconds_bucket{job=~"$job", status=~"5.."}[$__rate_interval])))'),
      ['gputel_gateway_request_seconds_bucket'],
    );
    assert.deepEqual(promqlMetricNames('sum(a_total) / on(instance) group_left b offset 5m'), ['a_total', 'b']);
    const families = new Map([['h', 'histogram'], ['c_total', 'counter']]);
    assert.equal(metricFamilyOf('h_bucket', families), 'h');
    assert.equal(metricFamilyOf('c_total', families), 'c_total');
    assert.equal(metricFamilyOf('c_total_count', families), undefined);
  });
});
