/**
 * The API's error catalogue: every error answer, whatever raised it (a route,
 * a hook, Fastify's body parser or router, a plugin), is
 * `{"error":{"code","message"}}` with a stable code and the status it implies.
 * Errors Node's HTTP parser raises before a request exists are answered in
 * the same shape by client-error-response.ts; unknown paths and methods by
 * route-methods.ts.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GputelError, type ErrorCode } from '../common/gputel-error.js';

/** The HTTP status of each code the API answers with; any other GputelError is a 500. */
export const STATUS_OF: Partial<Record<ErrorCode, number>> = {
  BAD_REQUEST: 400,
  BAD_INPUT: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  GPU_NOT_FOUND: 404,
  HOST_NOT_FOUND: 404,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  REQUEST_TIMEOUT: 408,
  AMBIGUOUS_GPU: 409,
  PAYLOAD_TOO_LARGE: 413,
  URI_TOO_LONG: 414,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
  HEADERS_TOO_LARGE: 431,
  UNAVAILABLE: 503,
  KV_UNAVAILABLE: 503,
  // A stored value this gateway cannot open (docs/encryption.md): its key file must change, not the request.
  STORE_KEY: 503,
};

/**
 * The code of an error that carries only an HTTP status (Fastify's body
 * parser, a plugin such as @fastify/rate-limit). A status not listed keeps
 * its number with BAD_REQUEST (4xx) or INTERNAL (5xx).
 */
const CODE_OF_STATUS: Readonly<Record<number, ErrorCode>> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  408: 'REQUEST_TIMEOUT',
  413: 'PAYLOAD_TOO_LARGE',
  414: 'URI_TOO_LONG',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'RATE_LIMITED',
  431: 'HEADERS_TOO_LARGE',
  503: 'UNAVAILABLE',
};

const STORE_UNAVAILABLE_MESSAGE = 'the store (etcd) does not answer or is out of space; retry later (/readyz says which; the request id in the logs has the details)';

/** What a client is told of a GputelError it can act on: the store's own words name keys and endpoints, the log has them. */
export function clientMessage(error: GputelError): string {
  return error.code.startsWith('KV_') ? STORE_UNAVAILABLE_MESSAGE : error.message;
}

/** The code of an HTTP status alone (a plugin's error): the catalogue's, else BAD_REQUEST (4xx) or INTERNAL (5xx). */
export function codeOfStatus(status: number): string {
  return CODE_OF_STATUS[status] ?? (status < 500 ? 'BAD_REQUEST' : 'INTERNAL');
}

/** What an error answer says; `details` are more fields of the `error` object (AMBIGUOUS_GPU's `ids`). */
export interface ApiError {
  status: number;
  code: string;
  message: string;
  details?: Readonly<Record<string, unknown>>;
}

export function errorBody(code: string, message: string, details?: Readonly<Record<string, unknown>>): { error: { code: string; message: string } } {
  return { error: { code, message, ...details } };
}

/**
 * The longest path parameter the router takes (Fastify's default is 100). A
 * GPU id `hostname:UUID:mig{n}` is two key segments of up to 256 characters
 * each (key-space.ts), and may be percent-encoded.
 */
export const MAX_PARAM_CHARS = 2048;

export const INTERNAL_MESSAGE = 'internal error; the request id in the logs has the details';

/** Fastify's own messages say what, not where or what to do: these do. */
const MESSAGE_OF: Readonly<Record<string, (request: FastifyRequest) => string>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: (request) => `the request body is over the ${request.routeOptions.bodyLimit ?? 'configured'}-byte limit of ${request.method} ${pathOf(request.url)}: send a smaller body`,
  FST_ERR_CTP_INVALID_MEDIA_TYPE: (request) =>
    `${request.method} ${pathOf(request.url)} does not take content-type "${request.headers['content-type'] ?? ''}": send application/json`,
  FST_ERR_MAX_PARAM_LENGTH: (request) => `a segment of the path ${JSON.stringify(pathOf(request.url).slice(0, 80))}… is over ${MAX_PARAM_CHARS} characters: no id is that long`,
  FST_ERR_BAD_URL: (request) => `the path ${JSON.stringify(pathOf(request.url))} is not valid percent-encoding: write a literal % as %25`,
};

/** The path of a request URL, without its query. */
export function pathOf(url: string): string {
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

function httpStatus(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value >= 400 && value <= 599 ? value : undefined;
}

/**
 * The answer to any error thrown or sent while serving `request`. A
 * GputelError answers with its own code; anything else with the code of its
 * `statusCode` (or of the status already set on the reply), unless it names
 * one of the catalogue's codes that has that status.
 */
export function apiErrorOf(error: unknown, request: FastifyRequest, replyStatus: number): ApiError {
  if (error instanceof GputelError) {
    const status = STATUS_OF[error.code] ?? 500;
    if (status === 500) return { status, code: 'INTERNAL', message: INTERNAL_MESSAGE };
    return { status, code: error.code, message: clientMessage(error), details: error.details };
  }
  const fields = (typeof error === 'object' && error !== null ? error : {}) as { statusCode?: unknown; status?: unknown; code?: unknown; message?: unknown };
  const status = httpStatus(fields.statusCode) ?? httpStatus(fields.status) ?? httpStatus(replyStatus) ?? 500;
  const ownCode = typeof fields.code === 'string' ? fields.code : '';
  const code = STATUS_OF[ownCode as ErrorCode] === status ? ownCode : codeOfStatus(status);
  // A 500 says nothing of its cause to the client: the log has it.
  if (code === 'INTERNAL') return { status, code, message: INTERNAL_MESSAGE };
  const message = MESSAGE_OF[ownCode]?.(request) ?? (typeof fields.message === 'string' && fields.message !== '' ? fields.message : `${code.toLowerCase().replace(/_/g, ' ')}`);
  return { status, code, message };
}

/** Sends `error` in the API's shape; logs what the client cannot fix. */
export function sendApiError(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const answer = apiErrorOf(error, request, reply.statusCode);
  if (answer.status >= 500) request.log.error({ err: error }, 'request failed');
  return reply.code(answer.status).send(errorBody(answer.code, answer.message, answer.details));
}

/** A schema validation failure as one message naming the parameter. */
function validationMessage(error: FastifyError): string {
  const validation = error.validation ?? [];
  const [first] = validation;
  if (first?.keyword === 'additionalProperties') {
    return `unknown parameter "${String((first.params as { additionalProperty?: unknown }).additionalProperty)}"`;
  }
  // A value outside a set of constants (agg, format, status): name the values the parameter takes, not the schema's enum or anyOf.
  if (first?.keyword === 'enum') {
    const values = (first.params as { allowedValues?: unknown[] }).allowedValues ?? [];
    return `${first.instancePath.replace(/^\//, '')} must be one of ${values.join(', ')}`;
  }
  const allowed = validation.filter((item) => item.keyword === 'const' && item.instancePath === first?.instancePath);
  if (allowed.length > 0) {
    const name = (first?.instancePath ?? '').replace(/^\//, '');
    const values = allowed.map((item) => String((item.params as { allowedValue?: unknown }).allowedValue));
    return `${name} must be one of ${values.join(', ')}`;
  }
  // An empty path segment (GET /api/v1/gpus/): Ajv's "must NOT have fewer than 1 characters" says it less plainly.
  if (first?.keyword === 'minLength' && (first.params as { limit?: unknown }).limit === 1) return `${first.instancePath.replace(/^\//, '')} is empty: give one`;
  // Fastify says "querystring/limit must be <= 10000": the parameter's name is what a user needs.
  return error.message.replace(/^(querystring|params|body|headers)\/?/, '').trim();
}

/** The HTTP status an error code implies; 500 for codes a client cannot act on. */
export function statusOf(code: ErrorCode): number {
  return STATUS_OF[code] ?? 500;
}

export function registerErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | GputelError, request, reply) => {
    if (!(error instanceof GputelError) && error.validation) return reply.code(400).send(errorBody('BAD_REQUEST', validationMessage(error)));
    return sendApiError(error, request, reply);
  });
}
