/**
 * The query string rules every route shares (strict-query.ts): unknown and
 * repeated parameters, and numbers not written in decimal, named in the message.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { queryProblem } from '../../src/common/strict-query.js';

const PARAMETERS = new Map([
  ['limit', { kind: 'integer', signed: false, minimum: 1 }],
  ['offset', { kind: 'integer', signed: true }],
  ['threshold', { kind: 'number', signed: false, minimum: 0, maximum: 100 }],
  ['name', { kind: 'other', signed: true }],
] as const);

describe('strict query parameters', () => {
  it('passes declared parameters given once in decimal', () => {
    assert.equal(queryProblem({ limit: '10', offset: '-3', threshold: '2.5', name: '0x10' }, PARAMETERS), undefined);
    assert.equal(queryProblem({}, new Map()), undefined);
  });

  it('names an unknown parameter and what the route takes', () => {
    assert.equal(queryProblem({ lmit: '1' }, PARAMETERS), 'unknown parameter "lmit": it takes limit, offset, threshold, name');
    assert.equal(queryProblem({ x: '1' }, new Map()), 'unknown parameter "x": this route takes no parameter');
  });

  it('names a repeated parameter, whatever its type', () => {
    assert.equal(queryProblem({ name: ['a', 'b'] }, PARAMETERS), 'name is given twice: give it once');
    assert.equal(queryProblem({ limit: ['1', '2', '3'] }, PARAMETERS), 'limit is given 3 times: give it once');
  });

  it('refuses every spelling of a number but decimal digits', () => {
    for (const spelling of ['0x10', '0b11', '0o7', '1e3', '+5', ' 5', '5 ', '5.0', '', 'Infinity']) {
      assert.equal(queryProblem({ limit: spelling }, PARAMETERS), `limit must be a decimal integer, got ${JSON.stringify(spelling)}`);
    }
    assert.equal(queryProblem({ offset: '+1' }, PARAMETERS), 'offset must be a decimal integer, got "+1"');
    for (const spelling of ['1e1', '.5', '5.', '-.5', 'NaN']) {
      assert.equal(queryProblem({ threshold: spelling }, PARAMETERS), `threshold must be a decimal number, got ${JSON.stringify(spelling)}`);
    }
  });

  it('names the range of a parameter that takes no negative value when given one', () => {
    assert.equal(queryProblem({ threshold: '-1' }, PARAMETERS), 'threshold must be from 0 to 100, got "-1"');
    assert.equal(queryProblem({ limit: '-5' }, PARAMETERS), 'limit must be ≥ 1, got "-5"');
    assert.equal(queryProblem({ threshold: '-0' }, PARAMETERS), 'threshold must be a decimal number, got "-0"', 'in range, spelt wrong');
  });
});
