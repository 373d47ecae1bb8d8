/**
 * The set-up every multi-process pipeline test repeats, in one place: a real
 * etcd (or cluster), a temp dir, `gputel` processes that are all stopped by
 * pid when the suite ends, and the few steps each scenario is made of
 * (generate a fleet, start a gateway, a collector or a streamer, read the
 * stored sample count). A test file then reads as its scenario only.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { EtcdKvStore } from '../../src/kv/etcd-kv-store.js';
import { assertApiMatches, getJson, waitForSamples } from './api-checks.js';
import type { OracleRow } from './csv-oracle.js';
import { findFreePort, startEtcd, type EtcdProcess } from './etcd-process.js';
import { runGputel, type GputelProcess } from './gputel-process.js';

/** What the harness needs of an etcd: a single process or a cluster. */
export interface EtcdUnderTest {
  endpoints: string[];
  stop(): Promise<void>;
}

export interface PipelineHarnessOptions<E extends EtcdUnderTest> {
  /** Starts the etcd under test; a single fresh member (startEtcd()) by default. */
  etcd?: () => Promise<E>;
  /** Also connect an EtcdKvStore (closed before etcd stops), for checks and fault injection. */
  kv?: boolean;
  /** Added to `common`, so every role started gets them (e.g. `--etcd-compaction-interval 5s`). */
  roleArgs?: string[];
}

/** The `gputel generate` fleet of one CSV file. */
export interface FleetOptions {
  hosts: number;
  gpusPerHost: number;
  /** e.g. '10m', '2500s'. */
  duration: string;
  /** e.g. '1s'. */
  interval: string;
  seed: number;
  /** ISO time of the first sample. */
  start: string;
}

export interface RunningPipeline {
  gateway: GputelProcess;
  baseUrl: string;
  collector: GputelProcess;
  streamer: GputelProcess;
}

export interface PipelineHarness<E extends EtcdUnderTest> {
  /** The etcd under test (from `before` on). */
  readonly etcd: E;
  /** A temp dir of this suite, removed when it ends. */
  readonly dir: string;
  /** The EtcdKvStore asked for with `kv: true`; throws otherwise. */
  readonly kv: EtcdKvStore;
  /** `--etcd ENDPOINTS --host 127.0.0.1` and the `roleArgs`: what every role is started with. */
  readonly common: string[];
  /** The gateway's base URL once startGateway() ran; throws before. */
  readonly baseUrl: string;
  /** Runs `gputel ARGS`; the process is stopped (by pid) when the suite ends. */
  run(args: string[]): GputelProcess;
  /** Runs `gputel ARGS --etcd ENDPOINTS` to its end, asserts exit 0, and returns its stdout. */
  cli(args: string[]): Promise<string>;
  /** Writes the fleet's CSV to `name` in `dir` with `gputel generate` (asserting exit 0) and returns its path. */
  generate(name: string, fleet: FleetOptions): Promise<string>;
  /** Starts a gateway on a free port with `args` (default `common`; it is not waited for); its URL is `baseUrl` from then on. */
  startGateway(args?: string[]): Promise<{ gateway: GputelProcess; baseUrl: string }>;
  /** Starts a collector, in the group under `consumerId` when given. */
  startCollector(consumerId?: string): GputelProcess;
  /** Starts a streamer of `file`; `extra` are its further flags (`--batch-samples 500`). */
  startStreamer(file: string, extra?: string[]): GputelProcess;
  /**
   * The start of a mid-stream fault: a gateway, a collector as `consumerId`,
   * 1 s for it to join its group, then a streamer of `file` with
   * `streamerArgs`; resolves once the first samples are stored (or after
   * waitForStored()'s polls, the caller checks).
   */
  startPipeline(file: string, options: { consumerId: string; streamerArgs: string[] }): Promise<RunningPipeline>;
  /** The gateway's stored sample count (/api/v1/stats), 0 while it does not answer. */
  storedSamples(): Promise<number>;
  /** Polls storedSamples() every 20 ms until it reaches `atLeast`, at most `polls` times (then goes on, the caller checks). */
  waitForStored(atLeast?: number, polls?: number): Promise<void>;
  /**
   * Waits until `rows.length` samples are stored, waits 500 ms more (anything
   * stored twice would show by then), and asserts the API serves exactly `rows`.
   */
  assertStoredExactlyOnce(rows: OracleRow[], timeoutMs?: number): Promise<void>;
}

/**
 * Registers before/after hooks in the enclosing `describe` and returns the
 * harness they fill in: its fields are read inside `it`, not at describe time.
 * `name` names the temp dir (`gputel-NAME-…`).
 */
export function usePipelineHarness<E extends EtcdUnderTest = EtcdProcess>(name: string, options: PipelineHarnessOptions<E> = {}): PipelineHarness<E> {
  // Without options.etcd E is its default, EtcdProcess: what startEtcd() gives.
  const startEtcdUnderTest = options.etcd ?? ((() => startEtcd()) as unknown as () => Promise<E>);
  let etcd: E | undefined;
  let kv: EtcdKvStore | undefined;
  let dir: string | undefined;
  let baseUrl: string | undefined;
  const processes: GputelProcess[] = [];

  before(async () => {
    etcd = await startEtcdUnderTest();
    if (options.kv) kv = await EtcdKvStore.connect({ endpoints: etcd.endpoints });
    dir = mkdtempSync(join(tmpdir(), `gputel-${name}-`));
  });
  after(async () => {
    await Promise.all(processes.map((p) => p.stop()));
    await kv?.close();
    await etcd?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  function started<T>(value: T | undefined, what: string): T {
    if (value === undefined) throw new Error(`the pipeline harness has no ${what} yet`);
    return value;
  }

  const harness: PipelineHarness<E> = {
    get etcd() {
      return started(etcd, 'etcd (read it inside a test)');
    },
    get dir() {
      return started(dir, 'dir (read it inside a test)');
    },
    get kv() {
      return started(kv, 'kv (pass { kv: true })');
    },
    get common() {
      return ['--etcd', harness.etcd.endpoints.join(','), '--host', '127.0.0.1', ...(options.roleArgs ?? [])];
    },
    get baseUrl() {
      return started(baseUrl, 'gateway (call startGateway() first)');
    },
    run(args) {
      const child = runGputel(args);
      processes.push(child);
      return child;
    },
    async cli(args) {
      const child = harness.run([...args, '--etcd', harness.etcd.endpoints.join(',')]);
      const code = await child.exited;
      assert.equal(code, 0, `gputel ${args.join(' ')}: ${child.stderr()}`);
      return child.stdout();
    },
    async generate(file, fleet) {
      const out = join(harness.dir, file);
      const generator = harness.run([
        'generate', '--out', out,
        '--hosts', String(fleet.hosts), '--gpus-per-host', String(fleet.gpusPerHost),
        '--duration', fleet.duration, '--interval', fleet.interval,
        '--seed', String(fleet.seed), '--start', fleet.start,
      ]);
      assert.equal(await generator.exited, 0, generator.stderr());
      return out;
    },
    async startGateway(args = harness.common) {
      const port = await findFreePort();
      const gateway = harness.run(['gateway', ...args, '--port', String(port)]);
      baseUrl = `http://127.0.0.1:${port}`;
      return { gateway, baseUrl };
    },
    startCollector(consumerId) {
      return harness.run(['collector', ...harness.common, '--port', '0', ...(consumerId === undefined ? [] : ['--consumer-id', consumerId])]);
    },
    startStreamer(file, extra = []) {
      return harness.run(['streamer', ...harness.common, '--port', '0', '--file', file, ...extra]);
    },
    async startPipeline(file, { consumerId, streamerArgs }) {
      const { gateway, baseUrl } = await harness.startGateway();
      const collector = harness.startCollector(consumerId);
      await sleep(1_000);
      const streamer = harness.startStreamer(file, streamerArgs);
      await harness.waitForStored();
      return { gateway, baseUrl, collector, streamer };
    },
    async storedSamples() {
      return (await getJson<{ samples: number }>(`${harness.baseUrl}/api/v1/stats`).catch(() => ({ body: { samples: 0 } }))).body.samples;
    },
    async waitForStored(atLeast = 1, polls = 500) {
      for (let i = 0; i < polls && (await harness.storedSamples()) < atLeast; i++) await sleep(20);
    },
    async assertStoredExactlyOnce(rows, timeoutMs = 60_000) {
      await waitForSamples(harness.baseUrl, rows.length, timeoutMs);
      await sleep(500);
      await assertApiMatches(harness.baseUrl, rows);
    },
  };
  return harness;
}
