/** Free loopback TCP ports, picked by the OS, for the processes of `gputel cluster up`. */
import net from 'node:net';

/**
 * `count` distinct TCP ports on `host` that were free a moment ago: the OS
 * picks each for a listener on port 0, all listeners open at once (so they
 * differ), then closed. Another process may take one before its user binds
 * it; `cluster up` then fails naming that process, and stops what it started.
 */
export async function findFreePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) {
      const server = net.createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, host, () => resolve());
      });
      ports.push((server.address() as net.AddressInfo).port);
    }
    return ports;
  } finally {
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  }
}

/** Whether `port` on `host` can be listened on now (false when taken or not allowed). */
export async function isPortFree(port: number, host: string): Promise<boolean> {
  const server = net.createServer();
  return new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}
