import { readFileSync } from 'node:fs';
import { clusterStatus } from '../local/status';
import { projectRoot, StateDir } from '../local/state';
import { staticRoot as defaultStaticRoot } from '../local/nginx-process';
import type { Topology } from '../topology';
import type { TierRoots } from './tier-sampler';

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
  /** The local cluster's processes and settings (CPU per tier, the side nginx); null with --url. */
  cluster: {
    topology: Topology;
    /** Root pid of each tier's process trees (cdn empty when there is none). */
    roots: TierRoots;
    apps: { name: string; pid: number; port: number }[];
    stubStatusUrl: string;
  } | null;
  /** The CDN in front of nginx (`aidiary up --cdn …`), or why there is none usable. */
  cdn: { url: string; kind: string } | { unavailable: string };
}

/** The `cdn` entry of `status --json`: {kind, url, pid, port, healthy} or null. */
export function cdnFromStatus(cdn: unknown): { kind: string; url: string; pid: number | null; healthy: boolean } | null {
  if (cdn === null || cdn === undefined) return null;
  const c = cdn as Record<string, unknown>;
  if (typeof c.url !== 'string') throw new Error('status: the cdn entry has no url');
  return { kind: typeof c.kind === 'string' ? c.kind : 'cdn', url: c.url.replace(/\/+$/, ''), pid: typeof c.pid === 'number' ? c.pid : null, healthy: c.healthy === true };
}

const noCdn = { unavailable: 'no CDN in front of this cluster (`aidiary up --cdn varnish` starts one)' };

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
  const cdn = cdnFromStatus((status as { cdn?: unknown }).cdn);
  const pids = (list: { pid: number | null }[]) => list.map((n) => n.pid).filter((p): p is number => p !== null);
  return {
    kind: 'local',
    baseUrl: status.url.replace(/\/+$/, ''),
    apps: status.apps.map((a) => ({ name: a.name, controlPort: a.controlPort })),
    staticRoot: staticRoot ?? defaultStaticRoot(projectRoot()),
    author,
    topology: s ? { apps: s.topology.appReplicas, dbReplicas: s.topology.dbReplicas } : null,
    cluster: s ? {
      topology: s.topology,
      roots: { nginx: pids([status.lb]), apps: pids(status.apps), postgres: pids(status.postgres), redis: pids(status.redis), cdn: cdn?.pid ? [cdn.pid] : [] },
      apps: status.apps.filter((a) => a.pid !== null).map((a) => ({ name: a.name, pid: a.pid!, port: a.port })),
      stubStatusUrl: `http://127.0.0.1:${s.topology.ports.stubStatus}/stub_status`,
    } : null,
    cdn: !cdn ? noCdn : cdn.healthy ? { url: cdn.url, kind: cdn.kind } : { unavailable: `the CDN (${cdn.kind}) at ${cdn.url} is not healthy; see \`aidiary status\`` },
  };
}

export function urlTarget(url: string, env: NodeJS.ProcessEnv = process.env): BenchTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (err) {
    throw new Error(`--url: not a URL: "${url}"`, { cause: err });
  }
  return { kind: 'url', baseUrl: parsed.origin, apps: [], staticRoot: null, author: authorFromEnv(env), topology: null, cluster: null, cdn: { unavailable: '--url mode: no cluster state to find a CDN in' } };
}

