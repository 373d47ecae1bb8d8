/** A live log level reaches every logger of the process: pino copies the level into a child only when the child is made. */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { createLogger, requestLogger, setLogLevel } from '../../src/common/logger.js';

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

it("a request's logger (Fastify's childLoggerFactory) ignores the route's level and follows live changes", () => {
  const root = createLogger('info');
  const server = root.child({ role: 'gateway' });
  // Fastify passes the level the server had when the route was registered.
  const request = requestLogger(server, { reqId: 'r-3' }, { level: 'info' });
  setLogLevel(root, 'debug');
  assert.equal(request.level, 'debug');
  assert.equal(request.child({ part: 'x' }).isLevelEnabled('debug'), true);
  setLogLevel(root, 'warn');
  assert.deepEqual([request.level, server.level], ['warn', 'warn']);
});
