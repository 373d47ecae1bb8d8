/** A GraphQL client for tests: queries over HTTP, subscriptions over graphql-ws (the `ws` package as the socket). */
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

export interface GraphqlError {
  message: string;
  path?: (string | number)[];
  extensions?: { code?: string };
}

export interface GraphqlAnswer<T = Record<string, unknown>> {
  status: number;
  body: { data?: T | null; errors?: GraphqlError[] };
}

/** POSTs `query` to `${baseUrl}/graphql`. */
export async function gql<T = Record<string, unknown>>(baseUrl: string, query: string, variables?: Record<string, unknown>): Promise<GraphqlAnswer<T>> {
  const response = await fetch(`${baseUrl}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
  return { status: response.status, body: (await response.json()) as GraphqlAnswer<T>['body'] };
}

/** A graphql-ws client of the gateway at `baseUrl` that does not reconnect (a test wants to see a refusal). */
export function wsClient(baseUrl: string): Client {
  return createClient({ url: `${baseUrl.replace(/^http/, 'ws')}/graphql`, webSocketImpl: WebSocket, retryAttempts: 0, lazy: true });
}

/** A running subscription: what it received so far, and its end. */
export interface TestSubscription<T> {
  readonly events: T[];
  /** Resolves with the errors the server sent, or [] when it completed. */
  readonly ended: Promise<readonly GraphqlError[]>;
  stop(): void;
}

export function subscribe<T = Record<string, unknown>>(client: Client, query: string, variables?: Record<string, unknown>): TestSubscription<T> {
  const events: T[] = [];
  let stop = (): void => {};
  const ended = new Promise<readonly GraphqlError[]>((resolve) => {
    stop = client.subscribe<T>(
      { query, variables },
      {
        next: (value) => {
          if (value.data) events.push(value.data as T);
        },
        error: (error) => resolve(Array.isArray(error) ? (error as GraphqlError[]) : [{ message: String((error as { message?: unknown })?.message ?? error) }]),
        complete: () => resolve([]),
      },
    );
  });
  return { events, ended, stop: () => stop() };
}

/** `promise`, or a rejection naming `what` after `timeoutMs`: a test that waits for a server's answer stops by itself. */
export async function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** `snake_case` keys → `camelCase`, deeply: a REST body in GraphQL's names. */
export function camelKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(camelKeys);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase()), camelKeys(inner)]));
}
