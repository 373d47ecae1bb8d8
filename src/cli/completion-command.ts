/**
 * `gputel completion bash|zsh`: prints the shell completion script of the
 * whole command tree (completion-script.ts), read from the program this
 * command belongs to, so it always matches the binary that prints it.
 */
import { Argument, Command } from 'commander';
import { bashCompletionScript, zshCompletionScript } from './completion-script.js';

const SHELLS = { bash: bashCompletionScript, zsh: zshCompletionScript } as const;

export function completionCommand(): Command {
  return new Command('completion')
    .description('print the shell completion script: source <(gputel completion bash), or zsh')
    .addArgument(new Argument('<shell>', 'bash or zsh').choices(Object.keys(SHELLS)))
    .action((shell: keyof typeof SHELLS, _options: unknown, command: Command) => {
      process.stdout.write(SHELLS[shell](rootOf(command)));
    });
}

function rootOf(command: Command): Command {
  return command.parent ? rootOf(command.parent) : command;
}
