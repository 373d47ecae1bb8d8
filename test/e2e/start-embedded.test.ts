/**
 * `gputel start --file` on the embedded store: everything in one process,
 * checked value by value against an independent reading of the file.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { assertApiMatches, getJson, waitForSamples } from '../support/api-checks.js';
import { withBrokenRows } from '../support/broken-rows.js';
import { readOracle } from '../support/csv-oracle.js';
import { runGputel, type GputelProcess } from '../support/gputel-process.js';

const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/dcgm-export-sample.csv', import.meta.url));

describe('gputel start (embedded store)', () => {
  const dirs: string[] = [];
  const processes: GputelProcess[] = [];
  after(async () => {
    await Promise.all(processes.map((p) => p.stop()));
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  async function start(file: string | undefined): Promise<{ baseUrl: string; gputel: GputelProcess; dataDir: string }> {
    const dataDir = mkdtempSync(join(tmpdir(), 'gputel-start-'));
    dirs.push(dataDir);
    const gputel = runGputel(['start', ...(file ? ['--file', file] : []), '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir]);
    processes.push(gputel);
    const [, port] = await gputel.waitForOutput(/API on http:\/\/localhost:(\d+)/);
    return { baseUrl: `http://127.0.0.1:${port}`, gputel, dataDir };
  }

  it('serves every GPU, host and value of a DCGM export exactly', async () => {
    const rows = readOracle(FIXTURE);
    const { baseUrl, gputel } = await start(FIXTURE);
    await waitForSamples(baseUrl, rows.length);
    await assertApiMatches(baseUrl, rows);
    await gputel.waitForOutput(/rows read 84, rows rejected 0, good rows 84/);
  });

  it('stores every good row and reports every broken row by line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gputel-broken-'));
    dirs.push(dir);
    const { text, badLines } = withBrokenRows(readFileSync(FIXTURE, 'utf8'));
    const file = join(dir, 'broken.csv');
    writeFileSync(file, text);
    const rows = readOracle(file);
    assert.equal(rows.length, 84, 'the oracle sees only the good rows');
    const { baseUrl, gputel } = await start(file);
    await gputel.waitForOutput(new RegExp(`rows read ${84 + badLines.length}, rows rejected ${badLines.length}, good rows 84,`));
    const reported = (line: number): boolean => new RegExp(`broken\\.csv:${line}: `).test(gputel.stderr());
    for (let wait = 0; wait < 50 && !badLines.every(reported); wait++) await sleep(100);
    for (const line of badLines) assert.ok(reported(line), `line ${line} reported`);
    await waitForSamples(baseUrl, rows.length);
    await assertApiMatches(baseUrl, rows);
  });

  it('fills itself with an hour of demo data when given no file', async () => {
    const { baseUrl, gputel } = await start(undefined);
    const [, rows] = await gputel.waitForOutput(/generated (\d+) rows of demo data/);
    await gputel.waitForOutput(/rows read \d+, rows rejected 0/);
    const stats = await waitForSamples(baseUrl, Number(rows));
    assert.equal(stats.samples, Number(rows));
    assert.equal(stats.gpus, 32);
    assert.equal(stats.hosts, 4);
    const gpus = await getJson<{ data: { status: string; last_seen: string }[] }>(`${baseUrl}/api/v1/gpus`);
    assert.ok(gpus.body.data.every((g) => g.status === 'active'));
    assert.ok(Date.now() - Date.parse(gpus.body.data[0].last_seen) < 5 * 60_000, 'demo data ends about now');
  });

  it('answers health, readiness, metrics and the dashboard page', async () => {
    const { baseUrl } = await start(FIXTURE);
    assert.equal((await getJson(`${baseUrl}/healthz`)).status, 200);
    const ready = await getJson<{ status: string }>(`${baseUrl}/readyz`);
    assert.equal(ready.status, 200, JSON.stringify(ready.body));
    const metrics = await (await fetch(`${baseUrl}/metrics`)).text();
    assert.match(metrics, /gputel_collector_samples_total/);
    const page = await fetch(`${baseUrl}/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<title>gputel<\/title>/);
  });
});
