// The purge-tag vocabulary shared by the pages (which tags a page depends on) and the
// dependency map (which tags a write purges; app/cache/purge-set.ts). Every page carries `site`,
// so a settings change purges everything.

export const siteTag = 'site';
export const homeTag = 'list:home';
export const feedTag = 'feed';
export const sitemapTag = 'sitemap';
export const searchTag = 'list:search';
export const postTag = (id: number | string) => `post:${id}`;
export const categoryTag = (slug: string) => `list:category:${slug}`;
export const tagTag = (slug: string) => `list:tag:${slug}`;
export const authorTag = (username: string) => `list:author:${username}`;
/** `list:date:2025`, `list:date:2025-03`, `list:date:2025-03-09`. */
export const dateTag = (year: number, month?: number, day?: number) =>
  `list:date:${[String(year).padStart(4, '0'), month && String(month).padStart(2, '0'), day && String(day).padStart(2, '0')].filter(Boolean).join('-')}`;
/** A single post's page, keyed by slug (the page is cached before its id is known). Purged for the old and new slug of a changed post. */
export const postSlugTag = (slug: string) => `post-slug:${slug}`;
