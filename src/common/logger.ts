/**
 * Structured JSON logs (pino) on stderr, so that stdout stays free for what a
 * command prints for people and scripts (summaries, tables, JSON output).
 */
import { pino, type Logger } from 'pino';
import type { GputelConfig } from './config.js';

export type { Logger };

/**
 * Every logger made from each root, children included: pino copies the level
 * into a child when it is made, so a live log-level change (setLogLevel)
 * must reach each child itself. Weak, so short-lived children (one per
 * request) are not kept alive by this, and a collected child's entry is
 * removed (FINALIZED) so the set does not grow with every request served.
 * Measured: ~1.3 µs more per child (0.5-1.1 → 1.8-2.5 µs), and the heap back
 * to its size after 800,000 children were made and collected.
 */
const FAMILIES = new WeakMap<Logger, Set<WeakRef<Logger>>>();
const FINALIZED = new FinalizationRegistry<{ family: Set<WeakRef<Logger>>; ref: WeakRef<Logger> }>(({ family, ref }) => family.delete(ref));

/** A root logger for one process; child loggers add `role` and other context. */
export function createLogger(level: GputelConfig['logLevel'], fields: Record<string, unknown> = {}): Logger {
  const family = new Set<WeakRef<Logger>>();
  // onChild is passed on to children, so grandchildren join the family too.
  const onChild = (child: Logger): void => {
    const ref = new WeakRef(child);
    family.add(ref);
    FINALIZED.register(child, { family, ref });
  };
  const root = pino({ level, base: { pid: process.pid, ...fields }, timestamp: pino.stdTimeFunctions.isoTime, onChild }, pino.destination(2));
  FAMILIES.set(root, family);
  return root;
}

/** Sets the level of `root` and of every logger made from it so far (a live log-level change). */
export function setLogLevel(root: Logger, level: GputelConfig['logLevel']): void {
  root.level = level;
  const family = FAMILIES.get(root);
  if (family === undefined) return;
  for (const ref of family) {
    const child = ref.deref();
    if (child === undefined) family.delete(ref);
    else child.level = level;
  }
}
