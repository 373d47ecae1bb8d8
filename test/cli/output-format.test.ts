/** The output helpers of every command: format choice, RFC 4180 CSV, borderless tables, when to colour. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { csvField, formatAge, formatCsv, outputFormat, printable, renderTable, terminalColors } from '../../src/cli/output-format.js';

describe('output format', () => {
  it('offers csv only to commands that say so, and names what is allowed', () => {
    assert.equal(outputFormat('csv', false, ['table', 'json', 'csv']), 'csv');
    assert.equal(outputFormat(undefined, false, ['table', 'json', 'csv']), 'json');
    assert.equal(outputFormat(undefined, true, ['table', 'json', 'csv']), 'table');
    assert.throws(() => outputFormat('csv', true), /--output "csv": use json or table/);
    assert.throws(() => outputFormat('xml', true, ['table', 'json', 'csv']), /--output "xml": use table, json or csv/);
  });

  it('writes CSV by RFC 4180: quotes around commas, quotes and line breaks, quotes doubled, CRLF, empty for null', () => {
    assert.equal(csvField('plain'), 'plain');
    assert.equal(csvField('a,b'), '"a,b"');
    assert.equal(csvField('say "hi"'), '"say ""hi"""');
    assert.equal(csvField('two\nlines'), '"two\nlines"');
    assert.equal(csvField('cr\r'), '"cr\r"');
    assert.equal(csvField(null), '');
    assert.equal(csvField(undefined), '');
    assert.equal(csvField(628.154), '628.154');
    assert.equal(formatCsv(['a', 'b'], [[1, 'x,y'], [null, '"']]), 'a,b\r\n1,"x,y"\r\n,""""\r\n');
  });

  it('pads table columns by what shows (colour codes take no room), right-aligns numbers, leaves no trailing spaces', () => {
    const colors = terminalColors({ FORCE_COLOR: '1' }, false);
    const table = renderTable(['NAME', 'N'], [[colors.green('active'), '5'], ['stale', '10']], { rightAligned: [1] });
    // eslint-disable-next-line no-control-regex
    const plain = table.replace(/\x1b\[[0-9;]*m/g, '');
    assert.equal(plain, 'NAME     N\nactive   5\nstale   10\n');
  });

  it('colours only on a terminal or when forced, and never under NO_COLOR (unless it is empty)', () => {
    assert.equal(terminalColors({}, true).isColorSupported, true);
    assert.equal(terminalColors({}, false).isColorSupported, false);
    assert.equal(terminalColors({ CI: '1' }, false).isColorSupported, false);
    assert.equal(terminalColors({ FORCE_COLOR: '1' }, false).isColorSupported, true);
    assert.equal(terminalColors({ FORCE_COLOR: '0' }, true).isColorSupported, true);
    assert.equal(terminalColors({ FORCE_COLOR: '0' }, false).isColorSupported, false);
    assert.equal(terminalColors({ NO_COLOR: '1' }, true).isColorSupported, false);
    assert.equal(terminalColors({ NO_COLOR: '1', FORCE_COLOR: '1' }, true).isColorSupported, false);
    assert.equal(terminalColors({ NO_COLOR: '' }, true).isColorSupported, true);
  });

  it('printable() escapes C0, DEL and C1 control characters (ESC, BEL, CSI) and doubles backslashes; quotes and other text stay', () => {
    assert.equal(printable('evil\u001b]0;pwned\u0007\u001b[2J\u009b1m\u007f'), 'evil\\x1b]0;pwned\\x07\\x1b[2J\\x9b1m\\x7f');
    assert.equal(printable('say "hi", naïve — 温度'), 'say "hi", naïve — 温度');
    assert.equal(printable('C:\\x1b'), 'C:\\\\x1b', 'an escape seen was made by printable()');
    assert.equal(printable('x'.repeat(20), 10), 'xxxxxxx...');
    assert.equal(printable('x'.repeat(200), Number.POSITIVE_INFINITY), 'x'.repeat(200));
  });

  it('writes ages in days from 48 hours on', () => {
    assert.equal(formatAge(47 * 3_600_000), '47h00m');
    assert.equal(formatAge(3 * 86_400_000 + 4 * 3_600_000 + 59_000), '3d04h');
  });
});
