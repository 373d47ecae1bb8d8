/**
 * The baseline of the gateway bench: a bare Fastify server in its own
 * process that answers GET PATH with the bytes of FILE, as they are, for
 * each `PATH=FILE` argument. The ratio of gputel's figures to this server's
 * is what the gateway costs over Fastify itself.
 *
 *   node dist/bench/bare-server.js PORT PATH=FILE…
 */
import { readFileSync } from 'node:fs';
import Fastify from 'fastify';

const [port, ...routes] = process.argv.slice(2);
const app = Fastify();
for (const route of routes) {
  const split = route.indexOf('=');
  const body = readFileSync(route.slice(split + 1));
  app.get(route.slice(0, split), async (_request, reply) => reply.type('application/json; charset=utf-8').send(body));
}
await app.listen({ host: '127.0.0.1', port: Number(port) });
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
