/** Starts a Fastify server listening, turning "port taken" into an error a user can act on. */
import type { FastifyInstance } from 'fastify';
import { GputelError } from './gputel-error.js';

/**
 * Connections the kernel holds for us before they are accepted (Linux caps it at net.core.somaxconn, 4,096 by
 * default). Node's own 511 overflowed when a killed gateway's 1,000 live-stream clients reconnected to the other
 * within a second on a saturated machine: the kernel dropped SYNs, and nginx's connect waited for the retransmit
 * past its timeout and answered 504 (the soak, docs/performance.md).
 */
const LISTEN_BACKLOG = 4_096;

export async function listen(app: FastifyInstance, host: string, port: number): Promise<string> {
  try {
    return await app.listen({ host, port, backlog: LISTEN_BACKLOG });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // ENOTFOUND / EAI_AGAIN: a --host that stopped resolving after the roles' check (listen-host.ts).
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
      throw new GputelError('BAD_CONFIG', `cannot listen on ${host}:${port} (${code}): choose another --port or --host`, { cause: error });
    }
    throw error;
  }
}
