/**
 * test/support/browser.ts launches Debian's chromium (or GPUTEL_CHROMIUM)
 * through playwright-core, and says how to install it when it is missing.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { chromiumPath, launchChromium } from '../support/browser.js';

describe('headless Chromium for the browser tests', () => {
  const configured = process.env.GPUTEL_CHROMIUM;
  afterEach(() => {
    if (configured === undefined) delete process.env.GPUTEL_CHROMIUM;
    else process.env.GPUTEL_CHROMIUM = configured;
  });

  it("runs Debian's /usr/bin/chromium unless GPUTEL_CHROMIUM names another", () => {
    process.env.GPUTEL_CHROMIUM = '';
    assert.equal(chromiumPath(), '/usr/bin/chromium');
    process.env.GPUTEL_CHROMIUM = '/opt/chromium/chrome';
    assert.equal(chromiumPath(), '/opt/chromium/chrome');
  });

  it('says how to install chromium when the binary is missing, and launches nothing', async () => {
    process.env.GPUTEL_CHROMIUM = '/nonexistent/chromium';
    await assert.rejects(launchChromium(), (error: Error) => {
      assert.match(error.message, /\/nonexistent\/chromium is not an executable file \(from GPUTEL_CHROMIUM\)/);
      assert.match(error.message, /sudo apt-get update && sudo apt-get install -y chromium/);
      assert.match(error.message, /Never `playwright install`/);
      return true;
    });
  });

  it('launches headless and renders a page', async () => {
    delete process.env.GPUTEL_CHROMIUM;
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.setContent('<p data-testid="x">rendered</p>');
      assert.equal(await page.getByTestId('x').textContent(), 'rendered');
    } finally {
      await browser.close();
    }
  });
});
