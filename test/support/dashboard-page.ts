/**
 * The dashboard as the browser tests see it: its views by their stable hooks
 * (`data-testid="view-…"` with `data-ready="true"` once drawn), and the API
 * requests the page makes, so a test can ask the API the same question and
 * compare what the page shows with the answer.
 */
import assert from 'node:assert/strict';
import type { Locator, Page } from 'playwright-core';

export type DashboardView = 'fleet' | 'gpu' | 'host' | 'idle';

/** How long a view may take to draw (a cold page loads its script, then asks the API). */
const VIEW_TIMEOUT_MS = 15_000;

/** The root of `view` once it is drawn. */
export function readyView(page: Page, view: DashboardView): Locator {
  return page.locator(`[data-testid="view-${view}"][data-ready="true"]`);
}

/** Waits until `view` is drawn (throws naming the view after VIEW_TIMEOUT_MS). */
export async function waitForView(page: Page, view: DashboardView): Promise<Locator> {
  const root = readyView(page, view);
  await root.waitFor({ state: 'visible', timeout: VIEW_TIMEOUT_MS });
  return root;
}

/** Opens the dashboard at `route` (`#/`, `#/gpus/ID?range=1h`, …) and waits for `view`. */
export async function openView(page: Page, baseUrl: string, route: string, view: DashboardView): Promise<Locator> {
  await page.goto(`${baseUrl}/${route}`);
  return waitForView(page, view);
}

/** The number the element with `testId` shows (asserts it shows one). */
export async function numberShown(page: Page, testId: string): Promise<number> {
  const text = (await page.getByTestId(testId).textContent())?.trim() ?? '';
  const value = Number(text.replace(/,/g, ''));
  assert.ok(text !== '' && Number.isFinite(value), `${testId} shows a number, got "${text}"`);
  return value;
}

export interface ApiRequest {
  url: URL;
  /** The request's headers (the API key the page sent among them). */
  headers: Record<string, string>;
}

/** The API requests a page made, from the moment recordApiRequests() was called. */
export interface ApiRequestLog {
  readonly requests: ApiRequest[];
  /** The last request whose path matches `path` and whose query has `query`'s parameters (asserts there is one). */
  last(path: RegExp, query?: Record<string, string>): ApiRequest;
}

/** Starts recording the page's requests to `/api/…`. */
export function recordApiRequests(page: Page): ApiRequestLog {
  const requests: ApiRequest[] = [];
  page.on('request', (request) => {
    const url = new URL(request.url());
    if (url.pathname.startsWith('/api/')) requests.push({ url, headers: request.headers() });
  });
  return {
    requests,
    last(path, query = {}) {
      const matching = requests.filter(
        (request) => path.test(request.url.pathname) && Object.entries(query).every(([name, value]) => request.url.searchParams.get(name) === value),
      );
      assert.ok(
        matching.length > 0,
        `the page asked the API for ${path} with ${JSON.stringify(query)}; it asked for: ${requests.map((r) => r.url.pathname + r.url.search).join(', ') || 'nothing'}`,
      );
      return matching[matching.length - 1];
    },
  };
}

/** The API key headers of `request`, to ask the API the same question with the same key. */
function keyHeaders(request: ApiRequest): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of ['authorization', 'x-api-key']) if (request.headers[name] !== undefined) headers[name] = request.headers[name];
  return headers;
}

/** Asks the API the page's `request` again (its URL, every page of it, with its key) and returns each page's JSON body. */
export async function askAgain<T>(request: ApiRequest): Promise<T[]> {
  const bodies: T[] = [];
  let cursor: string | null = null;
  do {
    const url = new URL(request.url);
    if (cursor !== null) url.searchParams.set('cursor', cursor);
    const response = await fetch(url, { headers: keyHeaders(request) });
    assert.equal(response.status, 200, `GET ${url.pathname}${url.search}`);
    const body = (await response.json()) as T & { next_cursor?: string | null };
    bodies.push(body);
    cursor = body.next_cursor ?? null;
  } while (cursor !== null);
  return bodies;
}

/**
 * The number of timestamps the API answers to the page's telemetry
 * `request` (records or columns, every page): what a chart drawn from that
 * answer plots.
 */
export async function telemetryPointsOf(request: ApiRequest): Promise<number> {
  const pages = await askAgain<{ data: unknown[] | { timestamps: number[] } }>(request);
  return pages.reduce((n, page) => n + (Array.isArray(page.data) ? page.data.length : page.data.timestamps.length), 0);
}

/** `data-points` of every GPU chart on the page, as numbers. */
export async function chartPoints(page: Page): Promise<number[]> {
  const values = await page.getByTestId('gpu-chart').evaluateAll((charts) => charts.map((chart) => chart.getAttribute('data-points')));
  return values.map((value) => Number(value));
}

/** The value of the colouring metric (utilisation by default) each tile holds, by UUID: its data-value. */
export async function tileValues(page: Page): Promise<Map<string, number>> {
  const tiles = await page.getByTestId('gpu-tile').evaluateAll((elements) => elements.map((tile) => [tile.getAttribute('data-uuid') ?? '', tile.getAttribute('data-value') ?? ''] as const));
  return new Map(tiles.map(([uuid, text]) => [uuid, text === '' ? NaN : Number(text)]));
}
