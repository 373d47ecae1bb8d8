/**
 * Structured JSON logs (pino) on stderr, so that stdout stays free for what a
 * command prints for people and scripts (summaries, tables, JSON output).
 */
import { pino, type Logger } from 'pino';
import type { GputelConfig } from './config.js';

export type { Logger };

/** A root logger for one process; child loggers add `role` and other context. */
export function createLogger(level: GputelConfig['logLevel'], fields: Record<string, unknown> = {}): Logger {
  return pino({ level, base: { pid: process.pid, ...fields }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination(2));
}

/**
 * Sets the level of `root` and so of every logger made from it: a pino child
 * is made with Object.create(parent) and, unless it was given a level of its
 * own, reads its level and log methods from its parent (a live log-level
 * change, docs/configuration.md).
 */
export function setLogLevel(root: Logger, level: GputelConfig['logLevel']): void {
  root.level = level;
}

/**
 * Fastify's childLoggerFactory: the logger of one request, without the
 * level Fastify passes (the server's level when the route was registered),
 * so that it reads the level in effect from its parent and a live change
 * reaches requests too. No route here sets a log level of its own.
 */
export function requestLogger<L extends { child(bindings: pino.Bindings, options?: pino.ChildLoggerOptions): L }>(logger: L, bindings: pino.Bindings, options: pino.ChildLoggerOptions): L {
  const { level: _routeLevel, ...rest } = options;
  return logger.child(bindings, rest);
}
