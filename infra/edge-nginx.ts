import { renderNginxConfig, RESOLVER_TIMEOUT_SECONDS, RESOLVER_VALID_SECONDS, type NginxRenderInput } from '../nginx/render';
import { edgeTrustedProxies, hasCdnTier, type Topology } from './topology';

/**
 * Where nginx keeps its files inside the edge image (see the Dockerfile's `edge` stage). Every
 * writable path is under /tmp, so nginx runs as the image's unprivileged `nginx` user (uid 101)
 * and, on Kubernetes, with a read-only root filesystem plus an emptyDir on /tmp.
 */
export const edgePaths: NginxRenderInput['paths'] = {
  prefix: '/etc/nginx/aidiary/',
  pidFile: '/tmp/nginx.pid',
  errorLog: '/dev/stderr',
  accessLog: '/dev/stdout',
  cacheDir: '/tmp/nginx-cache',
  tempDir: '/tmp',
  staticRoot: '/usr/share/aidiary/static',
};
export const edgeConfigDir = '/etc/nginx/aidiary';
export const edgeConfigFile = `${edgeConfigDir}/nginx.conf`;
export const edgeTlsDir = '/etc/nginx/tls';
export const edgeUser = 101;

/** The command that runs it: the rendered config already says `daemon off`. */
export const edgeCommand = ['nginx', '-p', edgePaths.prefix, '-c', edgeConfigFile];

export interface EdgeUpstream {
  /** A name resolving to every app instance: a Docker network alias or a headless Service. */
  host: string;
  port: number;
  resolver: string;
}

/**
 * The edge config of a Pulumi stack: `least_conn` over a re-resolved name (`resolve`, nginx
 * >= 1.27.3), so adding or removing apps never changes nginx's config and never replaces it.
 * `workerProcesses`: one per CPU of the container's limit (absent: nginx's `auto`).
 */
export function renderEdgeConfig(t: Topology, upstream: EdgeUpstream, tls?: NginxRenderInput['tls'], paths = edgePaths, workerProcesses?: number): string {
  return renderNginxConfig({
    topology: { ...t, trustedProxies: edgeTrustedProxies(t) },
    // A CDN tier in front (Varnish locally, a provider on a stack) reads the tag and CDN-TTL headers.
    passCdnHeaders: hasCdnTier(t),
    upstream: { kind: 'resolve', ...upstream },
    listenPort: t.ports.lb,
    stubStatusPort: t.ports.stubStatus,
    paths,
    tls,
    workerProcesses,
  });
}

/**
 * How long the edge may still send new requests to an app whose address already left DNS: the
 * resolver keeps an answer RESOLVER_VALID_SECONDS, and a refresh may take RESOLVER_TIMEOUT_SECONDS.
 */
export const edgeResolverStalenessMs = (RESOLVER_VALID_SECONDS + RESOLVER_TIMEOUT_SECONDS) * 1000;

/**
 * How long a leaving app keeps serving before it closes its listener, where nothing takes it out
 * of the edge's view first (Docker: no pre-stop hook): the staleness above plus a margin for the
 * lookup in flight and the DNS server catching up. Kubernetes spends the same time in preStop.
 */
export const drainBehindResolverMs = edgeResolverStalenessMs + 3000;

/** nginx workers for a CPU limit: one per whole CPU, at least one. */
export function workersForCpuLimit(cpus: number): number {
  return Math.max(1, Math.floor(cpus));
}

/** Health check from inside the edge container: stub_status on loopback answers once nginx runs. */
export function edgeHealthCommand(t: Topology): string[] {
  return ['wget', '-q', '-O', '/dev/null', `http://127.0.0.1:${t.ports.stubStatus}/stub_status`];
}
