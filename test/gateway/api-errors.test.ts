/**
 * Every error answer of the gateway has one shape, `{"error":{"code","message"}}`
 * with content-type application/json and a stable code per status, whatever
 * raised it: Node's HTTP parser (bad method, bad request line, bad bytes in
 * the path, headers too large, the request timeout), Fastify (a body too
 * large or of the wrong type, an undecodable path), the router (404, 405
 * with Allow) or a route. Requests go as raw bytes over node:net, so that
 * nothing on the client side fixes them first.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../../src/common/logger.js';
import { GputelError } from '../../src/common/gputel-error.js';
import { Gateway } from '../../src/gateway/gateway.js';
import { KeySpace } from '../../src/kv/key-space.js';
import type { KvStore } from '../../src/kv/kv-store.js';
import { openKvStore } from '../../src/kv/open-kv-store.js';

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Sends bytes on a new connection and reads until the server closes it (at most 10 s). */
function rawExchange(port: number, bytes: string | Buffer): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('the server did not answer and close within 10 s'));
    }, 10_000);
    socket.on('data', (chunk) => chunks.push(chunk));
    // The server may reset a connection it refused once its answer is out: what arrived is the answer.
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      try {
        resolve(parseResponse(Buffer.concat(chunks).toString('latin1')));
      } catch (error) {
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
    socket.write(bytes);
  });
}

function parseResponse(text: string): RawResponse {
  const end = text.indexOf('\r\n\r\n');
  if (end === -1) throw new Error(`no complete HTTP response: ${JSON.stringify(text.slice(0, 200))}`);
  const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
  const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(statusLine)?.[1]);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status, headers, body: Buffer.from(text.slice(end + 4), 'latin1').toString('utf8') };
}

/** Asserts the status, the content type and the shape `{"error":{"code","message"}}` with a non-empty message. */
function assertErrorAnswer(response: RawResponse, status: number, code: string, what: string): { code: string; message: string } {
  assert.equal(response.status, status, `${what}: status (body ${response.body})`);
  assert.match(response.headers['content-type'] ?? '', /^application\/json/, `${what}: content-type`);
  const body = JSON.parse(response.body) as { error: { code: string; message: string } };
  assert.deepEqual(Object.keys(body), ['error'], what);
  assert.equal(body.error.code, code, what);
  assert.equal(typeof body.error.message, 'string', what);
  assert.ok(body.error.message.length > 10, `${what}: a message that says something (${body.error.message})`);
  assert.ok((response.headers['x-request-id'] ?? '').length > 0, `${what}: x-request-id`);
  return body.error;
}

const REQUEST_TIMEOUT_MS = 300;
const BODY_LIMIT = 1024;

describe('API error answers', () => {
  let kv: KvStore;
  let gateway: Gateway;
  let port: number;
  const get = (path: string, headers = ''): string => `GET ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n${headers}\r\n`;

  before(async () => {
    kv = await openKvStore({ dataDir: ':memory:' });
    gateway = new Gateway(kv, new KeySpace('/gputel'), { cluster: 'default', host: '127.0.0.1', port: 0, logger: createLogger('silent'), requestTimeoutMs: REQUEST_TIMEOUT_MS });
    // Stand-ins for the POST routes (GraphQL, ingest) and for hooks that refuse a request (auth, rate limits).
    gateway.app.post('/test/body', { bodyLimit: BODY_LIMIT }, async () => ({ ok: true }));
    gateway.app.get('/test/status/:status', async (request, reply) => {
      const status = Number((request.params as { status: string }).status);
      // As plugins do: an Error with a statusCode, a plain object thrown, or an Error sent after setting the status.
      if (status === 401) throw Object.assign(new Error('no API key: send Authorization: Bearer KEY'), { statusCode: 401 });
      // @fastify/rate-limit throws its errorResponseBuilder's plain object.
      // eslint-disable-next-line @typescript-eslint/only-throw-error
      if (status === 429) throw { statusCode: 429, error: 'Too Many Requests', message: 'rate limit exceeded, retry in 1 second' };
      if (status === 403) return reply.code(403).send(new Error('the key has role read; this needs admin'));
      if (status === 503) throw new GputelError('KV_UNAVAILABLE', 'etcd at 127.0.0.1:2379 does not answer', { retryable: true });
      throw new Error('a bug whose text the client must not see');
    });
    await gateway.start();
    port = gateway.port;
  });
  after(async () => {
    await gateway?.stop();
    await kv?.close();
  });

  describe("Node's HTTP parser", () => {
    it('answers a method that is not HTTP with 400 BAD_REQUEST', async () => {
      const error = assertErrorAnswer(await rawExchange(port, 'FROB /api/v1/gpus HTTP/1.1\r\nhost: x\r\n\r\n'), 400, 'BAD_REQUEST', 'bad method');
      assert.match(error.message, /method/);
    });

    it('answers a request line that is not HTTP with 400 BAD_REQUEST', async () => {
      assertErrorAnswer(await rawExchange(port, 'GET /api/v1/gpus HTTX/1.1\r\n\r\n'), 400, 'BAD_REQUEST', 'not HTTP');
      assertErrorAnswer(await rawExchange(port, 'GET /api/v1/gpus HTTP/1.1 extra\r\n\r\n'), 400, 'BAD_REQUEST', 'more after the version');
      assertErrorAnswer(await rawExchange(port, 'hello there\r\n\r\n'), 400, 'BAD_REQUEST', 'not a request line');
    });

    it('answers control bytes in the path with 400 BAD_REQUEST', async () => {
      for (const bad of ['\u0001', '\u007f', '\u0000']) {
        assertErrorAnswer(await rawExchange(port, get(`/api/v1/gp${bad}us`)), 400, 'BAD_REQUEST', `byte ${bad.charCodeAt(0)} in the path`);
      }
    });

    it('answers an HTTP/1.1 request without Host with 400 BAD_REQUEST (Node alone sends an empty body)', async () => {
      const error = assertErrorAnswer(await rawExchange(port, 'GET /api/v1/gpus HTTP/1.1\r\nconnection: close\r\n\r\n'), 400, 'BAD_REQUEST', 'no Host');
      assert.match(error.message, /Host/);
    });

    it('answers a header line that is not "name: value" with 400 BAD_REQUEST', async () => {
      assertErrorAnswer(await rawExchange(port, get('/api/v1/gpus', 'not a header\r\n')), 400, 'BAD_REQUEST', 'a bad header line');
    });

    it('answers a 20 KB header with 431 HEADERS_TOO_LARGE', async () => {
      const error = assertErrorAnswer(await rawExchange(port, get('/api/v1/gpus', `x-big: ${'a'.repeat(20_000)}\r\n`)), 431, 'HEADERS_TOO_LARGE', 'a 20 KB header');
      assert.match(error.message, /header/);
    });

    it('answers a request that does not arrive within the request timeout with 408 REQUEST_TIMEOUT', async () => {
      // Headers never finished: the server must answer and close by itself.
      const response = await rawExchange(port, 'GET /api/v1/gpus HTTP/1.1\r\nhost: 127.0.0.1\r\nx-slow: ');
      assertErrorAnswer(response, 408, 'REQUEST_TIMEOUT', 'slow headers');
      assert.equal(response.headers.connection, 'close');
    });

    it('answers a body that stops arriving with 408 REQUEST_TIMEOUT', async () => {
      const response = await rawExchange(port, 'POST /test/body HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"a":');
      assertErrorAnswer(response, 408, 'REQUEST_TIMEOUT', 'slow body');
    });
  });

  describe('Fastify and its router', () => {
    it('answers a % that is not percent-encoding with 400 BAD_REQUEST', async () => {
      const error = assertErrorAnswer(await rawExchange(port, get('/api/v1/gpus/%/telemetry')), 400, 'BAD_REQUEST', 'a bare %');
      assert.match(error.message, /%25/);
    });

    it('answers a body over the limit with 413 PAYLOAD_TOO_LARGE', async () => {
      const body = JSON.stringify({ pad: 'x'.repeat(BODY_LIMIT) });
      const request = `POST /test/body HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`;
      const error = assertErrorAnswer(await rawExchange(port, request), 413, 'PAYLOAD_TOO_LARGE', 'a body over the limit');
      assert.match(error.message, new RegExp(`${BODY_LIMIT}-byte`));
    });

    it('answers a chunked body that grows over the limit with 413 PAYLOAD_TOO_LARGE', async () => {
      const chunk = 'x'.repeat(BODY_LIMIT + 10);
      const request = `POST /test/body HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n${chunk.length.toString(16)}\r\n${chunk}\r\n0\r\n\r\n`;
      assertErrorAnswer(await rawExchange(port, request), 413, 'PAYLOAD_TOO_LARGE', 'a chunked body over the limit');
    });

    it('answers a body of a type no parser takes with 415 UNSUPPORTED_MEDIA_TYPE', async () => {
      const request = 'POST /test/body HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\ncontent-type: application/x-nope\r\ncontent-length: 2\r\n\r\nhi';
      const error = assertErrorAnswer(await rawExchange(port, request), 415, 'UNSUPPORTED_MEDIA_TYPE', 'an unknown content-type');
      assert.match(error.message, /application\/x-nope/);
    });

    it('answers a body that is not JSON with 400 BAD_REQUEST', async () => {
      const request = 'POST /test/body HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: 3\r\n\r\n{x}';
      assertErrorAnswer(await rawExchange(port, request), 400, 'BAD_REQUEST', 'a body that is not JSON');
    });

    it('answers an unknown path with 404 NOT_FOUND, whatever the method', async () => {
      assertErrorAnswer(await rawExchange(port, get('/api/v1/nothing')), 404, 'NOT_FOUND', 'GET of an unknown path');
      assertErrorAnswer(await rawExchange(port, 'DELETE /api/v1/nothing HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n'), 404, 'NOT_FOUND', 'DELETE of an unknown path');
    });

    it('answers a known path with a method it does not take with 405 METHOD_NOT_ALLOWED and Allow', async () => {
      for (const [method, path, allow] of [
        ['DELETE', '/api/v1/gpus', 'GET, HEAD'],
        ['POST', '/api/v1/stats', 'GET, HEAD'],
        ['PUT', '/api/v1/gpus/GPU-x/telemetry?limit=5', 'GET, HEAD'],
        ['PATCH', '/api/v1/hosts/node-1/latest', 'GET, HEAD'],
        ['GET', '/test/body', 'POST'],
      ] as const) {
        const response = await rawExchange(port, `${method} ${path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
        const error = assertErrorAnswer(response, 405, 'METHOD_NOT_ALLOWED', `${method} ${path}`);
        assert.equal(response.headers.allow, allow, `${method} ${path}`);
        assert.match(error.message, new RegExp(method));
      }
    });

    it('still answers HEAD on a GET route', async () => {
      const response = await rawExchange(port, 'HEAD /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
      assert.equal(response.status, 200);
    });
  });

  describe('errors thrown or sent by routes and hooks', () => {
    it('keeps the code of each status: 401, 403, 429, 503', async () => {
      for (const [status, code] of [
        [401, 'UNAUTHORIZED'],
        [403, 'FORBIDDEN'],
        [429, 'RATE_LIMITED'],
        [503, 'KV_UNAVAILABLE'],
      ] as const) {
        const error = assertErrorAnswer(await rawExchange(port, get(`/test/status/${status}`)), status, code, `status ${status}`);
        assert.doesNotMatch(error.message, /statusCode/);
      }
    });

    it('answers an unexpected error 500 INTERNAL without its text', async () => {
      const error = assertErrorAnswer(await rawExchange(port, get('/test/status/500')), 500, 'INTERNAL', 'a bug');
      assert.doesNotMatch(error.message, /bug/);
    });

    it('keeps the client\'s x-request-id on an error answer', async () => {
      const response = await rawExchange(port, get('/api/v1/nothing', 'x-request-id: trace-77\r\n'));
      assert.equal(response.headers['x-request-id'], 'trace-77');
    });
  });
});
