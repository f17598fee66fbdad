import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppDeps } from '../../deps';
import type { Queryable } from '../../db/db';
import {
  containsPattern, findAuthor, findCategory, findTag, listPosts, type ListingFilter, type PostPage,
} from '../../db/queries/public-posts';
import { authorTag, categoryTag, dateTag, homeTag, searchTag, tagTag } from '../../cache/tags';
import { templateCandidates } from '../../views/theme';
import { pageUrl, urls } from '../../views/urls';
import { pagination, postCard, viewData } from '../../views/view-model';
import { pagedParam, parseDate, parsePage, parseSearchTerm, parseSlug, parseUsername } from './params';
import { publicContext } from './public-context';
import { redirectPermanent, servePage, staticPage, sendPage, setAnonymousCaching } from './serve-page';
import { notFoundOutput } from './not-found';

// Home, category, tag, author, date archives and search: one shape. Each listing is at most two
// round trips: the archive's subject (category/tag/author; none for home/date/search) and one
// query for the page rows with their total (app/db/queries/public-posts.ts).
//
// URLs: `<base>` is page 1, `<base>/page/N` the others (`/page/1` → 301 to the base);
// LuaAIDiary's `?paged=N` → 301 to the same. Search: `/search?s=…` and `/search/page/N?s=…`.

interface ListingSpec<S> {
  base: string;
  page: number;
  tags: string[];
  templates: (subject: S) => string[];
  /** Loads the archive's subject; null → 404. Omit for listings without one. */
  subject?: (q: Queryable) => Promise<S | null>;
  filter: (subject: S) => ListingFilter;
  heading: (subject: S) => string;
  description?: (subject: S) => string;
  kind: string;
  /** Appended to every page URL (search: `?s=…`). */
  query?: string;
  search?: string;
}

type Params = Record<string, string | undefined>;

export function registerListingRoutes(app: FastifyInstance, deps: AppDeps): void {
  const { theme, settings } = publicContext(app, deps);

  async function serveListing<S>(request: FastifyRequest, reply: FastifyReply, spec: ListingSpec<S>) {
    const paged = pagedParam(request.query);
    if (paged !== null) return redirectPermanent(reply, deps.config.cdn, pageUrl(spec.base, paged, spec.query ?? ''));
    const key = pageUrl(spec.base, spec.page, spec.query ?? '');
    return servePage(request, reply, deps, {
      key,
      tags: spec.tags,
      load: async (q): Promise<{ subject: S | null; found: boolean; list: PostPage | null; perPage: number }> => {
        // Read at render time: servePage has brought the settings up to the fill's LSN by then.
        const perPage = settings.get().postsPerPage;
        const subject = spec.subject ? await spec.subject(q) : (null as S);
        if (spec.subject && !subject) return { subject: null, found: false, list: null, perPage };
        const list = await listPosts(q, spec.filter(subject as S), perPage, (spec.page - 1) * perPage);
        return { subject, found: true, list, perPage };
      },
      view: ({ subject, found, list, perPage }) => {
        const site = settings.get();
        if (!found || !list) return notFoundOutput(theme, site, 'There is nothing here.');
        if (list.rows.length === 0 && spec.page > 1) return notFoundOutput(theme, site, `There is no page ${spec.page} here.`);
        const s = subject as S;
        const total = list.total ?? 0;
        const data = viewData(site, {
          kind: spec.kind,
          canonical: key,
          heading: spec.heading(s),
          description: spec.description?.(s) ?? '',
          documentTitle: spec.kind === 'home' && spec.page === 1 ? site.title : undefined,
        }, {
          posts: list.rows.map(postCard),
          pagination: pagination(spec.base, spec.page, perPage, total, spec.query ?? ''),
          search: spec.search !== undefined ? { query: spec.search, total } : null,
        });
        return { status: 200, body: theme.render(spec.templates(s), data) };
      },
    });
  }

  const pageOf = (params: Params) => parsePage(params.n);
  // `/…/page/1` is the base page under another name.
  const canonicalPage = (reply: FastifyReply, base: string, params: Params, query = '') =>
    params.n !== undefined && pageOf(params) === 1 ? redirectPermanent(reply, deps.config.cdn, pageUrl(base, 1, query)) : null;

  // Home.
  const home = async (request: FastifyRequest<{ Params: Params }>, reply: FastifyReply) =>
    canonicalPage(reply, '/', request.params) ?? serveListing(request, reply, {
      kind: 'home', base: '/', page: pageOf(request.params), tags: [homeTag],
      templates: templateCandidates.home, filter: () => ({ kind: 'home' }),
      heading: () => '', description: () => settings.get().description,
    });
  app.get('/', home);
  app.get('/page/:n', home);

  // Category archives.
  const category = async (request: FastifyRequest<{ Params: Params }>, reply: FastifyReply) => {
    const slug = parseSlug(request.params.slug, 'category');
    const base = urls.category(slug);
    return canonicalPage(reply, base, request.params) ?? serveListing(request, reply, {
      kind: 'category', base, page: pageOf(request.params), tags: [categoryTag(slug)],
      templates: () => templateCandidates.category(slug),
      subject: (q) => findCategory(q, slug),
      filter: (c) => ({ kind: 'category', categoryId: c.id }),
      heading: (c) => `カテゴリー / Category: ${c.name}`,
      description: (c) => c.description,
    });
  };
  app.get('/category/:slug', category);
  app.get('/category/:slug/page/:n', category);

  // Tag archives.
  const tag = async (request: FastifyRequest<{ Params: Params }>, reply: FastifyReply) => {
    const slug = parseSlug(request.params.slug, 'tag');
    const base = urls.tag(slug);
    return canonicalPage(reply, base, request.params) ?? serveListing(request, reply, {
      kind: 'tag', base, page: pageOf(request.params), tags: [tagTag(slug)],
      templates: () => templateCandidates.tag(slug),
      subject: (q) => findTag(q, slug),
      filter: (t) => ({ kind: 'tag', tagId: t.id }),
      heading: (t) => `タグ / Tag: ${t.name}`,
    });
  };
  app.get('/tag/:slug', tag);
  app.get('/tag/:slug/page/:n', tag);

  // Author archives.
  const author = async (request: FastifyRequest<{ Params: Params }>, reply: FastifyReply) => {
    const username = parseUsername(request.params.username);
    const base = urls.author(username);
    return canonicalPage(reply, base, request.params) ?? serveListing(request, reply, {
      kind: 'author', base, page: pageOf(request.params), tags: [authorTag(username)],
      templates: () => templateCandidates.author(username),
      subject: (q) => findAuthor(q, username),
      filter: (a) => ({ kind: 'author', userId: a.id }),
      heading: (a) => `著者 / Author: ${a.displayName}`,
      description: (a) => a.bio,
    });
  };
  app.get('/author/:username', author);
  app.get('/author/:username/page/:n', author);

  // Date archives: `/2025/`, `/2025/03/`, `/2025/03/09/` (UTC), each with `/page/N`.
  const date = async (request: FastifyRequest<{ Params: Params }>, reply: FastifyReply) => {
    const { year, month, day } = request.params;
    const range = parseDate(year!, month, day);
    const base = range.day ? urls.day(range.year, range.month!, range.day) : range.month ? urls.month(range.year, range.month) : urls.year(range.year);
    // `/2025/3/` → `/2025/03/`: one URL per archive.
    const asRequested = `/${year}/${month !== undefined ? `${month}/` : ''}${day !== undefined ? `${day}/` : ''}`;
    if (asRequested !== base) return redirectPermanent(reply, deps.config.cdn, pageUrl(base, request.params.n ? pageOf(request.params) : 1));
    const label = [String(range.year), range.month && String(range.month).padStart(2, '0'), range.day && String(range.day).padStart(2, '0')].filter(Boolean).join('-');
    return canonicalPage(reply, base, request.params) ?? serveListing(request, reply, {
      kind: 'date', base, page: pageOf(request.params), tags: [dateTag(range.year, range.month, range.day)],
      templates: templateCandidates.date,
      filter: () => ({ kind: 'date', from: range.from, to: range.to }),
      heading: () => `アーカイブ / Archive: ${label}`,
    });
  };
  app.get('/:year/', date);
  app.get('/:year/page/:n', date);
  app.get('/:year/:month/', date);
  app.get('/:year/:month/page/:n', date);
  app.get('/:year/:month/:day/', date);
  app.get('/:year/:month/:day/page/:n', date);
  // LuaAIDiary's slash-less forms. (`/:year` alone is handled with `/:slug`, see single.ts.)
  app.get('/:year/:month', async (request: FastifyRequest<{ Params: Params }>, reply) => {
    const r = parseDate(request.params.year!, request.params.month);
    return redirectPermanent(reply, deps.config.cdn, urls.month(r.year, r.month!));
  });
  app.get('/:year/:month/:day', async (request: FastifyRequest<{ Params: Params }>, reply) => {
    const r = parseDate(request.params.year!, request.params.month, request.params.day);
    return redirectPermanent(reply, deps.config.cdn, urls.day(r.year, r.month!, r.day!));
  });

  // Search: partial match over title, excerpt and body (trigram index for 3+ characters; shorter
  // Japanese terms fall back to a scan of the published rows, which still answers correctly).
  const search = async (request: FastifyRequest<{ Params: Params }>, reply: FastifyReply) => {
    const term = parseSearchTerm(request.query);
    const query = term ? `?s=${encodeURIComponent(term)}` : '';
    if (!term) {
      // The empty form: no query to run, and no pages beyond the first.
      if (request.params.n !== undefined || pagedParam(request.query) !== null) return redirectPermanent(reply, deps.config.cdn, '/search');
      const site = settings.get();
      const data = viewData(site, { kind: 'search', canonical: '/search', heading: '検索 / Search' }, { search: { query: '', total: 0 } });
      setAnonymousCaching(reply, deps.config.cdn);
      return sendPage(reply, staticPage(deps, { status: 200, body: theme.render(templateCandidates.search(), data) }), 'BYPASS');
    }
    return canonicalPage(reply, '/search', request.params, query) ?? serveListing(request, reply, {
      kind: 'search', base: '/search', page: pageOf(request.params), tags: [searchTag], query, search: term,
      templates: templateCandidates.search,
      filter: () => ({ kind: 'search', pattern: containsPattern(term) }),
      heading: () => `検索 / Search: ${term}`,
    });
  };
  app.get('/search', search);
  app.get('/search/page/:n', search);
}
