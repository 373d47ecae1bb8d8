import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/common/config.js';

describe('configuration', () => {
  const file = join(mkdtempSync(join(tmpdir(), 'gputel-config-')), 'gputel.yaml');
  writeFileSync(file, 'partitions: 8\ncluster: from-file\nport: 9000\n');

  it('uses defaults when nothing is set', () => {
    const config = loadConfig({ env: {} });
    assert.equal(config.partitions, 16);
    assert.deepEqual(config.etcd, []);
    assert.equal(config.port, 8080);
  });

  it('takes flags over environment over file over defaults', () => {
    const config = loadConfig({ flags: { port: '7000' }, env: { GPUTEL_CLUSTER: 'from-env', GPUTEL_PORT: '7500' }, file });
    assert.equal(config.port, 7000);
    assert.equal(config.cluster, 'from-env');
    assert.equal(config.partitions, 8);
  });

  it('parses etcd endpoints from a comma-separated list', () => {
    assert.deepEqual(loadConfig({ env: { GPUTEL_ETCD: 'http://127.0.0.1:2379, http://127.0.0.1:22379' } }).etcd, ['http://127.0.0.1:2379', 'http://127.0.0.1:22379']);
  });

  it('reads the etcd compaction interval as a duration, 5m by default, 0 to disable', () => {
    assert.equal(loadConfig({ env: {} }).etcdCompactionIntervalMs, 300_000);
    assert.equal(loadConfig({ flags: { etcdCompactionIntervalMs: '5s' }, env: {} }).etcdCompactionIntervalMs, 5_000);
    assert.equal(loadConfig({ env: { GPUTEL_ETCD_COMPACTION_INTERVAL: '1h' } }).etcdCompactionIntervalMs, 3_600_000);
    assert.equal(loadConfig({ env: { GPUTEL_ETCD_COMPACTION_INTERVAL: '0' } }).etcdCompactionIntervalMs, 0);
    assert.throws(
      () => loadConfig({ env: { GPUTEL_ETCD_COMPACTION_INTERVAL: '5ms' } }),
      /GPUTEL_ETCD_COMPACTION_INTERVAL = "5ms": must be a duration of at least 1s/,
    );
  });

  it('reports every bad value at once, each naming where it came from', () => {
    assert.throws(
      () => loadConfig({ flags: { partitions: '0' }, env: { GPUTEL_LOG_LEVEL: 'loud', GPUTEL_ETCD: 'localhost' } }),
      (error: Error & { code?: string }) => {
        assert.equal(error.code, 'BAD_CONFIG');
        assert.match(error.message, /--partitions = "0": must be a whole number from 1 to 127/);
        assert.match(error.message, /GPUTEL_LOG_LEVEL = "loud": must be one of/);
        assert.match(error.message, /GPUTEL_ETCD = "localhost": "localhost" is not an http\(s\):\/\/host:port URL/);
        return true;
      },
    );
  });

  it('names an unknown setting in the config file', () => {
    const bad = join(mkdtempSync(join(tmpdir(), 'gputel-config-')), 'bad.yaml');
    writeFileSync(bad, 'partitons: 4\n');
    assert.throws(() => loadConfig({ env: {}, file: bad }), /unknown setting "partitons"/);
  });
});
