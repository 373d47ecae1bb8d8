/**
 * A client command on a real terminal (a pseudo-terminal from util-linux
 * `script`): a table by default, coloured, and without colour under
 * NO_COLOR. Piped output is tested in client-commands.test.ts.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { GPUTEL_BIN } from '../support/gputel-process.js';
import { startInProcessPipeline, type InProcessPipeline } from '../support/in-process-pipeline.js';

const run = promisify(execFile);
// eslint-disable-next-line no-control-regex
const ESCAPE = /\x1b\[/;


/** Runs `gputel ARGS` with stdout on a pseudo-terminal; answers what the terminal showed. */
async function onTerminal(args: string[], env: Record<string, string>): Promise<string> {
  const command = [process.execPath, GPUTEL_BIN, ...args].map((word) => `'${word.replaceAll("'", "'\\''")}'`).join(' ');
  const { stdout } = await run('script', ['-qec', command, '/dev/null'], { env: { ...process.env, GPUTEL_GATEWAY: '', GPUTEL_API_KEY: '', FORCE_COLOR: '0', TERM: 'xterm', ...env }, timeout: 30_000 });
  return stdout;
}

describe('client commands on a terminal', () => {
  let pipeline: InProcessPipeline;
  let hasScript = true;
  before(async () => {
    pipeline = await startInProcessPipeline();
    hasScript = await run('script', ['--version']).then(() => true, () => false);
  });
  after(async () => {
    await pipeline?.stop();
  });

  it('prints a coloured table by default, and no colour under NO_COLOR', async (t) => {
    if (!hasScript) return t.skip('util-linux script is not installed: no pseudo-terminal to test on');
    const [coloured, plain] = await Promise.all([
      onTerminal(['summary', '--gateway', pipeline.baseUrl], { NO_COLOR: '' }),
      onTerminal(['summary', '--gateway', pipeline.baseUrl], { NO_COLOR: '1' }),
    ]);
    assert.match(coloured.replace(/\x1b\[[0-9;]*m/g, ''), /^GPUS\s+0\r?$/m, 'a table, not JSON'); // eslint-disable-line no-control-regex
    assert.match(coloured, /\x1b\[32m0\x1b\[39m/, 'ACTIVE in green'); // eslint-disable-line no-control-regex
    assert.match(plain, /^ACTIVE\s+0\r?$/m, plain);
    assert.doesNotMatch(plain, ESCAPE);
  });
});
