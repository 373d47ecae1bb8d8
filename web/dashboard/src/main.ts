/**
 * The dashboard's entry: routes the location hash to a view, shows the key
 * prompt when the API wants a key, and the live stream's state.
 */
import 'uplot/dist/uPlot.min.css';
import '../dashboard.css';
import { KeyRequiredError } from './api-client.js';
import { el } from './dom.js';
import { FleetView } from './fleet-view.js';
import { GpuView } from './gpu-view.js';
import { HostView } from './host-view.js';
import { IdleView } from './idle-view.js';
import { KeyPrompt } from './key-prompt.js';
import { liveSocket } from './live-socket.js';
import { clearProblem, showProblem } from './problem-banner.js';
import { parseRoute } from './router.js';
import { markReady, waitingForKey, type View } from './view.js';

const main = document.getElementById('view') as HTMLElement;
const liveState = document.getElementById('live-state') as HTMLElement;
const prompt = new KeyPrompt(() => {
  liveSocket.reconnect();
  show();
});
document.getElementById('key-slot')?.append(prompt.element);

let current: View | undefined;
let generation = 0;

function fail(error: unknown): void {
  if (error instanceof DOMException && error.name === 'AbortError') return;
  if (error instanceof KeyRequiredError) {
    prompt.show(error.message);
    if (current !== undefined) waitingForKey(current.element);
    return;
  }
  showProblem(error instanceof Error ? error.message : String(error));
}

function show(): void {
  current?.dispose();
  clearProblem();
  const route = parseRoute(location.hash);
  const view = viewOf(route);
  current = view;
  main.replaceChildren(view.element);
  const mine = ++generation;
  document.title = `gputel · ${titleOf(route)}`;
  for (const link of document.querySelectorAll<HTMLAnchorElement>('header nav a')) link.classList.toggle('current', link.dataset.view === route.view);
  view.start().then(
    () => {
      if (mine === generation) clearProblem();
    },
    (error: unknown) => {
      // A view left before its data came is not this page's problem any more.
      if (mine === generation) fail(error);
    },
  );
}

function viewOf(route: ReturnType<typeof parseRoute>): View {
  switch (route.view) {
    case 'fleet':
      return new FleetView(route.query, fail);
    case 'gpu':
      return new GpuView(route.id, route.query);
    case 'host':
      return new HostView(route.hostname, route.query);
    case 'idle':
      return new IdleView(route.query);
    case 'unknown': {
      const element = el('section', { class: 'view', 'data-testid': 'view-not-found' }, el('h1', {}, 'Not found'), el('p', { 'data-testid': 'not-found' }, `No view at #${route.path}.`), el('p', {}, el('a', { href: '#/' }, 'Back to the fleet')));
      markReady(element);
      return { element, start: async () => undefined, dispose: () => undefined };
    }
  }
}

function titleOf(route: ReturnType<typeof parseRoute>): string {
  return route.view === 'gpu' ? route.id : route.view === 'host' ? route.hostname : route.view;
}

liveSocket.onState = (state, detail) => {
  // Live again: the gateway answers, so an earlier failure to reach it is over.
  if (state === 'live') clearProblem();
  liveState.textContent = state === 'live' ? '● live' : state === 'connecting' ? '○ connecting' : '○ offline';
  liveState.className = `live-state ${state}`;
  liveState.title = detail ?? '';
};

window.addEventListener('hashchange', show);
show();
