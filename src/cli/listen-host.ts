/**
 * Checking --host before a role opens anything: a name that does not
 * resolve would otherwise surface as a stack trace from listen(), after the
 * store was opened and the role had started.
 */
import { lookup } from 'node:dns/promises';
import { GputelError } from '../common/gputel-error.js';

/**
 * Resolves when `host` names an address (an IP literal, or a name that
 * resolves); throws BAD_CONFIG naming the setting and what to give instead.
 * Whether the address belongs to this machine is listen()'s to say
 * (EADDRNOTAVAIL, src/common/listen.ts).
 */
export async function requireResolvableHost(host: string): Promise<void> {
  try {
    await lookup(host);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new GputelError(
      'BAD_CONFIG',
      `--host ${JSON.stringify(host)} (or GPUTEL_HOST) does not resolve to an address (${code}): give an IP address to listen on, e.g. 0.0.0.0 (every interface) or 127.0.0.1 (this machine only), or a hostname of this machine`,
      { cause: error },
    );
  }
}
