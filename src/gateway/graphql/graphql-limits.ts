/**
 * The abuse limits of the GraphQL API, one set for both transports: over
 * HTTP mercurius runs them as validationRules (and the token limit in its
 * parser); over graphql-ws it runs no validation at all (it hands the parsed
 * document straight to graphql's subscribe), so enforceSubscriptionLimits
 * runs the same checks from the subscription hooks before anything executes.
 * docs/graphql.md lists the limits and why each has its value.
 */
import { costLimitRule } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import type { FastifyInstance } from 'fastify';
import { GraphQLError, parse, specifiedRules, validate, type ValidationRule } from 'graphql';
import { BAD_REQUEST_EXTENSIONS } from './graphql-errors.js';

/**
 * Deepest selection: the deepest useful query is hosts → gpus → latest →
 * metrics → value (5); two levels spare for fragments and __typename.
 */
export const MAX_DEPTH = 7;
/**
 * Most static cost (graphql-armor: 2 per object, 1 per scalar, ×1.5 per
 * level). Every field of every type once costs about 400; a query ten times
 * that asks for the same things over and over.
 */
export const MAX_COST = 5000;
/** Most aliases: each alias of `telemetry` or `latest` is one more store read, so they are few. */
export const MAX_ALIASES = 10;
/** Most lexical tokens in a query: graphql's introspection query (GraphiQL's schema fetch) is about 260. */
export const MAX_TOKENS = 1000;
/** Longest query text, in bytes (a query within MAX_TOKENS is rarely more than a few KiB). */
export const MAX_QUERY_BYTES = 16 * 1024;
/** Largest POST /graphql body: the query and its variables. */
export const MAX_BODY_BYTES = 64 * 1024;

/** The armor rules, run after graphql's own (specifiedRules). Introspection is left out of depth and cost: GraphiQL needs it. */
export const LIMIT_RULES: readonly ValidationRule[] = [
  maxDepthRule({ n: MAX_DEPTH, ignoreIntrospection: true }),
  costLimitRule({ maxCost: MAX_COST, ignoreIntrospection: true }),
  maxAliasesRule({ n: MAX_ALIASES }),
];

/** What a GraphQL parse needs to refuse a query of too many tokens (graphql's own limit, the same count as graphql-armor-max-tokens). */
export const PARSE_OPTIONS = { maxTokens: MAX_TOKENS };

function refuse(message: string): GraphQLError {
  return new GraphQLError(message, { extensions: BAD_REQUEST_EXTENSIONS });
}

/** Throws BAD_REQUEST when a query's text is too long or has too many tokens. */
export function checkQueryText(source: string): void {
  if (Buffer.byteLength(source) > MAX_QUERY_BYTES) throw refuse(`the query is ${Buffer.byteLength(source)} bytes, more than the ${MAX_QUERY_BYTES} allowed: split it`);
  try {
    parse(source, PARSE_OPTIONS);
  } catch (error) {
    throw error instanceof GraphQLError ? refuse(error.message) : error;
  }
}

/**
 * Runs graphql's rules and the limits on every subscription started over
 * WebSocket, in mercurius's subscription hooks: a refused one gets a
 * graphql-ws `error` message with extensions.code BAD_REQUEST and never
 * starts. A query sent as a parsed document (no text) is validated the
 * same way: like over HTTP, only text can count tokens.
 */
export function enforceSubscriptionLimits(app: FastifyInstance): void {
  app.graphql.addHook('preSubscriptionParsing', (_schema, source) => checkQueryText(source));
  app.graphql.addHook('preSubscriptionExecution', (schema, document) => {
    const errors = validate(schema, document, [...specifiedRules, ...LIMIT_RULES]);
    if (errors.length > 0) throw refuse(errors.map((error) => error.message).join('; '));
  });
}
