/** Starts a Fastify server listening, turning "port taken" into an error a user can act on. */
import type { FastifyInstance } from 'fastify';
import { GputelError } from './gputel-error.js';

export async function listen(app: FastifyInstance, host: string, port: number): Promise<string> {
  try {
    return await app.listen({ host, port });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // ENOTFOUND / EAI_AGAIN: a --host that stopped resolving after the roles' check (listen-host.ts).
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
      throw new GputelError('BAD_CONFIG', `cannot listen on ${host}:${port} (${code}): choose another --port or --host`, { cause: error });
    }
    throw error;
  }
}
