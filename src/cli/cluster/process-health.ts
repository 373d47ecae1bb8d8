/** Whether a process of the local cluster is alive and serving, asked the way each one answers. */
import { errorMessage } from '../../common/gputel-error.js';
import type { ClusterProcess } from './cluster-state.js';
import { httpUrl } from './listen-address.js';
import { NGINX_HEALTH_PATH } from './nginx-config.js';
import { isSameProcess } from './process-identity.js';

export interface ProcessHealth {
  healthy: boolean;
  /** Why not, for people: "exited", "/readyz answered 503: …", "connection refused". */
  problem?: string;
}

const PROBE_TIMEOUT_MS = 2_000;

/**
 * Alive (the recorded pid is still the process started) and serving, asked
 * at the address it listens on (a wildcard one on loopback): etcd's
 * /health says true; a gputel role answers 200 on /healthz and /readyz of its
 * port; nginx answers its own health path. Never throws.
 */
export async function probeProcess(entry: ClusterProcess): Promise<ProcessHealth> {
  if (!isSameProcess(entry.pid, entry.startTime, entry.command[0])) return { healthy: false, problem: 'not running' };
  // Asked where it listens: nginx listens on --host only, which may not be 127.0.0.1.
  const base = httpUrl(entry.host, entry.port);
  try {
    if (entry.role === 'etcd') {
      const response = await fetch(`${base}/health`, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
      const text = await response.text();
      return response.ok && /"health":\s*"true"/.test(text) ? { healthy: true } : { healthy: false, problem: `/health answered ${response.status}: ${text.slice(0, 200)}` };
    }
    const paths = entry.role === 'nginx' ? [NGINX_HEALTH_PATH] : ['/healthz', '/readyz'];
    for (const probePath of paths) {
      const response = await fetch(`${base}${probePath}`, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
      const text = await response.text();
      if (!response.ok) return { healthy: false, problem: `${probePath} answered ${response.status}: ${text.slice(0, 300)}` };
    }
    return { healthy: true };
  } catch (error) {
    const cause = (error as { cause?: unknown }).cause;
    return { healthy: false, problem: errorMessage(cause ?? error) };
  }
}
