/**
 * Runs the real `gputel` binary as a child process for end-to-end tests, and
 * stops exactly the processes it started, by pid.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const GPUTEL_BIN = fileURLToPath(new URL('../../../bin/gputel.js', import.meta.url));

export interface GputelProcess {
  child: ChildProcess;
  pid: number;
  /** Everything printed so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves with the first stdout match of pattern (rejects on exit or timeout). */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL after a grace period. */
  stop(): Promise<void>;
}

/**
 * `cwd`: the folder it runs in (default: this process's), for commands whose defaults are relative paths.
 * `stdin`: 'pipe' to write to the child (child.stdin), e.g. for `--file -`; otherwise it reads nothing.
 */
export function runGputel(args: string[], env: Record<string, string> = {}, cwd?: string, stdin: 'ignore' | 'pipe' = 'ignore'): GputelProcess {
  const child = spawn(process.execPath, [GPUTEL_BIN, ...args], {
    env: { ...process.env, GPUTEL_LOG_LEVEL: 'warn', ...env },
    cwd,
    stdio: [stdin, 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    pid: child.pid!,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitForOutput(pattern, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const deadline = setTimeout(() => finish(new Error(`no output matching ${pattern} within ${timeoutMs} ms; stdout: ${out}; stderr: ${err.slice(-2000)}`)), timeoutMs);
        const check = (): void => {
          const match = pattern.exec(out);
          if (match) finish(undefined, match);
        };
        const onExit = (code: number | null): void => finish(new Error(`gputel ${args[0]} exited with ${code} before printing ${pattern}; stderr: ${err.slice(-2000)}`));
        function finish(error?: Error, match?: RegExpMatchArray): void {
          clearTimeout(deadline);
          child.stdout!.off('data', check);
          child.off('exit', onExit);
          if (error) reject(error);
          else resolve(match!);
        }
        child.stdout!.on('data', check);
        child.once('exit', onExit);
        check();
      });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
