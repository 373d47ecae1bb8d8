/**
 * The load balancer's nginx.conf (src/cli/cluster/nginx-config.ts): checked
 * by the real nginx (`nginx -t`), and for what it must say about WebSocket
 * upgrades, timeouts, passive health and the paths it writes to.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { findClusterBinaries } from '../../src/cli/cluster/cluster-binaries.js';
import { hardOpenFilesLimit, nginxConfig } from '../../src/cli/cluster/nginx-config.js';
import { gputelError } from '../support/gputel-error-check.js';

describe('cluster load balancer: nginx configuration', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'gputel-nginx-conf-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const options = { listenHost: '127.0.0.1', listenPort: 44123, gateways: ['127.0.0.1:40001', '127.0.0.1:40002'], runDir: path.join(dir, 'run'), logDir: path.join(dir, 'logs') };

  it('is accepted by the real nginx, with no system configuration', () => {
    mkdirSync(options.runDir, { recursive: true });
    mkdirSync(options.logDir, { recursive: true });
    const file = path.join(dir, 'nginx.conf');
    writeFileSync(file, nginxConfig(options));
    const { nginx } = findClusterBinaries();
    const result = spawnSync(nginx, ['-t', '-q', '-p', options.runDir, '-c', file, '-e', path.join(options.logDir, 'nginx-error.log')], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(result.status, 0, result.stderr);
  });

  it('balances over every gateway, passing one that fails over to the next', () => {
    const text = nginxConfig(options);
    assert.match(text, /upstream gputel_gateways \{\n {4}server 127\.0\.0\.1:40001 max_fails=0;\n {4}server 127\.0\.0\.1:40002 max_fails=0;/);
    assert.match(text, /proxy_next_upstream error timeout http_502 http_503 http_504;/);
    assert.match(text, /listen 127\.0\.0\.1:44123;/);
  });

  it('passes WebSocket upgrades on and keeps quiet streams open for an hour', () => {
    const text = nginxConfig(options);
    assert.match(text, /map \$http_upgrade \$connection_upgrade \{\n {4}default upgrade;/);
    assert.match(text, /proxy_http_version 1\.1;/);
    assert.match(text, /proxy_set_header Upgrade \$http_upgrade;/);
    assert.match(text, /proxy_set_header Connection \$connection_upgrade;/);
    assert.match(text, /proxy_read_timeout 1h;/);
  });

  it('writes its pid, temp files and logs under the cluster folder only', () => {
    const text = nginxConfig(options);
    const paths = [...text.matchAll(/^\s*(?:pid|error_log|access_log|\w+_temp_path) (\S+)/gm)].map((match) => match[1].replace(/;$/, ''))
      .filter((value) => value !== 'off');
    assert.equal(paths.length, 8, paths.join());
    for (const written of paths) assert.ok(written.startsWith(dir), `${written} is under ${dir}`);
  });

  it('takes as many connections as the machine\'s file limit allows (two per proxied client), 4,096 when it is unknown', () => {
    assert.match(nginxConfig({ ...options, maxOpenFiles: 20_000 }), /^worker_rlimit_nofile 20000;$[\s\S]*worker_connections 19936;/m);
    assert.match(nginxConfig({ ...options, maxOpenFiles: 1_048_576 }), /^worker_rlimit_nofile 65536;$[\s\S]*worker_connections 65472;/m);
    const text = nginxConfig({ ...options, maxOpenFiles: 0 });
    assert.doesNotMatch(text, /worker_rlimit_nofile/);
    assert.match(text, /worker_connections 4096;/);
    // A limit under the usual: what it allows, less the files kept apart.
    assert.match(nginxConfig({ ...options, maxOpenFiles: 1_024 }), /worker_connections 960;/);
    assert.match(nginxConfig({ ...options, maxOpenFiles: Infinity }), /^worker_rlimit_nofile 65536;$/m);
    const limits = 'Limit                     Soft Limit           Hard Limit           Units     \nMax open files            1024                 20000                files     \n';
    assert.equal(hardOpenFilesLimit(limits), 20_000);
    assert.equal(hardOpenFilesLimit('Max open files            unlimited            unlimited            files     \n'), Infinity);
    assert.equal(hardOpenFilesLimit('Max processes             1024                 1024                 processes \n'), undefined);
  });

  it('listens on an IPv6 address in brackets', () => {
    assert.match(nginxConfig({ ...options, listenHost: '::1' }), /listen \[::1\]:44123;/);
  });

  it('refuses no gateway, and a path that would break the configuration\'s syntax', () => {
    assert.throws(() => nginxConfig({ ...options, gateways: [] }), gputelError('BAD_CONFIG', /at least one gateway/));
    assert.throws(() => nginxConfig({ ...options, runDir: '/tmp/a b;' }), gputelError('BAD_CONFIG', /cannot write "\/tmp\/a b;" into the nginx configuration/));
  });
});
