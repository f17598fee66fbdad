import type { FastifyInstance } from 'fastify';
import type { AppDeps } from '../../deps';
import { feedItems, sitemapEntries } from '../../db/queries/public-posts';
import { feedTag, sitemapTag } from '../../cache/tags';
import { renderRss, renderSitemap } from '../../views/xml';
import { publicContext } from './public-context';
import { servePage } from './serve-page';

// `/feed.xml` (RSS 2.0, the 20 newest published posts) and `/sitemap.xml` (published posts only;
// unlisted posts stay out of both). Absolute links use the configured public origin
// (AIDIARY_SITE_URL, from the topology's siteUrl), never the request's Host: one cached copy each,
// whatever Host a client sends.

const feedSize = 20;

export function registerFeedRoutes(app: FastifyInstance, deps: AppDeps): void {
  const { settings } = publicContext(app, deps);
  const origin = deps.config.siteUrl;

  app.get('/feed.xml', async (request, reply) => {
    return servePage(request, reply, deps, {
      key: '/feed.xml',
      tags: [feedTag],
      load: (q) => feedItems(q, feedSize),
      view: (items) => ({ status: 200, contentType: 'application/rss+xml; charset=utf-8', body: renderRss(settings.get(), origin, items) }),
    });
  });

  app.get('/sitemap.xml', async (request, reply) => {
    return servePage(request, reply, deps, {
      key: '/sitemap.xml',
      tags: [sitemapTag],
      load: (q) => sitemapEntries(q),
      view: (entries) => ({ status: 200, contentType: 'application/xml; charset=utf-8', body: renderSitemap(origin, entries) }),
    });
  });
}
