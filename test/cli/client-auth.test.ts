/**
 * Client commands against a gateway with API keys: the key goes as
 * X-API-Key (and on the WebSocket upgrade), from --api-key or
 * GPUTEL_API_KEY; a missing, unknown or under-privileged key is one line
 * and EXIT.AUTH.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { EXIT } from '../../src/cli/exit-codes.js';
import { ApiKeyRing, createApiKey } from '../../src/gateway/security/api-key-ring.js';
import { runGputel, type GputelProcess } from '../support/gputel-process.js';
import { startSecuredGateway, type SecuredGateway } from '../support/security-fixtures.js';

const reader = createApiKey('read', 'cli');
const ingester = createApiKey('ingest', 'pusher');

describe('gputel client commands with API keys', () => {
  let served: SecuredGateway;
  const started: GputelProcess[] = [];

  async function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const child = runGputel([...args, '--gateway', served.baseUrl], { GPUTEL_API_KEY: '', GPUTEL_GATEWAY: '', ...env });
    started.push(child);
    const code = await child.exited;
    return { code, stdout: child.stdout(), stderr: child.stderr() };
  }

  before(async () => {
    served = await startSecuredGateway({ keys: ApiKeyRing.parse([{ what: 'keys', text: `${reader.line}\n${ingester.line}\n` }]) });
  });
  after(async () => {
    await Promise.all(started.map((child) => child.stop()));
    await served?.stop();
  });

  it('sends the key from --api-key or GPUTEL_API_KEY, on requests and on the WebSocket upgrade', async () => {
    const results = await Promise.all([
      cli(['gpus', '--api-key', reader.key]),
      cli(['hosts'], { GPUTEL_API_KEY: reader.key }),
      cli(['watch', '--for', '1s'], { GPUTEL_API_KEY: reader.key }),
    ]);
    for (const result of results) assert.equal(result.code, 0, result.stderr);
    assert.equal(results[0].stdout, '[]\n');
    assert.equal(results[1].stdout, '[]\n');
    assert.match(results[2].stderr, /^watching every GPU at /);
  });

  it('a missing, unknown or under-privileged key is one line and EXIT.AUTH, on requests and on the WebSocket', async () => {
    const cases: [string[], Record<string, string>, RegExp][] = [
      [['gpus'], {}, /needs an API key \(401\): pass one with --api-key KEY or GPUTEL_API_KEY=KEY/],
      [['watch'], {}, /needs an API key \(401\)/],
      [['summary', '--api-key', 'gputel_not-a-key'], {}, /does not know this API key \(401\): check --api-key or GPUTEL_API_KEY/],
      [['gpu', 'x'], { GPUTEL_API_KEY: 'gputel_not-a-key' }, /does not know this API key \(401\)/],
      [['hosts', '--api-key', ingester.key], {}, /the API key may not do this \(403\): API key "pusher" has role ingest.*use a key with role read or admin/],
      [['watch', '--api-key', ingester.key], {}, /may not do this \(403\)/],
    ];
    const results = await Promise.all(cases.map(([args, env]) => cli(args, env)));
    results.forEach((result, i) => {
      assert.equal(result.code, EXIT.AUTH, `${cases[i][0].join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, /^gputel: [^\n]+\n$/);
      assert.match(result.stderr, cases[i][2]);
      assert.equal(result.stdout, '');
    });
  });
});
