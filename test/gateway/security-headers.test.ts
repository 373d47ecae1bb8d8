/**
 * The security headers computed once (src/gateway/security/security-headers.ts)
 * are exactly those helmet itself writes on a real HTTP answer.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import helmet, { type HelmetOptions } from 'helmet';
import { helmetHeaders } from '../../src/gateway/security/security-headers.js';

/** The headers of a real answer from a server that runs helmet(options) as its middleware. */
async function helmetOnRealServer(options: HelmetOptions): Promise<IncomingHttpHeaders> {
  const middleware = helmet(options);
  const server = createServer((request, response) => middleware(request, response, () => response.end('ok')));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const answer = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    return Object.fromEntries(answer.headers);
  } finally {
    server.close();
  }
}

describe('security headers', () => {
  for (const [name, options] of [
    ['defaults', {}],
    ['a CSP of its own, no HSTS', { contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'self'"], styleSrc: ["'self'", "'unsafe-inline'"] } }, strictTransportSecurity: false }],
    ['HSTS for 180 days', { strictTransportSecurity: { maxAge: 180 * 86_400 } }],
  ] as const) {
    it(`are helmet's own, computed once: ${name}`, async () => {
      const real = await helmetOnRealServer(options as HelmetOptions);
      const once = helmetHeaders(options as HelmetOptions);
      const helmetNames = Object.keys(real).filter((header) => !['content-length', 'date', 'connection', 'keep-alive'].includes(header));
      assert.deepEqual(Object.keys(once).sort(), helmetNames.sort());
      for (const header of helmetNames) assert.equal(once[header], real[header], header);
    });
  }

  it('refuse options helmet refuses, when the gateway starts rather than per request', () => {
    assert.throws(() => helmetHeaders({ contentSecurityPolicy: { directives: { defaultSrc: ["'self'", 'not a source; injected'] } } }), /Content-Security-Policy|invalid/i);
  });
});
