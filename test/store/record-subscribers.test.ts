/** Who the record stream hands a GPU's records to: the index agrees with the filters' plain meaning. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RecordSubscribers, type SubscriberFilter } from '../../src/store/record-subscribers.js';
import type { GpuEntry } from '../../src/store/registry.js';

function gpu(hostname: string, uuid: string, gpuId: number, migInstanceId = ''): GpuEntry {
  const gpuKey = migInstanceId === '' ? uuid : `${uuid}::${migInstanceId}`;
  return { id: gpuKey, gpuKey, uuid, gpuId, hostname, device: '', modelName: '', driverVersion: '', migInstanceId, migProfile: '', firstSeenMs: 0, metricAliases: {}, lastSeenMs: 0, status: 'active', latest: undefined };
}

const set = (...values: string[]): ReadonlySet<string> => new Set(values);

/** The filters' meaning, written plainly: every given list must match. */
function plainlyMatches(filter: SubscriberFilter, entry: GpuEntry): boolean {
  if (filter.hosts && !filter.hosts.has(entry.hostname)) return false;
  if (!filter.gpuIds) return true;
  return [entry.id, entry.gpuKey, entry.uuid, `${entry.hostname}:${entry.gpuId}`, `${entry.hostname}:${entry.gpuKey}`].some((id) => filter.gpuIds!.has(id));
}

describe('record subscribers', () => {
  const gpus = [gpu('a', 'GPU-1', 0), gpu('a', 'GPU-2', 1), gpu('b', 'GPU-3', 0), gpu('b', 'GPU-4', 1, '1'), gpu('b', 'GPU-4', 1, '2'), gpu('c', 'GPU-1', 0)];
  const filters: SubscriberFilter[] = [
    { gpuIds: undefined, hosts: undefined },
    { gpuIds: undefined, hosts: set('a') },
    { gpuIds: undefined, hosts: set('a', 'b') },
    { gpuIds: set('GPU-1'), hosts: undefined },
    { gpuIds: set('GPU-1'), hosts: set('c') },
    { gpuIds: set('GPU-1', 'a:0'), hosts: undefined }, // the same GPU by two ids
    { gpuIds: set('GPU-4'), hosts: undefined }, // every MIG instance
    { gpuIds: set('GPU-4::2'), hosts: undefined }, // one instance
    { gpuIds: set('b:0', 'a:1'), hosts: set('b') },
  ];

  it('hands each GPU to exactly the subscribers whose filters match it, each once', () => {
    const subscribers = new RecordSubscribers<{ filter: SubscriberFilter; n: number }>();
    filters.forEach((filter, n) => subscribers.add({ filter, n }));
    for (const entry of gpus) {
      const found = subscribers.matching(entry).map((s) => s.n).sort((x, y) => x - y);
      const expected = filters.flatMap((filter, n) => (plainlyMatches(filter, entry) ? [n] : []));
      assert.deepEqual(found, expected, `${entry.hostname} ${entry.gpuKey}`);
    }
  });

  it('forgets deleted subscribers and counts the others', () => {
    const subscribers = new RecordSubscribers<{ filter: SubscriberFilter; n: number }>();
    const added = filters.map((filter, n) => ({ filter, n }));
    added.forEach((s) => subscribers.add(s));
    for (const s of added.filter((s) => s.n % 2 === 0)) subscribers.delete(s);
    subscribers.delete(added[0]); // twice is harmless
    assert.equal(subscribers.size, 4);
    for (const entry of gpus) assert.ok(subscribers.matching(entry).every((s) => s.n % 2 === 1));
    subscribers.clear();
    assert.equal(subscribers.size, 0);
    assert.deepEqual(subscribers.matching(gpus[0]), []);
  });
});
