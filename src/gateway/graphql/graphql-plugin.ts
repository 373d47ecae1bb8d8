/**
 * The GraphQL API as a Fastify plugin: POST and GET /graphql (mercurius over
 * graphql 16), subscriptions over graphql-ws on the same path and port, the
 * abuse limits on both transports, and GraphiQL at /graphiql. Expects
 * @fastify/websocket to be registered on the app already (gateway.ts does,
 * once, for every WebSocket route), so mercurius uses that server.
 */
import type { FastifyInstance } from 'fastify';
import mercurius from 'mercurius';
import type { GatewayContext } from '../gateway-context.js';
import { registerGraphiqlPage } from './graphiql-page.js';
import { graphqlErrorFormatter } from './graphql-errors.js';
import { LIMIT_RULES, MAX_BODY_BYTES, PARSE_OPTIONS, enforceLimits } from './graphql-limits.js';
import { graphqlResolvers, type SlotsContext } from './graphql-resolvers.js';
import { GRAPHQL_SCHEMA } from './graphql-schema.js';
import { graphqlErrorOf } from './graphql-errors.js';
import { SubscriptionSlots } from './subscription-slots.js';

/** Runs of one query text before mercurius compiles it: often enough to be worth a compile, soon enough for a dashboard. */
const JIT_AFTER_RUNS = 2;
/** graphql-ws keep-alive pings: a dead connection is found within this and its subscriptions freed. */
const KEEP_ALIVE_MS = 30_000;

export async function graphqlPlugin(app: FastifyInstance, context: GatewayContext): Promise<void> {
  // GraphQL documents itself (introspection, GraphiQL, docs/graphql.md): its routes stay out of the OpenAPI document.
  app.addHook('onRoute', (route) => {
    route.schema = { ...route.schema, hide: true };
  });
  await app.register(mercurius, {
    schema: GRAPHQL_SCHEMA,
    resolvers: graphqlResolvers(context),
    path: '/graphql',
    // The built-in GraphiQL loads from a CDN; graphiql-page.ts serves a local one.
    graphiql: false,
    ide: false,
    validationRules: [...LIMIT_RULES],
    graphql: { parseOptions: PARSE_OPTIONS },
    // One operation per request: a batch would multiply every limit by its length.
    allowBatchedQueries: false,
    // A query run this often is compiled (graphql-jit): a 1,000-record page 44 → 14 ms, the GPU list 3.3 → 1.7 ms (bench/graphql.ts).
    jit: JIT_AFTER_RUNS,
    errorFormatter: graphqlErrorFormatter,
    additionalRouteOptions: { bodyLimit: MAX_BODY_BYTES },
    subscription: {
      keepAlive: KEEP_ALIVE_MS,
      // Per connection: merged into the context of each of its subscriptions.
      context: (): SlotsContext => ({ subscriptionSlots: new SubscriptionSlots() }),
    },
  });
  enforceLimits(app);
  // After the limits (an earlier hook): a refused subscription holds no slot.
  app.graphql.addHook('preSubscriptionExecution', async (_schema, _document, context, id) => {
    try {
      (context as SlotsContext).subscriptionSlots?.reserve(String(id));
    } catch (error) {
      throw graphqlErrorOf(error);
    }
  });
  // A `complete` from the client: ends a subscription still being set up too (subscription-slots.ts).
  app.graphql.addHook('onSubscriptionEnd', async (context, id) => {
    (context as SlotsContext).subscriptionSlots?.complete(String(id));
  });
  registerGraphiqlPage(app);
}
