import { clearProblem } from './problem-banner.js';

/** What every view is: its root element (with `data-testid="view-…"` and `data-ready`) and what it holds open. */
export interface View {
  readonly element: HTMLElement;
  /** Loads its first data and draws it (then sets data-ready); rejects with what went wrong. */
  start(): Promise<void>;
  /** Stops its timers, subscriptions and requests. */
  dispose(): void;
}

/** What a view reports its failures to: the page shows the key prompt for a KeyRequiredError, a message otherwise. */
export type FailureReporter = (error: unknown) => void;

/** Marks a view's first data as drawn (the browser tests wait for this). */
export function markReady(element: HTMLElement): void {
  element.dataset.ready = 'true';
}

/** Repeats `task` every `ms` while the view lives, reporting failures (and clearing the banner when it works again); returns the stopper. */
export function every(ms: number, task: () => Promise<void>, fail: FailureReporter): () => void {
  const timer = window.setInterval(() => {
    task().then(clearProblem, fail);
  }, ms);
  return () => window.clearInterval(timer);
}
