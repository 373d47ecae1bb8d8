/**
 * `gputel cluster up` writes D/prometheus-targets.json in Prometheus's
 * file_sd format: one group per process that serves /metrics (etcd and every
 * role), on the ports picked at this up, and `down` removes it.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { readClusterState } from '../../src/cli/cluster/cluster-state.js';
import { prometheusTargetsPath, type PrometheusTargetGroup } from '../../src/cli/cluster/prometheus-targets.js';
import { runGputel } from '../support/gputel-process.js';
import { SMALL_CLUSTER_FLAGS, useClusterFolders } from '../support/cluster-folders.js';


describe('gputel cluster up: Prometheus targets', { timeout: 120_000 }, () => {
  const { root, remember } = useClusterFolders('gputel-cluster-prom-');

  it('lists every process but nginx with its role, name and folder, each answering /metrics with Prometheus text; down removes the file', async () => {
    const dir = path.join(root, 'cluster');
    const up = runGputel(['cluster', 'up', '--dir', dir, ...SMALL_CLUSTER_FLAGS]);
    const code = await up.exited;
    remember(dir);
    assert.equal(code, 0, up.stderr());
    const state = readClusterState(dir);
    const groups = JSON.parse(readFileSync(prometheusTargetsPath(dir), 'utf8')) as PrometheusTargetGroup[];

    const expected = state.processes.filter((entry) => entry.role !== 'nginx');
    assert.deepEqual(
      groups,
      expected.map((entry) => ({ targets: [`127.0.0.1:${entry.port}`], labels: { role: entry.role, instance: entry.name, cluster_dir: dir } })),
    );
    assert.deepEqual(groups.map((group) => group.labels.role).sort(), ['collector', 'etcd', 'gateway', 'streamer']);

    for (const group of groups) {
      const response = await fetch(`http://${group.targets[0]}/metrics`, { signal: AbortSignal.timeout(5_000) });
      const text = await response.text();
      assert.equal(response.status, 200, `${group.labels.instance}: ${text.slice(0, 200)}`);
      assert.match(response.headers.get('content-type') ?? '', /^text\/plain/, group.labels.instance);
      assert.match(text, /^# HELP \w+ /m, `${group.labels.instance} answers Prometheus text`);
      assert.match(text, /^# TYPE \w+ (counter|gauge|histogram|summary|untyped)$/m, group.labels.instance);
    }

    const down = runGputel(['cluster', 'down', '--dir', dir, '--grace', '5s']);
    assert.equal(await down.exited, 0, down.stderr());
    assert.equal(existsSync(prometheusTargetsPath(dir)), false, 'down removes the targets');
  });
});
