/**
 * The registry follows the store through watch: a key or value under its
 * prefixes that gputel did not write is logged, counted and skipped, and the
 * watch goes on (before, `unescapeSegment` threw outside the try and ended it).
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { GputelError } from '../../src/common/gputel-error.js';
import { createLogger } from '../../src/common/logger.js';
import { metricsRegistry } from '../../src/common/metrics.js';
import { KeySpace } from '../../src/kv/key-space.js';
import type { KvStore, WatchOptions } from '../../src/kv/kv-store.js';
import { openKvStore } from '../../src/kv/open-kv-store.js';
import { encodeJson, type GpuMetadata, type LatestHost } from '../../src/store/gpu-records.js';
import { Registry } from '../../src/store/registry.js';
import { withOverrides } from '../support/kv-overrides.js';

async function skipped(name = 'gputel_gateway_registry_skipped_total'): Promise<number> {
  const metric = (await metricsRegistry.getMetricsAsJSON()).find((m) => m.name === name);
  return (metric?.values ?? []).reduce((sum, v) => sum + v.value, 0);
}

function metadata(hostname: string, uuid: string): GpuMetadata {
  return { gpuKey: uuid, uuid, gpuId: 0, hostname, device: 'nvidia0', modelName: 'm', driverVersion: '', migInstanceId: '', migProfile: '', firstSeenMs: 1_000, metricAliases: {} };
}

async function until(what: string, condition: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !condition(); i++) await sleep(20);
  assert.ok(condition(), what);
}

describe('registry', () => {
  let kv: KvStore;
  let registry: Registry;
  const keys = new KeySpace('/gputel');
  beforeEach(async () => {
    kv = await openKvStore({ dataDir: ':memory:' });
    registry = new Registry(kv, keys, 'default', createLogger('silent'));
  });
  afterEach(async () => {
    await registry.stop();
    await kv.close();
  });

  it('skips malformed keys and values under its prefixes, at load and while watching, and keeps following', async () => {
    const index = keys.gpuIndexPrefix('default');
    const latest = keys.latestPrefix('default');
    // Present at load: a bad escape in a latest key and a value that is not JSON.
    await kv.put(`${latest}bad%ZZhost`, encodeJson({ hostname: 'x', gpus: {} }));
    await kv.put(keys.gpuIndex('default', 'GPU-bad', 'h0'), Buffer.from('{not json'));
    await kv.put(keys.gpuIndex('default', 'GPU-0', 'h0'), encodeJson(metadata('h0', 'GPU-0')));
    const before = await skipped();
    await registry.start();
    assert.deepEqual(registry.gpus().map((g) => g.uuid), ['GPU-0']);
    assert.equal(await skipped(), before + 2);

    // Arriving through the watch: malformed keys, a bad escape in a GPU segment, a wrong shape.
    await kv.put(`${latest}%E0%A4%A`, encodeJson({ hostname: 'y', gpus: {} }));
    await kv.put(`${index}%/h1`, encodeJson(metadata('h1', 'GPU-x')));
    await kv.put(`${index}GPU-y/h1/extra`, encodeJson(metadata('h1', 'GPU-y')));
    await kv.put(keys.latest('default', 'h1'), encodeJson({ hostname: 'h1', gpus: 'none' }));
    await kv.delete({ start: `${latest}%FF` });
    await kv.put(`${latest}%FF`, Buffer.from('{}'));
    // Good entries after them still arrive: the watch did not end.
    await kv.put(keys.gpuIndex('default', 'GPU-1', 'h1'), encodeJson(metadata('h1', 'GPU-1')));
    const latestH1: LatestHost = { hostname: 'h1', gpus: { 'GPU-1': { lastSeenMs: 2_000, values: { DCGM_FI_DEV_GPU_UTIL: 7 }, container: '', pod: '', namespace: '' } } };
    await kv.put(keys.latest('default', 'h1'), encodeJson(latestH1));
    await until('GPU-1 arrives with its latest values', () => registry.matchGpus('GPU-1')[0]?.latest?.values.DCGM_FI_DEV_GPU_UTIL === 7);
    assert.deepEqual(registry.gpus().map((g) => g.uuid), ['GPU-0', 'GPU-1']);
    assert.doesNotThrow(() => registry.check(), 'the registry is still following');
    assert.equal(await skipped(), before + 2 + 5);
  });

  it('moves identityVersion when series come, change or go, and not when latest values move', async () => {
    await kv.put(keys.gpuIndex('default', 'GPU-0', 'h0'), encodeJson(metadata('h0', 'GPU-0')));
    await registry.start();
    const loaded = registry.identityVersion;
    const latest: LatestHost = { hostname: 'h0', gpus: { 'GPU-0': { lastSeenMs: 5_000, values: { DCGM_FI_DEV_GPU_UTIL: 1 }, container: '', pod: '', namespace: '' } } };
    await kv.put(keys.latest('default', 'h0'), encodeJson(latest));
    await until('the latest values arrive', () => registry.gpus()[0]?.lastSeenMs === 5_000);
    assert.equal(registry.identityVersion, loaded, 'latest values are no identity change');
    await kv.put(keys.gpuIndex('default', 'GPU-1', 'h0'), encodeJson(metadata('h0', 'GPU-1')));
    await until('the new GPU arrives', () => registry.gpus().length === 2);
    const added = registry.identityVersion;
    assert.notEqual(added, loaded);
    await kv.delete({ start: keys.gpuIndex('default', 'GPU-1', 'h0') });
    await until('the GPU goes', () => registry.gpus().length === 1);
    assert.notEqual(registry.identityVersion, added);
  });

  it('names by hostname:gpu_id the GPU at that index now once it was replaced, and keeps MIG instances ambiguous', async () => {
    const gpu = (uuid: string, mig = ''): GpuMetadata => ({ ...metadata('h0', uuid), gpuKey: mig === '' ? uuid : `${uuid}::${mig}`, migInstanceId: mig });
    await kv.put(keys.gpuIndex('default', 'GPU-old', 'h0'), encodeJson(gpu('GPU-old')));
    await kv.put(keys.gpuIndex('default', 'GPU-new', 'h0'), encodeJson(gpu('GPU-new')));
    await kv.put(keys.latest('default', 'h0'), encodeJson({ hostname: 'h0', gpus: {
      'GPU-old': { lastSeenMs: 1_000, values: {}, container: '', pod: '', namespace: '' },
      'GPU-new': { lastSeenMs: 9_000, values: {}, container: '', pod: '', namespace: '' },
    } } satisfies LatestHost));
    await registry.start();
    assert.deepEqual(registry.matchGpus('h0:0').map((g) => g.uuid), ['GPU-new']);
    assert.deepEqual(registry.matchGpus('GPU-old').map((g) => g.uuid), ['GPU-old'], 'the old one by its UUID');
    await kv.put(keys.gpuIndex('default', 'GPU-m::1', 'h1'), encodeJson({ ...gpu('GPU-m', '1'), hostname: 'h1' }));
    await kv.put(keys.gpuIndex('default', 'GPU-m::2', 'h1'), encodeJson({ ...gpu('GPU-m', '2'), hostname: 'h1' }));
    await until('the instances arrive', () => registry.gpus().length === 4);
    assert.equal(registry.matchGpus('h1:0').length, 2);
  });

  it('holds every host\'s rollup as stored, at load and through the watch, and skips a key that is not rollups/{host}', async () => {
    const rollups = keys.rollupsPrefix('default');
    await kv.put(keys.rollup('default', 'h0'), Buffer.from('h0 at load'));
    await registry.start();
    assert.deepEqual([...registry.rollups()].map(([host, stored]) => [host, stored.key, stored.value.toString()]), [['h0', keys.rollup('default', 'h0'), 'h0 at load']]);
    const before = await skipped();
    await kv.put(`${rollups}h1/extra`, Buffer.from('not a rollup key'));
    await kv.put(keys.rollup('default', 'h1'), Buffer.from('h1 new'));
    await kv.put(keys.rollup('default', 'h0'), Buffer.from('h0 new'));
    await kv.delete({ start: keys.rollup('default', 'h1') });
    await kv.put(keys.rollup('default', 'h2'), Buffer.from('h2 new'));
    await until('the last change arrives', () => registry.rollups().has('h2'));
    assert.deepEqual([...registry.rollups()].map(([host, stored]) => `${host}=${stored.value.toString()}`).sort(), ['h0=h0 new', 'h2=h2 new']);
    assert.equal(await skipped(), before + 1);
  });

  it('reloads and goes on, still ready, when its watch is cut off because the history was compacted', async () => {
    // Fault injection at the contract: the real store, with a handle on each
    // watch's onError to end it as etcd does when it compacted past a lagging watch.
    const onErrors: ((error: Error) => void)[] = [];
    const store = kv;
    const watch: KvStore['watch'] = (range, options: WatchOptions) => {
      if (options.onError) onErrors.push(options.onError);
      return store.watch(range, options);
    };
    const injecting = withOverrides(store, { watch });
    await registry.stop();
    registry = new Registry(injecting, keys, 'default', createLogger('silent'));
    await kv.put(keys.gpuIndex('default', 'GPU-0', 'h0'), encodeJson(metadata('h0', 'GPU-0')));
    await registry.start();
    const reloadsBefore = await skipped('gputel_gateway_registry_reloads_total');
    const watchesBefore = onErrors.length;
    onErrors[0](new GputelError('KV_COMPACTED', 'watch was cut off: revision 5 has been compacted'));
    assert.doesNotThrow(() => registry.check(), 'a compaction is routine: the registry stays ready while it reloads');
    // Every watch of the first start is set up again.
    await until('the registry watches again', () => onErrors.length === 2 * watchesBefore);
    await kv.put(keys.gpuIndex('default', 'GPU-1', 'h1'), encodeJson(metadata('h1', 'GPU-1')));
    await until('a GPU registered after the reload arrives', () => registry.matchGpus('GPU-1').length === 1);
    assert.deepEqual(registry.gpus().map((g) => g.uuid), ['GPU-0', 'GPU-1']);
    assert.equal(await skipped('gputel_gateway_registry_reloads_total'), reloadsBefore + 1);
  });
});
