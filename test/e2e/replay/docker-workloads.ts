import type { ProgramRun, RecordedResource } from '../../infra/pulumi-harness';
import { baseImage, resolveUser } from './base-images';
import { onlyKnownKeys, type DeclaredFile, type DeclaredWorkload, type Probe } from './declared-workloads';
import type { ImageConfig } from './image-filesystem';

// The staging stack's containers (docker:index/container:Container) as declared workloads, with
// Docker's rules: `entrypoints` replaces the image's ENTRYPOINT and drops its CMD, `command`
// replaces CMD; `user` overrides USER; uploads are root-owned files; attach + restart "no" makes a
// one-shot whose exit code Pulumi reads.

const CONTAINER = 'docker:index/container:Container';
const IMAGE = 'docker:index/image:Image';

/** Inputs that change nothing a local process could observe (restart policy, timings, labels, limits). */
const notReplayed = ['labels', 'restart', 'stopSignal', 'stopTimeout', 'destroyGraceSeconds', 'wait', 'waitTimeout', 'mustRun', 'logs', 'shmSize', 'memory', 'memorySwap', 'cpuShares', 'readOnly', 'ports'];
const interpreted = ['name', 'image', 'hostname', 'user', 'entrypoints', 'command', 'envs', 'uploads', 'volumes', 'tmpfs', 'networksAdvanced', 'healthcheck', 'attach', 'workingDir'];

function envObject(list: string[] = []): Record<string, string> {
  return Object.fromEntries(list.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
}

function probeOf(c: Record<string, any>): Probe | null {
  const tests: string[] | undefined = c.healthcheck?.tests;
  if (!tests?.length || tests[0] === 'NONE') return null;
  if (tests[0] === 'CMD') return { kind: 'exec', argv: tests.slice(1) };
  if (tests[0] === 'CMD-SHELL') return { kind: 'exec', argv: ['/bin/sh', '-c', tests[1]] };
  throw new Error(`healthcheck ${JSON.stringify(tests)}: expected CMD, CMD-SHELL or NONE`);
}

export function dockerWorkloads(run: ProgramRun, images: Record<string, ImageConfig>, stack: string): DeclaredWorkload[] {
  // Container image inputs carry the build's repoDigest: `<imageName repo>@sha256:…`.
  const builtTargets = new Map(run.byType(IMAGE).map((i) => [String(i.inputs.imageName).split(':')[0], String(i.inputs.build.target)]));
  return run.byType(CONTAINER).map((r: RecordedResource) => {
    const c = r.inputs;
    const source = `docker Container ${r.name}`;
    onlyKnownKeys(source, c, [...interpreted, ...notReplayed]);
    const reference = String(c.image);
    const target = builtTargets.get(reference.split('@')[0]);
    const imageConfig = target ? images[target] : null;
    if (target && !imageConfig) throw new Error(`${source}: image target "${target}" was not assembled`);
    const base = imageConfig?.base ?? baseImage(reference);
    const entrypoint: string[] = c.entrypoints ?? imageConfig?.entrypoint ?? base.entrypoint;
    const cmd: string[] = c.entrypoints ? (c.command ?? []) : (c.command ?? imageConfig?.cmd ?? base.cmd);
    const files: DeclaredFile[] = (c.uploads ?? []).map((u: Record<string, any>) => {
      onlyKnownKeys(`${source} upload ${u.file}`, u, ['file', 'content', 'executable', 'permissions']);
      return { path: u.file, content: String(u.content), mode: u.permissions ? parseInt(u.permissions, 8) : u.executable ? 0o755 : 0o644, uid: 0, gid: 0 };
    });
    const dirs = [
      ...(c.volumes ?? []).map((v: Record<string, any>) => {
        onlyKnownKeys(`${source} volume ${v.containerPath}`, v, ['containerPath', 'volumeName']);
        return { path: v.containerPath, mode: 0o755, uid: 0, gid: 0 };
      }),
      ...Object.keys(c.tmpfs ?? {}).map((path) => ({ path, mode: 0o1777, uid: 0, gid: 0 })),
    ];
    return {
      stack,
      name: c.hostname ?? r.name,
      source,
      urn: r.urn,
      kind: c.attach && c.restart === 'no' ? 'one-shot' : 'service',
      image: reference,
      imageConfig,
      base,
      argv: [...entrypoint, ...cmd],
      env: { ...imageConfig?.env, ...envObject(c.envs) },
      fieldRefs: {},
      workdir: c.workingDir ?? imageConfig?.workdir ?? base.workdir,
      user: resolveUser(c.user ?? imageConfig?.user ?? 'root', base.users),
      files,
      dirs,
      probe: probeOf(c),
      ports: (c.ports ?? []).map((p: { internal: number }) => p.internal),
      serviceNames: [...(c.networksAdvanced ?? []).flatMap((n: { aliases?: string[] }) => n.aliases ?? []), ...(c.name ? [c.name] : [])],
      dependsOn: r.dependencies,
    } satisfies DeclaredWorkload;
  });
}
