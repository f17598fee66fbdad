import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { appEnvironment, dbInstances, redisInstances, type AppInstance, type SecretRefs, type Topology } from '../topology';
import { waitForHealthy } from './http-probe';
import { isAlive, spawnDetached, stopPid } from './process';
import type { StateDir } from './state';

// The app processes of the local cluster: `node dist/app.mjs`, one per app instance, each with the
// environment derived from the topology plus secret FILE paths (never the secret values).

export function appEntry(root: string): string {
  const entry = join(root, 'dist', 'app.mjs');
  if (!existsSync(entry)) throw new Error(`${entry} is missing; build it with \`node scripts/build.mjs\``);
  return entry;
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

export async function startApp(opts: { root: string; state: StateDir; topology: Topology; app: AppInstance; secrets: SecretRefs; timeoutMs?: number }): Promise<number> {
  const { state, topology: t, app } = opts;
  const logFile = state.logFile(app.name);
  const pid = spawnDetached(process.execPath, {
    args: ['--enable-source-maps', appEntry(opts.root)],
    logFile,
    env: appProcessEnv(t, app, opts.secrets),
    cwd: opts.root,
  });
  state.writePid(app.name, pid);
  // Ready = can serve reads (a DB node reachable, not draining), not merely alive.
  await waitForHealthy(`http://${t.host}:${app.port}/health/ready`, { timeoutMs: opts.timeoutMs ?? 30_000, alive: () => isAlive(pid), what: app.name, logFile });
  return pid;
}

/** SIGTERM: the app turns readiness off, finishes in-flight requests, then exits (invariant 1). */
export async function stopApp(state: StateDir, name: string, drainMs: number): Promise<void> {
  const pid = state.readPid(name);
  if (pid) await stopPid(pid, 'SIGTERM', drainMs + 10_000);
  state.removePid(name);
}
