import { ApiError } from './api-client.js';
import { el } from './dom.js';
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

/**
 * Marks the view holding `element` as (re)loading: data-ready is "false"
 * from a range or metric choice until the new view has drawn, so a reader
 * of the page never takes the old charts for the new ones.
 */
export function markLoading(element: Element): void {
  const root = element.closest<HTMLElement>('[data-ready]');
  if (root !== null) root.dataset.ready = 'false';
}

/** Goes to `hash` (a new history entry); the view is loading from now on, unless the page is there already (no hash change, so no new view). */
export function navigateTo(from: Element, hash: string): void {
  const before = location.hash;
  location.hash = hash;
  if (location.hash !== before) markLoading(from);
}

/** The placeholder a view shows until its data is drawn (replaced under the key prompt: see waitingForKey). */
export function loadingNote(): HTMLElement {
  return el('p', { class: 'muted loading' }, 'Loading…');
}

/** Under the key prompt, the view says what it waits for instead of "Loading…" forever. */
export function waitingForKey(view: HTMLElement): void {
  for (const note of view.querySelectorAll('.loading')) note.textContent = 'Waiting for an API key (above) to load this view.';
}

/** Whether the API answered 404 (an id or hostname it does not know). */
export function isNotFound(error: unknown): boolean {
  return error instanceof ApiError && error.status === 404;
}

/**
 * A view's not-found state: what was asked, the API's word on it, and a way
 * back, as the unknown-route page has. The view is drawn (data-ready), as
 * this is its answer, not a failure to load.
 */
export function showNotFound(view: HTMLElement, what: string, message: string): void {
  view.replaceChildren(el('h1', {}, 'Not found'), el('p', { 'data-testid': 'not-found' }, what), el('p', { class: 'muted small' }, message), el('p', {}, el('a', { href: '#/' }, 'Back to the fleet')));
  markReady(view);
}

/** Repeats `task` every `ms` while the view lives, reporting failures (and clearing the banner when it works again); returns the stopper. */
export function every(ms: number, task: () => Promise<void>, fail: FailureReporter): () => void {
  const timer = window.setInterval(() => {
    task().then(clearProblem, fail);
  }, ms);
  return () => window.clearInterval(timer);
}
