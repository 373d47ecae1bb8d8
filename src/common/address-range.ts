/**
 * An IP address or a CIDR range, as --trust-proxy takes them: the one check
 * that both the configuration (which names the bad entry) and the gateway
 * (which may be given options by code, not by the CLI) make, so that Fastify
 * (@fastify/proxy-addr) never meets an entry it would throw on at start.
 */
import { isIP } from 'node:net';

/**
 * Whether `text` is an IPv4 or IPv6 address (`10.0.0.7`, `::1`) or a CIDR
 * range (`10.0.0.0/8`, `fd00::/8`) with a prefix length from 1 to 32 (IPv4)
 * or 128 (IPv6). A prefix of 0 is refused: it would match every address, so
 * every client could choose its own address by sending X-Forwarded-For
 * (and proxy-addr refuses it too); so is an IPv4-mapped range of prefix 96
 * or less, the same for IPv4 peers. Surrounding spaces are not trimmed here.
 */
export function isAddressRange(text: string): boolean {
  const slash = text.lastIndexOf('/');
  const address = slash === -1 ? text : text.slice(0, slash);
  const family = isIP(address);
  if (family === 0) return false;
  if (slash === -1) return true;
  const prefix = text.slice(slash + 1);
  // Digits only: Number() would also take '', ' 8', '0x8' and '8e0'.
  if (!/^\d{1,3}$/.test(prefix)) return false;
  const bits = Number(prefix);
  // An IPv4-mapped range (::ffff:a.b.c.d/N) holds IPv4 peers (proxy-addr maps them there): its IPv4 prefix must not be 0.
  const minimum = family === 6 && isIpv4Mapped(address) ? 97 : 1;
  return bits >= minimum && bits <= (family === 4 ? 32 : 128);
}

/** Whether an IPv6 address is in ::ffff:0:0/96 (IPv4-mapped), in any spelling; the URL parser writes it canonically. */
function isIpv4Mapped(address: string): boolean {
  try {
    return /^\[::ffff:[0-9a-f]{1,4}:[0-9a-f]{1,4}\]$/.test(new URL(`http://[${address}]/`).hostname);
  } catch {
    return false;
  }
}
