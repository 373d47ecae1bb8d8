/** A live log level reaches every logger of the process: pino copies the level into a child only when the child is made. */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { createLogger, setLogLevel } from '../../src/common/logger.js';

it('setLogLevel changes the root, its children and their children, made before the change', () => {
  const root = createLogger('info');
  const child = root.child({ role: 'gateway' });
  const grandchild = child.child({ reqId: 'r-1' });
  assert.equal(grandchild.isLevelEnabled('debug'), false);
  setLogLevel(root, 'debug');
  assert.deepEqual([root.level, child.level, grandchild.level], ['debug', 'debug', 'debug']);
  // Made after the change: from its parent, as pino does anyway.
  assert.equal(child.child({ reqId: 'r-2' }).level, 'debug');
  setLogLevel(root, 'warn');
  assert.equal(grandchild.isLevelEnabled('info'), false);
});
