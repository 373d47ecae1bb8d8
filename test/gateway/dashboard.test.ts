/**
 * The web dashboard as the gateway serves it (docs/dashboard.md), through a
 * real gateway on 127.0.0.1 with API keys on: the page and every file
 * `npm run build` made answer 200 without a key, with their content types
 * and the CSP; no built file loads anything from another site; the API the
 * page calls still needs a key; and a gateway without a built dashboard
 * answers `/` with a 503 page saying how to build it. The browser tests
 * (headless Chromium) drive the page itself.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DASHBOARD_DIR } from '../../src/gateway/dashboard-routes.js';
import { ApiKeyRing, createApiKey } from '../../src/gateway/security/api-key-ring.js';
import { startSecuredGateway, type SecuredGateway } from '../support/security-fixtures.js';

const reader = createApiKey('read', 'dashboard-test');
const TYPES: Record<string, RegExp> = { '.html': /^text\/html; charset=utf-8$/, '.js': /^(application|text)\/javascript; charset=utf-8$/, '.css': /^text\/css; charset=utf-8$/, '.svg': /^image\/svg\+xml/ };

/** Every file under `dir`, as paths relative to it. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path).map((file) => join(name, file)) : [name];
  });
}

function typeOf(file: string): RegExp {
  const type = TYPES[file.slice(file.lastIndexOf('.'))];
  assert.ok(type, `${file}: a built file of a type this test knows (html, js, css); add its type here if the build now makes others`);
  return type;
}

describe('the web dashboard, served with API keys on', () => {
  let served: SecuredGateway;
  let built: string[];

  before(async () => {
    assert.ok(existsSync(join(DASHBOARD_DIR, 'index.html')), `no built dashboard in ${DASHBOARD_DIR}: run npm run build (tsc alone does not build it)`);
    built = filesUnder(DASHBOARD_DIR);
    served = await startSecuredGateway({ keys: ApiKeyRing.parse([{ what: 'test keys', text: reader.line }]) });
  });
  after(async () => {
    await served?.stop();
  });

  it('serves the page at / without a key, with the CSP and no inline script, loading its files from /assets/', async () => {
    const response = await fetch(`${served.baseUrl}/`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', TYPES['.html']);
    assert.match(response.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    const page = await response.text();
    assert.equal(page, readFileSync(join(DASHBOARD_DIR, 'index.html'), 'utf8'));
    const scripts = [...page.matchAll(/<script\b[^>]*>/g)].map((match) => match[0]);
    assert.ok(scripts.length >= 1, 'the page has its script');
    for (const script of scripts) assert.match(script, /\bsrc="\/assets\/[^"]+\.js"/, `${script}: a file of the gateway, no inline script (CSP script-src 'self')`);
    assert.match(page, /<link rel="stylesheet"[^>]*href="\/assets\/[^"]+\.css"/);
    assert.match(page, /<main id="view">/);
  });

  it('serves every built file without a key, with its content type', async () => {
    assert.ok(built.some((file) => file.startsWith('assets/') && file.endsWith('.js')), `a script among ${built.join(', ')}`);
    for (const file of built) {
      const url = file === 'index.html' ? `${served.baseUrl}/` : `${served.baseUrl}/${file}`;
      const response = await fetch(url);
      assert.equal(response.status, 200, url);
      assert.match(response.headers.get('content-type') ?? '', typeOf(file), url);
      const body = Buffer.from(await response.arrayBuffer());
      assert.ok(body.equals(readFileSync(join(DASHBOARD_DIR, file))), `${url} is the built file`);
      // Hashed names never change content: the browser keeps them; the page itself is checked on each load.
      if (file !== 'index.html') assert.match(response.headers.get('cache-control') ?? '', /max-age=31536000, immutable/, url);
    }
    // The icon, at the URLs browsers ask for by default, is the built SVG the page links.
    const icon = built.find((file) => /^assets\/favicon-[\w-]+\.svg$/.test(file));
    assert.ok(icon, `the built icon among ${built.join(', ')}`);
    const page = await (await fetch(`${served.baseUrl}/`)).text();
    assert.match(page, new RegExp(`<link rel="icon" type="image/svg\\+xml" href="/${icon}">`), 'the page links its icon');
    for (const path of ['/favicon.ico', '/graphiql/favicon.ico']) {
      const response = await fetch(`${served.baseUrl}${path}`);
      assert.equal(response.status, 200, path);
      assert.match(response.headers.get('content-type') ?? '', /^image\/svg\+xml/, path);
      assert.ok(Buffer.from(await response.arrayBuffer()).equals(readFileSync(join(DASHBOARD_DIR, icon))), `${path} is the built icon`);
    }
    // A file that is not there is a plain 404, not a key prompt.
    const missing = await fetch(`${served.baseUrl}/assets/no-such-file.js`);
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as { error: { code: string } }).error.code, 'NOT_FOUND');
  });

  it('loads nothing from another site: no http:// or https:// URL in any built file', () => {
    for (const file of built) {
      // An SVG's xmlns is the name of its XML namespace, never fetched.
      const text = readFileSync(join(DASHBOARD_DIR, file), 'utf8').replace(/\bxmlns(:\w+)?="[^"]*"/g, '');
      const urls = [...text.matchAll(/\bhttps?:\/\/[^\s"'`)<>]*/g)].map((match) => match[0]);
      assert.deepEqual(urls, [], `${relative(process.cwd(), join(DASHBOARD_DIR, file))} names no absolute URL (everything comes from the gateway, by relative path)`);
    }
  });

  it('keeps the API behind the key the page asks for: 401 without, 200 with X-API-Key', async () => {
    for (const path of ['/api/v1/summary', '/api/v1/gpus']) {
      const refused = await fetch(`${served.baseUrl}${path}`);
      assert.equal(refused.status, 401, path);
      assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'UNAUTHORIZED');
      const answered = await fetch(`${served.baseUrl}${path}`, { headers: { 'X-API-Key': reader.key } });
      assert.equal(answered.status, 200, path);
      await answered.body?.cancel();
    }
    // The fleet view's one GraphQL query for every GPU with its newest values.
    const fleet = await fetch(`${served.baseUrl}/graphql`, {
      method: 'POST',
      headers: { 'X-API-Key': reader.key, 'Content-Type': 'application/json' },
      body: JSON.stringify({ query: '{ gpus { id uuid gpuId hostname model migInstanceId migProfile status lastSeen latest { gpuUtilization temperature powerDraw memoryUsedMb } } }' }),
    });
    assert.equal(fleet.status, 200);
    assert.deepEqual(await fleet.json(), { data: { gpus: [] } });
  });
});

describe('a gateway whose dashboard is not built', () => {
  let served: SecuredGateway;
  let dir: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gputel-no-dashboard-'));
    served = await startSecuredGateway({ keys: ApiKeyRing.parse([{ what: 'test keys', text: reader.line }]) }, { dashboardDir: dir });
  });
  after(async () => {
    await served?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers / with a 503 page that says to run npm run build, without a key, and keeps the API', async () => {
    const response = await fetch(`${served.baseUrl}/`);
    assert.equal(response.status, 503);
    assert.match(response.headers.get('content-type') ?? '', TYPES['.html']);
    const page = await response.text();
    assert.match(page, /npm run build/);
    assert.ok(page.includes(dir), 'names the folder it looked in');
    assert.doesNotMatch(page, /<script/);
    const api = await fetch(`${served.baseUrl}/api/v1/gpus`, { headers: { 'X-API-Key': reader.key } });
    assert.equal(api.status, 200);
    await api.body?.cancel();
  });
});
