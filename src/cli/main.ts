/** The `gputel` command: one binary, a subcommand per role. */
import { Command, CommanderError } from 'commander';
import { GputelError, errorMessage } from '../common/gputel-error.js';
import { clientCommands } from './client/client-commands.js';
import { EXIT, exitCodeOf } from './exit-codes.js';

/**
 * The command tree (its --help, shell completion and tests read it). When
 * `commandName` names a client command, only the client commands: they talk
 * HTTP to a gateway, and loading the roles' modules would triple their
 * start-up (0.6 s of CPU against 0.2 s measured).
 */
export async function gputelProgram(commandName?: string): Promise<Command> {
  const program = new Command('gputel').description('GPU telemetry pipeline: DCGM CSV → etcd queue → collectors → store → API').version('0.1.0');
  const client = clientCommands();
  const clientOnly = client.some((command) => command.name() === commandName);
  const roles = clientOnly ? [] : (await import('./role-commands.js')).roleCommands();
  for (const command of [...roles, ...client]) program.addCommand(command);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = await gputelProgram(argv[2]);
  throwInsteadOfExit(program);
  try {
    await program.parseAsync(argv);
  } catch (error) {
    // Commander printed its own message (or the help) already; only the exit code is left to choose.
    if (error instanceof CommanderError) process.exit(error.exitCode === 0 ? EXIT.OK : EXIT.USAGE);
    // Errors a user can act on print as one clear message, not a stack.
    const code = error instanceof GputelError ? error.code : 'INTERNAL';
    process.stderr.write(`gputel: ${errorMessage(error)}${code === 'INTERNAL' && error instanceof Error && error.stack ? `\n${error.stack}` : ''}\n`);
    process.exit(exitCodeOf(error));
  }
}

/**
 * Commander exits by itself (code 1) on a usage error; thrown instead, main
 * can exit EXIT.USAGE. Set on every command: addCommand does not pass the
 * setting down to subcommands.
 */
function throwInsteadOfExit(command: Command): void {
  command.exitOverride();
  for (const subcommand of command.commands) throwInsteadOfExit(subcommand);
}
