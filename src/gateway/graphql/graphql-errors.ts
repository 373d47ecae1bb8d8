/**
 * GraphQL errors in the API's catalogue: every error carries
 * `extensions.code`, the code REST answers with for the same fault
 * (GPU_NOT_FOUND, HOST_NOT_FOUND, BAD_REQUEST, KV_UNAVAILABLE, …). A query
 * that is refused before it runs (syntax, validation, limits) is
 * BAD_REQUEST with HTTP 400; a fault inside gputel is INTERNAL with a
 * generic message (the details go to the log, as in REST).
 */
import type { FastifyBaseLogger } from 'fastify';
import { GraphQLError, type ExecutionResult, type FormattedExecutionResult } from 'graphql';
import type { MercuriusContext } from 'mercurius';
import { GputelError, type ErrorCode } from '../../common/gputel-error.js';
import { clientMessage, codeOfStatus, INTERNAL_MESSAGE, statusOf } from '../api-error.js';

export const BAD_REQUEST_EXTENSIONS = Object.freeze({ code: 'BAD_REQUEST' });

/** mercurius wraps the errors of a refused query in one error with the list in `errors`. */
function unwrapped(error: GraphQLError): readonly GraphQLError[] {
  const inner = (error.originalError as { errors?: unknown } | undefined)?.errors;
  if (!Array.isArray(inner)) return [error];
  return inner.map((item: unknown) => (item instanceof GraphQLError ? item : new GraphQLError(item instanceof Error ? item.message : String(item))));
}

function withCode(error: GraphQLError, log: FastifyBaseLogger): GraphQLError {
  // graphql-jit's errors (a compiled query's) have no extensions object at all.
  if (typeof error.extensions?.code === 'string') return error;
  const original = error.originalError;
  const located = { nodes: error.nodes, source: error.source, positions: error.positions, path: error.path };
  if (original instanceof GputelError && statusOf(original.code) !== 500) {
    return new GraphQLError(clientMessage(original), { ...located, originalError: original, extensions: { code: original.code } });
  }
  // No original error: graphql's own syntax or validation error. A client error of the HTTP layer (bad JSON variables, a body over the limit or of another type) has a 4xx status, and REST's code for it.
  const status = (original as { statusCode?: unknown } | undefined)?.statusCode;
  if (typeof status === 'number' && status > 400 && status < 500) {
    return new GraphQLError(error.message, { ...located, originalError: original, extensions: { code: codeOfStatus(status) } });
  }
  if (original === undefined || original instanceof GraphQLError || status === 400) {
    return new GraphQLError(error.message, { ...located, originalError: original, extensions: BAD_REQUEST_EXTENSIONS });
  }
  log.error({ err: original }, 'GraphQL request failed');
  return new GraphQLError(INTERNAL_MESSAGE, { ...located, extensions: { code: 'INTERNAL' } });
}

/** The HTTP status an error implies: the HTTP layer's own (413, 415) for its client errors, else its code's REST status. */
function httpStatusOf(error: GraphQLError): number {
  const status = (error.originalError as { statusCode?: unknown } | undefined)?.statusCode;
  if (typeof status === 'number' && status > 400 && status < 500) return status;
  return statusOf(error.extensions?.code as ErrorCode);
}

/**
 * mercurius's errorFormatter: the status is 200 when the query ran (its
 * data holds what could be answered, GraphQL over HTTP), else the status of
 * its worst error (400 for a refused query).
 */
export function graphqlErrorFormatter(execution: ExecutionResult, context: MercuriusContext): { statusCode: number; response: FormattedExecutionResult } {
  // The request's logger (its lines carry reqId); over WebSocket mercurius's reply is only { request }.
  const reply = context.reply as Partial<MercuriusContext['reply']> | undefined;
  const log = reply?.log ?? reply?.request?.log ?? context.app.log;
  const errors = (execution.errors ?? []).flatMap(unwrapped).map((error) => withCode(error, log));
  const ran = execution.data !== undefined && execution.data !== null;
  const statusCode = ran ? 200 : Math.max(400, ...errors.map(httpStatusOf));
  return { statusCode, response: { data: execution.data ?? null, errors: errors.map((error) => error.toJSON()) } };
}

/**
 * What a resolver throws for `error`: a GputelError a client can act on
 * becomes a GraphQLError carrying its code, which graphql keeps when it
 * locates the error (the subscription path sends it without the formatter).
 */
export function graphqlErrorOf(error: unknown): unknown {
  if (error instanceof GputelError && statusOf(error.code) !== 500) return new GraphQLError(clientMessage(error), { originalError: error, extensions: { code: error.code } });
  return error;
}
