import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { release, type ReleaseTools } from '../../infra/cli/commands/release';
import { projectRoot } from '../../app/project-root';

// `aidiary release`: the command sequence (docker info, git, two builds, pushes, the prod config
// lines) with an injected executor, since no Docker engine runs here; and one real run of the
// built CLI without a docker binary on PATH.

interface Call { command: string; args: string[] }

let root: string;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'aidiary-release-'));
  writeFileSync(join(root, 'Dockerfile'), 'FROM scratch\n');
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Tools whose executor answers from `answers` (keyed by "command subcommand") and records every call. */
function fakeTools(answers: Record<string, string | Error>) {
  const calls: Call[] = [];
  const log: string[] = [];
  const out: string[] = [];
  const exec = async (command: string, args: string[]) => {
    calls.push({ command, args });
    const key = `${command} ${args[0] === '-C' ? args[2] : args[0]}`;
    const answer = answers[key] ?? '';
    if (answer instanceof Error) throw answer;
    return { stdout: answer };
  };
  const tools: ReleaseTools = { query: exec, step: exec, root, log: (l) => log.push(l), out: (l) => out.push(l) };
  return { tools, calls, log, out };
}

const engineUp = { 'docker info': '27.3.1\n', 'git rev-parse': 'abc1234\n', 'git status': '' };
const line = (c: Call) => [c.command, ...c.args].join(' ');

describe('release command sequence', () => {
  it('builds both targets tagged with the commit and prints the prod config lines (no registry: no push)', async () => {
    const { tools, calls, out, log } = fakeTools(engineUp);
    expect(await release([], tools)).toBe(0);
    expect(calls.map(line)).toEqual([
      'docker info --format {{.ServerVersion}}',
      `git -C ${root} rev-parse --short HEAD`,
      `git -C ${root} status --porcelain`,
      `docker build --target app --tag aidiary-app:abc1234 ${root}`,
      `docker build --target edge --tag aidiary-edge:abc1234 ${root}`,
    ]);
    expect(out).toEqual([
      'pulumi config set appImage aidiary-app:abc1234 --stack prod',
      'pulumi config set edgeImage aidiary-edge:abc1234 --stack prod',
    ]);
    expect(log.join('\n')).toContain('built locally only');
  });

  it('with --registry: registry-prefixed names, -dirty on a dirty tree, pushes after both builds', async () => {
    const { tools, calls, out, log } = fakeTools({ ...engineUp, 'git status': ' M app/server.ts\n?? notes.txt\n' });
    expect(await release(['--registry', 'ghcr.io/acme/', '--push'], tools)).toBe(0);
    expect(calls.slice(3).map(line)).toEqual([
      `docker build --target app --tag ghcr.io/acme/aidiary-app:abc1234-dirty ${root}`,
      `docker build --target edge --tag ghcr.io/acme/aidiary-edge:abc1234-dirty ${root}`,
      'docker push ghcr.io/acme/aidiary-app:abc1234-dirty',
      'docker push ghcr.io/acme/aidiary-edge:abc1234-dirty',
    ]);
    expect(out).toEqual([
      'pulumi config set appImage ghcr.io/acme/aidiary-app:abc1234-dirty --stack prod',
      'pulumi config set edgeImage ghcr.io/acme/aidiary-edge:abc1234-dirty --stack prod',
    ]);
    expect(log[0]).toContain('uncommitted changes');
  });

  it('--tag overrides the commit (git is not asked)', async () => {
    const { tools, calls, out } = fakeTools(engineUp);
    expect(await release(['--tag', 'v1.2.0', '--registry', 'registry.example:5000/team'], tools)).toBe(0);
    expect(calls.some((c) => c.command === 'git')).toBe(false);
    expect(out[0]).toBe('pulumi config set appImage registry.example:5000/team/aidiary-app:v1.2.0 --stack prod');
  });

  it('no Docker engine: one line saying what to start, nothing built', async () => {
    const { tools, calls, out } = fakeTools({
      'docker info': new Error('docker info failed: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?'),
    });
    await expect(release(['--registry', 'ghcr.io/acme'], tools)).rejects.toThrow(
      'no Docker engine reachable (`docker info`: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?); start the Docker daemon',
    );
    expect(calls.map((c) => c.args[0])).toEqual(['info']);
    expect(out).toEqual([]);
  });

  it('no docker binary: says to install Docker', async () => {
    const enoent = new Error('docker info failed: spawn docker ENOENT', { cause: Object.assign(new Error('spawn docker ENOENT'), { code: 'ENOENT' }) });
    const { tools } = fakeTools({ 'docker info': enoent });
    await expect(release([], tools)).rejects.toThrow(/^no `docker` command found; install Docker Engine/);
  });

  it('a failed build stops the release: no push, no config lines', async () => {
    const { tools, calls, out } = fakeTools({ ...engineUp, 'docker build': new Error('docker build failed (exit code 1); its output is above') });
    await expect(release(['--registry', 'ghcr.io/acme'], tools)).rejects.toThrow('docker build failed');
    expect(calls.filter((c) => c.args[0] === 'push')).toEqual([]);
    expect(out).toEqual([]);
  });

  it('outside a git checkout without --tag: says to pass --tag', async () => {
    const { tools } = fakeTools({ ...engineUp, 'git rev-parse': new Error('git rev-parse failed: fatal: not a git repository') });
    await expect(release([], tools)).rejects.toThrow('cannot tag the images with the commit (git rev-parse failed: fatal: not a git repository); run from a git checkout or pass --tag TAG');
  });

  it('refuses bad input before running anything', async () => {
    for (const [args, message] of [
      [['--push'], '--push needs --registry REGISTRY'],
      [['--tag', 'v1/2'], '--tag: "v1/2" is not a Docker tag'],
      [['--registry', 'https://ghcr.io/acme'], '--registry: "https://ghcr.io/acme" is not a registry path'],
    ] as const) {
      const { tools, calls } = fakeTools(engineUp);
      await expect(release([...args], tools)).rejects.toThrow(message);
      expect(calls).toEqual([]);
    }
  });
});

describe('release, run for real', () => {
  it('the built CLI without a docker binary on PATH exits 1 with one line saying to install Docker', async () => {
    const bin = mkdtempSync(join(tmpdir(), 'aidiary-path-'));
    symlinkSync(process.execPath, join(bin, 'node'));
    try {
      const run = await promisify(execFile)(process.execPath, [join(projectRoot(), 'dist', 'cli.mjs'), 'release', '--tag', 't1'], { env: { PATH: bin } })
        .then(() => ({ code: 0, stderr: '' }), (err: { code: number; stderr: string }) => err);
      expect(run.code).toBe(1);
      expect(run.stderr).toBe('aidiary release: no `docker` command found; install Docker Engine (https://docs.docker.com/engine/install/) or Docker Desktop, start it, then run `aidiary release` again\n');
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });
});
