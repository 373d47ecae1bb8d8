/**
 * The API key prompt: shown when the API answers 401 (no key, or one it does
 * not know) or 403 (a key whose role may not read). The key goes to
 * sessionStorage and the current view is loaded again. A key that could not
 * travel in a header (outside printable ASCII) is refused here, saying why.
 */
import { el } from './dom.js';
import { keyProblem, storeKey } from './key-store.js';

export class KeyPrompt {
  readonly element: HTMLFormElement;
  private readonly input = el('input', { type: 'password', name: 'api-key', autocomplete: 'off', spellcheck: 'false', 'aria-label': 'API key', size: '48', 'data-testid': 'api-key-input' });
  private readonly reason = el('p', { class: 'reason', role: 'alert', 'data-testid': 'key-prompt-reason' });

  constructor(onKey: () => void) {
    this.element = el(
      'form',
      { class: 'key-prompt', 'data-testid': 'key-prompt' },
      el('h2', {}, 'This gateway needs an API key'),
      this.reason,
      el('p', { class: 'muted small' }, 'A key of role read (gputel keys create). It is kept in this tab only (sessionStorage) and sent as X-API-Key.'),
      el('label', {}, 'API key ', this.input),
      el('button', { type: 'submit' }, 'Use key'),
    );
    this.element.hidden = true;
    this.element.addEventListener('submit', (event) => {
      event.preventDefault();
      const key = this.input.value.trim();
      if (key === '') return;
      const problem = keyProblem(key);
      if (problem !== null) {
        // Stored, it would make every request throw (a header cannot hold it): say so here instead.
        this.show(problem);
        return;
      }
      storeKey(key);
      this.input.value = '';
      this.element.hidden = true;
      onKey();
    });
  }

  /** Shows the prompt with the API's reason. */
  show(reason: string): void {
    this.reason.textContent = reason;
    this.element.hidden = false;
    this.input.focus();
  }
}
