/**
 * `gputel completion bash|zsh`: scripts generated from the command tree.
 * The bash script is loaded into a real bash and asked, as bash's
 * completion would, through COMP_WORDS and COMP_CWORD.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { gputelProgram } from '../../src/cli/main.js';
import { runGputel } from '../support/gputel-process.js';

async function script(shell: string): Promise<string> {
  const child = runGputel(['completion', shell]);
  assert.equal(await child.exited, 0, child.stderr());
  return child.stdout();
}

/** What the bash script completes for the words typed (the last one being completed). */
function bashComplete(bashScript: string, words: string[]): string[] {
  const quoted = words.map((word) => `'${word}'`).join(' ');
  const out = execFileSync('bash', ['--norc', '--noprofile', '-c', `${bashScript}\nCOMP_WORDS=(${quoted}); COMP_CWORD=${words.length - 1}; _gputel; printf '%s\\n' "\${COMPREPLY[@]}"`], { encoding: 'utf8' });
  return out.split('\n').filter((line) => line !== '');
}

/** What the zsh script offers for the words typed, through stand-ins for compdef, _describe, compadd and _files. */
function zshComplete(zshScript: string, words: string[]): string[] {
  const quoted = words.map((word) => `'${word}'`).join(' ');
  const stubs = [
    'compdef() { :; }',
    // _describe -t commands TITLE ARRAY: the array holds name:description entries.
    '_describe() { local -a e; e=("${(@P)4}"); print -l -- "${e[@]%%:*}"; }',
    'compadd() { shift; print -l -- "$@"; }',
    "_files() { print '(files)'; }",
  ].join('\n');
  const out = execFileSync('zsh', ['-f', '-c', `${stubs}\n${zshScript}\nwords=(${quoted}); CURRENT=${words.length}; _gputel`], { encoding: 'utf8' });
  return out.split('\n').filter((line) => line !== '');
}

describe('shell completion', () => {
  it('bash: completes `gputel g` to every command starting with g, from the command tree', async () => {
    const bash = await script('bash');
    const expected = (await gputelProgram()).commands.map((command) => command.name()).filter((name) => name.startsWith('g'));
    assert.ok(expected.length >= 2, `commands starting with g: ${expected.join(', ')}`);
    assert.deepEqual(bashComplete(bash, ['gputel', 'g']).sort(), expected.sort());
  });

  it('bash: completes subcommands, and each command\'s own options only', async () => {
    const bash = await script('bash');
    assert.deepEqual(bashComplete(bash, ['gputel', 'dlq', '']).sort(), ['list', 'purge', 'replay', 'show']);
    // Flags and their values before the command do not hide it.
    assert.deepEqual(bashComplete(bash, ['gputel', 'dlq', 'replay', '--etcd', 'http://127.0.0.1:2379', '--parti']).sort(), ['--partition', '--partitions']);
    const collector = bashComplete(bash, ['gputel', 'collector', '--']);
    assert.ok(collector.includes('--lease-ttl') && collector.includes('--consumer-id'), collector.join(' '));
    assert.ok(!collector.includes('--data-dir') && !collector.includes('--batch-samples'), 'no options of other roles');
    // A flag's value is left to bash's file completion.
    assert.deepEqual(bashComplete(bash, ['gputel', 'streamer', '--file', '']), []);
    // An argument with a fixed set of values completes to them.
    assert.deepEqual(bashComplete(bash, ['gputel', 'completion', '']).sort(), ['bash', 'zsh']);
    assert.deepEqual(bashComplete(bash, ['gputel', 'completion', 'z']), ['zsh']);
    const syntax = spawnSync('bash', ['-n'], { input: bash, encoding: 'utf8' });
    assert.equal(syntax.status, 0, syntax.stderr);
  });

  it('bash: completes `gputel cluster` to up, status, restart, logs and down, and --etcd-members to 1 or 3', async () => {
    const bash = await script('bash');
    assert.deepEqual(bashComplete(bash, ['gputel', 'cluster', '']).sort(), ['down', 'logs', 'restart', 'status', 'up']);
    assert.deepEqual(bashComplete(bash, ['gputel', 'cluster', 'up', '--etcd-members', '']).sort(), ['1', '3']);
    const up = bashComplete(bash, ['gputel', 'cluster', 'up', '--']);
    assert.ok(['--streamers', '--collectors', '--gateways', '--dir', '--port', '--file'].every((flag) => up.includes(flag)), up.join(' '));
  });

  it('zsh: defines the completion function, registers it with compdef, and offers subcommands and options (run in zsh when installed)', async () => {
    const zsh = await script('zsh');
    assert.match(zsh, /^#compdef gputel\n/);
    assert.match(zsh, /^_gputel\(\) \{$/m);
    assert.match(zsh, /compdef _gputel gputel/);
    assert.match(zsh, /'generate:write a realistic DCGM long-format CSV/, 'commands carry their descriptions');
    const zshInstalled = spawnSync('sh', ['-c', 'command -v zsh']).status === 0;
    if (zshInstalled) {
      const syntax = spawnSync('zsh', ['-n'], { input: zsh, encoding: 'utf8' });
      assert.equal(syntax.status, 0, syntax.stderr);
      // zsh's completion builtins need an interactive shell: stand-ins print what the script offers (zsh then filters by prefix).
      assert.deepEqual(zshComplete(zsh, ['gputel', 'dlq', '']), ['list', 'show', 'replay', 'purge']);
      const collector = zshComplete(zsh, ['gputel', '--etcd', 'http://127.0.0.1:2379', 'collector', '--']);
      assert.ok(collector.includes('--lease-ttl') && !collector.includes('--data-dir'), collector.join(' '));
      assert.deepEqual(zshComplete(zsh, ['gputel', 'streamer', '--file', '']), ['(files)']);
      assert.deepEqual(zshComplete(zsh, ['gputel', 'completion', '']), ['bash', 'zsh']);
    }
  });
});
