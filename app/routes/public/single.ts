import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppDeps } from '../../deps';
import { findVisiblePost, visiblePostExists } from '../../db/queries/public-posts';
import { postSlugTag } from '../../cache/tags';
import { httpError } from '../../errors';
import { templateCandidates } from '../../views/theme';
import { urls } from '../../views/urls';
import { postView, viewData } from '../../views/view-model';
import { excerptFromText } from '../../content/excerpt';
import { parseSlug } from './params';
import { publicContext } from './public-context';
import { redirectPermanent, servePage } from './serve-page';
import { notFoundOutput } from './not-found';

// `/posts/:slug`: published and unlisted posts (unlisted: noindex in the page and X-Robots-Tag);
// drafts and trash are 404 to everyone here (authors preview them in /admin). One round trip.
// `/:slug` (LuaAIDiary's catch-all): 301 to `/posts/:slug` when such a post is visible; a bare
// year (`/2025`) → 301 `/2025/`; anything else 404.

type Params = { slug?: string };

export function registerSingleRoutes(app: FastifyInstance, deps: AppDeps): void {
  const { theme, settings } = publicContext(app, deps);

  app.get('/posts/:slug', async (request: FastifyRequest<{ Params: Params }>, reply: FastifyReply) => {
    const slug = parseSlug(request.params.slug, 'post');
    return servePage(request, reply, deps, {
      key: urls.post(slug),
      // By slug, not id: the page is looked up in the cache before its id is known.
      tags: [postSlugTag(slug)],
      load: (q) => findVisiblePost(q, slug),
      view: (post) => {
        const site = settings.get();
        if (!post) return notFoundOutput(theme, site, 'No such post.');
        const vm = postView(post);
        const data = viewData(site, {
          kind: 'single', canonical: vm.url, heading: post.title, noindex: vm.unlisted,
          description: excerptFromText(post.excerpt, post.bodyText, post.contentHead, 120),
        }, { post: vm });
        return {
          status: 200,
          body: theme.render(templateCandidates.single(post.slug), data),
          headers: vm.unlisted ? { 'X-Robots-Tag': 'noindex' } : undefined,
        };
      },
    });
  });

  app.get('/:slug', async (request: FastifyRequest<{ Params: Params }>, reply: FastifyReply) => {
    const raw = request.params.slug ?? '';
    if (/^\d{4}$/.test(raw) && Number(raw) >= 1970) return redirectPermanent(reply, deps.config.cdn, urls.year(Number(raw)));
    const slug = parseSlug(raw, 'page');
    const { value: exists } = await deps.db.read({}, (q) => visiblePostExists(q, slug));
    if (!exists) throw httpError('not_found', 'No such page.');
    return redirectPermanent(reply, deps.config.cdn, urls.post(slug));
  });
}
