import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { GputelError } from '../../src/common/gputel-error.js';
import {
  driverVersionOf,
  findLabelInRaw,
  hostOfInstance,
  instanceHostOf,
  migInstanceOf,
  parseLabelsRaw,
  parsePrometheusLabels,
} from '../../src/ingest/labels-raw.js';

/** labels_raw of DATA.md's example row, as DcgmRow.labelsRaw holds it (quotes doubled). */
const EXAMPLE_RAW =
  'DCGM_FI_DRIVER_VERSION=""535.129.03"",Hostname=""gpu-node-07"",UUID=""GPU-0a1b2c3d-1111-2222-3333-444455556666"",' +
  '__name__=""DCGM_FI_DEV_POWER_USAGE"",device=""nvidia3"",gpu=""3"",instance=""gpu-node-07:9400"",' +
  'job=""dcgm_exporter"",modelName=""NVIDIA H100 80GB HBM3""';

/** Prometheus label-value escaping, then CSV quote doubling: how a labels_raw is written. */
function encodeRaw(labels: Map<string, string>): string {
  const text = [...labels]
    .map(([name, value]) => `${name}="${value.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n')}"`)
    .join(',');
  return text.replaceAll('"', '""');
}

test('parseLabelsRaw decodes the doubled-quote form of DATA.md', () => {
  const labels = parseLabelsRaw(EXAMPLE_RAW);
  assert.equal(labels.size, 9);
  assert.equal(labels.get('DCGM_FI_DRIVER_VERSION'), '535.129.03');
  assert.equal(labels.get('Hostname'), 'gpu-node-07');
  assert.equal(labels.get('__name__'), 'DCGM_FI_DEV_POWER_USAGE');
  assert.equal(labels.get('instance'), 'gpu-node-07:9400');
  assert.equal(labels.get('modelName'), 'NVIDIA H100 80GB HBM3');
});

test('parseLabelsRaw keeps commas, escaped quotes, backslashes and newlines inside values', () => {
  const prometheusText = 'a="x,y=\\"z",b="say \\"hi\\"",c="back\\\\slash",d="two\\nlines"';
  const labels = parseLabelsRaw(prometheusText.replaceAll('"', '""'));
  assert.equal(labels.get('a'), 'x,y="z');
  assert.equal(labels.get('b'), 'say "hi"');
  assert.equal(labels.get('c'), 'back\\slash');
  assert.equal(labels.get('d'), 'two\nlines');
});

test('parseLabelsRaw round-trips any label set written with Prometheus escaping and CSV doubling', () => {
  const name = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,20}$/);
  const value = fc.string({ unit: fc.constantFrom('a', 'Z', '0', ',', '"', '\\', '\n', '=', ' ', 'é', '€'), maxLength: 12 });
  fc.assert(
    fc.property(fc.uniqueArray(fc.tuple(name, value), { selector: ([n]) => n, maxLength: 10 }), (pairs) => {
      const labels = new Map(pairs);
      assert.deepEqual(parseLabelsRaw(encodeRaw(labels)), labels);
    }),
    { numRuns: 500 },
  );
});

test('parseLabelsRaw of an empty field is an empty map', () => {
  assert.equal(parseLabelsRaw('').size, 0);
});

test('parsePrometheusLabels accepts spaces after commas and a trailing comma', () => {
  const labels = parsePrometheusLabels('gpu="0", UUID="GPU-1",  job="dcgm",');
  assert.deepEqual([...labels], [
    ['gpu', '0'],
    ['UUID', 'GPU-1'],
    ['job', 'dcgm'],
  ]);
});

test('parsePrometheusLabels throws BAD_INPUT naming the position for malformed text', () => {
  const malformed = ['gpu=0', 'gpu="0', '="0"', '1gpu="0"', 'gpu="0" job="x"', 'gpu="0",gpu="1"', 'gpu'];
  for (const text of malformed) {
    assert.throws(
      () => parsePrometheusLabels(text),
      (error: unknown) => error instanceof GputelError && error.code === 'BAD_INPUT' && /at character \d+/.test(error.message),
      text,
    );
  }
});

test('findLabelInRaw returns one label of the doubled form without decoding the others', () => {
  assert.equal(findLabelInRaw(EXAMPLE_RAW, 'instance'), 'gpu-node-07:9400');
  assert.equal(findLabelInRaw(EXAMPLE_RAW, 'DCGM_FI_DRIVER_VERSION'), '535.129.03');
  assert.equal(findLabelInRaw(EXAMPLE_RAW, 'modelName'), 'NVIDIA H100 80GB HBM3');
  assert.equal(findLabelInRaw(EXAMPLE_RAW, 'pod_name'), undefined);
});

test('findLabelInRaw matches whole label names only', () => {
  // `name` must not match the tail of `Hostname` or `__name__`.
  assert.equal(findLabelInRaw(EXAMPLE_RAW, 'name'), undefined);
  assert.equal(findLabelInRaw('xpod_name=""a"",pod_name=""b""', 'pod_name'), 'b');
  assert.equal(findLabelInRaw('a=""1"", pod_name=""b""', 'pod_name'), 'b');
});

test('findLabelInRaw unescapes the value and gives undefined for an unclosed one', () => {
  assert.equal(findLabelInRaw('pod_name=""a\\""b\\\\c""', 'pod_name'), 'a"b\\c');
  assert.equal(findLabelInRaw('pod_name=""""', 'pod_name'), '');
  assert.equal(findLabelInRaw('pod_name=""abc', 'pod_name'), undefined);
});

test('driverVersionOf reads DCGM_FI_DRIVER_VERSION, undefined when absent or empty', () => {
  assert.equal(driverVersionOf(parseLabelsRaw(EXAMPLE_RAW)), '535.129.03');
  assert.equal(driverVersionOf(new Map()), undefined);
  assert.equal(driverVersionOf(new Map([['DCGM_FI_DRIVER_VERSION', '']])), undefined);
});

test('migInstanceOf reads GPU_I_ID and GPU_I_PROFILE, undefined on a whole GPU', () => {
  const mig = parsePrometheusLabels('GPU_I_ID="3",GPU_I_PROFILE="1g.10gb",gpu="0"');
  assert.deepEqual(migInstanceOf(mig), { instanceId: '3', profile: '1g.10gb' });
  assert.deepEqual(migInstanceOf(new Map([['GPU_I_ID', '0']])), { instanceId: '0', profile: '' });
  assert.equal(migInstanceOf(parseLabelsRaw(EXAMPLE_RAW)), undefined);
  assert.equal(migInstanceOf(new Map([['GPU_I_ID', '']])), undefined);
});

test('instanceHostOf gives the host part of the instance label', () => {
  assert.equal(instanceHostOf(parseLabelsRaw(EXAMPLE_RAW)), 'gpu-node-07');
  assert.equal(instanceHostOf(new Map()), undefined);
});

test('hostOfInstance strips the port from names, IPv4 and bracketed IPv6 addresses', () => {
  assert.equal(hostOfInstance('gpu-node-07:9400'), 'gpu-node-07');
  assert.equal(hostOfInstance('10.0.0.7:9400'), '10.0.0.7');
  assert.equal(hostOfInstance('[fe80::1]:9400'), 'fe80::1');
  assert.equal(hostOfInstance('fe80::1'), 'fe80::1');
  assert.equal(hostOfInstance('gpu-node-07'), 'gpu-node-07');
  assert.equal(hostOfInstance(':9400'), undefined);
  assert.equal(hostOfInstance(''), undefined);
});
