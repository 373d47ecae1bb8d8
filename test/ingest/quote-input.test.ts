import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DcgmCsvParser } from '../../src/ingest/dcgm-csv-parser.js';
import { quoteInput } from '../../src/ingest/quote-input.js';

test('control characters quoted from input are escaped, printable text is kept', () => {
  assert.equal(quoteInput('a\u0000b\u001b[31mc\u007f\u0085é'), 'a\\x00b\\x1b[31mc\\x7f\\x85é');
  assert.equal(quoteInput('plain text, "quoted"'), 'plain text, "quoted"');
});

test('a backslash is doubled so an escape in a message was always made by gputel', () => {
  assert.equal(quoteInput('C:\\x00'), 'C:\\\\x00');
});

test('long values are cut to the limit with "..."', () => {
  assert.equal(quoteInput('x'.repeat(100), 10), 'xxxxxxx...');
});

test('the error for a binary file shows its bytes escaped and says what to check, in user terms', () => {
  const binary = Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01, 0x00, 0x00, 0x00, 0x1b, 0x5b, 0x32, 0x4a, 0x0a]);
  const parser = new DcgmCsvParser({ onRow: () => undefined, onReject: () => undefined });
  assert.throws(
    () => parser.push(binary),
    (error: Error) => {
      // eslint-disable-next-line no-control-regex -- asserting that no control byte reaches the message
      assert.doesNotMatch(error.message, /[\u0000-\u0008\u000b-\u001f\u007f]/);
      assert.match(error.message, /\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x1b\[2J/);
      assert.match(error.message, /is not the DCGM CSV header/);
      assert.doesNotMatch(error.message, /headerSeen/);
      return true;
    },
  );
});
