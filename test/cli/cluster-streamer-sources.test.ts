/** What each streamer of `gputel cluster up` streams (src/cli/cluster/streamer-sources.ts). */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { streamerSourceArgs } from '../../src/cli/cluster/streamer-sources.js';
import { gputelError } from '../support/gputel-error-check.js';

describe('cluster streamer sources', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'gputel-cluster-sources-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const files = ['a.csv', 'b.csv', 'c.csv'].map((name) => {
    const file = path.join(dir, name);
    writeFileSync(file, '');
    return file;
  });

  it('without files, splits one simulated fleet by hosts, the first streamers taking the extra host', () => {
    assert.deepEqual(streamerSourceArgs({ files: [], simulateHosts: 5, interval: '1s' }, 2), [
      ['--simulate', '--simulate-first-host', '1', '--simulate-hosts', '3', '--interval', '1s'],
      ['--simulate', '--simulate-first-host', '4', '--simulate-hosts', '2', '--interval', '1s'],
    ]);
    assert.deepEqual(streamerSourceArgs({ files: [] }, 1), [['--simulate', '--simulate-first-host', '1', '--simulate-hosts', '4']]);
  });

  it('deals the files out over the streamers, each following its own', () => {
    assert.deepEqual(streamerSourceArgs({ files }, 2), [
      ['--follow', '--file', files[0], files[2]],
      ['--follow', '--file', files[1]],
    ]);
  });

  it('refuses fewer files or simulated hosts than streamers, a missing file, and simulator settings with files', () => {
    assert.throws(() => streamerSourceArgs({ files: files.slice(0, 1) }, 2), gputelError('BAD_CONFIG', /--file gives 1 file\(s\) for 2 streamers/));
    assert.throws(() => streamerSourceArgs({ files: [], simulateHosts: 2 }, 3), gputelError('BAD_CONFIG', /--simulate-hosts 2 for 3 streamers/));
    assert.throws(() => streamerSourceArgs({ files: [path.join(dir, 'none.csv')] }, 1), gputelError('BAD_CONFIG', /--file .*none\.csv: no such file/));
    assert.throws(() => streamerSourceArgs({ files: [dir] }, 1), gputelError('BAD_CONFIG', /not a regular file/));
    assert.throws(() => streamerSourceArgs({ files, simulateHosts: 4 }, 1), gputelError('BAD_CONFIG', /apply to the simulated fleet/));
  });
});
