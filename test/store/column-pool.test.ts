/**
 * The column pool (src/store/column-pool.ts): reads reuse the memory of
 * pages given back, and never that of a page still held.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { giveBackColumns, takeColumn } from '../../src/store/column-pool.js';

describe('column pool', () => {
  it('hands out columns of the asked length, reusing the memory of columns given back', () => {
    const first = takeColumn(8_640);
    assert.equal(first.length, 8_640);
    first.fill(1);
    const held = takeColumn(8_640);
    assert.ok(held.buffer !== first.buffer, 'a column still held is never handed out again');
    giveBackColumns([first]);
    // Memory is pooled by powers of two: 8,640 and 9,000 elements both take 16,384.
    const again = takeColumn(9_000);
    assert.ok(again.buffer === first.buffer, 'a column of the same size class takes the memory given back');
    assert.equal(again.length, 9_000);
    assert.ok(takeColumn(8_640).buffer !== first.buffer, 'given back once, handed out once');
    giveBackColumns([again, held]);
  });

  it('takes back only memory it lent, and each once (a shared array is never handed to another reader)', () => {
    // Sizes the pool uses: only lending decides, not the size.
    const foreign = new Float64Array(4_096);
    const view = new Float64Array(new ArrayBuffer(8 * 2_048), 8, 1_000);
    const lent = takeColumn(2_048);
    giveBackColumns([foreign, view, lent, lent.subarray(0, 10)]);
    const taken = [takeColumn(3_000), takeColumn(1_500), takeColumn(1_500), takeColumn(1_000)];
    assert.ok(taken.every((column) => column.buffer !== foreign.buffer && column.buffer !== view.buffer));
    assert.equal(taken.filter((column) => column.buffer === lent.buffer).length, 1, 'given back twice in one call, handed out once');
    giveBackColumns(taken);
  });
});
