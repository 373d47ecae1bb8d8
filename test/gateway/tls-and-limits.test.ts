/**
 * HTTPS and WSS with a certificate made in the test, rate limits (429 with
 * Retry-After), the CORS allow-list, security headers and the request size
 * limits (docs/security.md), through real gateways on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import { loadConfig } from '../../src/common/config.js';
import { GputelError } from '../../src/common/gputel-error.js';
import { createLogger } from '../../src/common/logger.js';
import { Gateway } from '../../src/gateway/gateway.js';
import { ApiKeyRing, createApiKey } from '../../src/gateway/security/api-key-ring.js';
import { REQUEST_LIMITS } from '../../src/gateway/security/gateway-security.js';
import { KeySpace } from '../../src/kv/key-space.js';
import { openKvStore } from '../../src/kv/open-kv-store.js';
import { runGputel } from '../support/gputel-process.js';
import { makeTestCertificates, opensslMissing, startSecuredGateway, type SecuredGateway, type TestCertificates } from '../support/security-fixtures.js';

const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/dcgm-export-sample.csv', import.meta.url));
const reader = createApiKey('read', 'dashboards');
const other = createApiKey('read', 'grafana');
const keys = (): ApiKeyRing => ApiKeyRing.parse([{ what: 'keys', text: `${reader.line}\n${other.line}` }]);
type Answer = { status: number; headers: IncomingHttpHeaders; body: string };
type ErrorBody = { error: { code: string; message: string } };

/** One request with node:http(s) (fetch cannot be given a CA, nor send a body or headers this large on purpose). */
function send(url: string, options: { method?: string; headers?: Record<string, string>; body?: Buffer; ca?: Buffer } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = (url.startsWith('https:') ? httpsRequest : httpRequest)(url, { method: options.method ?? 'GET', headers: options.headers, ca: options.ca }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString() }));
    });
    request.on('error', reject);
    request.end(options.body);
  });
}

/**
 * Writes `text` on a new connection and resolves with all that comes back
 * until the server closes it (a refused oversized request: an HTTP client
 * would still be writing and see only "socket hang up").
 */
function rawExchange(port: string, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => socket.end(text));
    let answer = '';
    socket.on('data', (data: Buffer) => (answer += data.toString()));
    socket.on('close', () => resolve(answer));
    // The server may close before reading everything: what it answered is still the result.
    socket.on('error', (error: NodeJS.ErrnoException) => (error.code === 'ECONNRESET' || error.code === 'EPIPE' ? undefined : reject(error)));
  });
}

function errorOf(answer: Answer): ErrorBody['error'] {
  return (JSON.parse(answer.body) as ErrorBody).error;
}

describe('HTTPS and WSS', { skip: opensslMissing() }, () => {
  let dir: string;
  let certs: TestCertificates;
  let ca: Buffer;
  let served: SecuredGateway;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gputel-tls-'));
    certs = makeTestCertificates(dir);
    ca = readFileSync(certs.caFile);
    served = await startSecuredGateway({ keys: keys(), tls: { certFile: certs.certFile, keyFile: certs.keyFile } });
  });
  after(async () => {
    await served?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the API over HTTPS with the given certificate, and HSTS with it', async () => {
    assert.match(served.baseUrl, /^https:/);
    const answer = await send(`${served.baseUrl}/api/v1/gpus`, { ca, headers: { authorization: `Bearer ${reader.key}` } });
    assert.equal(answer.status, 200);
    assert.match(String(answer.headers['strict-transport-security']), /max-age=\d+/);
    assert.match(String(answer.headers['content-security-policy']), /upgrade-insecure-requests/);
    // A client that does not trust the CA is refused in the handshake.
    await assert.rejects(send(`${served.baseUrl}/healthz`), /self[- ]signed|unable to verify/);
  });

  it('accepts WSS upgrades with a key and refuses them without (401)', async () => {
    const wss = served.baseUrl.replace(/^https/, 'wss');
    const opened = await new Promise<number>((resolve, reject) => {
      const socket = new WebSocket(`${wss}/ws`, { ca, headers: { 'x-api-key': reader.key } });
      socket.once('open', () => {
        socket.send(JSON.stringify({ type: 'subscribe', id: 'through-tls' }));
      });
      socket.once('message', (data: Buffer) => {
        assert.deepEqual(JSON.parse(data.toString()), { type: 'subscribed', id: 'through-tls' });
        socket.close();
        resolve(101);
      });
      socket.once('error', reject);
    });
    assert.equal(opened, 101);
    const refused = await new Promise<number>((resolve, reject) => {
      const socket = new WebSocket(`${wss}/ws`, { ca });
      // terminate() below makes the client emit an error; the status is what is checked.
      socket.on('error', () => undefined);
      socket.once('unexpected-response', (_request, response) => {
        response.resume();
        socket.terminate();
        resolve(response.statusCode ?? 0);
      });
      socket.once('open', () => reject(new Error('opened without a key')));
    });
    assert.equal(refused, 401);
  });

  it('refuses a missing, non-PEM or mismatched certificate or key with BAD_CONFIG naming the files', async () => {
    const kv = await openKvStore({ dataDir: ':memory:' });
    try {
      writeFileSync(join(dir, 'not-pem.crt'), 'not a certificate');
      const attempts: [{ certFile: string; keyFile: string }, RegExp][] = [
        [{ certFile: join(dir, 'missing.crt'), keyFile: certs.keyFile }, /--tls-cert .*missing\.crt cannot be read/],
        [{ certFile: join(dir, 'not-pem.crt'), keyFile: certs.keyFile }, /--tls-cert .*not-pem\.crt is not a PEM file/],
        [{ certFile: certs.certFile, keyFile: certs.otherKeyFile }, /--tls-cert .*server\.crt and --tls-key .*other\.key cannot serve TLS/],
      ];
      for (const [tls, message] of attempts) {
        assert.throws(
          () => new Gateway(kv, new KeySpace('/gputel'), { cluster: 'default', host: '127.0.0.1', port: 0, logger: createLogger('silent'), security: { tls } }),
          (error: unknown) => error instanceof GputelError && error.code === 'BAD_CONFIG' && message.test(error.message),
        );
      }
    } finally {
      await kv.close();
    }
  });

  it('serves gputel start over HTTPS with --tls-cert and --tls-key', async () => {
    const gputel = runGputel(['start', '--file', FIXTURE, '--host', '127.0.0.1', '--port', '0', '--data-dir', join(dir, 'data'), '--tls-cert', certs.certFile, '--tls-key', certs.keyFile]);
    try {
      const [, port] = await gputel.waitForOutput(/https:\/\/localhost:(\d+)/);
      assert.equal((await send(`https://127.0.0.1:${port}/healthz`, { ca })).status, 200);
    } finally {
      await gputel.stop();
    }
  });
});

describe('rate limits', () => {
  let served: SecuredGateway;
  before(async () => {
    served = await startSecuredGateway({ keys: keys(), rateLimit: { max: 3, windowMs: 60_000 } });
  });
  after(() => served?.stop());

  it('answers 429 with Retry-After and the error shape once a key used its requests, per key', async () => {
    const url = `${served.baseUrl}/api/v1/stats`;
    for (let i = 0; i < 3; i++) assert.equal((await send(url, { headers: { 'x-api-key': reader.key } })).status, 200);
    const limited = await send(url, { headers: { 'x-api-key': reader.key } });
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers['retry-after']) > 0 && Number(limited.headers['retry-after']) <= 60, `Retry-After ${limited.headers['retry-after']}`);
    assert.equal(errorOf(limited).code, 'RATE_LIMITED');
    assert.match(errorOf(limited).message, /3 requests per minute/);
    // Another key has its own budget.
    assert.equal((await send(url, { headers: { 'x-api-key': other.key } })).status, 200);
  });

  it('counts unauthenticated requests per address, so guessing keys is limited too, and never limits the probes', async () => {
    const url = `${served.baseUrl}/api/v1/stats`;
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await send(url, { headers: { 'x-api-key': `gputel_guess-${i}` } })).status);
    assert.deepEqual(statuses, [401, 401, 401, 429]);
    for (let i = 0; i < 5; i++) assert.equal((await send(`${served.baseUrl}/healthz`)).status, 200);
    // Nor the files of gputel's own pages: one page load is several of them.
    for (let i = 0; i < 5; i++) assert.notEqual((await send(`${served.baseUrl}/`)).status, 429);
    for (let i = 0; i < 5; i++) assert.notEqual((await send(`${served.baseUrl}/assets/index.js`)).status, 429);
    for (let i = 0; i < 5; i++) assert.notEqual((await send(`${served.baseUrl}/graphiql/assets/graphiql.min.css`)).status, 429);
  });
});

describe('CORS, security headers and size limits', () => {
  const ALLOWED = 'https://grafana.example.com';
  let served: SecuredGateway;
  before(async () => {
    served = await startSecuredGateway(
      { keys: keys(), corsOrigins: [ALLOWED] },
      // A body-accepting route of the test (the gateway's own POST routes come with GraphQL).
      { routes: (app) => app.post('/test-body', async (request) => ({ bytes: JSON.stringify(request.body).length })) },
    );
  });
  after(() => served?.stop());

  it('allows a listed origin, with the key headers allowed and the request id exposed', async () => {
    const answer = await send(`${served.baseUrl}/api/v1/stats`, { headers: { origin: ALLOWED, 'x-api-key': reader.key } });
    assert.equal(answer.status, 200);
    assert.equal(answer.headers['access-control-allow-origin'], ALLOWED);
    assert.match(String(answer.headers['access-control-expose-headers']), /X-Request-Id/i);
    const preflight = await send(`${served.baseUrl}/api/v1/stats`, { method: 'OPTIONS', headers: { origin: ALLOWED, 'access-control-request-method': 'GET', 'access-control-request-headers': 'x-api-key' } });
    assert.equal(preflight.status, 204, 'a preflight carries no key and is answered');
    assert.equal(preflight.headers['access-control-allow-origin'], ALLOWED);
    assert.match(String(preflight.headers['access-control-allow-headers']), /X-API-Key/i);
    // A refusal still carries the CORS headers, so the page can read why.
    assert.equal((await send(`${served.baseUrl}/api/v1/stats`, { headers: { origin: ALLOWED } })).headers['access-control-allow-origin'], ALLOWED);
  });

  it('gives an origin not on the list no CORS headers (the browser then refuses the page)', async () => {
    const answer = await send(`${served.baseUrl}/api/v1/stats`, { headers: { origin: 'https://evil.example.net', 'x-api-key': reader.key } });
    assert.equal(answer.headers['access-control-allow-origin'], undefined);
  });

  it('sends the security headers with a CSP that allows only the gateway\'s own scripts, and no HSTS over plain HTTP', async () => {
    const answer = await send(`${served.baseUrl}/`);
    const csp = String(answer.headers['content-security-policy']);
    assert.match(csp, /script-src 'self';/);
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.match(csp, /object-src 'none'/);
    assert.doesNotMatch(csp, /upgrade-insecure-requests/);
    assert.equal(answer.headers['x-content-type-options'], 'nosniff');
    assert.equal(answer.headers['strict-transport-security'], undefined);
    assert.match(String(answer.headers['x-request-id']), /^[0-9a-f-]{36}$/);
  });

  it('refuses a URL over the limit with 414 URI_TOO_LONG, a path parameter over it with 400, headers over it with 431, a body over it with 413', async () => {
    const longUrl = await send(`${served.baseUrl}/api/v1/gpus?hostname=${'h'.repeat(REQUEST_LIMITS.urlChars)}`, { headers: { 'x-api-key': reader.key } });
    assert.equal(longUrl.status, 414, 'long URL');
    assert.equal(errorOf(longUrl).code, 'URI_TOO_LONG');
    assert.ok(longUrl.headers['content-security-policy'], 'the refusal carries the security headers');
    const longHost = await send(`${served.baseUrl}/api/v1/hosts/${'h'.repeat(253)}/gpus`, { headers: { 'x-api-key': reader.key } });
    assert.equal(longHost.status, 404, 'a 253-character hostname is looked up (and not found)');
    const tooLongParam = await send(`${served.baseUrl}/api/v1/hosts/${'h'.repeat(REQUEST_LIMITS.paramChars + 1)}/gpus`, { headers: { 'x-api-key': reader.key } });
    assert.equal(tooLongParam.status, 414);
    assert.equal(errorOf(tooLongParam).code, 'URI_TOO_LONG');
    const { port } = new URL(served.baseUrl);
    const bigHeaders = await rawExchange(port, `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ${'p'.repeat(REQUEST_LIMITS.headerBytes)}\r\nConnection: close\r\n\r\n`);
    assert.match(bigHeaders, /^HTTP\/1\.1 431 /, 'big headers');
    const post = (body: string): string =>
      `POST /test-body HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: ${reader.key}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
    assert.match(await rawExchange(port, post(JSON.stringify({ a: 'x'.repeat(1000) }))), /^HTTP\/1\.1 200 /);
    const big = await rawExchange(port, post(JSON.stringify({ a: 'x'.repeat(REQUEST_LIMITS.bodyBytes) })));
    assert.match(big, /^HTTP\/1\.1 413 /, 'big body');
    assert.match(big, /\{"error":\{"code":"[A-Z_]+","message":"[^"]+"\}\}$/);
  });
});

describe('security settings', () => {
  it('reads --rate-limit as requests per window, 0 as off, and refuses what is not a rate', () => {
    assert.deepEqual(loadConfig({ env: {} }).rateLimit, { max: 6_000, windowMs: 60_000 });
    assert.deepEqual(loadConfig({ flags: { rateLimit: '20/s' }, env: {} }).rateLimit, { max: 20, windowMs: 1_000 });
    assert.deepEqual(loadConfig({ env: { GPUTEL_RATE_LIMIT: '600' } }).rateLimit, { max: 600, windowMs: 60_000 });
    assert.equal(loadConfig({ flags: { rateLimit: '0' }, env: {} }).rateLimit.max, 0);
    assert.throws(() => loadConfig({ flags: { rateLimit: 'fast' }, env: {} }), /--rate-limit = "fast": must be requests per window such as 600\/min/);
  });

  it('reads --cors-origins as a list of origins and refuses a path or a wildcard', () => {
    assert.deepEqual(loadConfig({ flags: { corsOrigins: 'https://a.example.com, http://127.0.0.1:3000' }, env: {} }).corsOrigins, ['https://a.example.com', 'http://127.0.0.1:3000']);
    assert.throws(() => loadConfig({ flags: { corsOrigins: '*' }, env: {} }), /--cors-origins = "\*": "\*" is not an origin/);
    assert.throws(() => loadConfig({ flags: { corsOrigins: 'https://a.example.com/app' }, env: {} }), /not an origin/);
  });

  it('wants a certificate with its key and a user with a password', () => {
    assert.throws(() => loadConfig({ flags: { tlsCert: '/c.pem' }, env: {} }), /--tls-cert and --tls-key go together/);
    assert.throws(() => loadConfig({ flags: { etcdCert: '/c.pem' }, env: {} }), /--etcd-cert and --etcd-key go together/);
    assert.throws(() => loadConfig({ flags: { etcdUser: 'gputel' }, env: {} }), /--etcd-user and --etcd-password \(or GPUTEL_ETCD_PASSWORD\) go together/);
    assert.equal(loadConfig({ flags: { etcdUser: 'gputel' }, env: { GPUTEL_ETCD_PASSWORD: 'pw' } }).etcdPassword, 'pw');
  });
});
