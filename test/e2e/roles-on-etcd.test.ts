/**
 * Separate streamer, collector and gateway processes on a real etcd: the
 * deployment shape of a cluster, checked value by value and by counts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { EXIT } from '../../src/cli/exit-codes.js';
import { assertApiMatches, getJson, waitForSamples } from '../support/api-checks.js';
import { withBrokenRows } from '../support/broken-rows.js';
import { readOracle } from '../support/csv-oracle.js';
import { startEtcd, findFreePort } from '../support/etcd-process.js';
import { runGputel, type GputelProcess } from '../support/gputel-process.js';

const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/dcgm-export-sample.csv', import.meta.url));

describe('streamer, collector and gateway processes on etcd', () => {
  let etcd: Awaited<ReturnType<typeof startEtcd>>;
  const processes: GputelProcess[] = [];
  let dir: string;
  let testNumber = 0;

  before(async () => {
    etcd = await startEtcd();
    dir = mkdtempSync(join(tmpdir(), 'gputel-roles-'));
  });
  after(async () => {
    await Promise.all(processes.map((p) => p.stop()));
    await etcd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A collector and a gateway under a root prefix of their own. */
  async function startServingRoles(): Promise<{ baseUrl: string; common: string[] }> {
    const common = ['--etcd', etcd.endpoints.join(','), '--root', `/gputel-test-${++testNumber}`, '--host', '127.0.0.1'];
    const collector = runGputel(['collector', ...common, '--port', '0']);
    const port = await findFreePort();
    const gateway = runGputel(['gateway', ...common, '--port', String(port)]);
    processes.push(collector, gateway);
    const baseUrl = `http://127.0.0.1:${port}`;
    for (let i = 0; i < 100; i++) {
      const ready = await fetch(`${baseUrl}/readyz`).then((r) => r.status, () => 0);
      if (ready === 200) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    return { baseUrl, common };
  }

  async function stream(common: string[], file: string, extra: string[] = []): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const streamer = runGputel(['streamer', ...common, '--file', file, ...extra]);
    processes.push(streamer);
    const code = await streamer.exited;
    return { code, stdout: streamer.stdout(), stderr: streamer.stderr() };
  }

  it('ingests a DCGM export and serves exactly its GPUs, hosts and values', async () => {
    const { baseUrl, common } = await startServingRoles();
    const result = await stream(common, FIXTURE);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /rows read 84, rows rejected 0, good rows 84, messages \d+, [\d,]+ rows\/s/);
    const rows = readOracle(FIXTURE);
    await waitForSamples(baseUrl, rows.length);
    await assertApiMatches(baseUrl, rows);
  });

  it('keeps records whole and counts exact when batches cut between the metrics of one GPU', async () => {
    const { baseUrl, common } = await startServingRoles();
    const file = join(dir, 'generated.csv');
    const generated = runGputel(['generate', '--out', file, '--hosts', '2', '--gpus-per-host', '2', '--duration', '2m', '--interval', '1s', '--seed', '3', '--start', '2026-03-02T09:00:00Z']);
    processes.push(generated);
    assert.equal(await generated.exited, 0, generated.stderr());
    // Flushes land every ~16 KiB of input: never on a GPU's record boundary.
    const result = await stream(common, file, ['--batch-samples', '50']);
    assert.equal(result.code, 0, result.stderr);
    const messages = Number(/messages (\d+)/.exec(result.stdout)?.[1]);
    assert.ok(messages > 20, `many messages (${messages})`);
    const rows = readOracle(file);
    await waitForSamples(baseUrl, rows.length);
    await assertApiMatches(baseUrl, rows, { pageSize: 7 }); // pages that end mid-chunk and span chunks
  });

  it('streams nothing twice when the same file is streamed again', async () => {
    const { baseUrl, common } = await startServingRoles();
    assert.equal((await stream(common, FIXTURE)).code, 0);
    await waitForSamples(baseUrl, 84);
    const again = await stream(common, FIXTURE);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /rows read 0, rows rejected 0, good rows 0, messages 0/);
    await new Promise((r) => setTimeout(r, 1_000));
    assert.equal((await getJson<{ samples: number }>(`${baseUrl}/api/v1/stats`)).body.samples, 84);
  });

  it('with --strict, reports every broken row by line, stores every good row and exits REJECTED_INPUT (4)', async () => {
    const { baseUrl, common } = await startServingRoles();
    const { text, badLines } = withBrokenRows(readFileSync(FIXTURE, 'utf8'));
    const file = join(dir, 'broken.csv');
    writeFileSync(file, text);
    const result = await stream(common, file, ['--strict']);
    assert.equal(result.code, EXIT.REJECTED_INPUT);
    const rerun = await stream(common, file, ['--strict']);
    assert.equal(rerun.code, EXIT.REJECTED_INPUT, 'a rerun that resumes past the bad rows still fails');
    assert.match(rerun.stdout, new RegExp(`rows read 0, rows rejected 0 \\(and ${badLines.length} in earlier runs of this source\\), good rows 0`));
    assert.match(result.stdout, new RegExp(`rows read ${84 + badLines.length}, rows rejected ${badLines.length}, good rows 84,`));
    for (const line of badLines) assert.match(result.stderr, new RegExp(`broken\\.csv:${line}: `), `line ${line} reported`);
    const rows = readOracle(file);
    await waitForSamples(baseUrl, rows.length);
    await assertApiMatches(baseUrl, rows);
  });

  it('refuses a streamer whose partition count differs from the topic\'s', async () => {
    const { common } = await startServingRoles();
    const result = await stream(common, FIXTURE, ['--partitions', '32']);
    assert.equal(result.code, EXIT.CONFIG);
    assert.match(result.stderr, /topic "telemetry" has 16 partitions .* started with --partitions 32: start it with --partitions 16/);
  });

  it('refuses to run a separate role without etcd', async () => {
    const result = await stream([], FIXTURE);
    assert.equal(result.code, EXIT.CONFIG);
    assert.match(result.stderr, /gputel streamer needs etcd: pass --etcd/);
  });

  it('refuses a bad setting with a message naming it', async () => {
    const result = await stream(['--etcd', etcd.endpoints.join(','), '--partitions', 'many', '--batch-samples', '0'], FIXTURE);
    assert.equal(result.code, EXIT.CONFIG);
    assert.match(result.stderr, /--partitions = "many": must be a whole number from 1 to 127/);
    assert.match(result.stderr, /--batch-samples = "0": must be a whole number from 1 to 40000/);
  });
});
