import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { GputelError } from '../../src/common/gputel-error.js';
import { metricsRegistry } from '../../src/common/metrics.js';
import type { DcgmRow, RejectedRow } from '../../src/ingest/dcgm-row.js';
import { parseLabelsRaw } from '../../src/ingest/labels-raw.js';
import { ScrapeSource } from '../../src/ingest/scrape-source.js';
import type { SourcePosition } from '../../src/ingest/source.js';

const H100 = 'NVIDIA H100 80GB HBM3';
const A100 = 'NVIDIA A100-SXM4-80GB';
const base = (gpu: number, uuid: string, model: string, pod: [string, string, string] = ['', '', '']): string =>
  `gpu="${gpu}",UUID="${uuid}",device="nvidia${gpu}",modelName="${model}",Hostname="gpu-node-07",DCGM_FI_DRIVER_VERSION="535.129.03",container="${pod[0]}",namespace="${pod[2]}",pod="${pod[1]}"`;
const BUSY: [string, string, string] = ['trainer', 'job-42-worker-1', 'ml-team'];

/** What a current dcgm-exporter serves on a node with two H100s (one in a pod) and an A100 split into two MIG instances. */
const CURRENT_EXPORTER = `# HELP DCGM_FI_DEV_GPU_TEMP GPU temperature (in C).
# TYPE DCGM_FI_DEV_GPU_TEMP gauge
DCGM_FI_DEV_GPU_TEMP{${base(0, 'GPU-0000', H100)}} 41
DCGM_FI_DEV_GPU_TEMP{${base(1, 'GPU-1111', H100, BUSY)}} 63
# HELP DCGM_FI_DEV_FB_USED Framebuffer memory used (in MiB).
# TYPE DCGM_FI_DEV_FB_USED gauge
DCGM_FI_DEV_FB_USED{${base(0, 'GPU-0000', H100)}} 0
DCGM_FI_DEV_FB_USED{${base(1, 'GPU-1111', H100, BUSY)}} 9223372036854775794
# HELP DCGM_FI_DEV_POWER_USAGE Power draw (in W).
# TYPE DCGM_FI_DEV_POWER_USAGE gauge
DCGM_FI_DEV_POWER_USAGE{${base(0, 'GPU-0000', H100)}} 140737488355328.000000
DCGM_FI_DEV_POWER_USAGE{${base(1, 'GPU-1111', H100, BUSY)}} 412.500000
# HELP DCGM_FI_PROF_GR_ENGINE_ACTIVE Ratio of time the graphics engine is active.
# TYPE DCGM_FI_PROF_GR_ENGINE_ACTIVE gauge
DCGM_FI_PROF_GR_ENGINE_ACTIVE{${base(2, 'GPU-2222', A100)},GPU_I_ID="1",GPU_I_PROFILE="3g.40gb"} 0.5
DCGM_FI_PROF_GR_ENGINE_ACTIVE{${base(2, 'GPU-2222', A100)},GPU_I_ID="2",GPU_I_PROFILE="3g.40gb"} 0.25
DCGM_FI_DEV_GPU_TEMP{gpu="3",UUID="<<<NULL>>>",device="nvidia3"} 40
process_open_fds 12
DCGM_FI_DEV_GPU_TEMP{gpu="0" 41
`;

/** What an old (gpu-monitoring-tools era) exporter serves: dcgm_* names, lower-case uuid, *_name pod labels, no Hostname. */
const OLD_EXPORTER = `# TYPE dcgm_gpu_temp gauge
dcgm_gpu_temp{gpu="0", uuid="GPU-3333", container_name="c1", pod_name="p1", pod_namespace="ns1"} 50
dcgm_power_usage{gpu="0", uuid="GPU-3333", container_name="c1", pod_name="p1", pod_namespace="ns1"} 301.25 1772442900123
`;

interface Served {
  server: Server;
  url: string;
  requests: number;
}

async function serve(handler: (respond: (status: number, body: string) => void) => void, contentType = 'text/plain; version=0.0.4; charset=utf-8'): Promise<Served> {
  const served: Served = { server: createServer(), url: '', requests: 0 };
  served.server.on('request', (_request, response) => {
    served.requests++;
    handler((status, body) => {
      if (response.destroyed) return;
      response.writeHead(status, { 'content-type': contentType });
      response.end(body);
    });
  });
  await new Promise<void>((resolve) => served.server.listen(0, '127.0.0.1', resolve));
  served.url = `http://127.0.0.1:${(served.server.address() as AddressInfo).port}/metrics`;
  return served;
}

async function close(served: Served): Promise<void> {
  served.server.closeAllConnections();
  await new Promise<void>((resolve) => served.server.close(() => resolve()));
}

/** A URL on 127.0.0.1 where nothing listens. */
async function deadUrl(): Promise<string> {
  const probe = await serve(() => undefined);
  await close(probe);
  return probe.url;
}

interface Round {
  position: SourcePosition;
  rows: DcgmRow[];
  rejects: RejectedRow[];
}

/**
 * Reads `rounds` scrape rounds of `targets` targets (one position after each target's answer),
 * then aborts; returns each round's rows and refusals in delivery order, with its position.
 */
async function readRounds(source: ScrapeSource, rounds: number, targets = 1): Promise<Round[]> {
  const controller = new AbortController();
  const byTime = new Map<number, Round>();
  let rows: DcgmRow[] = [];
  let rejects: RejectedRow[] = [];
  let yields = 0;
  const sink = { row: (row: DcgmRow) => rows.push({ ...row }), reject: (r: RejectedRow) => rejects.push(r) };
  for await (const position of source.read(null, sink, controller.signal)) {
    const scheduled = (position as { lastScrapeMs: number }).lastScrapeMs;
    const round = byTime.get(scheduled) ?? { position, rows: [], rejects: [] };
    round.rows.push(...rows);
    round.rejects.push(...rejects);
    byTime.set(scheduled, round);
    rows = [];
    rejects = [];
    if (++yields === rounds * targets) controller.abort();
  }
  assert.equal(rows.length, 0, 'no rows delivered after the last position');
  assert.equal(byTime.size, rounds, 'every target answered once a round');
  return [...byTime.values()];
}

/** Rows in a fixed order: targets answer in any order, each target's rows in page order. */
/** Rows delivered in each of the first `rounds` rounds (none rejected); `afterRound` runs after each. */
async function rowsPerRound(source: ScrapeSource, rounds: number, afterRound: () => void = () => undefined): Promise<number[]> {
  const controller = new AbortController();
  const perRound: number[] = [];
  let rows = 0;
  for await (const _ of source.read(null, { row: () => rows++, reject: () => assert.fail('no rejects') }, controller.signal)) {
    perRound.push(rows);
    rows = 0;
    afterRound();
    if (perRound.length === rounds) controller.abort();
  }
  return perRound;
}

function sorted(rows: DcgmRow[]): DcgmRow[] {
  return [...rows].sort((a, b) => (a.labelsRaw === b.labelsRaw ? a.lineNumber - b.lineNumber : a.labelsRaw < b.labelsRaw ? -1 : 1));
}

async function metricValue(name: string, labels: Record<string, string>): Promise<number | undefined> {
  const metric = (await metricsRegistry.getMetricsAsJSON()).find((m) => m.name === name);
  const found = (metric?.values as Array<{ value: number; labels: Record<string, string> }> | undefined)?.find((v) =>
    Object.entries(labels).every(([k, value]) => v.labels[k] === value),
  );
  return found?.value;
}

/** A row as expected, labels_raw compared decoded (its literal form is checked separately). */
function expectRow(row: Omit<DcgmRow, 'labelsRaw'> & { labels: Record<string, string> }): DcgmRow & { labels?: never } {
  const { labels, ...rest } = row;
  return { ...rest, labelsRaw: JSON.stringify(labels) };
}

function decoded(rows: DcgmRow[]): DcgmRow[] {
  return rows.map((r) => ({ ...r, labelsRaw: JSON.stringify(Object.fromEntries([...parseLabelsRaw(r.labelsRaw)].sort(([a], [b]) => (a < b ? -1 : 1)))) }));
}

function labelsOf(text: string, extra: Record<string, string>): Record<string, string> {
  const map = new Map<string, string>();
  for (const pair of text.split(',')) {
    const [k, v] = pair.split('=');
    if (v !== '"<<<NULL>>>"') map.set(k.trim(), v.trim().slice(1, -1));
  }
  for (const [k, v] of Object.entries(extra)) map.set(k, v);
  return Object.fromEntries([...map].sort(([a], [b]) => (a < b ? -1 : 1)));
}

test('scraping dcgm-exporters: exact rows out, MIG and pod labels kept, sentinels and identity-less series skipped, a down and a slow target never stop the others', async () => {
  const current = await serve((respond) => respond(200, CURRENT_EXPORTER));
  const old = await serve((respond) => respond(200, OLD_EXPORTER));
  const slowTimers: NodeJS.Timeout[] = [];
  const slow = await serve((respond) => slowTimers.push(setTimeout(() => respond(200, OLD_EXPORTER), 5_000)));
  const down = await deadUrl();
  try {
    const source = new ScrapeSource({ urls: [current.url, old.url, down, slow.url], intervalMs: 1_000, timeoutMs: 700 });
    assert.equal(source.resumable, false);
    const rounds = await readRounds(source, 2, 4);
    const currentPort = new URL(current.url).port;
    const oldPort = new URL(old.url).port;

    for (const round of rounds) {
      const scheduled = (round.position as { lastScrapeMs: number }).lastScrapeMs;
      assert.equal(scheduled % 1_000, 0, 'scrapes are aligned to the interval');
      const t = scheduled;
      const row = (metric: string, gpu: number, uuid: string, model: string, value: number, lineNumber: number, labels: Record<string, string>, pod: [string, string, string] = ['', '', '']): DcgmRow =>
        expectRow({ lineNumber, timestampMs: t, metricName: metric, sourceMetricName: metric, gpuId: gpu, device: `nvidia${gpu}`, uuid, modelName: model, hostname: 'gpu-node-07', container: pod[0], pod: pod[1], namespace: pod[2], value, labels });
      const inst = { instance: `127.0.0.1:${currentPort}` };
      const expected: DcgmRow[] = [
        row('DCGM_FI_DEV_GPU_TEMP', 0, 'GPU-0000', H100, 41, 3, labelsOf(base(0, 'GPU-0000', H100), { ...inst, __name__: 'DCGM_FI_DEV_GPU_TEMP' })),
        row('DCGM_FI_DEV_GPU_TEMP', 1, 'GPU-1111', H100, 63, 4, labelsOf(base(1, 'GPU-1111', H100, BUSY), { ...inst, __name__: 'DCGM_FI_DEV_GPU_TEMP' }), BUSY),
        row('DCGM_FI_DEV_FB_USED', 0, 'GPU-0000', H100, 0, 7, labelsOf(base(0, 'GPU-0000', H100), { ...inst, __name__: 'DCGM_FI_DEV_FB_USED' })),
        row('DCGM_FI_DEV_POWER_USAGE', 1, 'GPU-1111', H100, 412.5, 12, labelsOf(base(1, 'GPU-1111', H100, BUSY), { ...inst, __name__: 'DCGM_FI_DEV_POWER_USAGE' }), BUSY),
        row('DCGM_FI_PROF_GR_ENGINE_ACTIVE', 2, 'GPU-2222', A100, 0.5, 15, labelsOf(`${base(2, 'GPU-2222', A100)},GPU_I_ID="1",GPU_I_PROFILE="3g.40gb"`, { ...inst, __name__: 'DCGM_FI_PROF_GR_ENGINE_ACTIVE' })),
        row('DCGM_FI_PROF_GR_ENGINE_ACTIVE', 2, 'GPU-2222', A100, 0.25, 16, labelsOf(`${base(2, 'GPU-2222', A100)},GPU_I_ID="2",GPU_I_PROFILE="3g.40gb"`, { ...inst, __name__: 'DCGM_FI_PROF_GR_ENGINE_ACTIVE' })),
        // The old exporter: names mapped, *_name labels mapped, the hostname is the target's host.
        expectRow({ lineNumber: 2, timestampMs: t, metricName: 'DCGM_FI_DEV_GPU_TEMP', sourceMetricName: 'dcgm_gpu_temp', gpuId: 0, device: 'nvidia0', uuid: 'GPU-3333', modelName: '', hostname: '127.0.0.1', container: 'c1', pod: 'p1', namespace: 'ns1', value: 50, labels: { __name__: 'dcgm_gpu_temp', container_name: 'c1', gpu: '0', instance: `127.0.0.1:${oldPort}`, pod_name: 'p1', pod_namespace: 'ns1', uuid: 'GPU-3333' } }),
        // A line's own timestamp wins over the scrape time.
        expectRow({ lineNumber: 3, timestampMs: 1_772_442_900_123, metricName: 'DCGM_FI_DEV_POWER_USAGE', sourceMetricName: 'dcgm_power_usage', gpuId: 0, device: 'nvidia0', uuid: 'GPU-3333', modelName: '', hostname: '127.0.0.1', container: 'c1', pod: 'p1', namespace: 'ns1', value: 301.25, labels: { __name__: 'dcgm_power_usage', container_name: 'c1', gpu: '0', instance: `127.0.0.1:${oldPort}`, pod_name: 'p1', pod_namespace: 'ns1', uuid: 'GPU-3333' } }),
      ];
      assert.deepEqual(sorted(decoded(round.rows)), sorted(expected));
      assert.deepEqual(round.rejects, [{ lineNumber: 19, byteOffset: -1, reason: `${current.url}: the label set is not closed with "}"` }]);
    }
    // labels_raw is the CSV export's doubled-quote form, sorted by label name.
    assert.equal(
      rounds[0].rows.find((r) => r.uuid === 'GPU-0000')?.labelsRaw,
      `DCGM_FI_DRIVER_VERSION=""535.129.03"",Hostname=""gpu-node-07"",UUID=""GPU-0000"",__name__=""DCGM_FI_DEV_GPU_TEMP"",container="""",device=""nvidia0"",gpu=""0"",instance=""127.0.0.1:${currentPort}"",modelName=""${H100}"",namespace="""",pod=""""`,
    );
    const [first, second] = rounds.map((r) => (r.position as { lastScrapeMs: number }).lastScrapeMs);
    assert.ok(second > first);

    // Every target was tried every round; failures are counted per target and reason.
    assert.equal(current.requests, 2);
    assert.equal(old.requests, 2);
    assert.equal(slow.requests, 2);
    assert.equal(await metricValue('gputel_scrape_failures_total', { target: down, reason: 'connect' }), 2);
    assert.equal(await metricValue('gputel_scrape_failures_total', { target: slow.url, reason: 'timeout' }), 2);
    assert.equal(await metricValue('gputel_scrape_up', { target: down }), 0);
    assert.equal(await metricValue('gputel_scrape_up', { target: current.url }), 1);
    assert.equal(await metricValue('gputel_scrape_last_success_timestamp_seconds', { target: current.url }), second / 1000);
    assert.equal(await metricValue('gputel_scrape_samples_total', { target: current.url }), 12);
    assert.equal(await metricValue('gputel_scrape_samples_skipped_total', { target: current.url, reason: 'no_gpu_identity' }), 4);
    assert.equal(await metricValue('gputel_scrape_samples_skipped_total', { target: current.url, reason: 'blank' }), 4);
    assert.equal(await metricValue('gputel_scrape_lines_rejected_total', { target: current.url }), 2);

    // The read ended and left no connection open behind it.
    await sleep(50);
    for (const served of [current, old, slow]) {
      const open = await new Promise<number>((resolve, reject) => served.server.getConnections((error, count) => (error ? reject(error) : resolve(count))));
      assert.equal(open, 0, `${served.url} has no open connection`);
    }
  } finally {
    for (const timer of slowTimers) clearTimeout(timer);
    await Promise.all([close(current), close(old), close(slow)]);
  }
});

test('each target\'s rows are delivered as soon as it answers, before a slower target\'s', async () => {
  const fast = await serve((respond) => respond(200, OLD_EXPORTER));
  const timers: NodeJS.Timeout[] = [];
  const slowish = await serve((respond) => timers.push(setTimeout(() => respond(200, CURRENT_EXPORTER), 300)));
  try {
    const source = new ScrapeSource({ urls: [slowish.url, fast.url], intervalMs: 1_000, timeoutMs: 900 });
    const controller = new AbortController();
    const hostsPerYield: string[][] = [];
    let hosts = new Set<string>();
    for await (const _ of source.read(null, { row: (r) => hosts.add(r.hostname), reject: () => undefined }, controller.signal)) {
      hostsPerYield.push([...hosts]);
      hosts = new Set();
      if (hostsPerYield.length === 2) controller.abort();
    }
    assert.deepEqual(hostsPerYield, [['127.0.0.1'], ['gpu-node-07']]);
  } finally {
    for (const timer of timers) clearTimeout(timer);
    await Promise.all([close(fast), close(slowish)]);
  }
});

test('an OpenMetrics answer: timestamps in seconds, counters named by their family', async () => {
  const body = [
    '# TYPE DCGM_FI_DEV_PCIE_REPLAY_COUNTER counter',
    'DCGM_FI_DEV_PCIE_REPLAY_COUNTER_total{gpu="0",UUID="GPU-om",Hostname="om-node"} 7 1772442900.250',
    'DCGM_FI_DEV_PCIE_REPLAY_COUNTER_created{gpu="0",UUID="GPU-om",Hostname="om-node"} 1772440000',
    '# EOF',
    '',
  ].join('\n');
  const served = await serve((respond) => respond(200, body), 'application/openmetrics-text; version=1.0.0; charset=utf-8');
  try {
    const [round] = await readRounds(new ScrapeSource({ urls: [served.url], intervalMs: 600 }), 1);
    assert.deepEqual(round.rejects, []);
    assert.deepEqual(
      round.rows.map((r) => [r.metricName, r.sourceMetricName, r.timestampMs, r.value, r.hostname]),
      [['DCGM_FI_DEV_PCIE_REPLAY_COUNTER', 'DCGM_FI_DEV_PCIE_REPLAY_COUNTER_total', 1_772_442_900_250, 7, 'om-node']],
    );
    assert.equal(await metricValue('gputel_scrape_samples_skipped_total', { target: served.url, reason: 'created' }), 1);
  } finally {
    await close(served);
  }
});

test('a target answering with an HTTP error is counted and logged, and scraped again next round', async () => {
  let status = 503;
  const flaky = await serve((respond) => respond(status, status === 200 ? OLD_EXPORTER : 'busy'));
  try {
    const source = new ScrapeSource({ urls: [flaky.url], intervalMs: 600 });
    const perRound = await rowsPerRound(source, 2, () => (status = 200));
    assert.deepEqual(perRound, [0, 2]);
    assert.equal(await metricValue('gputel_scrape_failures_total', { target: flaky.url, reason: 'http' }), 1);
  } finally {
    await close(flaky);
  }
});

// The body of an error answer was drained after the scrape had given up on it: one that never ended
// kept the target's only socket busy, and every later scrape of the target queued behind it and timed out.
test('an HTTP error whose body never ends does not hold up the next scrape of the target', { timeout: 20_000 }, async () => {
  let requests = 0;
  let trickle: NodeJS.Timeout | undefined;
  const server = createServer((_request, response) => {
    if (++requests > 1) {
      response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      response.end(OLD_EXPORTER);
      return;
    }
    response.writeHead(503, { 'content-type': 'text/plain' });
    trickle = setInterval(() => response.write('still busy\n'), 50);
    response.on('close', () => clearInterval(trickle));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
  try {
    const source = new ScrapeSource({ urls: [url], intervalMs: 600 });
    const perRound = await rowsPerRound(source, 2);
    assert.deepEqual(perRound, [0, 2], 'the round after the endless error answer got its rows');
  } finally {
    clearInterval(trickle);
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

// Targets on one host:port shared the agent's single socket for that origin: a slow one made the
// others queue behind it, and a queued request that timed out never settled, so the read hung.
test('targets on one host:port are scraped side by side: a slow one does not hold up the other', { timeout: 20_000 }, async () => {
  const server = createServer((request, response) => {
    if (request.url === '/slow') return; // never answers
    response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
    response.end(OLD_EXPORTER);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const source = new ScrapeSource({ urls: [`${origin}/slow`, `${origin}/metrics`], intervalMs: 600 });
    const controller = new AbortController();
    let rows = 0;
    let yields = 0;
    for await (const _ of source.read(null, { row: () => rows++, reject: () => assert.fail('no rejects') }, controller.signal)) {
      if (++yields === 2) controller.abort();
    }
    assert.equal(rows, 2, 'the answering target\'s rows of the first round');
    assert.equal(await metricValue('gputel_scrape_failures_total', { target: `${origin}/slow`, reason: 'timeout' }), 1);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

test('an abort while waiting for the next scrape ends the read at once, without an error', async () => {
  const source = new ScrapeSource({ urls: ['http://127.0.0.1:9/metrics'], intervalMs: 3_600_000, timeoutMs: 1_000 });
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 20);
  let yields = 0;
  for await (const _ of source.read(null, { row: () => undefined, reject: () => undefined }, controller.signal)) yields++;
  assert.equal(yields, 0);
});

test('bad settings are refused with the flag named', () => {
  const refused = (options: ConstructorParameters<typeof ScrapeSource>[0], pattern: RegExp): void => {
    assert.throws(() => new ScrapeSource(options), (e: unknown) => e instanceof GputelError && e.code === 'BAD_CONFIG' && pattern.test(e.message));
  };
  refused({ urls: [], intervalMs: 1000 }, /--scrape needs at least one URL/);
  refused({ urls: ['gpu-node-07:9400'], intervalMs: 1000 }, /must be an http/);
  refused({ urls: ['not a url'], intervalMs: 1000 }, /is not a URL/);
  refused({ urls: ['http://a:9400/metrics'], intervalMs: 1000, timeoutMs: 1000 }, /--scrape-timeout .* shorter than --interval/);
  refused({ urls: ['http://a:9400/metrics', 'http://a:9400/metrics'], intervalMs: 1000 }, /twice/);
});

test('the source id names the first host and differs for different target lists', () => {
  const one = new ScrapeSource({ urls: ['http://gpu-node-07:9400/metrics'], intervalMs: 10_000 });
  const two = new ScrapeSource({ urls: ['http://gpu-node-07:9400/metrics', 'http://gpu-node-08:9400/metrics'], intervalMs: 10_000 });
  assert.match(one.id, /^scrape-gpu-node-07-[0-9a-f]{8}$/);
  assert.match(two.id, /^scrape-gpu-node-07-and-1-[0-9a-f]{8}$/);
  assert.equal(two.location, 'http://gpu-node-07:9400/metrics,http://gpu-node-08:9400/metrics');
});

test('credentials in a target URL are sent as basic auth but never shown', async () => {
  let authorization: string | undefined;
  const secured = await serve((respond) => respond(200, OLD_EXPORTER));
  secured.server.prependListener('request', (request) => {
    authorization = request.headers.authorization;
  });
  try {
    const url = secured.url.replace('http://', 'http://scraper:s3cret@');
    const source = new ScrapeSource({ urls: [url], intervalMs: 600 });
    assert.equal(source.location, secured.url);
    assert.doesNotMatch(source.id, /s3cret/);
    const [round] = await readRounds(source, 1);
    assert.equal(round.rows.length, 2);
    assert.equal(authorization, `Basic ${Buffer.from('scraper:s3cret').toString('base64')}`);
    assert.equal(await metricValue('gputel_scrape_up', { target: secured.url }), 1);
  } finally {
    await close(secured);
  }
});
