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
import { readyView, waitForView } from '../support/dashboard-page.js';

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
  });
});
