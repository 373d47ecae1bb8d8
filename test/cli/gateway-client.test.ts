/**
 * How a client command reads its shared options, and how every answer of a
 * gateway that is not a success becomes a one-line error of the right exit
 * class (the live cases run against real gateways in client-commands.test.ts
 * and client-auth.test.ts; these are the ones a test gateway cannot easily give).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { describe, it } from 'node:test';
import { clientOptionsOf, DEFAULT_GATEWAY } from '../../src/cli/client/client-options.js';
import { answerError, unreachable } from '../../src/cli/client/gateway-client.js';
import { EXIT, exitCodeOf } from '../../src/cli/exit-codes.js';
import { GputelError } from '../../src/common/gputel-error.js';

const BASE = 'http://gw:8080';
const body = (code: string, message: string, extra: Record<string, unknown> = {}): unknown => ({ error: { code, message, ...extra } });

describe('client options', () => {
  it('takes the flag over GPUTEL_GATEWAY over the default, and HOST:PORT as http', () => {
    assert.equal(clientOptionsOf({}, {}).gatewayUrl, DEFAULT_GATEWAY);
    assert.equal(clientOptionsOf({}, { GPUTEL_GATEWAY: 'gw-2:9090' }).gatewayUrl, 'http://gw-2:9090');
    assert.equal(clientOptionsOf({ gateway: 'https://gw-1/gputel/' }, { GPUTEL_GATEWAY: 'gw-2:9090' }).gatewayUrl, 'https://gw-1/gputel');
    assert.equal(clientOptionsOf({ apiKey: 'k1' }, { GPUTEL_API_KEY: 'k2' }).apiKey, 'k1');
    assert.equal(clientOptionsOf({}, { GPUTEL_API_KEY: 'k2' }).apiKey, 'k2');
    assert.equal(clientOptionsOf({}, { GPUTEL_API_KEY: '' }).apiKey, undefined);
    assert.equal(clientOptionsOf({}, {}).timeoutMs, 30_000);
    assert.equal(clientOptionsOf({ timeout: '2s' }, {}).timeoutMs, 2_000);
  });

  it('refuses what cannot be a gateway URL or a key, naming the flag or variable (EXIT.CONFIG)', () => {
    const refused = (options: Record<string, unknown>, env: Record<string, string>, message: RegExp): void => {
      assert.throws(() => clientOptionsOf(options, env), (error: unknown) => error instanceof GputelError && exitCodeOf(error) === EXIT.CONFIG && message.test(error.message));
    };
    refused({ gateway: 'ws://gw' }, {}, /^--gateway "ws:\/\/gw": the gateway speaks http:\/\/ or https:\/\//);
    refused({}, { GPUTEL_GATEWAY: 'http://gw:99999' }, /^GPUTEL_GATEWAY "http:\/\/gw:99999" is not a URL/);
    refused({ gateway: 'http://gw/?api_key=x' }, {}, /give only the scheme, host, port and path/);
    refused({ apiKey: 'two words' }, {}, /^--api-key: an API key is printable ASCII/);
    refused({}, { GPUTEL_API_KEY: 'line\nbreak' }, /^GPUTEL_API_KEY: /);
    refused({ timeout: 'soon' }, {}, /^--timeout "soon" is not a duration/);
  });
});

describe('gateway answers that are errors', () => {
  const exitOf = (status: number, answer: unknown, keyGiven = false, retryAfter: string | null = null): [number, string] => {
    const error = answerError(BASE, 'GET /api/v1/gpus', status, answer, keyGiven, retryAfter);
    assert.doesNotMatch(error.message, /\n/, 'one line');
    return [exitCodeOf(error), error.message];
  };

  it('gives each class its exit code and a message saying what to do', () => {
    assert.deepEqual(exitOf(400, body('BAD_REQUEST', 'limit must be >= 1')), [EXIT.USAGE, 'limit must be >= 1']);
    assert.match(exitOf(401, body('UNAUTHORIZED', 'x'))[1], /needs an API key \(401\): pass one with --api-key KEY or GPUTEL_API_KEY=KEY/);
    assert.equal(exitOf(401, undefined, true)[0], EXIT.AUTH);
    assert.deepEqual(exitOf(403, body('FORBIDDEN', 'API key "p" has role ingest'))[0], EXIT.AUTH);
    assert.deepEqual(exitOf(404, body('HOST_NOT_FOUND', 'no host "h"')), [EXIT.NOT_FOUND, 'no host "h" (gputel hosts lists them)']);
    // A route the gateway does not have: --gateway is not its base URL (a path too many), not an unknown GPU.
    const noRoute = exitOf(404, body('NOT_FOUND', 'no route GET /foo/api/v1/gpus: check the path (the REST API is under /api/v1)'));
    assert.equal(noRoute[0], EXIT.GATEWAY_UNREACHABLE);
    assert.match(noRoute[1], /is not the base URL of a gputel gateway .*check --gateway or GPUTEL_GATEWAY/);
    const ambiguous = answerError(BASE, 'GET /api/v1/gpus/GPU-M', 409, body('AMBIGUOUS_GPU', 'GPU "GPU-M" names 2 MIG instances (GPU-M:mig1, GPU-M:mig2)', { ids: ['GPU-M:mig1', 'GPU-M:mig2'] }), false, null);
    assert.equal(exitCodeOf(ambiguous), EXIT.NOT_FOUND);
    assert.deepEqual(ambiguous.details, { ids: ['GPU-M:mig1', 'GPU-M:mig2'] });
    assert.match(exitOf(429, body('RATE_LIMITED', 'too many requests'), true, '7')[1], /rate limiting this key or address \(429\): too many requests; retry in 7 s/);
    assert.equal(exitOf(429, body('RATE_LIMITED', 'x'))[0], EXIT.GATEWAY_UNREACHABLE);
    assert.deepEqual(exitOf(503, body('KV_UNAVAILABLE', 'etcd does not answer: retry')), [EXIT.STORE_UNAVAILABLE, `the gateway at ${BASE} answered GET /api/v1/gpus with 503 KV_UNAVAILABLE: etcd does not answer: retry`]);
    assert.equal(exitOf(500, body('INTERNAL', 'internal error'))[0], EXIT.GATEWAY_UNREACHABLE);
    assert.deepEqual(exitOf(502, undefined), [EXIT.GATEWAY_UNREACHABLE, `${BASE} answered GET /api/v1/gpus with HTTP 502 and no gputel error: is --gateway (or GPUTEL_GATEWAY) the URL of a gputel gateway?`]);
  });
});

describe('a gateway that cannot be reached', () => {
  it('says that an https:// URL reached a server speaking plain HTTP, not which OpenSSL check failed', async () => {
    const server = createServer((_request, response) => response.end('{}'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as { port: number };
    const url = `https://127.0.0.1:${port}`;
    try {
      const error = await fetch(`${url}/api/v1/gpus`).then(() => undefined, (failure: unknown) => failure);
      const refused = unreachable(url, error);
      assert.equal(exitCodeOf(refused), EXIT.GATEWAY_UNREACHABLE);
      assert.match(refused.message, /does not speak HTTPS: use an http:\/\/ URL/);
      assert.doesNotMatch(refused.message, /ssl3|openssl|NODE_EXTRA_CA_CERTS/i);
    } finally {
      server.close();
    }
  });
});
