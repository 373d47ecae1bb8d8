/**
 * `gputel cluster up` when it cannot start: it says why (which process, the
 * tail of its log, or what to install), exits with the class's code, and
 * leaves nothing running and no state behind.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { findClusterBinaries, ETCD, NGINX } from '../../src/cli/cluster/cluster-binaries.js';
import { EXIT } from '../../src/cli/exit-codes.js';
import { gputelError } from '../support/gputel-error-check.js';
import { runGputel } from '../support/gputel-process.js';

/** Pids of processes whose command line names `text` (read from /proc; nothing is signalled). */
function processesNaming(text: string): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(text);
      } catch {
        return false;
      }
    })
    .map(Number);
}

describe('gputel cluster up: failures', { timeout: 60_000 }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'gputel-cluster-fail-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('stops what it started and shows the log of the process that failed (exit 9)', async () => {
    const clusterDir = path.join(dir, 'bad-setting');
    // A setting every role refuses: etcd starts, then the first role exits at once.
    const up = runGputel(['cluster', 'up', '--dir', clusterDir, '--port', '0', '--simulate-backfill', '0'], { GPUTEL_BATCH_SAMPLES: '0' });
    assert.equal(await up.exited, EXIT.FAILED, up.stderr());
    assert.match(up.stderr(), /cluster up failed: (collector|gateway|streamer)-1: it exited before it was healthy \(pid \d+\)\. Last lines of .*logs\/\w+-1\.log:\n.*GPUTEL_BATCH_SAMPLES = "0": must be a whole number from 1 to 40000/s);
    assert.match(up.stderr(), /stopping the \d+ process\(es\) started/);
    assert.equal(existsSync(path.join(clusterDir, 'cluster.json')), false, 'no state left');
    assert.ok(existsSync(path.join(clusterDir, 'logs', 'etcd-m0.log')), 'the logs are kept');
    assert.deepEqual(processesNaming(clusterDir), [], 'no process of the cluster runs');
  });

  it('refuses a load-balancer port in use before starting anything, and leaves no folder behind (exit 3)', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const clusterDir = path.join(dir, 'port-taken');
      const up = runGputel(['cluster', 'up', '--dir', clusterDir, '--port', String(port)]);
      assert.equal(await up.exited, EXIT.CONFIG);
      assert.match(up.stderr(), new RegExp(`the load balancer cannot listen on 127\\.0\\.0\\.1:${port}: the port is in use\\. Pass --port with a free port, or --port 0`));
      assert.deepEqual(processesNaming(clusterDir), []);
      assert.equal(existsSync(clusterDir), false, 'the refused up made no folder (not even one with only its marker)');
    } finally {
      server.close();
    }
  });

  it('says a --host that is not an address of this machine is that, not a port in use, and leaves no folder behind (exit 3)', async (t) => {
    // TEST-NET-2 (RFC 5737): not this machine's, so listening on it fails (EADDRNOTAVAIL) without touching a network.
    const foreign = '198.51.100.77';
    if (Object.values(networkInterfaces()).flat().some((entry) => entry?.address === foreign)) return t.skip(`${foreign} is this machine's`);
    // Below a folder that does not exist either: neither is made.
    const parent = path.join(dir, 'foreign-host-parent');
    const clusterDir = path.join(parent, 'foreign-host');
    for (const port of ['0', '8080']) {
      const up = runGputel(['cluster', 'up', '--dir', clusterDir, '--host', foreign, '--port', port]);
      assert.equal(await up.exited, EXIT.CONFIG, up.stderr());
      assert.match(up.stderr(), new RegExp(`the load balancer cannot listen on ${foreign.replace(/\./g, '\\.')}:${port}: ${foreign.replace(/\./g, '\\.')} is not an address of this machine`));
      assert.doesNotMatch(up.stderr(), /in use/);
      assert.equal(existsSync(parent), false, 'the refused up made no folder');
    }
    assert.deepEqual(processesNaming(clusterDir), []);
  });

  it('says exactly how to install etcd and nginx when they are missing', () => {
    const nowhere = { etcd: { ...ETCD, debianPath: '/nonexistent/etcd' }, nginx: { ...NGINX, debianPath: '/nonexistent/nginx' } };
    assert.throws(
      () => findClusterBinaries({ PATH: '' }, nowhere),
      gputelError('BAD_CONFIG', /needs etcd and nginx, not found on PATH .*Install with: sudo apt-get update && sudo apt-get install -y etcd-server nginx/),
    );
    assert.throws(() => findClusterBinaries({ PATH: '' }, { ...nowhere, etcd: ETCD }), gputelError('BAD_CONFIG', /needs nginx, .*sudo apt-get install -y nginx \(/));
  });

  it('refuses bad counts with a message naming the flag (exit 3)', async () => {
    const up = runGputel(['cluster', 'up', '--dir', path.join(dir, 'counts'), '--gateways', '0']);
    assert.equal(await up.exited, EXIT.CONFIG);
    assert.match(up.stderr(), /--gateways 0: must be a whole number from 1 to 32/);
  });

  it('refuses a folder with files that is not a cluster folder, and removes nothing of it (exit 3)', async () => {
    const foreign = path.join(dir, 'foreign');
    mkdirSync(path.join(foreign, 'nginx'), { recursive: true });
    writeFileSync(path.join(foreign, 'nginx', 'keep.conf'), 'mine');
    const up = runGputel(['cluster', 'up', '--dir', foreign, '--port', '0']);
    assert.equal(await up.exited, EXIT.CONFIG);
    assert.match(up.stderr(), /already holds files and is not a folder of gputel cluster up/);
    assert.equal(readFileSync(path.join(foreign, 'nginx', 'keep.conf'), 'utf8'), 'mine');
  });

  it('keeps a folder that was there before a refused up, and its files', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    try {
      const existing = path.join(dir, 'existing-empty');
      mkdirSync(existing);
      const up = runGputel(['cluster', 'up', '--dir', existing, '--port', String((server.address() as net.AddressInfo).port)]);
      assert.equal(await up.exited, EXIT.CONFIG, up.stderr());
      assert.deepEqual(readdirSync(existing), [], 'the folder stays, as it was');
    } finally {
      server.close();
    }
  });
});
