/**
 * Headless Chromium for the browser tests: Debian's `chromium` (or the binary
 * GPUTEL_CHROMIUM names) driven by playwright-core through `executablePath`.
 * playwright's own browser download (`playwright install`) is never used:
 * scripts/test-prerequisites.sh installs Debian's package instead.
 */
import { accessSync, constants, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

/** Where screenshots go: test-output/screenshots/ at the repository root (gitignored). */
export const SCREENSHOT_DIR = fileURLToPath(new URL('../../../test-output/screenshots/', import.meta.url));

/** Every page gets this viewport, so screenshots of one view compare across runs. */
const VIEWPORT = { width: 1280, height: 800 };

/** The Chromium binary the tests launch: GPUTEL_CHROMIUM when set (and not empty), else Debian's /usr/bin/chromium. */
export function chromiumPath(): string {
  const configured = process.env.GPUTEL_CHROMIUM;
  return configured !== undefined && configured !== '' ? configured : '/usr/bin/chromium';
}

/**
 * Launches headless Chromium at chromiumPath(), with `--no-sandbox` when
 * running as root (Chromium refuses to start its sandbox as root). Throws,
 * saying how to install it, when the binary is not there. The caller closes
 * the browser.
 */
export async function launchChromium(): Promise<Browser> {
  const executablePath = chromiumPath();
  try {
    accessSync(executablePath, constants.X_OK);
  } catch {
    throw new Error(
      `the browser tests run in Chromium, and ${executablePath} is not an executable file` +
        (process.env.GPUTEL_CHROMIUM ? ' (from GPUTEL_CHROMIUM)' : '') +
        ': install Debian\'s chromium (sudo apt-get update && sudo apt-get install -y chromium; `npm test` does it when run as root) ' +
        'or set GPUTEL_CHROMIUM to a Chromium binary. Never `playwright install`: these tests use playwright-core with that browser.',
    );
  }
  const asRoot = process.getuid?.() === 0;
  return chromium.launch({ executablePath, headless: true, args: asRoot ? ['--no-sandbox'] : [] });
}

/** A page's context other than the default: a narrow viewport, or a time zone other than the machine's. */
export interface PageOptions {
  viewport?: { width: number; height: number };
  /** An IANA zone (`Asia/Kolkata`): the page's clock reads in it. */
  timezoneId?: string;
}

export interface BrowserUnderTest {
  /** The browser (from `before` on). */
  readonly browser: Browser;
  /**
   * A new page in a context of its own (its own sessionStorage and cookies),
   * at a fixed viewport. Errors the page throws are collected in
   * `pageErrors(page)`. Closed when the suite ends.
   */
  newPage(options?: PageOptions): Promise<Page>;
  /** Uncaught errors of `page`'s scripts so far, as "message" strings. */
  pageErrors(page: Page): string[];
  /** What `page` logged as a console error so far (a failed load, such as a missing favicon, among them), with its URL. */
  consoleErrors(page: Page): string[];
  /** Saves a PNG of `page` (the viewport) as SCREENSHOT_DIR/NAME.png and returns its path. */
  screenshot(page: Page, name: string): Promise<string>;
}

/**
 * Registers before/after hooks in the enclosing `describe` that launch
 * Chromium and close it (with every page) when the suite ends, and returns
 * the handle they fill in: read its fields inside `it`.
 */
export function useBrowser(): BrowserUnderTest {
  let browser: Browser | undefined;
  const contexts: BrowserContext[] = [];
  const errors = new WeakMap<Page, string[]>();
  const consoleErrors = new WeakMap<Page, string[]>();

  before(async () => {
    browser = await launchChromium();
  });
  after(async () => {
    await Promise.all(contexts.map((context) => context.close()));
    await browser?.close();
  });

  const handle: BrowserUnderTest = {
    get browser() {
      if (browser === undefined) throw new Error('the browser is launched in before(): read it inside a test');
      return browser;
    },
    async newPage(options = {}) {
      const context = await handle.browser.newContext({ viewport: options.viewport ?? VIEWPORT, deviceScaleFactor: 1, timezoneId: options.timezoneId });
      contexts.push(context);
      const page = await context.newPage();
      const pageErrors: string[] = [];
      errors.set(page, pageErrors);
      page.on('pageerror', (error) => pageErrors.push(error.message));
      const logged: string[] = [];
      consoleErrors.set(page, logged);
      page.on('console', (message) => {
        if (message.type() === 'error') logged.push(`${message.text()} (${message.location().url})`);
      });
      return page;
    },
    pageErrors(page) {
      return errors.get(page) ?? [];
    },
    consoleErrors(page) {
      return consoleErrors.get(page) ?? [];
    },
    async screenshot(page, name) {
      mkdirSync(SCREENSHOT_DIR, { recursive: true });
      const path = join(SCREENSHOT_DIR, `${name}.png`);
      await page.screenshot({ path });
      return path;
    },
  };
  return handle;
}
