import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { projectRoot } from '../../../app/project-root';
import type { CommandExecutor } from '../../drills/cluster-driver';
import { systemExecutor } from '../../drills/command-executor';
import { action, type ExitSink, type OutputOptions, withOutput } from '../args';
import { UsageError } from '../exit-codes';
import { emitResult } from '../output';

// `aidiary release [--registry REGISTRY] [--tag TAG] [--push]`: builds the Dockerfile's two
// targets (`app`, `edge`) tagged with the commit, pushes them when a registry is given, and prints
// the `pulumi config set` lines that point the prod stack at them. Docker is driven through its CLI
// (the same engine `pulumi up` of the staging stack uses); every command goes through an injected
// executor so the sequence is unit-tested without an engine.

export const imageTargets = ['app', 'edge'] as const;

export interface ReleaseTools {
  /** Short commands whose stdout is read (docker info, git). */
  query: CommandExecutor;
  /** Long steps (docker build, docker push) whose progress the operator watches on stderr. */
  step: CommandExecutor;
  root: string;
  /** Progress lines (stderr). */
  log: (line: string) => void;
  /** The result lines (stdout): the `pulumi config set` commands. */
  out: (line: string) => void;
}

// Docker's reference grammar, reduced to what a registry prefix and a tag may hold.
const registryPattern = /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?(\/[a-z0-9]+([._-][a-z0-9]+)*)*$/;
const tagPattern = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

export function imageRef(target: (typeof imageTargets)[number], tag: string, registry?: string): string {
  return `${registry ? `${registry}/` : ''}aidiary-${target}:${tag}`;
}

const firstLine = (text: string) => text.split('\n').map((l) => l.trim()).find(Boolean) ?? '';
const causeCode = (err: unknown) => ((err as { cause?: { code?: string }; code?: string }).cause?.code ?? (err as { code?: string }).code);

/** Fails with one line naming what is missing when no Docker engine answers. */
async function requireDockerEngine(tools: ReleaseTools): Promise<string> {
  try {
    const { stdout } = await tools.query('docker', ['info', '--format', '{{.ServerVersion}}']);
    return stdout.trim();
  } catch (err) {
    if (causeCode(err) === 'ENOENT') {
      throw new Error('no `docker` command found; install Docker Engine (https://docs.docker.com/engine/install/) or Docker Desktop, start it, then run `aidiary release` again');
    }
    const why = firstLine((err as Error).message).replace(/^docker info failed: /, '');
    throw new Error(`no Docker engine reachable (\`docker info\`: ${why}); start the Docker daemon (\`sudo systemctl start docker\`, or open Docker Desktop) or point DOCKER_HOST at a running engine`);
  }
}

/** The commit's short sha, with `-dirty` when the working tree has changes (tracked or untracked). */
export async function commitTag(tools: ReleaseTools): Promise<{ tag: string; dirty: boolean }> {
  let sha: string;
  try {
    sha = (await tools.query('git', ['-C', tools.root, 'rev-parse', '--short', 'HEAD'])).stdout.trim();
  } catch (err) {
    throw new Error(`cannot tag the images with the commit (${firstLine((err as Error).message)}); run from a git checkout or pass --tag TAG`);
  }
  const status = (await tools.query('git', ['-C', tools.root, 'status', '--porcelain'])).stdout;
  const dirty = status.trim().length > 0;
  return { tag: dirty ? `${sha}-dirty` : sha, dirty };
}

interface ReleaseOptions extends OutputOptions { registry?: string; tag?: string; push?: boolean }

function defineRelease(cmd: Command): Command {
  return withOutput(cmd
    .description('build the app and edge images tagged with the commit, push them to --registry, print the `pulumi config set` lines for prod')
    .option('--registry <r>', 'where the cluster pulls the images from, e.g. ghcr.io/acme (pushes there)')
    .option('--tag <t>', 'image tag (default: the commit, with -dirty for uncommitted changes)')
    .option('--push', 'push the images (implied by --registry; kept for scripts)'));
}

/** `release` with its arguments (the unit tests drive it with fake tools). */
export async function release(argv: string[], tools: ReleaseTools): Promise<number> {
  const cmd = defineRelease(new Command('release')).exitOverride().allowExcessArguments(false);
  cmd.parse(argv, { from: 'user' });
  return releaseWith(cmd.opts<ReleaseOptions>(), tools);
}

async function releaseWith(values: ReleaseOptions, tools: ReleaseTools): Promise<number> {
  const registry = values.registry?.replace(/\/+$/, '');
  if (registry !== undefined && !registryPattern.test(registry)) {
    throw new UsageError(`--registry: "${values.registry}" is not a registry path; e.g. ghcr.io/acme or registry.example:5000/team`);
  }
  if (values.tag !== undefined && !tagPattern.test(values.tag)) {
    throw new UsageError(`--tag: "${values.tag}" is not a Docker tag (letters, digits, _ . -, at most 128, not starting with . or -)`);
  }
  if (values.push && !registry) throw new UsageError('--push needs --registry REGISTRY (where the cluster pulls the images from)');
  const push = Boolean(registry);
  if (!existsSync(join(tools.root, 'Dockerfile'))) {
    throw new Error(`no Dockerfile in ${tools.root}; run \`aidiary release\` from a checkout of the repository`);
  }

  const engine = await requireDockerEngine(tools);
  const { tag, dirty } = values.tag !== undefined ? { tag: values.tag, dirty: false } : await commitTag(tools);
  if (dirty) tools.log(`the working tree has uncommitted changes: tag ${tag} does not pin the content; commit before a prod release`);
  tools.log(`Docker engine ${engine}; building ${imageTargets.map((t) => imageRef(t, tag, registry)).join(' and ')}`);

  const refs = Object.fromEntries(imageTargets.map((t) => [t, imageRef(t, tag, registry)])) as Record<(typeof imageTargets)[number], string>;
  for (const target of imageTargets) {
    tools.log(`docker build --target ${target} -t ${refs[target]}`);
    await tools.step('docker', ['build', '--target', target, '--tag', refs[target], tools.root]);
  }
  if (push) {
    for (const target of imageTargets) {
      tools.log(`docker push ${refs[target]}`);
      await tools.step('docker', ['push', refs[target]]);
    }
  } else {
    tools.log('built locally only; to deploy to prod, push them: aidiary release --registry REGISTRY');
  }
  const lines = [`pulumi config set appImage ${refs.app} --stack prod`, `pulumi config set edgeImage ${refs.edge} --stack prod`];
  if (values.json || values.out) emitResult(values, { app: refs.app, edge: refs.edge, pushed: push, pulumiConfig: lines });
  if (!values.json) for (const line of lines) tools.out(line);
  return 0;
}

/** Runs a long step with its output on stderr (stdout stays for the result lines). */
function streamingExecutor(): CommandExecutor {
  return (command, args) => new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 2, 2] });
    child.on('error', (err) => reject(new Error(`${command} ${args[0] ?? ''} failed: ${err.message}`, { cause: err })));
    child.on('exit', (code, signal) => {
      if (code === 0) resolve({ stdout: '' });
      else reject(new Error(`${command} ${args[0] ?? ''} failed (${signal ?? `exit code ${code}`}); its output is above`));
    });
  });
}

export function registerRelease(program: Command, exit: ExitSink): void {
  defineRelease(program.command('release')).action(action(exit, (opts: ReleaseOptions) => releaseWith(opts, {
    query: systemExecutor(60_000),
    step: streamingExecutor(),
    root: projectRoot(),
    log: (line) => process.stderr.write(`aidiary: ${line}\n`),
    out: (line) => process.stdout.write(`${line}\n`),
  })));
}
