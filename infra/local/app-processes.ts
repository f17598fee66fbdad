import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { appEnvironment, appNodeFlags, dbInstances, redisInstances, type AppInstance, type SecretRefs, type Topology } from '../topology';
import { waitForHealthy } from './http-probe';
import { topologyPorts } from './cluster-layout';
import { freePort, isAlive, isPortFree, spawnDetached, stopPid } from './process';
import type { StateDir } from './state';

// The app processes of the local cluster: `node dist/app.mjs`, one per app instance, each with the
// environment derived from the topology plus secret FILE paths (never the secret values).

export function appEntry(root: string): string {
  const entry = join(root, 'dist', 'app.mjs');
  if (!existsSync(entry)) throw new Error(`${entry} is missing; build it with \`node scripts/build.mjs\``);
  return entry;
}

/**
 * `node`'s arguments for an app: the flags every target starts it with
 * (infra/topology/app-runtime.ts), then the bundle. No --enable-source-maps (the images never had
 * it): it kept ~8 MB of source maps in each app's heap. For TypeScript positions in stack traces,
 * start the cluster with NODE_OPTIONS=--enable-source-maps, which the apps inherit (appProcessEnv).
 */
export function appNodeArgs(entry: string): string[] {
  return [...appNodeFlags, entry];
}

export function appProcessEnv(t: Topology, app: AppInstance, secrets: SecretRefs, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const redis = Object.fromEntries(redisInstances(t).map((r) => [r.role, { host: t.host, port: r.port }]));
  const env = appEnvironment(t, app, {
    dbNodes: dbInstances(t).map((d) => ({ name: d.name, host: t.host, port: d.port })),
    redisSessions: redis.sessions,
    redisCache: redis.cache,
  }, secrets);
  // Only what a Node process needs from the caller's environment; AIDIARY_* comes from the topology.
  const inherited: NodeJS.ProcessEnv = {};
  for (const key of ['PATH', 'HOME', 'LANG', 'TZ', 'NODE_OPTIONS', 'AIDIARY_LOG_LEVEL']) if (base[key]) inherited[key] = base[key];
  return { ...inherited, ...env };
}

/** Ports handed out by this process and not yet bound: parallel starts must not get the same one. */
const handedOut = new Set<number>();
/** An app port range as wide as a --base-port block allows (cluster-layout: up to 64 apps). */
const maxApps = 64;

/**
 * The app's loopback control port (app/control-server.ts: cache-layer switches for the bench,
 * never proxied by nginx). Picked free by the kernel at the app's first start and kept in the
 * state dir, so restarts, drills and `status` see the same port; re-picked only when taken.
 * Never one of the topology's ports, nor one a later `scale --apps` would give an app.
 */
export async function controlPortFor(state: StateDir, t: Topology, appName: string): Promise<number> {
  const reserved = new Set(topologyPorts(t).map((p) => p.port));
  const usable = (p: number) => !reserved.has(p) && !(p >= t.ports.appBase && p < t.ports.appBase + maxApps) && !handedOut.has(p);
  const recorded = state.readControlPort(appName);
  let port: number | null = recorded !== null && usable(recorded) && (await isPortFree(recorded, t.host)) ? recorded : null;
  for (let attempt = 0; port === null && attempt < 20; attempt++) {
    const candidate = await freePort(t.host);
    if (usable(candidate)) port = candidate;
  }
  if (port === null) throw new Error(`no free loopback port for ${appName}'s control server`);
  handedOut.add(port);
  if (port !== recorded) state.writeControlPort(appName, port);
  return port;
}

export async function startApp(opts: { root: string; state: StateDir; topology: Topology; app: AppInstance; secrets: SecretRefs; timeoutMs?: number }): Promise<number> {
  const { state, topology: t, app } = opts;
  const logFile = state.logFile(app.name);
  const controlPort = await controlPortFor(state, t, app.name);
  try {
    const pid = spawnDetached(process.execPath, {
      args: appNodeArgs(appEntry(opts.root)),
      logFile,
      env: { ...appProcessEnv(t, app, opts.secrets), AIDIARY_CONTROL_PORT: String(controlPort) },
      cwd: opts.root,
    });
    state.writePid(app.name, pid);
    // Ready = can serve reads (a DB node reachable, not draining), not merely alive.
    await waitForHealthy(`http://${t.host}:${app.port}/health/ready`, { timeoutMs: opts.timeoutMs ?? 30_000, alive: () => isAlive(pid), what: app.name, logFile });
    return pid;
  } finally {
    handedOut.delete(controlPort); // bound by the app now (or the start failed)
  }
}

/** SIGTERM: the app turns readiness off, finishes in-flight requests, then exits (invariant 1). */
export async function stopApp(state: StateDir, name: string, drainMs: number): Promise<void> {
  const pid = state.readPid(name);
  if (pid) await stopPid(pid, 'SIGTERM', drainMs + 10_000);
  state.removePid(name);
}
