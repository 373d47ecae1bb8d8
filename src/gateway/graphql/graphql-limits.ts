/**
 * The abuse limits of the GraphQL API, one set for both transports: over
 * HTTP mercurius runs them as validationRules (and the token limit in its
 * parser); over graphql-ws it runs no validation at all (it hands the parsed
 * document straight to graphql's subscribe), so enforceLimits
 * runs the same checks from the subscription hooks before anything executes.
 * docs/graphql.md lists the limits and why each has its value.
 */
import { costLimitRule } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import type { FastifyInstance } from 'fastify';
import { GraphQLError, Kind, Location, OperationTypeNode, parse, specifiedRules, validate, type DocumentNode, type ValidationRule } from 'graphql';
import { BAD_REQUEST_EXTENSIONS } from './graphql-errors.js';

/**
 * Deepest selection. The schema's deepest query is hosts → gpus → latest →
 * metrics → name (5), so no valid query reaches it: it refuses deep junk
 * in the same validation pass, before the other rules walk it.
 */
export const MAX_DEPTH = 6;
/**
 * Most static cost (graphql-armor: 2 per object, 1 per scalar, ×1.5 per
 * level of depth). Every field of every query type once costs 316; three
 * times that is room for aliases, not for the same reads over and over.
 */
export const MAX_COST = 1000;
/** Most aliases: each alias of `telemetry` or `latest` is one more store read, so they are few. */
export const MAX_ALIASES = 10;
/** Most lexical tokens in a query: every field of every query type once is 180, graphql's introspection query (GraphiQL's schema fetch) 170. */
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

/** Throws BAD_REQUEST when a query's text is longer than MAX_QUERY_BYTES. */
export function checkQuerySize(source: string): void {
  // A UTF-8 byte is at most 3 per UTF-16 unit: count the bytes only of a text that may be too long.
  if (source.length * 3 <= MAX_QUERY_BYTES) return;
  const bytes = Buffer.byteLength(source);
  if (bytes > MAX_QUERY_BYTES) throw refuse(`the query is ${bytes} bytes, more than the ${MAX_QUERY_BYTES} allowed: ask for less in each query`);
}

/** Throws BAD_REQUEST when a query's text is too long or has too many tokens. */
export function checkQueryText(source: string): void {
  checkQuerySize(source);
  try {
    parse(source, PARSE_OPTIONS);
  } catch (error) {
    throw error instanceof GraphQLError ? refuse(error.message) : error;
  }
}

/**
 * Throws BAD_REQUEST for a document graphql's parser did not build: mercurius
 * takes a query that is not GraphQL but JSON as a ready document (an AST),
 * which no token limit covers and whose malformed nodes break validation.
 * Only the parser makes Location objects; JSON cannot.
 */
export function checkParsed(document: DocumentNode): void {
  if (!(document.loc instanceof Location)) throw refuse('the query must be GraphQL text, not a parsed document');
}

/**
 * The limits mercurius does not apply itself: the query size over HTTP (the
 * tokens and rules it applies from PARSE_OPTIONS and LIMIT_RULES), and
 * everything over WebSocket, from the subscription hooks. A subscription
 * refused there gets a graphql-ws `error` message with extensions.code
 * BAD_REQUEST and never starts. On both, a query must be GraphQL text.
 */
export function enforceLimits(app: FastifyInstance): void {
  app.graphql.addHook('preParsing', (_schema, source) => checkQuerySize(source));
  app.graphql.addHook('preValidation', (_schema, document) => {
    checkParsed(document);
    // graphql would run the subscription's field as a query, with no record to resolve.
    if (document.definitions.some((definition) => definition.kind === Kind.OPERATION_DEFINITION && definition.operation === OperationTypeNode.SUBSCRIPTION)) {
      throw refuse('subscriptions are served over WebSocket (graphql-ws) at /graphql, not over HTTP');
    }
  });
  app.graphql.addHook('preSubscriptionParsing', (_schema, source) => checkQueryText(source));
  app.graphql.addHook('preSubscriptionExecution', (schema, document) => {
    checkParsed(document);
    let errors: readonly GraphQLError[];
    try {
      errors = validate(schema, document, [...specifiedRules, ...LIMIT_RULES]);
    } catch (error) {
      // The armor rules throw their refusal rather than report it.
      if (error instanceof GraphQLError) throw refuse(error.message);
      throw error;
    }
    if (errors.length > 0) throw refuse(errors.map((error) => error.message).join('; '));
  });
}
