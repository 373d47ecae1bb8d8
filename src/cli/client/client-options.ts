/**
 * The options every client command shares: which gateway (`--gateway` or
 * GPUTEL_GATEWAY), with which API key (`--api-key` or GPUTEL_API_KEY), and
 * how to print (`--output`). Flags win over the environment.
 */
import type { Command } from 'commander';
import { GputelError } from '../../common/gputel-error.js';
import { parseDuration } from '../duration.js';
import { outputFormat, terminalColors, type OutputFormat, type TerminalColors } from '../output-format.js';
import { GatewayClient, REQUEST_TIMEOUT_MS } from './gateway-client.js';

export const DEFAULT_GATEWAY = 'http://127.0.0.1:8080';

export interface ClientOptions {
  /** The gateway's base URL, http(s), without a trailing slash. */
  gatewayUrl: string;
  apiKey: string | undefined;
  format: OutputFormat;
  /** How long one request (or the WebSocket handshake) may take. */
  timeoutMs: number;
}

/** What a client command works with: the gateway, the format, the colours of stdout. */
export interface ClientContext {
  client: GatewayClient;
  format: OutputFormat;
  colors: TerminalColors;
}

/** The context of a command from its parsed options (clientOptionsOf()'s checks). */
export function clientContextOf(options: Record<string, unknown>): ClientContext {
  const { gatewayUrl, apiKey, format, timeoutMs } = clientOptionsOf(options);
  return { client: new GatewayClient(gatewayUrl, apiKey, timeoutMs), format, colors: terminalColors() };
}

/** Adds --gateway, --api-key and --output to a client command. */
export function withClientOptions(command: Command): Command {
  return command
    .option('--gateway <url>', `the gateway's URL (or GPUTEL_GATEWAY; default ${DEFAULT_GATEWAY})`)
    .option('--api-key <key>', 'API key sent as X-API-Key (or GPUTEL_API_KEY; prefer the variable: flags show in ps)')
    .option('--output <format>', 'table, json or csv (default: table on a terminal, else json)')
    .option('--timeout <duration>', `longest wait for one answer of the gateway, e.g. 5s (default ${REQUEST_TIMEOUT_MS / 1000}s)`);
}

/** Resolves and checks the shared options; throws BAD_CONFIG naming the bad one. */
export function clientOptionsOf(options: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): ClientOptions {
  const fromFlag = typeof options.gateway === 'string';
  const raw = fromFlag ? (options.gateway as string) : env.GPUTEL_GATEWAY || DEFAULT_GATEWAY;
  const apiKey = typeof options.apiKey === 'string' ? options.apiKey : env.GPUTEL_API_KEY || undefined;
  if (apiKey !== undefined && !/^[\x21-\x7e]+$/.test(apiKey)) {
    throw new GputelError('BAD_CONFIG', `${typeof options.apiKey === 'string' ? '--api-key' : 'GPUTEL_API_KEY'}: an API key is printable ASCII without spaces (as gputel keys create prints it)`);
  }
  return {
    gatewayUrl: gatewayUrlOf(raw, fromFlag ? '--gateway' : 'GPUTEL_GATEWAY'),
    apiKey,
    format: outputFormat(options.output, process.stdout.isTTY === true, ['table', 'json', 'csv']),
    timeoutMs: options.timeout === undefined ? REQUEST_TIMEOUT_MS : parseDuration(String(options.timeout), '--timeout'),
  };
}

/** `host:port` gets http://; anything but http(s) is refused. */
function gatewayUrlOf(raw: string, name: string): string {
  const text = raw.trim();
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new GputelError('BAD_CONFIG', `${name} ${JSON.stringify(raw)} is not a URL: use http://HOST:PORT or https://HOST:PORT`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new GputelError('BAD_CONFIG', `${name} ${JSON.stringify(raw)}: the gateway speaks http:// or https://, not ${url.protocol}//`);
  }
  if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    throw new GputelError('BAD_CONFIG', `${name} ${JSON.stringify(raw)}: give only the scheme, host, port and path (pass the key with --api-key or GPUTEL_API_KEY)`);
  }
  return url.toString().replace(/\/+$/, '');
}
