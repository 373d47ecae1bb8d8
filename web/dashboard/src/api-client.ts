/**
 * The dashboard's HTTP calls: same-origin GETs with the stored key as
 * `X-API-Key` (docs/security.md). A 401 or 403 is a KeyRequiredError, which
 * the page answers with the key prompt; any other error keeps the API's own
 * message (it says what was wrong and what to do).
 */
import { forgetKey, keyProblem, storedKey } from './key-store.js';

/** The gateway wants a (different) key: the message is the API's. */
export class KeyRequiredError extends Error {
  override name = 'KeyRequiredError';
}

export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The request's headers with the stored key. A key that cannot be a header
 * (one stored before it was checked, or one the browser still refuses) is
 * forgotten and asked for again: kept, it would fail every call until the
 * tab closed.
 */
function headers(extra: Record<string, string> = {}): Headers {
  const key = storedKey();
  if (key === null) return new Headers(extra);
  const problem = keyProblem(key);
  if (problem !== null) {
    forgetKey();
    throw new KeyRequiredError(problem);
  }
  try {
    return new Headers({ ...extra, 'X-API-Key': key });
  } catch (error) {
    forgetKey();
    throw new KeyRequiredError(`The API key cannot be sent (${error instanceof Error ? error.message : String(error)}). Paste the key again.`);
  }
}

async function checked(response: Response, what: string): Promise<Response> {
  if (response.ok) return response;
  let code = 'HTTP_' + response.status;
  let message = `${what} answered ${response.status}`;
  try {
    const body = (await response.json()) as { error?: { code?: string; message?: string } };
    if (body.error?.code) code = body.error.code;
    if (body.error?.message) message = body.error.message;
  } catch {
    // not the API's error shape (a proxy's page): keep the status line
  }
  if (response.status === 401 || response.status === 403) {
    // A key the gateway refused is of no further use: ask again rather than resend it on every call.
    forgetKey();
    throw new KeyRequiredError(message);
  }
  throw new ApiError(response.status, code, message);
}

/** GET `path` (same origin) and parse its JSON. */
export async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  const response = await fetch(path, { headers: headers(), signal });
  return (await checked(response, `GET ${path.split('?')[0]}`)).json() as Promise<T>;
}

/** One GraphQL query (POST /graphql), its `data` or an ApiError with the first error's message. */
export async function graphql<T>(query: string, variables: Record<string, unknown> = {}, signal?: AbortSignal): Promise<T> {
  const response = await fetch('/graphql', {
    method: 'POST',
    headers: headers({ 'Content-Type': 'application/json' }),
    body: JSON.stringify({ query, variables }),
    signal,
  });
  const body = (await (await checked(response, 'POST /graphql')).json()) as { data?: T; errors?: { message: string; extensions?: { code?: string } }[] };
  if (body.errors?.length) {
    const [first] = body.errors;
    if (first.extensions?.code === 'UNAUTHORIZED' || first.extensions?.code === 'FORBIDDEN') {
      // As for REST's 401 and 403: a refused key is not sent again.
      forgetKey();
      throw new KeyRequiredError(first.message);
    }
    throw new ApiError(200, first.extensions?.code ?? 'GRAPHQL', first.message);
  }
  if (body.data === undefined) throw new ApiError(200, 'GRAPHQL', 'POST /graphql answered without data');
  return body.data;
}

/** A path segment: ids hold ':' and hostnames may hold anything. */
export function segment(value: string): string {
  return encodeURIComponent(value);
}
