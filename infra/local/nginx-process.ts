import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderNginxConfig, type NginxRenderInput } from '../../nginx/render';
import { edgeTrustedProxies, hasCdnTier, type Topology } from '../topology';
import { nginxBinary } from './preflight';
import { isAlive, isRoot, sleep, spawnDetached, stopPid, userCanEnter } from './process';
import type { StateDir } from './state';

// The local load balancer: render → `nginx -t` → start in the foreground (daemon off, detached
// from the CLI) or reload by SIGHUP. A reload is complete when every worker of the old generation
// has exited: only then has nginx stopped sending requests to servers that left the upstream.

export function nginxPaths(state: StateDir, root: string): NginxRenderInput['paths'] {
  const prefix = state.nginxDir;
  return {
    prefix,
    pidFile: join(prefix, 'nginx.pid'),
    errorLog: state.logFile('lb'),
    accessLog: state.logFile('lb-access'),
    cacheDir: join(prefix, 'cache'),
    tempDir: join(prefix, 'tmp'),
    staticRoot: staticRoot(root),
  };
}

/** Static files are served by nginx straight from the source tree. */
export function staticRoot(root: string): string {
  return join(root, 'app', 'static');
}

/**
 * Under root, nginx's workers run as `nobody`, which cannot enter a checkout or state dir in a
 * 0700 directory (root's home, `mktemp -d`): then they run as root, as the master and the apps of
 * this cluster already do. Asked as `nobody` itself, so ACLs and owners count too.
 */
export function nginxWorkerUser(state: StateDir, root: string): string | undefined {
  if (!isRoot()) return undefined; // unprivileged: every nginx process is the invoking user
  return userCanEnter('nobody', state.nginxDir) && userCanEnter('nobody', staticRoot(root)) ? undefined : 'root';
}

/** Renders the config for these app ports, checks it with `nginx -t`, then installs it atomically. */
export function writeNginxConfig(state: StateDir, root: string, t: Topology, appPorts: number[]): string {
  const paths = nginxPaths(state, root);
  mkdirSync(paths.tempDir, { recursive: true });
  mkdirSync(paths.staticRoot, { recursive: true });
  const conf = renderNginxConfig({
    // nginx believes X-Forwarded-For from the tier in front of it (Varnish with `--cdn varnish`).
    topology: { ...t, trustedProxies: edgeTrustedProxies(t) },
    // A CDN tier in front (Varnish locally, a provider on a stack) reads the tag and CDN-TTL headers.
    passCdnHeaders: hasCdnTier(t),
    upstream: { kind: 'static', servers: appPorts.map((port) => ({ host: t.host, port })) },
    listenPort: t.ports.lb,
    stubStatusPort: t.ports.stubStatus,
    paths,
    workerUser: nginxWorkerUser(state, root),
  });
  const candidate = `${state.nginxConf}.next`;
  writeFileSync(candidate, conf);
  const r = spawnSync(nginxBinary(), ['-t', '-q', '-p', paths.prefix, '-c', candidate, '-e', paths.errorLog], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`nginx rejected the rendered config ${candidate}: ${(r.stderr || r.stdout).trim()}`);
  renameSync(candidate, state.nginxConf);
  return state.nginxConf;
}

export function startNginx(state: StateDir, root: string): number {
  const paths = nginxPaths(state, root);
  const pid = spawnDetached(nginxBinary(), {
    args: ['-p', paths.prefix, '-c', state.nginxConf, '-e', paths.errorLog],
    logFile: state.logFile('lb'),
    cwd: paths.prefix,
  });
  state.writePid('lb', pid);
  return pid;
}

/** Direct children of a pid (nginx workers, cache manager/loader). */
export function childPids(parent: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Field 4 is the ppid; the command (field 2) may contain spaces, so split after its ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === parent) out.push(Number(entry));
    } catch {
      /* the process ended while we looked */
    }
  }
  return out;
}

/**
 * SIGHUP the master and wait until the old generation of workers is gone. Old workers finish their
 * in-flight requests first (graceful), so after this returns no request goes to a removed server.
 */
export async function reloadNginx(masterPid: number, timeoutMs = 30_000): Promise<void> {
  if (!isAlive(masterPid)) throw new Error(`nginx master (pid ${masterPid}) is not running`);
  const before = new Set(childPids(masterPid));
  process.kill(masterPid, 'SIGHUP');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const now = childPids(masterPid);
    const fresh = now.filter((p) => !before.has(p));
    const oldLeft = now.filter((p) => before.has(p));
    if (fresh.length > 0 && oldLeft.length === 0) return;
    if (!isAlive(masterPid)) throw new Error('nginx master exited during reload; see the lb log');
    if (Date.now() > deadline) throw new Error(`nginx reload: ${oldLeft.length} old worker(s) still running after ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** SIGQUIT: graceful shutdown (finish in-flight requests), then SIGKILL after the timeout. */
export async function stopNginx(state: StateDir): Promise<void> {
  const pid = state.readPid('lb');
  if (pid) await stopPid(pid, 'SIGQUIT', 15_000);
  state.removePid('lb');
}
