/**
 * Answers what Node's HTTP parser refuses before a request exists (a bad
 * method or request line, bytes a path may not hold, headers over the size
 * limit, a request not received within the request timeout) in the API's
 * error shape. Fastify's default writes its own flat shape; Node's, an empty
 * body. There is no request, so no hook runs: the response is written raw to
 * the socket, which is then closed, as Node does (the parser cannot go on).
 */
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { GputelError } from '../common/gputel-error.js';
import type { Logger } from '../common/logger.js';
import { errorBody, type ApiError } from './api-error.js';

/** Node's HTTP parse errors (llhttp's HPE_* codes, and Node's own), as the API answers them. */
export function clientErrorOf(code: string, reason: string | undefined): ApiError {
  switch (code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, code: 'REQUEST_TIMEOUT', message: 'the request (headers and body) did not arrive within the request timeout: send it whole, at once' };
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, code: 'HEADERS_TOO_LARGE', message: 'the request headers are over the server\'s size limit: send fewer or shorter headers (a long cookie?)' };
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return { status: 413, code: 'PAYLOAD_TOO_LARGE', message: 'the chunk extensions of the request body are over the size limit: send the body without them' };
    case 'HPE_INVALID_METHOD':
      return { status: 400, code: 'BAD_REQUEST', message: 'the request method is not an HTTP method: use GET, HEAD or POST' };
    case 'HPE_INVALID_URL':
      return { status: 400, code: 'BAD_REQUEST', message: 'the request path holds bytes a URL may not (spaces, control characters): percent-encode them' };
    case 'HPE_INVALID_HEADER_TOKEN':
      return { status: 400, code: 'BAD_REQUEST', message: 'a request header is not "name: value" with a name of letters, digits and -: fix or drop it' };
    default:
      return { status: 400, code: 'BAD_REQUEST', message: `the request is not valid HTTP/1.1${reason ? ` (${reason.toLowerCase()})` : ''}: send "METHOD /path HTTP/1.1", then headers` };
  }
}

/** The whole HTTP response of an ApiError, with `connection: close` (the socket is closed after it). */
export function rawErrorResponse(answer: ApiError, requestId: string): string {
  const body = JSON.stringify(errorBody(answer.code, answer.message, answer.details));
  return (
    `HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status] ?? 'Error'}\r\n` +
    'content-type: application/json; charset=utf-8\r\n' +
    `content-length: ${Buffer.byteLength(body)}\r\n` +
    `x-request-id: ${requestId}\r\n` +
    'connection: close\r\n' +
    `\r\n${body}`
  );
}

/** A Fastify `clientErrorHandler` answering in the API's shape; logs each at debug with the id it answered with. */
export function clientErrorResponder(logger: Logger): (error: Error & { code?: string; reason?: string }, socket: Socket) => void {
  return (error, socket) => {
    // A reset connection has no one to answer.
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    const answer = clientErrorOf(error.code ?? '', error.reason);
    const requestId = randomUUID();
    // reqId, as Fastify names it in every other line of a request (docs/observability.md).
    logger.debug({ err: error, reqId: requestId, status: answer.status }, `client error: ${answer.code}`);
    // As Node does: answer only when no response of this socket has started, so that none is corrupted.
    const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (socket.writable && !inFlight?.headersSent) socket.write(rawErrorResponse(answer, requestId));
    socket.destroy(error);
  };
}

/**
 * HTTP/1.1 requires a Host header (RFC 9112 §3.2). Node refuses a request
 * without one with an empty 400 of its own, so its check is turned off
 * (`requireHostHeader: false`) and this hook refuses it in the API's shape.
 */
export function registerHostCheck(app: FastifyInstance): void {
  // A callback hook, not an async one: it runs on every request, and a promise each is measurable.
  app.addHook('onRequest', (request, _reply, done) => {
    if (request.headers.host === undefined && request.raw.httpVersion === '1.1') {
      done(new GputelError('BAD_REQUEST', 'an HTTP/1.1 request needs a Host header: send "host: NAME" (clients send it by themselves)'));
    } else done();
  });
}
