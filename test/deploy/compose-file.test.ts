/**
 * deploy/compose.yaml, parsed (no Docker engine runs here): the services of
 * the local topology, etcd's quota and auto-compaction, healthchecks and the
 * start order they gate; and deploy/compose/nginx.conf, read, then run by a
 * real nginx (where it is installed) in front of two HTTP + WebSocket
 * servers standing in for the gateways: requests and a WebSocket go through.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import { parse } from 'yaml';
import { loadConfig } from '../../src/common/config.js';
import { NGINX_CONF, NGINX_MISSING, startComposeNginx, withoutResolveParameter, type LocalNginx } from './compose-nginx.js';
import { REPO_ROOT } from './helm-binary.js';

const COMPOSE_FILE = join(REPO_ROOT, 'deploy/compose.yaml');

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[] | string;
  entrypoint?: string[];
  environment?: Record<string, string>;
  healthcheck?: { test?: string[]; disable?: boolean };
  depends_on?: Record<string, { condition: string }>;
  volumes?: string[];
  ports?: string[];
  init?: boolean;
}

// merge: the file shares settings through YAML merge keys (<<), as Compose reads them.
const compose = parse(readFileSync(COMPOSE_FILE, 'utf8'), { merge: true, uniqueKeys: true }) as { services: Record<string, ComposeService>; volumes: Record<string, unknown> };
const services = compose.services;

function gputelServices(role: string): [string, ComposeService][] {
  return Object.entries(services).filter(([, service]) => Array.isArray(service.command) && service.command[0] === role);
}

describe('deploy/compose.yaml', () => {
  it('runs etcd, 2 streamers, 2 collectors, 2 gateways and a load balancer, every gputel role from the repository Dockerfile', () => {
    assert.equal(gputelServices('streamer').length, 2);
    assert.equal(gputelServices('collector').length, 2);
    assert.equal(gputelServices('gateway').length, 2);
    assert.ok(services.etcd);
    assert.ok(services['load-balancer']);
    for (const role of ['streamer', 'collector', 'gateway']) {
      for (const [name, service] of gputelServices(role)) {
        assert.deepEqual(service.build, { context: '..', dockerfile: 'Dockerfile' }, name);
        assert.ok(existsSync(resolve(dirname(COMPOSE_FILE), service.build!.context, service.build!.dockerfile)), name);
        assert.equal(service.environment?.GPUTEL_ETCD, 'http://etcd:2379', name);
        assert.equal(service.init, true, `${name}: an init forwards SIGTERM so the role drains`);
      }
    }
  });

  it('gives every streamer its own source and every collector its own consumer id', () => {
    const sources = gputelServices('streamer').map(([, s]) => (s.command as string[]).slice(1).filter((arg) => arg !== '--no-progress').join(' '));
    assert.equal(new Set(sources).size, 2, sources.join(' | '));
    const ids = gputelServices('collector').map(([, s]) => (s.command as string[])[(s.command as string[]).indexOf('--consumer-id') + 1]);
    assert.equal(new Set(ids).size, 2);
  });

  it('pins etcd and nginx images and sets etcd quota and auto-compaction', () => {
    for (const name of ['etcd', 'load-balancer']) {
      const image = services[name].image!;
      assert.match(image, /:v?\d+\.\d+\.\d+(-[a-z0-9.]+)?(@sha256:[0-9a-f]{64})?$/, `${name}: ${image} is pinned to an exact version`);
    }
    const command = services.etcd.command as string[];
    const quota = command.find((arg) => arg.startsWith('--quota-backend-bytes='));
    assert.ok(quota && Number(quota.split('=')[1]) >= 2 ** 31, `quota: ${quota}`);
    assert.ok(command.includes('--auto-compaction-mode=periodic'));
    assert.ok(command.some((arg) => /^--auto-compaction-retention=\d+[mh]$/.test(arg)));
    assert.ok(services.etcd.volumes?.some((volume) => volume.endsWith(':/etcd-data')));
    assert.ok(command.includes('--data-dir=/etcd-data'));
  });

  it('health-checks every long-running service and starts each only after what it depends on is healthy', () => {
    for (const [name, service] of Object.entries(services)) {
      if (name === 'sample-csv') continue;
      assert.ok(service.healthcheck?.test && service.healthcheck.disable !== true, `${name} has a healthcheck`);
    }
    assert.deepEqual(services.etcd.healthcheck?.test, ['CMD', 'etcdctl', '--endpoints=http://127.0.0.1:2379', 'endpoint', 'health']);
    for (const [name, service] of Object.entries(services)) {
      for (const [dependency, { condition }] of Object.entries(service.depends_on ?? {})) {
        assert.ok(services[dependency], `${name} depends on ${dependency}, which is not a service`);
        assert.ok(['service_healthy', 'service_completed_successfully'].includes(condition), `${name} → ${dependency}: ${condition}`);
        if (condition === 'service_healthy') assert.ok(services[dependency].healthcheck?.test, `${name} waits for ${dependency} to be healthy, which has no healthcheck`);
      }
    }
    for (const role of ['streamer', 'collector', 'gateway']) {
      for (const [name, service] of gputelServices(role)) assert.equal(service.depends_on?.etcd?.condition, 'service_healthy', name);
    }
    assert.deepEqual(Object.keys(services['load-balancer'].depends_on ?? {}).sort(), gputelServices('gateway').map(([name]) => name).sort());
    assert.equal(services['streamer-csv'].depends_on?.['sample-csv']?.condition, 'service_completed_successfully');
  });

  it("has the gateways believe the load balancer's X-Forwarded-For, and only from Docker's address pools", () => {
    for (const [name, service] of gputelServices('gateway')) {
      const trusted = service.environment?.GPUTEL_TRUST_PROXY;
      assert.ok(trusted, `${name} sets GPUTEL_TRUST_PROXY`);
      // The value gputel itself reads: a typo here would stop every gateway at start.
      assert.deepEqual(loadConfig({ env: { GPUTEL_TRUST_PROXY: trusted } }).trustProxy, ['172.16.0.0/12', '192.168.0.0/16'], name);
    }
    for (const [name, service] of Object.entries(services)) {
      if (!gputelServices('gateway').some(([gateway]) => gateway === name)) assert.equal(service.environment?.GPUTEL_TRUST_PROXY, undefined, `${name} is not a gateway`);
    }
    assert.match(readFileSync(NGINX_CONF, 'utf8'), /proxy_set_header X-Forwarded-For \$remote_addr;/, 'nginx replaces the header with the client it saw (a client cannot choose its address)');
  });

  it('publishes only the load balancer, on loopback', () => {
    for (const [name, service] of Object.entries(services)) {
      if (name === 'load-balancer') assert.deepEqual(service.ports, ['127.0.0.1:8080:8080']);
      else assert.equal(service.ports, undefined, `${name} publishes no port`);
    }
    assert.deepEqual(services['load-balancer'].volumes, ['./compose/nginx.conf:/etc/nginx/nginx.conf:ro']);
  });
});

describe('deploy/compose/nginx.conf', () => {
  const conf = readFileSync(NGINX_CONF, 'utf8');

  it('balances over exactly the gateways of compose.yaml and passes the WebSocket upgrade on', () => {
    const upstreams = [...conf.matchAll(/^\s*server (\S+):(\d+)/gm)].map((m) => `${m[1]}:${m[2]}`);
    assert.deepEqual(upstreams.sort(), gputelServices('gateway').map(([name]) => `${name}:8080`).sort());
    assert.match(conf, /proxy_http_version 1\.1;/);
    assert.match(conf, /proxy_set_header Upgrade \$http_upgrade;/);
    assert.match(conf, /proxy_set_header Connection \$connection_upgrade;/);
    assert.match(conf, /map \$http_upgrade \$connection_upgrade \{\s*default upgrade;\s*''\s*'';\s*\}/);
    assert.match(conf, /proxy_read_timeout 1h;/);
    assert.match(conf, /listen 8080;/);
  });

  it("re-resolves the gateways' names while it runs (a recreated gateway has a new address): resolve on every gateway, a zone, Docker's resolver", () => {
    const serverLines = conf.split('\n').filter((line) => /^\s*server gateway-\d+:/.test(line));
    assert.equal(serverLines.length, gputelServices('gateway').length);
    for (const line of serverLines) assert.match(line, /^\s*server gateway-\d+:8080 (\S+ )*resolve[\s;]/, line.trim());
    assert.match(conf, /upstream gputel_gateways \{[^}]*^\s*zone gputel_gateways \d+k;/m, 'resolve needs the upstream in shared memory');
    assert.match(conf, /^\s*resolver 127\.0\.0\.11( [^;]*)?;/m, "Docker's embedded DNS");
    // The image must be one whose nginx has `resolve` on upstream servers (1.27.3+).
    const [major, minor, patch] = /:(\d+)\.(\d+)\.(\d+)/.exec(services['load-balancer'].image!)!.slice(1).map(Number);
    assert.ok(major > 1 || minor > 27 || (minor === 27 && patch >= 3), `${services['load-balancer'].image} has nginx 1.27.3 or later`);
  });

  it("is run on Debian's nginx 1.22 (which refuses resolve: invalid parameter) with only the servers' resolve parameter taken off", () => {
    const stripped = withoutResolveParameter(conf);
    assert.doesNotMatch(stripped, /^\s*server [^;\n]* resolve[\s;]/m);
    assert.match(stripped, /^\s*server gateway-1:8080 max_fails=2 fail_timeout=5s;/m);
    assert.match(stripped, /^\s*resolver 127\.0\.0\.11/m, 'the resolver directive stays');
    assert.equal(stripped.split('\n').length, conf.split('\n').length);
  });

  it('proxies HTTP to both gateways and a WebSocket through, run by a real nginx', { skip: NGINX_MISSING }, async () => {
    const backends: http.Server[] = [];
    let nginx: LocalNginx | undefined;
    try {
      for (const name of ['gateway-1', 'gateway-2']) {
        const server = http.createServer((request, response) => response.end(`${name} ${request.url}`));
        const sockets = new WebSocketServer({ server, path: '/ws' });
        sockets.on('connection', (socket) => socket.on('message', (data) => socket.send(`${name} echo ${String(data)}`)));
        await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
        backends.push(server);
      }
      nginx = await startComposeNginx(backends.map((server) => (server.address() as AddressInfo).port));
      const answers = new Set<string>();
      for (let i = 0; i < 4; i++) answers.add(await (await fetch(`${nginx.url}/api/v1/gpus?i=${i}`)).text());
      assert.deepEqual([...new Set([...answers].map((answer) => answer.split(' ')[0]))].sort(), ['gateway-1', 'gateway-2'], 'round robin reaches both gateways');
      const socket = new WebSocket(`${nginx.url.replace('http', 'ws')}/ws`);
      const reply = await new Promise<string>((done, fail) => {
        const timer = setTimeout(() => fail(new Error('no WebSocket reply through nginx within 5 s')), 5_000);
        socket.on('open', () => socket.send('hello'));
        socket.on('message', (data) => {
          clearTimeout(timer);
          done(String(data));
        });
        socket.on('error', fail);
      });
      socket.close();
      assert.match(reply, /^gateway-[12] echo hello$/);
    } finally {
      await nginx?.stop();
      await Promise.all(backends.map((server) => new Promise((done) => { server.closeAllConnections(); server.close(done); })));
    }
  });
});
