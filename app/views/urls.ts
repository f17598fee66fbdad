import { slugPath } from '../content/slug';

// Canonical public URLs (LuaAIDiary's routes). Slugs are percent-encoded path segments.
const pad = (n: number) => String(n).padStart(2, '0');

export const urls = {
  home: () => '/',
  post: (slug: string) => `/posts/${slugPath(slug)}`,
  category: (slug: string) => `/category/${slugPath(slug)}`,
  tag: (slug: string) => `/tag/${slugPath(slug)}`,
  author: (username: string) => `/author/${slugPath(username)}`,
  year: (y: number) => `/${y}/`,
  month: (y: number, m: number) => `/${y}/${pad(m)}/`,
  day: (y: number, m: number, d: number) => `/${y}/${pad(m)}/${pad(d)}/`,
  search: (s: string) => `/search?s=${encodeURIComponent(s)}`,
  feed: () => '/feed.xml',
  sitemap: () => '/sitemap.xml',
};

/** `…/page/N` for a listing base (`/`, `/category/x`, `/2025/03/`); page 1 is the base itself. */
export function pageUrl(base: string, page: number, query = ''): string {
  if (page <= 1) return `${base}${query}`;
  const trimmed = base.endsWith('/') ? base.slice(0, -1) : base;
  return `${trimmed}/page/${page}${query}`;
}
