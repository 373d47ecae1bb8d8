/**
 * The etcd client over TLS (--etcd-ca, --etcd-cert, --etcd-key) and with
 * user/password auth (--etcd-user, --etcd-password / GPUTEL_ETCD_PASSWORD),
 * against a REAL etcd serving certificates made in the test with openssl:
 * the driver, every role of the pipeline (samples counted in and out) and an
 * etcd-using CLI command, and the errors that name the setting to fix.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GputelError } from '../../src/common/gputel-error.js';
import { openKvStore, type EtcdSecurityConfig } from '../../src/kv/open-kv-store.js';
import { EXIT } from '../../src/cli/exit-codes.js';
import { readOracle } from '../support/csv-oracle.js';
import { startEtcd, type EtcdProcess } from '../support/etcd-process.js';
import { runGputel } from '../support/gputel-process.js';
import { usePipelineHarness } from '../support/pipeline-harness.js';
import { makeTestCertificates, opensslMissing, type TestCertificates } from '../support/security-fixtures.js';

const skip = opensslMissing();

/** Opens the etcd driver with `security`, writes and reads one key, closes it; resolves with the value read. */
async function roundTrip(endpoints: string[], security: EtcdSecurityConfig): Promise<string> {
  // root: the driver's probes read under it, where a restricted etcd user may read.
  const kv = await openKvStore({ endpoints, root: '/tls-test', etcdSecurity: security, dialTimeoutMs: 1_500 });
  try {
    await kv.put('/tls-test/key', Buffer.from('through tls'));
    return (await kv.get('/tls-test/key'))?.value.toString() ?? '';
  } finally {
    await kv.close();
  }
}

function refusedWith(code: string, message: RegExp): (error: unknown) => boolean {
  return (error) => error instanceof GputelError && error.code === code && message.test(error.message);
}

/**
 * etcd's HTTP gateway on its plain client URL, doing what `etcdctl role add /
 * user add / user grant-role / auth enable` do: a root user, and a user
 * `gputel` whose role may read and write only under `/tls-test/`.
 */
async function enableEtcdAuth(plainUrl: string, password: string): Promise<void> {
  const base64 = (text: string): string => Buffer.from(text).toString('base64');
  for (const [path, body] of [
    ['/v3/auth/role/add', { name: 'root' }],
    ['/v3/auth/user/add', { name: 'root', password }],
    ['/v3/auth/user/grant', { user: 'root', role: 'root' }],
    ['/v3/auth/role/add', { name: 'gputel' }],
    ['/v3/auth/role/grant', { name: 'gputel', perm: { permType: 'READWRITE', key: base64('/tls-test/'), range_end: base64('/tls-test0') } }],
    ['/v3/auth/user/add', { name: 'gputel', password }],
    ['/v3/auth/user/grant', { user: 'gputel', role: 'gputel' }],
    ['/v3/auth/enable', {}],
  ] as const) {
    const response = await fetch(`${plainUrl}${path}`, { method: 'POST', body: JSON.stringify(body) });
    assert.equal(response.status, 200, `${path}: ${await response.text()}`);
  }
}

describe('etcd client TLS and auth', { skip, timeout: 60_000 }, () => {
  let dir: string;
  let certs: TestCertificates;
  let etcd: EtcdProcess;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gputel-etcd-tls-'));
    certs = makeTestCertificates(dir);
    etcd = await startEtcd({ tls: { certFile: certs.certFile, keyFile: certs.keyFile, caFile: certs.caFile, clientCertAuth: true } });
  });
  after(async () => {
    await etcd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads and writes over TLS with the CA and a client certificate', async () => {
    assert.equal(await roundTrip(etcd.tlsEndpoints, { caFile: certs.caFile, certFile: certs.clientCertFile, keyFile: certs.clientKeyFile }), 'through tls');
  });

  it('says which setting is missing when the CA or the client certificate is not given', async () => {
    await assert.rejects(roundTrip(etcd.tlsEndpoints, {}), refusedWith('KV_UNAVAILABLE', /give --etcd-ca/));
    await assert.rejects(roundTrip(etcd.tlsEndpoints, { caFile: certs.caFile }), refusedWith('KV_UNAVAILABLE', /refused this client's certificate: give --etcd-cert and --etcd-key/));
    await assert.rejects(roundTrip(etcd.tlsEndpoints, { certFile: certs.clientCertFile, keyFile: certs.clientKeyFile }), refusedWith('BAD_CONFIG', /need --etcd-ca/));
    await assert.rejects(roundTrip(etcd.tlsEndpoints, { caFile: join(dir, 'missing-ca.crt') }), refusedWith('BAD_CONFIG', /--etcd-ca .*missing-ca\.crt cannot be read/));
  });

  it('authenticates with user and password once etcd has auth enabled, and names the settings when they are wrong or missing', async () => {
    await enableEtcdAuth(etcd.endpoints[0], 'pa55-word');
    assert.equal(await roundTrip(etcd.endpoints, { user: 'root', password: 'pa55-word' }), 'through tls');
    await assert.rejects(roundTrip(etcd.endpoints, { user: 'root', password: 'wrong' }), refusedWith('BAD_CONFIG', /refused the user name or password: check --etcd-user and --etcd-password/));
    await assert.rejects(roundTrip(etcd.endpoints, {}), refusedWith('BAD_CONFIG', /authentication enabled: give --etcd-user and --etcd-password/));
    // A client certificate whose CN is an etcd user authenticates as that user.
    assert.equal(await roundTrip(etcd.tlsEndpoints, { caFile: certs.caFile, certFile: certs.clientCertFile, keyFile: certs.clientKeyFile }), 'through tls');
  });

  it('works as a user that may only read and write under the root prefix, from the CLI with GPUTEL_ETCD_PASSWORD', async () => {
    assert.equal(await roundTrip(etcd.endpoints, { user: 'gputel', password: 'pa55-word' }), 'through tls');
    const status = runGputel(['queue', 'status', '--etcd', etcd.endpoints[0], '--root', '/tls-test', '--etcd-user', 'gputel'], { GPUTEL_ETCD_PASSWORD: 'pa55-word' });
    // It reads the queue's config under its root (nothing was streamed there): permitted, and answered.
    assert.equal(await status.exited, EXIT.NOT_FOUND);
    assert.match(status.stderr(), /topic "telemetry" under \/tls-test has never been used/);
    const outside = runGputel(['queue', 'status', '--etcd', etcd.endpoints[0], '--root', '/elsewhere', '--etcd-user', 'gputel'], { GPUTEL_ETCD_PASSWORD: 'pa55-word' });
    assert.equal(await outside.exited, EXIT.CONFIG);
    assert.match(outside.stderr(), /the etcd user may not do this: grant its role readwrite on the root prefix/);
  });
});

describe('every role over TLS to etcd', { skip, timeout: 120_000 }, () => {
  // Made when etcd starts (in the harness's before); the role flags only need the paths.
  const certDir = mkdtempSync(join(tmpdir(), 'gputel-etcd-tls-roles-'));
  const tlsArgs = ['--etcd-ca', join(certDir, 'ca.crt'), '--etcd-cert', join(certDir, 'client.crt'), '--etcd-key', join(certDir, 'client.key')];
  const h = usePipelineHarness('etcd-tls-roles', {
    etcd: async () => {
      const certs = makeTestCertificates(certDir);
      const started = await startEtcd({ tls: { certFile: certs.certFile, keyFile: certs.keyFile, caFile: certs.caFile, clientCertAuth: true } });
      // Every role is given only the https:// URL.
      return {
        endpoints: started.tlsEndpoints,
        stop: async () => {
          await started.stop();
          rmSync(certDir, { recursive: true, force: true });
        },
      };
    },
    roleArgs: tlsArgs,
  });

  it('streams, stores and serves every sample exactly once with streamer, collector and gateway on TLS', async () => {
    const file = await h.generate('fleet.csv', { hosts: 2, gpusPerHost: 2, duration: '2m', interval: '1s', seed: 11, start: '2026-03-02T08:00:00Z' });
    const rows = readOracle(file);
    await h.startPipeline(file, { consumerId: 'tls', streamerArgs: ['--batch-samples', '200'] });
    await h.assertStoredExactlyOnce(rows);
    // An etcd-using client command takes the same flags.
    const status = await h.cli(['queue', 'status', ...tlsArgs]);
    assert.match(status, /partition/i);
  });
});
