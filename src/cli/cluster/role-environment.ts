/**
 * The environment `gputel cluster up` gives the roles it starts: its own,
 * so that every GPUTEL_* setting reaches every role, less the TLS settings.
 */

/**
 * GPUTEL_TLS_CERT, GPUTEL_TLS_KEY and any other GPUTEL_TLS_*: a role given
 * them would serve HTTPS, but `up`'s and `status`'s health probes and nginx
 * talk plain HTTP to the roles on loopback, so every role would look dead.
 */
const DROPPED_PREFIX = 'GPUTEL_TLS_';

/** A copy of `env` without the settings the roles of a local cluster must not take (GPUTEL_TLS_*). */
export function roleEnvironment(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([name]) => !name.startsWith(DROPPED_PREFIX)));
}
