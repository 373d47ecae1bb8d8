/**
 * API keys with roles (docs/security.md), through a real gateway on
 * 127.0.0.1: who may call what over REST, /metrics, the doc pages and the
 * WebSocket upgrades; the keys file's format and errors; protected mode and
 * `gputel keys create` through the real binary.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import { pino } from 'pino';
import { gatewaySecurityOf } from '../../src/cli/gateway-security-options.js';
import { loadConfig } from '../../src/common/config.js';
import { GputelError } from '../../src/common/gputel-error.js';
import { ApiKeyRing, createApiKey, hashApiKey } from '../../src/gateway/security/api-key-ring.js';
import { assertProtectedMode, isLoopbackHost } from '../../src/gateway/security/protected-mode.js';
import { EXIT } from '../../src/cli/exit-codes.js';
import { runGputel } from '../support/gputel-process.js';
import { startSecuredGateway, type SecuredGateway } from '../support/security-fixtures.js';

const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/dcgm-export-sample.csv', import.meta.url));
type ErrorBody = { error: { code: string; message: string } };

const reader = createApiKey('read', 'dashboards');
const ingester = createApiKey('ingest', 'pusher');
const admin = createApiKey('admin', 'ops');
const KEY_LINES = `# test keys\n${reader.line}\n\n${ingester.line}\n${admin.line}\n`;

async function call(url: string, headers: Record<string, string | undefined> = {}): Promise<{ status: number; body: unknown; headers: Headers }> {
  const response = await fetch(url, { headers: Object.fromEntries(Object.entries(headers).filter((entry): entry is [string, string] => entry[1] !== undefined)) });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON (a page, metrics text)
  }
  return { status: response.status, body, headers: response.headers };
}

/** Resolves with the HTTP status a WebSocket upgrade got: 101 when it opened, else the refusal's status. */
function upgradeStatus(url: string, headers: Record<string, string> = {}, protocol?: string | string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, protocol, { headers });
    socket.once('open', () => {
      socket.close();
      resolve(101);
    });
    socket.once('unexpected-response', (_request, response) => {
      resolve(response.statusCode ?? 0);
      response.resume();
      socket.terminate();
    });
    socket.once('error', (error) => reject(error));
  });
}

/**
 * The routes of Fastify's `printRoutes({ commonPrefix: false })` tree: each
 * line is a path segment, indented 4 characters per level under its parent,
 * and its methods, e.g. `│   ├── /:id/telemetry (GET, HEAD)`; the segments
 * of a line's parents and its own make its path.
 */
function routesOf(tree: string): { path: string; methods: string[] }[] {
  const routes: { path: string; methods: string[] }[] = [];
  const parents: string[] = [];
  for (const line of tree.split('\n')) {
    // The segment starts after "├── " at 4 characters per level, the root's "└── " included.
    const start = line.search(/[^│ ├└─]/);
    const match = /^(.*?)(?: \(([A-Z, ]+)\))?$/.exec(line.slice(start));
    if (start < 0 || !match) continue;
    const depth = Math.floor(start / 4) - 1;
    const path = (depth === 0 ? '' : parents[depth - 1]) + match[1];
    parents[depth] = path;
    parents.length = depth + 1;
    if (match[2] !== undefined) routes.push({ path, methods: match[2].split(',').map((m) => m.trim()) });
  }
  return routes;
}

describe('API keys file', () => {
  it('reads NAME:ROLE:sha256:HASH lines with comments and blank lines, and identifies each key', () => {
    const ring = ApiKeyRing.parse([{ what: 'keys', text: KEY_LINES }]);
    assert.equal(ring.size, 3);
    assert.deepEqual(ring.identify(reader.key), { name: 'dashboards', role: 'read' });
    assert.deepEqual(ring.identify(admin.key), { name: 'ops', role: 'admin' });
    assert.equal(ring.identify(`${reader.key}x`), undefined);
    assert.equal(ring.identify(''), undefined);
  });

  it('stores only the hash: the line holds the SHA-256 of the key, never the key', () => {
    assert.match(reader.key, /^gputel_[A-Za-z0-9_-]{43}$/);
    assert.equal(reader.line, `dashboards:read:sha256:${hashApiKey(reader.key).toString('hex')}`);
    assert.ok(!reader.line.includes(reader.key.slice(7)));
  });

  it('refuses a bad line naming where it is and what is wrong', () => {
    const cases: [string, RegExp][] = [
      ['ok:read:sha256:abc', /keys line 1: the hash of key "ok" must be 64 lowercase hex digits/],
      [`x:reader:sha256:${'a'.repeat(64)}`, /keys line 1: role "reader" of key "x" is not one of read, ingest, admin/],
      [`x:read:md5:${'a'.repeat(64)}`, /keys line 1: hash algorithm "md5"/],
      ['just-a-name', /keys line 1 is not NAME:ROLE:sha256:HASH/],
      [`# c\n${reader.line}\n${reader.line.replace('dashboards', 'again')}`, /keys line 3: this hash is already listed at keys line 2/],
      [`${reader.line}\n${admin.line.replace('ops', 'dashboards')}`, /keys line 2: key name "dashboards" is already used at keys line 1/],
      [`x:read:sha256:${reader.key}`, /lists the key itself, not its hash/],
    ];
    for (const [text, message] of cases) {
      assert.throws(() => ApiKeyRing.parse([{ what: 'keys', text }]), (error: unknown) => error instanceof GputelError && error.code === 'BAD_CONFIG' && message.test(error.message), text);
    }
  });

  it('loads a file and inline lines (";"-separated) together, and names a file it cannot read', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gputel-keys-'));
    try {
      writeFileSync(join(dir, 'keys'), `${reader.line}\n`);
      const ring = ApiKeyRing.load({ file: join(dir, 'keys'), inline: `${ingester.line};${admin.line}` });
      assert.deepEqual(ring.describe().map((key) => key.name), ['dashboards', 'pusher', 'ops']);
      assert.throws(() => ApiKeyRing.load({ file: join(dir, 'missing') }), /API keys file .*missing cannot be read/);
      writeFileSync(join(dir, 'empty'), '# nothing yet\n');
      assert.throws(() => ApiKeyRing.load({ file: join(dir, 'empty') }), /hold no key/);
      assert.equal(ApiKeyRing.load({}).size, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('access by role, through a gateway on 127.0.0.1', () => {
  let served: SecuredGateway;
  let base: string;
  const logLines: Record<string, unknown>[] = [];
  before(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n')) if (line !== '') logLines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    served = await startSecuredGateway({ keys: ApiKeyRing.parse([{ what: 'keys', text: KEY_LINES }]) }, { logger: pino({ level: 'debug' }, sink) });
    base = served.baseUrl;
  });
  after(() => served?.stop());

  it('answers 401 with WWW-Authenticate and the error shape when no key is sent', async () => {
    for (const path of ['/api/v1/gpus', '/api/v1/stats', '/metrics', '/api/v1/no-such-route']) {
      const { status, body, headers } = await call(`${base}${path}`);
      assert.equal(status, 401, path);
      assert.equal((body as ErrorBody).error.code, 'UNAUTHORIZED', path);
      assert.match((body as ErrorBody).error.message, /Authorization: Bearer KEY.*X-API-Key/, path);
      assert.match(headers.get('www-authenticate') ?? '', /^Bearer/, path);
    }
  });

  it('answers 401 for an unknown key, in either header', async () => {
    for (const headers of [{ authorization: 'Bearer gputel_not-a-key' }, { 'x-api-key': 'gputel_not-a-key' }, { authorization: `Basic ${reader.key}` }]) {
      const { status, body } = await call(`${base}/api/v1/gpus`, headers);
      assert.equal(status, 401, JSON.stringify(headers));
      assert.equal((body as ErrorBody).error.code, 'UNAUTHORIZED');
    }
  });

  it('lets a read key call the API and /metrics, sent as a Bearer token or X-API-Key', async () => {
    for (const headers of [{ authorization: `Bearer ${reader.key}` }, { authorization: `bearer ${reader.key}` }, { 'x-api-key': reader.key }]) {
      assert.equal((await call(`${base}/api/v1/gpus`, headers)).status, 200, JSON.stringify(headers));
      assert.equal((await call(`${base}/api/v1/stats`, headers)).status, 200);
      assert.equal((await call(`${base}/metrics`, headers)).status, 200);
    }
  });

  it('refuses an ingest key everything that reads, with 403 naming the role needed', async () => {
    for (const path of ['/api/v1/gpus', '/api/v1/hosts', '/metrics']) {
      const { status, body } = await call(`${base}${path}`, { 'x-api-key': ingester.key });
      assert.equal(status, 403, path);
      assert.equal((body as ErrorBody).error.code, 'FORBIDDEN');
      assert.match((body as ErrorBody).error.message, /API key "pusher" has role ingest; GET .* needs role read \(or admin\)/);
    }
  });

  it('lets an admin key call everything a read key can', async () => {
    for (const path of ['/api/v1/gpus', '/api/v1/hosts', '/metrics']) assert.equal((await call(`${base}${path}`, { 'x-api-key': admin.key })).status, 200, path);
  });

  it('covers every route the gateway serves, whoever registered it: 401 without a key, 403 with ingest, not refused with read', async () => {
    const routes = routesOf(served.gateway.app.printRoutes({ commonPrefix: false }));
    assert.ok(routes.length >= 10, `the route list was read (${routes.length} routes)`);
    // The probes, the dashboard (and its icon), and the API's description with the pages that render it (no fleet data in any).
    const open = new Set(['/', '/favicon.ico', '/healthz', '/readyz', '/openapi.json', '/graphiql']);
    const isOpen = (path: string): boolean => open.has(path) || path === '/docs' || path.startsWith('/docs/') || path.startsWith('/graphiql/') || path.startsWith('/assets/');
    for (const { path, methods } of routes) {
      const url = `${base}${path.replace(/:[^/]+/g, 'x').replace(/\*/g, 'x')}`;
      for (const method of methods.filter((m) => m !== 'HEAD' && m !== 'OPTIONS')) {
        const send = (headers: Record<string, string>): Promise<number> =>
          fetch(url, { method, headers: { 'content-type': 'application/json', ...headers }, body: method === 'GET' ? undefined : '{}' }).then((r) => r.status);
        if (isOpen(path)) {
          assert.ok(![401, 403].includes(await send({})), `${method} ${path} is open`);
          continue;
        }
        assert.equal(await send({}), 401, `${method} ${path} without a key`);
        assert.equal(await send({ 'x-api-key': ingester.key }), 403, `${method} ${path} with an ingest key`);
        assert.ok(![401, 403].includes(await send({ 'x-api-key': reader.key })), `${method} ${path} with a read key`);
      }
    }
  });

  it('keeps the probes and the dashboard page open (test/gateway/dashboard.test.ts checks its files with keys on)', async () => {
    for (const path of ['/healthz', '/readyz']) assert.equal((await call(`${base}${path}`)).status, 200, path);
    // 200 once `npm run build` built the dashboard, 503 (a page saying so) after tsc alone: open either way.
    assert.ok(![401, 403].includes((await call(`${base}/`)).status), '/ is open');
  });

  it('refuses a WebSocket upgrade to /ws and /graphql without a key (401) or with an ingest key (403), and opens it with a read key', async () => {
    const ws = base.replace(/^http/, 'ws');
    for (const [path, protocol] of [['/ws', undefined], ['/graphql', 'graphql-transport-ws']] as const) {
      assert.equal(await upgradeStatus(`${ws}${path}`, {}, protocol), 401, path);
      assert.equal(await upgradeStatus(`${ws}${path}`, { 'x-api-key': 'gputel_unknown' }, protocol), 401, path);
      assert.equal(await upgradeStatus(`${ws}${path}`, { 'x-api-key': ingester.key }, protocol), 403, path);
      assert.equal(await upgradeStatus(`${ws}${path}`, { authorization: `Bearer ${reader.key}` }, protocol), 101, path);
    }
  });

  it('takes the key of a browser WebSocket from the subprotocol gputel-key.KEY, and the server picks the real protocol', async () => {
    const ws = base.replace(/^http/, 'ws');
    const offered = (key: string): string[] => ['graphql-transport-ws', `gputel-key.${key}`];
    assert.equal(await upgradeStatus(`${ws}/graphql`, {}, offered(reader.key)), 101);
    assert.equal(await upgradeStatus(`${ws}/graphql`, {}, offered(ingester.key)), 403);
    assert.equal(await upgradeStatus(`${ws}/graphql`, {}, offered('gputel_unknown')), 401);
    const chosen = await new Promise<string>((resolve, reject) => {
      const socket = new WebSocket(`${ws}/ws`, ['gputel', `gputel-key.${reader.key}`]);
      socket.once('open', () => {
        resolve(socket.protocol);
        socket.close();
      });
      socket.once('error', reject);
    });
    assert.equal(chosen, 'gputel', 'the key is never echoed back as the chosen protocol');
    // Offered alone, the key is still taken, and no protocol is answered: not the key.
    const answered = await new Promise<string | undefined>((resolve, reject) => {
      const socket = new WebSocket(`${ws}/ws`, { headers: { 'sec-websocket-protocol': `gputel-key.${reader.key}` } });
      socket.once('upgrade', (response) => resolve(response.headers['sec-websocket-protocol']));
      socket.once('open', () => socket.close());
      socket.once('error', reject);
    });
    assert.equal(answered, undefined);
  });

  it('refuses a WebSocket opened by a page of another site (Origin), and takes one from its own pages', async () => {
    const ws = base.replace(/^http/, 'ws');
    const key = { 'x-api-key': reader.key };
    assert.equal(await upgradeStatus(`${ws}/ws`, { ...key, origin: 'https://evil.example' }), 403);
    assert.equal(await upgradeStatus(`${ws}/graphql`, { ...key, origin: 'https://evil.example' }, 'graphql-transport-ws'), 403);
    assert.equal(await upgradeStatus(`${ws}/ws`, { ...key, origin: base }), 101);
    assert.equal(await upgradeStatus(`${ws}/ws`, key), 101, 'clients that are not browsers send no Origin');
  });

  it('puts the request id in the response and in every log line of the request, with the key name but never the key', async () => {
    const { headers } = await call(`${base}/api/v1/no-such-route`, { 'x-api-key': reader.key });
    const id = headers.get('x-request-id');
    assert.ok(id);
    const lines = logLines.filter((line) => line.reqId === id);
    assert.ok(lines.length >= 1, 'the request logged at least its debug line');
    for (const line of lines) assert.equal(line.apiKey, 'dashboards');
    assert.ok(!JSON.stringify(logLines).includes(reader.key), 'no log line holds a key');
  });

  it("keeps a client's X-Request-Id that is a plain token, and replaces one that is not", async () => {
    assert.equal((await call(`${base}/healthz`, { 'x-request-id': 'trace-42.a:b' })).headers.get('x-request-id'), 'trace-42.a:b');
    for (const bad of ['has space', 'x'.repeat(129), '{"forged":1}']) {
      assert.match((await call(`${base}/healthz`, { 'x-request-id': bad })).headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/, bad);
    }
  });
});

describe('protected mode', () => {
  it('treats only loopback addresses as loopback', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost']) assert.ok(isLoopbackHost(host), host);
    for (const host of ['0.0.0.0', '::', '10.0.0.5', 'gpu-gw.example.com', '128.0.0.1']) assert.ok(!isLoopbackHost(host), host);
  });

  it('refuses no keys on a non-loopback address unless insecure, saying why and the ways out', () => {
    assert.throws(() => assertProtectedMode({ host: '0.0.0.0', keyCount: 0, insecure: false }), /refusing to serve the API on 0\.0\.0\.0 without API keys.*--api-keys-file.*--host 127\.0\.0\.1/s);
    assertProtectedMode({ host: '0.0.0.0', keyCount: 0, insecure: true });
    assertProtectedMode({ host: '0.0.0.0', keyCount: 1, insecure: false });
    assertProtectedMode({ host: '127.0.0.1', keyCount: 0, insecure: false });
  });

  it('counts keys from GPUTEL_API_KEYS, and --insecure, as the ways out', () => {
    const withKeys = gatewaySecurityOf(loadConfig({ flags: { host: '0.0.0.0' }, env: { GPUTEL_API_KEYS: `${reader.line};${admin.line}` } }));
    assert.deepEqual(withKeys.keys?.describe(), [{ name: 'dashboards', role: 'read' }, { name: 'ops', role: 'admin' }]);
    assert.equal(gatewaySecurityOf(loadConfig({ flags: { host: '0.0.0.0', insecure: true }, env: {} })).keys?.size, 0);
    assert.throws(() => gatewaySecurityOf(loadConfig({ flags: { host: '0.0.0.0' }, env: {} })), /refusing to serve the API on 0\.0\.0\.0/);
  });

  it('stops the real gputel gateway and gputel start on 0.0.0.0 without keys, before opening anything', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gputel-protected-'));
    try {
      // Port 9 of 127.0.0.1 answers nothing: the refusal must come before any connection to etcd.
      for (const args of [['gateway', '--etcd', 'http://127.0.0.1:9', '--host', '0.0.0.0', '--port', '0'], ['start', '--host', '0.0.0.0', '--port', '0', '--data-dir', join(dir, 'data')]]) {
        const refused = runGputel(args);
        assert.equal(await refused.exited, EXIT.CONFIG, args.join(' '));
        assert.match(refused.stderr(), /refusing to serve the API on 0\.0\.0\.0 without API keys/);
        assert.match(refused.stderr(), /gputel keys create --role read/);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('gputel keys and --api-keys-file, through the real binary', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'gputel-keys-cli-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('creates a key, prints it once with its line; a gputel start given that line serves it (and only it), and reloads the file on SIGHUP', async () => {
    const create = runGputel(['keys', 'create', '--role', 'read', '--name', 'grafana']);
    assert.equal(await create.exited, 0);
    const made = JSON.parse(create.stdout()) as { key: string; line: string };
    assert.deepEqual(Object.keys(made), ['key', 'line']);
    assert.match(made.line, /^grafana:read:sha256:[0-9a-f]{64}$/);
    writeFileSync(join(dir, 'keys'), `# gateway keys\n${made.line}\n`, { mode: 0o600 });
    const gputel = runGputel(['start', '--file', FIXTURE, '--host', '127.0.0.1', '--port', '0', '--data-dir', join(dir, 'data'), '--api-keys-file', join(dir, 'keys')]);
    try {
      const [, port] = await gputel.waitForOutput(/http:\/\/localhost:(\d+)/);
      const gpus = `http://127.0.0.1:${port}/api/v1/gpus`;
      assert.equal((await call(gpus)).status, 401);
      assert.equal((await call(gpus, { authorization: `Bearer ${made.key}` })).status, 200);
      // SIGHUP reloads the file: the replaced key is revoked, the new one works, without a restart.
      writeFileSync(join(dir, 'keys'), `${reader.line}\n`, { mode: 0o600 });
      gputel.child.kill('SIGHUP');
      let status = 0;
      for (let i = 0; i < 100 && status !== 401; i++) {
        status = (await call(gpus, { authorization: `Bearer ${made.key}` })).status;
        if (status !== 401) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.equal(status, 401, 'the removed key is refused after SIGHUP');
      assert.equal((await call(gpus, { 'x-api-key': reader.key })).status, 200);
      assert.equal(gputel.child.exitCode, null, 'SIGHUP does not stop gputel');
    } finally {
      await gputel.stop();
    }
  });

  it('refuses a bad role, and a start whose keys file has a bad line, naming the file and line', async () => {
    const badRole = runGputel(['keys', 'create', '--role', 'writer']);
    assert.equal(await badRole.exited, EXIT.USAGE);
    assert.match(badRole.stderr(), /role "writer" is not one of read, ingest, admin/);
    const file = join(dir, 'bad-keys');
    writeFileSync(file, `${reader.line}\noops:read:sha256:1234\n`);
    const refused = runGputel(['start', '--host', '127.0.0.1', '--port', '0', '--data-dir', join(dir, 'data2'), '--api-keys-file', file]);
    assert.equal(await refused.exited, EXIT.CONFIG);
    assert.match(refused.stderr(), new RegExp(`API keys file ${file} line 2: the hash of key "oops"`));
  });
});
