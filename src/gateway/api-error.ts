/**
 * The API's error catalogue: every error answer is
 * `{"error":{"code","message"}}` with a stable code and the status it implies.
 */
import type { FastifyError, FastifyInstance } from 'fastify';
import { GputelError, type ErrorCode } from '../common/gputel-error.js';

const STATUS_OF: Partial<Record<ErrorCode, number>> = {
  BAD_REQUEST: 400,
  BAD_INPUT: 400,
  GPU_NOT_FOUND: 404,
  HOST_NOT_FOUND: 404,
  NOT_FOUND: 404,
  KV_UNAVAILABLE: 503,
  // A stored value this gateway cannot open (docs/encryption.md): its key file must change, not the request.
  STORE_KEY: 503,
};

export function errorBody(code: string, message: string): { error: { code: string; message: string } } {
  return { error: { code, message } };
}

export function registerErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | GputelError, request, reply) => {
    if (error instanceof GputelError) {
      const status = STATUS_OF[error.code] ?? 500;
      if (status >= 500) request.log.error({ err: error }, 'request failed');
      return reply.code(status).send(errorBody(status === 500 ? 'INTERNAL' : error.code, error.message));
    }
    if (error.validation) {
      const [first] = error.validation;
      if (first?.keyword === 'additionalProperties') {
        const unknown = String((first.params as { additionalProperty?: unknown }).additionalProperty);
        return reply.code(400).send(errorBody('BAD_REQUEST', `unknown parameter "${unknown}"`));
      }
      // A value outside a set of constants (agg, format, status): name the values the parameter takes, not the schema's enum.
      if (first?.keyword === 'enum') {
        const values = (first.params as { allowedValues?: unknown[] }).allowedValues ?? [];
        return reply.code(400).send(errorBody('BAD_REQUEST', `${first.instancePath.replace(/^\//, '')} must be one of ${values.join(', ')}`));
      }
      const allowed = error.validation.filter((item) => item.keyword === 'const' && item.instancePath === first?.instancePath);
      if (allowed.length > 0) {
        const name = (first?.instancePath ?? '').replace(/^\//, '');
        const values = allowed.map((item) => String((item.params as { allowedValue?: unknown }).allowedValue));
        return reply.code(400).send(errorBody('BAD_REQUEST', `${name} must be one of ${values.join(', ')}`));
      }
      // Fastify says "querystring/limit must be <= 10000": the parameter's name is what a user needs.
      return reply.code(400).send(errorBody('BAD_REQUEST', error.message.replace(/^(querystring|params|body|headers)\/?/, '').trim()));
    }
    if (error.statusCode !== undefined && error.statusCode < 500) {
      return reply.code(error.statusCode).send(errorBody('BAD_REQUEST', error.message));
    }
    request.log.error({ err: error }, 'request failed');
    return reply.code(500).send(errorBody('INTERNAL', 'internal error; the request id in the logs has the details'));
  });
  app.setNotFoundHandler((request, reply) => reply.code(404).send(errorBody('NOT_FOUND', `no route ${request.method} ${request.url}`)));
}
