/**
 * `gputel encryption-key generate [--id ID]`: prints a new key file line;
 * `gputel encryption-key check FILE`: checks a key file as every role will,
 * and says which key seals new writes. See docs/encryption.md.
 */
import { Command } from 'commander';
import { generateEncryptionKeyLine, loadEncryptionKeyFile } from '../kv/encryption-key-file.js';

export function encryptionKeyCommand(): Command {
  const generate = new Command('generate')
    .description('print a new key line (ID:64 hex digits of 32 random bytes); append it to the key file to make it the newest key')
    .option('--id <id>', "the key's id: 1-64 letters, digits, '.', '_' or '-' (default: k + the UTC date and time)")
    .action((options: { id?: string }) => {
      process.stdout.write(generateEncryptionKeyLine(options.id) + '\n');
    });
  const check = new Command('check')
    .description('check a key file as the roles read it, and name the key that seals new writes')
    .argument('<file>', 'the key file')
    .action((file: string) => {
      const ring = loadEncryptionKeyFile(file);
      for (const warning of ring.warnings) process.stderr.write(`warning: ${warning}\n`);
      process.stdout.write(`${file}: ${ring.keys.size} key(s) (${[...ring.keys.keys()].join(', ')}); new writes are sealed with "${ring.newest.id}"\n`);
    });
  return new Command('encryption-key').description('make and check the keys of --encryption-key-file').addCommand(generate).addCommand(check);
}
