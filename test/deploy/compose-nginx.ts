/**
 * deploy/compose/nginx.conf run by a real nginx on this machine, with only
 * its addresses changed: it listens on a free loopback port and balances over
 * the given local ports instead of the Compose services gateway-1, gateway-2.
 * The servers' `resolve` parameter goes too: Debian's nginx (1.22) does not
 * have it (it came to open-source nginx in 1.27.3), and it re-resolves names,
 * which local addresses are not. The `zone` and the `resolver` (Docker's DNS)
 * stay: 1.22 knows both, and nothing asks the resolver about an address.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findFreePort } from '../support/etcd-process.js';
import { waitFor } from '../support/wait-for.js';
import { REPO_ROOT } from './helm-binary.js';

export const NGINX_CONF = join(REPO_ROOT, 'deploy/compose/nginx.conf');
/** Debian's nginx, when installed; undefined otherwise (the tests that need it say how to install it). */
export const NGINX_BINARY = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((path) => existsSync(path));
export const NGINX_MISSING = NGINX_BINARY === undefined && 'nginx is not installed (sudo apt-get install -y nginx)';

export interface LocalNginx {
  /** http://127.0.0.1:PORT */
  url: string;
  /** Stops the nginx this started (by pid) and removes its folder. */
  stop(): Promise<void>;
}

/** Starts nginx with the Compose config, gateway-N:8080 replaced by 127.0.0.1:gatewayPorts[N-1]; resolves once it answers. */
export async function startComposeNginx(gatewayPorts: number[]): Promise<LocalNginx> {
  assert.ok(NGINX_BINARY, NGINX_MISSING || '');
  const folder = mkdtempSync(join(tmpdir(), 'gputel-nginx-'));
  const listenPort = await findFreePort();
  let conf = readFileSync(NGINX_CONF, 'utf8').replace('listen 8080;', `listen 127.0.0.1:${listenPort};`);
  gatewayPorts.forEach((port, i) => {
    conf = conf.replace(`server gateway-${i + 1}:8080`, `server 127.0.0.1:${port}`);
  });
  assert.doesNotMatch(conf, /server gateway-\d+:/, 'every gateway of the config was given a local port');
  conf = withoutResolveParameter(conf);
  writeFileSync(join(folder, 'nginx.conf'), conf);
  // Foreground, one process, pid file and logs in the folder: nothing outside it is touched.
  const args = ['-p', folder, '-c', join(folder, 'nginx.conf'), '-e', join(folder, 'error.log'), '-g', `daemon off; master_process off; pid ${folder}/nginx.pid; error_log ${folder}/error.log;`];
  const check = spawnSync(NGINX_BINARY, ['-t', ...args], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(check.status, 0, `nginx -t: ${check.stderr}`);
  const nginx = spawn(NGINX_BINARY, args, { stdio: 'ignore' });
  const exited = new Promise((done) => nginx.once('exit', done));
  const url = `http://127.0.0.1:${listenPort}`;
  const stop = async (): Promise<void> => {
    if (nginx.exitCode === null && nginx.signalCode === null) {
      process.kill(nginx.pid!, 'SIGTERM');
      await exited;
    }
    rmSync(folder, { recursive: true, force: true });
  };
  try {
    await waitFor('nginx to answer', 5_000, async () => (await fetch(`${url}/nginx-health`).catch(() => undefined))?.ok || undefined);
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, stop };
}

/** `conf` with the `resolve` parameter taken off its upstream `server` lines (not the `resolver` directive). */
export function withoutResolveParameter(conf: string): string {
  return conf.replace(/^(\s*server \S+[^;\n]*?) resolve(?=[\s;])/gm, '$1');
}
