/**
 * The soak's 1-minute version (bench/soak.ts; `npm run soak` runs 10
 * minutes at full size): a local cluster under a live fleet and a mixed
 * load, collector-1 killed every 20 s and gateway-1 once. It must end with
 * an exact sample count (read back GPU by GPU as well as counted), no
 * request error but POSTs in flight on the killed gateway, and no live
 * record missed. The sizes are smaller than the bench's (a CI machine has
 * 2 cores, shared with nothing else but this test's own processes); speed is
 * the bench's to report, not this test's.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { readClusterState } from '../../src/cli/cluster/cluster-state.js';
import { stopClusterProcesses } from '../../src/cli/cluster/process-stopper.js';

const SOAK = fileURLToPath(new URL('../../bench/soak.js', import.meta.url));

interface SoakFigures {
  figures: {
    passed: boolean;
    events: { at: string; what: string }[];
    http: { answered: number; otherErrors: number; excused: number; errorSamples: { route: string; method: string; what: string }[] };
    live: { records: number; missedRecords: number; outOfOrder: number; errorFrames: number; openAtEnd: number; clients: number };
    count: { expected: number; committed: number; stored: number; api: number; readBack: number; exact: boolean };
  };
}

describe('soak, 1 minute', { timeout: 600_000 }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'gputel-soak-test-'));
  let child: ChildProcess | undefined;
  after(async () => {
    // A soak that failed or hung midway: it, then what its cluster state names, stopped by pid.
    if (child !== undefined && child.exitCode === null) child.kill('SIGKILL');
    if (existsSync(path.join(dir, 'cluster', 'cluster.json'))) await stopClusterProcesses(readClusterState(path.join(dir, 'cluster')).processes, 2_000);
    rmSync(dir, { recursive: true, force: true });
  });

  it('counts every sample exactly through collector and gateway kills under load, and misses no live record', async (t) => {
    const json = path.join(dir, 'soak.json');
    child = spawn(process.execPath, [SOAK, '--minutes', '1', '--gpus', '200', '--rate', '200', '--ws-clients', '200', '--kill-every', '20s', '--dir', dir, '--json', json], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child!.once('exit', resolve));
    t.diagnostic(output.includes('## Requests') ? output.slice(output.indexOf('## Requests')) : output.slice(-3_000));
    assert.ok(existsSync(json), `the soak wrote no figures (exit ${code}):\n${output.slice(-3_000)}`);
    const { figures } = JSON.parse(readFileSync(json, 'utf8')) as SoakFigures;

    assert.deepEqual(
      figures.events.filter((e) => /^(killed|restarted)/.test(e.what)).map((e) => e.what.replace(/ \(.*/, '')),
      ['killed collector-1', 'restarted collector-1', 'killed gateway-1', 'restarted gateway-1', 'killed collector-1', 'restarted collector-1'],
    );
    const { count } = figures;
    assert.ok(count.expected > 0);
    assert.deepEqual(
      [count.committed, count.stored, count.api, count.readBack],
      [count.expected, count.expected, count.expected, count.expected],
      'simulated = committed = counted = /api/v1/stats = read back',
    );
    assert.ok(figures.http.answered > 0);
    assert.equal(figures.http.otherErrors, 0, JSON.stringify(figures.http.errorSamples.slice(0, 5)));
    assert.ok(figures.live.records > 0);
    assert.deepEqual([figures.live.missedRecords, figures.live.outOfOrder, figures.live.errorFrames], [0, 0, 0], 'no live record missed, out of order or refused');
    assert.equal(figures.live.openAtEnd, figures.live.clients, 'every live client connected at the end (those of the killed gateway came back)');
    assert.equal(figures.passed, true);
    assert.equal(code, 0, output.slice(-3_000));
  });
});
