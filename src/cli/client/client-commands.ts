/** The commands that talk to a gateway (docs/cli.md, "Client commands"). */
import type { Command } from 'commander';
import { fleetCommands } from './fleet-commands.js';
import { summaryCommands } from './summary-commands.js';
import { telemetryCommand } from './telemetry-command.js';
import { watchCommand } from './watch-command.js';

export function clientCommands(): Command[] {
  return [...fleetCommands(), telemetryCommand(), ...summaryCommands(), watchCommand()];
}
