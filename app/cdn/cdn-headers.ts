import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';

// The cache headers of an anonymous page, for every tier in front of the apps:
// - Browsers and shared caches that know nothing of purges read `Cache-Control`: revalidate every
//   time, at most 1 s in a shared cache (nginx's micro-cache bound), stale copies on origin errors.
// - CDNs read the long, purge-backed TTL from the header made for them, which other caches ignore:
//   `Surrogate-Control` (Fastly; the Varnish tier's VCL), `CDN-Cache-Control` (RFC 9213) and
//   `Cloudflare-CDN-Cache-Control` (Cloudflare only; it prefers it to CDN-Cache-Control).
// - The page's purge tags (app/cache/tags.ts) in the header each CDN indexes: `Surrogate-Key`
//   (space separated: Fastly, Varnish xkey) and `Cache-Tag` (comma separated: Cloudflare).
// The purge side must name tags exactly as the pages do: it maps its purge set through cdnTags().

export interface CdnCachePolicy {
  /** How long a CDN keeps a page: safe because every write purges the page's tags. */
  ttlSeconds: number;
  /** How long past that a CDN (or browser) may serve its copy while the origin answers errors. */
  staleIfErrorSeconds: number;
}

export const SURROGATE_KEY = 'Surrogate-Key';
export const CACHE_TAG = 'Cache-Tag';
export const SURROGATE_CONTROL = 'Surrogate-Control';
export const CDN_CACHE_CONTROL = 'CDN-Cache-Control';
export const CLOUDFLARE_CDN_CACHE_CONTROL = 'Cloudflare-CDN-Cache-Control';

/** Headers meant for a CDN only: nginx strips them from what reaches clients when no CDN is in front. */
export const cdnOnlyHeaders = [SURROGATE_KEY, CACHE_TAG, SURROGATE_CONTROL, CDN_CACHE_CONTROL, CLOUDFLARE_CDN_CACHE_CONTROL] as const;

/** Logged-in pages: never stored anywhere (and they carry none of the CDN headers). */
export const privateCacheControl = 'private, no-store';

/**
 * Per tag: 128 bytes, the smallest limit among the CDNs (Akamai 128 characters, CloudFront 256,
 * Fastly and Cloudflare 1 KB).
 */
export const maxTagBytes = 128;
/** CloudFront reads at most 50 tags per object; the others allow more. */
export const maxTags = 50;
/**
 * Per header. Cloudflare and Fastly take 16 KB, but nginx reads the whole upstream header block
 * into proxy_buffer_size (16 KB, nginx/render.ts) and answers 502 past it, and both tag headers
 * travel together: 4 KB each leaves room for the rest.
 */
export const maxTagHeaderBytes = 4096;

/** Characters encodeURIComponent leaves alone, plus the `:` between parts. */
const plainTag = /^[A-Za-z0-9:\-_.!~*'()]+$/;

/**
 * One tag, as it may appear in a header. Tags hold slugs and usernames in any script
 * (`list:category:日記`), but headers are ASCII and the separators (space, comma) must not occur
 * inside a tag: each `:`-separated part is percent-encoded (injective: `%` itself is encoded).
 * A tag longer than {@link maxTagBytes} once encoded (a long Japanese slug triples, and a slug
 * from a request URL is unbounded) becomes `h:<sha-256 prefix>` instead of being cut or dropped:
 * the same function on the purge side gives the same name, so the purge stays exact.
 */
export function cdnTag(tag: string): string {
  if (tag.length <= maxTagBytes && plainTag.test(tag)) return tag; // the common case: nothing to encode
  let encoded: string | null;
  try {
    encoded = tag.split(':').map(encodeURIComponent).join(':');
  } catch {
    encoded = null; // a lone surrogate (not well-formed UTF-16): no encoding, hash it
  }
  if (encoded !== null && encoded.length <= maxTagBytes) return encoded;
  return `h:${createHash('sha256').update(tag).digest('hex').slice(0, 32)}`;
}

/** A purge set (or a page's tags) as CDN tag names: encoded, deduplicated, order kept. */
export function cdnTags(tags: readonly string[]): string[] {
  return [...new Set(tags.map(cdnTag))];
}

export const anonymousCacheControl = (policy: CdnCachePolicy): string =>
  `public, max-age=0, s-maxage=1, stale-if-error=${policy.staleIfErrorSeconds}`;

/**
 * The CDN headers of an anonymous, purge-tagged page (`tags` from its PageRequest; `site` among them).
 *
 * Bounded: when the tags do not fit (more than {@link maxTags}, or a header over
 * {@link maxTagHeaderBytes}), no tag is dropped silently. The page then carries only the coarse
 * `site` tag (which settings changes purge) and the CDN TTL falls back to the 1 s bound of
 * Cache-Control, so a write that the missing tags would have purged shows within a second anyway.
 * No page of this site comes near the bound today (a page has two or three tags).
 */
export function cdnPageHeaders(tags: readonly string[], policy: CdnCachePolicy, coarseTag = 'site'): Readonly<Record<string, string>> {
  // Every anonymous response (L1 hits too) needs these: computed once per tag list, not per request.
  const key = `${policy.ttlSeconds}/${policy.staleIfErrorSeconds}/${coarseTag}\n${tags.join('\n')}`;
  let headers = computed.get(key);
  if (!headers) {
    headers = Object.freeze(computeCdnPageHeaders(tags, policy, coarseTag)); // shared by every response
    computed.set(key, headers);
  }
  return headers;
}

/** Bounded: tag lists come from URLs (a slug per post page), so there may be many. */
const computed = new LRUCache<string, Readonly<Record<string, string>>>({ max: 2000 });

function computeCdnPageHeaders(tags: readonly string[], policy: CdnCachePolicy, coarseTag: string): Record<string, string> {
  let names = cdnTags(tags);
  let ttl = policy.ttlSeconds;
  if (names.length > maxTags || names.join(' ').length > maxTagHeaderBytes) {
    names = [cdnTag(coarseTag)];
    ttl = 1;
  }
  const stale = `stale-if-error=${policy.staleIfErrorSeconds}`;
  return {
    [SURROGATE_CONTROL]: `max-age=${ttl}, ${stale}`,
    [CDN_CACHE_CONTROL]: `max-age=${ttl}, ${stale}`,
    [CLOUDFLARE_CDN_CACHE_CONTROL]: `max-age=${ttl}, ${stale}`,
    [SURROGATE_KEY]: names.join(' '),
    [CACHE_TAG]: names.join(','),
  };
}
