/**
 * The dashboard in headless Chromium (Debian's chromium, through
 * playwright-core) against a real pipeline holding a known data set: what
 * each view shows is what the API answers, tiles link to their GPU, the back
 * button works, and records stored after the page loaded appear without a
 * reload. Each view is saved as a screenshot under test-output/screenshots/.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { APIResponse, Route } from 'playwright-core';
import { getJson } from '../support/api-checks.js';
import { useBrowser } from '../support/browser.js';
import { useDashboardFleet } from '../support/dashboard-fleet.js';
import { askAgain, chartPoints, numberShown, openView, recordApiRequests, telemetryPointsOf, tileValues, waitForView } from '../support/dashboard-page.js';
import { waitFor } from '../support/wait-for.js';

type ApiGpu = { id: string; uuid: string; hostname: string };
type Summary = { gpus: number; by_status: { active: number; stale: number }; idle: { count: number; gpus: { id: string }[] } };

/** The path of a GPU view's telemetry request. */
const TELEMETRY_PATH = /^\/api\/v1\/gpus\/[^/]+\/telemetry$/;

/** Asia/Kolkata's offset: a zone other than UTC (and without summer time) for the tests of times. */
const KOLKATA_OFFSET_MS = 5.5 * 3_600_000;

/** An instant as the page writes it in Asia/Kolkata: `2026-12-01 12:01:20 +05:30`. */
function kolkataClock(ms: number): string {
  return `${new Date(ms + KOLKATA_OFFSET_MS).toISOString().slice(0, 19).replace('T', ' ')} +05:30`;
}

/**
 * Before the page's scripts run, records every text drawn on a canvas
 * (`window.gputelCanvasTexts`): uPlot draws its axis labels there, one
 * fillText per line, each tick's lines in tick order.
 */
const RECORD_CANVAS_TEXTS = `
  window.gputelCanvasTexts = [];
  const fillText = CanvasRenderingContext2D.prototype.fillText;
  CanvasRenderingContext2D.prototype.fillText = function (text, ...rest) {
    window.gputelCanvasTexts.push(String(text));
    return fillText.call(this, text, ...rest);
  };
`;

/**
 * The charts' time axis, from the texts drawn on their canvases: no 12-hour
 * time anywhere; ticks `HH:MM`, the first of each draw with a line
 * `YYYY-MM-DD +05:30` below it (the page's zone, named as elsewhere); and
 * each tick, read as that time in Asia/Kolkata, inside the range shown
 * [fromMs, toMs] (a tick written in another zone would be hours off).
 */
function assertTimeAxis(drawn: readonly string[], fromMs: number, toMs: number): void {
  assert.ok(drawn.every((text) => !/\d\s*[ap]\.?m\b/i.test(text)), `no am/pm on a chart: ${drawn.join(' | ')}`);
  const ticks: { time: string; date?: string }[] = [];
  for (const text of drawn) {
    if (/^\d{4}-\d\d-\d\d \+05:30$/.test(text)) {
      assert.ok(ticks.length > 0, `a date line below a tick: ${drawn.join(' | ')}`);
      ticks[ticks.length - 1].date = text.slice(0, 10);
    } else if (text.includes(':')) {
      assert.match(text, /^\d\d:\d\d$/, 'a time tick is HH:MM, 24-hour');
      ticks.push({ time: text });
    }
  }
  assert.ok(ticks.length >= 2, `time ticks drawn: ${drawn.join(' | ')}`);
  assert.ok(ticks[0].date !== undefined, 'the first tick has its date and zone');
  let date = ticks[0].date;
  for (const tick of ticks) {
    date = tick.date ?? date;
    const ms = Date.parse(`${date}T${tick.time}:00+05:30`);
    assert.ok(ms >= fromMs - 60_000 && ms <= toMs + 60_000, `tick ${date} ${tick.time} (+05:30) inside the range ${kolkataClock(fromMs)} – ${kolkataClock(toMs)}`);
  }
}

/**
 * A route handler that passes requests on to the gateway: a page left open
 * keeps refreshing after its test, and a pass-on to a gateway that has
 * stopped must end that request, not reject unhandled (which fails the file).
 */
function passingOn(handler: (route: Route) => Promise<void>): (route: Route) => Promise<void> {
  return async (route) => {
    try {
      await handler(route);
    } catch {
      await route.abort().catch(() => undefined);
    }
  };
}

describe('dashboard in headless Chromium on a known fleet', () => {
  const fleet = useDashboardFleet('dashboard-views');
  const chromium = useBrowser();

  async function apiGpus(): Promise<ApiGpu[]> {
    const { status, body } = await getJson<{ data: ApiGpu[]; count: number }>(`${fleet.baseUrl}/api/v1/gpus`);
    assert.equal(status, 200);
    assert.equal(body.count, body.data.length);
    return body.data;
  }

  it('shows one tile per GPU the API lists, each a link to its GPU, and the counters of the summary', async () => {
    const page = await chromium.newPage();
    const requests = recordApiRequests(page);
    await openView(page, fleet.baseUrl, '#/', 'fleet');
    const gpus = await apiGpus();
    assert.equal(gpus.length, fleet.gpuCount, 'the API lists every GPU of the data set');

    const tiles = page.getByTestId('gpu-tile');
    const shown = await tiles.evaluateAll((elements) =>
      elements.map((tile) => ({ uuid: tile.getAttribute('data-uuid'), id: tile.getAttribute('data-id'), href: tile.getAttribute('href'), tag: tile.tagName })),
    );
    assert.equal(shown.length, gpus.length, 'one tile per GPU');
    assert.deepEqual(shown.map((tile) => tile.uuid).sort(), gpus.map((gpu) => gpu.uuid).sort());
    assert.deepEqual(shown.map((tile) => tile.id).sort(), gpus.map((gpu) => gpu.id).sort());
    for (const tile of shown) {
      assert.equal(tile.tag, 'A', `tile ${tile.id} is a link`);
      assert.equal(decodeURIComponent(tile.href ?? ''), `#/gpus/${tile.id}`, `tile ${tile.id} links to its GPU view`);
    }

    const [summary] = await askAgain<Summary>(requests.last(/^\/api\/v1\/summary$/));
    assert.equal(await numberShown(page, 'fleet-count-active'), summary.by_status.active);
    assert.equal(await numberShown(page, 'fleet-count-stale'), summary.by_status.stale);
    assert.equal(summary.by_status.active + summary.by_status.stale, fleet.gpuCount);
    await chromium.screenshot(page, 'fleet');
    assert.deepEqual(chromium.pageErrors(page), []);
  });

  it('opens the GPU view from a tile, with charts of the points the API answers, and goes back to the fleet', async () => {
    const page = await chromium.newPage();
    const requests = recordApiRequests(page);
    await openView(page, fleet.baseUrl, '#/', 'fleet');
    const tile = page.getByTestId('gpu-tile').nth(1);
    const id = await tile.getAttribute('data-id');
    assert.ok(id);
    await tile.click();
    await waitForView(page, 'gpu');
    assert.equal(decodeURIComponent(new URL(page.url()).hash).replace(/\?.*$/, ''), `#/gpus/${id}`, 'the URL names the GPU');

    const request = requests.last(TELEMETRY_PATH);
    assert.equal(decodeURIComponent(request.url.pathname.split('/')[4]), id, 'the charts ask for the GPU clicked');
    assert.ok(request.url.searchParams.has('max_points'), `the charts ask for server-side downsampling: ${request.url.search}`);
    const expected = await telemetryPointsOf(request);
    assert.ok(expected > 0, 'the API answers points for the range shown');
    const points = await chartPoints(page);
    assert.ok(points.length > 0, 'the GPU view draws charts');
    for (const [i, n] of points.entries()) assert.equal(n, expected, `chart ${i} plots the ${expected} points the API answers to ${request.url.search}`);
    await chromium.screenshot(page, 'gpu');

    await page.goBack();
    await waitForView(page, 'fleet');
    assert.match(new URL(page.url()).hash, /^(#\/?)?$/, 'back at the fleet');
    assert.deepEqual(chromium.pageErrors(page), []);
  });

  it('shows as many idle GPUs as the summary counts, in the counter and as rows of the idle report', async () => {
    const page = await chromium.newPage();
    const requests = recordApiRequests(page);
    await openView(page, fleet.baseUrl, '#/', 'fleet');
    const [fleetSummary] = await askAgain<Summary>(requests.last(/^\/api\/v1\/summary$/));
    assert.equal(fleetSummary.idle.count, fleet.idleCount, 'the API counts the idle GPUs of the data set');
    assert.ok(fleet.idleCount > 0, 'the data set has an idle GPU');
    assert.equal(await numberShown(page, 'fleet-count-idle'), fleetSummary.idle.count);

    await openView(page, fleet.baseUrl, '#/idle?window=1h', 'idle');
    const request = requests.last(/^\/api\/v1\/summary$/, { window: '1h' });
    const [idleSummary] = await askAgain<Summary>(request);
    const rows = await page.getByTestId('idle-row').evaluateAll((elements) => elements.map((row) => row.getAttribute('data-id')));
    assert.equal(rows.length, idleSummary.idle.count, `one row per idle GPU of ${request.url.search}`);
    assert.deepEqual(rows.sort(), idleSummary.idle.gpus.map((gpu) => gpu.id).sort(), 'the rows are the idle GPUs');
    await chromium.screenshot(page, 'idle');
    assert.deepEqual(chromium.pageErrors(page), []);
  });

  it('shows a host with the charts of its GPUs', async () => {
    const page = await chromium.newPage();
    const hostname = (await apiGpus())[0].hostname;
    const root = await openView(page, fleet.baseUrl, `#/hosts/${encodeURIComponent(hostname)}`, 'host');
    assert.match((await root.textContent()) ?? '', new RegExp(hostname), 'the view names its host');
    const points = await chartPoints(page);
    assert.ok(points.length > 0 && points.every((n) => n > 0), `the host view charts its GPUs (data-points ${points.join(', ')})`);
    const hostGpus = (await getJson<{ data: ApiGpu[] }>(`${fleet.baseUrl}/api/v1/hosts/${encodeURIComponent(hostname)}/gpus`)).body.data;
    const charted = await page.getByTestId('gpu-chart').evaluateAll((charts) => charts.map((chart) => chart.getAttribute('data-id')));
    assert.deepEqual([...new Set(charted)].sort(), hostGpus.map((gpu) => gpu.id).sort(), 'charts of each GPU of the host, and of no other');
    await chromium.screenshot(page, 'host');
    assert.deepEqual(chromium.pageErrors(page), []);
  });

  it('shows a record streamed after the pages loaded without a reload: on every tile, and appended to the GPU charts', async () => {
    const gpuPage = await chromium.newPage({ timezoneId: 'Asia/Kolkata' });
    // The page's timers on a clock the test can move on (it runs as the wall clock until then).
    await gpuPage.clock.install();
    const requests = recordApiRequests(gpuPage);
    const gpu = (await apiGpus())[0];
    // 1h: the whole data set (50 min) and the new record are inside the window, so nothing leaves it meanwhile.
    await openView(gpuPage, fleet.baseUrl, `#/gpus/${encodeURIComponent(gpu.id)}?range=1h`, 'gpu');
    const before = await chartPoints(gpuPage);
    assert.ok(before.length > 0);
    const loaded = await telemetryPointsOf(requests.last(TELEMETRY_PATH));
    assert.deepEqual(before, before.map(() => loaded), 'the charts start with the points the API answers');
    const fleetPage = await chromium.newPage();
    await openView(fleetPage, fleet.baseUrl, '#/', 'fleet');
    const tilesBefore = await tileValues(fleetPage);
    // A fleet filtered to stale GPUs, whose list says every GPU is stale: a live record makes its tile active, and hides it.
    const stalePage = await chromium.newPage();
    await stalePage.route(
      '**/graphql',
      passingOn(async (route) => {
        const response = await route.fetch();
        const body = (await response.json()) as { data: { gpus: { status: string }[] } };
        for (const listed of body.data.gpus) listed.status = 'stale';
        await route.fulfill({ response, json: body });
      }),
    );
    await openView(stalePage, fleet.baseUrl, '#/?status=stale', 'fleet');
    const visibleTiles = stalePage.locator('[data-testid="gpu-tile"]:visible');
    assert.equal(await visibleTiles.count(), fleet.gpuCount, 'every GPU listed as stale is shown');
    await stalePage.locator('#live-state.live').waitFor({ timeout: 15_000 });
    // A reload would clear these (strings are evaluated in the page: this file has no DOM types).
    for (const page of [gpuPage, fleetPage]) await page.evaluate("window.gputelTestMark = 'loaded once'");

    const streamed = await fleet.streamLater();
    assert.equal(new Set(streamed.map((row) => row.timestampMs)).size, 1, 'one new timestamp');
    const after = await waitFor('the new record on every chart', 20_000, async () => {
      const points = await chartPoints(gpuPage);
      return points.every((n) => n === loaded + 1) ? points : undefined;
    });
    assert.equal(after.length, before.length);
    // "Last seen" follows the live records, as the newest values do, and each "ago" counts on.
    const streamedAt = kolkataClock(streamed[0].timestampMs);
    const lastSeen = gpuPage.getByTestId('gpu-last-seen');
    const lastSeenText = (await lastSeen.textContent()) ?? '';
    assert.equal(lastSeenText.slice(0, streamedAt.length), streamedAt, 'last seen is the streamed record\'s time');
    assert.match(lastSeenText.slice(streamedAt.length), /^ \(\d+ (s|min) ago\)$/, 'with how long ago');
    await gpuPage.clock.fastForward(3_600_000);
    const newestAt = gpuPage.getByTestId('gpu-latest').locator('tr').first().locator('td');
    for (const cell of [lastSeen, newestAt]) assert.equal(await cell.textContent(), `${streamedAt} (1 h ago)`, 'an hour later, without a record');

    // Each tile shows utilisation (the default colouring): the new record's, by UUID.
    const newUtilization = new Map(streamed.filter((row) => row.metric === 'DCGM_FI_DEV_GPU_UTIL').map((row) => [row.uuid, row.value]));
    assert.equal(newUtilization.size, fleet.gpuCount);
    assert.ok([...tilesBefore].some(([uuid, value]) => value !== newUtilization.get(uuid)), 'the new record changes some tile');
    await waitFor('the new utilisation on every tile', 20_000, async () => {
      const tiles = await tileValues(fleetPage);
      return [...tiles].every(([uuid, value]) => value === newUtilization.get(uuid)) ? true : undefined;
    });
    for (const page of [gpuPage, fleetPage]) {
      assert.equal(await page.evaluate<string | undefined>('window.gputelTestMark'), 'loaded once', 'the page did not reload');
      assert.deepEqual(chromium.pageErrors(page), []);
    }
    await waitFor('every tile hidden by the stale filter once it reported', 20_000, async () => ((await visibleTiles.count()) === 0 ? true : undefined));
    assert.deepEqual(chromium.pageErrors(stalePage), []);
  });

  it('drops the points that leave a live chart\'s sliding window, but the one at its edge', async () => {
    const page = await chromium.newPage();
    const requests = recordApiRequests(page);
    const gpu = (await apiGpus())[0];
    const spanMs = 15 * 60_000;
    await openView(page, fleet.baseUrl, `#/gpus/${encodeURIComponent(gpu.id)}?range=15m`, 'gpu');
    const loaded = (await askAgain<{ data: { timestamps: number[] } }>(requests.last(TELEMETRY_PATH))).flatMap((answer) => answer.data.timestamps);
    assert.deepEqual(await chartPoints(page), (await chartPoints(page)).map(() => loaded.length), 'the charts start with the points the API answers');
    const times = [...loaded];
    // Streamed until some loaded point is more than one behind the window's start (at most 3 records: 30 s each, the window 15 min).
    let expected = times.length;
    for (let i = 0; i < 3 && expected >= loaded.length + i; i++) {
      const [row] = await fleet.streamLater();
      times.push(row.timestampMs);
      const startMs = row.timestampMs - spanMs;
      const inside = times.filter((ms) => ms >= startMs).length;
      expected = inside + (inside < times.length ? 1 : 0);
    }
    assert.ok(expected < times.length, `some point left the window (${times.length} points, ${expected} to keep)`);
    await waitFor(`every chart at ${expected} points (of ${times.length} loaded and streamed)`, 20_000, async () => {
      const points = await chartPoints(page);
      return points.length > 0 && points.every((n) => n === expected) ? true : undefined;
    });
    assert.deepEqual(chromium.pageErrors(page), []);
  });

  it('clears the problem banner when the gateway answers again, and keeps the URL\'s filters when a load fails', async () => {
    const page = await chromium.newPage();
    // Timers under the test's control: the 10 s summary refresh runs when the clock is moved on.
    await page.clock.install();
    await openView(page, fleet.baseUrl, '#/', 'fleet');
    const failing = { status: 503, contentType: 'application/json', body: JSON.stringify({ error: { code: 'STORE_UNAVAILABLE', message: 'the store is down (test)' } }) };
    await page.route('**/api/v1/summary', (route) => route.fulfill(failing));
    await page.clock.runFor(10_500);
    const banner = page.locator('#problem');
    await banner.filter({ hasText: 'the store is down (test)' }).waitFor({ timeout: 5_000 });
    await page.unroute('**/api/v1/summary');
    await page.clock.runFor(10_500);
    await banner.waitFor({ state: 'hidden', timeout: 5_000 });

    const { hostname, model } = (await getJson<{ data: { hostname: string; model: string }[] }>(`${fleet.baseUrl}/api/v1/gpus`)).body.data[0];
    await page.route('**/graphql', (route) => route.fulfill(failing));
    await page.goto(`${fleet.baseUrl}/#/?${new URLSearchParams({ host: hostname, model }).toString()}`);
    await banner.filter({ hasText: 'the store is down (test)' }).waitFor({ timeout: 10_000 });
    const query = new URLSearchParams(new URL(page.url()).hash.replace(/^#\/?\??/, ''));
    assert.deepEqual([query.get('host'), query.get('model')], [hostname, model], `the deep link's filters stay in the URL: ${page.url()}`);
    assert.deepEqual(chromium.pageErrors(page), []);
  });

  it('keeps a record stored while a chart\'s history loads, and tile values newer than a list refresh', async () => {
    const gpu = (await apiGpus())[0];
    // The GPU view's history answer is read now but handed to the page only after a new record is stored.
    const gpuPage = await chromium.newPage();
    let held: { route: Route; response: APIResponse } | undefined;
    await gpuPage.route(
      (url) => TELEMETRY_PATH.test(url.pathname),
      passingOn(async (route) => {
        held = { route, response: await route.fetch() };
      }),
    );
    await gpuPage.goto(`${fleet.baseUrl}/#/gpus/${encodeURIComponent(gpu.id)}?range=1h`);
    const history = await waitFor('the history request', 15_000, async () => held);
    const loaded = ((await history.response.json()) as { data: { timestamps: number[] } }).data.timestamps.length;
    await gpuPage.locator('#live-state.live').waitFor({ timeout: 15_000 });

    // The fleet's list refreshes (every 30 s, on the page's clock) answer the list read before the new record.
    const fleetPage = await chromium.newPage();
    await fleetPage.clock.install();
    let oldList: APIResponse | undefined;
    let lists = 0;
    await fleetPage.route(
      '**/graphql',
      passingOn(async (route) => {
        lists++;
        oldList ??= await route.fetch();
        await route.fulfill({ response: oldList });
      }),
    );
    await openView(fleetPage, fleet.baseUrl, '#/', 'fleet');
    await fleetPage.locator('#live-state.live').waitFor({ timeout: 15_000 });

    const streamed = await fleet.streamLater();
    await history.route.fulfill({ response: history.response });
    await waitForView(gpuPage, 'gpu');
    await waitFor(`the record stored during the load on every chart (${loaded} + 1 points)`, 20_000, async () => {
      const points = await chartPoints(gpuPage);
      return points.length > 0 && points.every((n) => n === loaded + 1) ? true : undefined;
    });

    const newUtilization = new Map(streamed.filter((row) => row.metric === 'DCGM_FI_DEV_GPU_UTIL').map((row) => [row.uuid, row.value]));
    const showsNew = async (): Promise<boolean> => [...(await tileValues(fleetPage))].every(([uuid, value]) => value === newUtilization.get(uuid));
    await waitFor('the new utilisation on every tile', 20_000, async () => ((await showsNew()) ? true : undefined));
    await fleetPage.clock.runFor(30_500);
    await waitFor('a list refresh', 10_000, async () => (lists >= 2 ? true : undefined));
    await fleetPage.clock.runFor(1_000);
    assert.ok(await showsNew(), 'a list older than the live values leaves them on the tiles');
    for (const page of [gpuPage, fleetPage]) assert.deepEqual(chromium.pageErrors(page), []);
  });

  it('answers an unknown GPU or host link with a not-found state in the view, drawn, with a link back to the fleet', async () => {
    const page = await chromium.newPage();
    for (const [route, view, asked] of [['#/gpus/nope:9', 'gpu', 'nope:9'], ['#/hosts/nohost', 'host', 'nohost']] as const) {
      const root = await openView(page, fleet.baseUrl, route, view);
      const notFound = root.getByTestId('not-found');
      assert.match((await notFound.textContent()) ?? '', new RegExp(`"${asked}"`), `${route}: the view says what was asked`);
      assert.equal(await root.locator('a[href="#/"]').count(), 1, `${route}: a link back to the fleet`);
      assert.equal(await root.locator('.loading').count(), 0, `${route}: no "Loading…" left`);
      assert.ok(await page.locator('#problem').isHidden(), `${route}: the view says it, not the problem banner`);
    }
    assert.deepEqual(chromium.pageErrors(page), []);
  });

  it('counts the hosts a filter shows, says when filters match nothing with a way to clear them, and keeps typing out of the history', async () => {
    const page = await chromium.newPage();
    const hostname = (await apiGpus())[0].hostname;
    const root = await openView(page, fleet.baseUrl, `#/?host=${encodeURIComponent(hostname)}`, 'fleet');
    const shown = root.getByTestId('fleet-shown');
    const perHost = fleet.gpuCount / fleet.hostCount;
    assert.deepEqual([await shown.getAttribute('data-gpus'), await shown.getAttribute('data-hosts')], [String(perHost), '1'], 'one host on screen, counted as one');
    assert.match((await shown.textContent()) ?? '', new RegExp(`^${perHost} of ${fleet.gpuCount} GPUs shown, on 1 host\\b`));

    const historyLength = await page.evaluate<number>('history.length');
    await page.locator('input[name="q"]').pressSequentially('no-such-gpu');
    assert.equal(await page.evaluate<number>('history.length'), historyLength, 'typing a search replaces the history entry');
    assert.equal(new URLSearchParams(new URL(page.url()).hash.replace(/^#\/?\??/, '')).get('q'), 'no-such-gpu', 'the URL holds the search');
    assert.equal(await shown.getAttribute('data-gpus'), '0');
    assert.equal(await page.locator('[data-testid="gpu-tile"]:visible').count(), 0);
    await root.getByTestId('clear-filters').click();
    assert.equal(await page.locator('[data-testid="gpu-tile"]:visible').count(), fleet.gpuCount, 'cleared: the whole fleet');
    assert.deepEqual([await shown.getAttribute('data-gpus'), await shown.getAttribute('data-hosts')], [String(fleet.gpuCount), String(fleet.hostCount)]);
    const query = new URLSearchParams(new URL(page.url()).hash.replace(/^#\/?\??/, ''));
    assert.deepEqual([query.get('host'), query.get('q')], [null, null], `no filter left in the URL: ${page.url()}`);
    assert.deepEqual(chromium.pageErrors(page), []);
  });

  it('sets data-ready to "false" from a range click until the new range is drawn', async () => {
    const page = await chromium.newPage();
    const requests = recordApiRequests(page);
    const gpu = (await apiGpus())[0];
    const root = await openView(page, fleet.baseUrl, `#/gpus/${encodeURIComponent(gpu.id)}?range=1h`, 'gpu');
    // The next view's history is held back, so "loading" lasts until the test lets it through.
    let release: (() => void) | undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    await page.route(
      (url) => TELEMETRY_PATH.test(url.pathname),
      async (route) => {
        await released;
        await route.continue();
      },
    );
    const asked = requests.requests.filter((r) => TELEMETRY_PATH.test(r.url.pathname)).length;
    await root.locator('a.chip', { hasText: '6 h' }).click();
    const view = page.getByTestId('view-gpu');
    assert.equal(await view.getAttribute('data-ready'), 'false', 'not ready right after the click');
    await waitFor('the 6 h view asking for its history', 10_000, async () => (requests.requests.filter((r) => TELEMETRY_PATH.test(r.url.pathname)).length > asked ? true : undefined));
    assert.equal(await view.getAttribute('data-ready'), 'false', 'not ready while the new range loads');
    release?.();
    await waitForView(page, 'gpu');
    const expected = await telemetryPointsOf(requests.last(TELEMETRY_PATH));
    const points = await chartPoints(page);
    assert.ok(points.length > 0 && points.every((n) => n === expected), `once ready, every chart plots the ${expected} points of the 6 h range (${points.join(', ')})`);
    assert.deepEqual(chromium.pageErrors(page), []);
  });

  it('writes times as YYYY-MM-DD HH:MM:SS with the zone, and each unit in one format', async () => {
    const page = await chromium.newPage({ timezoneId: 'Asia/Kolkata' });
    await page.addInitScript(RECORD_CANVAS_TEXTS);
    const gpu = (await apiGpus())[0];
    const root = await openView(page, fleet.baseUrl, `#/gpus/${encodeURIComponent(gpu.id)}?range=1h`, 'gpu');
    const drawn = await page.evaluate<string[]>('window.gputelCanvasTexts');
    const texts = await root.locator('dl.meta dd, [data-testid="gpu-latest"] td').allTextContents();
    const times = texts.filter((text) => /\d{4}-\d\d-\d\d/.test(text));
    assert.ok(times.length >= 3, `first seen, last seen and the newest values' time: ${texts.join(' | ')}`);
    for (const text of times) assert.match(text, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+05:30\b/, 'a 24-hour time in the page\'s zone, named');
    assert.ok(texts.every((text) => !/\b(AM|PM)\b/.test(text)), 'no 12-hour time');

    // The custom range's fields: the same format, the zone beside them, and a range typed there is the one asked for.
    const [fromText, toText] = [await root.locator('input[name="from"]').inputValue(), await root.locator('input[name="to"]').inputValue()];
    for (const text of [fromText, toText]) assert.match(text, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/, 'a range field');
    assert.equal(await root.getByTestId('range-zone').textContent(), '+05:30');
    const toMs = Date.parse(`${toText.replace(' ', 'T')}+05:30`);
    assertTimeAxis(drawn, Date.parse(`${fromText.replace(' ', 'T')}+05:30`), toMs);
    const fromMs = toMs - 20 * 60_000;
    await root.locator('input[name="from"]').fill(new Date(fromMs + KOLKATA_OFFSET_MS).toISOString().slice(0, 19).replace('T', ' '));
    await root.locator('form.custom button').click();
    await waitFor('the custom range in the URL', 10_000, async () => (new URL(page.url()).hash.includes('from=') ? true : undefined));
    await waitForView(page, 'gpu');
    const query = new URLSearchParams(new URL(page.url()).hash.replace(/^#[^?]*\??/, ''));
    assert.deepEqual([query.get('from'), query.get('to')], [new Date(fromMs).toISOString(), new Date(toMs).toISOString()], 'the range typed, read in the page\'s zone');

    await openView(page, fleet.baseUrl, '#/', 'fleet');
    const formats: Record<string, RegExp> = { gpu_utilization: /^\d+%$/, temperature: /^\d+°C$/, power_draw: /^\d+ W$/, memory_used_mb: /^\d+\.\d GiB$/ };
    for (const [metric, format] of Object.entries(formats)) {
      await page.locator('select[name="metric"]').selectOption(metric);
      const values = await page.locator('[data-testid="gpu-tile"] .tile-value').allTextContents();
      assert.equal(values.length, fleet.gpuCount);
      for (const value of values) assert.match(value, format, `${metric} tile`);
    }
    assert.deepEqual(chromium.pageErrors(page), []);
  });

  it('fits a 420 px wide window: nothing runs off the right edge, and the search placeholder shows whole', async () => {
    const width = 420;
    const page = await chromium.newPage({ viewport: { width, height: 800 } });
    const gpu = (await apiGpus())[0];
    const overflow = (): Promise<number> => page.evaluate<number>('document.documentElement.scrollWidth - document.documentElement.clientWidth');
    for (const [route, view] of [['#/', 'fleet'], [`#/gpus/${encodeURIComponent(gpu.id)}?range=1h`, 'gpu'], [`#/hosts/${encodeURIComponent(gpu.hostname)}`, 'host'], ['#/idle', 'idle']] as const) {
      await openView(page, fleet.baseUrl, route, view);
      assert.equal(await overflow(), 0, `${route}: no horizontal scroll at ${width} px`);
      if (view === 'gpu') {
        const box = await page.locator('input[name="to"]').boundingBox();
        assert.ok(box !== null && box.x + box.width <= width, `the "to" input ends inside the window (${JSON.stringify(box)})`);
        await chromium.screenshot(page, 'gpu-narrow');
      }
      if (view === 'fleet') {
        // The placeholder's width in the input's font, against the room the input has for text.
        const room = await page.evaluate<{ text: number; room: number }>(`(() => {
          const input = document.querySelector('input[name="q"]');
          const style = getComputedStyle(input);
          const context = document.createElement('canvas').getContext('2d');
          context.font = style.font;
          return { text: context.measureText(input.placeholder).width, room: input.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight) };
        })()`);
        assert.ok(room.text <= room.room, `the search placeholder fits (${room.text.toFixed(0)} px of text in ${room.room} px)`);
      }
    }
    assert.deepEqual(chromium.pageErrors(page), []);
  });

  it('loads the page and GraphiQL with no failed request or console error (the icon is served)', async () => {
    const page = await chromium.newPage();
    const failed: string[] = [];
    page.on('response', (response) => {
      if (response.status() >= 400) failed.push(`${response.status()} ${response.url()}`);
    });
    await openView(page, fleet.baseUrl, '#/', 'fleet');
    await page.goto(`${fleet.baseUrl}/graphiql`);
    await page.locator('.graphiql-container').waitFor({ timeout: 15_000 });
    for (const path of ['/favicon.ico', '/graphiql/favicon.ico']) {
      const response = await fetch(`${fleet.baseUrl}${path}`);
      assert.equal(response.status, 200, path);
      assert.match(response.headers.get('content-type') ?? '', /^image\/svg\+xml/, path);
      await response.body?.cancel();
    }
    assert.deepEqual(failed, [], 'no request failed');
    assert.deepEqual(chromium.consoleErrors(page), []);
    assert.deepEqual(chromium.pageErrors(page), []);
  });
});
