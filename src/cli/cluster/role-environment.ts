/**
 * The environment `gputel cluster up` gives the roles it starts: its own,
 * so that every GPUTEL_* setting reaches every role, less the TLS settings.
 */
import { loadConfig } from '../../common/config.js';
import { GputelError } from '../../common/gputel-error.js';

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

/**
 * Throws BAD_CONFIG when the config file the roles would read (GPUTEL_CONFIG)
 * sets tls-cert: dropping GPUTEL_TLS_* cannot take it out of a file, and the
 * roles would serve HTTPS that the probes and nginx cannot talk to (`up`
 * would time out without saying why). A file that does not load fails here
 * too, with its problems, before any process starts.
 */
export function refuseTlsConfigFile(env: NodeJS.ProcessEnv): void {
  const file = env.GPUTEL_CONFIG;
  if (file === undefined || file === '') return;
  const config = loadConfig({ env: { GPUTEL_CONFIG: file } });
  if (config.tlsCert !== '' || config.tlsKey !== '') {
    throw new GputelError(
      'BAD_CONFIG',
      `the config file ${file} (GPUTEL_CONFIG) sets tls-cert/tls-key: the roles of a local cluster serve plain HTTP on loopback behind nginx, which \`up\` and \`status\` probe over HTTP. Use a config file without TLS for cluster up`,
    );
  }
}
