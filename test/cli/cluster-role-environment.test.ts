/** The environment the cluster's roles get (src/cli/cluster/role-environment.ts). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { refuseTlsConfigFile, roleEnvironment } from '../../src/cli/cluster/role-environment.js';
import { gputelError } from '../support/gputel-error-check.js';

describe('cluster role environment', () => {
  it('passes every GPUTEL_* setting and the rest of the environment on', () => {
    const env = roleEnvironment({ PATH: '/usr/bin', GPUTEL_FLUSH_INTERVAL: '20ms', GPUTEL_RATE_LIMIT: '0' });
    assert.deepEqual(env, { PATH: '/usr/bin', GPUTEL_FLUSH_INTERVAL: '20ms', GPUTEL_RATE_LIMIT: '0' });
  });

  it('does not pass GPUTEL_TLS_* on: the probes and nginx talk plain HTTP to the roles', () => {
    const env = roleEnvironment({ GPUTEL_TLS_CERT: '/etc/cert.pem', GPUTEL_TLS_KEY: '/etc/key.pem', GPUTEL_TLS_ANYTHING: 'x', GPUTEL_LEASE_TTL: '2s' });
    assert.deepEqual(env, { GPUTEL_LEASE_TTL: '2s' });
  });

  it('leaves the environment it was given as it was', () => {
    const given = { GPUTEL_TLS_CERT: 'c' };
    roleEnvironment(given);
    assert.deepEqual(given, { GPUTEL_TLS_CERT: 'c' });
  });

  it('refuses a config file (GPUTEL_CONFIG) that sets TLS, which dropping GPUTEL_TLS_* cannot take out, naming the file', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gputel-role-env-'));
    try {
      const withTls = path.join(dir, 'tls.yaml');
      writeFileSync(withTls, 'tls-cert: /etc/cert.pem\ntls-key: /etc/key.pem\n');
      assert.throws(() => refuseTlsConfigFile({ GPUTEL_CONFIG: withTls }), gputelError('BAD_CONFIG', /tls\.yaml \(GPUTEL_CONFIG\) sets tls-cert\/tls-key.*without TLS/));
      const plain = path.join(dir, 'plain.yaml');
      writeFileSync(plain, 'rate-limit: "0"\n');
      refuseTlsConfigFile({ GPUTEL_CONFIG: plain });
      refuseTlsConfigFile({});
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
