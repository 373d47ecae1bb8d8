/**
 * The error answer of every HTTP route of gputel, `{"error":{"code","message"}}`,
 * as a schema, and the error statuses a route documents: one place for the
 * gateway's API (api-schemas.ts) and the ops routes of every role.
 */
import { Type } from 'typebox';

export const ErrorBody = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'stable code: BAD_REQUEST, GPU_NOT_FOUND, HOST_NOT_FOUND, NOT_FOUND, KV_UNAVAILABLE, INTERNAL, …' }),
      message: Type.String({ description: 'what was wrong, where, and what to do' }),
    }),
  },
  { title: 'Error', description: 'every error answer' },
);

/** What each error status means, for the OpenAPI document. */
const ERROR_MEANING = {
  400: 'BAD_REQUEST: a parameter is unknown, repeated, or not valid; the message names it',
  401: 'UNAUTHORIZED: no API key, or one the gateway does not know (send Authorization: Bearer KEY or X-API-Key)',
  403: 'FORBIDDEN: the API key\'s role may not call this',
  404: 'not found: GPU_NOT_FOUND, HOST_NOT_FOUND or NOT_FOUND (the message says which)',
  409: 'AMBIGUOUS_GPU: the id matches several series (MIG instances, or one UUID under two hostnames); the message lists the ids to use',
  429: 'too many requests: retry after the seconds in Retry-After',
  500: 'INTERNAL: a defect; the request id (x-request-id) finds the details in the logs',
  503: 'KV_UNAVAILABLE or STORE_KEY: the store does not answer, or holds values this gateway cannot open; retry later',
} as const;
export type ErrorStatus = keyof typeof ERROR_MEANING;

/** Every route can answer these. */
const COMMON_ERRORS = [400, 429, 500] as const;
type CommonStatus = (typeof COMMON_ERRORS)[number];

/**
 * Response schemas for a route: its successes, plus the error statuses every
 * route can give and the ones given, each `{"error":{"code","message"}}`.
 */
export function responses<T extends Record<number, object>, E extends ErrorStatus = never>(success: T, ...errors: E[]): T & Record<CommonStatus | E, typeof ErrorBody> {
  const all: Record<number, object> = { ...success };
  for (const status of new Set<ErrorStatus>([...COMMON_ERRORS, ...errors])) {
    if (all[status] === undefined) all[status] = Type.Object(ErrorBody.properties, { title: 'Error', description: ERROR_MEANING[status] });
  }
  return all as T & Record<CommonStatus | E, typeof ErrorBody>;
}
