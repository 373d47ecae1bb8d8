/** LiveSettings: precedence of live values over the started ones, refusals, and what GET /config shows. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/common/config.js';
import { LiveSettings } from '../../src/common/live-settings.js';

function started(): LiveSettings {
  return new LiveSettings(loadConfig({ flags: { batchSamples: '500', apiKeys: 'ops:admin:sha256:' + 'a'.repeat(64) }, env: { GPUTEL_RETENTION: '2d' } }));
}

describe('live settings', () => {
  it('a live value overrides the started one, and removing it returns to the started value and its source', () => {
    const settings = started();
    const batch = settings.setting('batchSamples');
    const seen: number[] = [];
    batch.onChange((value) => seen.push(value));
    assert.equal(settings.apply('batch-samples', '2000'), undefined);
    assert.equal(batch.value, 2000);
    assert.deepEqual(settings.describe().find((row) => row.key === 'batch-samples'), { key: 'batch-samples', value: '2000', source: 'live', live: true });
    settings.apply('batch-samples', undefined);
    assert.equal(batch.value, 500);
    assert.deepEqual(seen, [2000, 500]);
    assert.deepEqual(settings.describe().find((row) => row.key === 'batch-samples'), { key: 'batch-samples', value: '500', source: 'flag', live: true });
  });

  it('a component that fails to take a value does not keep it from the others', () => {
    const settings = started();
    const batch = settings.setting('batchSamples');
    const seen: number[] = [];
    batch.onChange(() => {
      throw new Error('cannot resize');
    });
    batch.onChange((value) => seen.push(value));
    assert.doesNotThrow(() => settings.apply('batch-samples', '2000'));
    assert.equal(batch.value, 2000);
    assert.deepEqual(seen, [2000]);
  });

  it('a bad live value is refused with the flag parser\'s reason and the value in effect stays', () => {
    const settings = started();
    settings.apply('retention', '3d');
    const reason = settings.apply('retention', '10m');
    assert.match(reason!, /must be a duration of at least 1h/);
    assert.equal(settings.setting('retentionMs').value, 3 * 86_400_000);
    const row = settings.describe().find((r) => r.key === 'retention')!;
    assert.equal(row.value, '3d');
    assert.equal(row.source, 'live');
    assert.match(row.rejected!.reason, /at least 1h/);
    // A good value clears the refusal.
    settings.apply('retention', '4d');
    assert.equal(settings.describe().find((r) => r.key === 'retention')!.rejected, undefined);
  });

  it('applyAll returns every setting missing from the store to its started value, and ignores keys that are not live', () => {
    const settings = started();
    settings.applyAll(new Map([['stale-after', '30s'], ['max-rate', '100']]));
    settings.applyAll(new Map([['max-rate', '200'], ['partitions', '4']]));
    assert.equal(settings.setting('staleAfterMs').value, 5 * 60_000);
    assert.equal(settings.setting('maxRate').value, 200);
    assert.equal(settings.describe().find((r) => r.key === 'partitions')!.value, '16');
  });

  it('shows where each started value came from and never shows a secret', () => {
    const rows = new Map(started().describe().map((row) => [row.key, row]));
    assert.equal(rows.get('retention')!.source, 'environment');
    assert.equal(rows.get('retention')!.value, '2d');
    assert.equal(rows.get('rate-limit')!.value, '6000/min');
    assert.deepEqual(rows.get('api-keys'), { key: 'api-keys', value: '(hidden)', source: 'flag', live: false });
    assert.deepEqual(rows.get('etcd-password'), { key: 'etcd-password', value: '', source: 'default', live: false });
  });

  it('shows low-watermark 0 as the flag takes it, with the half of the high watermark in effect beside it', () => {
    const rows = new Map(new LiveSettings(loadConfig({ flags: { highWatermark: '1000' }, env: {} })).describe().map((row) => [row.key, row]));
    assert.deepEqual(rows.get('low-watermark'), { key: 'low-watermark', value: '0', source: 'default', live: false, effective: '500 (half of high-watermark)' });
    const set = new Map(new LiveSettings(loadConfig({ flags: { highWatermark: '1000', lowWatermark: '200' }, env: {} })).describe().map((row) => [row.key, row]));
    assert.equal(set.get('low-watermark')!.effective, undefined, 'a low watermark as set has no effective field');
    const above = new Map(new LiveSettings(loadConfig({ flags: { highWatermark: '100', lowWatermark: '300' }, env: {} })).describe().map((row) => [row.key, row]));
    assert.equal(above.get('low-watermark')!.effective, '100 (capped at high-watermark)');
  });

  it('shows lease-ttl in the syntax the flag takes back (5s), not a bare number', () => {
    const rows = new Map(started().describe().map((row) => [row.key, row]));
    assert.equal(rows.get('lease-ttl')!.value, '5s');
    assert.equal(loadConfig({ flags: { leaseTtlSeconds: rows.get('lease-ttl')!.value }, env: {} }).leaseTtlSeconds, 5, 'the shown value parses back to the same');
  });
});
