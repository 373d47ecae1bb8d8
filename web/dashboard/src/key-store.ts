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
