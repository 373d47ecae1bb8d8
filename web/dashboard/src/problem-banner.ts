/**
 * The page's problem banner (`#problem`): the last failure that is not a key
 * problem, in the API's words. It goes away by itself once the gateway
 * answers again (a view's load or refresh succeeds, or the live stream is
 * back), so a recovered gateway leaves no stale error on screen.
 */
function banner(): HTMLElement | null {
  return document.getElementById('problem');
}

export function showProblem(message: string): void {
  const element = banner();
  if (element === null) return;
  element.textContent = message;
  element.hidden = false;
}

export function clearProblem(): void {
  const element = banner();
  if (element !== null && !element.hidden) {
    element.hidden = true;
    element.textContent = '';
  }
}
