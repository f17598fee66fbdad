import { execFile } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, posix, relative } from 'node:path';
import { promisify } from 'node:util';
import { baseImage, type BaseImage } from './base-images';
import { parseDockerfile, type Dockerfile, type Instruction } from './dockerfile';
import { underRoot } from './paths';

// Assembles an image's runtime filesystem in a temporary directory by executing its Dockerfile
// stages: each stage gets its own root, COPY copies from the build context (minus .dockerignore)
// or from another stage's root, RUN runs its shell command there. Programs of the base image
// (node, nginx, npm, sh) are this machine's. Only two RUN rewrites, both named in `rewriteRun`.

const exec = promisify(execFile);

export interface ImageConfig {
  target: string;
  /** The image's filesystem root (a temp dir). */
  root: string;
  base: BaseImage;
  env: Record<string, string>;
  workdir: string;
  user: string;
  entrypoint: string[];
  cmd: string[];
  exposed: string[];
}

export interface AssemblyStep { stage: string; line: number; declared: string; ran: string; ms: number }

/** .dockerignore as Docker reads it: patterns anchored at the context root, `**` spans directories. */
export function dockerignore(context: string): (relPath: string) => boolean {
  const file = join(context, '.dockerignore');
  const patterns = existsSync(file)
    ? readFileSync(file, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))
    : [];
  if (patterns.some((p) => p.startsWith('!'))) throw new Error(`${file}: exception patterns (!) are not interpreted by the stack replay`);
  const regexes = patterns.map((p) => {
    const clean = posix.normalize(p).replace(/^\/+|\/+$/g, '');
    const body = clean.split(/(\*\*\/?|\*|\?)/).map((part) => {
      if (part === '**/' || part === '**') return '(?:.*/)?';
      if (part === '*') return '[^/]*';
      if (part === '?') return '[^/]';
      return part.replace(/[.+^${}()|\\]/g, '\\$&');
    }).join('');
    return new RegExp(`^${body}$`);
  });
  return (relPath) => {
    const parts = relPath.split('/');
    // Excluded when the path or any of its parent directories matches.
    return parts.some((_, i) => regexes.some((r) => r.test(parts.slice(0, i + 1).join('/'))));
  };
}

/**
 * The RUN commands as the replay runs them. Two rewrites, both about this machine's npm cache:
 * `npm ci` installs from the cache `.ci/run` filled (`--prefer-offline`), and `npm cache clean
 * --force` is dropped (in the image it trims a layer; here it would empty the shared cache).
 */
export function rewriteRun(command: string): string {
  return command
    .replace(/\s*&&\s*npm cache clean --force\b/g, '')
    .replace(/\bnpm ci\b/g, 'npm ci --prefer-offline');
}

/** Absolute paths written as separate words in a RUN command, mapped under the stage's root. */
function mapRunPaths(command: string, root: string): string {
  return command.replace(/(^|[\s=])(\/[A-Za-z0-9._-][A-Za-z0-9._\/-]*)/g, (_m, pre: string, path: string) => `${pre}${underRoot(root, path)}`);
}

export class ImageAssembly {
  readonly steps: AssemblyStep[] = [];
  private readonly built = new Map<string, Promise<ImageConfig>>();
  private readonly dockerfile: Dockerfile;
  private readonly ignored: (relPath: string) => boolean;

  constructor(private readonly opts: { dockerfile: string; context: string; tempRoot: string }) {
    this.dockerfile = parseDockerfile(opts.dockerfile);
    this.ignored = dockerignore(opts.context);
  }

  /** Builds a target stage (and, on demand, the stages it copies from), once. */
  target(name: string): Promise<ImageConfig> {
    let p = this.built.get(name);
    if (!p) {
      p = this.buildStage(name);
      this.built.set(name, p);
    }
    return p;
  }

  private async buildStage(name: string): Promise<ImageConfig> {
    const stage = this.dockerfile.stage(name);
    const base = baseImage(stage.base);
    const root = join(this.opts.tempRoot, 'stages', name);
    mkdirSync(root, { recursive: true, mode: 0o755 });
    chmodSync(root, 0o755);
    const config: ImageConfig = {
      target: name, root, base, env: {}, workdir: base.workdir, user: 'root',
      entrypoint: base.entrypoint, cmd: base.cmd, exposed: [],
    };
    for (const ins of stage.instructions) await this.apply(stage.name, config, ins);
    return config;
  }

  private async apply(stage: string, c: ImageConfig, ins: Instruction): Promise<void> {
    switch (ins.op) {
      case 'WORKDIR':
        c.workdir = posix.resolve(c.workdir, ins.path);
        mkdirSync(underRoot(c.root, c.workdir), { recursive: true, mode: 0o755 });
        return;
      case 'ENV':
        Object.assign(c.env, ins.vars);
        return;
      case 'USER':
        c.user = ins.user;
        return;
      case 'EXPOSE':
        c.exposed.push(...ins.ports);
        return;
      case 'CMD':
        c.cmd = ins.argv;
        return;
      case 'ENTRYPOINT':
        // Docker: setting ENTRYPOINT resets a CMD inherited from the base image.
        c.entrypoint = ins.argv;
        c.cmd = [];
        return;
      case 'COPY':
        await this.copy(c, ins);
        return;
      case 'RUN': {
        const ran = mapRunPaths(rewriteRun(ins.command), c.root);
        const started = Date.now();
        const cwd = underRoot(c.root, c.workdir);
        try {
          await exec('sh', ['-c', ran], {
            cwd,
            // This machine's programs (PATH) and npm cache (HOME); the stage's ENV on top.
            env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', ...c.env },
            maxBuffer: 64 * 1024 * 1024,
            timeout: 300_000,
          });
        } catch (err) {
          const e = err as { stderr?: string; stdout?: string; message: string };
          throw new Error(`Dockerfile stage ${stage}, line ${ins.line}: RUN ${ins.command}\n  ran as: ${ran}\n  failed: ${(e.stderr || e.stdout || e.message).trim().split('\n').slice(-15).join('\n  ')}`);
        }
        this.steps.push({ stage, line: ins.line, declared: ins.command, ran, ms: Date.now() - started });
      }
    }
  }

  private async copy(c: ImageConfig, ins: Extract<Instruction, { op: 'COPY' }>): Promise<void> {
    const destPath = posix.resolve(c.workdir, ins.dest);
    const intoDir = ins.dest.endsWith('/') || ins.sources.length > 1;
    const fromRoot = ins.from ? (await this.target(ins.from)).root : null;
    for (const src of ins.sources) {
      const source = fromRoot ? underRoot(fromRoot, posix.resolve('/', src)) : join(this.opts.context, src);
      if (!fromRoot && (relative(this.opts.context, source).startsWith('..') || this.ignored(relative(this.opts.context, source)))) {
        throw new Error(`COPY ${src} (line ${ins.line}): outside the build context or excluded by .dockerignore`);
      }
      if (!existsSync(source)) throw new Error(`COPY ${ins.from ? `--from=${ins.from} ` : ''}${src} (line ${ins.line}): no such file`);
      const isDir = statSync(source).isDirectory();
      // A directory's contents go into dest; a file goes into dest/ or becomes dest.
      const target = underRoot(c.root, isDir || !intoDir ? destPath : posix.join(destPath, basename(src)));
      mkdirSync(isDir ? target : join(target, '..'), { recursive: true, mode: 0o755 });
      if (fromRoot) {
        await exec('cp', ['-a', isDir ? `${source}/.` : source, target]);
      } else {
        cpSync(source, target, {
          recursive: true,
          filter: (p) => !this.ignored(relative(this.opts.context, p)),
        });
      }
    }
  }
}
