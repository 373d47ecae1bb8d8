/** Checking thrown GputelErrors in tests: for assert.throws / assert.rejects. */
import assert from 'node:assert/strict';
import { GputelError, type ErrorCode } from '../../src/common/gputel-error.js';

/** A validator that passes a GputelError with `code`, not retryable, whose message matches `pattern`, and fails anything else. */
export function gputelError(code: ErrorCode, pattern: RegExp): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof GputelError, String(error));
    assert.equal(error.code, code);
    assert.equal(error.retryable, false);
    assert.match(error.message, pattern);
    return true;
  };
}
