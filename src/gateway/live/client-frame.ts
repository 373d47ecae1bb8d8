/**
 * The frames a client sends on the live stream (`GET /ws`), parsed and
 * checked: anything else is refused with an error frame naming what was
 * wrong, and the connection stays open.
 */
import { GputelError } from '../../common/gputel-error.js';
import type { RecordFilter } from '../../store/record-stream.js';

export type ClientFrame = { type: 'subscribe'; id: string; filter: RecordFilter } | { type: 'unsubscribe'; id: string };

/** Longest subscription id accepted, in characters. */
export const MAX_SUBSCRIPTION_ID_CHARS = 128;
/** Most entries in each of a subscription's gpus, hosts and metrics lists. */
export const MAX_FILTER_ENTRIES = 1_000;

const FILTER_LISTS = ['gpus', 'hosts', 'metrics'] as const;
const SUBSCRIBE_FIELDS = new Set<string>(['type', 'id', ...FILTER_LISTS]);
const UNSUBSCRIBE_FIELDS = new Set(['type', 'id']);

/**
 * Parses one text frame. Throws BAD_REQUEST for text that is not JSON, a
 * frame that is not an object, an unknown type or field, a missing or bad id
 * (a non-empty string of at most 128 characters), or a filter list that is
 * not an array of at most 1,000 non-empty strings. The error's `id` is the
 * frame's id when it has a usable one, so a client can tell which request failed.
 */
export function parseClientFrame(text: string): ClientFrame {
  let frame: unknown;
  try {
    frame = JSON.parse(text);
  } catch (error) {
    throw new ClientFrameError(undefined, `the frame is not JSON (${error instanceof Error ? error.message : String(error)}); send {"type":"subscribe","id":"…"}`);
  }
  if (typeof frame !== 'object' || frame === null || Array.isArray(frame)) {
    throw new ClientFrameError(undefined, 'the frame must be a JSON object such as {"type":"subscribe","id":"…"}');
  }
  const fields = frame as Record<string, unknown>;
  const id = typeof fields.id === 'string' && fields.id.length > 0 && fields.id.length <= MAX_SUBSCRIPTION_ID_CHARS ? fields.id : undefined;
  const type = fields.type;
  if (type !== 'subscribe' && type !== 'unsubscribe') {
    throw new ClientFrameError(id, `unknown frame type ${JSON.stringify(type)}: send "subscribe" or "unsubscribe"`);
  }
  const allowed = type === 'subscribe' ? SUBSCRIBE_FIELDS : UNSUBSCRIBE_FIELDS;
  const unknown = Object.keys(fields).find((name) => !allowed.has(name));
  if (unknown !== undefined) throw new ClientFrameError(id, `unknown field "${unknown.slice(0, 40)}" in a ${type} frame; it takes ${[...allowed].join(', ')}`);
  if (id === undefined) throw new ClientFrameError(undefined, `a ${type} frame needs an "id": a non-empty string of at most ${MAX_SUBSCRIPTION_ID_CHARS} characters`);
  if (type === 'unsubscribe') return { type, id };
  const filter: RecordFilter = {};
  for (const name of FILTER_LISTS) {
    const list = fields[name];
    if (list === undefined) continue;
    if (!Array.isArray(list) || list.length > MAX_FILTER_ENTRIES || !list.every((entry) => typeof entry === 'string' && entry.length > 0)) {
      throw new ClientFrameError(id, `"${name}" must be an array of at most ${MAX_FILTER_ENTRIES} non-empty strings`);
    }
    filter[name] = list as string[];
  }
  return { type, id, filter };
}

/** A bad client frame: BAD_REQUEST, with the frame's id when it had a usable one. */
export class ClientFrameError extends GputelError {
  constructor(
    readonly frameId: string | undefined,
    message: string,
  ) {
    super('BAD_REQUEST', message);
  }
}
