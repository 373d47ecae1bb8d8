/** `gputel gateway`: serves the API over the store until stopped. */
import { Command } from 'commander';
import { Gateway } from '../gateway/gateway.js';
import { configFrom, requireEtcd, withCommonOptions } from './common-options.js';
import { gatewayOptionsOf, gatewaySecurityOf, reloadKeysOnSighup } from './gateway-security-options.js';
import { openRoleRuntime } from './role-runtime.js';

export function gatewayCommand(): Command {
  return withCommonOptions(new Command('gateway'), ['log', 'role', 'cluster', 'server', 'gateway'], { etcdRequired: true })
    .description('serve the API over the store: REST (OpenAPI at /openapi.json, Swagger UI at /docs), GraphQL at /graphql, the WebSocket live stream at /ws, health and metrics')
    .action(async (options: Record<string, unknown>) => {
      const config = configFrom(options);
      requireEtcd(config, 'gateway');
      const security = gatewaySecurityOf(config);
      const runtime = await openRoleRuntime(config, 'gateway');
      const gateway = new Gateway(runtime.kv, runtime.keys, gatewayOptionsOf(config, runtime.settings, security, runtime.logger));
      runtime.onStop(() => gateway.stop());
      reloadKeysOnSighup(config, security, runtime.logger);
      const url = await gateway.start();
      runtime.logger.info({ url }, 'gateway listening');
    });
}
