/** Which nginx takes `-e FILE` (src/cli/cluster/nginx-version.ts): read from `nginx -v`, since 1.19.5. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findClusterBinaries } from '../../src/cli/cluster/cluster-binaries.js';
import { ERROR_LOG_FLAG_SINCE, isAtLeast, nginxVersion, parseNginxVersion } from '../../src/cli/cluster/nginx-version.js';

describe('cluster load balancer: nginx version', () => {
  it('reads the version from what `nginx -v` prints', () => {
    assert.deepEqual(parseNginxVersion('nginx version: nginx/1.22.1\n'), [1, 22, 1]);
    assert.deepEqual(parseNginxVersion('nginx version: nginx/1.18.0 (Ubuntu)\n'), [1, 18, 0]);
    assert.deepEqual(parseNginxVersion('nginx version: openresty/1.21.4.1\n'), [1, 21, 4]);
  });

  it('knows no version in output that has none', () => {
    assert.equal(parseNginxVersion(''), undefined);
    assert.equal(parseNginxVersion('bash: nginx: command not found'), undefined);
    assert.equal(parseNginxVersion('nginx version: nginx/1.x'), undefined);
  });

  it('takes -e from 1.19.5 on, comparing each part as a number', () => {
    assert.equal(isAtLeast([1, 19, 5], ERROR_LOG_FLAG_SINCE), true);
    assert.equal(isAtLeast([1, 19, 10], ERROR_LOG_FLAG_SINCE), true, '10 > 5, though "10" < "5" as text');
    assert.equal(isAtLeast([1, 22, 1], ERROR_LOG_FLAG_SINCE), true);
    assert.equal(isAtLeast([2, 0, 0], ERROR_LOG_FLAG_SINCE), true);
    assert.equal(isAtLeast([1, 19, 4], ERROR_LOG_FLAG_SINCE), false);
    assert.equal(isAtLeast([1, 18, 0], ERROR_LOG_FLAG_SINCE), false);
    assert.equal(isAtLeast([0, 99, 99], ERROR_LOG_FLAG_SINCE), false);
  });

  it('asks the installed nginx for its version, and gives none for a program that cannot run', () => {
    const version = nginxVersion(findClusterBinaries().nginx);
    assert.ok(version !== undefined && version.every((part) => Number.isInteger(part)), String(version));
    assert.equal(nginxVersion('/nonexistent/nginx'), undefined);
  });
});
