/**
 * The exit codes of every `gputel` command, one per class of failure, so
 * that scripts can tell a typo from an outage (docs/cli.md lists them).
 */
import { GputelError, type ErrorCode } from '../common/gputel-error.js';

export const EXIT = {
  OK: 0,
  /** An unexpected error (a bug): the message comes with a stack. */
  INTERNAL: 1,
  /** The command line is wrong: unknown command or option, missing argument. */
  USAGE: 2,
  /** A setting has a bad value (flag, environment, config file, key file). */
  CONFIG: 3,
  /** `--strict`: input rows were refused. */
  REJECTED_INPUT: 4,
  /** The store (etcd or the embedded file) cannot be reached or used. */
  STORE_UNAVAILABLE: 5,
  /** The gateway cannot be reached, or answered that it is not ready. */
  GATEWAY_UNREACHABLE: 6,
  /** The gateway refused the API key: missing, unknown (401) or without the role (403). */
  AUTH: 7,
  /** The GPU or host asked for does not exist, or the id names several (the message lists them). */
  NOT_FOUND: 8,
  /** The work ran and part of it failed (a source that failed, dead letters left in place). */
  FAILED: 9,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

const BY_ERROR_CODE: Partial<Record<ErrorCode, ExitCode>> = {
  BAD_CONFIG: EXIT.CONFIG,
  BAD_REQUEST: EXIT.USAGE,
  /** `watch`: the gateway refused a subscription whose id is in use on the connection (a client's mistake, like a bad request). */
  CONFLICT: EXIT.USAGE,
  BAD_INPUT: EXIT.REJECTED_INPUT,
  KV_UNAVAILABLE: EXIT.STORE_UNAVAILABLE,
  KV_CLOSED: EXIT.STORE_UNAVAILABLE,
  KV_NO_SPACE: EXIT.STORE_UNAVAILABLE,
  KV_FAILED: EXIT.STORE_UNAVAILABLE,
  STORE_KEY: EXIT.CONFIG,
  UNAVAILABLE: EXIT.GATEWAY_UNREACHABLE,
  UNAUTHORIZED: EXIT.AUTH,
  FORBIDDEN: EXIT.AUTH,
  GPU_NOT_FOUND: EXIT.NOT_FOUND,
  HOST_NOT_FOUND: EXIT.NOT_FOUND,
  NOT_FOUND: EXIT.NOT_FOUND,
  AMBIGUOUS_GPU: EXIT.NOT_FOUND,
  CLUSTER_START_FAILED: EXIT.FAILED,
};

/** The exit code for an error that ends a command. */
export function exitCodeOf(error: unknown): ExitCode {
  if (!(error instanceof GputelError)) return EXIT.INTERNAL;
  return exitCodeOfErrorCode(error.code);
}

/** The exit code for a failure known by its error code only (a stream summary's `failureCode`). */
export function exitCodeOfErrorCode(code: ErrorCode): ExitCode {
  return BY_ERROR_CODE[code] ?? EXIT.INTERNAL;
}
