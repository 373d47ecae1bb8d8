/**
 * `gputel encryption-key generate [--id ID]`: prints a new key file line;
 * `gputel encryption-key check FILE`: checks a key file as every role will,
 * and says which key seals new writes;
 * `gputel encryption-key reseal`: seals every stored value with the newest
 * key, so that older keys can be retired. See docs/encryption.md.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import type { GputelConfig } from '../common/config.js';
import { GputelError } from '../common/gputel-error.js';
import { EMBEDDED_DB_FILE } from '../kv/embedded-kv-store.js';
import { generateEncryptionKeyLine, loadEncryptionKeyFile } from '../kv/encryption-key-file.js';
import { SealedKvStore, type ResealSummary } from '../kv/sealed-kv-store.js';
import { withClientStore } from './client-store.js';
import { configFrom, withCommonOptions } from './common-options.js';

/** The store reseal would rewrite, in words; refuses (BAD_CONFIG) when none is named or the named embedded store does not exist. */
function resealTarget(config: GputelConfig): string {
  if (config.etcd.length > 0) return `etcd at ${config.etcd.join(',')}`;
  if (config.dataDir === '') {
    throw new GputelError(
      'BAD_CONFIG',
      'gputel encryption-key reseal rewrites every value of one store: name it with --etcd http://HOST:2379 (or GPUTEL_ETCD), or --data-dir DIR (or GPUTEL_DATA_DIR) for an embedded store; it does not default to ./.gputel',
    );
  }
  const dataDir = resolve(config.dataDir);
  if (!existsSync(join(dataDir, EMBEDDED_DB_FILE))) throw new GputelError('BAD_CONFIG', `gputel encryption-key reseal: there is no embedded store at ${dataDir} (--data-dir): give the data dir gputel start uses`);
  return `the embedded store at ${dataDir}`;
}

function describeReseal(summary: ResealSummary): string {
  return `examined ${summary.examined} sealed-key value(s): resealed ${summary.resealed} from older keys, sealed ${summary.sealedPlaintext} plaintext, ${summary.changedMeanwhile} changed meanwhile`;
}

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
  const reseal = withCommonOptions(new Command('reseal'))
    .description('rewrite every stored value that is plaintext or sealed with an older key with the newest key of --encryption-key-file (safe while the roles run)')
    .addHelpText('after', '\nThe store must be named: --etcd URLS, or --data-dir DIR for an embedded store (reseal never defaults to ./.gputel).')
    .action(async (options: Record<string, unknown>) => {
      // No default data dir: a forgotten --etcd must not silently rewrite whatever .gputel the current directory holds.
      const config = configFrom(options, { logLevel: 'warn', dataDir: '' });
      if (config.encryptionKeyFile === '') throw new GputelError('BAD_CONFIG', 'gputel encryption-key reseal needs --encryption-key-file (or GPUTEL_ENCRYPTION_KEY_FILE): its newest key seals every value');
      const store = resealTarget(config);
      process.stdout.write(`resealing every value under ${config.root}/ of ${store}\n`);
      const summary = await withClientStore(config, (kv, keys) => {
        if (!(kv instanceof SealedKvStore)) throw new GputelError('INTERNAL', 'the configured store is not wrapped for encryption');
        return kv.reseal({ prefix: `${keys.root}/` });
      });
      process.stdout.write(`${store}, root ${config.root}: ${describeReseal(summary)}\n`);
      if (summary.changedMeanwhile > 0) process.stdout.write('values changed meanwhile were written by a running role (with its key file\'s newest key); run reseal again once every role uses the new file\n');
    });
  // The shared options name the embedded store ./.gputel as the default, which reseal deliberately does not have.
  const storeHelp: Record<string, string> = {
    '--etcd': 'etcd client URLs, comma-separated, of the store to reseal (or --data-dir)',
    '--data-dir': 'the embedded store to reseal (or --etcd; no default)',
  };
  for (const option of reseal.options) option.description = (option.long !== undefined ? storeHelp[option.long] : undefined) ?? option.description;
  return new Command('encryption-key').description('make, check and roll the keys of --encryption-key-file').addCommand(generate).addCommand(check).addCommand(reseal);
}
