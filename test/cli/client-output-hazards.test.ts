/**
 * What the client commands print when the data or the reader is hostile or
 * odd, through the real binary against a real gateway: stored text with
 * terminal escapes reaches tables and `watch` lines escaped (JSON and CSV
 * stay exact); a reader that closes the pipe (`| head -1`) ends the command
 * quietly with exit 0; a page that fails after others were printed says the
 * output is incomplete; `watch`'s table stays aligned for long GPU labels.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { RecordPrinter } from '../../src/cli/client/watch-command.js';
import { EXIT } from '../../src/cli/exit-codes.js';
import { terminalColors } from '../../src/cli/output-format.js';
import type { ApiRecord } from '../../src/gateway/api-schemas.js';
import { getJson } from '../support/api-checks.js';
import { CSV_HEADER, csvLines } from '../support/csv-lines.js';
import { GPUTEL_BIN, runGputel, type GputelProcess } from '../support/gputel-process.js';
import { startInProcessPipeline, type InProcessPipeline } from '../support/in-process-pipeline.js';
import { waitFor } from '../support/wait-for.js';

const execFileAsync = promisify(execFile);
/** No colour, no gateway or key from the test's own environment. */
const PLAIN_ENV = { FORCE_COLOR: '0', NO_COLOR: '', GPUTEL_GATEWAY: '', GPUTEL_API_KEY: '' };
/** A hostname that would retitle the terminal, ring it and clear the screen if printed raw; \u009b is the C1 CSI. */
const EVIL_HOST = 'evil\u001b]0;pwned\u0007\u001b[2J\u009b1m';
/** What a table shows of it. */
const EVIL_SHOWN = 'evil\\x1b]0;pwned\\x07\\x1b[2J\\x9b1m';
// eslint-disable-next-line no-control-regex -- asserting that no control character but a line break reaches the terminal
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;
const LONG_HOST = 'a-rather-long-hostname.rack-12.example.internal';
/** The one GPU with many records (GPU-5 on host-5): more than a pipe holds in every format. */
const BIG_GPU = 'host-5:0';
const BIG_RECORDS = 2_000;

/** `csvLines` of GPU-{tag} on another hostname. */
function linesOn(hostname: string, count: number, tag: number, timeOf: (i: number) => number): string {
  return csvLines(count, tag, 0, timeOf).replaceAll(`"host-${tag}"`, `"${hostname}"`);
}

describe('client output: hostile text, closed pipes, failed pages, watch alignment', () => {
  let dir: string;
  let pipeline: InProcessPipeline;
  const started: GputelProcess[] = [];

  async function cli(args: string[], gateway = pipeline.baseUrl): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const child = runGputel([...args, '--gateway', gateway], PLAIN_ENV);
    started.push(child);
    const code = await child.exited;
    return { code, stdout: child.stdout(), stderr: child.stderr() };
  }

  async function ok(args: string[]): Promise<string> {
    const result = await cli(args);
    assert.equal(result.code, 0, `gputel ${args.join(' ')}: ${result.stderr}`);
    return result.stdout;
  }

  /** Runs `gputel ARGS | READER` in bash with pipefail: the exit code is gputel's unless it is 0. */
  async function piped(args: string[], reader: string): Promise<{ code: number; stdout: string; stderr: string }> {
    const words = [process.execPath, GPUTEL_BIN, ...args, '--gateway', pipeline.baseUrl].map((word) => `'${word.replaceAll("'", "'\\''")}'`).join(' ');
    return execFileAsync('bash', ['-c', `set -o pipefail; ${words} | ${reader}`], { env: { ...process.env, ...PLAIN_ENV }, timeout: 30_000, maxBuffer: 16 * 1024 * 1024 }).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (error: { code?: number; stdout: string; stderr: string }) => ({ code: error.code ?? -1, stdout: error.stdout, stderr: error.stderr }),
    );
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gputel-cli-hazards-'));
    pipeline = await startInProcessPipeline();
    const file = join(dir, 'fleet.csv');
    const at = (i: number): number => Date.UTC(2026, 2, 2, 8, 0, 0) + i * 1000;
    writeFileSync(file, `${CSV_HEADER}\n${linesOn(EVIL_HOST, 3, 9, at)}${linesOn(LONG_HOST, 3, 8, at)}${csvLines(BIG_RECORDS, 5, 0, at)}`);
    await pipeline.ingest(file);
  });
  after(async () => {
    await Promise.all(started.map((child) => child.stop()));
    await pipeline?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a hostname with terminal escapes reaches every table escaped; JSON and CSV keep it exact', async () => {
    const [gpus, hosts, gpu, json, csv] = await Promise.all([
      ok(['gpus', '--output', 'table']),
      ok(['hosts', '--output', 'table']),
      ok(['gpu', 'GPU-9', '--output', 'table']),
      ok(['hosts', '--output', 'json']),
      ok(['hosts', '--output', 'csv']),
    ]);
    for (const [name, table] of Object.entries({ gpus, hosts, gpu })) {
      assert.doesNotMatch(table, CONTROL, `gputel ${name}: ${JSON.stringify(table)}`);
      assert.ok(table.includes(EVIL_SHOWN), `gputel ${name} shows the hostname escaped: ${JSON.stringify(table)}`);
    }
    const { body } = await getJson<{ data: { hostname: string }[] }>(`${pipeline.baseUrl}/api/v1/hosts`);
    assert.ok(body.data.some((host) => host.hostname === EVIL_HOST), 'the store keeps the hostname as it came');
    assert.equal(json, `${JSON.stringify(body.data)}\n`);
    assert.ok(csv.includes(`\r\n${EVIL_HOST},1,`), 'CSV carries the raw value');
  });

  it('watch: a record of that host is one escaped line; lines stay aligned under a GPU label longer than 14 columns', async () => {
    const watch = runGputel(['watch', '--output', 'table', '--metrics', 'temperature', '--count', '4', '--gateway', pipeline.baseUrl], PLAIN_ENV);
    started.push(watch);
    await waitFor('gputel watch to subscribe', 15_000, () => (/^watching /m.test(watch.stderr()) ? true : watch.child.exitCode !== null ? Promise.reject(new Error(watch.stderr())) : undefined));
    const file = join(dir, 'live.csv');
    const at = (i: number): number => Date.UTC(2026, 2, 2, 9, 0, 0) + i * 1000;
    writeFileSync(file, `${CSV_HEADER}\n${linesOn(EVIL_HOST, 2, 9, at)}${linesOn(LONG_HOST, 2, 8, at)}`);
    await pipeline.ingest(file);
    assert.equal(await watch.exited, 0, watch.stderr());
    const text = watch.stdout();
    assert.doesNotMatch(text, CONTROL, JSON.stringify(text));
    const lines = text.trimEnd().split('\n');
    assert.equal(lines.length, 5, `one header, then 4 records, the header not repeated (the labels were known): ${text}`);
    assert.match(lines[0], /^TIME\s+GPU\s+TEMP$/);
    assert.equal(lines.filter((line) => line.includes(`${EVIL_SHOWN}:0`)).length, 2);
    assert.equal(lines.filter((line) => line.includes(`${LONG_HOST}:0`)).length, 2);
    // TEMP is right-aligned and lines carry no trailing blanks: aligned lines are all as long as the header.
    for (const line of lines) assert.equal(line.length, lines[0].length, `misaligned: ${JSON.stringify(lines)}`);
  });

  it('watch: a GPU label wider than its column widens it and prints the header again, aligned (a MIG label included)', () => {
    const printer = new RecordPrinter('table', ['temperature'], terminalColors({}, false), ['host-1:0']);
    const record = (hostname: string, mig: string | null): ApiRecord =>
      ({ timestamp: '2026-03-02T09:00:00.000Z', uuid: 'GPU-1', gpu_id: 0, hostname, mig_instance_id: mig, temperature: 70, metrics: { DCGM_FI_DEV_GPU_TEMP: 70 } }) as unknown as ApiRecord;
    const header = printer.header();
    const short = printer.record(record('host-1', null));
    const wide = printer.record(record(LONG_HOST, '3'));
    const shortAgain = printer.record(record('host-1', null));
    assert.equal(short.split('\n').length, 2, 'one line: the label fits');
    const [newHeader, wideLine] = wide.trimEnd().split('\n');
    assert.match(newHeader, /^TIME\s+GPU\s+TEMP$/, 'the header again, over the wider column');
    assert.ok(wideLine.includes(`${LONG_HOST}:0 mig3`));
    assert.equal(newHeader.length, wideLine.length);
    assert.equal(shortAgain.trimEnd().length, newHeader.length, 'later lines keep the wider column');
    assert.equal(header.trimEnd().length, short.trimEnd().length);
  });

  it('a reader that closes the pipe early (| head) ends every format quietly with exit 0', async () => {
    const args = ['telemetry', BIG_GPU, '--since', '0'];
    const [csv, json, table, gpus] = await Promise.all([
      piped([...args, '--output', 'csv', '--page-size', '100'], 'head -1'),
      piped([...args, '--output', 'json', '--page-size', '100'], 'head -c 100'),
      piped([...args, '--output', 'table'], 'head -1'),
      piped(['gpus', '--output', 'table'], 'head -1'),
    ]);
    for (const [name, result] of Object.entries({ csv, json, table, gpus })) {
      assert.equal(result.code, 0, `${name}: ${result.stderr}`);
      assert.equal(result.stderr, '', `${name}: no stack, no message`);
    }
    assert.equal(csv.stdout, 'timestamp,uuid,hostname,gpu_id,mig_instance_id,gpu_utilization,memory_utilization,memory_used_mb,memory_free_mb,temperature,power_draw,sm_clock_mhz,memory_clock_mhz\r\n');
    assert.equal(json.stdout.length, 100);
    assert.match(table.stdout, /^TIME\s+UTIL/);
  });

  it('watch whose reader closes the pipe ends with exit 0 at the next record, without a stack', async () => {
    const watch = runGputel(['watch', '--host', 'host-5', '--output', 'json', '--gateway', pipeline.baseUrl], PLAIN_ENV);
    started.push(watch);
    await waitFor('gputel watch to subscribe', 15_000, () => (/^watching /m.test(watch.stderr()) ? true : watch.child.exitCode !== null ? Promise.reject(new Error(watch.stderr())) : undefined));
    const at = (from: number) => (i: number): number => Date.UTC(2026, 2, 2, 10, 0, 0) + (from + i) * 1000;
    const first = join(dir, 'pipe-1.csv');
    writeFileSync(first, `${CSV_HEADER}\n${csvLines(1, 5, 0, at(0))}`);
    await pipeline.ingest(first);
    await watch.waitForOutput(/\n/);
    watch.child.stdout!.destroy(); // the reader goes away, as head does after its line
    const second = join(dir, 'pipe-2.csv');
    writeFileSync(second, `${CSV_HEADER}\n${csvLines(1, 5, 0, at(1))}`);
    await pipeline.ingest(second);
    assert.equal(await watch.exited, 0, watch.stderr());
    assert.match(watch.stderr(), /^watching host host-5 at \S+ \(Ctrl-C to stop\)\n$/, 'nothing after the watching line');
  });

  it('a page that fails after others were printed: the exit code of its error, and stderr says the output is incomplete', async () => {
    // A fault-injecting proxy in front of the real gateway: the first
    // request passes, the second has its connection cut.
    let requests = 0;
    const proxy: Server = createServer((incoming, answer) => {
      if (++requests > 1) {
        incoming.socket.destroy();
        return;
      }
      const target = new URL(pipeline.baseUrl);
      const forward = request({ host: target.hostname, port: target.port, path: incoming.url, method: incoming.method, headers: incoming.headers }, (response) => {
        answer.writeHead(response.statusCode ?? 502, response.headers);
        response.pipe(answer);
      });
      forward.on('error', () => answer.destroy());
      incoming.pipe(forward);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    try {
      const result = await cli(['telemetry', BIG_GPU, '--since', '0', '--page-size', '10', '--output', 'json'], `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`);
      assert.equal(result.code, EXIT.GATEWAY_UNREACHABLE, result.stderr);
      assert.match(result.stderr, /^gputel: cannot reach the gateway .*\(the output is incomplete: 10 record\(s\) of 1 page\(s\) were printed before this failure; the JSON array is left unclosed\)\n$/);
      assert.ok(result.stdout.startsWith('[{'), result.stdout.slice(0, 100));
      assert.throws(() => JSON.parse(result.stdout), SyntaxError, 'never a valid array that looks whole');
      assert.equal(result.stdout.split('"timestamp"').length - 1, 10);
    } finally {
      proxy.closeAllConnections();
      proxy.close();
    }
  });
});
