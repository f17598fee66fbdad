import type { FastifyInstance } from 'fastify';
import { immutableCacheControl, plainNameCacheControl, staticAssets } from '../../cdn/static-assets';

// `/static/*` for direct access to an app (nginx serves /static/ itself, with the same names and
// cache headers: nginx/render.ts). The views link content-hashed names (app/cdn/static-assets.ts):
//   /static/style.<hash>.css   the file, immutable for a year
//   /static/style.css          the file, 5 minutes (bookmarks, old pages, other tools)
//   /static/style.<other>.css  302 to the current hashed name, not cached: a link from another
//                              release must not store this release's content under its name
// Hand-rolled because @fastify/static is not a dependency and this needs ~20 lines.

export function registerStaticRoutes(app: FastifyInstance): void {
  const assets = staticAssets(); // hashed once, at start
  app.get('/static/*', async (request, reply) => {
    const found = assets.lookup((request.params as { '*': string })['*']);
    if (!found) {
      reply.code(404).type('text/plain; charset=utf-8');
      return 'Not found.\n';
    }
    if (found.kind === 'other-hash') {
      return reply.header('Cache-Control', 'no-cache').redirect(assets.url(found.asset.name), 302);
    }
    const { asset } = found;
    reply.header('ETag', asset.etag).header('Cache-Control', found.kind === 'hashed' ? immutableCacheControl : plainNameCacheControl).type(asset.type);
    if (request.headers['if-none-match'] === asset.etag) return reply.code(304).send();
    return reply.send(asset.body);
  });
}
