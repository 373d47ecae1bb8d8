/**
 * Fuzz target: the Prometheus / OpenMetrics text parser (dcgm-exporter's
 * /metrics body). Contract under fuzz: parse never throws for any text, every
 * line is a sample, an error or skipped, and no line takes long however it
 * is built (a scrape body is input from the network).
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PrometheusTextParser, type ExpositionFormat } from '../../src/ingest/prometheus-text-parser.js';
import { fuzzProperty, type FuzzTarget } from './fuzz-target.js';
import { anyText, longRun, tokenText } from './hostile-text.js';

/** The parser's own bound on one line (MAX_LINE_CHARS): longer lines are refused unread. */
const LINE_BOUND = 64 * 1024;

const TOKENS = [
  'DCGM_FI_DEV_GPU_TEMP', 'foo_total', 'foo', ':', '_', '{', '}', '="', '"', ',', ' ', '\t', '\n', '\\"', '\\\\', '\\n', '\\x',
  'gpu', 'UUID', '<<<NULL>>>', ' 1', ' 42.5', ' -0.5e3', ' NaN', ' +Inf', ' -inf', ' 9223372036854775807', ' 140737488355328.000000', ' 0x1f',
  ' 1772442900000', ' 1772442900.123', ' 1e3', '# TYPE foo counter\n', '# TYPE foo gauge\n', '# HELP foo text\n', '# UNIT foo bytes\n', '# EOF', '# EOF\n', ' # {a="b"} 1', '\r\n',
];

/** Pieces that long runs are made of: digits and signs for values, quotes and escapes for label values, spaces. */
const LONG_PIECES = fc.constantFrom('', '1', '1.', '.1', 'e', '-', '+', ' ', '\t', 'a', '"', '\\', '\\"', '{', 'a="', ',', '=', '# TYPE ', '# HELP a ', '\u2028', '0', 'm ', 'm{', '1e');

interface Parsed {
  samples: number;
  errors: number;
  stats: ReturnType<PrometheusTextParser['parse']>;
}

/** Parses `text` and checks what every sample and error must be, whatever the text. */
function parseChecked(parser: PrometheusTextParser, text: string, format: ExpositionFormat | undefined): Parsed {
  let samples = 0;
  let errors = 0;
  const lines = text.length === 0 ? 0 : text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
  let lastLine = 0;
  const stats = parser.parse(
    text,
    {
      sample: (sample) => {
        samples++;
        assert.ok(sample.lineNumber > lastLine && sample.lineNumber <= lines, `line ${sample.lineNumber} of ${lines}, after ${lastLine}`);
        lastLine = sample.lineNumber;
        assert.equal(typeof sample.value, 'number');
        if (sample.blank) assert.ok(Number.isNaN(sample.value), 'a blank sample has no value');
        if (sample.timestampMs !== undefined) assert.ok(Number.isSafeInteger(sample.timestampMs), `timestamp ${sample.timestampMs}`);
        assert.ok(sample.name.length > 0 && sample.family.length > 0 && sample.name.startsWith(sample.family));
        for (const [name, value] of sample.labels) assert.ok(typeof name === 'string' && typeof value === 'string');
      },
      error: (lineNumber, reason) => {
        errors++;
        assert.ok(lineNumber > lastLine && lineNumber <= lines, `error at line ${lineNumber} of ${lines}, after ${lastLine}`);
        lastLine = lineNumber;
        // eslint-disable-next-line no-control-regex
        assert.ok(!/[\u0000-\u0008\u000a-\u001f\u007f]/.test(reason), `a reason quotes input raw: ${JSON.stringify(reason)}`);
      },
    },
    format,
  );
  assert.equal(stats.samples, samples);
  assert.equal(stats.errors, errors);
  assert.equal(stats.lines, lines);
  return { samples, errors, stats };
}

const format = fc.constantFrom<ExpositionFormat | undefined>('prometheus', 'openmetrics', undefined);

export const prometheusTextTarget: FuzzTarget = {
  name: 'prometheus-text',
  properties: [
    fuzzProperty('any text: no throw, every line a sample, an error or skipped', fc.oneof(anyText(300), tokenText(TOKENS, 60)), format, (text, chosen) => {
      parseChecked(new PrometheusTextParser(), text, chosen);
    }),
    fuzzProperty('a second parse of the same text (label cache warm) gives the same answer', tokenText(TOKENS, 60), format, (text, chosen) => {
      const parser = new PrometheusTextParser();
      const first = parseChecked(parser, text, chosen);
      const second = parseChecked(parser, text, chosen);
      assert.deepEqual(second, first);
    }),
    fuzzProperty('long lines up to the line bound parse in linear time', longRun(LONG_PIECES, LINE_BOUND + 2), format, (text, chosen) => {
      parseChecked(new PrometheusTextParser(), text, chosen);
    }),
  ],
};
