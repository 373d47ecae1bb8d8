/**
 * `npm run bench`: every benchmark of issue 10's table in one command. Each
 * part is an existing bench run as a child process of its own (its heap and
 * GC do not disturb the next part; a part that fails or runs past its time
 * is reported as failed with its error while the others still run), asked
 * for its figures with `--json FILE` (bench/figures-file.ts). The figures
 * are put beside their references, measured in the same run, with the
 * ratio and issue 10's target, printed as one table and written to
 * bench-results/bench.json; each part's own output goes to
 * bench-results/logs/PART.log.
 *
 *   npm run bench [-- --quick] [-- --only parse,ingest,...] [-- --out FILE] [-- --timeout-s N]
 *
 * `--quick` runs small sizes (a few minutes in all) for trying the command;
 * its figures are not the issue's. `--timeout-s` replaces every part's own
 * time limit (past it the part is stopped and reported failed). Parts: parse, ingest, etcd-txn,
 * prometheus, gateway, ws-latency, etcd-watch, ws-clients. Everything binds
 * loopback on OS-picked ports; only processes the parts start are ended,
 * by pid. Not run by CI: the figures move with the machine's load, which
 * the JSON records.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const KILL_GRACE_MS = 15_000;
const PRLIMIT = '/usr/bin/prlimit';
const MINUTE_MS = 60_000;

interface Part {
  name: string;
  what: string;
  script: string;
  nodeOptions?: string[];
  args: (quick: boolean) => string[];
  timeoutMs: (quick: boolean) => number;
  /** Open files each of the part's processes needs (one per socket): raised for it alone with prlimit where this process may. */
  openFiles?: (quick: boolean) => number;
}

const PARTS: Part[] = [
  {
    name: 'parse',
    what: 'CSV parser and newline count over the same generated file',
    script: 'parse-dcgm.js',
    args: (quick) => [quick ? '300000' : '2000000'],
    timeoutMs: (quick) => (quick ? 3 : 10) * MINUTE_MS,
  },
  {
    name: 'ingest',
    what: 'end to end through real etcd: gputel streamer → 1 and 2 gputel collectors',
    script: 'scale.js',
    args: (quick) => ['--rows', quick ? '400000' : '4000000', '--repeat', quick ? '1' : '3', '--collectors', '1,2', '--streamers', '1', '--no-rebalance'],
    timeoutMs: (quick) => (quick ? 5 : 30) * MINUTE_MS,
  },
  {
    name: 'etcd-txn',
    what: "etcd's put throughput in 100-op transactions",
    script: 'etcd-txn-put.js',
    args: (quick) => ['--puts', quick ? '50000' : '500000'],
    timeoutMs: (quick) => (quick ? 3 : 10) * MINUTE_MS,
  },
  {
    name: 'prometheus',
    what: 'bytes/sample and queries against Prometheus on the same samples',
    script: 'versus-prometheus.js',
    args: (quick) => (quick ? ['--gpus', '8', '--hours', '2', '--requests', '20'] : ['--gpus', '64', '--hours', '24', '--requests', '100']),
    timeoutMs: (quick) => (quick ? 8 : 45) * MINUTE_MS,
  },
  {
    name: 'gateway',
    what: 'gateway req/s beside a bare Fastify route answering the same bytes',
    script: 'gateway.js',
    args: (quick) => (quick ? ['--duration', '3', '--hours', '1'] : ['--duration', '10']),
    timeoutMs: (quick) => (quick ? 5 : 15) * MINUTE_MS,
  },
  {
    name: 'ws-latency',
    what: 'ingest→WebSocket latency through the whole pipeline on etcd',
    script: 'ws-stream.js',
    nodeOptions: ['--expose-gc'],
    args: (quick) => ['--pipeline', '--store', 'etcd', '--clients', quick ? '100' : '1000', '--seconds', quick ? '5' : '10'],
    timeoutMs: (quick) => (quick ? 3 : 10) * MINUTE_MS,
  },
  {
    name: 'etcd-watch',
    what: "etcd's put→watch latency",
    script: 'etcd-put-watch.js',
    args: (quick) => ['--puts', quick ? '300' : '2000'],
    timeoutMs: (quick) => (quick ? 3 : 10) * MINUTE_MS,
  },
  {
    name: 'ws-clients',
    what: 'WebSocket clients held at 1 update/s',
    script: 'ws-stream.js',
    nodeOptions: ['--expose-gc'],
    // Two gateway processes, as K gateways behind a load balancer serve a fleet's clients: 20,000 sockets in one process
    // are over the 20,000 open files this machine allows (EMFILE); 10,000 in each of two gateways and two client processes are not.
    args: (quick) => ['--store', 'etcd', '--gateways', '2', '--clients', quick ? '2000' : '20000', '--seconds', quick ? '5' : '10'],
    timeoutMs: (quick) => (quick ? 4 : 15) * MINUTE_MS,
    openFiles: (quick) => (quick ? 4_096 : 12_288),
  },
];

type PartStatus = 'ok' | 'failed' | 'not run';

interface PartResult {
  status: PartStatus;
  seconds?: number;
  error?: string;
  log?: string;
  /** What the part wrote with --json. */
  output?: Record<string, unknown>;
}

/** One line of the table. */
interface Row {
  figure: string;
  gputel: number | null;
  reference: string;
  referenceValue: number | null;
  /** gputel ÷ reference. */
  ratio: number | null;
  target: string;
  /** null where issue 10 sets no target or it cannot be judged. */
  met: boolean | null;
  /** 'measured', or why not: the failed part and its error, 'not run', 'not measured yet'. */
  status: string;
  note?: string;
}

function option(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}

/** The last `max` characters of what a child wrote, for the error of a failed part. */
class Tail {
  private text = '';
  constructor(private readonly max: number) {}
  push(piece: Buffer): void {
    this.text = (this.text + piece.toString()).slice(-this.max);
  }
  /** The tail on one line, for a table's footnote and the JSON. */
  toString(): string {
    return this.text.trim().split('\n').map((l) => l.trim()).filter((l) => l.length > 0).join(' | ');
  }
}

let running: ChildProcess | undefined;

/** Runs one part as a child process; never throws: a failure is the result. */
async function runPart(part: Part, quick: boolean, workDir: string, logDir: string, timeoutOverrideMs: number | undefined): Promise<PartResult> {
  const timeoutMs = timeoutOverrideMs ?? part.timeoutMs(quick);
  const jsonFile = join(workDir, `${part.name}.json`);
  const log = join(logDir, `${part.name}.log`);
  const args = [...(part.nodeOptions ?? []), join(BENCH_DIR, part.script), ...part.args(quick), '--json', jsonFile];
  const logStream = createWriteStream(log);
  logStream.write(`$ node ${args.join(' ')}\n`);
  const started = performance.now();
  // Its own process group, so that a part past its time can be ended with everything it started (all ours).
  const openFiles = part.openFiles?.(quick);
  const limit = openFiles === undefined ? undefined : openFilesLimit(openFiles);
  if (limit?.allowed === false) {
    const error = `needs about ${openFiles} open files per process (a socket per client in the gateway's and in the clients' process); this machine allows ${limit.hard} (ulimit -Hn) and it cannot be raised here: raise it (ulimit -n, LimitNOFILE) to measure`;
    logStream.end(`${error}\n`);
    return { status: 'failed', seconds: 0, log, error };
  }
  // prlimit execs node in place: the child's pid stays the part's.
  const child = limit?.viaPrlimit
    ? spawn(PRLIMIT, [`--nofile=${openFiles}:${openFiles}`, process.execPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    : spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  running = child;
  const tail = new Tail(1_500);
  child.stdout.on('data', (piece: Buffer) => {
    logStream.write(piece);
    tail.push(piece);
  });
  child.stderr.on('data', (piece: Buffer) => {
    logStream.write(piece);
    tail.push(piece);
  });
  let timedOut = false;
  let killTimer: NodeJS.Timeout | undefined;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGTERM'); // the part stops the etcds it started on SIGTERM
    killTimer = setTimeout(() => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }, KILL_GRACE_MS);
  }, timeoutMs);
  const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  clearTimeout(killTimer);
  // Whatever the part left behind in its process group (a gateway or client process of a part that died) goes with it.
  try {
    if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
  } catch {
    // the group is empty: all gone
  }
  running = undefined;
  await new Promise<void>((resolve) => logStream.end(resolve));
  const seconds = (performance.now() - started) / 1000;
  if (timedOut) return { status: 'failed', seconds, log, error: `stopped after its limit of ${(timeoutMs / 1000).toFixed(0)} s; last output: ${tail.toString().slice(-300)}` };
  if (code !== 0) return { status: 'failed', seconds, log, error: `exited ${code ?? signal}: ${lastError(tail.toString())}` };
  try {
    return { status: 'ok', seconds, log, output: JSON.parse(readFileSync(jsonFile, 'utf8')) as Record<string, unknown> };
  } catch (error) {
    return { status: 'failed', seconds, log, error: `wrote no figures: ${String(error)}` };
  }
}

/** Whether a part may have `wanted` open files: already (hard limit), or raised for it alone by prlimit (root with CAP_SYS_RESOURCE). */
function openFilesLimit(wanted: number): { allowed: boolean; viaPrlimit: boolean; hard: number } {
  const hard = Number(spawnSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).stdout.trim());
  const soft = Number(spawnSync('sh', ['-c', 'ulimit -Sn'], { encoding: 'utf8' }).stdout.trim());
  if (!(soft < wanted)) return { allowed: true, viaPrlimit: false, hard }; // 'unlimited' is NaN: not below
  const raised = existsSync(PRLIMIT) && spawnSync(PRLIMIT, [`--nofile=${wanted}:${wanted}`, 'true']).status === 0;
  return { allowed: raised, viaPrlimit: raised, hard };
}

/** The line of a child's output that names its error, else its last line. */
function lastError(output: string): string {
  const lines = output.split(' | ').filter((l) => l.trim().length > 0);
  const error = lines.find((l) => /^\w*Error\b/.test(l)) ?? lines.find((l) => /Error|error:/.test(l));
  return (error ?? lines[lines.length - 1] ?? 'no output').trim().slice(0, 300);
}

/* eslint-disable @typescript-eslint/no-explicit-any -- the parts' JSON is read by the shapes their benches write, each checked where it is used */
function figuresOf(result: PartResult | undefined): any {
  return result?.status === 'ok' ? (result.output?.figures ?? result.output) : undefined;
}

/** Why a figure is missing: its part failed (with the error), or was left out by --only. */
function missing(name: string, result: PartResult | undefined): string {
  if (result === undefined || result.status === 'not run') return `${name}: not run`;
  return `${name} failed: ${result.error ?? 'no figures'}`;
}

function buildRows(results: Map<string, PartResult>, quick: boolean): Row[] {
  const rows: Row[] = [];
  const add = (row: Omit<Row, 'ratio' | 'status'> & { status?: string }): void => {
    const ratio = row.gputel !== null && row.referenceValue !== null && row.referenceValue !== 0 ? row.gputel / row.referenceValue : null;
    rows.push({ ...row, ratio, status: row.status ?? 'measured' });
  };
  const statusOf = (...names: string[]): string => {
    const problems = names.filter((n) => results.get(n)?.status !== 'ok').map((n) => missing(n, results.get(n)));
    return problems.length === 0 ? 'measured' : problems.join('; ');
  };

  const parse = figuresOf(results.get('parse'));
  add({
    figure: 'CSV parse, rows/s',
    gputel: parse?.parserRowsPerS ?? null,
    reference: 'newlines counted, same file, /s',
    referenceValue: parse?.newlinesPerS ?? null,
    target: '≥ 1,000,000 rows/s',
    met: parse ? parse.parserRowsPerS >= 1_000_000 : null,
    status: statusOf('parse'),
  });

  const ingest = figuresOf(results.get('ingest'));
  const etcdTxn = figuresOf(results.get('etcd-txn'));
  for (const collectors of [1, 2]) {
    const run = (ingest?.throughputs as { collectors: number; streamers: number; rowsPerSecond: number }[] | undefined)?.find((t) => t.collectors === collectors && t.streamers === 1);
    add({
      figure: `end to end via etcd, ${collectors} collector${collectors > 1 ? 's' : ''}, rows/s`,
      gputel: run?.rowsPerSecond ?? null,
      reference: 'etcd puts/s in 100-op txns',
      referenceValue: etcdTxn?.putsPerS ?? null,
      target: '≥ 250,000 rows/s',
      met: run ? run.rowsPerSecond >= 250_000 : null,
      status: statusOf('ingest', 'etcd-txn'),
      note: ingest ? `${ingest.rows.toLocaleString('en-US')} rows, median of ${ingest.repeat}` : undefined,
    });
  }

  const versus = results.get('prometheus')?.status === 'ok' ? (results.get('prometheus')!.output as any) : undefined;
  const prometheusRows: { figure: string; gputel: number; prometheus: number; target: string; met?: boolean }[] = versus?.table ?? [];
  if (prometheusRows.length === 0) {
    for (const figure of ['bytes/sample at rest', 'one GPU raw 24 h, p99 ms', 'downsampled ~500 points, p99 ms', 'fleet aggregates, p99 ms', 'idle GPUs over 1 h, p99 ms'])
      add({ figure, gputel: null, reference: 'Prometheus', referenceValue: null, target: '', met: null, status: statusOf('prometheus') });
  }
  for (const r of prometheusRows)
    add({
      figure: r.figure,
      gputel: r.gputel,
      reference: 'Prometheus',
      referenceValue: r.prometheus,
      target: r.target,
      met: r.met ?? null,
      note: `${versus.shape.gpus} GPUs × ${versus.shape.hours} h`,
    });

  const gateway = figuresOf(results.get('gateway'));
  add({
    figure: 'gateway /api/v1/gpus, req/s',
    gputel: gateway?.list.gputel.rps ?? null,
    reference: 'bare Fastify, same bytes, req/s',
    referenceValue: gateway?.list.bare.rps ?? null,
    target: '≥ 70% of bare Fastify',
    met: gateway ? gateway.list.gputel.rps >= 0.7 * gateway.list.bare.rps : null,
    status: statusOf('gateway'),
    note: gateway ? `${gateway.gpus} GPUs, ${gateway.connections} connections, ${gateway.durationS} s` : undefined,
  });

  const latency = figuresOf(results.get('ws-latency'));
  const watch = figuresOf(results.get('etcd-watch'));
  const latencyStep = latency?.steps?.[latency.steps.length - 1];
  for (const p of [50, 99] as const) {
    const gputel: number | null = latencyStep ? (p === 50 ? latencyStep.latencyP50Ms : latencyStep.latencyP99Ms) : null;
    add({
      figure: `ingest→WebSocket p${p}, ms`,
      gputel,
      reference: `etcd put→watch p${p}, ms`,
      referenceValue: watch ? (p === 50 ? watch.p50Ms : watch.p99Ms) : null,
      target: p === 99 ? '≤ 50 ms' : '—',
      met: p === 99 && gputel !== null ? gputel <= 50 : null,
      status: statusOf('ws-latency', 'etcd-watch'),
      note: latencyStep ? `${latencyStep.clients} clients, ${latencyStep.recordsReceived}/${latencyStep.recordsExpected} records` : undefined,
    });
  }

  const held = figuresOf(results.get('ws-clients'));
  const heldStep = held?.steps?.[held.steps.length - 1];
  const delivered = heldStep ? heldStep.recordsReceived / heldStep.recordsExpected : 0;
  add({
    figure: 'WebSocket clients held at 1 update/s',
    gputel: heldStep ? heldStep.clients : null,
    reference: '—',
    referenceValue: null,
    target: '20,000, ≥ 99% of updates delivered',
    // A quick run holds fewer clients than the target: it says nothing about the target.
    met: heldStep && !quick ? heldStep.clients >= 20_000 && delivered >= 0.99 : null,
    status: statusOf('ws-clients'),
    note: heldStep
      ? `${heldStep.gateways ?? 1} gateway processes, ${(delivered * 100).toFixed(1)}% of updates, p99 ${heldStep.latencyP99Ms} ms, ${(heldStep.rssBytesPerClient / 1024).toFixed(1)} KiB RSS/client${quick ? ' (quick size)' : ''}`
      : undefined,
  });
  return rows;
}
/* eslint-enable @typescript-eslint/no-explicit-any */

function number(value: number | null): string {
  if (value === null || !Number.isFinite(value)) return '—';
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString('en-US');
  return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(value >= 1 ? 2 : 3);
}

/** One line per figure, so that the table reads in a terminal and in a log; a failed part's error follows the table once. */
function printTable(rows: Row[], results: Map<string, PartResult>): void {
  const widths = [42, 11, 32, 11, 6, 26];
  const line = (cells: string[]): string => cells.map((cell, i) => (i === 1 || i === 3 || i === 4 ? cell.padStart(widths[i]) : cell.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  console.log(`\n${line(['figure', 'gputel', 'reference, same run', 'reference', 'ratio', 'target', 'verdict'])}`);
  for (const r of rows) {
    const verdict = r.status !== 'measured' ? (r.status.includes('failed') ? 'FAILED (below)' : r.status) : r.met === null ? '—' : r.met ? 'met' : 'NOT met';
    console.log(line([r.figure, number(r.gputel), r.reference, number(r.referenceValue), r.ratio === null ? '—' : r.ratio.toFixed(2), r.target, verdict]));
  }
  const notes = rows.filter((r) => r.note !== undefined && r.status === 'measured').map((r) => `  ${r.figure}: ${r.note}`);
  if (notes.length > 0) console.log(`\n${notes.join('\n')}`);
  for (const [name, result] of results) if (result.status === 'failed') console.log(`\n${name} FAILED: ${result.error} (log: ${result.log})`);
}

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const only = option('only')?.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  const unknown = only?.filter((name) => !PARTS.some((p) => p.name === name)) ?? [];
  if (unknown.length > 0) throw new Error(`--only: no part named ${unknown.join(', ')}; parts: ${PARTS.map((p) => p.name).join(', ')}`);
  const outFile = option('out') ?? 'bench-results/bench.json';
  const timeoutSeconds = option('timeout-s');
  if (timeoutSeconds !== undefined && !(Number(timeoutSeconds) > 0)) throw new Error('--timeout-s must be a number of seconds above 0');
  const timeoutOverrideMs = timeoutSeconds === undefined ? undefined : Number(timeoutSeconds) * 1000;
  const logDir = join(dirname(outFile), 'logs');
  mkdirSync(logDir, { recursive: true });
  const workDir = mkdtempSync(join(tmpdir(), 'gputel-bench-all-'));
  const onSignal = (signal: NodeJS.Signals): void => {
    running?.kill('SIGTERM');
    rmSync(workDir, { recursive: true, force: true });
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const loadAtStart = loadavg();
  const startedAt = new Date().toISOString();
  console.log(`npm run bench${quick ? ' --quick' : ''}: ${cpus().length} CPUs, load ${loadAtStart.map((l) => l.toFixed(1)).join(' ')}; each part's output in ${logDir}/`);
  const results = new Map<string, PartResult>();
  try {
    for (const part of PARTS) {
      if (only && !only.includes(part.name)) {
        results.set(part.name, { status: 'not run' });
        continue;
      }
      process.stdout.write(`  ${part.name.padEnd(11)} ${part.what} … `);
      const result = await runPart(part, quick, workDir, logDir, timeoutOverrideMs);
      results.set(part.name, result);
      console.log(result.status === 'ok' ? `${result.seconds!.toFixed(0)} s` : `FAILED after ${result.seconds!.toFixed(0)} s: ${result.error}`);
    }
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
  const rows = buildRows(results, quick);
  printTable(rows, results);
  const loadAtEnd = loadavg();
  console.log(`load ${loadAtEnd.map((l) => l.toFixed(1)).join(' ')} at the end. Figures move with the machine's load: read the ratios.`);
  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(
    outFile,
    `${JSON.stringify(
      {
        startedAt,
        finishedAt: new Date().toISOString(),
        quick,
        only: only ?? null,
        machine: { cpus: cpus().length, loadAverageAtStart: loadAtStart, loadAverageAtEnd: loadAtEnd },
        table: rows,
        parts: Object.fromEntries([...results].map(([name, r]) => [name, { status: r.status, seconds: r.seconds, error: r.error, log: r.log, output: r.output }])),
      },
      null,
      2,
    )}\n`,
  );
  console.log(`figures written to ${outFile}`);
  if ([...results.values()].some((r) => r.status === 'failed')) process.exitCode = 1;
}

await main();
