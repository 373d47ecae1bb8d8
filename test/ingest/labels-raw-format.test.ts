import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { findLabelInRaw, parseLabelsRaw } from '../../src/ingest/labels-raw.js';
import { formatLabelsRaw } from '../../src/ingest/labels-raw-format.js';

test('labels are written sorted, escaped, with every quote doubled, as a CSV export holds them', () => {
  assert.equal(
    formatLabelsRaw([['modelName', 'NVIDIA "H100"'], ['Hostname', 'n\\1'], ['UUID', 'GPU-1'], ['note', 'a\nb']]),
    'Hostname=""n\\\\1"",UUID=""GPU-1"",modelName=""NVIDIA \\""H100\\"""",note=""a\\nb""',
  );
  assert.equal(formatLabelsRaw([]), '');
});

test('property: parseLabelsRaw reads back what formatLabelsRaw wrote, and findLabelInRaw finds each label', () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.tuple(fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,10}$/), fc.string({ maxLength: 16 })), { selector: ([name]) => name, maxLength: 8 }),
      (labels) => {
        const raw = formatLabelsRaw(labels);
        assert.deepEqual(parseLabelsRaw(raw), new Map(labels));
        for (const [name, value] of labels) assert.equal(findLabelInRaw(raw, name), value);
      },
    ),
    { numRuns: 500 },
  );
});
