import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AppDeps } from '../../deps';
import { feedItems, sitemapEntries } from '../../db/queries/public-posts';
import { feedTag, sitemapTag } from '../../cache/tags';
import { renderRss, renderSitemap } from '../../views/xml';
import { publicContext } from './public-context';
import { servePage } from './serve-page';

// `/feed.xml` (RSS 2.0, the 20 newest published posts) and `/sitemap.xml` (published posts only;
// unlisted posts stay out of both). Absolute links need the public origin: the `site_url` setting
// when set, else the request's own scheme and Host (a Host that is not a plain host[:port] falls
// back to localhost). The origin is part of the cache key, so one Host cannot poison another's copy.

const feedSize = 20;
const hostPattern = /^[a-z0-9.-]{1,253}(:\d{1,5})?$/i;

function originOf(request: FastifyRequest, siteUrl: string | undefined): string {
  if (siteUrl && /^https?:\/\/[^\s/]+$/.test(siteUrl.replace(/\/$/, ''))) return siteUrl.replace(/\/$/, '');
  const host = request.host && hostPattern.test(request.host) ? request.host : 'localhost';
  return `${request.protocol === 'https' ? 'https' : 'http'}://${host.toLowerCase()}`;
}

export function registerFeedRoutes(app: FastifyInstance, deps: AppDeps): void {
  const { settings } = publicContext(app, deps);

  app.get('/feed.xml', async (request, reply) => {
    const origin = originOf(request, settings.get().all.site_url);
    return servePage(request, reply, deps, {
      key: `/feed.xml#${origin}`,
      tags: [feedTag],
      load: (q) => feedItems(q, feedSize),
      view: (items) => ({ status: 200, contentType: 'application/rss+xml; charset=utf-8', body: renderRss(settings.get(), origin, items) }),
    });
  });

  app.get('/sitemap.xml', async (request, reply) => {
    const origin = originOf(request, settings.get().all.site_url);
    return servePage(request, reply, deps, {
      key: `/sitemap.xml#${origin}`,
      tags: [sitemapTag],
      load: (q) => sitemapEntries(q),
      view: (entries) => ({ status: 200, contentType: 'application/xml; charset=utf-8', body: renderSitemap(origin, entries) }),
    });
  });
}
