/** Free TCP ports, picked by the OS, for the processes of `gputel cluster up`, and why a port cannot be listened on. */
import net from 'node:net';

/**
 * Distinct TCP ports that were free a moment ago: `count` ports on `host`,
 * or, given a list of addresses, one port on each (in that order); an entry
 * `{ host, port }` holds that given port meanwhile, so that no port the OS
 * picks is the same (and rejects when it is taken). The OS
 * picks each for a listener on port 0, all listeners open at once (so no two
 * on one address are the same), then closed. Every port a caller needs must
 * come from one call: two calls may hand out the same port, since the first
 * call's listeners are closed before the second opens any. Another process
 * may take a port before its user binds it; `cluster up` then fails naming
 * that process, and stops what it started. Rejects with the listen error
 * (EADDRNOTAVAIL for an address not of this machine).
 */
export async function findFreePorts(count: number | readonly (string | { host: string; port: number })[], host = '127.0.0.1'): Promise<number[]> {
  const wanted = typeof count === 'number' ? Array.from({ length: count }, () => host) : count;
  const servers: net.Server[] = [];
  try {
    const ports: number[] = [];
    for (const entry of wanted) {
      const [address, port] = typeof entry === 'string' ? [entry, 0] : [entry.host, entry.port];
      const server = net.createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, address, () => resolve());
      });
      ports.push((server.address() as net.AddressInfo).port);
    }
    return ports;
  } finally {
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()))));
  }
}

/**
 * Why `port` on `host` cannot be listened on now, for people ("the port is
 * in use", "… is not an address of this machine"), or undefined when it can
 * (port 0: when `host` can be listened on at all). Never throws.
 */
export async function whyPortUnavailable(port: number, host: string): Promise<string | undefined> {
  const server = net.createServer();
  return new Promise<string | undefined>((resolve) => {
    server.once('error', (error) => resolve(listenProblem(error as NodeJS.ErrnoException, port, host)));
    server.listen(port, host, () => server.close(() => resolve(undefined)));
  });
}

/** A listen error said for people, with what to do; exported for its tests (a non-root user's EACCES cannot be made as root). */
export function listenProblem(error: NodeJS.ErrnoException, port: number, host: string): string {
  switch (error.code) {
    case 'EADDRINUSE':
      return 'the port is in use. Pass --port with a free port, or --port 0 for any free one';
    case 'EADDRNOTAVAIL':
      return `${host} is not an address of this machine. Pass a --host this machine has (127.0.0.1, ::1, 0.0.0.0 for all, or one \`ip addr\` lists)`;
    case 'EACCES':
      return port > 0 && port < 1024
        ? `permission denied: ports below 1024 need root (or CAP_NET_BIND_SERVICE). Pass --port 1024 or above, or --port 0 for any free one`
        : `permission denied (${error.message})`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `${host} is not a known host name. Pass an address for --host`;
    default:
      return error.message;
  }
}
