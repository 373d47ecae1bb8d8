/**
 * Hash routes, so that every view has a URL (deep links, the back button)
 * with no route on the server: `#/` fleet, `#/gpus/<id>`, `#/hosts/<hostname>`,
 * `#/idle`; choices (range, metrics, filters) are the hash's query.
 */
export type Route =
  | { view: 'fleet'; query: URLSearchParams }
  | { view: 'gpu'; id: string; query: URLSearchParams }
  | { view: 'host'; hostname: string; query: URLSearchParams }
  | { view: 'idle'; query: URLSearchParams }
  | { view: 'unknown'; path: string; query: URLSearchParams };

/** The route of a location hash such as `#/gpus/node-1%3A0?range=1h`. */
export function parseRoute(hash: string): Route {
  const text = hash.replace(/^#/, '');
  const q = text.indexOf('?');
  const path = q < 0 ? text : text.slice(0, q);
  const query = new URLSearchParams(q < 0 ? '' : text.slice(q + 1));
  const parts = path.split('/').filter((part) => part !== '');
  const decoded = parts.map((part) => {
    try {
      return decodeURIComponent(part);
    } catch {
      return part;
    }
  });
  if (decoded.length === 0) return { view: 'fleet', query };
  if (decoded[0] === 'gpus' && decoded.length === 2) return { view: 'gpu', id: decoded[1], query };
  if (decoded[0] === 'hosts' && decoded.length === 2) return { view: 'host', hostname: decoded[1], query };
  if (decoded[0] === 'idle' && decoded.length === 1) return { view: 'idle', query };
  return { view: 'unknown', path, query };
}

/** A path segment of a hash route: ':' stays as it is (legal in a fragment, and in every GPU id), so `#/gpus/<id>` reads as the id. */
function hashSegment(value: string): string {
  return encodeURIComponent(value).replace(/%3A/gi, ':');
}

export function gpuHref(id: string): string {
  return `#/gpus/${hashSegment(id)}`;
}

export function hostHref(hostname: string): string {
  return `#/hosts/${hashSegment(hostname)}`;
}

/**
 * Writes a view's choices into the current URL without a navigation (no
 * hashchange, so the view is not rebuilt); a reload or a copied link comes
 * back to the same choices. Empty values are left out.
 */
export function replaceQuery(values: Record<string, string>): void {
  const hash = location.hash.replace(/^#/, '');
  const path = hash.split('?')[0] || '/';
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(values)) if (value !== '') query.set(name, value);
  const text = query.toString();
  history.replaceState(history.state, '', `#${path}${text ? `?${text}` : ''}`);
}
