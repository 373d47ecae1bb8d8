/**
 * The commands that run or administer the pipeline (roles, store and queue
 * tools), in the order `gputel --help` lists them. They pull in the store
 * drivers, Fastify and the rest (~0.4 s of loading), so main.ts imports this
 * module only when the command line is not a client command.
 */
import type { Command } from 'commander';
import { clusterCommand } from './cluster/cluster-command.js';
import { collectorCommand } from './collector-command.js';
import { completionCommand } from './completion-command.js';
import { configCommand } from './config-command.js';
import { dlqCommand } from './dlq-command.js';
import { encryptionKeyCommand } from './encryption-key-command.js';
import { gatewayCommand } from './gateway-command.js';
import { generateCommand } from './generate-command.js';
import { keysCommand } from './keys-command.js';
import { queueCommand } from './queue-command.js';
import { startCommand } from './start-command.js';
import { streamerCommand } from './streamer-command.js';

export function roleCommands(): Command[] {
  return [
    startCommand(),
    streamerCommand(),
    collectorCommand(),
    gatewayCommand(),
    generateCommand(),
    queueCommand(),
    configCommand(),
    clusterCommand(),
    dlqCommand(),
    encryptionKeyCommand(),
    keysCommand(),
    completionCommand(),
  ];
}
