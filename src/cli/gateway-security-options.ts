/**
 * The gateway's security settings (docs/security.md) as `gputel gateway` and
 * `gputel start` pass them on: the API keys are read and checked here, before
 * the store is opened, so a bad keys file stops the start with its line.
 */
import type { GputelConfig } from '../common/config.js';
import type { LiveSettings } from '../common/live-settings.js';
import type { Logger } from '../common/logger.js';
import type { GatewayOptions } from '../gateway/gateway.js';
import { ApiKeyRing } from '../gateway/security/api-key-ring.js';
import { gatewayServerOptions, type GatewaySecurityOptions } from '../gateway/security/gateway-security.js';
import { assertProtectedMode } from '../gateway/security/protected-mode.js';

/**
 * Throws BAD_CONFIG naming the file (or GPUTEL_API_KEYS) and line of a bad
 * key line, a TLS file that cannot serve, or a start protected mode refuses:
 * all checked now, before anything is opened (the Gateway checks them again).
 */
export function gatewaySecurityOf(config: GputelConfig): GatewaySecurityOptions {
  const security: GatewaySecurityOptions = {
    keys: ApiKeyRing.load({ file: config.apiKeysFile, inline: config.apiKeys }),
    insecure: config.insecure,
    ...(config.tlsCert === '' ? {} : { tls: { certFile: config.tlsCert, keyFile: config.tlsKey } }),
    rateLimit: config.rateLimit,
    corsOrigins: config.corsOrigins,
    trustProxy: config.trustProxy,
  };
  assertProtectedMode({ host: config.host, keyCount: security.keys?.size ?? 0, insecure: config.insecure });
  gatewayServerOptions(security);
  return security;
}

/**
 * Reloads the API keys on SIGHUP (keys added or revoked without a restart).
 * A reload that fails keeps the keys in use and logs why. Nothing to reload
 * when the gateway started without keys: protected mode decided on those.
 */
export function reloadKeysOnSighup(config: GputelConfig, security: GatewaySecurityOptions, logger: Logger): void {
  const ring = security.keys;
  if (ring === undefined || ring.size === 0) return;
  process.on('SIGHUP', () => {
    try {
      ring.replaceWith(ApiKeyRing.load({ file: config.apiKeysFile, inline: config.apiKeys }));
      logger.info({ apiKeys: ring.describe() }, 'API keys reloaded (SIGHUP)');
    } catch (error) {
      logger.error({ err: error }, 'API keys not reloaded (SIGHUP); the keys in use stay');
    }
  });
}

/** A gateway's options as `gputel gateway` and `gputel start` give them: listening where the config says, following the live settings. */
export function gatewayOptionsOf(config: GputelConfig, settings: LiveSettings, security: GatewaySecurityOptions, logger: Logger): GatewayOptions {
  return {
    cluster: config.cluster,
    host: config.host,
    port: config.port,
    staleAfterMs: settings.setting('staleAfterMs'),
    idleThreshold: settings.setting('idleThreshold'),
    settings,
    logger,
    security: { ...security, rateLimit: settings.setting('rateLimit') },
  };
}
