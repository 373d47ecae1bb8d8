/** Free ports for the cluster's processes, and why a port cannot be listened on (src/cli/cluster/free-ports.ts). */
import assert from 'node:assert/strict';
import net from 'node:net';
import { networkInterfaces } from 'node:os';
import { describe, it } from 'node:test';
import { findFreePorts, listenProblem, whyPortUnavailable } from '../../src/cli/cluster/free-ports.js';

/** An address of TEST-NET-2 (RFC 5737), not assigned to this machine: listening on it fails with EADDRNOTAVAIL. */
const FOREIGN_ADDRESS = '198.51.100.77';

async function listening(host: string): Promise<net.Server> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  return server;
}

/** Whether ::1 can be listened on: not on a machine with IPv6 turned off. */
async function hasIpv6Loopback(): Promise<boolean> {
  try {
    await new Promise<void>((resolve, reject) => {
      const server = net.createServer();
      server.once('error', reject);
      server.listen(0, '::1', () => server.close(() => resolve()));
    });
    return true;
  } catch {
    return false;
  }
}

describe('cluster free ports', async () => {
  const ipv6 = await hasIpv6Loopback();

  it('picks one port per address given, all distinct on one address, in one call', async () => {
    const ports = await findFreePorts(['127.0.0.1', '127.0.0.1', '127.0.0.1', '127.0.0.2', ...(ipv6 ? ['::1'] : [])]);
    assert.equal(ports.length, ipv6 ? 5 : 4);
    assert.equal(new Set(ports.slice(0, 3)).size, 3, ports.join());
    for (const port of ports) assert.ok(port > 0 && port <= 65535);
  });

  it('picks a port free on the address asked for, not only on 127.0.0.1', async () => {
    const [port] = await findFreePorts(['127.0.0.2']);
    assert.equal(await whyPortUnavailable(port, '127.0.0.2'), undefined);
  });

  it('holds a port given with its address while the others are picked, so none of them is that port', async () => {
    const [given] = await findFreePorts(1);
    const ports = await findFreePorts([...Array.from({ length: 50 }, () => '127.0.0.1'), { host: '127.0.0.1', port: given }]);
    assert.equal(ports.at(-1), given);
    assert.equal(ports.slice(0, -1).filter((port) => port === given).length, 0);
  });

  it('still takes a count on one address', async () => {
    const ports = await findFreePorts(4);
    assert.equal(new Set(ports).size, 4);
  });

  it('says a port is in use when a listener holds it', async () => {
    const server = await listening('127.0.0.1');
    try {
      const { port } = server.address() as net.AddressInfo;
      assert.match((await whyPortUnavailable(port, '127.0.0.1')) ?? '', /^the port is in use\. Pass --port with a free port, or --port 0/);
    } finally {
      server.close();
    }
  });

  it('says an address is not this machine\'s, not that the port is in use', async (t) => {
    const local = Object.values(networkInterfaces()).flat().some((entry) => entry?.address === FOREIGN_ADDRESS);
    if (local) return t.skip(`${FOREIGN_ADDRESS} is an address of this machine`);
    assert.match((await whyPortUnavailable(0, FOREIGN_ADDRESS)) ?? '', /^198\.51\.100\.77 is not an address of this machine\. Pass a --host this machine has/);
    assert.match((await whyPortUnavailable(8080, FOREIGN_ADDRESS)) ?? '', /is not an address of this machine/);
  });

  it('says a port below 1024 needs root when listening is not permitted', () => {
    // A root test run may listen anywhere, so the refusal a user gets is given here as the error it is.
    const denied = Object.assign(new Error('listen EACCES: permission denied 127.0.0.1:80'), { code: 'EACCES' });
    assert.match(listenProblem(denied, 80, '127.0.0.1'), /^permission denied: ports below 1024 need root \(or CAP_NET_BIND_SERVICE\)/);
    assert.match(listenProblem(denied, 8080, '127.0.0.1'), /^permission denied \(listen EACCES/);
    assert.match(listenProblem(Object.assign(new Error('x'), { code: 'EADDRINUSE' }), 8080, '::1'), /the port is in use/);
  });
});
