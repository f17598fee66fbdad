import type { Queryable } from '../db';

// Readable Unicode slugs: "日本語のタイトル" → "日本語のタイトル", "Hello, World!" → "hello-world".
// Letters and digits of every script are kept (NFKC-normalised, lower-cased); URLs percent-encode
// them. Paths the site itself uses are avoided so /:slug redirects can never shadow them.

const reserved = new Set(['admin', 'api', 'login', 'logout', 'search', 'tag', 'category', 'author', 'page', 'posts',
  'feed', 'feed.xml', 'sitemap', 'sitemap.xml', 'static', 'health', 'metrics', 'wp-admin', 'wp-login']);

export const maxSlugLength = 120;

export function slugify(input: string): string {
  const base = input
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\p{M}]+/gu, '-')
    .replace(/^-+|-+$/g, '');
  // Cut at a separator when possible, counting code points (never split a character).
  let slug = Array.from(base).slice(0, maxSlugLength).join('');
  if (slug.length < base.length && slug.includes('-')) slug = slug.slice(0, slug.lastIndexOf('-'));
  slug = slug.replace(/-+$/g, '');
  if (reserved.has(slug) || /^\d+$/.test(slug)) slug = `${slug}-post`;
  return slug;
}

/** A slug the user typed: same alphabet as slugify, must not change under slugify. */
export function isValidSlug(slug: string): boolean {
  return slug.length > 0 && Array.from(slug).length <= maxSlugLength && slugify(slug) === slug;
}

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** `base`, else `base-2`, `base-3`, … whichever is free in `table` (ignoring row `excludeId`). */
export async function uniqueSlug(q: Queryable, table: 'posts' | 'categories' | 'tags', base: string, excludeId: number | null): Promise<string> {
  const { rows } = await q.query<{ slug: string }>({
    name: `admin_slugs_taken_${table}`,
    text: `SELECT slug FROM ${table} WHERE (slug = $1 OR slug ~ $2) AND id IS DISTINCT FROM $3`,
    values: [base, `^${escapeRegex(base)}-[0-9]+$`, excludeId],
  });
  const taken = new Set(rows.map((r) => r.slug));
  if (!taken.has(base)) return base;
  for (let n = 2; ; n++) if (!taken.has(`${base}-${n}`)) return `${base}-${n}`;
}
