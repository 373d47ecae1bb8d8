/**
 * Every error answer of the gateway has one shape, `{"error":{"code","message"}}`
 * with content-type application/json and a stable code per status, whatever
 * raised it: Node's HTTP parser (bad method, bad request line, bad bytes in
 * the path, headers too large, the request timeout), Fastify (a body too
 * large or of the wrong type, an undecodable path), the router (404, 405
 * with Allow) or a route. Requests go as raw bytes over node:net, so that
 * nothing on the client side fixes them first.
 *
 * And GPU ids: an id that names several series (the MIG instances of a GPU,
 * a UUID under two hostnames) is 409 AMBIGUOUS_GPU listing the ids that name
 * each alone; every series has such an id, and its records say their MIG
 * instance. On both store drivers.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createLogger } from '../../src/common/logger.js';
import { GputelError } from '../../src/common/gputel-error.js';
import { Gateway } from '../../src/gateway/gateway.js';
import { KeySpace } from '../../src/kv/key-space.js';
import type { KvStore } from '../../src/kv/kv-store.js';
import { openKvStore } from '../../src/kv/open-kv-store.js';
import { fetchAllTelemetry, getJson } from '../support/api-checks.js';
import { useEtcdStore } from '../support/etcd-store.js';
import { startInProcessPipeline, type InProcessPipeline } from '../support/in-process-pipeline.js';

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
      // @fastify/rate-limit sets Retry-After, then throws what its errorResponseBuilder gives (a plain object, if so configured).
      if (status === 429) reply.header('retry-after', '1');
      // eslint-disable-next-line @typescript-eslint/only-throw-error
      if (status === 429) throw { statusCode: 429, error: 'Too Many Requests', message: 'rate limit exceeded, retry in 1 second' };
      if (status === 403) return reply.code(403).send(new Error('the key has role read; this needs admin'));
      if (status === 503) throw new GputelError('KV_UNAVAILABLE', 'etcd at 127.0.0.1:2379 does not answer', { retryable: true });
      throw new Error('a bug whose text the client must not see');
    });
    // A route a plugin declares in its own context (as mercurius and @fastify/swagger-ui do).
    void gateway.app.register(async (plugin) => {
      plugin.post('/test/plugin/:name', async () => ({ ok: true }));
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

    it('takes a GPU id as long as two key segments, and answers a longer path segment 414 URI_TOO_LONG', async () => {
      const longId = `${'h'.repeat(256)}:GPU-${'0'.repeat(250)}:mig1`;
      assertErrorAnswer(await rawExchange(port, get(`/api/v1/gpus/${longId}/latest`)), 404, 'GPU_NOT_FOUND', 'a 513-character id');
      assertErrorAnswer(await rawExchange(port, get(`/api/v1/gpus/${'x'.repeat(3000)}/latest`)), 414, 'URI_TOO_LONG', 'a 3000-character segment');
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
        ['DELETE', '/test/plugin/x', 'POST'],
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
        const response = await rawExchange(port, get(`/test/status/${status}`));
        const error = assertErrorAnswer(response, status, code, `status ${status}`);
        assert.doesNotMatch(error.message, /statusCode/);
        if (status === 429) assert.equal(response.headers['retry-after'], '1', 'headers set before the error stay');
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

const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/dcgm-export-sample.csv', import.meta.url));

interface TestSeries {
  host: string;
  gpu: number;
  uuid: string;
  mig: string;
  /** The id the listing must give it. */
  id: string;
}

/**
 * Series whose plain ids collide in every way: MIG instances of one GPU, one
 * UUID under two hostnames, one MIG instance under two hostnames, and two
 * instances under two hostnames (only hostname:gpuKey names those alone).
 */
const SERIES: TestSeries[] = [
  { host: 'mig-node', gpu: 0, uuid: 'GPU-M', mig: '1', id: 'GPU-M:mig1' },
  { host: 'mig-node', gpu: 0, uuid: 'GPU-M', mig: '2', id: 'GPU-M:mig2' },
  { host: 'node-w', gpu: 1, uuid: 'GPU-W', mig: '', id: 'GPU-W' },
  { host: 'pod-a', gpu: 0, uuid: 'GPU-D', mig: '', id: 'pod-a:0' },
  { host: 'pod-b', gpu: 0, uuid: 'GPU-D', mig: '', id: 'pod-b:0' },
  { host: 'x-a', gpu: 0, uuid: 'GPU-X', mig: '1', id: 'x-a:0' },
  { host: 'x-b', gpu: 0, uuid: 'GPU-X', mig: '1', id: 'x-b:0' },
  { host: 'y-a', gpu: 0, uuid: 'GPU-Y', mig: '1', id: 'y-a:GPU-Y:mig1' },
  { host: 'y-a', gpu: 0, uuid: 'GPU-Y', mig: '2', id: 'y-a:GPU-Y:mig2' },
  { host: 'y-b', gpu: 0, uuid: 'GPU-Y', mig: '1', id: 'y-b:GPU-Y:mig1' },
  { host: 'y-b', gpu: 0, uuid: 'GPU-Y', mig: '2', id: 'y-b:GPU-Y:mig2' },
];
const T0 = Date.parse('2026-03-02T09:15:00Z');
const TIMES = [T0, T0 + 10_000, T0 + 20_000];
/** Values that say whose they are: series index, timestamp index, metric. */
const utilization = (s: number, t: number): number => s * 10 + t;
const temperature = (s: number, t: number): number => 40 + s + t / 10;

/** The series as DCGM CSV rows (the fixture's header), with GPU_I_ID on MIG instances. */
function seriesCsv(): { text: string; samples: number } {
  const header = readFileSync(FIXTURE, 'utf8').split('\n')[0];
  const lines = [header];
  SERIES.forEach((series, s) => {
    const labels = `${series.mig === '' ? '' : `GPU_I_ID="${series.mig}",GPU_I_PROFILE="3g.40gb",`}Hostname="${series.host}",UUID="${series.uuid}"`;
    TIMES.forEach((timeMs, t) => {
      for (const [metric, value] of [['DCGM_FI_DEV_GPU_UTIL', utilization(s, t)], ['DCGM_FI_DEV_GPU_TEMP', temperature(s, t)]] as const) {
        const cells = [new Date(timeMs).toISOString(), metric, String(series.gpu), `nvidia${series.gpu}`, series.uuid, 'NVIDIA A100-SXM4-80GB', series.host, '', '', '', String(value), labels];
        lines.push(cells.map((c) => `"${c.replace(/"/g, '""')}"`).join(','));
      }
    });
  });
  return { text: lines.join('\n') + '\n', samples: lines.length - 1 };
}

type ErrorWithIds = { error: { code: string; message: string; ids?: string[] } };

function identitySuite(driver: string, store: () => KvStore | undefined): void {
  describe(`GPU ids on the ${driver} store`, () => {
    let pipeline: InProcessPipeline;
    let dir: string;
    let samples: number;
    before(async () => {
      pipeline = await startInProcessPipeline({ kv: store() });
      dir = mkdtempSync(join(tmpdir(), 'gputel-api-ids-'));
      const csv = seriesCsv();
      samples = csv.samples;
      writeFileSync(join(dir, 'ids.csv'), csv.text);
      await pipeline.ingest(join(dir, 'ids.csv'));
    });
    after(async () => {
      await pipeline?.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('gives every series an id that names it alone, with its MIG instance', async () => {
      const { body } = await getJson<{ data: { id: string; hostname: string; mig_instance_id: string | null; mig_profile: string | null }[] }>(`${pipeline.baseUrl}/api/v1/gpus`);
      assert.deepEqual(body.data.map((g) => g.id), SERIES.map((s) => s.id));
      assert.deepEqual(body.data.map((g) => g.mig_instance_id), SERIES.map((s) => (s.mig === '' ? null : s.mig)));
      assert.deepEqual(body.data.map((g) => g.mig_profile), SERIES.map((s) => (s.mig === '' ? null : '3g.40gb')));
    });

    it('answers an id that names several series 409 AMBIGUOUS_GPU, listing the id of each', async () => {
      for (const [id, ids] of [
        ['GPU-M', ['GPU-M:mig1', 'GPU-M:mig2']],
        ['mig-node:0', ['GPU-M:mig1', 'GPU-M:mig2']],
        ['GPU-D', ['pod-a:0', 'pod-b:0']],
        ['GPU-X', ['x-a:0', 'x-b:0']],
        ['GPU-X:mig1', ['x-a:0', 'x-b:0']],
        ['GPU-Y', ['y-a:GPU-Y:mig1', 'y-a:GPU-Y:mig2', 'y-b:GPU-Y:mig1', 'y-b:GPU-Y:mig2']],
        ['GPU-Y:mig2', ['y-a:GPU-Y:mig2', 'y-b:GPU-Y:mig2']],
        ['y-a:0', ['y-a:GPU-Y:mig1', 'y-a:GPU-Y:mig2']],
      ] as const) {
        for (const endpoint of ['telemetry', 'latest']) {
          const response = await fetch(`${pipeline.baseUrl}/api/v1/gpus/${encodeURIComponent(id)}/${endpoint}`);
          assert.equal(response.status, 409, `${id} ${endpoint}`);
          assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
          const { error } = (await response.json()) as ErrorWithIds;
          assert.equal(error.code, 'AMBIGUOUS_GPU');
          assert.deepEqual(error.ids, ids, id);
          for (const each of ids) assert.ok(error.message.includes(each), `the message names ${each}: ${error.message}`);
        }
      }
    });

    it('answers an id that names no series 404 GPU_NOT_FOUND', async () => {
      for (const id of ['GPU-M:mig3', 'y-a:GPU-Y:mig3', 'pod-c:0', 'GPU-none']) {
        const { status, body } = await getJson<ErrorWithIds>(`${pipeline.baseUrl}/api/v1/gpus/${encodeURIComponent(id)}/telemetry`);
        assert.equal(status, 404, id);
        assert.equal(body.error.code, 'GPU_NOT_FOUND');
      }
    });

    it('serves each series by its id, every record saying its host and MIG instance, losing no sample', async () => {
      let served = 0;
      for (const [s, series] of SERIES.entries()) {
        const records = await fetchAllTelemetry(pipeline.baseUrl, series.id, 2);
        assert.deepEqual(records.map((r) => Date.parse(r.timestamp)), TIMES, series.id);
        for (const [t, record] of records.entries()) {
          assert.deepEqual([record.uuid, record.hostname, record.mig_instance_id], [series.uuid, series.host, series.mig === '' ? null : series.mig], series.id);
          assert.deepEqual(record.metrics, { DCGM_FI_DEV_GPU_TEMP: temperature(s, t), DCGM_FI_DEV_GPU_UTIL: utilization(s, t) }, `${series.id} at ${record.timestamp}`);
          served += Object.keys(record.metrics).length;
        }
        const latest = await getJson<{ data: Record<string, unknown> }>(`${pipeline.baseUrl}/api/v1/gpus/${encodeURIComponent(series.id)}/latest`);
        assert.equal(latest.status, 200, series.id);
        assert.deepEqual([latest.body.data.timestamp, latest.body.data.mig_instance_id, latest.body.data.gpu_utilization], [new Date(TIMES[2]).toISOString(), series.mig === '' ? null : series.mig, utilization(s, 2)]);
      }
      assert.equal(served, samples, 'samples served = samples streamed');
      assert.equal((await getJson<{ samples: number }>(`${pipeline.baseUrl}/api/v1/stats`)).body.samples, samples);
    });

    it('keeps paging by a cursor in its series, whatever id the next page is asked by', async () => {
      const first = await getJson<{ next_cursor: string }>(`${pipeline.baseUrl}/api/v1/gpus/y-b:GPU-Y:mig2/telemetry?limit=1`);
      // The cursor names y-b's instance 2: asked by the ambiguous UUID, the page goes on there.
      const next = await getJson<{ data: { hostname: string; mig_instance_id: string; timestamp: string }[] }>(`${pipeline.baseUrl}/api/v1/gpus/GPU-Y/telemetry?limit=1&cursor=${first.body.next_cursor}`);
      assert.equal(next.status, 200);
      assert.deepEqual([next.body.data[0].hostname, next.body.data[0].mig_instance_id, next.body.data[0].timestamp], ['y-b', '2', new Date(TIMES[1]).toISOString()]);
      const other = await getJson<ErrorWithIds>(`${pipeline.baseUrl}/api/v1/gpus/GPU-M/telemetry?limit=1&cursor=${first.body.next_cursor}`);
      assert.equal(other.status, 400);
      assert.match(other.body.error.message, /another GPU/);
    });

    it('names MIG instances in host latest values and summaries', async () => {
      const host = await getJson<{ data: { mig_instance_id: string | null }[] }>(`${pipeline.baseUrl}/api/v1/hosts/y-a/latest`);
      assert.deepEqual(host.body.data.map((r) => r.mig_instance_id), ['1', '2']);
      const summary = await getJson<{ temperature: { hottest: Record<string, unknown> } }>(`${pipeline.baseUrl}/api/v1/summary`);
      const hottest = SERIES.length - 1;
      assert.deepEqual(summary.body.temperature.hottest, { id: 'y-b:GPU-Y:mig2', uuid: 'GPU-Y', hostname: 'y-b', gpu_id: 0, mig_instance_id: '2', value: temperature(hottest, 2) });
    });
  });
}

identitySuite('embedded', () => undefined);
describe('on etcd', () => {
  const etcd = useEtcdStore();
  identitySuite('etcd', () => etcd.store);
});
