import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BoundedLabelValues, OVERFLOW_LABEL_VALUE } from '../../src/common/bounded-label.js';

describe('bounded label values', () => {
  it('keeps the first values up to the bound, then puts new ones under the overflow value', () => {
    const labels = new BoundedLabelValues(2);
    assert.equal(labels.valueOf('file-a.csv-0000000a'), 'file-a.csv-0000000a');
    assert.equal(labels.valueOf('file-b.csv-0000000b'), 'file-b.csv-0000000b');
    assert.equal(labels.valueOf('file-c.csv-0000000c'), OVERFLOW_LABEL_VALUE);
    assert.equal(labels.valueOf('file-a.csv-0000000a'), 'file-a.csv-0000000a', 'a known value stays its own');
  });

  it('cuts a value to 200 characters, and the cut value is the one that counts', () => {
    const labels = new BoundedLabelValues(1);
    const long = `scrape-${'x'.repeat(300)}`;
    assert.equal(labels.valueOf(long).length, 200);
    assert.equal(labels.valueOf(`${long}-other-tail`), long.slice(0, 200));
  });
});
