// Readable Unicode slugs. LuaAIDiary turned kanji/katakana into hex bytes ("e697a5e69cac…");
// here Japanese stays Japanese (`/posts/日本語の記事`, percent-encoded on the wire), lower-cased,
// with punctuation and spaces folded to single hyphens.

export const maxSlugLength = 120;

/** First path segments the router owns: a slug equal to one of them would be shadowed by `/:slug`. */
const reserved = new Set([
  'admin', 'api', 'login', 'logout', 'search', 'tag', 'tags', 'category', 'categories', 'author', 'authors',
  'page', 'posts', 'post', 'feed', 'feed.xml', 'rss', 'sitemap', 'sitemap.xml', 'static', 'health', 'metrics',
  'wp-admin', 'wp-login', 'wp-content', 'favicon.ico', 'robots.txt', 'uploads', 'assets',
]);

export function isReservedSlug(slug: string): boolean {
  return reserved.has(slug) || /^\d+$/.test(slug); // all digits would read as a year archive
}

/** Title → slug. Never empty, never reserved, at most maxSlugLength code points. */
export function slugify(title: string): string {
  let s = title.normalize('NFKC').toLowerCase()
    // Letters, marks and numbers of any script survive; everything else separates words.
    .replace(/[^\p{L}\p{M}\p{N}]+/gu, '-')
    .replace(/^-+|-+$/g, '');
  const chars = Array.from(s);
  if (chars.length > maxSlugLength) {
    s = chars.slice(0, maxSlugLength).join('');
    const cut = s.lastIndexOf('-');
    if (cut >= maxSlugLength / 2) s = s.slice(0, cut);
    s = s.replace(/-+$/, '');
  }
  if (!s) return 'post';
  if (isReservedSlug(s)) return `${s}-post`;
  return s;
}

/** A slug as a URL path segment. */
export function slugPath(slug: string): string {
  return encodeURIComponent(slug);
}

/** base, base-2, base-3, … until `taken` says no. Works with a Set or an async DB check. */
export async function uniqueSlug(base: string, taken: (slug: string) => boolean | Promise<boolean>): Promise<string> {
  if (!(await taken(base))) return base;
  for (let n = 2; n < 10_000; n++) {
    const suffix = `-${n}`;
    const head = Array.from(base).slice(0, maxSlugLength - suffix.length).join('');
    const candidate = `${head}${suffix}`;
    if (!(await taken(candidate))) return candidate;
  }
  throw new Error(`uniqueSlug: no free slug for "${base}"`);
}

/** Synchronous variant for batch work (seeding): `used` is updated. */
export function uniqueSlugIn(base: string, used: Set<string>): string {
  let candidate = base;
  for (let n = 2; used.has(candidate); n++) candidate = `${Array.from(base).slice(0, maxSlugLength - String(n).length - 1).join('')}-${n}`;
  used.add(candidate);
  return candidate;
}

/** A plausible slug from a URL segment (already percent-decoded): bounded and without separators. */
export function isPlausibleSlug(value: string): boolean {
  return value.length > 0 && Array.from(value).length <= maxSlugLength + 10 && !/[\s/\\?#%\u0000-\u001f]/.test(value);
}
