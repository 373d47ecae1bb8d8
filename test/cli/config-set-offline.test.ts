/**
 * `gputel config set` checks its key and value before it opens the store
 * (a bad value is refused at once, exit 3, even with etcd down), and an
 * etcd that does not answer is said once: what, where, what to do.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { readableGrpcDetail, unreachableCause } from '../../src/kv/etcd-kv-store.js';
import { EXIT } from '../../src/cli/exit-codes.js';
import { findFreePort } from '../support/etcd-process.js';
import { runGputel } from '../support/gputel-process.js';

describe('gputel config set with etcd unreachable', { timeout: 30_000 }, () => {
  it('refuses a bad value with exit 3 and the value rule before it connects to etcd', async () => {
    // A listener that answers nothing, standing for an etcd that does not answer: it counts connections, and a
    // command that connected first would wait there for its dial timeout (seconds) before exiting 5.
    const sockets: net.Socket[] = [];
    const silent = net.createServer((socket) => {
      sockets.push(socket);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', () => resolve()));
    try {
      const etcd = `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
      const set = runGputel(['config', 'set', 'batch-samples', '0', '--etcd', etcd]);
      assert.equal(await set.exited, EXIT.CONFIG, set.stderr());
      assert.match(set.stderr(), /batch-samples = "0": must be a whole number from 1 to \d+; the value in effect is unchanged/);
      assert.equal(sockets.length, 0, 'etcd was never contacted');
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it('says once that etcd cannot be reached, where, why and what to do (exit 5)', async () => {
    const etcd = `http://127.0.0.1:${await findFreePort()}`;
    const set = runGputel(['config', 'set', 'batch-samples', '500', '--etcd', etcd]);
    assert.equal(await set.exited, EXIT.STORE_UNAVAILABLE, set.stderr());
    const message = set.stderr();
    assert.match(message, new RegExp(`cannot reach etcd ${etcd.replace(/\./g, '\\.')} within \\d+ ms \\(connection refused by 127\\.0\\.0\\.1:\\d+\\): check that etcd runs`));
    assert.doesNotMatch(message, /Resolution note|UNAVAILABLE|DEADLINE_EXCEEDED/);
    assert.equal(message.match(/check that/g)?.length, 1, `the advice once: ${message}`);
  });
});

describe('etcd error text for people', () => {
  it('drops gRPC\'s empty resolution note and the nested "Error: "', () => {
    assert.equal(
      readableGrpcDetail('14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1. Resolution note: '),
      '14 UNAVAILABLE: No connection established. last error: connect ECONNREFUSED 127.0.0.1:1',
    );
    assert.equal(readableGrpcDetail('etcdserver: no leader'), 'etcdserver: no leader');
  });

  it('names why a connect failed in a few words, and nothing for a bare deadline', () => {
    assert.equal(unreachableCause('14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1. Resolution note: '), 'connection refused by 127.0.0.1:1');
    assert.equal(unreachableCause('14 UNAVAILABLE: Name resolution failed for target dns:nohost.invalid:2379'), 'host name not found');
    assert.equal(unreachableCause('4 DEADLINE_EXCEEDED: Deadline exceeded after 0.011s,name resolution: 0.001s,Waiting for LB pick'), undefined);
  });
});
