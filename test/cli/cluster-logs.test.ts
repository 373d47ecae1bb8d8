/** The cluster's logs: rotated at `up` when large (src/cli/cluster/log-rotation.ts), and their tails as `cluster logs` prints them. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { logTail } from '../../src/cli/cluster/cluster-up.js';
import { MAX_LOG_BYTES, rotateLogs } from '../../src/cli/cluster/log-rotation.js';

describe('cluster logs', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'gputel-cluster-logs-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('moves a log over the limit to NAME.log.1, replacing the older generation, and keeps a small one', () => {
    const logs = path.join(dir, 'rotate');
    mkdirSync(logs);
    writeFileSync(path.join(logs, 'gateway-1.log'), 'x'.repeat(101));
    writeFileSync(path.join(logs, 'gateway-1.log.1'), 'the older generation');
    writeFileSync(path.join(logs, 'etcd-m0.log'), 'y'.repeat(100));
    assert.deepEqual(rotateLogs(logs, 100), ['gateway-1.log']);
    assert.deepEqual(readdirSync(logs).sort(), ['etcd-m0.log', 'gateway-1.log.1']);
    assert.equal(readFileSync(path.join(logs, 'gateway-1.log.1'), 'utf8'), 'x'.repeat(101), 'one old generation: the newer replaces it');
    assert.equal(readFileSync(path.join(logs, 'etcd-m0.log'), 'utf8'), 'y'.repeat(100), 'at the limit it stays');
  });

  it('rotates at 10 MiB by default, and has nothing to do without a logs folder', () => {
    assert.equal(MAX_LOG_BYTES, 10 * 1024 * 1024);
    assert.deepEqual(rotateLogs(path.join(dir, 'none')), []);
  });

  it('gives the last lines of a log, and none for 0 (as tail -n 0)', () => {
    const file = path.join(dir, 'tail.log');
    writeFileSync(file, 'one\ntwo\nthree\n');
    assert.equal(logTail(file, 2, ''), 'two\nthree');
    assert.equal(logTail(file, 0, ''), '');
    assert.equal(logTail(file, 10, '> '), '> one\n> two\n> three');
  });
});
