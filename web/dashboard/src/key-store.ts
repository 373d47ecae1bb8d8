/**
 * The API key the user typed, kept in sessionStorage: it lasts while the tab
 * is open and is never written to the URL (URLs end up in logs and history).
 */
const KEY_STORAGE = 'gputel-api-key';

export function storedKey(): string | null {
  return sessionStorage.getItem(KEY_STORAGE);
}

export function storeKey(key: string): void {
  sessionStorage.setItem(KEY_STORAGE, key);
}

export function forgetKey(): void {
  sessionStorage.removeItem(KEY_STORAGE);
}

/**
 * What an API key may hold, as the CLI checks it (src/cli/client/client-options.ts):
 * printable ASCII without spaces. Anything else (`é`, `€`, a pasted
 * zero-width space) cannot travel in an HTTP header or a WebSocket
 * subprotocol: fetch and WebSocket would throw on it.
 */
const KEY_PATTERN = /^[\x21-\x7e]+$/;

/** Why `key` cannot be an API key, or null when it can. */
export function keyProblem(key: string): string | null {
  return KEY_PATTERN.test(key) ? null : 'An API key is printable ASCII without spaces (as gputel keys create prints it); this one holds another character (an accent, a symbol, or a pasted invisible one). Paste the key again.';
}
