/**
 * `gputel cluster up` with the load balancer on an address other than
 * 127.0.0.1 (another loopback address, IPv6 loopback): nginx listens there
 * only, so `up` and `status` must ask it there; the port picked for
 * --port 0 is free on that address. GPUTEL_TLS_* in up's environment does
 * not reach the roles (they would serve HTTPS to plain-HTTP probes).
 */
import assert from 'node:assert/strict';
import { networkInterfaces } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { readClusterState } from '../../src/cli/cluster/cluster-state.js';
import { processStartTime } from '../../src/cli/cluster/process-identity.js';
import { runGputel } from '../support/gputel-process.js';
import { SMALL_CLUSTER_FLAGS, useClusterFolders } from '../support/cluster-folders.js';

/** Whether this machine has IPv6 loopback (a machine with IPv6 turned off has no ::1). */
function ipv6Loopback(): boolean {
  return Object.values(networkInterfaces()).some((addresses) => addresses?.some((address) => address.family === 'IPv6' && address.address === '::1'));
}


describe('gputel cluster up: the load balancer on another address', { timeout: 120_000 }, () => {
  const { root, remember } = useClusterFolders('gputel-cluster-addr-');

  async function upAndDown(host: string, expectedUrl: RegExp, env: Record<string, string> = {}, alsoAt: string[] = []): Promise<void> {
    const dir = path.join(root, host.replace(/\W/g, '_'));
    const up = runGputel(['cluster', 'up', '--dir', dir, '--host', host, ...SMALL_CLUSTER_FLAGS], env);
    const code = await up.exited;
    remember(dir);
    assert.equal(code, 0, up.stderr());
    const state = readClusterState(dir);
    assert.match(state.url, expectedUrl);
    const nginx = state.processes.find((entry) => entry.role === 'nginx')!;
    assert.equal(nginx.host, host, 'the state records where nginx listens');
    assert.ok(state.processes.filter((entry) => entry.role !== 'nginx').every((entry) => entry.host === '127.0.0.1'));
    assert.equal(state.url.endsWith(`:${nginx.port}`), true);

    const response = await fetch(`${state.url}/lb-healthz`, { signal: AbortSignal.timeout(5_000) });
    assert.equal(response.status, 200, 'the load balancer answers at the URL up printed');
    for (const other of alsoAt) {
      const answer = await fetch(`http://${other}:${nginx.port}/lb-healthz`, { signal: AbortSignal.timeout(5_000) });
      assert.equal(answer.status, 200, `the load balancer answers on ${other} too`);
    }

    const status = runGputel(['cluster', 'status', '--dir', dir, '--output', 'json']);
    assert.equal(await status.exited, 0, status.stdout() + status.stderr());
    const health = JSON.parse(status.stdout()) as { processes: { role: string; healthy: boolean }[] };
    assert.ok(health.processes.every((p) => p.healthy), status.stdout());

    const down = runGputel(['cluster', 'down', '--dir', dir, '--grace', '5s']);
    assert.equal(await down.exited, 0, down.stderr());
    for (const entry of state.processes) assert.notEqual(processStartTime(entry.pid), entry.startTime, `${entry.name} is gone`);
  }

  it('starts and reports healthy with nginx on 127.0.0.2, asked there, and without passing GPUTEL_TLS_* to the roles', async () => {
    // A certificate that does not exist: a role given it would exit at once.
    await upAndDown('127.0.0.2', /^http:\/\/127\.0\.0\.2:\d+$/, { GPUTEL_TLS_CERT: '/nonexistent/cert.pem', GPUTEL_TLS_KEY: '/nonexistent/key.pem' });
  });

  // `::` is every address, IPv4 included (nginx's listen is ipv6only=off): probed on ::1, its URL in brackets.
  it('starts and reports healthy with nginx on ::, answering on IPv6 and IPv4 loopback', { skip: !ipv6Loopback() && 'IPv6 is turned off on this machine' }, async () => {
    await upAndDown('::', /^http:\/\/\[::1\]:\d+$/, {}, ['127.0.0.1', '[::1]']);
  });
});
