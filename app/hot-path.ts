import type { IncomingMessage, ServerResponse } from 'node:http';
import proxyAddr from '@fastify/proxy-addr';
import { LRUCache } from 'lru-cache';
import type { AppConfig } from './config';
import type { PageCache } from './deps';
import { anonymousCacheControl, cdnPageHeaders } from './cdn/cdn-headers';
import { faults } from './fault-injection';
import { requestIdOf } from './request-id';
import type { RequestRecorder } from './request-record';
import { securityHeaders } from './routes/security-headers';
import { edgeExpiresNow, pageHeaders } from './routes/public/serve-page';
import { sessionCookieName } from './session/plugin';
import type { TrustCheck } from './trusted-edge';

// The two answers an app gives most, made on node:http before fastify sees the request:
// `GET /health` and an anonymous `GET` of a page whose fresh copy is in this process's L1.
// Fastify's request and reply objects, routing and hooks cost more CPU than the answer itself
// (measured with wrk at one app: /health 52 µs per request through fastify, a bare node:http
// server 15 µs), and these two are most of what reaches an app behind the edge's micro-cache.
//
// Only what fastify would answer identically is taken here, with the same headers, log line and
// latency sample (test/integration/hot-path.test.ts compares both paths over real sockets):
// - a page only once fastify has served its URL as that very cache key (servePage calls
//   `rememberPage`), so the URL → key mapping is the routes' own, never re-derived here;
// - never a request with a session cookie, a body, a method other than GET, while the app drains
//   (fastify then adds `Connection: close`) or while a fault ratio is set (the alert tests).
// Everything else, stale L1 copies included, goes to fastify unchanged.

interface RememberedPage {
  /** The route's pattern, for the latency histogram's label. */
  route: string;
  /** The CDN headers of the page's purge tags (names in lower case, as fastify sends them). */
  cdnHeaders: Readonly<Record<string, string>>;
}

/** Fastify lower-cases every header name it sends; the hot path sends the same bytes. */
const lowerCaseNames = (headers: Readonly<Record<string, string>>): Record<string, string> =>
  Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));

export interface HotPath {
  /** True when it answered; false: hand the request to fastify. */
  serve(req: IncomingMessage, res: ServerResponse): boolean;
  /** servePage: fastify served `url`, which is the page's cache key, for `route`. */
  rememberPage(url: string, route: string, tags: readonly string[]): void;
}

export interface HotPathDeps {
  config: AppConfig;
  pageCache: PageCache;
  fromEdge: TrustCheck;
  record: RequestRecorder;
  isDraining(): boolean;
}

/** The liveness answer's body (the hot path's, and fastify's `/health` route for inject() and HEAD). */
export function healthStatus(appName: string): { status: 'ok'; service: 'aidiary'; app: string; uptimeSeconds: number } {
  return { status: 'ok', service: 'aidiary', app: appName, uptimeSeconds: Math.round(process.uptime()) };
}

/** Bounded: about one per page L1 can hold (64 MiB of ~5 KB pages), each a few hundred bytes. */
const maxRememberedPages = 20_000;

export function createHotPath(deps: HotPathDeps): HotPath {
  const { config, pageCache, fromEdge, record } = deps;
  const pages = new LRUCache<string, RememberedPage>({ max: maxRememberedPages });
  const trustHop = (address: string) => fromEdge(address);
  const clientAddress = (req: IncomingMessage) => (config.trustedEdge.length > 0 ? proxyAddr(req, trustHop) : req.socket.remoteAddress);
  const cacheControl = anonymousCacheControl(config.cdn);
  const security = lowerCaseNames(securityHeaders);
  const healthHeaders = { 'cache-control': 'no-store', 'content-type': 'application/json; charset=utf-8' };

  const finish = (req: IncomingMessage, startedAt: number, reqId: string, status: number, route: string, cache: string | undefined) =>
    record({ reqId, method: 'GET', url: req.url as string, statusCode: status, elapsedMs: performance.now() - startedAt, cache, remoteAddress: clientAddress(req), route });

  function serveHealth(req: IncomingMessage, res: ServerResponse, startedAt: number): void {
    const reqId = requestIdOf(req, fromEdge);
    const body = JSON.stringify(healthStatus(config.appName));
    res.writeHead(200, {
      'x-served-by': config.appName, 'x-request-id': reqId, ...security, ...healthHeaders,
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
    finish(req, startedAt, reqId, 200, '/health', undefined);
  }

  function servePageHit(req: IncomingMessage, res: ServerResponse, startedAt: number, url: string): boolean {
    const remembered = pages.get(url);
    if (!remembered) return false;
    const page = pageCache.freshL1Hit?.(url);
    if (!page?.bytes) return false;
    const reqId = requestIdOf(req, fromEdge);
    // What fastify's hooks, servePage's setAnonymousCaching and sendPage's pageHeaders set.
    const headers: Record<string, string | number> = {
      'x-request-id': reqId, ...security,
      'cache-control': cacheControl, 'x-accel-expires': edgeExpiresNow(),
      ...(page.status < 500 ? remembered.cdnHeaders : undefined),
      ...pageHeaders(page, 'HIT-L1'),
      'content-length': page.bytes.length,
    };
    res.writeHead(page.status, headers);
    res.end(page.bytes);
    finish(req, startedAt, reqId, page.status, remembered.route, 'HIT-L1');
    return true;
  }

  return {
    serve(req, res) {
      if (req.method !== 'GET' || deps.isDraining() || faults.errorRatio > 0) return false;
      const h = req.headers;
      if (h['content-length'] !== undefined || h['transfer-encoding'] !== undefined) return false;
      const url = req.url as string;
      const startedAt = performance.now();
      if (url === '/health') {
        serveHealth(req, res, startedAt);
        return true;
      }
      if (h.cookie !== undefined && h.cookie.includes(sessionCookieName)) return false;
      return servePageHit(req, res, startedAt, url);
    },
    rememberPage(url, route, tags) {
      if (!pages.has(url)) pages.set(url, { route, cdnHeaders: lowerCaseNames(cdnPageHeaders(tags, config.cdn)) });
    },
  };
}
