/**
 * Each command's --help lists only the settings that command reads (the
 * option wiring, not the help text), and a --host that does not resolve is
 * a one-line configuration error.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EXIT } from '../../src/cli/exit-codes.js';
import { runGputel } from '../support/gputel-process.js';

/** The flags a --help lists: the first long flag of each option line. */
function flagsOf(help: string): Set<string> {
  return new Set([...help.matchAll(/^ {2}(?:-\w, )?(--[a-z][a-z-]*)/gm)].map((match) => match[1]));
}

/** For each command: options it must list, and options of other roles it must not. */
const EXPECTED: { command: string[]; has: string[]; lacks: string[] }[] = [
  {
    command: ['start'],
    has: ['--data-dir', '--etcd', '--cluster', '--topic', '--partitions', '--log-level', '--host', '--port', '--batch-samples', '--lease-ttl', '--retention', '--stale-after', '--api-keys-file', '--file', '--simulate', '--progress-interval'],
    lacks: ['--strict', '--consumer-id', '--output'],
  },
  {
    command: ['streamer'],
    has: ['--etcd', '--cluster', '--topic', '--partitions', '--host', '--port', '--batch-samples', '--flush-interval', '--max-rate', '--file', '--scrape', '--strict', '--progress-interval', '--no-progress'],
    lacks: ['--data-dir', '--lease-ttl', '--retention', '--stale-after', '--api-keys-file', '--tls-cert', '--trust-proxy', '--consumer-id'],
  },
  {
    command: ['collector'],
    has: ['--etcd', '--cluster', '--topic', '--partitions', '--host', '--port', '--lease-ttl', '--retention', '--consumer-id', '--etcd-compaction-interval'],
    lacks: ['--data-dir', '--batch-samples', '--flush-interval', '--high-watermark', '--max-rate', '--max-clock-skew', '--file', '--scrape', '--strict', '--stale-after', '--api-keys-file', '--progress-interval'],
  },
  {
    command: ['gateway'],
    has: ['--etcd', '--cluster', '--host', '--port', '--stale-after', '--api-keys-file', '--tls-cert', '--rate-limit', '--cors-origins', '--trust-proxy'],
    lacks: ['--data-dir', '--topic', '--partitions', '--batch-samples', '--lease-ttl', '--retention', '--file', '--strict'],
  },
  {
    command: ['queue', 'status'],
    has: ['--etcd', '--data-dir', '--root', '--topic', '--output'],
    lacks: ['--cluster', '--partitions', '--log-level', '--host', '--port', '--etcd-compaction-interval', '--batch-samples'],
  },
  {
    command: ['dlq', 'replay'],
    has: ['--etcd', '--data-dir', '--topic', '--partitions', '--partition', '--progress-interval'],
    lacks: ['--cluster', '--host', '--port', '--etcd-compaction-interval', '--lease-ttl'],
  },
  { command: ['dlq', 'show'], has: ['--etcd', '--data-dir', '--topic'], lacks: ['--partitions', '--partition', '--host'] },
  {
    command: ['encryption-key', 'reseal'],
    has: ['--etcd', '--data-dir', '--root', '--encryption-key-file'],
    lacks: ['--cluster', '--topic', '--partitions', '--host', '--log-level', '--etcd-compaction-interval'],
  },
  { command: ['generate'], has: ['--out', '--hosts', '--start'], lacks: ['--etcd', '--data-dir'] },
];

describe('command options', () => {
  it('each command\'s --help lists the settings it reads, and not those of other roles', async () => {
    const helps = await Promise.all(
      EXPECTED.map(async ({ command }) => {
        const child = runGputel([...command, '--help']);
        assert.equal(await child.exited, EXIT.OK, child.stderr());
        return flagsOf(child.stdout());
      }),
    );
    EXPECTED.forEach(({ command, has, lacks }, i) => {
      for (const flag of has) assert.ok(helps[i].has(flag), `gputel ${command.join(' ')} --help lists ${flag}`);
      for (const flag of lacks) assert.ok(!helps[i].has(flag), `gputel ${command.join(' ')} --help does not list ${flag}`);
    });
  });

  it('refuses an option of another role as unknown (USAGE), not silently', async () => {
    const child = runGputel(['collector', '--etcd', 'http://127.0.0.1:9', '--batch-samples', '10']);
    assert.equal(await child.exited, EXIT.USAGE);
    assert.match(child.stderr(), /unknown option '--batch-samples'/);
  });

  it('a --host that does not resolve is one line of BAD_CONFIG (exit CONFIG) before anything opens, for every role', async () => {
    // Port 9 of 127.0.0.1 answers nothing: the refusal must come before any connection to etcd.
    const runs = [
      ['collector', '--etcd', 'http://127.0.0.1:9'],
      ['gateway', '--etcd', 'http://127.0.0.1:9', '--insecure'],
      ['start', '--insecure', '--data-dir', '/nonexistent/gputel-host-test'],
    ].map((args) => runGputel([...args, '--host', 'no-such-host.invalid', '--port', '0']));
    for (const child of runs) {
      assert.equal(await child.exited, EXIT.CONFIG, child.stderr());
      const lines = child.stderr().trim().split('\n');
      assert.equal(lines.length, 1, child.stderr());
      assert.match(lines[0], /^gputel: --host "no-such-host\.invalid" \(or GPUTEL_HOST\) does not resolve to an address \((ENOTFOUND|EAI_AGAIN)\)/);
      assert.match(lines[0], /0\.0\.0\.0 \(every interface\) or 127\.0\.0\.1/);
    }
  });
});
