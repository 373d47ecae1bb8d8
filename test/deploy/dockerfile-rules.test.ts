/**
 * The repository's Dockerfile, linted by its rules (no Docker engine runs
 * here, so it is never built in these tests: docs/deployment.md): multi-stage, every base
 * image pinned, the native module installed on the runtime's own base, a
 * non-root user in the final stage, a HEALTHCHECK on /healthz (its script
 * run here against real servers), everything the image ships taken from the
 * build, and every file it copies present and not excluded by .dockerignore.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { findFreePort } from '../support/etcd-process.js';
import { REPO_ROOT } from './helm-binary.js';

interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

interface Stage {
  image: string;
  name: string | undefined;
  instructions: Instruction[];
}

/** Instructions in order: continuation lines joined, comments and blank lines dropped. */
function parseDockerfile(text: string): Instruction[] {
  const instructions: Instruction[] = [];
  let pending: { text: string; line: number } | undefined;
  text.split('\n').forEach((raw, index) => {
    const line = raw.trimEnd();
    if (pending === undefined && (line.trim() === '' || line.trimStart().startsWith('#'))) return;
    if (pending !== undefined && line.trimStart().startsWith('#')) return;
    const continued = line.endsWith('\\');
    const body = continued ? line.slice(0, -1) : line;
    pending = pending === undefined ? { text: body.trim(), line: index + 1 } : { text: `${pending.text} ${body.trim()}`, line: pending.line };
    if (!continued) {
      const [keyword, ...rest] = pending.text.split(/\s+/);
      instructions.push({ keyword: keyword.toUpperCase(), args: rest.join(' '), line: pending.line });
      pending = undefined;
    }
  });
  return instructions;
}

/** The stages, with ARG defaults declared before the first FROM substituted into the image. */
function stagesOf(instructions: Instruction[]): Stage[] {
  const globals = new Map<string, string>();
  const stages: Stage[] = [];
  for (const instruction of instructions) {
    if (instruction.keyword === 'FROM') {
      const [image, as, name] = instruction.args.split(/\s+/);
      const resolved = image.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, braced: string | undefined, bare: string | undefined) => {
        const value = globals.get((braced ?? bare)!);
        if (value === undefined) throw new Error(`Dockerfile line ${instruction.line}: ${image} uses an ARG with no default`);
        return value;
      });
      stages.push({ image: resolved, name: as?.toUpperCase() === 'AS' ? name : undefined, instructions: [] });
    } else if (stages.length === 0 && instruction.keyword === 'ARG') {
      const [name, value] = instruction.args.split('=');
      if (value !== undefined) globals.set(name, value);
    } else if (stages.length > 0) {
      stages[stages.length - 1].instructions.push(instruction);
    }
  }
  return stages;
}

const stages = stagesOf(parseDockerfile(readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8')));
const runtime = stages[stages.length - 1];
const build = stages.find((stage) => stage.name === 'build');

function instructionsOf(stage: Stage, keyword: string): Instruction[] {
  return stage.instructions.filter((i) => i.keyword === keyword);
}

/** The value of a JSON-array (exec form) instruction. */
function execForm(instruction: Instruction | undefined): string[] {
  assert.ok(instruction, 'instruction present');
  return JSON.parse(instruction.args) as string[];
}

describe('Dockerfile', () => {
  it('is multi-stage: a build stage and a runtime stage on the same pinned base image', () => {
    assert.ok(stages.length >= 2, `${stages.length} stage(s)`);
    assert.ok(build, 'a stage named build');
    for (const stage of stages) {
      assert.doesNotMatch(stage.image, /:latest(@|$)/, stage.image);
      assert.match(stage.image, /^[\w./-]+:\d+\.\d+\.\d+[\w.-]*(@sha256:[0-9a-f]{64})?$|@sha256:[0-9a-f]{64}$/, `${stage.image} is pinned to an exact release or a digest`);
    }
    // better-sqlite3 is a native module: built (or fetched) where it runs, same libc and Node ABI.
    assert.equal(build!.image, runtime.image);
    assert.match(runtime.image, /^node:20\.\d+\.\d+-bookworm-slim/);
  });

  it('builds, then prunes development dependencies before the runtime stage takes node_modules', () => {
    const runs = instructionsOf(build!, 'RUN').map((i) => i.args).join('\n');
    const order = ['npm ci', 'npm run build', 'npm prune --omit=dev'].map((step) => runs.indexOf(step));
    assert.ok(order.every((at) => at >= 0), runs);
    assert.deepEqual([...order].sort((a, b) => a - b), order, 'npm ci, then npm run build, then npm prune');
    const fromBuild = instructionsOf(runtime, 'COPY').filter((i) => i.args.startsWith('--from=build '));
    const copied = fromBuild.map((i) => i.args.split(/\s+/)[1].replace(/^\/src\//, ''));
    assert.ok(copied.includes('node_modules'));
    // What npm would ship (package.json "files") is what the image ships.
    const files = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { files: string[] }).files.filter((f) => f !== 'README.md');
    for (const file of files) assert.ok(copied.includes(file), `${file} (package.json "files") is copied into the runtime stage`);
  });

  it('runs as a numeric non-root user in the final stage, the user the Helm chart runs as', () => {
    const users = instructionsOf(runtime, 'USER');
    assert.ok(users.length > 0, 'the final stage sets USER');
    const user = users[users.length - 1].args.split(':')[0];
    assert.match(user, /^\d+$/, 'numeric, so that Kubernetes runAsNonRoot can check it');
    assert.notEqual(Number(user), 0);
    const values = parse(readFileSync(join(REPO_ROOT, 'deploy/helm/gputel/values.yaml'), 'utf8')) as { securityContext: { runAsUser: number } };
    assert.equal(values.securityContext.runAsUser, Number(user));
  });

  it('starts bin/gputel.js, exposes the port it listens on and keeps the embedded store on a volume', () => {
    assert.deepEqual(execForm(instructionsOf(runtime, 'ENTRYPOINT').at(-1)), ['node', 'bin/gputel.js']);
    const env = instructionsOf(runtime, 'ENV').map((i) => i.args).join(' ');
    assert.match(env, /GPUTEL_PORT=8080/);
    assert.match(env, /GPUTEL_DATA_DIR=\/data/);
    assert.deepEqual(instructionsOf(runtime, 'EXPOSE').map((i) => i.args), ['8080']);
    assert.deepEqual(execForm(instructionsOf(runtime, 'VOLUME')[0]), ['/data']);
  });

  it('copies only files that exist and that .dockerignore lets into the context', () => {
    const ignored = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
    for (const stage of stages) {
      for (const copy of instructionsOf(stage, 'COPY').filter((i) => !i.args.startsWith('--from='))) {
        const sources = copy.args.split(/\s+/).slice(0, -1);
        for (const source of sources) {
          assert.ok(existsSync(join(REPO_ROOT, source)), `line ${copy.line}: ${source} exists`);
          const excludedBy = ignored.find((pattern) => source === pattern || source.startsWith(`${pattern}/`));
          assert.equal(excludedBy, undefined, `line ${copy.line}: ${source} is excluded by .dockerignore (${excludedBy})`);
        }
      }
    }
  });

  it('has a HEALTHCHECK whose script answers 0 for a 200 on /healthz and 1 otherwise', async () => {
    const healthchecks = instructionsOf(runtime, 'HEALTHCHECK');
    assert.equal(healthchecks.length, 1);
    const command = JSON.parse(healthchecks[0].args.slice(healthchecks[0].args.indexOf('CMD') + 3).trim()) as string[];
    assert.deepEqual(command.slice(0, 1), ['node']);
    const script = join(REPO_ROOT, command[1]);
    let status = 200;
    const paths: string[] = [];
    const server = http.createServer((request, response) => {
      paths.push(request.url ?? '');
      response.statusCode = status;
      response.end();
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const runScript = (port: number) =>
      new Promise<number | null>((done, fail) => {
        const child = spawn(process.execPath, [script], { env: { ...process.env, GPUTEL_PORT: String(port), GPUTEL_TLS_CERT: '' }, stdio: 'ignore', timeout: 10_000 });
        child.on('error', fail);
        child.on('exit', (code) => done(code));
      });
    try {
      const port = (server.address() as AddressInfo).port;
      assert.equal(await runScript(port), 0);
      status = 503;
      assert.equal(await runScript(port), 1);
      assert.deepEqual(paths, ['/healthz', '/healthz']);
      assert.equal(await runScript(await findFreePort()), 1, 'nothing listening');
    } finally {
      server.closeAllConnections();
      await new Promise((done) => server.close(done));
    }
  });
});
