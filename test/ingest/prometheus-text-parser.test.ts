import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  escapeLabelValue,
  isDcgmBlankValue,
  PrometheusTextParser,
  type ExpositionFormat,
  type PrometheusSample,
} from '../../src/ingest/prometheus-text-parser.js';

interface Parsed {
  samples: Array<Omit<PrometheusSample, 'labels'> & { labels: Record<string, string> }>;
  errors: Array<{ lineNumber: number; reason: string }>;
  complete: boolean;
}

function parse(text: string, format?: ExpositionFormat, parser = new PrometheusTextParser()): Parsed {
  const samples: Parsed['samples'] = [];
  const errors: Parsed['errors'] = [];
  const stats = parser.parse(
    text,
    {
      sample: (s) => samples.push({ ...s, labels: Object.fromEntries(s.labels) }),
      error: (lineNumber, reason) => errors.push({ lineNumber, reason }),
    },
    format,
  );
  return { samples, errors, complete: stats.complete };
}

const DCGM_EXPORTER_TEXT = `# HELP DCGM_FI_DEV_SM_CLOCK SM clock frequency (in MHz).
# TYPE DCGM_FI_DEV_SM_CLOCK gauge
DCGM_FI_DEV_SM_CLOCK{gpu="0",UUID="GPU-aaaa",device="nvidia0",modelName="NVIDIA H100 80GB HBM3",Hostname="gpu-node-07",DCGM_FI_DRIVER_VERSION="535.129.03",container="",namespace="",pod=""} 1980
DCGM_FI_DEV_SM_CLOCK{gpu="1",UUID="GPU-bbbb",device="nvidia1",modelName="NVIDIA H100 80GB HBM3",Hostname="gpu-node-07",DCGM_FI_DRIVER_VERSION="535.129.03",container="trainer",namespace="ml-team",pod="job-42-worker-0"} 345
# HELP DCGM_FI_DEV_XID_ERRORS Value of the last XID error encountered.
# TYPE DCGM_FI_DEV_XID_ERRORS gauge
DCGM_FI_DEV_XID_ERRORS{gpu="0",UUID="GPU-aaaa",device="nvidia0",modelName="NVIDIA H100 80GB HBM3",Hostname="gpu-node-07",err_code="0",err_msg="No Error"} 0
`;

test('dcgm-exporter output parses into samples with labels, names and types', () => {
  const { samples, errors, complete } = parse(DCGM_EXPORTER_TEXT);
  assert.deepEqual(errors, []);
  assert.equal(complete, true);
  assert.equal(samples.length, 3);
  assert.deepEqual(samples[1], {
    lineNumber: 4,
    name: 'DCGM_FI_DEV_SM_CLOCK',
    family: 'DCGM_FI_DEV_SM_CLOCK',
    type: 'gauge',
    labels: {
      gpu: '1',
      UUID: 'GPU-bbbb',
      device: 'nvidia1',
      modelName: 'NVIDIA H100 80GB HBM3',
      Hostname: 'gpu-node-07',
      DCGM_FI_DRIVER_VERSION: '535.129.03',
      container: 'trainer',
      namespace: 'ml-team',
      pod: 'job-42-worker-0',
    },
    labelsText: 'gpu="1",UUID="GPU-bbbb",device="nvidia1",modelName="NVIDIA H100 80GB HBM3",Hostname="gpu-node-07",DCGM_FI_DRIVER_VERSION="535.129.03",container="trainer",namespace="ml-team",pod="job-42-worker-0"',
    value: 345,
    blank: false,
    timestampMs: undefined,
  });
  assert.equal(samples[2].labels.err_msg, 'No Error');
});

test('spaces after commas and around "=", a trailing comma and no labels at all are accepted', () => {
  const { samples, errors } = parse('a{x = "1", y="2" ,z ="3",} 1\nb 2\nc{} 3\n');
  assert.deepEqual(errors, []);
  assert.deepEqual(samples.map((s) => [s.name, s.labels, s.value]), [
    ['a', { x: '1', y: '2', z: '3' }, 1],
    ['b', {}, 2],
    ['c', {}, 3],
  ]);
});

test('escaped label values are unescaped: backslash, quote and newline', () => {
  const { samples, errors } = parse('m{a="back\\\\slash",b="say \\"hi\\"",c="two\\nlines",d="}{,="} 1\n');
  assert.deepEqual(errors, []);
  assert.deepEqual(samples[0].labels, { a: 'back\\slash', b: 'say "hi"', c: 'two\nlines', d: '}{,=' });
});

test('NaN, +Inf and -Inf are values', () => {
  const { samples, errors } = parse('a NaN\nb +Inf\nc -Inf\nd 1.5e3\ne -0.25\n');
  assert.deepEqual(errors, []);
  assert.deepEqual(samples.map((s) => s.value), [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1500, -0.25]);
  assert.ok(samples.every((s) => !s.blank));
});

test('0.0.4 timestamps are milliseconds; lines without one have none', () => {
  const { samples, errors } = parse('a 1 1772442900123\nb 2\n');
  assert.deepEqual(errors, []);
  assert.equal(samples[0].timestampMs, 1_772_442_900_123);
  assert.equal(samples[1].timestampMs, undefined);
});

test('OpenMetrics: seconds with a fraction, # EOF, counter families with _total, _created and exemplars', () => {
  const text = [
    '# TYPE DCGM_FI_DEV_XID_ERRORS gauge',
    'DCGM_FI_DEV_XID_ERRORS{gpu="0",UUID="GPU-a"} 0 1772442900.5',
    '# TYPE pcie_replays counter',
    '# HELP pcie_replays Replays.',
    'pcie_replays_total{gpu="0"} 17 1772442900.123 # {trace_id="x"} 1 1772442899',
    'pcie_replays_created{gpu="0"} 1772440000',
    '# EOF',
    '',
  ].join('\n');
  const { samples, errors, complete } = parse(text);
  assert.deepEqual(errors, []);
  assert.equal(complete, true);
  assert.equal(samples[0].timestampMs, 1_772_442_900_500);
  assert.deepEqual([samples[1].name, samples[1].family, samples[1].type, samples[1].value, samples[1].timestampMs], ['pcie_replays_total', 'pcie_replays', 'counter', 17, 1_772_442_900_123]);
  assert.deepEqual([samples[2].name, samples[2].family], ['pcie_replays_created', 'pcie_replays']);
});

test('OpenMetrics without # EOF is reported incomplete, and text after it is an error', () => {
  assert.equal(parse('a 1\n', 'openmetrics').complete, false);
  const { errors, samples } = parse('a 1\n# EOF\nb 2\n', 'openmetrics');
  assert.equal(samples.length, 1);
  assert.deepEqual(errors, [{ lineNumber: 3, reason: 'text after "# EOF"' }]);
});

test('DCGM int64 blanks are absent values, compared exactly (Number() would round them)', () => {
  const { samples, errors } = parse(
    [
      'a 9223372036854775792', // DCGM_INT64_BLANK
      'b 9223372036854775794', // NOT_SUPPORTED
      'c 9223372036854775791', // a real int64 just below (rounds to the same double!)
      'd 140737488355328', // 2^47 as integer text: a real int64
      'e 123',
    ].join('\n'),
  );
  assert.deepEqual(errors, []);
  assert.deepEqual(samples.map((s) => [s.name, s.blank]), [['a', true], ['b', true], ['c', false], ['d', false], ['e', false]]);
  assert.ok(Number.isNaN(samples[0].value));
  assert.equal(samples[3].value, 140_737_488_355_328);
});

test('DCGM fp64 blanks are absent values', () => {
  const { samples } = parse(['a 140737488355328.000000', 'b 140737488355330.000000', 'c 140737488355327.500000', 'd 1.5e15', 'e 41.000000'].join('\n'));
  assert.deepEqual(samples.map((s) => [s.name, s.blank]), [['a', true], ['b', true], ['c', false], ['d', true], ['e', false]]);
});

test('isDcgmBlankValue: the two rules by how the value is written', () => {
  assert.equal(isDcgmBlankValue('9223372036854775792', Number('9223372036854775792')), true);
  assert.equal(isDcgmBlankValue('+9223372036854775793', Number('9223372036854775793')), true);
  assert.equal(isDcgmBlankValue('09223372036854775791', Number('9223372036854775791')), false);
  assert.equal(isDcgmBlankValue('140737488355328.0', 140_737_488_355_328), true);
  assert.equal(isDcgmBlankValue('-140737488355328.0', -140_737_488_355_328), false);
});

test('the label value <<<NULL>>> is absent', () => {
  const { samples } = parse('m{gpu="0",UUID="<<<NULL>>>",modelName="<<<NULL>>>",device="nvidia0"} 1\n');
  assert.deepEqual(samples[0].labels, { gpu: '0', device: 'nvidia0' });
});

test('bad lines are reported with line number and reason; the other lines still parse', () => {
  const text = [
    'good_a 1', // 1
    '9bad 1', // 2
    'm{a="1" 1', // 3 (label set not closed)
    'm{a="1"} x', // 4
    'm{a="1"}', // 5
    'm{a="1",a="2"} 1', // 6
    'm{a="\\q"} 1', // 7
    'm{1a="1"} 1', // 8
    'm 1 2 3', // 9
    'm 1 12.5', // 10 (0.0.4 timestamps are integers)
    '# TYPE m nonsense', // 11
    'm{a="x\u0007"} 0x10', // 12
    'good_b 2', // 13
  ].join('\n');
  const { samples, errors } = parse(text);
  assert.deepEqual(samples.map((s) => [s.lineNumber, s.name]), [[1, 'good_a'], [13, 'good_b']]);
  assert.deepEqual(errors.map((e) => e.lineNumber), [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  for (const { reason } of errors) {
    assert.ok(reason.length > 5, reason);
    // eslint-disable-next-line no-control-regex
    assert.doesNotMatch(reason, /[\u0000-\u001f]/, 'control characters never reach a reason');
  }
  assert.match(errors[3].reason, /m has no value/);
  assert.match(errors[4].reason, /label a is repeated/);
});

test('Windows line endings and a blank line are accepted', () => {
  const { samples, errors } = parse('a 1\r\n\r\nb{x="y"} 2\r\n');
  assert.deepEqual(errors, []);
  assert.deepEqual(samples.map((s) => [s.name, s.value, s.labels]), [['a', 1, {}], ['b', 2, { x: 'y' }]]);
});

test('one parser reuses the labels of a series across parses, and parses a changed series anew', () => {
  const parser = new PrometheusTextParser();
  const seen: Array<ReadonlyMap<string, string>> = [];
  const collect = { sample: (s: PrometheusSample) => seen.push(s.labels), error: () => assert.fail('no errors') };
  parser.parse('a{x="1"} 1\n', collect);
  parser.parse('a{x="1"} 2\na{x="2"} 3\n', collect);
  assert.equal(seen[0], seen[1]);
  assert.deepEqual(Object.fromEntries(seen[2]), { x: '2' });
});

// Property tests: exposition text written from generated samples parses back to them.
const labelName = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,8}$/);
const labelValue = fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('\\', '"', '\n', 'a\\nb', '"}', ',x="y"', 'é€😀'));
const metricName = fc.stringMatching(/^[A-Za-z_:][A-Za-z0-9_:]{0,12}$/);
const value = fc.oneof(
  fc.double({ noNaN: true, min: -1e14, max: 1e14 }),
  fc.integer({ min: -1_000_000, max: 1_000_000 }),
  fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY),
);
const sampleArbitrary = fc.record({
  name: metricName,
  labels: fc.uniqueArray(fc.tuple(labelName, labelValue), { selector: ([n]) => n, maxLength: 5 }),
  value,
  timestampMs: fc.option(fc.integer({ min: 0, max: 4_102_444_800_000 }), { nil: undefined }),
  spaced: fc.boolean(),
});

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  if (v === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(v);
}

test('property: generated 0.0.4 and OpenMetrics text round-trips', () => {
  fc.assert(
    fc.property(fc.array(sampleArbitrary, { maxLength: 8 }), fc.constantFrom<ExpositionFormat>('prometheus', 'openmetrics'), (generated, format) => {
      const lines = generated.map((s) => {
        const separator = s.spaced ? ', ' : ',';
        const equals = s.spaced ? ' = ' : '=';
        const labels = s.labels.length === 0 ? '' : `{${s.labels.map(([n, v]) => `${n}${equals}"${escapeLabelValue(v)}"`).join(separator)}}`;
        const timestamp = s.timestampMs === undefined ? '' : format === 'prometheus' ? ` ${s.timestampMs}` : ` ${(s.timestampMs / 1000).toFixed(3)}`;
        return `${s.name}${labels} ${formatValue(s.value)}${timestamp}`;
      });
      const text = lines.map((line) => `${line}\n`).join('') + (format === 'openmetrics' ? '# EOF\n' : '');
      const { samples, errors } = parse(text, format);
      assert.deepEqual(errors, []);
      assert.equal(samples.length, generated.length);
      generated.forEach((g, i) => {
        const s = samples[i];
        assert.equal(s.name, g.name);
        assert.deepEqual(s.labels, Object.fromEntries(g.labels.filter(([, v]) => v !== '<<<NULL>>>')));
        assert.ok(Object.is(s.value, g.value) || (g.value === 0 && s.value === 0), `${s.value} vs ${g.value}`);
        assert.equal(s.blank, false);
        assert.equal(s.timestampMs, g.timestampMs);
      });
    }),
    { numRuns: 300 },
  );
});

test('property: values at or above either sentinel are blank, below are kept exactly', () => {
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }), (n) => {
      const { samples } = parse(`m ${n}\n`);
      assert.equal(samples[0].blank, n >= 9_223_372_036_854_775_792n);
    }),
    { numRuns: 300 },
  );
  fc.assert(
    fc.property(fc.double({ min: 0, max: 1e18, noNaN: true }), (d) => {
      const { samples } = parse(`m ${d.toFixed(6)}\n`);
      assert.equal(samples[0].blank, Number(d.toFixed(6)) >= 140_737_488_355_328);
    }),
    { numRuns: 300 },
  );
});

test('property: arbitrary text never throws, and every line is either a sample, an error or skipped', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 200 }), (text) => {
      const parsed = parse(text);
      for (const e of parsed.errors) assert.ok(e.lineNumber >= 1);
    }),
    { numRuns: 500 },
  );
});

test('a value of 64 Ki digits and a letter is refused in linear time (a backtracking check took 5 s)', () => {
  const startedMs = performance.now();
  const { samples, errors } = parse(`m ${'1'.repeat(64 * 1024 - 3)}x\nm ${'1'.repeat(64 * 1024 - 4)}e\n`, 'openmetrics');
  assert.equal(samples.length, 0);
  assert.equal(errors.length, 2);
  assert.ok(performance.now() - startedMs < 500, `took ${performance.now() - startedMs} ms`);
});
