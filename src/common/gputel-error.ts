/**
 * The one error type gputel throws. Foreign errors (gRPC, etcd, SQLite, fs)
 * are translated into it once, where they enter, so that callers can decide
 * on `code` and `retryable` instead of parsing messages.
 */
export type ErrorCode =
  | 'BAD_CONFIG'
  | 'BAD_INPUT'
  | 'BAD_REQUEST'
  | 'BAD_KEY'
  | 'BAD_MESSAGE'
  | 'STORE_CORRUPT'
  /** A sealed value that this process cannot open: no key, an unknown key id, the wrong key, or a tampered or moved value. */
  | 'STORE_KEY'
  | 'GPU_NOT_FOUND'
  | 'HOST_NOT_FOUND'
  | 'NOT_FOUND'
  | 'KV_UNAVAILABLE'
  | 'KV_REQUEST_TOO_LARGE'
  | 'KV_TOO_MANY_OPS'
  | 'KV_COMPACTED'
  | 'KV_NO_SPACE'
  | 'KV_LEASE_NOT_FOUND'
  | 'KV_CLOSED'
  | 'KV_FAILED'
  | 'CONFLICT'
  /** `gputel cluster up`: a process it started exited or did not become healthy (the message names it, with its log's tail). */
  | 'CLUSTER_START_FAILED'
  | 'INTERNAL'
  // HTTP API answers (src/gateway/api-error.ts gives each its status).
  /** No API key, or one the gateway does not know (401). */
  | 'UNAUTHORIZED'
  /** A known API key whose role may not call this (403). */
  | 'FORBIDDEN'
  | 'METHOD_NOT_ALLOWED'
  | 'REQUEST_TIMEOUT'
  /** An id that names several GPU series (MIG instances, one UUID under two hostnames): the message lists the ids to use. */
  | 'AMBIGUOUS_GPU'
  | 'PAYLOAD_TOO_LARGE'
  /** A request URL (path and query string) longer than the gateway accepts (414). */
  | 'URI_TOO_LONG'
  | 'UNSUPPORTED_MEDIA_TYPE'
  /** Too many requests from one key or address in the rate-limit window (429). */
  | 'RATE_LIMITED'
  | 'HEADERS_TOO_LARGE'
  | 'UNAVAILABLE';

export class GputelError extends Error {
  readonly code: ErrorCode;
  /** True when the same call may succeed later (the store was unreachable, a compare lost a race). */
  readonly retryable: boolean;
  /** More fields an API error answer carries beside code and message, for a client to act on (AMBIGUOUS_GPU: `ids`). */
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ErrorCode, message: string, options: { retryable?: boolean; cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GputelError';
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details;
  }
}

export function isRetryable(error: unknown): boolean {
  return error instanceof GputelError && error.retryable;
}

/** A printable message for any thrown value. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
