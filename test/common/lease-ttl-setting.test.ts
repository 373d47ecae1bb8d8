import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/common/config.js';
import { outputFormat } from '../../src/cli/output-format.js';

describe('--lease-ttl and --output', () => {
  it('defaults the lease TTL to 5 s and reads whole seconds written 7, 7s or 1m', () => {
    assert.equal(loadConfig({ env: {} }).leaseTtlSeconds, 5);
    assert.equal(loadConfig({ flags: { leaseTtlSeconds: '7' }, env: {} }).leaseTtlSeconds, 7);
    assert.equal(loadConfig({ flags: { leaseTtlSeconds: '7s' }, env: {} }).leaseTtlSeconds, 7);
    assert.equal(loadConfig({ env: { GPUTEL_LEASE_TTL: '1m' } }).leaseTtlSeconds, 60);
  });

  it('refuses a TTL etcd cannot keep or that is not whole seconds, naming the flag', () => {
    assert.throws(() => loadConfig({ flags: { leaseTtlSeconds: '1' }, env: {} }), /--lease-ttl = "1": must be a whole number of seconds from 2 to 3600/);
    assert.throws(() => loadConfig({ flags: { leaseTtlSeconds: '2.5s' }, env: {} }), /--lease-ttl/);
    assert.throws(() => loadConfig({ env: { GPUTEL_LEASE_TTL: 'soon' } }), /GPUTEL_LEASE_TTL = "soon"/);
  });

  it('prints a table on a terminal and JSON otherwise, unless --output says', () => {
    assert.equal(outputFormat(undefined, true), 'table');
    assert.equal(outputFormat(undefined, false), 'json');
    assert.equal(outputFormat('json', true), 'json');
    assert.throws(() => outputFormat('yaml', true), /--output "yaml": use json or table/);
  });
});
