/** The `gputel` command: one binary, a subcommand per role. */
import { Command, CommanderError } from 'commander';
import { GputelError, errorMessage } from '../common/gputel-error.js';
import { clientCommands } from './client/client-commands.js';
import { collectorCommand } from './collector-command.js';
import { completionCommand } from './completion-command.js';
import { dlqCommand } from './dlq-command.js';
import { encryptionKeyCommand } from './encryption-key-command.js';
import { EXIT, exitCodeOf } from './exit-codes.js';
import { gatewayCommand } from './gateway-command.js';
import { generateCommand } from './generate-command.js';
import { keysCommand } from './keys-command.js';
import { queueCommand } from './queue-command.js';
import { startCommand } from './start-command.js';
import { streamerCommand } from './streamer-command.js';

/** The whole command tree (its --help, shell completion and tests read it). */
export function gputelProgram(): Command {
  const program = new Command('gputel')
    .description('GPU telemetry pipeline: DCGM CSV → etcd queue → collectors → store → API')
    .version('0.1.0')
    .addCommand(startCommand())
    .addCommand(streamerCommand())
    .addCommand(collectorCommand())
    .addCommand(gatewayCommand())
    .addCommand(generateCommand())
    .addCommand(queueCommand())
    .addCommand(dlqCommand())
    .addCommand(encryptionKeyCommand())
    .addCommand(keysCommand())
    .addCommand(completionCommand());
  for (const command of clientCommands()) program.addCommand(command);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = gputelProgram();
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
