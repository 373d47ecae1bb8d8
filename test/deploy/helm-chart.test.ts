/**
 * deploy/helm/gputel, checked with the real helm (Helm 4, fetched by
 * scripts/test-prerequisites.sh): it lints, it renders with default and
 * non-default values, every rendered object matches its Kubernetes schema
 * (kubernetes-models), and the properties that matter hold: non-root and
 * read-only pods, probes on each role's port, selectors that select the pods
 * they mean, NetworkPolicies that admit only whom they should, the HPAs'
 * metrics, and Secrets whose contents gputel itself accepts. No cluster is
 * involved: nothing here is installed (docs/deployment.md).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { loadConfig } from '../../src/common/config.js';
import { ApiKeyRing, createApiKey } from '../../src/gateway/security/api-key-ring.js';
import { ScrapeSource } from '../../src/ingest/scrape-source.js';
import { generateEncryptionKeyLine, parseEncryptionKeys } from '../../src/kv/encryption-key-file.js';
import { validateKubernetesObject, type KubernetesObject } from './kubernetes-schema.js';
import { findHelmBinary } from './helm-binary.js';
import { CHART_DIR, NAMESPACE, RELEASE, renderChart, renderChartError, runHelm } from './render-chart.js';

const FULLNAME = `${RELEASE}-gputel`;

const readKey = createApiKey('read', 'grafana');
const encryptionKeys = `${generateEncryptionKeyLine('k1')}\n${generateEncryptionKeyLine('k2')}\n`;

/** Everything turned away from the defaults: an existing etcd with TLS and auth, ingress TLS, encryption, keys, HPAs swapped. */
const NON_DEFAULT_VALUES = {
  image: { repository: 'registry.example.com/gputel', tag: '0.1.0', digest: 'sha256:' + 'a'.repeat(64), pullSecrets: [{ name: 'registry' }] },
  config: { cluster: 'lab', topic: 'gpus', partitions: 8, extra: { GPUTEL_RETENTION: '14d', GPUTEL_BATCH_SAMPLES: 10000 } },
  etcd: { enabled: false },
  externalEtcd: {
    endpoints: ['https://etcd-0.example:2379', 'https://etcd-1.example:2379', 'https://etcd-2.example:2379'],
    tls: { enabled: true, existingSecret: 'etcd-client-tls' },
    auth: { enabled: true, existingSecret: 'etcd-credentials', userKey: 'username', passwordKey: 'password' },
  },
  encryption: { enabled: true, keys: encryptionKeys },
  streamer: {
    sources: [
      { name: 'dcgm', args: ['--scrape', 'http://gpu-node-07.lab:9400/metrics,http://gpu-node-08.lab:9400/metrics', '--interval', '10s'] },
      {
        name: 'exports',
        args: ['--file', '/exports/fleet.csv', '--follow'],
        extraVolumes: [{ name: 'exports', persistentVolumeClaim: { claimName: 'dcgm-exports' } }],
        extraVolumeMounts: [{ name: 'exports', mountPath: '/exports', readOnly: true }],
      },
    ],
  },
  collector: { replicas: 3, autoscaling: { enabled: true, minReplicas: 2, maxReplicas: 8, targetQueueDepthPerReplica: 200 } },
  gateway: {
    replicas: 4,
    apiKeys: { lines: [readKey.line] },
    tls: { existingSecret: 'gateway-tls' },
    trustProxy: ['10.244.0.0/16', 'fd00:10:244::/56'],
    autoscaling: { enabled: false },
    ingress: { enabled: true, className: 'nginx', host: 'gputel.lab.example', tls: { enabled: true, secretName: 'gputel-lab-tls' } },
  },
  networkPolicy: { ingressControllerNamespace: 'ingress-system', ingressControllerPodLabels: { 'app.kubernetes.io/name': 'ingress-nginx' }, metricsNamespace: '' },
};

/** The per-node streamers on, with the simulated source dropped: what a fleet with dcgm-exporter on every GPU node runs. */
const PER_NODE_VALUES = { streamer: { sources: [] }, dcgmExporter: { perNode: { enabled: true, extraArgs: ['--interval', '5s'] } } };
const PER_NODE_NAME = `${FULLNAME}-streamer-per-node`;

const defaults = renderChart();
const custom = renderChart(NON_DEFAULT_VALUES);
const perNode = renderChart(PER_NODE_VALUES);
/** The per-node streamers beside the non-default values: an existing etcd with TLS and credentials, encryption. */
const perNodeCustom = renderChart({ ...NON_DEFAULT_VALUES, dcgmExporter: { perNode: { enabled: true, scheme: 'https', port: 9500, path: '/dcgm/metrics', nodeSelector: { 'nvidia.com/gpu.present': null, gpu: 'yes' }, tolerations: [] } } });

function only(objects: KubernetesObject[], kind: string, name: string): KubernetesObject {
  const found = objects.filter((o) => o.kind === kind && o.metadata.name === name);
  assert.equal(found.length, 1, `${kind} ${name}: rendered ${found.length} times; rendered: ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`);
  return found[0];
}

/** Maps documented as one value: resources, and node selectors (their keys are label names, not values). */
const MAPS_DOCUMENTED_AS_ONE = new Set(['resources', 'nodeSelector']);

/** Every value's dotted path: maps are walked into, except MAPS_DOCUMENTED_AS_ONE; lists and empty maps are values. */
function valuePaths(values: Record<string, unknown>, prefix = ''): string[] {
  return Object.entries(values).flatMap(([key, value]) => {
    const path = prefix === '' ? key : `${prefix}.${key}`;
    const isMap = value !== null && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length > 0;
    return isMap && !MAPS_DOCUMENTED_AS_ONE.has(key) ? valuePaths(value as Record<string, unknown>, path) : [path];
  });
}

function ofKind(objects: KubernetesObject[], kind: string): KubernetesObject[] {
  return objects.filter((o) => o.kind === kind);
}

/** Whether every label of `selector` is on `labels`. */
function selects(selector: Record<string, string>, labels: Record<string, string> | undefined): boolean {
  return Object.entries(selector).every(([key, value]) => labels?.[key] === value);
}

function envOf(container: KubernetesObject): Map<string, { value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }> {
  return new Map((container.env ?? []).map((e: { name: string }) => [e.name, e]));
}

function workloads(objects: KubernetesObject[]): KubernetesObject[] {
  return objects.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet' || o.kind === 'DaemonSet');
}

/** The Deployments and the per-node DaemonSet: every workload that runs gputel (etcd's StatefulSet does not). */
function gputelWorkloads(objects: KubernetesObject[]): KubernetesObject[] {
  return objects.filter((o) => o.kind === 'Deployment' || o.kind === 'DaemonSet');
}

function roleDeployments(objects: KubernetesObject[]): KubernetesObject[] {
  return ofKind(objects, 'Deployment');
}

describe('Helm chart deploy/helm/gputel', () => {
  it('passes helm lint --strict with default and with non-default values, and with the per-node streamers', () => {
    for (const values of [{}, NON_DEFAULT_VALUES, PER_NODE_VALUES]) {
      const result = runHelm(['lint', '--strict', CHART_DIR, '--namespace', NAMESPACE], values);
      assert.equal(result.status, 0, result.stdout + result.stderr);
      assert.match(result.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    }
  });

  it('renders objects that each match their Kubernetes schema, in the release namespace', () => {
    for (const objects of [defaults, custom, perNode, perNodeCustom]) {
      assert.ok(objects.length >= 10);
      for (const object of objects) {
        validateKubernetesObject(object);
        assert.equal(object.metadata.namespace, NAMESPACE, `${object.kind} ${object.metadata.name}`);
        assert.equal(object.metadata.labels?.['app.kubernetes.io/instance'], RELEASE, `${object.kind} ${object.metadata.name}`);
      }
    }
  });

  it('by default runs a 3-member etcd StatefulSet with its headless service, volumes, quota and auto-compaction', () => {
    const etcd = only(defaults, 'StatefulSet', `${FULLNAME}-etcd`);
    assert.equal(etcd.spec.replicas, 3);
    assert.equal(etcd.spec.podManagementPolicy, 'Parallel');
    const headless = only(defaults, 'Service', etcd.spec.serviceName);
    assert.equal(headless.spec.clusterIP, 'None');
    assert.equal(headless.spec.publishNotReadyAddresses, true);
    assert.ok(selects(headless.spec.selector, etcd.spec.template.metadata.labels));
    assert.equal(etcd.spec.volumeClaimTemplates[0].spec.resources.requests.storage, '20Gi');
    const command: string[] = etcd.spec.template.spec.containers[0].command;
    const initialCluster = command.find((arg) => arg.startsWith('--initial-cluster='))!.split('=').slice(1).join('=').split(',');
    assert.deepEqual(
      initialCluster.map((member) => member.split('=')[0]),
      [0, 1, 2].map((i) => `${FULLNAME}-etcd-${i}`),
    );
    for (const member of initialCluster) assert.match(member, new RegExp(`^${FULLNAME}-etcd-(\\d)=http://${FULLNAME}-etcd-\\1\\.${headless.metadata.name}\\.${NAMESPACE}\\.svc\\.cluster\\.local:2380$`));
    assert.ok(command.includes('--quota-backend-bytes=8589934592'), command.join(' '));
    assert.ok(command.includes('--auto-compaction-mode=periodic'));
    assert.ok(command.includes('--auto-compaction-retention=5m'));
    const config = only(defaults, 'ConfigMap', FULLNAME);
    assert.deepEqual(
      config.data.GPUTEL_ETCD.split(','),
      [0, 1, 2].map((i) => `http://${FULLNAME}-etcd-${i}.${headless.metadata.name}.${NAMESPACE}.svc.cluster.local:2379`),
    );
  });

  it('runs every pod as non-root on a read-only root file system, without capabilities, under RuntimeDefault seccomp', () => {
    for (const objects of [defaults, custom, perNode, perNodeCustom]) {
      for (const workload of workloads(objects)) {
        const pod = workload.spec.template.spec;
        const where = `${workload.kind} ${workload.metadata.name}`;
        assert.equal(pod.securityContext.runAsNonRoot, true, where);
        assert.ok(pod.securityContext.runAsUser > 0, where);
        assert.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault', where);
        assert.equal(pod.automountServiceAccountToken, false, where);
        for (const container of pod.containers) {
          assert.equal(container.securityContext.readOnlyRootFilesystem, true, where);
          assert.equal(container.securityContext.allowPrivilegeEscalation, false, where);
          assert.deepEqual(container.securityContext.capabilities.drop, ['ALL'], where);
          assert.ok(container.resources.requests.cpu && container.resources.requests.memory && container.resources.limits.memory, `${where}: requests and a memory limit`);
        }
      }
      for (const deployment of gputelWorkloads(objects)) {
        const pod = deployment.spec.template.spec;
        const tmp = pod.containers[0].volumeMounts.find((m: { mountPath: string }) => m.mountPath === '/tmp');
        assert.ok(tmp, `${deployment.metadata.name}: /tmp is mounted`);
        assert.ok(pod.volumes.find((v: { name: string }) => v.name === tmp.name).emptyDir, `${deployment.metadata.name}: /tmp is an emptyDir`);
      }
    }
  });

  it('gives each role a Deployment whose selector matches its pods and whose probes are /healthz and /readyz on the port gputel listens on', () => {
    for (const objects of [defaults, custom]) {
      const deployments = roleDeployments(objects);
      const roles = deployments.map((d) => d.spec.template.spec.containers[0].args[0]).sort();
      assert.deepEqual([...new Set(roles)], ['collector', 'gateway', 'streamer']);
      for (const deployment of deployments) {
        const where = deployment.metadata.name;
        const template = deployment.spec.template;
        assert.ok(selects(deployment.spec.selector.matchLabels, template.metadata.labels), `${where}: selector matches its pods`);
        const container = template.spec.containers[0];
        const port = container.ports[0];
        assert.equal(envOf(container).get('GPUTEL_PORT')?.value, String(port.containerPort), `${where}: gputel listens on the container port`);
        assert.equal(container.livenessProbe.httpGet.path, '/healthz', where);
        assert.equal(container.readinessProbe.httpGet.path, '/readyz', where);
        assert.equal(container.livenessProbe.httpGet.port, port.name, where);
        assert.equal(container.readinessProbe.httpGet.port, port.name, where);
        assert.deepEqual(container.envFrom, [{ configMapRef: { name: FULLNAME } }], where);
      }
      // Two Deployments never select each other's pods (streamers of different sources above all).
      for (const a of deployments) {
        for (const b of deployments) {
          if (a !== b) assert.ok(!selects(a.spec.selector.matchLabels, b.spec.template.metadata.labels), `${a.metadata.name} selects ${b.metadata.name}'s pods`);
        }
      }
    }
  });

  it("annotates every gputel pod for deploy/prometheus/prometheus.yml's gputel-pods job, unless turned off", () => {
    for (const deployment of roleDeployments(defaults)) {
      const { metadata, spec } = deployment.spec.template;
      const where = deployment.metadata.name;
      assert.equal(metadata.annotations?.['prometheus.io/scrape'], 'true', where);
      assert.equal(metadata.annotations?.['prometheus.io/port'], String(spec.containers[0].ports[0].containerPort), where);
      assert.equal(metadata.annotations?.['prometheus.io/path'], '/metrics', where);
      // The job keeps pods named gputel and names the job after the component.
      assert.equal(metadata.labels?.['app.kubernetes.io/name'], 'gputel', where);
      assert.match(metadata.labels?.['app.kubernetes.io/component'] ?? '', /^(streamer|collector|gateway)$/, where);
    }
    for (const deployment of roleDeployments(renderChart({ metrics: { scrapeAnnotations: false } }))) {
      assert.equal(deployment.spec.template.metadata.annotations?.['prometheus.io/scrape'], undefined, deployment.metadata.name);
    }
  });

  it('runs one single-replica Recreate streamer per source', () => {
    const streamers = roleDeployments(custom).filter((d) => d.spec.template.spec.containers[0].args[0] === 'streamer');
    assert.deepEqual(streamers.map((s) => s.metadata.name).sort(), [`${FULLNAME}-streamer-dcgm`, `${FULLNAME}-streamer-exports`]);
    for (const streamer of streamers) {
      assert.equal(streamer.spec.replicas, 1);
      assert.equal(streamer.spec.strategy.type, 'Recreate');
    }
    const exports = only(custom, 'Deployment', `${FULLNAME}-streamer-exports`);
    assert.deepEqual(exports.spec.template.spec.containers[0].args, ['streamer', '--file', '/exports/fleet.csv', '--follow']);
    assert.ok(exports.spec.template.spec.volumes.some((v: { name: string; persistentVolumeClaim?: object }) => v.name === 'exports' && v.persistentVolumeClaim));
  });

  it('selects the gateway pods with its Service, Ingress (with TLS) and PodDisruptionBudget', () => {
    const gateway = only(custom, 'Deployment', `${FULLNAME}-gateway`);
    const podLabels = gateway.spec.template.metadata.labels;
    const service = only(custom, 'Service', `${FULLNAME}-gateway`);
    assert.ok(selects(service.spec.selector, podLabels));
    assert.equal(service.spec.ports[0].targetPort, gateway.spec.template.spec.containers[0].ports[0].name);
    const ingress = only(custom, 'Ingress', `${FULLNAME}-gateway`);
    assert.equal(ingress.spec.ingressClassName, 'nginx');
    assert.deepEqual(ingress.spec.tls, [{ hosts: ['gputel.lab.example'], secretName: 'gputel-lab-tls' }]);
    assert.equal(ingress.spec.rules[0].http.paths[0].backend.service.name, service.metadata.name);
    assert.equal(ingress.metadata.annotations?.['nginx.ingress.kubernetes.io/backend-protocol'], 'HTTPS', 'the gateway serves TLS itself here');
    assert.equal(gateway.spec.template.spec.containers[0].readinessProbe.httpGet.scheme, 'HTTPS');
    for (const objects of [defaults, custom]) {
      for (const budget of ofKind(objects, 'PodDisruptionBudget')) {
        const selected = workloads(objects).filter((w) => selects(budget.spec.selector.matchLabels, w.spec.template.metadata.labels));
        assert.ok(selected.length >= 1, `PDB ${budget.metadata.name} selects no pods`);
      }
    }
    assert.deepEqual(ofKind(defaults, 'PodDisruptionBudget').map((b) => b.metadata.name).sort(), [`${FULLNAME}-collector`, `${FULLNAME}-etcd`, `${FULLNAME}-gateway`]);
    assert.equal(ofKind(defaults, 'Ingress').length, 0, 'no Ingress unless asked');
  });

  it('scales gateways on CPU and collectors on the External metric gputel_queue_depth_messages of their topic', () => {
    const gatewayHpa = only(defaults, 'HorizontalPodAutoscaler', `${FULLNAME}-gateway`);
    assert.equal(gatewayHpa.spec.scaleTargetRef.name, `${FULLNAME}-gateway`);
    assert.deepEqual(gatewayHpa.spec.metrics, [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } }]);
    assert.equal(only(defaults, 'Deployment', `${FULLNAME}-gateway`).spec.replicas, undefined, 'the HPA owns the replica count');
    assert.equal(ofKind(defaults, 'HorizontalPodAutoscaler').length, 1, 'collector autoscaling is off by default');

    const collectorHpa = only(custom, 'HorizontalPodAutoscaler', `${FULLNAME}-collector`);
    only(custom, 'Deployment', collectorHpa.spec.scaleTargetRef.name);
    assert.deepEqual(collectorHpa.spec.metrics, [
      { type: 'External', external: { metric: { name: 'gputel_queue_depth_messages', selector: { matchLabels: { topic: 'gpus' } } }, target: { type: 'AverageValue', averageValue: '200' } } },
    ]);
    assert.equal(only(custom, 'Deployment', `${FULLNAME}-collector`).spec.replicas, undefined);
    assert.equal(ofKind(custom, 'HorizontalPodAutoscaler').length, 1, 'gateway autoscaling turned off');
    assert.equal(only(custom, 'Deployment', `${FULLNAME}-gateway`).spec.replicas, 4);
  });

  it('lets only gputel roles reach etcd, only the ingress controller (and Prometheus) reach gateways', () => {
    const etcdPolicy = only(defaults, 'NetworkPolicy', `${FULLNAME}-etcd`);
    const etcdPods = only(defaults, 'StatefulSet', `${FULLNAME}-etcd`).spec.template.metadata.labels;
    assert.ok(selects(etcdPolicy.spec.podSelector.matchLabels, etcdPods));
    const clientRule = etcdPolicy.spec.ingress.find((rule: { ports: { port: number }[] }) => rule.ports.length === 1 && rule.ports[0].port === 2379);
    const clientSelector = clientRule.from[0].podSelector.matchLabels;
    assert.equal(clientRule.from.length, 1);
    assert.equal(clientRule.from[0].namespaceSelector, undefined, 'same namespace only');
    for (const deployment of roleDeployments(defaults)) assert.ok(selects(clientSelector, deployment.spec.template.metadata.labels), `${deployment.metadata.name} may reach etcd`);
    for (const rule of etcdPolicy.spec.ingress) {
      for (const peer of rule.from) assert.ok(peer.podSelector && Object.keys(peer.podSelector.matchLabels).length > 0, 'every etcd peer rule names pods');
    }

    const gatewayPolicy = only(defaults, 'NetworkPolicy', `${FULLNAME}-gateway`);
    assert.ok(selects(gatewayPolicy.spec.podSelector.matchLabels, only(defaults, 'Deployment', `${FULLNAME}-gateway`).spec.template.metadata.labels));
    assert.deepEqual(gatewayPolicy.spec.ingress[0].from, [
      { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } } },
      { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } },
    ]);
    assert.deepEqual(gatewayPolicy.spec.ingress[0].ports, [{ port: 'http', protocol: 'TCP' }]);

    // Non-default: the controller's own pods only, no metrics namespace (streamers and collectors then admit nothing), no etcd of the chart.
    const customGateway = only(custom, 'NetworkPolicy', `${FULLNAME}-gateway`);
    assert.deepEqual(customGateway.spec.ingress[0].from, [
      { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-system' } }, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'ingress-nginx' } } },
    ]);
    for (const role of ['streamer', 'collector']) {
      const policy = only(custom, 'NetworkPolicy', `${FULLNAME}-${role}`);
      assert.deepEqual(policy.spec.policyTypes, ['Ingress']);
      assert.deepEqual(policy.spec.ingress, []);
    }
    assert.equal(custom.filter((o) => o.metadata.name.includes('-etcd')).length, 0, 'an existing etcd: no etcd objects rendered');
  });

  it('renders no per-node streamers unless dcgmExporter.perNode.enabled', () => {
    for (const objects of [defaults, custom]) assert.deepEqual(ofKind(objects, 'DaemonSet'), []);
  });

  it("runs one streamer per GPU node, scraping its own node's dcgm-exporter at status.hostIP", () => {
    const daemonSet = only(perNode, 'DaemonSet', PER_NODE_NAME);
    validateKubernetesObject(daemonSet);
    const template = daemonSet.spec.template;
    const pod = template.spec;
    const container = pod.containers[0];
    const env = envOf(container) as Map<string, { valueFrom?: { fieldRef?: { fieldPath: string } } }>;
    assert.deepEqual(env.get('NODE_IP')?.valueFrom?.fieldRef, { fieldPath: 'status.hostIP' });
    assert.deepEqual(container.args, ['streamer', '--scrape', 'http://$(NODE_IP):9400/metrics', '--no-progress', '--interval', '5s']);
    // The kubelet expands $(VAR) in args only for variables the container defines.
    for (const [, name] of container.args.join(' ').matchAll(/\$\((\w+)\)/g)) assert.ok(env.has(name), `$(${name}) is defined`);
    assert.deepEqual(pod.nodeSelector, { 'nvidia.com/gpu.present': 'true' });
    assert.deepEqual(pod.tolerations, [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
    assert.equal(pod.hostNetwork, undefined, 'the streamer itself stays in the pod network');
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.ok(pod.securityContext.runAsUser > 0);
    assert.equal(container.securityContext.readOnlyRootFilesystem, true);
    assert.equal(container.securityContext.allowPrivilegeEscalation, false);
    // A node's old pod goes before its new one starts: it lets go of the node's source first.
    assert.equal(daemonSet.spec.updateStrategy.type, 'RollingUpdate');
    assert.equal(daemonSet.spec.updateStrategy.rollingUpdate.maxSurge, undefined);
    // Probes, port and settings as every streamer's.
    const port = container.ports[0];
    assert.equal(envOf(container).get('GPUTEL_PORT')?.value, String(port.containerPort));
    assert.equal(container.livenessProbe.httpGet.path, '/healthz');
    assert.equal(container.readinessProbe.httpGet.path, '/readyz');
    assert.equal(container.readinessProbe.httpGet.port, port.name);
    assert.deepEqual(container.envFrom, [{ configMapRef: { name: FULLNAME } }]);
    assert.equal(template.metadata.annotations?.['prometheus.io/port'], String(port.containerPort));
    assert.equal(template.metadata.labels?.['app.kubernetes.io/component'], 'streamer');
  });

  it('keeps the per-node streamers and the per-source streamers apart, and lets the per-node ones reach etcd', () => {
    const objects = renderChart({ dcgmExporter: { perNode: { enabled: true } } });
    const daemonSet = only(objects, 'DaemonSet', PER_NODE_NAME);
    const podLabels = daemonSet.spec.template.metadata.labels;
    assert.ok(selects(daemonSet.spec.selector.matchLabels, podLabels));
    for (const deployment of roleDeployments(objects)) {
      assert.ok(!selects(deployment.spec.selector.matchLabels, podLabels), `${deployment.metadata.name} selects the per-node pods`);
      assert.ok(!selects(daemonSet.spec.selector.matchLabels, deployment.spec.template.metadata.labels), `the DaemonSet selects ${deployment.metadata.name}'s pods`);
    }
    const etcdPolicy = only(objects, 'NetworkPolicy', `${FULLNAME}-etcd`);
    const clientRule = etcdPolicy.spec.ingress.find((rule: { ports: { port: number }[] }) => rule.ports.length === 1 && rule.ports[0].port === 2379);
    assert.ok(selects(clientRule.from[0].podSelector.matchLabels, podLabels), 'the per-node streamers may reach etcd');
    const streamerPolicy = only(objects, 'NetworkPolicy', `${FULLNAME}-streamer`);
    assert.ok(selects(streamerPolicy.spec.podSelector.matchLabels, podLabels), "the streamers' policy covers them");
    assert.deepEqual(streamerPolicy.spec.policyTypes, ['Ingress'], 'egress (to the node address) is not restricted');
  });

  it("gives each node's streamer a scrape URL gputel accepts and a source id of its own", () => {
    for (const objects of [perNode, perNodeCustom]) {
      const args: string[] = only(objects, 'DaemonSet', PER_NODE_NAME).spec.template.spec.containers[0].args;
      const url = args[args.indexOf('--scrape') + 1];
      // What the kubelet passes on two nodes (IPv4 status.hostIP).
      const sources = ['10.0.3.7', '10.0.3.8'].map((nodeIp) => new ScrapeSource({ urls: [url.replaceAll('$(NODE_IP)', nodeIp)], intervalMs: 10_000 }));
      assert.notEqual(sources[0].id, sources[1].id);
      assert.match(sources[0].id, /^scrape-10\.0\.3\.7-/);
      assert.match(sources[1].id, /^scrape-10\.0\.3\.8-/);
    }
    const customPod = only(perNodeCustom, 'DaemonSet', PER_NODE_NAME).spec.template.spec;
    assert.deepEqual(customPod.containers[0].args, ['streamer', '--scrape', 'https://$(NODE_IP):9500/dcgm/metrics', '--no-progress']);
    assert.deepEqual(customPod.nodeSelector, { gpu: 'yes' });
    assert.equal(customPod.tolerations, undefined);
    // IPv6 nodes: the address goes in brackets.
    const ipv6 = only(renderChart({ dcgmExporter: { perNode: { enabled: true, host: '[$(NODE_IP)]' } } }), 'DaemonSet', PER_NODE_NAME).spec.template.spec.containers[0].args[2];
    assert.equal(new ScrapeSource({ urls: [ipv6.replaceAll('$(NODE_IP)', 'fd00:10::7')], intervalMs: 10_000 }).location, 'http://[fd00:10::7]:9400/metrics');
  });

  it('makes one admin key when given none, whose line gputel accepts and whose key it recognises', () => {
    const secret = only(defaults, 'Secret', `${FULLNAME}-secrets`);
    const ring = ApiKeyRing.parse([{ text: secret.stringData['api-keys'], what: 'the chart Secret' }]);
    assert.deepEqual(ring.identify(secret.stringData['generated-admin-key']), { name: 'helm-admin', role: 'admin' });
    const gateway = only(defaults, 'Deployment', `${FULLNAME}-gateway`).spec.template.spec;
    const env = envOf(gateway.containers[0]);
    assert.equal(env.get('GPUTEL_API_KEYS_FILE')?.value, '/etc/gputel/api-keys/api-keys');
    assert.equal(env.has('GPUTEL_INSECURE'), false);
    const volume = gateway.volumes.find((v: { name: string }) => v.name === 'api-keys');
    assert.deepEqual(volume.secret.items, [{ key: 'api-keys', path: 'api-keys' }], 'the generated key itself is not mounted');
  });

  it('passes etcd TLS and credentials, the encryption key file and the API keys from Secrets to the roles that need them (per-node streamers too)', () => {
    const config = only(custom, 'ConfigMap', FULLNAME);
    assert.equal(config.data.GPUTEL_ETCD, NON_DEFAULT_VALUES.externalEtcd.endpoints.join(','));
    assert.equal(config.data.GPUTEL_RETENTION, '14d');
    assert.equal(config.data.GPUTEL_BATCH_SAMPLES, '10000');
    assert.equal(config.data.GPUTEL_CLUSTER, 'lab');
    const secret = only(custom, 'Secret', `${FULLNAME}-secrets`);
    assert.equal(secret.stringData['api-keys'], readKey.line);
    assert.equal(ApiKeyRing.parse([{ text: secret.stringData['api-keys'], what: 'the chart Secret' }]).identify(readKey.key)?.role, 'read');
    assert.equal(parseEncryptionKeys(secret.stringData['encryption-keys'], 'the chart Secret').newest.id, 'k2');
    assert.equal(secret.stringData['etcd-password'], undefined, 'credentials come from the existing Secret');
    for (const deployment of [...roleDeployments(custom), only(perNodeCustom, 'DaemonSet', PER_NODE_NAME)]) {
      const pod = deployment.spec.template.spec;
      const container = pod.containers[0];
      const env = envOf(container);
      const where = deployment.metadata.name;
      assert.equal(container.image, `registry.example.com/gputel:0.1.0@sha256:${'a'.repeat(64)}`);
      assert.deepEqual(env.get('GPUTEL_ETCD_PASSWORD')?.valueFrom?.secretKeyRef, { name: 'etcd-credentials', key: 'password' }, where);
      assert.deepEqual(env.get('GPUTEL_ETCD_USER')?.valueFrom?.secretKeyRef, { name: 'etcd-credentials', key: 'username' }, where);
      assert.equal(env.get('GPUTEL_ETCD_CA')?.value, '/etc/gputel/etcd-tls/ca.crt', where);
      assert.equal(env.get('GPUTEL_ETCD_CERT')?.value, '/etc/gputel/etcd-tls/tls.crt', where);
      assert.equal(env.get('GPUTEL_ENCRYPTION_KEY_FILE')?.value, '/etc/gputel/encryption/encryption-keys', where);
      const mounts = new Map(container.volumeMounts.map((m: { name: string; mountPath: string }) => [m.mountPath, m.name]));
      const volumes = new Map(pod.volumes.map((v: { name: string; secret?: { secretName: string } }) => [v.name, v.secret?.secretName]));
      assert.equal(volumes.get(mounts.get('/etc/gputel/etcd-tls')), 'etcd-client-tls', where);
      assert.equal(volumes.get(mounts.get('/etc/gputel/encryption')), `${FULLNAME}-secrets`, where);
      assert.equal(env.has('GPUTEL_ETCD_PASSWORD') && JSON.stringify(config.data).includes('password'), false, 'no credential in the ConfigMap');
    }
  });

  it('documents every value of values.yaml in the README\'s values table, and no value that is not there', () => {
    const values = parse(readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8')) as Record<string, unknown>;
    const readme = readFileSync(join(CHART_DIR, 'README.md'), 'utf8');
    const documented = [...readme.matchAll(/^\| `([\w.[\]]+)` \| (\w+) \|/gm)].map((m) => m[1]).filter((path) => !path.includes('[]'));
    assert.deepEqual([...documented].sort(), valuePaths(values).sort());
  });

  it('refuses values that cannot work, naming the value', () => {
    const cases: [object, RegExp][] = [
      [{ etcd: { enabled: false } }, /externalEtcd\.endpoints/],
      [{ etcd: { replicas: 2 } }, /etcd\.replicas: 2 is not an odd number/],
      [{ gateway: { apiKeys: { lines: ['grafana:read:md5:abc'] } } }, /gateway\.apiKeys\.lines: "grafana:read:md5:abc" is not NAME:ROLE:sha256:HASH/],
      [{ gateway: { insecure: true, apiKeys: { lines: [readKey.line] } } }, /gateway\.insecure is true and API keys are given/],
      [{ gateway: { ingress: { enabled: true, tls: { enabled: true } } } }, /gateway\.ingress\.tls\.secretName/],
      [{ gateway: { trustProxy: ['10.244.0.0/16', 'ingress-nginx'] } }, /gateway\.trustProxy\[1\]: "ingress-nginx" is not an IP address or a CIDR range/],
      [{ collector: { autoscaling: { enabled: true, maxReplicas: 20 } } }, /collector\.autoscaling\.maxReplicas \(20\) is more than config\.partitions \(16\)/],
      [{ config: { extra: { retention: '14d' } } }, /config\.extra\.retention: every key must be a gputel setting's environment variable/],
      [{ config: { extra: { GPUTEL_ETCD_PASSWORD: 'x' } } }, /config\.extra\.GPUTEL_ETCD_PASSWORD: a secret does not belong in the ConfigMap/],
      [{ encryption: { enabled: true } }, /encryption\.keys: give the key lines/],
      [{ etcd: { enabled: false }, externalEtcd: { endpoints: ['http://e:2379'], auth: { enabled: true, user: 'gputel' } } }, /externalEtcd\.auth\.password/],
      [{ streamer: { sources: [{ name: 'a', args: ['--simulate'] }, { name: 'a', args: ['--simulate'] }] } }, /streamer\.sources\[1\]\.name: "a" is used twice/],
      [{ streamer: { sources: [{ name: 'Bad_Name', args: ['--simulate'] }] } }, /streamer\.sources\[0\]\.name: "Bad_Name" must be/],
      [{ dcgmExporter: { perNode: { enabled: true, scheme: 'ftp' } } }, /dcgmExporter\.perNode\.scheme: "ftp" must be http or https/],
      [{ dcgmExporter: { perNode: { enabled: true, port: 0 } } }, /dcgmExporter\.perNode\.port: "0" must be a port number/],
      [{ dcgmExporter: { perNode: { enabled: true, port: '9400x' } } }, /dcgmExporter\.perNode\.port: "9400x" must be a port number/],
      [{ dcgmExporter: { perNode: { enabled: true, path: 'metrics' } } }, /dcgmExporter\.perNode\.path: "metrics" must start with \//],
      [{ dcgmExporter: { perNode: { enabled: true, host: '' } } }, /dcgmExporter\.perNode\.host: give the exporter's host/],
    ];
    for (const [values, message] of cases) assert.match(renderChartError(values), message, JSON.stringify(values));
  });

  it('says how to get helm when GPUTEL_HELM names no executable', () => {
    const saved = process.env.GPUTEL_HELM;
    process.env.GPUTEL_HELM = '/nonexistent/helm';
    try {
      assert.throws(() => findHelmBinary(), /GPUTEL_HELM=\/nonexistent\/helm is not an executable file[\s\S]*bash scripts\/test-prerequisites\.sh/);
    } finally {
      if (saved === undefined) delete process.env.GPUTEL_HELM;
      else process.env.GPUTEL_HELM = saved;
    }
  });

  it('gives the gateways the proxies to trust (GPUTEL_TRUST_PROXY) only when gateway.trustProxy names some, in a value gputel accepts', () => {
    const byDefault = envOf(only(defaults, 'Deployment', `${FULLNAME}-gateway`).spec.template.spec.containers[0]);
    assert.equal(byDefault.has('GPUTEL_TRUST_PROXY'), false, 'no proxy is trusted by default');
    const value = envOf(only(custom, 'Deployment', `${FULLNAME}-gateway`).spec.template.spec.containers[0]).get('GPUTEL_TRUST_PROXY')?.value;
    assert.deepEqual(loadConfig({ env: { GPUTEL_TRUST_PROXY: value } }).trustProxy, NON_DEFAULT_VALUES.gateway.trustProxy);
    for (const deployment of roleDeployments(custom).filter((d) => !d.metadata.name.endsWith('-gateway'))) {
      assert.equal(envOf(deployment.spec.template.spec.containers[0]).has('GPUTEL_TRUST_PROXY'), false, `${deployment.metadata.name} is not a gateway`);
    }
  });

  it('can serve the API without keys only when asked to, and then mounts no keys', () => {
    const objects = renderChart({ gateway: { insecure: true } });
    const gateway = only(objects, 'Deployment', `${FULLNAME}-gateway`).spec.template.spec;
    assert.equal(envOf(gateway.containers[0]).get('GPUTEL_INSECURE')?.value, 'true');
    assert.equal(envOf(gateway.containers[0]).has('GPUTEL_API_KEYS_FILE'), false);
    assert.equal(ofKind(objects, 'Secret').length, 0);
  });
});
