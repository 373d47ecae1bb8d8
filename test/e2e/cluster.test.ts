/**
 * `gputel cluster up|status|down` end to end, through the real CLI: 2
 * streamers, 3 collectors and 2 gateways on a 3-member etcd behind nginx.
 * Files are streamed (and appended to while the faults happen), read through
 * the load balancer by REST and WebSocket, one gateway and the etcd leader
 * are killed with kill -9, not one request through the load balancer fails,
 * the counts end exact, and `down` leaves none of the processes running.
 */
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { readClusterState, type ClusterProcess } from '../../src/cli/cluster/cluster-state.js';
import { processStartTime } from '../../src/cli/cluster/process-identity.js';
import { stopClusterProcesses } from '../../src/cli/cluster/process-stopper.js';
import { EXIT } from '../../src/cli/exit-codes.js';
import { generateDcgmCsv } from '../../src/ingest/dcgm-generator.js';
import { assertApiMatches, waitForSamples } from '../support/api-checks.js';
import { readOracle } from '../support/csv-oracle.js';
import { runGputel } from '../support/gputel-process.js';
import { waitFor } from '../support/wait-for.js';

interface StatusJson {
  url: string;
  etcd: string[];
  processes: { name: string; role: string; pid: number; port: number; healthy: boolean; log: string }[];
}

/** A DCGM export of `hosts` hosts from host `firstHost`, cut into three parts of whole lines: the header and first part, then two to append. */
async function exportInParts(firstHost: number): Promise<[string, string, string]> {
  let text = '';
  await generateDcgmCsv(
    { hosts: 2, firstHost, gpusPerHost: 2, durationMs: 90_000, intervalMs: 1_000, seed: 5, startMs: Date.parse('2026-03-02T10:00:00Z') },
    (chunk) => {
      text += chunk;
    },
  );
  const lines = text.split('\n').filter((line) => line !== '');
  const third = Math.floor((lines.length - 1) / 3);
  const part = (from: number, to: number): string => lines.slice(from, to).join('\n') + '\n';
  return [part(0, 1 + third), part(1 + third, 1 + 2 * third), part(1 + 2 * third, lines.length)];
}

/** How long the reader reads through the load balancer after the kills, at least. */
const READ_AFTER_FAULTS_MS = 3_000;

function lineCount(text: string): number {
  return text.split('\n').length - 1;
}

/** The etcd member the others follow, asked through etcd's HTTP gateway. */
async function leaderUrl(clientUrls: string[]): Promise<string> {
  const ask = async (url: string): Promise<{ leader: string; header: { member_id: string } }> =>
    (await (await fetch(`${url}/v3/maintenance/status`, { method: 'POST', body: '{}' })).json()) as { leader: string; header: { member_id: string } };
  const { leader } = await ask(clientUrls[0]);
  for (const url of clientUrls) if ((await ask(url)).header.member_id === leader) return url;
  throw new Error(`no member is the leader ${leader}`);
}

/** Reads through the load balancer without pause until stopped, keeping every failed request. */
function startReader(url: string): { stop: () => Promise<{ requests: number; answeredAt: number[]; failures: string[] }> } {
  const paths = ['/api/v1/stats', '/api/v1/gpus', '/api/v1/hosts', '/api/v1/summary'];
  let running = true;
  let requests = 0;
  const answeredAt: number[] = [];
  const failures: string[] = [];
  const loop = (async () => {
    // Bounded: at most 5,000 requests, and the test stops it after the faults.
    for (let i = 0; running && i < 5_000; i++) {
      const target = `${url}${paths[i % paths.length]}`;
      try {
        const response = await fetch(target, { signal: AbortSignal.timeout(10_000) });
        const body = await response.text();
        if (response.status !== 200) failures.push(`GET ${target}: ${response.status} ${body.slice(0, 200)}`);
        else answeredAt.push(Date.now());
      } catch (error) {
        failures.push(`GET ${target}: ${(error as Error).message} ${String((error as { cause?: unknown }).cause ?? '')}`);
      }
      requests++;
      await sleep(10);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { requests, answeredAt, failures };
    },
  };
}

/** A live-stream client through the load balancer, subscribed to every GPU, keeping the (uuid, timestamp) of each record. */
async function openLiveStream(url: string): Promise<{ records: Set<string>; closed: () => boolean; close: () => void }> {
  const socket = new WebSocket(`${url.replace(/^http/, 'ws')}/ws`);
  const records = new Set<string>();
  let closed = false;
  socket.on('close', () => (closed = true));
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.once('open', () => {
      socket.send(JSON.stringify({ type: 'subscribe', id: 'all' }));
    });
    socket.on('message', (data: Buffer) => {
      const frame = JSON.parse(data.toString()) as { type: string; data?: { uuid: string; timestamp: string } };
      if (frame.type === 'subscribed') resolve();
      if (frame.type === 'record' && frame.data) records.add(`${frame.data.uuid}@${Date.parse(frame.data.timestamp)}`);
    });
  });
  return { records, closed: () => closed, close: () => socket.close() };
}

describe('gputel cluster: a local cluster behind nginx', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'gputel-cluster-'));
  const clusterDir = path.join(dir, 'cluster');
  let started: ClusterProcess[] = [];

  after(async () => {
    // A test that failed midway still stops what `up` started, by pid.
    try {
      await stopClusterProcesses(readClusterState(clusterDir).processes, 2_000);
    } catch {
      await stopClusterProcesses(started, 2_000);
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('streams, serves through the load balancer over the loss of a gateway and an etcd member, counts exactly, and stops every process', async (t) => {
    const files = [path.join(dir, 'hosts-1-2.csv'), path.join(dir, 'hosts-3-4.csv')];
    const parts = await Promise.all([exportInParts(1), exportInParts(3)]);
    files.forEach((file, i) => writeFileSync(file, parts[i][0]));

    const up = runGputel(
      ['cluster', 'up', '--streamers', '2', '--collectors', '3', '--gateways', '2', '--etcd-members', '3', '--port', '0', '--dir', clusterDir, '--file', ...files, '--output', 'json'],
      // Every role takes GPUTEL_* settings from the environment `up` passes on: a short flush for a quick live stream.
      { GPUTEL_FLUSH_INTERVAL: '20ms' },
    );
    assert.equal(await up.exited, 0, up.stderr());
    started = readClusterState(clusterDir).processes;
    // The gateways take the client's address from nginx's X-Forwarded-For (rate limits per client, not per balancer).
    for (const entry of started.filter((p) => p.role === 'gateway')) assert.match(entry.command.join(' '), / --trust-proxy 127\.0\.0\.1( |$)/);
    const status = JSON.parse(up.stdout()) as StatusJson;
    assert.deepEqual(Object.keys(status), ['url', 'etcd', 'processes']);
    assert.equal(status.etcd.length, 3);
    assert.deepEqual(status.processes.map((p) => p.role).sort(), ['collector', 'collector', 'collector', 'etcd', 'etcd', 'etcd', 'gateway', 'gateway', 'nginx', 'streamer', 'streamer']);
    assert.ok(status.processes.every((p) => p.healthy && Object.keys(p).join() === 'name,role,pid,port,healthy,log'), JSON.stringify(status.processes));
    // Each process by the name `cluster restart` takes, and its log.
    assert.deepEqual(status.processes.map((p) => p.name), started.map((p) => p.name));
    assert.equal(new Set(status.processes.map((p) => p.name)).size, status.processes.length);
    assert.deepEqual(status.processes.map((p) => p.log), started.map((p) => p.logFile));
    const url = status.url;

    const firstRows = files.reduce((n, file) => n + readOracle(file).length, 0);
    await waitForSamples(url, firstRows, 30_000);
    const before = await openLiveStream(url);
    const reader = startReader(url);

    // Streaming goes on while the faults happen.
    files.forEach((file, i) => appendFileSync(file, parts[i][1]));
    const gateway = status.processes.find((p) => p.role === 'gateway')!;
    const leader = await leaderUrl(status.etcd);
    const etcdMember = status.processes.find((p) => p.role === 'etcd' && leader.endsWith(`:${p.port}`))!;
    process.kill(gateway.pid, 'SIGKILL');
    process.kill(etcdMember.pid, 'SIGKILL');
    const killedAt = Date.now();
    await waitFor('the killed gateway and etcd member gone', 5_000, () => (processStartTime(gateway.pid) === undefined && processStartTime(etcdMember.pid) === undefined ? true : undefined));

    // A client that connects after the faults gets a gateway that lives, and the rows streamed from now on.
    const afterFaults = await openLiveStream(url);
    files.forEach((file, i) => appendFileSync(file, parts[i][2]));
    const allRows = files.flatMap((file) => readOracle(file));
    await waitForSamples(url, allRows.length, 30_000);
    // Reading goes on for a while after the kills whatever the ingest's speed: over the etcd election and nginx's passing over the dead gateway.
    await sleep(Math.max(0, READ_AFTER_FAULTS_MS - (Date.now() - killedAt)));
    const { requests, answeredAt, failures } = await reader.stop();
    assert.deepEqual(failures, [], `${failures.length} of ${requests} requests through the load balancer failed`);
    // Liveness, not speed: a slow machine answers fewer requests, but some must be answered after the kills.
    const answeredAfterFaults = answeredAt.filter((at) => at > killedAt).length;
    assert.ok(answeredAfterFaults >= 3, `the reader kept reading after the faults (${answeredAfterFaults} of ${requests} requests answered after them)`);
    // nginx's access log names every gateway a request was tried on: "upstream=A, B" is one passed over to the next.
    const passedOver = readFileSync(path.join(clusterDir, 'logs', 'nginx-access.log'), 'utf8').split('\n').filter((line) => /upstream=\S+, /.test(line)).length;
    t.diagnostic(`${requests} requests through the load balancer during the faults, ${passedOver} passed over to the next gateway`);

    // Exact counts, and every value, through the load balancer.
    await assertApiMatches(url, allRows);
    const lastPartRows = files.flatMap((file, i) => readOracle(file).filter((row) => row.line > lineCount(parts[i][0]) + lineCount(parts[i][1])));
    assert.ok(lastPartRows.length > 0);
    const expectedLive = new Set(lastPartRows.map((row) => `${row.uuid}@${row.timestampMs}`));
    const everyRecord = new Set(allRows.map((row) => `${row.uuid}@${row.timestampMs}`));
    await waitFor('the live stream opened after the faults delivered every record appended after them', 10_000, () => ([...expectedLive].every((key) => afterFaults.records.has(key)) ? true : undefined));
    assert.ok([...afterFaults.records].every((key) => everyRecord.has(key)), 'no record the files do not hold');
    // The stream opened before the faults either rode them out (its gateway lived) or was closed by the killed one.
    assert.ok(before.closed() || [...expectedLive].every((key) => before.records.has(key)), 'a stream on the surviving gateway kept delivering');
    before.close();
    afterFaults.close();

    // status shows the two killed processes as not healthy, and exits FAILED.
    const statusRun = runGputel(['cluster', 'status', '--dir', clusterDir, '--output', 'json']);
    assert.equal(await statusRun.exited, EXIT.FAILED, statusRun.stderr());
    const afterStatus = JSON.parse(statusRun.stdout()) as StatusJson;
    assert.deepEqual(
      afterStatus.processes.filter((p) => !p.healthy).map((p) => p.pid).sort(),
      [gateway.pid, etcdMember.pid].sort(),
    );

    const down = runGputel(['cluster', 'down', '--dir', clusterDir, '--grace', '5s']);
    assert.equal(await down.exited, 0, down.stderr());
    for (const entry of started) assert.notEqual(processStartTime(entry.pid), entry.startTime, `${entry.name} (pid ${entry.pid}) is gone`);
    const again = runGputel(['cluster', 'status', '--dir', clusterDir]);
    assert.equal(await again.exited, EXIT.NOT_FOUND, 'the state is gone');
    assert.match(again.stderr(), /no cluster in .*: start one with `gputel cluster up/);
    // The logs outlive the cluster.
    const logs = runGputel(['cluster', 'logs', 'gateway-2', 'nginx-access', '--dir', clusterDir, '--lines', '3']);
    assert.equal(await logs.exited, 0, logs.stderr());
    assert.match(logs.stdout(), /==> .*logs\/gateway-2\.log <==\n/);
    assert.match(logs.stdout(), /==> .*logs\/nginx-access\.log <==\n(.*upstream=127\.0\.0\.1:\d+.*\n){3}/);
  });
});
