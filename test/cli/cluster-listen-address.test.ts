/** Where the cluster's processes are asked for their health (src/cli/cluster/listen-address.ts). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connectAddress, httpUrl } from '../../src/cli/cluster/listen-address.js';

describe('cluster listen addresses', () => {
  it('reaches a process on the address it listens on', () => {
    assert.equal(connectAddress('127.0.0.2'), '127.0.0.2');
    assert.equal(connectAddress('192.0.2.7'), '192.0.2.7');
    assert.equal(connectAddress('::1'), '::1');
  });

  it('reaches a wildcard listener on loopback of its family', () => {
    assert.equal(connectAddress('0.0.0.0'), '127.0.0.1');
    assert.equal(connectAddress('::'), '::1');
  });

  it('writes IPv6 addresses in brackets in URLs', () => {
    assert.equal(httpUrl('::1', 8080), 'http://[::1]:8080');
    assert.equal(httpUrl('::', 8080), 'http://[::1]:8080');
    assert.equal(httpUrl('fd00::2', 80), 'http://[fd00::2]:80');
    assert.equal(httpUrl('0.0.0.0', 8080), 'http://127.0.0.1:8080');
    assert.equal(httpUrl('127.0.0.1', 41000), 'http://127.0.0.1:41000');
  });
});
