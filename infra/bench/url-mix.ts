import type { UrlMix } from './zipf';

// The URL universe of the mixes, discovered over HTTP so it works against any deployed stack:
// posts from /sitemap.xml (newest first, so rank 1 is the newest post), listings from the links of
// the home page and a post page. Every listing is checked once (200, not a redirect) so the mix
// never contains a URL that would count as an error.

export const defaultPostCount = 10_000;
/** Share of mix requests that go to listings (home, pagination, archives, feed); the rest are posts. */
export const defaultListingShare = 0.3;

async function fetchText(url: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { headers, redirect: 'manual', signal: AbortSignal.timeout(30_000) });
  return { status: res.status, text: await res.text() };
}

export function pathsFromSitemap(xml: string): string[] {
  const out: string[] = [];
  for (const m of xml.matchAll(/<loc>\s*([^<\s]+)\s*<\/loc>/g)) {
    try {
      const path = new URL(m[1].replace(/&amp;/g, '&')).pathname;
      if (path.startsWith('/posts/')) out.push(path);
    } catch {
      /* not a URL: skip */
    }
  }
  return out;
}

export function listingLinks(html: string): string[] {
  const out = new Set<string>();
  for (const m of html.matchAll(/href="(\/(?:category|tag|author)\/[^"#?]+|\/page\/\d+|\/\d{4}\/(?:\d{2}\/)?)"/g)) out.add(m[1]);
  return [...out];
}

/**
 * `headers`: the edge-bypass header where nginx honours it, so the pages read are current renders:
 * measured, a restarted cluster's kept micro-cache answered STALE copies of / and a post with 3
 * listing links instead of ~40, which shrank the mix to 7 listings.
 */
export async function discoverUrlMix(baseUrl: string, opts: { maxPosts?: number; listingShare?: number; headers?: Record<string, string> } = {}): Promise<UrlMix & { postsAvailable: number }> {
  const headers = opts.headers ?? {};
  const sitemap = await fetchText(`${baseUrl}/sitemap.xml`, headers);
  if (sitemap.status !== 200) throw new Error(`GET /sitemap.xml answered ${sitemap.status}; cannot list the posts`);
  const allPosts = pathsFromSitemap(sitemap.text);
  if (allPosts.length === 0) throw new Error('the sitemap lists no posts; seed some (`aidiary seed --posts N`)');
  const posts = allPosts.slice(0, opts.maxPosts ?? defaultPostCount);

  const home = await fetchText(`${baseUrl}/`, headers);
  const post = await fetchText(`${baseUrl}${posts[0]}`, headers);
  const candidates = ['/', '/page/2', '/page/3', '/feed.xml', ...listingLinks(home.text), ...listingLinks(post.text)];
  const unique = [...new Set(candidates)].slice(0, 60);
  const checked = await Promise.all(unique.map(async (path) => ((await fetchText(`${baseUrl}${path}`)).status === 200 ? path : null)));
  const listings = checked.filter((p): p is string => p !== null);
  if (!listings.includes('/')) throw new Error('GET / did not answer 200; is the stack healthy?');
  return { posts, listings, listingShare: opts.listingShare ?? defaultListingShare, postsAvailable: allPosts.length };
}
