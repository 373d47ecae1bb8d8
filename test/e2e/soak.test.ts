/**
 * The soak's 1-minute version (bench/soak.ts; `npm run soak` runs 10): a
 * local cluster under the full fleet and load, a collector killed every
 * 20 s and a gateway once. It must end with an exact sample count, no
 * request error but POSTs in flight on the killed gateway, and no live
 * record missed. Speed is the bench's to report, not this test's.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const SOAK = fileURLToPath(new URL('../../bench/soak.js', import.meta.url));

interface SoakFigures {
  figures: {
    passed: boolean;
    events: { at: string; what: string }[];
    http: { answered: number; otherErrors: number; errorsNearGatewayKill: number; errorSamples: { route: string; what: string }[] };
    live: { records: number; missedRecords: number; outOfOrder: number; errorFrames: number; openAtEnd: number; clients: number };
    count: { expected: number; committed: number; stored: number; api: number; exact: boolean };
  };
}

describe('soak, 1 minute', { timeout: 600_000 }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'gputel-soak-test-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('counts every sample exactly through collector and gateway kills under load, and misses no live record', async (t) => {
    const json = path.join(dir, 'soak.json');
    const child = spawn(process.execPath, [SOAK, '--minutes', '1', '--kill-every', '20s', '--dir', dir, '--json', json], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    const { figures } = JSON.parse(readFileSync(json, 'utf8')) as SoakFigures;
    t.diagnostic(output.slice(output.indexOf('## Requests')));

    assert.deepEqual(
      figures.events.filter((e) => /^(killed|restarted)/.test(e.what)).map((e) => e.what.replace(/ \(.*/, '')),
      ['killed collector-1', 'restarted collector-1', 'killed gateway-1', 'restarted gateway-1', 'killed collector-2', 'restarted collector-2'],
    );
    const { count } = figures;
    assert.ok(count.expected > 0);
    assert.deepEqual([count.committed, count.stored, count.api], [count.expected, count.expected, count.expected], 'simulated = committed = stored = /api/v1/stats');
    assert.ok(figures.http.answered > 0);
    assert.equal(figures.http.otherErrors, 0, JSON.stringify(figures.http.errorSamples.slice(0, 5)));
    // The only errors allowed: POSTs (GraphQL) that had reached the killed gateway, which nginx does not repeat.
    assert.ok(figures.http.errorSamples.every((e) => e.route.startsWith('GraphQL') && e.what.startsWith('HTTP 502')), JSON.stringify(figures.http.errorSamples.slice(0, 5)));
    assert.ok(figures.live.records > 0);
    assert.deepEqual([figures.live.missedRecords, figures.live.outOfOrder, figures.live.errorFrames], [0, 0, 0], 'no live record missed, out of order or refused');
    assert.equal(figures.live.openAtEnd, figures.live.clients, 'every live client connected at the end (those of the killed gateway came back)');
    assert.equal(figures.passed, true);
    assert.equal(code, 0, output.slice(-3_000));
  });
});
