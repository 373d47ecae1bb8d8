/**
 * A setting that may change while the process runs (live configuration,
 * docs/configuration.md). Components keep the Setting, not a copy of its
 * number, and read `value` where they use it, so a change reaches the next
 * batch, timer or request without a restart; `onChange` is for the few that
 * must act at once (a logger's level).
 */
export interface Setting<T> {
  readonly value: T;
  /** Calls `listener` after each change to a different value; returns the function that stops it. */
  onChange(listener: (value: T) => void): () => void;
}

/** A Setting whose value changes only through `set`. */
export class SettingValue<T> implements Setting<T> {
  private readonly listeners = new Set<(value: T) => void>();

  constructor(private current: T) {}

  get value(): T {
    return this.current;
  }

  onChange(listener: (value: T) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Changes the value and tells the listeners; a value equal (same JSON) to the current one changes nothing. */
  set(value: T): void {
    if (JSON.stringify(value) === JSON.stringify(this.current)) return;
    this.current = value;
    // Every listener hears of the change even when one throws: one component's failure must not keep the
    // value from the others (the errors are thrown together afterwards, for the caller to log).
    const errors: unknown[] = [];
    for (const listener of this.listeners) {
      try {
        listener(value);
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, `${errors.length} listener(s) failed to take the new value: ${errors.map(String).join('; ')}`);
  }
}

/** The value a component was given as a plain number (tests, library use) or as a live Setting. */
export function settingOf<T>(value: T | Setting<T>): Setting<T> {
  return isSetting(value) ? value : new SettingValue(value);
}

function isSetting<T>(value: T | Setting<T>): value is Setting<T> {
  return typeof value === 'object' && value !== null && 'onChange' in value && typeof (value as Setting<T>).onChange === 'function';
}
