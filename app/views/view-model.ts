import type { ListedPost, PostDetail, PostSummary } from '../db/queries/public-posts';
import type { SiteSettings } from '../db/queries/site-settings';
import { excerptFromText } from '../content/excerpt';
import { renderMarkdown } from '../content/markdown';
import { pageUrl, urls } from './urls';
import { assetUrl } from '../cdn/static-assets';

// What templates receive (`it`). Everything here is plain data; the templates escape it.

export interface LinkVm { name: string; url: string }

export interface PostCardVm {
  title: string;
  url: string;
  excerpt: string;
  date: string;
  dateIso: string;
  author: LinkVm;
  categories: LinkVm[];
  tags: LinkVm[];
}

export interface PostVm extends PostCardVm {
  /** Sanitized HTML from Markdown (app/content/markdown.ts): the one raw value templates print. */
  html: string;
  unlisted: boolean;
}

export interface PaginationVm {
  page: number;
  totalPages: number;
  total: number;
  prevUrl: string | null;
  nextUrl: string | null;
}

export interface ViewData {
  site: { title: string; description: string };
  view: { kind: string; heading: string; description: string; noindex: boolean; canonical: string; documentTitle: string };
  posts: PostCardVm[];
  post: PostVm | null;
  pagination: PaginationVm | null;
  search: { query: string; total: number } | null;
  error: { status: number; message: string } | null;
  /** `it.asset('style.css')`: the content-hashed URL of a file under app/static/ (app/cdn/static-assets.ts). */
  asset: (name: string) => string;
}

/**
 * A listing's row carries its date already formatted by PostgreSQL, the post page's a Date.
 * The shown date is YYYY-MM-DD in UTC: date archives are UTC too, so a post's date links to the
 * archive holding it.
 */
export function postCard(p: ListedPost | PostSummary): PostCardVm {
  const dateIso = 'publishedIso' in p ? p.publishedIso : p.publishedAt.toISOString();
  return {
    title: p.title,
    url: urls.post(p.slug),
    excerpt: excerptFromText(p.excerpt, p.bodyText, p.contentHead),
    date: dateIso.slice(0, 10),
    dateIso,
    author: { name: p.author.displayName, url: urls.author(p.author.username) },
    categories: p.categories.map((c) => ({ name: c.name, url: urls.category(c.slug) })),
    tags: p.tags.map((t) => ({ name: t.name, url: urls.tag(t.slug) })),
  };
}

export function postView(p: PostDetail): PostVm {
  // The HTML stored at write time (app/content/rendered-post.ts), else rendered here.
  return { ...postCard(p), html: p.contentHtml ?? renderMarkdown(p.content), unlisted: p.status === 'unlisted' };
}

export function pagination(base: string, page: number, perPage: number, total: number, query = ''): PaginationVm {
  const totalPages = Math.max(1, Math.ceil(total / perPage));
  return {
    page, totalPages, total,
    prevUrl: page > 1 ? pageUrl(base, page - 1, query) : null,
    nextUrl: page < totalPages ? pageUrl(base, page + 1, query) : null,
  };
}

export function viewData(site: SiteSettings, view: Partial<ViewData['view']> & { kind: string; canonical: string }, rest: Partial<Omit<ViewData, 'site' | 'view'>> = {}): ViewData {
  const heading = view.heading ?? '';
  return {
    site: { title: site.title, description: site.description },
    view: {
      kind: view.kind,
      // Absolute, under the configured origin (never the request's Host).
      canonical: view.canonical ? `${site.origin}${view.canonical}` : '',
      heading,
      description: view.description ?? '',
      noindex: view.noindex ?? false,
      documentTitle: view.documentTitle ?? (heading ? `${heading} | ${site.title}` : site.title),
    },
    posts: rest.posts ?? [],
    post: rest.post ?? null,
    pagination: rest.pagination ?? null,
    search: rest.search ?? null,
    error: rest.error ?? null,
    asset: assetUrl,
  };
}
