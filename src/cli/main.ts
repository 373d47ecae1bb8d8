/** The `gputel` command: one binary, a subcommand per role. */
import { Command } from 'commander';
import { GputelError, errorMessage } from '../common/gputel-error.js';
import { clientCommands } from './client/client-commands.js';
import { collectorCommand } from './collector-command.js';
import { dlqCommand } from './dlq-command.js';
import { encryptionKeyCommand } from './encryption-key-command.js';
import { exitCodeOf } from './exit-codes.js';
import { gatewayCommand } from './gateway-command.js';
import { generateCommand } from './generate-command.js';
import { keysCommand } from './keys-command.js';
import { queueCommand } from './queue-command.js';
import { startCommand } from './start-command.js';
import { streamerCommand } from './streamer-command.js';

export async function main(argv: string[]): Promise<void> {
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
    .addCommand(keysCommand());
  for (const command of clientCommands()) program.addCommand(command);
  try {
    await program.parseAsync(argv);
  } catch (error) {
    // Errors a user can act on print as one clear message, not a stack.
    const code = error instanceof GputelError ? error.code : 'INTERNAL';
    process.stderr.write(`gputel: ${errorMessage(error)}${code === 'INTERNAL' && error instanceof Error && error.stack ? `\n${error.stack}` : ''}\n`);
    process.exit(exitCodeOf(error));
  }
}
