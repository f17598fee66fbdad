import { readFileSync } from 'node:fs';
import { clusterStatus } from '../local/status';
import { projectRoot, StateDir } from '../local/state';
import { staticRoot as defaultStaticRoot } from '../local/nginx-process';

// What the benchmark runs against: the local cluster found through its state dir (every switch
// available), or any deployed stack by --url (no switches: those scenarios are reported not run).

export interface BenchApp {
  name: string;
  /** Loopback control port (app/control-server.ts); null when the app has none. */
  controlPort: number | null;
}

export interface BenchTarget {
  kind: 'local' | 'url';
  /** Base URL of the load balancer, no trailing slash. */
  baseUrl: string;
  apps: BenchApp[];
  /** nginx's static root on this machine (for the `static` scenario's file); null with --url. */
  staticRoot: string | null;
  /** Credentials for read-write's author; null when unknown. */
  author: { username: string; password: string } | null;
  topology: { apps: number; dbReplicas: number } | null;
}

/** The `alias "…/"` of nginx's `location /static/` in the rendered config (what nginx really serves). */
export function staticRootFromNginxConf(conf: string): string | null {
  const m = conf.match(/location \/static\/ \{\s*alias "([^"]+?)\/?";/);
  return m ? m[1] : null;
}

function authorFromEnv(env: NodeJS.ProcessEnv): BenchTarget['author'] {
  const password = env.AIDIARY_BENCH_AUTHOR_PASSWORD ?? env.AIDIARY_ADMIN_PASSWORD;
  return password ? { username: env.AIDIARY_BENCH_AUTHOR_USER ?? 'admin', password } : null;
}

export async function localTarget(stateDir: string, env: NodeJS.ProcessEnv = process.env): Promise<BenchTarget> {
  const status = await clusterStatus(stateDir);
  const down = [status.lb, ...status.apps].filter((n) => !n.healthy).map((n) => n.name);
  if (down.length > 0) throw new Error(`the local cluster is not healthy (${down.join(', ')} down); run \`aidiary status\``);
  const state = new StateDir(stateDir);
  let staticRoot: string | null = null;
  try {
    staticRoot = staticRootFromNginxConf(readFileSync(state.nginxConf, 'utf8'));
  } catch {
    /* no rendered config: fall back to the runner's default */
  }
  let author = authorFromEnv(env);
  if (!author) {
    try {
      author = { username: 'admin', password: state.readSecret(state.adminPasswordFile) };
    } catch {
      author = null;
    }
  }
  const s = state.read();
  return {
    kind: 'local',
    baseUrl: status.url.replace(/\/+$/, ''),
    apps: status.apps.map((a) => ({ name: a.name, controlPort: a.controlPort })),
    staticRoot: staticRoot ?? defaultStaticRoot(projectRoot()),
    author,
    topology: s ? { apps: s.topology.appReplicas, dbReplicas: s.topology.dbReplicas } : null,
  };
}

export function urlTarget(url: string, env: NodeJS.ProcessEnv = process.env): BenchTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (err) {
    throw new Error(`--url: not a URL: "${url}"`, { cause: err });
  }
  return { kind: 'url', baseUrl: parsed.origin, apps: [], staticRoot: null, author: authorFromEnv(env), topology: null };
}

