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
