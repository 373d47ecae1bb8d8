/**
 * The dashboard in headless Chromium against a gateway with API keys on
 * (the same pipeline and known data set as the other browser tests): it asks
 * for a key, loads the fleet with a read key entered there, and keeps the
 * key in sessionStorage, so a reload needs no second prompt while a new
 * browsing session does.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Locator, Page } from 'playwright-core';
import { createApiKey } from '../../src/gateway/security/api-key-ring.js';
import { useBrowser } from '../support/browser.js';
import { useDashboardFleet } from '../support/dashboard-fleet.js';
import { readyView, tileValues, waitForView } from '../support/dashboard-page.js';
import { waitFor } from '../support/wait-for.js';

describe('dashboard with API keys on, in headless Chromium', () => {
  const fleet = useDashboardFleet('dashboard-api-key');
  const chromium = useBrowser();

  /** Waits for the key prompt and returns its key field. */
  async function keyPrompt(page: Page): Promise<Locator> {
    const prompt = page.getByTestId('key-prompt');
    await prompt.waitFor({ state: 'visible', timeout: 15_000 });
    return prompt.getByTestId('api-key-input');
  }

  it('asks for a key, loads the fleet with a read key, and keeps it across a reload for this session only', async () => {
    const { key, line } = createApiKey('read', 'dashboard-test');
    const baseUrl = await fleet.startGateway(['--api-keys', line]);
    assert.equal((await fetch(`${baseUrl}/api/v1/gpus`)).status, 401, 'the API needs a key');

    const page = await chromium.newPage();
    await page.goto(`${baseUrl}/#/`);
    const field = await keyPrompt(page);
    assert.equal(await page.getByTestId('gpu-tile').count(), 0, 'no fleet before a key');
    await field.fill(key);
    await field.press('Enter');
    await waitForView(page, 'fleet');
    assert.equal(await page.getByTestId('gpu-tile').count(), fleet.gpuCount, 'the fleet loads with the key');
    // Strings are evaluated in the page (this file is compiled without the DOM's types).
    assert.ok((await page.evaluate<string[]>('Object.values(sessionStorage)')).includes(key), 'the key is kept in sessionStorage');
    assert.equal(await page.evaluate<number>('localStorage.length'), 0, 'and nowhere that outlives the session');

    await page.reload();
    await waitForView(page, 'fleet');
    assert.equal(await page.getByTestId('gpu-tile').count(), fleet.gpuCount, 'the fleet loads again after a reload');
    assert.equal(await page.getByTestId('key-prompt').isVisible(), false, 'no prompt after a reload');

    const otherSession = await chromium.newPage();
    await otherSession.goto(`${baseUrl}/#/`);
    await keyPrompt(otherSession);
    assert.equal(await readyView(otherSession, 'fleet').count(), 0, 'a new session asks again');
    assert.deepEqual([...chromium.pageErrors(page), ...chromium.pageErrors(otherSession)], []);
  });

  it('keeps asking when the key entered is refused', async () => {
    const { line } = createApiKey('read', 'dashboard-test-2');
    const baseUrl = await fleet.startGateway(['--api-keys', line]);
    const page = await chromium.newPage();
    await page.goto(`${baseUrl}/#/`);
    const field = await keyPrompt(page);
    const refusedKey = createApiKey('read', 'unknown').key;
    await field.fill(refusedKey);
    const refused = page.waitForResponse((response) => new URL(response.url()).pathname.startsWith('/api/') && response.status() === 401);
    await field.press('Enter');
    await refused;
    await keyPrompt(page);
    assert.ok(!(await page.evaluate<string[]>('Object.values(sessionStorage)')).includes(refusedKey), 'a refused key is not kept');
    assert.equal(await page.getByTestId('gpu-tile').count(), 0, 'no fleet with a refused key');
    assert.equal(await readyView(page, 'fleet').count(), 0);

    // Under the prompt, a view says it waits for a key, never "Loading…" forever: the fleet, and a GPU's deep link.
    const waiting = async (view: string): Promise<void> => {
      const root = page.getByTestId(`view-${view}`);
      await waitFor(`the ${view} view waiting for a key`, 10_000, async () => (/API key/.test((await root.textContent()) ?? '') ? true : undefined));
      assert.doesNotMatch((await root.textContent()) ?? '', /Loading…/, `the ${view} view under the prompt`);
      assert.equal(await root.getAttribute('data-ready'), 'false', `the ${view} view is not drawn`);
    };
    await waiting('fleet');
    await page.goto(`${baseUrl}/#/gpus/nope:9`);
    await keyPrompt(page);
    await waiting('gpu');
    assert.deepEqual(chromium.pageErrors(page), []);
  });

  it('refuses a key outside printable ASCII at the prompt, and forgets one stored anyway instead of failing every call', async () => {
    const { key, line } = createApiKey('read', 'dashboard-test-3');
    const baseUrl = await fleet.startGateway(['--api-keys', line]);
    const page = await chromium.newPage();
    await page.goto(`${baseUrl}/#/`);
    const field = await keyPrompt(page);
    for (const bad of ['clé-€', `${key}\u200b`]) {
      await field.fill(bad);
      await field.press('Enter');
      await page.getByTestId('key-prompt-reason').filter({ hasText: 'printable ASCII' }).waitFor({ timeout: 5_000 });
      assert.equal(await page.getByTestId('key-prompt').isVisible(), true, `the prompt stays for ${JSON.stringify(bad)}`);
      assert.deepEqual(await page.evaluate<string[]>('Object.values(sessionStorage)'), [], 'the key is not kept');
    }

    // A key stored before it was checked (an older page, another tab): the prompt, not an error banner, and the key is gone.
    await page.evaluate("sessionStorage.setItem('gputel-api-key', 'clé-€')");
    await page.reload();
    await keyPrompt(page);
    assert.match((await page.getByTestId('key-prompt-reason').textContent()) ?? '', /printable ASCII/);
    assert.equal(await page.locator('#problem').isVisible(), false, 'no problem banner');
    assert.deepEqual(await page.evaluate<string[]>('Object.values(sessionStorage)'), [], 'the bad key is forgotten');

    await field.fill(key);
    await field.press('Enter');
    await waitForView(page, 'fleet');
    assert.equal(await page.getByTestId('gpu-tile').count(), fleet.gpuCount, 'a good key loads the fleet');
    assert.deepEqual(chromium.pageErrors(page), []);
  });

  it('shows live records with a key on: the WebSocket sends the key entered', async () => {
    const { key, line } = createApiKey('read', 'dashboard-test-4');
    const baseUrl = await fleet.startGateway(['--api-keys', line]);
    const page = await chromium.newPage();
    await page.goto(`${baseUrl}/#/`);
    const field = await keyPrompt(page);
    const upgrades: string[] = [];
    page.on('websocket', (socket) => upgrades.push(socket.url()));
    await field.fill(key);
    await field.press('Enter');
    await waitForView(page, 'fleet');
    await page.locator('#live-state.live').waitFor({ timeout: 15_000 });

    const streamed = await fleet.streamLater();
    const newUtilization = new Map(streamed.filter((row) => row.metric === 'DCGM_FI_DEV_GPU_UTIL').map((row) => [row.uuid, row.value]));
    assert.equal(newUtilization.size, fleet.gpuCount);
    await waitFor('the new utilisation on every tile, live', 20_000, async () => {
      const tiles = await tileValues(page);
      return [...tiles].every(([uuid, value]) => value === newUtilization.get(uuid)) ? true : undefined;
    });
    assert.ok(upgrades.length > 0 && upgrades.every((url) => new URL(url).pathname === '/ws'), `the page opened /ws: ${upgrades.join(', ')}`);
    assert.deepEqual(chromium.pageErrors(page), []);
  });

  it('forgets the key and asks again when GraphQL answers UNAUTHORIZED in its errors, as for a REST 401', async () => {
    const page = await chromium.newPage();
    await page.goto(`${fleet.baseUrl}/#/idle`);
    await waitForView(page, 'idle');
    await page.evaluate("sessionStorage.setItem('gputel-api-key', 'some-old-key')");
    // A gateway (or a proxy) that answers GraphQL's way: 200 with an error whose code says the key is refused.
    await page.route('**/graphql', (route) => route.fulfill({ status: 200, json: { errors: [{ message: 'API key refused (test)', extensions: { code: 'UNAUTHORIZED' } }] } }));
    await page.goto(`${fleet.baseUrl}/#/`);
    await keyPrompt(page);
    assert.equal((await page.getByTestId('key-prompt-reason').textContent())?.trim(), 'API key refused (test)', "the prompt shows the API's message");
    assert.deepEqual(await page.evaluate<string[]>('Object.values(sessionStorage)'), [], 'the refused key is forgotten');
    assert.deepEqual(chromium.pageErrors(page), []);
  });

  it('opens the live stream at once when a key is entered, not when a pending retry is due', async () => {
    const { key, line } = createApiKey('read', 'dashboard-test-5');
    const baseUrl = await fleet.startGateway(['--api-keys', line]);
    const gpus = await fetch(`${fleet.baseUrl}/api/v1/gpus`).then((response) => response.json() as Promise<{ data: { id: string }[] }>);
    const id = gpus.data[0].id;
    const detail = await fetch(`${fleet.baseUrl}/api/v1/gpus/${encodeURIComponent(id)}`).then((response) => response.json() as Promise<unknown>);
    const page = await chromium.newPage();
    // The page's timers stand still: a retry of the live stream is pending until the test moves the clock, which it never does.
    await page.clock.install();
    await page.clock.pauseAt(Date.now() + 1_000);
    // The GPU's details answer without a key, so the view subscribes (the upgrade is refused: no key yet) before its history asks for one.
    await page.route((url) => url.pathname === `/api/v1/gpus/${encodeURIComponent(id)}`, (route) => route.fulfill({ json: detail }));
    await page.goto(`${baseUrl}/#/gpus/${encodeURIComponent(id)}`);
    const field = await keyPrompt(page);
    await page.locator('#live-state.down').waitFor({ timeout: 15_000 });
    await field.fill(key);
    await field.press('Enter');
    await page.locator('#live-state.live').waitFor({ timeout: 15_000 });
    assert.deepEqual(chromium.pageErrors(page), []);
  });
});
