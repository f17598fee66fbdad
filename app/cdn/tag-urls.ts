import type { Db, Queryable } from '../db/db';
import { slugPath } from '../content/slug';
import { pageUrl, urls } from '../views/urls';
import { feedTag, homeTag, searchTag, siteTag, sitemapTag } from '../cache/tags';
import { mediaPaths, mediaTagPattern } from './media-purge';

// Purge tags → the public paths that carry them, for CDNs that purge by URL (CloudFront,
// Cloudflare by URL). Computed from the database at purge time (the primary: the purge runs just
// after the commit), never from the page cache (an LRU forgets what it evicted, and the CDN may
// still hold it). A listing tag covers every page of the listing: 1..n and one more (a page a
// removal emptied, or a 404 an addition fills), or, past maxPagesPerListing, the base page plus
// the prefix `<base>/page/`. Search results (any query string) are the prefix `/search`; `site`,
// and any tag this file does not know, is everything.

export interface ExpandedPaths {
  /** Purge the whole site (a settings change, an unknown tag). */
  everything: boolean;
  /** Exact paths, e.g. `/tag/x/page/2`. */
  paths: string[];
  /** Path prefixes, e.g. `/tag/x/page/` (CloudFront appends `*`). */
  prefixes: string[];
}

export interface TagUrlExpander {
  expand(tags: string[]): Promise<ExpandedPaths>;
}

export interface TagUrlExpanderOptions {
  /** More pages than this in one listing → base + `<base>/page/` prefix. */
  maxPagesPerListing?: number;
}

export const defaultMaxPagesPerListing = 20;
const defaultPostsPerPage = 10;

type ListingKind = 'category' | 'tag' | 'author';

const countSql: Record<ListingKind | 'home', string> = {
  home: "SELECT count(*)::int AS n FROM posts WHERE status = 'published'",
  category: `SELECT count(*)::int AS n FROM posts p JOIN post_categories pc ON pc.post_id = p.id
             JOIN categories c ON c.id = pc.category_id WHERE c.slug = $1 AND p.status = 'published'`,
  tag: `SELECT count(*)::int AS n FROM posts p JOIN post_tags pt ON pt.post_id = p.id
        JOIN tags t ON t.id = pt.tag_id WHERE t.slug = $1 AND p.status = 'published'`,
  author: `SELECT count(*)::int AS n FROM posts p JOIN users u ON u.id = p.author_id
           WHERE u.username = $1 AND p.status = 'published'`,
};

/** The listing's posts-per-page setting, read as app/db/queries/site-settings.ts reads it. */
async function postsPerPage(q: Queryable): Promise<number> {
  const res = await q.query<{ value: string }>({ name: 'cdn_posts_per_page', text: "SELECT value FROM site_settings WHERE key = 'posts_per_page'" });
  const n = Number(res.rows[0]?.value);
  return Number.isInteger(n) && n >= 1 && n <= 100 ? n : defaultPostsPerPage;
}

/** `list:date:2025-03` → the archive's base and its [from, to) range in UTC, or null when malformed. */
function dateArchive(spec: string): { base: string; from: Date; to: Date } | null {
  const m = /^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$/.exec(spec);
  if (!m) return null;
  const [y, mo, d] = [Number(m[1]), m[2] ? Number(m[2]) : undefined, m[3] ? Number(m[3]) : undefined];
  if (d !== undefined) return { base: urls.day(y, mo!, d), from: new Date(Date.UTC(y, mo! - 1, d)), to: new Date(Date.UTC(y, mo! - 1, d + 1)) };
  if (mo !== undefined) return { base: urls.month(y, mo), from: new Date(Date.UTC(y, mo - 1, 1)), to: new Date(Date.UTC(y, mo, 1)) };
  return { base: urls.year(y), from: new Date(Date.UTC(y, 0, 1)), to: new Date(Date.UTC(y + 1, 0, 1)) };
}

export function createTagUrlExpander(db: Db, opts: TagUrlExpanderOptions = {}): TagUrlExpander {
  const maxPages = opts.maxPagesPerListing ?? defaultMaxPagesPerListing;

  return {
    async expand(tags) {
      const unique = [...new Set(tags)];
      const paths = new Set<string>();
      const prefixes = new Set<string>();
      if (unique.includes(siteTag)) return { everything: true, paths: [], prefixes: [] };
      let everything = false;

      await db.read({ primary: true, trackLsn: false }, async (q) => {
        let perPage: number | null = null;
        const listing = async (base: string, count: () => Promise<number>) => {
          perPage ??= await postsPerPage(q);
          const pages = Math.max(1, Math.ceil((await count()) / perPage)) + 1;
          if (pages > maxPages) {
            paths.add(base);
            prefixes.add(pageUrl(base, 2).replace(/\d+$/, ''));
            return;
          }
          for (let n = 1; n <= pages; n++) paths.add(pageUrl(base, n));
        };
        const countOf = (kind: ListingKind | 'home', value?: string) => async () =>
          (await q.query<{ n: number }>({ name: `cdn_count_${kind}`, text: countSql[kind], values: value === undefined ? [] : [value] })).rows[0]?.n ?? 0;

        for (const tag of unique) {
          const [head, ...rest] = tag.split(':');
          const arg = rest.join(':');
          if (tag === homeTag) await listing(urls.home(), countOf('home'));
          else if (tag === searchTag) prefixes.add('/search');
          else if (tag === feedTag) paths.add(urls.feed());
          else if (tag === sitemapTag) paths.add(urls.sitemap());
          else if (head === 'post-slug' && arg) {
            paths.add(urls.post(arg));
            paths.add(`/${slugPath(arg)}`); // the LuaAIDiary short form, a 301 to the post while it is visible
          } else if (head === 'post' && /^\d+$/.test(arg)) {
            const res = await q.query<{ slug: string }>({ name: 'cdn_post_slug', text: 'SELECT slug FROM posts WHERE id = $1', values: [arg] });
            // A post deleted for good: its slug tags in the same set name its pages.
            for (const r of res.rows) { paths.add(urls.post(r.slug)); paths.add(`/${slugPath(r.slug)}`); }
          } else if (head === 'list' && rest[0] === 'category' && rest.length > 1) {
            const slug = rest.slice(1).join(':');
            await listing(urls.category(slug), countOf('category', slug));
          } else if (head === 'list' && rest[0] === 'tag' && rest.length > 1) {
            const slug = rest.slice(1).join(':');
            await listing(urls.tag(slug), countOf('tag', slug));
          } else if (head === 'list' && rest[0] === 'author' && rest.length > 1) {
            const username = rest.slice(1).join(':');
            await listing(urls.author(username), countOf('author', username));
          } else if (head === 'list' && rest[0] === 'date' && rest.length === 2 && dateArchive(rest[1])) {
            const archive = dateArchive(rest[1])!;
            await listing(archive.base, async () => (await q.query<{ n: number }>({
              name: 'cdn_count_date',
              text: "SELECT count(*)::int AS n FROM posts WHERE status = 'published' AND published_at >= $1 AND published_at < $2",
              values: [archive.from, archive.to],
            })).rows[0]?.n ?? 0);
          } else if (mediaTagPattern.test(tag)) {
            for (const p of mediaPaths(mediaTagPattern.exec(tag)![1])) paths.add(p);
          } else {
            everything = true; // a tag this expander does not know: purging too much is safe, too little is not
          }
        }
      });
      if (everything) return { everything: true, paths: [], prefixes: [] };
      return { everything: false, paths: [...paths], prefixes: [...prefixes] };
    },
  };
}
