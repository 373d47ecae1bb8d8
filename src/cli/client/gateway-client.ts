/**
 * The one way client commands talk to a gateway: GET a JSON route, or open
 * the WebSocket stream, with the API key, and every failure turned into a
 * one-line GputelError whose code picks the exit code (src/cli/exit-codes.ts):
 * unreachable → UNAVAILABLE, 401/403 → UNAUTHORIZED/FORBIDDEN, unknown or
 * ambiguous GPU or host → its code, 400 → BAD_REQUEST.
 */
import type { IncomingMessage } from 'node:http';
import WebSocket from 'ws';
import { GputelError, errorMessage, type ErrorCode } from '../../common/gputel-error.js';
import { printable } from '../output-format.js';

/** How long one request (or a WebSocket handshake) may take by default before the gateway counts as unreachable (--timeout). */
export const REQUEST_TIMEOUT_MS = 30_000;

/** The query string of a request; undefined values are left out. */
export type Query = Record<string, string | number | undefined>;

/** What an API error answer holds: `{"error":{"code","message",…}}`. */
interface ErrorBody {
  error?: { code?: unknown; message?: unknown; ids?: unknown };
}

export class GatewayClient {
  constructor(
    /** http(s)://HOST:PORT[/prefix], no trailing slash (clientOptionsOf() gives it so). */
    readonly baseUrl: string,
    private readonly apiKey: string | undefined,
    private readonly timeoutMs = REQUEST_TIMEOUT_MS,
  ) {}

  /**
   * GETs `path` (starting with /) and answers the parsed JSON body of a 2xx
   * answer. Throws a GputelError for everything else (see the file's doc).
   */
  async get<T>(path: string, query: Query = {}): Promise<T> {
    const url = this.url(path, query);
    let response: Response;
    let text: string;
    try {
      response = await fetch(url, { headers: this.headers(), signal: AbortSignal.timeout(this.timeoutMs) });
      text = await response.text();
    } catch (error) {
      throw unreachable(this.baseUrl, error, this.timeoutMs);
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (response.ok && body !== undefined) return body as T;
    throw answerError(this.baseUrl, `GET ${path}`, response.status, body, this.apiKey !== undefined, response.headers.get('retry-after'));
  }

  /**
   * Opens a WebSocket to `path` with the key as the X-API-Key header of the
   * upgrade (docs/security.md). Resolves once open; a refused upgrade or an
   * unreachable gateway rejects as get() would.
   */
  openWebSocket(path: string): Promise<WebSocket> {
    const socket = new WebSocket(this.url(path).replace(/^http/, 'ws'), { headers: this.headers(), handshakeTimeout: this.timeoutMs, perMessageDeflate: false });
    return new Promise((resolve, reject) => {
      const fail = (error: GputelError): void => {
        socket.removeAllListeners();
        socket.on('error', () => {}); // a late error of a socket given up on
        socket.terminate();
        reject(error);
      };
      socket.once('open', () => {
        socket.removeAllListeners('error');
        socket.removeAllListeners('unexpected-response');
        resolve(socket);
      });
      socket.once('error', (error) => fail(unreachable(this.baseUrl, error, this.timeoutMs)));
      socket.once('unexpected-response', (_request, response: IncomingMessage) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.once('error', (error) => fail(unreachable(this.baseUrl, error, this.timeoutMs)));
        response.once('end', () => {
          let body: unknown;
          try {
            body = JSON.parse(text);
          } catch {
            body = undefined;
          }
          fail(answerError(this.baseUrl, `the WebSocket upgrade of ${path}`, response.statusCode ?? 0, body, this.apiKey !== undefined, response.headers['retry-after'] ?? null));
        });
      });
    });
  }

  private url(path: string, query: Query = {}): string {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) if (value !== undefined) params.set(name, String(value));
    const search = params.toString();
    return `${this.baseUrl}${path}${search === '' ? '' : `?${search}`}`;
  }

  private headers(): Record<string, string> {
    return this.apiKey === undefined ? { accept: 'application/json' } : { accept: 'application/json', 'x-api-key': this.apiKey };
  }
}

/** Why a connection failed, in a few words, from Node's error codes (fetch puts them on `cause`). */
function reasonOf(error: unknown, timeoutMs: number): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return `no answer within ${timeoutMs / 1000} s`;
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  if (cause instanceof Error && (cause.name === 'TimeoutError' || cause.name === 'AbortError')) return `no answer within ${timeoutMs / 1000} s`;
  const code = (cause as { code?: unknown } | undefined)?.code;
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host name not found';
    case 'ETIMEDOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return `no answer within ${timeoutMs / 1000} s`;
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_SOCKET':
      return 'the connection was closed';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'no route to the host';
    default:
      break;
  }
  const message = errorMessage(cause).replace(/\s+/g, ' ');
  // OpenSSL's words for a server that answered in plain HTTP.
  if (/wrong version number|packet length too long|http request/i.test(message)) return 'it does not speak HTTPS: use an http:// URL, or start the gateway with --tls-cert and --tls-key';
  if (typeof code === 'string' && /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code)) {
    return `TLS: ${message}; for a private CA set NODE_EXTRA_CA_CERTS=ca.pem`;
  }
  if (/timed? ?out/i.test(message)) return `no answer within ${timeoutMs / 1000} s`;
  return message;
}

/** The error of a gateway that could not be reached at all. */
export function unreachable(baseUrl: string, error: unknown, timeoutMs = REQUEST_TIMEOUT_MS): GputelError {
  return new GputelError('UNAVAILABLE', `cannot reach the gateway at ${baseUrl} (${reasonOf(error, timeoutMs)}): check --gateway or GPUTEL_GATEWAY, and that the gateway runs`, {
    retryable: true,
    cause: error,
  });
}

/**
 * The server's message on one line, through printable() (a message may quote
 * stored text, such as the hostnames of an ambiguous id), or undefined when
 * the body is not the API's error shape.
 */
function serverMessage(body: unknown): string | undefined {
  const message = (body as ErrorBody | undefined)?.error?.message;
  return typeof message === 'string' ? printable(message.replace(/\s+/g, ' ').trim(), Number.POSITIVE_INFINITY) : undefined;
}

/**
 * The GputelError for a gateway's error answer: `status` and the parsed
 * `body` (undefined when it was not JSON). `what` names the request.
 */
export function answerError(baseUrl: string, what: string, status: number, body: unknown, keyGiven: boolean, retryAfter: string | string[] | null): GputelError {
  const code = (body as ErrorBody | undefined)?.error?.code;
  const message = serverMessage(body);
  if (message === undefined && status !== 401 && status !== 403) {
    return new GputelError('UNAVAILABLE', `${baseUrl} answered ${what} with HTTP ${status} and no gputel error: is --gateway (or GPUTEL_GATEWAY) the URL of a gputel gateway?`, { retryable: true });
  }
  switch (status) {
    case 400:
    case 414:
    case 426:
      return new GputelError('BAD_REQUEST', message!);
    case 401:
      return new GputelError(
        'UNAUTHORIZED',
        keyGiven
          ? `the gateway at ${baseUrl} does not know this API key (401): check --api-key or GPUTEL_API_KEY (a key from gputel keys create whose line is in the gateway's keys file)`
          : `the gateway at ${baseUrl} needs an API key (401): pass one with --api-key KEY or GPUTEL_API_KEY=KEY`,
      );
    case 403:
      return new GputelError('FORBIDDEN', `the API key may not do this (403): ${message ?? what}; use a key with role read or admin (--api-key or GPUTEL_API_KEY)`);
    case 404:
      if (code === 'GPU_NOT_FOUND') return new GputelError('GPU_NOT_FOUND', `${message!} (gputel gpus lists the ids)`);
      if (code === 'HOST_NOT_FOUND') return new GputelError('HOST_NOT_FOUND', `${message!} (gputel hosts lists them)`);
      // Every path the client commands ask exists on a gateway: an unknown route means --gateway is not one's base URL.
      if (code === 'NOT_FOUND' && /^no route /.test(message!)) {
        return new GputelError('UNAVAILABLE', `${baseUrl} is not the base URL of a gputel gateway (it answered ${what} with "${message!}"): check --gateway or GPUTEL_GATEWAY: the URL the gateway's own routes start at, such as http://127.0.0.1:8080`);
      }
      return new GputelError('NOT_FOUND', `${message!} (${what} at ${baseUrl})`);
    case 409: {
      const ids = (body as ErrorBody).error?.ids;
      if (code === 'AMBIGUOUS_GPU') return new GputelError('AMBIGUOUS_GPU', message!, { details: { ids: Array.isArray(ids) ? ids : [] } });
      return new GputelError('BAD_REQUEST', message!);
    }
    case 429:
      return new GputelError('UNAVAILABLE', `the gateway at ${baseUrl} is rate limiting this key or address (429): ${message!}${retryAfter ? `; retry in ${String(retryAfter)} s` : ''}`, { retryable: true });
    default: {
      const known: ErrorCode = code === 'KV_UNAVAILABLE' ? 'KV_UNAVAILABLE' : 'UNAVAILABLE';
      const answered = typeof code === 'string' ? `${status} ${code}` : String(status);
      return new GputelError(known, `the gateway at ${baseUrl} answered ${what} with ${answered}: ${message!}`, { retryable: status >= 500 });
    }
  }
}
