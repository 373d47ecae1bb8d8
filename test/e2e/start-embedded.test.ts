/**
 * `gputel start --file` on the embedded store: everything in one process,
 * checked value by value against an independent reading of the file.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { assertApiMatches, getJson, waitForSamples } from '../support/api-checks.js';
import { withBrokenRows } from '../support/broken-rows.js';
import { readOracle } from '../support/csv-oracle.js';
import { runGputel, type GputelProcess } from '../support/gputel-process.js';

const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/dcgm-export-sample.csv', import.meta.url));

interface Stats {
  gpus: number;
  hosts: number;
  records: number;
  samples: number;
}

async function waitForStats(baseUrl: string, done: (stats: Stats) => boolean, timeoutMs = 30_000): Promise<Stats> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { body } = await getJson<Stats>(`${baseUrl}/api/v1/stats`);
    if (done(body) || Date.now() > deadline) return body;
    await sleep(200);
  }
}

describe('gputel start (embedded store)', () => {
  const dirs: string[] = [];
  const processes: GputelProcess[] = [];
  after(async () => {
    await Promise.all(processes.map((p) => p.stop()));
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  async function start(file: string | undefined, reuseDataDir?: string): Promise<{ baseUrl: string; gputel: GputelProcess; dataDir: string }> {
    const dataDir = reuseDataDir ?? mkdtempSync(join(tmpdir(), 'gputel-start-'));
    if (!reuseDataDir) dirs.push(dataDir);
    const gputel = runGputel(['start', ...(file ? ['--file', file] : []), '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir]);
    processes.push(gputel);
    const [, port] = await gputel.waitForOutput(/API on http:\/\/localhost:(\d+)/);
    return { baseUrl: `http://127.0.0.1:${port}`, gputel, dataDir };
  }

  it('refuses a port in use before it opens or writes the store (exit 3)', async () => {
    const busy = net.createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    try {
      const port = (busy.address() as net.AddressInfo).port;
      const dataDir = join(mkdtempSync(join(tmpdir(), 'gputel-start-')), 'data');
      dirs.push(dirname(dataDir));
      const gputel = runGputel(['start', '--port', String(port), '--host', '127.0.0.1', '--data-dir', dataDir]);
      processes.push(gputel);
      assert.equal(await gputel.exited, 3, gputel.stderr());
      assert.match(gputel.stderr(), new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: the port is in use\\. Pass --port with a free port`));
      assert.equal(existsSync(dataDir), false, 'the store was not opened');
    } finally {
      busy.close();
    }
  });

  it('serves every GPU, host and value of a DCGM export exactly', async () => {
    const rows = readOracle(FIXTURE);
    const { baseUrl, gputel } = await start(FIXTURE);
    await waitForSamples(baseUrl, rows.length);
    await assertApiMatches(baseUrl, rows);
    await gputel.waitForOutput(/rows read 84, rows rejected 0, good rows 84/);
  });

  it('serves an imported export again when restarted with no source, without simulating a fleet beside it', async () => {
    const rows = readOracle(FIXTURE);
    const first = await start(FIXTURE);
    await waitForSamples(first.baseUrl, rows.length);
    await first.gputel.stop();
    // The simulator's samples carry today's time: beside the export they would make retention remove it.
    const again = await start(undefined, first.dataDir);
    await again.gputel.waitForOutput(/no source given and the store holds data: serving it/);
    await sleep(1_500);
    assert.doesNotMatch(again.gputel.stdout(), /streaming simulated fleet/);
    await assertApiMatches(again.baseUrl, rows);
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

  it('runs a live simulated fleet, back-filled with the last hour, when given no source', async () => {
    const { baseUrl, gputel } = await start(undefined);
    await gputel.waitForOutput(/streaming simulated fleet: 4 hosts × 8 GPUs/);
    // The back-fill: 32 GPUs with an hour of history, all active and ending about now.
    let stats = await waitForStats(baseUrl, (s) => s.gpus === 32 && s.records >= 32 * 355);
    assert.equal(stats.hosts, 4);
    const gpus = await getJson<{ data: { status: string; last_seen: string }[] }>(`${baseUrl}/api/v1/gpus`);
    assert.ok(gpus.body.data.every((g) => g.status === 'active'));
    assert.ok(Date.now() - Date.parse(gpus.body.data[0].last_seen) < 30_000, 'the fleet reports about now');
    // Live: a new sample every 10 s keeps arriving without a restart.
    const before = stats.samples;
    stats = await waitForStats(baseUrl, (s) => s.samples > before, 25_000);
    assert.ok(stats.samples > before);
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
