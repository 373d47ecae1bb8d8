/**
 * The gputel services of deploy/compose.yaml, run as real processes on a real
 * etcd with their commands and environments as written (no Docker engine
 * runs here): only etcd's address and the ports change, and /data (the
 * `import` volume) is a temporary folder. sample-csv writes the CSV once,
 * both streamers, both collectors and both gateways pass the image's
 * healthcheck, the two streamers' fleets do not collide, and the load
 * balancer's nginx.conf (where nginx is installed) serves them and a live
 * subscription from the real gateways.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { parse } from 'yaml';
import { findFreePort, startEtcd, type EtcdProcess } from '../support/etcd-process.js';
import { runGputel, type GputelProcess } from '../support/gputel-process.js';
import { waitFor } from '../support/wait-for.js';
import { NGINX_MISSING, startComposeNginx } from './compose-nginx.js';
import { REPO_ROOT } from './helm-binary.js';

interface ComposeService {
  command?: string[] | string;
  environment?: Record<string, string>;
  healthcheck?: { test?: string[] };
}

const compose = parse(readFileSync(join(REPO_ROOT, 'deploy/compose.yaml'), 'utf8'), { merge: true }) as { services: Record<string, ComposeService> };
const ROLES = ['streamer', 'collector', 'gateway'];
/** Both fleets: the simulated one (4 × 8, the streamer's defaults as written) and the CSV's (4 hosts × 8 GPUs). */
const EXPECTED_GPUS = 64;

interface RunningService {
  name: string;
  port: number;
  process: GputelProcess;
}

/** The image's healthcheck command, run for one service as Compose would inside its container. */
function healthcheck(service: ComposeService, port: number): number | null {
  const [form, executable, ...args] = service.healthcheck!.test!;
  assert.equal(form, 'CMD');
  assert.equal(executable, 'node');
  const result = spawnSync(process.execPath, args, { cwd: REPO_ROOT, env: { ...process.env, ...service.environment, GPUTEL_PORT: String(port) }, timeout: 10_000 });
  return result.status;
}

describe('deploy/compose.yaml services as processes', () => {
  let etcd: EtcdProcess;
  let folder: string;
  const running: RunningService[] = [];

  before(async () => {
    etcd = await startEtcd();
    folder = mkdtempSync(join(tmpdir(), 'gputel-compose-'));
    mkdirSync(join(folder, 'data'));
  });

  after(async () => {
    await Promise.all(running.map((service) => service.process.stop()));
    await etcd?.stop();
    if (folder !== undefined) rmSync(folder, { recursive: true, force: true });
  });

  /** A path of the containers, in this test's folder. */
  const local = (text: string): string => text.replace(/\/(data|tmp)\//g, (_, dir: string) => (dir === 'data' ? `${folder}/data/` : `${folder}/`));

  it('writes the sample CSV once, with its hosts renamed away from the simulated fleet\'s', () => {
    const script = local((compose.services['sample-csv'].command as string[])[0]);
    for (let run = 0; run < 2; run++) {
      const before = run === 0 ? undefined : statSync(join(folder, 'data/fleet.csv')).mtimeMs;
      const result = spawnSync('sh', ['-c', script], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 30_000 });
      assert.equal(result.status, 0, result.stderr);
      if (before !== undefined) assert.equal(statSync(join(folder, 'data/fleet.csv')).mtimeMs, before, 'a second run keeps the file');
    }
    const head = readFileSync(join(folder, 'data/fleet.csv'), 'utf8').slice(0, 4096);
    assert.match(head, /"csv-node-01"/);
    assert.doesNotMatch(head, /gpu-node-/);
  });

  it('starts every streamer, collector and gateway as written, each healthy by the image\'s healthcheck', async () => {
    for (const [name, service] of Object.entries(compose.services)) {
      const command = service.command;
      if (!Array.isArray(command) || !ROLES.includes(command[0])) continue;
      const port = await findFreePort();
      const environment = { ...service.environment, GPUTEL_ETCD: etcd.endpoints.join(','), GPUTEL_PORT: String(port), GPUTEL_HOST: '127.0.0.1', GPUTEL_LOG_LEVEL: 'warn' };
      running.push({ name, port, process: runGputel(command.map(local), environment) });
    }
    assert.equal(running.length, 6);
    for (const service of running) {
      // Polled with fetch (a healthcheck process per poll would load the two shared cores), then the healthcheck once.
      await waitFor(`${service.name} answering /healthz`, 30_000, async () => {
        if (service.process.child.exitCode !== null) throw new Error(`${service.name} exited ${service.process.child.exitCode}: ${service.process.stderr().slice(-2000)}`);
        const response = await fetch(`http://127.0.0.1:${service.port}/healthz`).catch(() => undefined);
        return response?.status === 200 || undefined;
      }, 100);
      assert.equal(healthcheck(compose.services[service.name], service.port), 0, `${service.name}: the image's healthcheck`);
    }
  });

  it('serves both fleets, and a live subscription, through the load balancer\'s config', { skip: NGINX_MISSING }, async () => {
    const gateways = running.filter((service) => service.name.startsWith('gateway-')).sort((a, b) => a.name.localeCompare(b.name));
    assert.equal(gateways.length, 2);
    const nginx = await startComposeNginx(gateways.map((gateway) => gateway.port));
    try {
      const hosts = await waitFor(`${EXPECTED_GPUS} GPUs through the load balancer`, 20_000, async () => {
        const body = (await (await fetch(`${nginx.url}/api/v1/gpus`)).json()) as { count: number; data: { hostname: string }[] };
        return body.count >= EXPECTED_GPUS ? new Set(body.data.map((gpu) => gpu.hostname.replace(/-\d+$/, ''))) : undefined;
      }, 200);
      assert.deepEqual([...hosts].sort(), ['csv-node', 'gpu-node']);
      const socket = new WebSocket(`${nginx.url.replace('http', 'ws')}/ws`);
      try {
        const reply = await new Promise<string>((done, fail) => {
          const timer = setTimeout(() => fail(new Error('no answer to a subscription through nginx within 5 s')), 5_000);
          socket.on('open', () => socket.send(JSON.stringify({ type: 'subscribe', id: 'compose', hosts: ['gpu-node-01'] })));
          socket.on('message', (data) => {
            clearTimeout(timer);
            done(String(data));
          });
          socket.on('error', fail);
        });
        assert.deepEqual(JSON.parse(reply), { type: 'subscribed', id: 'compose' });
      } finally {
        socket.close();
      }
    } finally {
      await nginx.stop();
    }
  });
});
