/**
 * `gputel keys create --role ROLE [--name NAME]`: makes an API key for the
 * gateway (docs/security.md) and prints `{"key":"…","line":"…"}`: the key,
 * shown this once (only its hash is kept), and the line to add to the keys
 * file. `gputel keys check FILE` reads a keys file as the gateway will.
 */
import { Command } from 'commander';
import { API_KEY_ROLES, ApiKeyRing, createApiKey } from '../gateway/security/api-key-ring.js';

export function keysCommand(): Command {
  const create = new Command('create')
    .description('make an API key: prints JSON {"key","line"}; give the key to its user (it is not shown again) and add the line to --api-keys-file')
    .requiredOption('--role <role>', `${API_KEY_ROLES.join(' | ')}: read calls every query (REST, GraphQL, WebSocket, /metrics, docs); ingest is for push ingest; admin calls everything`)
    .option('--name <name>', "the key's name in logs and rate limits: 1-64 letters, digits, '.', '_' or '-' (default: ROLE-DATE-TIME)")
    .action((options: { role: string; name?: string }) => {
      process.stdout.write(JSON.stringify(createApiKey(options.role, options.name)) + '\n');
    });
  const check = new Command('check')
    .description('read a keys file as the gateway will, and list its keys (names and roles)')
    .argument('<file>', 'the keys file')
    .action((file: string) => {
      const ring = ApiKeyRing.load({ file });
      process.stdout.write(`${file}: ${ring.size} key(s): ${ring.describe().map((key) => `${key.name} (${key.role})`).join(', ')}\n`);
    });
  return new Command('keys').description('make and check the API keys of the gateway (--api-keys-file)').addCommand(create).addCommand(check);
}
