import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppDeps, CacheStatus, RenderedPage } from '../../deps';
import type { Queryable, ReadContext } from '../../db/db';
import { siteTag } from '../../cache/tags';
import { anonymousCacheControl, cdnPageHeaders, privateCacheControl, type CdnCachePolicy } from '../../cdn/cdn-headers';
import { readContextFor } from '../../session/plugin';
import { publicContext } from './public-context';

// Every public page goes through here: anonymous requests through the page cache (keyed by the
// canonical path), logged-in requests straight to the database with their read-your-writes
// context (X-Cache: BYPASS). All of a page's queries run inside ONE db.read() callback, so they
// hit one node and the page costs at most the round trips its loader makes (≤ 2 by design).

export { privateCacheControl };

/**
 * Marks an anonymous answer cacheable: `Cache-Control: public, max-age=0, s-maxage=1,
 * stale-if-error=N` (browsers revalidate, shared caches keep it 1 s). With `tags` (a page from
 * the page cache, purged by those tags) it also carries the CDN headers: the long purge-backed TTL
 * and the tags (app/cdn/cdn-headers.ts). Without (redirects, error pages: nothing purges them)
 * a CDN keeps it no longer than any other shared cache.
 *
 * nginx keeps whole seconds (valid until `now + 1` with `now` truncated), so s-maxage=1 alone kept
 * a copy for 1-2 s and a publish could take 2 s to show through nginx; `X-Accel-Expires: @<this
 * second>` (nginx-only, read before Cache-Control and never passed on to clients) bounds it to 1 s
 * whatever the phase. nginx reads no CDN header as its own TTL.
 */
export function setAnonymousCaching(reply: FastifyReply, policy: CdnCachePolicy, tags?: readonly string[]): void {
  reply.header('Cache-Control', anonymousCacheControl(policy));
  reply.header('X-Accel-Expires', edgeExpiresNow());
  if (tags) reply.headers(cdnPageHeaders(tags, policy));
}

/** `X-Accel-Expires` of an anonymous answer: the end of the current second (setAnonymousCaching, the hot path). */
export const edgeExpiresNow = (): string => `@${Math.floor(Date.now() / 1000)}`;

/**
 * A page answer's own headers, names in lower case as fastify sends them (sendPage, and the hot
 * path in app/hot-path.ts, which answers L1 hits without fastify). X-Served-By names the renderer.
 */
export function pageHeaders(page: RenderedPage, cacheStatus: CacheStatus): Record<string, string> {
  const headers: Record<string, string> = { 'content-type': page.contentType, 'x-cache': cacheStatus, 'x-served-by': page.renderedBy };
  if (page.dbNode) headers['x-db-node'] = page.dbNode;
  if (page.headers) for (const [name, value] of Object.entries(page.headers)) headers[name.toLowerCase()] = value;
  return headers;
}

export interface PageOutput {
  status: number;
  body: string;
  contentType?: string;
  headers?: Record<string, string>;
}

export interface PageSpec<T> {
  key: string;
  /** Purge tags besides `site` (always added). */
  tags: string[];
  /** The page's reads; runs inside one db.read(). */
  load(q: Queryable): Promise<T>;
  /** Pure: data → output (templates run outside the DB callback, so no connection is held). */
  view(data: T): PageOutput;
}

export function isLoggedIn(request: FastifyRequest): boolean {
  return Boolean(request.sessionUser);
}

export async function renderPage<T>(deps: AppDeps, ctx: ReadContext, spec: PageSpec<T>): Promise<RenderedPage & { lsn: string | null }> {
  const result = await deps.db.read(ctx, (q) => spec.load(q));
  const out = spec.view(result.value);
  return {
    status: out.status,
    body: out.body,
    contentType: out.contentType ?? 'text/html; charset=utf-8',
    dbNode: result.node,
    renderedBy: deps.config.appName,
    headers: out.headers,
    lsn: result.lsn ?? null,
  };
}

/** A page that needs no database (the empty search form). */
export function staticPage(deps: AppDeps, out: PageOutput): RenderedPage {
  return { status: out.status, body: out.body, contentType: out.contentType ?? 'text/html; charset=utf-8', dbNode: null, renderedBy: deps.config.appName, headers: out.headers };
}

export async function servePage<T>(request: FastifyRequest, reply: FastifyReply, deps: AppDeps, spec: PageSpec<T>): Promise<FastifyReply> {
  let page: RenderedPage;
  let cacheStatus: CacheStatus;
  if (isLoggedIn(request)) {
    const ctx = readContextFor(request);
    await publicContext(request.server, deps).settings.atLeast(ctx.minLsn); // the author's own settings write
    const rendered = await renderPage(deps, ctx, spec);
    await request.server.sessionKit?.recordRead(request, rendered.lsn);
    page = rendered;
    cacheStatus = 'BYPASS';
    reply.header('Cache-Control', privateCacheControl);
  } else {
    // The same tags on a render and on an L1/L2 hit: they come with the request, not the entry.
    const tags = [siteTag, ...spec.tags];
    ({ page, cacheStatus } = await deps.pageCache.get({
      key: spec.key,
      tags,
      render: async (ctx) => {
        // Settings live in memory; a fill after a settings purge must not render the old ones.
        await publicContext(request.server, deps).settings.atLeast(ctx.minLsn);
        const { lsn: _lsn, ...rendered } = await renderPage(deps, ctx, spec);
        return rendered;
      },
    }));
    // A 5xx is not a page that a purge keeps right: no CDN TTL for it.
    setAnonymousCaching(reply, deps.config.cdn, page.status < 500 ? tags : undefined);
    // This URL is this page's cache key: its later L1 hits may skip fastify (app/hot-path.ts).
    if (request.url === spec.key && request.method === 'GET') request.server.hotPath?.rememberPage(spec.key, request.routeOptions.url ?? 'unmatched', tags);
  }
  return sendPage(reply, page, cacheStatus);
}

export function sendPage(reply: FastifyReply, page: RenderedPage, cacheStatus: CacheStatus): FastifyReply {
  reply.code(page.status);
  reply.headers(pageHeaders(page, cacheStatus));
  return reply.send(page.bytes ?? page.body); // L1 pages carry their encoded bytes (app/cache/l1-cache.ts)
}

/** 301 to a canonical URL (same origin: `location` is always a path we built). */
export function redirectPermanent(reply: FastifyReply, policy: CdnCachePolicy, location: string): FastifyReply {
  setAnonymousCaching(reply, policy);
  return reply.redirect(location, 301);
}
