/**
 * How long etcd takes to answer each kind of request, and how its requests
 * fail, as every role sees it: `gputel_etcd_request_seconds{op}` and
 * `gputel_etcd_request_errors_total{op,kind}`, where `kind` is the error's
 * stable code (KV_UNAVAILABLE, KV_NO_SPACE, KV_COMPACTED, …; see
 * gputel-error.ts). Measured in the etcd driver around each request, so the
 * figures include the client's queueing and retries on other endpoints,
 * which is what the roles wait for.
 */
import type { GputelError } from '../common/gputel-error.js';
import { counter, histogram } from '../common/metrics.js';

/** etcd answers in about a millisecond on a quiet loopback, and a request waits at most the request timeout (5 s by default). */
const requestSeconds = histogram(
  'gputel_etcd_request_seconds',
  'Latency of etcd requests (unary calls: get, range, put, delete, txn, lease grant/revoke, status, compact; watch creation), by operation',
  [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  ['op'],
);
const requestErrors = counter('gputel_etcd_request_errors_total', 'etcd requests that failed, by operation and kind (the error code)', ['op', 'kind']);

/** The operations measured; a fixed set, so the label cannot grow. */
export type EtcdRequestOp = 'get' | 'range' | 'put' | 'delete' | 'txn' | 'lease_grant' | 'lease_revoke' | 'watch' | 'revision' | 'ping' | 'status' | 'compact';

/** A request being timed: `succeeded()` or `failed(error)` records it once. */
export interface EtcdRequestTimer {
  succeeded(): void;
  /** Records the failure by its code, and returns the error for the caller to throw. */
  failed(error: GputelError): GputelError;
}

export function startEtcdRequest(op: EtcdRequestOp): EtcdRequestTimer {
  const endTimer = requestSeconds.startTimer({ op });
  let recorded = false;
  return {
    succeeded: () => {
      if (recorded) return;
      recorded = true;
      endTimer();
    },
    failed: (error) => {
      // A failure after the answer arrived (decoding it) is not etcd's: the request was already counted.
      if (recorded) return error;
      recorded = true;
      endTimer();
      requestErrors.inc({ op, kind: error.code });
      return error;
    },
  };
}
