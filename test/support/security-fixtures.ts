/**
 * What the security tests share: certificates made with `openssl` in a temp
 * dir (a CA, a server certificate for 127.0.0.1 and localhost, a client
 * certificate), a gateway on the in-memory embedded store with given
 * security options, and WebSocket routes to test upgrades against.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { createLogger, type Logger } from '../../src/common/logger.js';
import { Gateway } from '../../src/gateway/gateway.js';
import type { GatewaySecurityOptions } from '../../src/gateway/security/gateway-security.js';
import { KeySpace } from '../../src/kv/key-space.js';
import type { KvStore } from '../../src/kv/kv-store.js';
import { openKvStore } from '../../src/kv/open-kv-store.js';

export interface TestCertificates {
  caFile: string;
  /** Server certificate for IP 127.0.0.1 and DNS localhost, signed by the CA. */
  certFile: string;
  keyFile: string;
  /** Client certificate (CN `clientName`, extendedKeyUsage clientAuth), signed by the CA. */
  clientCertFile: string;
  clientKeyFile: string;
  /** A second, self-signed certificate and key that do not belong together with the first. */
  otherKeyFile: string;
}

/** Whether `openssl` can be run; tests that need certificates skip with this message when not. */
export function opensslMissing(): string | false {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return false;
  } catch {
    return 'openssl is not installed (apt-get install -y openssl): the TLS tests need it to make certificates';
  }
}

/** Makes the certificates in `dir` (short-lived RSA 2048; about a second of openssl). */
export function makeTestCertificates(dir: string, clientName = 'root'): TestCertificates {
  const file = (name: string): string => join(dir, name);
  const openssl = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  };
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=gputel-test-ca');
  writeFileSync(file('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'server.ext');
  writeFileSync(file('client.ext'), 'extendedKeyUsage=clientAuth\n');
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'client.key', '-out', 'client.csr', '-subj', `/CN=${clientName}`);
  openssl('x509', '-req', '-in', 'client.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'client.crt', '-days', '2', '-extfile', 'client.ext');
  openssl('genrsa', '-out', 'other.key', '2048');
  return {
    caFile: file('ca.crt'),
    certFile: file('server.crt'),
    keyFile: file('server.key'),
    clientCertFile: file('client.crt'),
    clientKeyFile: file('client.key'),
    otherKeyFile: file('other.key'),
  };
}

export interface SecuredGateway {
  gateway: Gateway;
  kv: KvStore;
  /** http(s)://127.0.0.1:PORT */
  baseUrl: string;
  stop(): Promise<void>;
}

/**
 * A gateway on 127.0.0.1 over a new in-memory embedded store, with
 * `security`, `logger` (silent by default), and the test's
 * own `routes` added before it starts; `dashboardDir` replaces the built dashboard's folder.
 */
export async function startSecuredGateway(security: GatewaySecurityOptions, options: { logger?: Logger; routes?: (app: FastifyInstance) => void; dashboardDir?: string } = {}): Promise<SecuredGateway> {
  const kv = await openKvStore({ dataDir: ':memory:' });
  let gateway: Gateway;
  try {
    gateway = new Gateway(kv, new KeySpace('/gputel'), { cluster: 'default', host: '127.0.0.1', port: 0, logger: options.logger ?? createLogger('silent'), security, dashboardDir: options.dashboardDir });
    options.routes?.(gateway.app);
    await gateway.start();
  } catch (error) {
    await kv.close();
    throw error;
  }
  const started = gateway;
  return {
    gateway,
    kv,
    baseUrl: `${security.tls === undefined ? 'http' : 'https'}://127.0.0.1:${gateway.port}`,
    async stop() {
      await started.stop();
      await kv.close();
    },
  };
}
