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
 * (and proxy-addr refuses it too). Surrounding spaces are not trimmed here.
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
  return bits >= 1 && bits <= (family === 4 ? 32 : 128);
}
