/**
 * --trust-proxy (docs/security.md): behind a load balancer every client
 * reaches the gateway from the balancer's address, so the per-address rate
 * limit and the logs need the address the balancer forwards. Only
 * X-Forwarded-For sent by a trusted address is believed. Through real
 * gateways on 127.0.0.1, where the test itself plays the balancer (or a
 * client that is not one): every request comes from 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { EXIT } from '../../src/cli/exit-codes.js';
import { loadConfig } from '../../src/common/config.js';
import { GputelError } from '../../src/common/gputel-error.js';
import { createLogger } from '../../src/common/logger.js';
import { Gateway } from '../../src/gateway/gateway.js';
import type { GatewaySecurityOptions } from '../../src/gateway/security/gateway-security.js';
import { KeySpace } from '../../src/kv/key-space.js';
import { openKvStore } from '../../src/kv/open-kv-store.js';
import { runGputel } from '../support/gputel-process.js';
import { startSecuredGateway, type SecuredGateway } from '../support/security-fixtures.js';

const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/dcgm-export-sample.csv', import.meta.url));
/** Two clients a balancer would forward (TEST-NET-3 addresses, never a real peer here). */
const CLIENT_A = '203.0.113.10';
const CLIENT_B = '203.0.113.20';
/** Requests per minute per address in these tests: small, so a few requests reach it. */
const LIMIT = 2;

/** The status of one GET, sent with X-Forwarded-For `forwardedFor` (none when undefined). */
function statusOf(url: string, forwardedFor?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const headers = forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor };
    const request = httpRequest(url, { headers, timeout: 10_000 }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
    });
    request.on('timeout', () => request.destroy(new Error(`no answer from ${url} within 10 s`)));
    request.on('error', reject);
    request.end();
  });
}

/** Statuses of `count` requests in a row, each from `forwardedFor`. */
async function statusesOf(url: string, forwardedFor: string | undefined, count: number): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < count; i++) statuses.push(await statusOf(url, forwardedFor));
  return statuses;
}

/** Runs `check` against an open gateway (no keys: counted per address) limited to LIMIT requests a minute, then stops it. */
async function withGateway(security: GatewaySecurityOptions, check: (served: SecuredGateway) => Promise<void>, logger?: pino.Logger): Promise<void> {
  const served = await startSecuredGateway({ rateLimit: { max: LIMIT, windowMs: 60_000 }, ...security }, logger === undefined ? {} : { logger });
  try {
    await check(served);
  } finally {
    await served.stop();
  }
}

describe('trusted proxies: the client address behind a load balancer', () => {
  it('gives each forwarded client its own rate limit when the balancer is trusted', async () => {
    await withGateway({ trustProxy: ['127.0.0.1'] }, async ({ baseUrl }) => {
      const url = `${baseUrl}/api/v1/stats`;
      assert.deepEqual(await statusesOf(url, CLIENT_A, LIMIT + 1), [200, 200, 429]);
      assert.deepEqual(await statusesOf(url, CLIENT_B, LIMIT), [200, 200], 'another client forwarded by the same balancer has its own budget');
    });
  });

  it('accepts the balancer as a CIDR range', async () => {
    await withGateway({ trustProxy: ['10.0.0.0/8', '127.0.0.0/8'] }, async ({ baseUrl }) => {
      const url = `${baseUrl}/api/v1/stats`;
      assert.deepEqual(await statusesOf(url, CLIENT_A, LIMIT + 1), [200, 200, 429]);
      assert.deepEqual(await statusesOf(url, CLIENT_B, 1), [200]);
    });
  });

  it('counts every client under the balancer\'s address, one shared limit, when no proxy is trusted (the default)', async () => {
    await withGateway({}, async ({ baseUrl }) => {
      const url = `${baseUrl}/api/v1/stats`;
      assert.deepEqual(await statusesOf(url, CLIENT_A, LIMIT), [200, 200]);
      assert.deepEqual(await statusesOf(url, CLIENT_B, 1), [429], 'X-Forwarded-For is ignored: both clients are 127.0.0.1');
    });
  });

  it('ignores a forged X-Forwarded-For from an address that is not a trusted proxy', async () => {
    // Proxies are trusted, but not this peer: it cannot claim to forward for others and so escape its limit.
    await withGateway({ trustProxy: ['10.0.0.0/8', '192.0.2.1'] }, async ({ baseUrl }) => {
      const url = `${baseUrl}/api/v1/stats`;
      assert.deepEqual(await statusesOf(url, CLIENT_A, LIMIT), [200, 200]);
      assert.deepEqual(await statusesOf(url, CLIENT_B, 1), [429]);
      assert.deepEqual(await statusesOf(url, undefined, 1), [429], 'and without the header it is the same client');
    });
  });

  it('believes only the hop the trusted balancer added: a client cannot pick its address through it', async () => {
    // nginx appends the peer it saw ($proxy_add_x_forwarded_for) to what the client sent: the client's own entries come first.
    await withGateway({ trustProxy: ['127.0.0.1'] }, async ({ baseUrl }) => {
      const url = `${baseUrl}/api/v1/stats`;
      assert.deepEqual(await statusesOf(url, `198.51.100.1, ${CLIENT_A}`, 1), [200]);
      assert.deepEqual(await statusesOf(url, `198.51.100.2, ${CLIENT_A}`, 1), [200]);
      assert.deepEqual(await statusesOf(url, `198.51.100.3, ${CLIENT_A}`, 1), [429], 'all three are CLIENT_A, whatever it wrote before the balancer\'s entry');
    });
  });

  it('logs the forwarded client address of each request, not the balancer\'s', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    await withGateway({ trustProxy: ['127.0.0.1'] }, async ({ baseUrl }) => {
      assert.equal(await statusOf(`${baseUrl}/api/v1/stats`, CLIENT_A), 200);
    }, pino({ level: 'debug' }, sink));
    const requestLine = lines.find((line) => line.msg === 'request' && line.url === '/api/v1/stats');
    assert.equal(requestLine?.client, CLIENT_A, JSON.stringify(requestLine));
    const securityLine = lines.find((line) => line.msg === 'gateway security');
    assert.deepEqual(securityLine?.trustProxy, ['127.0.0.1'], 'the start says whom it trusts');
  });
});

describe('the --trust-proxy setting', () => {
  it('reads IP addresses and CIDR ranges, comma-separated, from the flag, GPUTEL_TRUST_PROXY or the config file; none by default', () => {
    assert.deepEqual(loadConfig({ env: {} }).trustProxy, []);
    assert.deepEqual(loadConfig({ flags: { trustProxy: '127.0.0.1, 10.0.0.0/8' }, env: {} }).trustProxy, ['127.0.0.1', '10.0.0.0/8']);
    assert.deepEqual(loadConfig({ env: { GPUTEL_TRUST_PROXY: '::1,fd00::/8,172.16.0.0/12' } }).trustProxy, ['::1', 'fd00::/8', '172.16.0.0/12']);
  });

  it('refuses with BAD_CONFIG an entry that is not an address or a range, naming it', () => {
    const refused: [string, RegExp][] = [
      ['127.0.0.1,balancer', /--trust-proxy = "127\.0\.0\.1,balancer": "balancer" is not an IP address or a CIDR range/],
      ['10.0.0.0/33', /"10\.0\.0\.0\/33" is not an IP address or a CIDR range/],
      ['fd00::/129', /"fd00::\/129" is not/],
      ['10.0.0.0/', /"10\.0\.0\.0\/" is not/],
      ['10.0.0.0/x', /"10\.0\.0\.0\/x" is not/],
      ['256.0.0.1', /"256\.0\.0\.1" is not/],
    ];
    for (const [value, message] of refused) {
      assert.throws(() => loadConfig({ flags: { trustProxy: value }, env: {} }), (error: unknown) => error instanceof GputelError && error.code === 'BAD_CONFIG' && message.test(error.message), value);
    }
    assert.throws(() => loadConfig({ env: { GPUTEL_TRUST_PROXY: '10.0.0.0/99' } }), /GPUTEL_TRUST_PROXY = "10\.0\.0\.0\/99"/);
  });

  it('refuses a /0 range, which would let every client choose its own address', () => {
    assert.throws(() => loadConfig({ flags: { trustProxy: '0.0.0.0/0' }, env: {} }), /"0\.0\.0\.0\/0" is not an IP address or a CIDR range \(.*a prefix from 1 to 32/);
    assert.throws(() => loadConfig({ flags: { trustProxy: '::/0' }, env: {} }), /"::\/0" is not/);
    // IPv4 peers are matched as IPv4-mapped IPv6 too: ::ffff:0.0.0.0/96 is every IPv4 address, a /0 by another name.
    for (const everyIpv4 of ['::ffff:0.0.0.0/96', '::ffff:0:0/90', '0:0:0:0:0:ffff:0:0/96']) {
      assert.throws(() => loadConfig({ flags: { trustProxy: everyIpv4 }, env: {} }), /is not an IP address or a CIDR range/, everyIpv4);
    }
    assert.deepEqual(loadConfig({ flags: { trustProxy: '::ffff:10.0.0.0/104' }, env: {} }).trustProxy, ['::ffff:10.0.0.0/104']);
  });

  it('refuses a bad entry given to the Gateway in code with BAD_CONFIG, not Fastify\'s TypeError', async () => {
    const kv = await openKvStore({ dataDir: ':memory:' });
    try {
      assert.throws(
        () => new Gateway(kv, new KeySpace('/gputel'), { cluster: 'default', host: '127.0.0.1', port: 0, logger: createLogger('silent'), security: { trustProxy: ['10.0.0.0/0'] } }),
        (error: unknown) => error instanceof GputelError && error.code === 'BAD_CONFIG' && /--trust-proxy: "10\.0\.0\.0\/0" is not an IP address or a CIDR range/.test(error.message),
      );
    } finally {
      await kv.close();
    }
  });

  it('reaches the gateway of gputel start from GPUTEL_TRUST_PROXY', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gputel-trust-proxy-'));
    const gputel = runGputel(['start', '--file', FIXTURE, '--host', '127.0.0.1', '--port', '0', '--data-dir', join(dir, 'data'), '--rate-limit', `${LIMIT}/min`], { GPUTEL_TRUST_PROXY: '127.0.0.1' });
    try {
      const [, port] = await gputel.waitForOutput(/http:\/\/localhost:(\d+)/);
      const url = `http://127.0.0.1:${port}/api/v1/stats`;
      assert.deepEqual(await statusesOf(url, CLIENT_A, LIMIT + 1), [200, 200, 429]);
      assert.deepEqual(await statusesOf(url, CLIENT_B, 1), [200]);
    } finally {
      await gputel.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a bad --trust-proxy at start, one line, exit CONFIG, before etcd is reached', async () => {
    // Port 9 of 127.0.0.1 answers nothing: the refusal must come first.
    const gputel = runGputel(['gateway', '--etcd', 'http://127.0.0.1:9', '--trust-proxy', '10.0.0.0/33']);
    assert.equal(await gputel.exited, EXIT.CONFIG, gputel.stderr());
    assert.match(gputel.stderr(), /--trust-proxy = "10\.0\.0\.0\/33": "10\.0\.0\.0\/33" is not an IP address or a CIDR range/);
  });
});
