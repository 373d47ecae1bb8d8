/**
 * The long fuzz runner's watchdog, through the real runner as a child
 * process: a property that never returns is stopped after --hang-after
 * seconds with a HANG report, exit 1, and a replay command that hangs on the
 * same input again. The hanging property comes from a test-only module
 * (hanging-target.fixture.ts) that FUZZ_EXTRA_TARGETS hands to the runner.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { shellQuote } from './hang-report.js';

const RUNNER = fileURLToPath(new URL('./run-fuzz.js', import.meta.url));
const HANGING_MODULE = fileURLToPath(new URL('./hanging-target.fixture.js', import.meta.url));
const REPOSITORY = fileURLToPath(new URL('../../../', import.meta.url));
/** One run's bound: startup, the 1 s watchdog and the report, with room for a loaded 2-core machine. */
const RUN_BOUND_MS = 20_000;

interface RunnerExit {
  code: number | null;
  stdout: string;
  stderr: string;
  tookMs: number;
}

/**
 * Runs `command` in a shell from the repository root (so the printed replay
 * command runs as printed). Past RUN_BOUND_MS (a watchdog that failed to
 * fire) it kills the shell's whole process group: killing the shell alone
 * would leave the runner holding the pipes, and the test hanging too.
 */
function runShell(command: string, env: Record<string, string> = {}): Promise<RunnerExit> {
  const startedMs = performance.now();
  const child = spawn('sh', ['-c', command], { cwd: REPOSITORY, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const killer = setTimeout(() => {
    if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
  }, RUN_BOUND_MS + 5_000);
  return new Promise((resolve) => {
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr, tookMs: performance.now() - startedMs });
    });
  });
}

/** The hanging input as the report names it: batch seed, batch runs and input number. */
function hangOf(stdout: string): { seed: string; runs: string; input: string } {
  const match = /batch seed: (-?\d+) {2}batch runs: (\d+) {2}hanging input: (\d+)/.exec(stdout);
  assert.ok(match, `a HANG report with the batch seed and input:\n${stdout}`);
  return { seed: match[1], runs: match[2], input: match[3] };
}

describe('fuzz runner watchdog', () => {
  it('stops a property that never returns, reports the hang and exits 1; its replay command hangs on the same input', async () => {
    const first = await runShell(`node ${shellQuote(RUNNER)} --target hanging --runs 1000 --hang-after 2`, { FUZZ_EXTRA_TARGETS: HANGING_MODULE });
    const what = `stdout:\n${first.stdout}\nstderr:\n${first.stderr}`;
    assert.equal(first.code, 1, what);
    assert.ok(first.tookMs < RUN_BOUND_MS, `ended in ${first.tookMs.toFixed(0)} ms\n${what}`);
    assert.match(first.stdout, /^seed: -?\d+ \(drawn at random/m, 'a run given no --seed prints the one it drew');
    assert.match(first.stdout, /^HANG hanging \/ never returns for the digit 7: input \d+ of batch 1 did not finish in \d+\.\d s \(--hang-after 2\); its worker was terminated$/m, what);
    assert.match(first.stdout, /^ {2}not run after the hang \(1\): hanging \/ a digit's value is under 10$/m, what);
    assert.doesNotMatch(first.stdout, /^ok {2}hanging/m, 'no property runs after the hang');
    assert.match(first.stdout, /^total: \d+ runs in .* HUNG/m, what);
    const hang = hangOf(first.stdout);
    const replay = /^ {2}replay: (.*)$/m.exec(first.stdout)?.[1];
    assert.ok(replay !== undefined, what);
    assert.equal(
      replay,
      `FUZZ_EXTRA_TARGETS=${shellQuote(HANGING_MODULE)} npm run fuzz -- --target hanging --property 'never returns for the digit 7' --seed ${hang.seed} --runs ${hang.runs} --hang-after 2`,
    );

    // Replayed as printed, but with the compiled runner for `npm run fuzz --` (that script only compiles first).
    const again = await runShell(replay.replace('npm run fuzz --', `node ${shellQuote(RUNNER)}`));
    const againWhat = `stdout:\n${again.stdout}\nstderr:\n${again.stderr}`;
    assert.equal(again.code, 1, againWhat);
    assert.ok(again.tookMs < RUN_BOUND_MS, `replay ended in ${again.tookMs.toFixed(0)} ms\n${againWhat}`);
    assert.doesNotMatch(again.stdout, /^seed: /m, 'a run given --seed draws none');
    assert.deepEqual(hangOf(again.stdout), hang, 'the replay hangs on the same input of the same batch');
    assert.match(again.stdout, /^ {2}no other property was left to run$/m, againWhat);
  });

  it('refuses a --hang-after that is not a positive number, with the usage (exit 2)', async () => {
    // A negative --seed as replay lines print it (`--seed -N`) gets past parsing: the refusal is --hang-after's.
    const refused = await runShell(`node ${shellQuote(RUNNER)} --seed -853361973 --hang-after 0`);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /^--hang-after must be a positive number, got "0"$/m);
    assert.match(refused.stderr, /\[--hang-after SECONDS\]/);
    const underBudget = await runShell(`node ${shellQuote(RUNNER)} --hang-after 1`);
    assert.match(underBudget.stderr, /^--hang-after must be at least 2 s \(twice an input's 1 s budget/m);
  });
});
