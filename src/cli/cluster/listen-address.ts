/**
 * Where to reach a process of the local cluster from this machine, given
 * the address it listens on: a wildcard address is not one a client can
 * connect to, so it is reached on loopback of the same family.
 */

/** The address a local client connects to for a listener on `listenHost`: 0.0.0.0 → 127.0.0.1, :: → ::1, any other as is. */
export function connectAddress(listenHost: string): string {
  if (listenHost === '0.0.0.0' || listenHost === '') return '127.0.0.1';
  if (isAnyIpv6(listenHost)) return '::1';
  return listenHost;
}

/** Whether `host` is the IPv6 wildcard `::` in any spelling (`[::]`, `0:0:0:0:0:0:0:0`); the URL parser writes IPv6 canonically. */
export function isAnyIpv6(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  if (!bare.includes(':')) return false;
  try {
    return new URL(`http://[${bare}]/`).hostname === '[::]';
  } catch {
    return false;
  }
}

/** `http://ADDRESS:PORT` for a listener on `listenHost`, with an IPv6 address in brackets (as URLs need). */
export function httpUrl(listenHost: string, port: number): string {
  const address = connectAddress(listenHost).replace(/^\[(.*)\]$/, '$1');
  return `http://${address.includes(':') ? `[${address}]` : address}:${port}`;
}
