/**
 * The dashboard in headless Chromium on the cases the generated fleet lacks
 * (test/support/dashboard-edge-fleet.ts): "idle for at least" when a GPU's
 * means are not monotonic over the windows, MIG instances and one UUID
 * under two hostnames as separate tiles and GPU views, and hostname, model
 * and pod text that is HTML staying text.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { getJson } from '../support/api-checks.js';
import { useBrowser } from '../support/browser.js';
import { EDGE_SERIES, HTML_HOSTNAME, HTML_MODEL, HTML_POD, useEdgeFleet, type EdgeSeries } from '../support/dashboard-edge-fleet.js';
import { chartPoints, openView } from '../support/dashboard-page.js';

type ApiGpu = { id: string; uuid: string; hostname: string; mig_instance_id: string | null };

/** The API's GPU of `series`. */
function gpuOf(gpus: ApiGpu[], series: EdgeSeries): ApiGpu {
  const gpu = gpus.find((g) => g.hostname === series.hostname && g.uuid === series.uuid && g.mig_instance_id === (series.mig?.id ?? null));
  assert.ok(gpu, `the API lists ${series.hostname} ${series.uuid} ${series.mig?.id ?? ''}`);
  return gpu;
}

/** No markup from the data set became elements, and no script of it ran. */
async function assertInert(page: Page): Promise<void> {
  assert.equal(await page.locator('#view img, #view script, #view .xss-model').count(), 0, 'no element made from API text');
  assert.equal(await page.evaluate<unknown>('window.gputelXss'), undefined, 'no script from API text ran');
}

describe('dashboard in headless Chromium on MIG, shared UUIDs, HTML text and an idle dip', () => {
  const fleet = useEdgeFleet('dashboard-edge');
  const chromium = useBrowser();

  async function apiGpus(): Promise<ApiGpu[]> {
    const { status, body } = await getJson<{ data: ApiGpu[] }>(`${fleet.baseUrl}/api/v1/gpus`);
    assert.equal(status, 200);
    return body.data;
  }

  it('says a GPU busy 3 h to 2 h ago has been idle for 1 h, not 24 h', async () => {
    const dip = gpuOf(await apiGpus(), EDGE_SERIES.dip);
    const idleOver = async (window: string): Promise<boolean> =>
      (await getJson<{ idle: { gpus: { id: string }[] } }>(`${fleet.baseUrl}/api/v1/summary?window=${window}`)).body.idle.gpus.some((gpu) => gpu.id === dip.id);
    // The case itself: idle over 1 h and over 24 h, but not over the 6 h between.
    assert.deepEqual([await idleOver('1h'), await idleOver('6h'), await idleOver('24h')], [true, false, true], 'the API sees the dip only in the 6 h mean');
    const page = await chromium.newPage();
    await openView(page, fleet.baseUrl, '#/idle?window=1h', 'idle');
    const row = page.locator(`[data-testid="idle-row"][data-id="${dip.id}"]`);
    assert.equal(await row.count(), 1, 'the GPU is idle over the last hour');
    const idleFor = row.getByTestId('idle-for');
    assert.equal(await idleFor.getAttribute('data-ms'), String(3_600_000), 'idle for the 1 h window: the 6 h mean is not below 5 %');
    assert.equal((await idleFor.textContent())?.trim(), '1 h');
    assert.deepEqual(chromium.pageErrors(page), []);
  });

  it('shows each MIG instance and each hostname of a shared UUID as its own tile and GPU view', async () => {
    const gpus = await apiGpus();
    const page = await chromium.newPage();
    await openView(page, fleet.baseUrl, '#/', 'fleet');
    const ids = await page.getByTestId('gpu-tile').evaluateAll((tiles) => tiles.map((tile) => tile.getAttribute('data-id')));
    assert.deepEqual([...ids].sort(), gpus.map((gpu) => gpu.id).sort(), 'one tile per series the API lists');
    for (const series of [EDGE_SERIES.mig1, EDGE_SERIES.mig2, EDGE_SERIES.sharedA, EDGE_SERIES.sharedB]) {
      const gpu = gpuOf(gpus, series);
      const tile = page.locator(`[data-testid="gpu-tile"][data-id="${gpu.id}"]`);
      assert.equal(await tile.getAttribute('data-value'), String(series.utilization(0, 0)), `${gpu.id}'s tile shows its own series`);

      await openView(page, fleet.baseUrl, `#/gpus/${encodeURIComponent(gpu.id)}?range=1h&metrics=gpu_utilization`, 'gpu');
      const heading = (await page.locator('[data-testid="view-gpu"] h1').textContent()) ?? '';
      assert.ok(heading.startsWith(`${series.hostname} · GPU 0`), `the GPU view of ${gpu.id} names its host: ${heading}`);
      if (series.mig !== null) assert.ok(heading.includes(`MIG instance ${series.mig.id} (${series.mig.profile})`), `and its MIG instance: ${heading}`);
      else assert.ok(!heading.includes('MIG'), heading);
      assert.match((await page.getByTestId('gpu-latest').textContent()) ?? '', new RegExp(`Utilisation${series.utilization(0, 0)}%`), `${gpu.id}'s newest values are its own`);
      assert.deepEqual(await chartPoints(page), [fleet.recentPoints], `${gpu.id}'s chart plots its own series, not the other one's`);
      await openView(page, fleet.baseUrl, '#/', 'fleet');
    }
    assert.deepEqual(chromium.pageErrors(page), []);
  });

  it('shows hostname, model and pod text that is HTML as text in every view', async () => {
    const gpu = gpuOf(await apiGpus(), EDGE_SERIES.html);
    const page = await chromium.newPage();
    const fleetView = await openView(page, fleet.baseUrl, '#/', 'fleet');
    assert.ok(((await fleetView.textContent()) ?? '').includes(HTML_HOSTNAME), 'the fleet shows the hostname as text');
    assert.ok(((await page.locator(`[data-testid="gpu-tile"][data-id="${gpu.id}"]`).getAttribute('title')) ?? '').includes(HTML_MODEL), 'the tile names the model as text');
    await assertInert(page);

    const gpuView = await openView(page, fleet.baseUrl, `#/gpus/${encodeURIComponent(gpu.id)}`, 'gpu');
    const text = (await gpuView.textContent()) ?? '';
    for (const shown of [HTML_HOSTNAME, HTML_MODEL, HTML_POD]) assert.ok(text.includes(shown), `the GPU view shows ${shown} as text`);
    await assertInert(page);

    const hostView = await openView(page, fleet.baseUrl, `#/hosts/${encodeURIComponent(HTML_HOSTNAME)}`, 'host');
    const hostText = (await hostView.textContent()) ?? '';
    assert.ok(hostText.includes(HTML_HOSTNAME) && hostText.includes(HTML_MODEL), 'the host view shows hostname and model as text');
    await assertInert(page);

    await openView(page, fleet.baseUrl, '#/idle?window=1h', 'idle');
    await assertInert(page);
    assert.deepEqual(chromium.pageErrors(page), []);
  });
});
