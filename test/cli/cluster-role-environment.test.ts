/** The environment the cluster's roles get (src/cli/cluster/role-environment.ts). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { roleEnvironment } from '../../src/cli/cluster/role-environment.js';

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
});
