/**
 * The accumulator: its per-hostname partition cache (hostnames come from the
 * input, so a bad one is refused before it is remembered and the cache
 * stays bounded however many distinct hostnames a source sends), the GPU
 * identity of each row (the previous row's GPU reused only when every field
 * matches) and the labels_raw caches (bounded, MIG instances kept apart).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import type { DcgmRow } from '../../src/ingest/dcgm-row.js';
import { parseLabelsRaw } from '../../src/ingest/labels-raw.js';
import type { GpuLabels } from '../../src/queue/telemetry-batch.js';
import { BatchAccumulator, MAX_CACHED_HOSTS, MAX_CACHED_LABELS } from '../../src/streamer/batch-accumulator.js';

function row(hostname: string): DcgmRow {
  return {
    lineNumber: 1, timestampMs: 1_700_000_000_000, metricName: 'DCGM_FI_DEV_GPU_TEMP', sourceMetricName: 'DCGM_FI_DEV_GPU_TEMP',
    gpuId: 0, device: 'nvidia0', uuid: 'GPU-1', modelName: 'm', hostname, container: '', pod: '', namespace: '', value: 1, labelsRaw: '',
  };
}

test('a hostname that cannot name a key is refused and not cached', () => {
  const accumulator = new BatchAccumulator('default', 's', 4);
  for (const bad of ['', '..', 'x'.repeat(300), 'a\ud800b']) {
    assert.throws(() => accumulator.add(row(bad)), (e: Error & { code?: string }) => e.code === 'BAD_KEY');
  }
  assert.equal(accumulator.cachedHosts, 0);
  assert.equal(accumulator.samples, 0);
});

test('the hostname cache stays bounded over many distinct hostnames; every row is still kept', () => {
  const accumulator = new BatchAccumulator('default', 's', 4);
  const rows = MAX_CACHED_HOSTS * 2 + 5;
  let samples = 0;
  for (let i = 0; i < rows; i++) {
    accumulator.add(row(`host-${i}`));
    if (accumulator.samples >= 5_000) samples += [...accumulator.take().values()].reduce((n, b) => n + b.length, 0);
    assert.ok(accumulator.cachedHosts <= MAX_CACHED_HOSTS);
  }
  samples += [...accumulator.take().values()].reduce((n, b) => n + b.length, 0);
  assert.equal(samples, rows);
});

test('rows of the GPU before them go to its slot; any field of the identity that differs is another GPU, before and after a take', () => {
  const accumulator = new BatchAccumulator('default', 's', 1);
  const mig = (instance: string): string => `gpu="0",GPU_I_ID="${instance}",GPU_I_PROFILE="1g.10gb"`;
  const variants: Partial<DcgmRow>[] = [
    {},
    {},
    { metricName: 'DCGM_FI_DEV_POWER_USAGE', sourceMetricName: 'DCGM_FI_DEV_POWER_USAGE' },
    { pod: 'p' },
    { pod: 'p' },
    {},
    { labelsRaw: mig('1') },
    { labelsRaw: mig('2') },
    { labelsRaw: mig('2') },
    { gpuId: 1 },
    { device: 'nvidia1' },
    { modelName: 'n' },
    { container: 'c' },
    { namespace: 'ns' },
    { uuid: 'GPU-2' },
  ];
  const check = (batch: ReturnType<BatchAccumulator['take']>): void => {
    const only = [...batch.values()][0];
    assert.equal(only.length, variants.length);
    // One GPU per distinct identity, each sample on the GPU its row named.
    assert.equal(only.gpus.length, 10);
    for (let i = 0; i < variants.length; i++) {
      const gpu = only.gpus[only.gpuIndex[i]];
      const expected = { ...row('h'), ...variants[i] };
      assert.deepEqual([gpu.uuid, gpu.gpuId, gpu.device, gpu.modelName, gpu.container, gpu.pod, gpu.namespace, gpu.migInstanceId], [expected.uuid, expected.gpuId, expected.device, expected.modelName, expected.container, expected.pod, expected.namespace, /GPU_I_ID="(\d)"/.exec(expected.labelsRaw)?.[1] ?? ''], `row ${i}`);
      assert.equal(only.metrics[only.metricIndex[i]], expected.metricName, `row ${i}`);
    }
  };
  for (let round = 0; round < 2; round++) {
    // One row object, reused as the parser does.
    const reused = row('h');
    for (const variant of variants) accumulator.add(Object.assign(reused, row('h'), variant));
    check(accumulator.take());
  }
});

test('a bad labels_raw is refused for every row that has it, even right after a good row of the same GPU', () => {
  const accumulator = new BatchAccumulator('default', 's', 1);
  accumulator.add(row('h'));
  for (let i = 0; i < 3; i++) assert.throws(() => accumulator.add({ ...row('h'), labelsRaw: 'gpu="0' }), (e: Error & { code?: string }) => e.code === 'BAD_INPUT');
  accumulator.add(row('h'));
  assert.equal(accumulator.samples, 2);
});

test('MIG instances of one UUID alternating on one metric each keep their own GPU, and a changed text is parsed again', () => {
  const accumulator = new BatchAccumulator('default', 's', 1);
  const mig = (instance: string, profile = '1g.10gb'): string => `gpu="0",GPU_I_ID="${instance}",GPU_I_PROFILE="${profile}"`;
  const texts = [mig('1'), mig('2'), mig('1'), mig('2'), mig('3', '2g.20gb'), mig('1')];
  for (const labelsRaw of texts) accumulator.add({ ...row('h'), labelsRaw });
  const batch = [...accumulator.take().values()][0];
  assert.deepEqual(
    Array.from(batch.gpuIndex.subarray(0, texts.length), (slot) => `${batch.gpus[slot].migInstanceId}/${batch.gpus[slot].migProfile}`),
    ['1/1g.10gb', '2/1g.10gb', '1/1g.10gb', '2/1g.10gb', '3/2g.20gb', '1/1g.10gb'],
  );
  assert.equal(batch.gpus.length, 3);
});

test('the labels caches stay bounded when many GPUs and metrics share one labels_raw, and every row is still kept', () => {
  const accumulator = new BatchAccumulator('default', 's', 4);
  const rows = MAX_CACHED_LABELS + 1_000;
  let samples = 0;
  for (let i = 0; i < rows; i++) {
    accumulator.add({ ...row('h'), uuid: `GPU-${i % 5_000}`, sourceMetricName: `DCGM_FI_X_${Math.floor(i / 5_000)}`, metricName: `DCGM_FI_X_${Math.floor(i / 5_000)}`, labelsRaw: 'gpu="0"' });
    if (accumulator.samples >= 5_000) samples += [...accumulator.take().values()].reduce((n, b) => n + b.length, 0);
    const { texts, indexed } = accumulator.cachedLabels;
    assert.ok(texts === 1 && indexed <= MAX_CACHED_LABELS, `row ${i}: ${texts} texts, ${indexed} indexed`);
  }
  samples += [...accumulator.take().values()].reduce((n, b) => n + b.length, 0);
  assert.equal(samples, rows);
});

test('property: every row lands on the GPU its own fields and labels_raw name, whatever the order, repeats and takes', () => {
  const pick = <T>(values: readonly T[]): fc.Arbitrary<T> => fc.constantFrom(...values);
  const labelTexts = [
    '',
    'gpu="0",DCGM_FI_DRIVER_VERSION="535.1"',
    'gpu="0",DCGM_FI_DRIVER_VERSION="550.2"',
    'GPU_I_ID="1",GPU_I_PROFILE="1g.10gb"',
    'GPU_I_ID="2",GPU_I_PROFILE="1g.10gb"',
    'GPU_I_ID="2",GPU_I_PROFILE="3g.40gb"',
    'gpu="0',
    '=bad',
  ];
  const rowArbitrary = fc.record({
    hostname: pick(['h1', 'h2']),
    uuid: pick(['GPU-1', 'GPU-2']),
    gpuId: pick([0, 1]),
    device: pick(['nvidia0', 'nvidia1']),
    modelName: pick(['m', 'n']),
    container: pick(['', 'c']),
    pod: pick(['', 'p']),
    namespace: pick(['', 'ns']),
    metric: pick(['DCGM_FI_DEV_GPU_TEMP', 'DCGM_FI_DEV_POWER_USAGE']),
    // Built per row, as the parser's slices are: equal texts are often different string objects.
    labelsRaw: pick(labelTexts).map((text) => (text === '' ? '' : `${text.slice(0, 1)}${text.slice(1)}`)),
    takeAfter: fc.boolean(),
  });
  fc.assert(
    fc.property(fc.array(rowArbitrary, { maxLength: 60 }), (rows) => {
      const accumulator = new BatchAccumulator('default', 's', 2);
      const kept: { gpu: GpuLabels; metric: string }[] = [];
      const expected: { gpu: Partial<GpuLabels>; metric: string }[] = [];
      const takeAll = (): void => {
        for (const batch of accumulator.take().values()) {
          for (let i = 0; i < batch.length; i++) kept.push({ gpu: batch.gpus[batch.gpuIndex[i]], metric: batch.metrics[batch.metricIndex[i]] });
        }
      };
      for (const r of rows) {
        let labels: Map<string, string> | undefined;
        try {
          labels = parseLabelsRaw(r.labelsRaw);
        } catch {
          labels = undefined;
        }
        const { uuid, gpuId, device, modelName, container, pod, namespace } = r;
        const input: DcgmRow = { ...row(r.hostname), uuid, gpuId, device, modelName, container, pod, namespace, metricName: r.metric, sourceMetricName: r.metric, labelsRaw: r.labelsRaw };
        if (labels === undefined) {
          assert.throws(() => accumulator.add(input), (e: Error & { code?: string }) => e.code === 'BAD_INPUT');
        } else {
          accumulator.add(input);
          expected.push({ gpu: { hostname: r.hostname, uuid, gpuId, device, modelName, container, pod, namespace, migInstanceId: labels.get('GPU_I_ID') ?? '' }, metric: r.metric });
        }
        if (r.takeAfter) takeAll();
      }
      takeAll();
      // Batches come out per partition: compare as multisets of (GPU identity, metric).
      const key = ({ gpu: g, metric }: { gpu: Partial<GpuLabels>; metric: string }): string =>
        JSON.stringify([g.hostname, g.uuid, g.gpuId, g.device, g.modelName, g.container, g.pod, g.namespace, g.migInstanceId, metric]);
      assert.deepEqual(kept.map(key).sort(), expected.map(key).sort());
    }),
    { numRuns: 300 },
  );
});

test('a row that differs from the one before it in one identity field alone is another GPU', () => {
  for (const field of ['hostname', 'uuid', 'gpuId', 'device', 'modelName', 'container', 'pod', 'namespace'] as const) {
    const accumulator = new BatchAccumulator('default', 's', 1);
    const other = field === 'gpuId' ? 1 : 'x';
    accumulator.add(row('h'));
    accumulator.add({ ...row('h'), [field]: other });
    const batch = [...accumulator.take().values()][0];
    assert.equal(batch.gpus.length, 2, field);
    assert.equal(batch.gpus[batch.gpuIndex[1]][field], other, field);
  }
});

test('the caches keep no slice of a source input alive (a scrape hands out its UUID and metric name as slices of its body)', () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const accumulator = new BatchAccumulator('default', 's', 1);
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < 100; i++) {
    // A 1 MB body, and the hostname, UUID and metric name sliced from it.
    const body = `GPU-${String(i).padStart(36, '0')}DCGM_FI_DEV_GPU_TEMPhost-${String(i).padStart(4, '0')}${'y'.repeat(1_000_000)}${i}`;
    const metric = body.slice(40, 60);
    accumulator.add({ ...row(body.slice(60, 69)), uuid: body.slice(0, 40), metricName: metric, sourceMetricName: metric, labelsRaw: 'gpu=""0""' });
    accumulator.take();
  }
  gc();
  const grownMb = (process.memoryUsage().heapUsed - before) / 1e6;
  assert.ok(grownMb < 20, `heap grew ${grownMb.toFixed(0)} MB: a cache keeps the bodies alive`);
  assert.equal(accumulator.cachedLabels.indexed, 100);
});

test('2,500 GPUs × 16 metrics of ~450-character labels_raw stay cached from one tick to the next', () => {
  const accumulator = new BatchAccumulator('default', 's', 1);
  const pad = 'x'.repeat(380);
  let cleared = 0;
  for (let tick = 0; tick < 2; tick++) {
    for (let g = 0; g < MAX_CACHED_LABELS / 16; g++) {
      const uuid = `GPU-${String(g).padStart(8, '0')}`;
      for (let m = 0; m < 16; m++) {
        const metric = `DCGM_FI_M_${m}`;
        const before = accumulator.cachedLabels.texts;
        accumulator.add({ ...row('h'), uuid, metricName: metric, sourceMetricName: metric, labelsRaw: `UUID=""${uuid}"",__name__=""${metric}"",pad=""${pad}""` });
        if (tick === 1 && accumulator.cachedLabels.texts < before) cleared++;
      }
      if (accumulator.samples >= 10_000) accumulator.take();
    }
  }
  assert.equal(cleared, 0, `the labels cache started over ${cleared} times in the second tick (${accumulator.cachedLabels.texts} texts cached)`);
  assert.equal(accumulator.cachedLabels.texts, MAX_CACHED_LABELS);
});

test('rows refused for a UUID that cannot name a key take no place in the labels index', () => {
  const accumulator = new BatchAccumulator('default', 's', 1);
  for (let i = 0; i < 1_000; i++) {
    assert.throws(() => accumulator.add({ ...row('h'), uuid: `GPU-${i}-${'u'.repeat(100_000)}` }), (e: Error & { code?: string }) => e.code === 'BAD_KEY');
  }
  assert.equal(accumulator.cachedLabels.indexed, 0);
  assert.equal(accumulator.samples, 0);
});
