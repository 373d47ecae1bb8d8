/**
 * The settings the chart gives each role, tried on real gputel processes and
 * a real etcd: each Deployment's container is started as `node bin/gputel.js`
 * with its rendered args and environment (the ConfigMap, its env entries, the
 * chart's Secret items written where the pod would mount them). Only the
 * listening address and port change (127.0.0.1 and a free port, where the pod
 * has its own network). Each answers its liveness and readiness probes, the
 * gateway requires the key the chart made, and the simulated source's GPUs
 * go through the collector, sealed with the chart's encryption key, to the
 * gateway. This is the nearest to an install these machines allow.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateEncryptionKeyLine } from '../../src/kv/encryption-key-file.js';
import { findFreePort, startEtcd, type EtcdProcess } from '../support/etcd-process.js';
import { runGputel, type GputelProcess } from '../support/gputel-process.js';
import { waitFor } from '../support/wait-for.js';
import type { KubernetesObject } from './kubernetes-schema.js';
import { RELEASE, renderChart } from './render-chart.js';

const SIMULATED_GPUS = 2;

interface StartedRole {
  name: string;
  process: GputelProcess;
  port: number;
  container: KubernetesObject;
}

/** A container's environment as the pod would see it, with file paths under Secret mounts moved to where the test wrote those Secrets. */
function environmentOf(deployment: KubernetesObject, config: KubernetesObject, secretFolders: Map<string, string>): Record<string, string> {
  const pod = deployment.spec.template.spec;
  const container = pod.containers[0];
  const secretOfVolume = new Map<string, string>(pod.volumes.filter((v: { secret?: object }) => v.secret).map((v: { name: string; secret: { secretName: string } }) => [v.name, v.secret.secretName]));
  const environment: Record<string, string> = { ...config.data };
  for (const entry of container.env as { name: string; value?: string; valueFrom?: object }[]) {
    assert.ok(entry.value !== undefined, `${deployment.metadata.name}: ${entry.name} comes from a value (this test gives no existing Secret)`);
    let value = entry.value;
    for (const mount of container.volumeMounts as { name: string; mountPath: string }[]) {
      const secretName = secretOfVolume.get(mount.name);
      if (secretName !== undefined && value.startsWith(`${mount.mountPath}/`)) {
        const folder = secretFolders.get(secretName);
        assert.ok(folder, `${deployment.metadata.name}: ${entry.name} reads Secret ${secretName}, which the chart did not render`);
        value = join(folder, value.slice(mount.mountPath.length + 1));
      }
    }
    environment[entry.name] = value;
  }
  return environment;
}

async function probe(port: number, path: string): Promise<number | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(2_000) });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return undefined;
  }
}

describe('the chart\'s settings on real gputel processes and etcd', () => {
  let etcd: EtcdProcess;
  let folder: string;
  let objects: KubernetesObject[];
  const roles: StartedRole[] = [];

  before(async () => {
    etcd = await startEtcd();
    folder = mkdtempSync(join(tmpdir(), 'gputel-chart-settings-'));
    objects = renderChart({
      etcd: { enabled: false },
      externalEtcd: { endpoints: etcd.endpoints },
      config: { partitions: 2, root: `/chart-${process.pid}`, logLevel: 'warn' },
      encryption: { enabled: true, keys: generateEncryptionKeyLine('chart-test') },
      streamer: { sources: [{ name: 'simulated', args: ['--simulate', '--simulate-hosts', '1', '--simulate-gpus-per-host', String(SIMULATED_GPUS), '--simulate-backfill', '0', '--interval', '1s', '--no-progress'] }] },
    });
    const secretFolders = new Map<string, string>();
    for (const secret of objects.filter((o) => o.kind === 'Secret')) {
      const secretFolder = join(folder, secret.metadata.name);
      mkdirSync(secretFolder);
      for (const [item, text] of Object.entries(secret.stringData as Record<string, string>)) {
        writeFileSync(join(secretFolder, item), text);
        chmodSync(join(secretFolder, item), 0o440);
      }
      secretFolders.set(secret.metadata.name, secretFolder);
    }
    const config = objects.find((o) => o.kind === 'ConfigMap')!;
    for (const deployment of objects.filter((o) => o.kind === 'Deployment')) {
      const container = deployment.spec.template.spec.containers[0];
      const port = await findFreePort();
      const environment = { ...environmentOf(deployment, config, secretFolders), GPUTEL_PORT: String(port), GPUTEL_HOST: '127.0.0.1' };
      roles.push({ name: deployment.metadata.name, process: runGputel(container.args, environment), port, container });
    }
  });

  after(async () => {
    await Promise.all(roles.map((role) => role.process.stop()));
    await etcd?.stop();
    if (folder !== undefined) rmSync(folder, { recursive: true, force: true });
  });

  it('starts every role, and each answers its liveness and readiness probes', async () => {
    assert.deepEqual(roles.map((r) => r.container.args[0]).sort(), ['collector', 'gateway', 'streamer']);
    for (const role of roles) {
      const ready = role.container.readinessProbe.httpGet.path as string;
      const live = role.container.livenessProbe.httpGet.path as string;
      await waitFor(`${role.name} ready (${ready})`, 30_000, async () => {
        if (role.process.child.exitCode !== null) throw new Error(`${role.name} exited ${role.process.child.exitCode}: ${role.process.stderr().slice(-2000)}`);
        return (await probe(role.port, ready)) === 200 || undefined;
      }, 100);
      assert.equal(await probe(role.port, live), 200, `${role.name} ${live}`);
    }
  });

  it('serves the simulated GPUs through the gateway only with the key the chart made', async () => {
    const gateway = roles.find((r) => r.container.args[0] === 'gateway')!;
    const secret = objects.find((o) => o.kind === 'Secret' && o.metadata.name === `${RELEASE}-gputel-secrets`)!;
    const key = secret.stringData['generated-admin-key'] as string;
    const url = `http://127.0.0.1:${gateway.port}/api/v1/gpus`;
    assert.equal((await fetch(url)).status, 401);
    const count = await waitFor(`${SIMULATED_GPUS} GPUs listed by the gateway`, 15_000, async () => {
      const response = await fetch(url, { headers: { authorization: `Bearer ${key}` } });
      assert.equal(response.status, 200);
      const body = (await response.json()) as { count: number };
      return body.count >= SIMULATED_GPUS ? body.count : undefined;
    }, 200);
    assert.equal(count, SIMULATED_GPUS);
  });

  it('has every role read the encryption key file from where the chart mounts it', () => {
    // The one sign a role gives of reading the file: the warning that its group may read it, as a Secret mounted with fsGroup is.
    for (const role of roles) assert.match(role.process.stderr(), /encryption key file \S+encryption-keys can be read by other users/, role.name);
  });
});
