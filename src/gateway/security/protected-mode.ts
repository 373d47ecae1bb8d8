/**
 * Protected mode (docs/security.md): a gateway that anyone on the network
 * can reach must not serve the fleet's data to anyone. Listening on an
 * address other than loopback with no API key is refused unless the
 * operator says --insecure, which is a decision, not a default.
 */
import { isIP } from 'node:net';
import { GputelError } from '../../common/gputel-error.js';

/** Whether `host` only accepts connections from this machine: 127.0.0.0/8, ::1, localhost. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (bare === 'localhost') return true;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  if (isIP(bare) === 6) return bare === '::1' || /^::ffff:127\./i.test(bare);
  return false;
}

/**
 * Throws BAD_CONFIG when a gateway would listen on `host`, not loopback,
 * with no API keys and without `insecure`, saying why and the ways out.
 */
export function assertProtectedMode(options: { host: string; keyCount: number; insecure: boolean }): void {
  if (options.keyCount > 0 || options.insecure || isLoopbackHost(options.host)) return;
  throw new GputelError(
    'BAD_CONFIG',
    `refusing to serve the API on ${options.host} without API keys: every client that can reach this address could read the fleet's telemetry. ` +
      'Either add keys (gputel keys create --role read, then --api-keys-file FILE or GPUTEL_API_KEYS), ' +
      'or listen on loopback only (--host 127.0.0.1); --insecure serves it open anyway (behind a trusted proxy that authenticates, say)',
  );
}
