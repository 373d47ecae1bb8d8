/**
 * The client commands (`gputel gpus`, `hosts`, `gpu`, `telemetry`,
 * `summary`, `idle`, `watch`) as a user runs them: the real binary against a
 * real gateway on the embedded store, filled through the real streamer and
 * collector. JSON must be exactly the API's `data`; CSV and tables carry the
 * same rows; each class of error gives its exit code and one line.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { writeGeneratedFile } from '../../src/cli/generate-command.js';
import { EXIT } from '../../src/cli/exit-codes.js';
import { fetchAllTelemetry, getJson } from '../support/api-checks.js';
import { CSV_HEADER, csvLines } from '../support/csv-lines.js';
import { findFreePort } from '../support/etcd-process.js';
import { runGputel, type GputelProcess } from '../support/gputel-process.js';
import { startInProcessPipeline, type InProcessPipeline } from '../support/in-process-pipeline.js';
import { waitFor } from '../support/wait-for.js';

const START_MS = Date.parse('2026-03-02T00:00:00Z');
// eslint-disable-next-line no-control-regex
const ESCAPE = /\x1b\[/;
/** The environment of every run: no colour forced, no gateway or key from the test's own environment. */
const PLAIN_ENV = { FORCE_COLOR: '0', NO_COLOR: '', GPUTEL_GATEWAY: '', GPUTEL_API_KEY: '' };

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Parses RFC 4180 CSV (quoted fields, doubled quotes, CRLF) into rows of fields. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (quoted && char === '"' && text[i + 1] === '"') {
      field += '"';
      i++;
    } else if (quoted && char === '"') {
      quoted = false;
    } else if (quoted) {
      field += char;
    } else if (char === '"') {
      quoted = true;
    } else if (char === ',') {
      row.push(field);
      field = '';
    } else if (char === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i++;
    } else {
      field += char;
    }
  }
  assert.equal(field + row.join(''), '', 'CSV ends with CRLF');
  return rows;
}

describe('gputel client commands against a real gateway', () => {
  let dir: string;
  let pipeline: InProcessPipeline;
  const started: GputelProcess[] = [];

  /** Runs `gputel ARGS --gateway BASE` to its end. */
  async function cli(args: string[], env: Record<string, string> = {}, gateway: string | null = pipeline.baseUrl): Promise<CliResult> {
    const child = runGputel([...args, ...(gateway === null ? [] : ['--gateway', gateway])], { ...PLAIN_ENV, ...env });
    started.push(child);
    const code = await child.exited;
    return { code, stdout: child.stdout(), stderr: child.stderr() };
  }

  /** Runs a command that must succeed, and answers its stdout. */
  async function ok(args: string[], env: Record<string, string> = {}): Promise<string> {
    const result = await cli(args, env);
    assert.equal(result.code, 0, `gputel ${args.join(' ')}: ${result.stderr}`);
    return result.stdout;
  }

  /** Asserts a command fails with `exitCode` and a one-line message matching `message`. */
  async function fails(args: string[], exitCode: number, message: RegExp, gateway?: string | null): Promise<void> {
    const result = await cli(args, {}, gateway === undefined ? pipeline.baseUrl : gateway);
    assert.equal(result.code, exitCode, `gputel ${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, /^gputel: [^\n]+\n$/, 'one line');
    assert.match(result.stderr, message);
    assert.equal(result.stdout, '');
  }

  const apiData = async (path: string): Promise<unknown> => {
    const { status, body } = await getJson<{ data: unknown }>(`${pipeline.baseUrl}${path}`);
    assert.equal(status, 200, path);
    return body.data;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gputel-cli-client-'));
    pipeline = await startInProcessPipeline();
    // 2 hosts × 2 GPUs, 10 minutes at 30 s; and GPU-7 reported under two hostnames (an ambiguous UUID).
    const fleet = join(dir, 'fleet.csv');
    await writeGeneratedFile(fleet, { hosts: 2, gpusPerHost: 2, durationMs: 600_000, intervalMs: 30_000, seed: 8, startMs: START_MS });
    await pipeline.ingest(fleet);
    const twoHosts = join(dir, 'two-hosts.csv');
    const lines = csvLines(3, 7, 0, (i) => START_MS + i * 30_000);
    writeFileSync(twoHosts, `${CSV_HEADER}\n${lines}${lines.replaceAll('"host-7"', '"host-77"')}`);
    await pipeline.ingest(twoHosts);
  });
  after(async () => {
    await Promise.all(started.map((child) => child.stop()));
    await pipeline?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('gputel gpus', () => {
    it('prints the API data as JSON when piped, and with --output json', async () => {
      const data = await apiData('/api/v1/gpus');
      const [piped, asked] = await Promise.all([ok(['gpus']), ok(['gpus', '--output', 'json'])]);
      assert.equal(piped, `${JSON.stringify(data)}\n`);
      assert.equal(asked, `${JSON.stringify(data)}\n`);
    });

    it('passes its filters to the API', async () => {
      const data = await apiData('/api/v1/gpus?hostname=gpu-node-02&status=active&model=NVIDIA%20H100%2080GB%20HBM3');
      assert.equal((data as unknown[]).length, 2);
      const [filtered, none] = await Promise.all([ok(['gpus', '--host', 'gpu-node-02', '--status', 'active', '--model', 'NVIDIA H100 80GB HBM3']), ok(['gpus', '--host', 'gpu-node-02', '--status', 'stale'])]);
      assert.equal(filtered, `${JSON.stringify(data)}\n`);
      assert.equal(none, '[]\n', 'a known host whose GPUs the other filters leave out: an empty list');
    });

    it('--host naming a host the gateway has never seen is EXIT.NOT_FOUND, as summary --host is', async () => {
      await Promise.all([
        fails(['gpus', '--host', 'no-such-host'], EXIT.NOT_FOUND, /no host "no-such-host".*gputel hosts lists them/),
        fails(['gpus', '--host', 'no-such-host', '--output', 'table'], EXIT.NOT_FOUND, /no host "no-such-host".*gputel hosts lists them/),
      ]);
    });

    it('writes CSV: a header row, one row per GPU with every API field, RFC 4180 line ends', async () => {
      const gpus = (await apiData('/api/v1/gpus')) as Record<string, unknown>[];
      const rows = parseCsv(await ok(['gpus', '--output', 'csv']));
      assert.deepEqual(rows[0], ['id', 'hostname', 'gpu_id', 'mig_instance_id', 'mig_profile', 'uuid', 'device', 'model', 'driver_version', 'status', 'first_seen', 'last_seen']);
      assert.equal(rows.length, gpus.length + 1);
      gpus.forEach((gpu, i) => assert.deepEqual(rows[i + 1], rows[0].map((name) => (gpu[name] === null ? '' : String(gpu[name])))));
    });

    it('prints a table of ids, hosts, models and statuses, without colour when not on a terminal', async () => {
      const gpus = (await apiData('/api/v1/gpus')) as { id: string; hostname: string; status: string }[];
      const { body: summary } = await getJson<{ idle: { gpus: { id: string }[] } }>(`${pipeline.baseUrl}/api/v1/summary`);
      const idle = new Set(summary.idle.gpus.map((gpu) => gpu.id));
      assert.equal(idle.size, 1, 'the generated fleet has one idle GPU');
      const table = await ok(['gpus', '--output', 'table']);
      const lines = table.trimEnd().split('\n');
      assert.match(lines[0], /^ID\s+HOST\s+GPU\s+MIG\s+MODEL\s+STATUS\s+LAST SEEN$/);
      assert.equal(lines.length, gpus.length + 1);
      // The table shows `idle` for an active GPU the summary lists as idle; stale ones (GPU-7) stay stale.
      const shown = (gpu: { id: string; status: string }): string => (gpu.status === 'active' && idle.has(gpu.id) ? 'idle' : gpu.status);
      gpus.forEach((gpu, i) => assert.match(lines[i + 1], new RegExp(`^${gpu.id}\\s+${gpu.hostname}\\s.*\\s${shown(gpu)}\\s+\\S+ ago$`)));
      assert.deepEqual(new Set(gpus.map(shown)), new Set(['active', 'idle', 'stale']));
      assert.doesNotMatch(table, ESCAPE);
    });
  });

  describe('gputel hosts and gputel gpu', () => {
    it('gputel hosts: JSON is the API data; CSV and the table list every host', async () => {
      const hosts = (await apiData('/api/v1/hosts')) as { hostname: string; gpu_count: number }[];
      const [json, csv, tableText] = await Promise.all([ok(['hosts']), ok(['hosts', '--output', 'csv']), ok(['hosts', '--output', 'table'])]);
      assert.equal(json, `${JSON.stringify(hosts)}\n`);
      const rows = parseCsv(csv);
      assert.deepEqual(rows[0], ['hostname', 'gpu_count', 'first_seen', 'last_seen']);
      assert.deepEqual(rows.slice(1).map((row) => [row[0], Number(row[1])]), hosts.map((h) => [h.hostname, h.gpu_count]));
      const table = tableText.trimEnd().split('\n');
      assert.match(table[0], /^HOST\s+GPUS\s+FIRST SEEN\s+LAST SEEN$/);
      hosts.forEach((host, i) => assert.match(table[i + 1], new RegExp(`^${host.hostname}\\s+${host.gpu_count}\\s+2026-03-02 00:00:00Z\\s+\\S+ ago$`)));
    });

    it('gputel gpu ID: JSON is the API data; the table shows newest values with units; CSV one row', async () => {
      const detail = (await apiData('/api/v1/gpus/gpu-node-01%3A1')) as Record<string, unknown> & { latest: Record<string, number> };
      const [json, table, csv] = await Promise.all([ok(['gpu', 'gpu-node-01:1']), ok(['gpu', 'gpu-node-01:1', '--output', 'table']), ok(['gpu', 'gpu-node-01:1', '--output', 'csv'])]);
      assert.equal(json, `${JSON.stringify(detail)}\n`);
      assert.match(table, new RegExp(`^ID\\s+${String(detail.id)}$`, 'm'));
      assert.match(table, new RegExp(`^TEMP\\s+${detail.latest.temperature}°C$`, 'm'));
      assert.match(table, new RegExp(`^UTIL\\s+${detail.latest.gpu_utilization}%$`, 'm'));
      assert.match(table, /^POWER\s+\d+(\.\d)? W$/m);
      assert.match(table, /^MEM USED\s+(\d+\.\d GiB|\d+ MiB)$/m);
      const rows = parseCsv(csv);
      assert.equal(rows.length, 2);
      const field = (name: string): string => rows[1][rows[0].indexOf(name)];
      assert.equal(field('id'), detail.id);
      assert.equal(field('namespace'), detail.namespace ?? '');
      assert.equal(field('latest_timestamp'), detail.latest.timestamp);
      assert.equal(Number(field('power_draw')), detail.latest.power_draw);
    });
  });

  describe('gputel telemetry', () => {
    it('follows every page: JSON is the API records of the whole range in one array', async () => {
      const id = 'gpu-node-01:0';
      const all = await fetchAllTelemetry(pipeline.baseUrl, id);
      assert.equal(all.length, 20);
      assert.equal(await ok(['telemetry', id, '--since', '0', '--page-size', '7']), `${JSON.stringify(all)}\n`);
    });

    it('passes the range, metrics, step and aggregation as the API takes them', async () => {
      const path = '/api/v1/gpus/gpu-node-01%3A0/telemetry?start_time=2026-03-02T00:02:00Z&end_time=1772410200000&metrics=power_draw,DCGM_FI_DEV_GPU_TEMP&step=2m&agg=max';
      const data = (await apiData(path)) as { metrics: Record<string, number> }[];
      assert.equal(data.length, 4);
      const args = ['telemetry', 'gpu-node-01:0', '--since', '2026-03-02T00:02:00Z', '--until', '1772410200000', '--metrics', 'power_draw,DCGM_FI_DEV_GPU_TEMP', '--step', '2m', '--agg', 'max'];
      const [json, csv, tableText] = await Promise.all([ok(args), ok([...args, '--output', 'csv']), ok([...args, '--output', 'table'])]);
      assert.equal(json, `${JSON.stringify(data)}\n`);
      const rows = parseCsv(csv);
      assert.deepEqual(rows[0], ['timestamp', 'uuid', 'hostname', 'gpu_id', 'mig_instance_id', 'power_draw', 'DCGM_FI_DEV_GPU_TEMP']);
      assert.deepEqual(rows.slice(1).map((row) => Number(row[6])), data.map((record) => record.metrics.DCGM_FI_DEV_GPU_TEMP));
      const table = tableText.trimEnd().split('\n');
      assert.match(table[0], /^TIME\s+POWER\s+DEV_GPU_TEMP$/);
      assert.equal(table.length, data.length + 1);
      assert.match(table[1], /^2026-03-02 00:02:00Z\s+\d+(\.\d)? W\s+\d+°C$/);
    });

    it('downsamples with --max-points, and a duration --since counts back from now (nothing in an old fleet)', async () => {
      const data = await apiData('/api/v1/gpus/gpu-node-02%3A1/telemetry?start_time=0&max_points=3');
      const [downsampled, recent, empty] = await Promise.all([
        ok(['telemetry', 'gpu-node-02:1', '--since', '0', '--max-points', '3']),
        ok(['telemetry', 'gpu-node-02:1', '--since', '1h']),
        cli(['telemetry', 'gpu-node-02:1', '--output', 'table']),
      ]);
      assert.equal(downsampled, `${JSON.stringify(data)}\n`);
      assert.equal(recent, '[]\n');
      assert.equal(empty.code, 0);
      assert.equal(empty.stdout, '');
      assert.match(empty.stderr, /no records of gpu-node-02:1 in that range/);
    });
  });

  describe('gputel summary and gputel idle', () => {
    it('gputel summary: JSON is the whole answer; CSV one row; the table in units', async () => {
      const { body } = await getJson<Record<string, unknown>>(`${pipeline.baseUrl}/api/v1/summary?window=30m`);
      const host = await getJson(`${pipeline.baseUrl}/api/v1/hosts/gpu-node-01/summary`);
      const [json, csv, table, hostJson] = await Promise.all([
        ok(['summary', '--window', '30m']),
        ok(['summary', '--window', '30m', '--output', 'csv']),
        ok(['summary', '--window', '30m', '--output', 'table']),
        ok(['summary', '--host', 'gpu-node-01']),
      ]);
      assert.equal(json, `${JSON.stringify(body)}\n`);
      assert.equal(hostJson, `${JSON.stringify(host.body)}\n`);
      const summary = body as { gpus: number; idle: { count: number }; temperature: { hottest: { id: string; hostname: string; gpu_id: number } } };
      const rows = parseCsv(csv);
      assert.equal(rows.length, 2);
      assert.equal(Number(rows[1][rows[0].indexOf('gpus')]), summary.gpus);
      assert.equal(rows[1][rows[0].indexOf('hottest_id')], summary.temperature.hottest.id);
      assert.match(table, new RegExp(`^GPUS\\s+${summary.gpus}$`, 'm'));
      assert.match(table, /^POWER\s+\d+(\.\d)? k?W$/m);
      assert.match(table, new RegExp(`^IDLE\\s+${summary.idle.count} \\(under 5% over 30m\\)$`, 'm'));
      const { hostname, gpu_id: gpuId } = summary.temperature.hottest;
      assert.match(table, new RegExp(`^HOTTEST\\s+${hostname}:${gpuId} \\(\\d+°C\\)$`, 'm'));
    });

    it('gputel idle: JSON is the summary\'s idle part; CSV and the table list the idle GPUs', async () => {
      const { body } = await getJson<{ idle: { gpus: { id: string; mean_utilization: number }[] } }>(`${pipeline.baseUrl}/api/v1/summary?window=1h&idle_threshold=100`);
      assert.equal(body.idle.gpus.length, 4, 'every generated GPU is under 100% (GPU-7 sends no utilisation: it is never idle)');
      const defaults = await getJson<{ idle: unknown }>(`${pipeline.baseUrl}/api/v1/summary`);
      const [json, csv, table, atDefaults] = await Promise.all([
        ok(['idle', '--window', '1h', '--threshold', '100']),
        ok(['idle', '--threshold', '100', '--output', 'csv']),
        ok(['idle', '--threshold', '100', '--output', 'table']),
        ok(['idle']),
      ]);
      assert.equal(json, `${JSON.stringify(body.idle)}\n`);
      assert.equal(atDefaults, `${JSON.stringify(defaults.body.idle)}\n`);
      const rows = parseCsv(csv);
      assert.deepEqual(rows[0], ['id', 'hostname', 'gpu_id', 'mig_instance_id', 'uuid', 'mean_utilization']);
      assert.deepEqual(rows.slice(1).map((row) => [row[0], Number(row[5])]), body.idle.gpus.map((g) => [g.id, g.mean_utilization]));
      assert.match(table, /^4 GPU\(s\) idle: mean utilisation under 100% over 1h up to 2026-03-02 00:09:30Z$/m);
      for (const gpu of body.idle.gpus) assert.match(table, new RegExp(`^${gpu.id}\\s.*\\s\\d+(\\.\\d)?%$`, 'm'));
    });
  });

  describe('colour', () => {
    it('colours statuses when forced (as on a terminal), and never under NO_COLOR or when piped', async () => {
      const [forced, noColor, piped, ci] = await Promise.all([
        ok(['gpus', '--output', 'table'], { FORCE_COLOR: '1' }),
        ok(['gpus', '--output', 'table'], { FORCE_COLOR: '1', NO_COLOR: '1' }),
        ok(['summary', '--output', 'table']),
        ok(['gpu', 'gpu-node-01:0', '--output', 'table'], { CI: '1' }),
      ]);
      assert.match(forced, /\x1b\[32mactive\x1b\[39m/); // eslint-disable-line no-control-regex
      assert.match(forced, /\x1b\[33mstale\x1b\[39m/); // eslint-disable-line no-control-regex
      assert.match(forced, /\x1b\[36midle\x1b\[39m/); // eslint-disable-line no-control-regex
      assert.doesNotMatch(noColor, ESCAPE);
      assert.doesNotMatch(piped, ESCAPE);
      assert.doesNotMatch(ci, ESCAPE, 'CI=1 colours piped output in picocolors, not here');
    });
  });

  describe('errors: one line each, and the exit code of its class', () => {
    it('an unreachable gateway (refused, no such host, no answer) names the URL and the setting: EXIT.GATEWAY_UNREACHABLE', async () => {
      const port = await findFreePort();
      // A server that takes connections and never answers.
      const sockets: Socket[] = [];
      const silent = createServer((socket) => sockets.push(socket));
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      const silentUrl = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
      const [viaEnv] = await Promise.all([
        cli(['hosts'], { GPUTEL_GATEWAY: `127.0.0.1:${port}` }, null),
        fails(['gpus'], EXIT.GATEWAY_UNREACHABLE, new RegExp(`cannot reach the gateway at http://127\\.0\\.0\\.1:${port} \\(connection refused\\): check --gateway or GPUTEL_GATEWAY`), `http://127.0.0.1:${port}`),
        fails(['watch'], EXIT.GATEWAY_UNREACHABLE, /cannot reach the gateway .*connection refused/, `http://127.0.0.1:${port}`),
        // RFC 6761: .invalid never resolves.
        fails(['hosts', '--timeout', '10s'], EXIT.GATEWAY_UNREACHABLE, /cannot reach the gateway at http:\/\/gputel-test\.invalid:8080 \(host name not found\)/, 'gputel-test.invalid:8080'),
        fails(['summary', '--timeout', '500ms'], EXIT.GATEWAY_UNREACHABLE, /cannot reach the gateway at .* \(no answer within 0\.5 s\): check --gateway or GPUTEL_GATEWAY/, silentUrl),
        fails(['watch', '--timeout', '500ms'], EXIT.GATEWAY_UNREACHABLE, /\(no answer within 0\.5 s\)/, silentUrl),
      ]).finally(() => {
        for (const socket of sockets) socket.destroy();
        silent.close();
      });
      assert.equal(viaEnv.code, EXIT.GATEWAY_UNREACHABLE);
      assert.match(viaEnv.stderr, new RegExp(`http://127\\.0\\.0\\.1:${port} \\(connection refused\\)`));
    });

    it('an unknown GPU or host is EXIT.NOT_FOUND; an ambiguous id lists the ids to use', async () => {
      await Promise.all([
        fails(['gpu', 'GPU-nope'], EXIT.NOT_FOUND, /no GPU "GPU-nope".*gputel gpus lists the ids/),
        fails(['telemetry', 'GPU-nope'], EXIT.NOT_FOUND, /no GPU "GPU-nope"/),
        fails(['summary', '--host', 'nowhere'], EXIT.NOT_FOUND, /no host "nowhere".*gputel hosts lists them/),
        fails(['gpu', 'GPU-7'], EXIT.NOT_FOUND, /GPU-7.*host-7:0.*host-77:0/),
        fails(['watch', 'GPU-nope'], EXIT.NOT_FOUND, /refused the subscription: no GPU "GPU-nope"/),
      ]);
    });

    it('a request the API refuses (400) is EXIT.USAGE with its message; a bad option value is EXIT.CONFIG', async () => {
      await Promise.all([
        fails(['telemetry', 'gpu-node-01:0', '--since', '0', '--metrics', 'bogus'], EXIT.USAGE, /metrics has "bogus", not a metric/),
        fails(['watch', '--metrics', 'bogus'], EXIT.USAGE, /refused the subscription: .*bogus/),
        fails(['gpus', '--output', 'yaml'], EXIT.CONFIG, /--output "yaml": use table, json or csv/),
        fails(['telemetry', 'x', '--since', 'yesterday'], EXIT.CONFIG, /--since "yesterday" is not a time/),
        fails(['telemetry', 'x', '--agg', 'median'], EXIT.CONFIG, /--agg "median"/),
        fails(['telemetry', 'x', '--step', '10m', '--max-points', '5'], EXIT.CONFIG, /--step and --max-points exclude each other/),
        fails(['telemetry', 'x', '--since', '1h', '--until', '2h'], EXIT.CONFIG, /--until 2h is before --since 1h/),
        fails(['summary', '--window', '8d'], EXIT.CONFIG, /--window "8d" is longer than 7d/),
        fails(['watch', '--count', '0'], EXIT.CONFIG, /--count "0"/),
        fails(['hosts'], EXIT.CONFIG, /--gateway "ftp:\/\/h": the gateway speaks http:\/\/ or https:\/\//, 'ftp://h'),
      ]);
    });
  });

  describe('gputel watch', () => {
    /** Starts `gputel watch ARGS` and resolves once its subscription is in place. */
    async function startWatch(args: string[], env: Record<string, string> = {}): Promise<GputelProcess> {
      const child = runGputel(['watch', ...args, '--gateway', pipeline.baseUrl], { ...PLAIN_ENV, ...env });
      started.push(child);
      await waitFor('gputel watch to subscribe', 15_000, () => (/^watching /m.test(child.stderr()) ? true : child.child.exitCode !== null ? Promise.reject(new Error(child.stderr())) : undefined));
      return child;
    }

    it('prints records stored after it connected, one JSON record a line, and stops by --count', async () => {
      const watch = await startWatch(['--host', 'host-5', '--count', '3', '--output', 'json']);
      const file = join(dir, 'live.csv');
      const firstMs = START_MS + 20 * 60_000;
      writeFileSync(file, `${CSV_HEADER}\n${csvLines(5, 5, 0, (i) => firstMs + i * 1000)}`);
      await pipeline.ingest(file);
      assert.equal(await watch.exited, 0, watch.stderr());
      const records = watch.stdout().trimEnd().split('\n').map((line) => JSON.parse(line) as { timestamp: string; hostname: string; uuid: string; temperature: number });
      assert.equal(records.length, 3);
      for (const record of records) {
        const i = (Date.parse(record.timestamp) - firstMs) / 1000;
        assert.ok(Number.isInteger(i) && i >= 0 && i < 5, record.timestamp);
        assert.equal(record.hostname, 'host-5');
        assert.equal(record.uuid, 'GPU-5');
        assert.equal(record.temperature, 500_000 + i, 'the value stored at that time');
      }
    });

    it('prints a table line per record (and CSV with a header), ends with exit 0 on SIGINT and on --for', async () => {
      const table = await startWatch(['--host', 'host-6', '--output', 'table', '--metrics', 'temperature']);
      const csv = await startWatch(['--host', 'host-6', '--output', 'csv', '--metrics', 'temperature', '--for', '60s']);
      const timed = await startWatch(['--host', 'nothing-here', '--for', '1s']);
      const file = join(dir, 'live-6.csv');
      writeFileSync(file, `${CSV_HEADER}\n${csvLines(2, 6, 0, (i) => START_MS + 30 * 60_000 + i * 1000)}`);
      await pipeline.ingest(file);
      await waitFor('2 table lines', 15_000, () => (table.stdout().trimEnd().split('\n').length >= 3 ? true : undefined));
      table.child.kill('SIGINT');
      assert.equal(await table.exited, 0, table.stderr());
      const lines = table.stdout().trimEnd().split('\n');
      assert.match(lines[0], /^TIME\s+GPU\s+TEMP$/);
      assert.match(lines[1], /^2026-03-02 00:30:00Z\s+host-6:0\s+600000°C$/);
      await waitFor('2 CSV rows', 15_000, () => (csv.stdout().split('\r\n').length >= 4 ? true : undefined));
      csv.child.kill('SIGTERM');
      assert.equal(await csv.exited, 0, csv.stderr());
      assert.deepEqual(parseCsv(csv.stdout()), [
        ['timestamp', 'uuid', 'hostname', 'gpu_id', 'mig_instance_id', 'temperature'],
        ['2026-03-02T00:30:00.000Z', 'GPU-6', 'host-6', '0', '', '600000'],
        ['2026-03-02T00:30:01.000Z', 'GPU-6', 'host-6', '0', '', '600001'],
      ]);
      assert.equal(await timed.exited, 0, timed.stderr());
      assert.equal(timed.stdout(), '');
    });

    it('a gateway that goes away ends it with one line and EXIT.GATEWAY_UNREACHABLE', async () => {
      const watch = await startWatch([]);
      await pipeline.gateway.stop();
      assert.equal(await watch.exited, EXIT.GATEWAY_UNREACHABLE);
      assert.match(watch.stderr(), /^gputel: the gateway at http:\/\/127\.0\.0\.1:\d+ closed the stream \(code \d+, [^)]+\): check that it runs/m);
      assert.equal(watch.stderr().trimEnd().split('\n').length, 2, 'the "watching" line, then one error line');
    });
  });
});
