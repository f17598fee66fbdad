// One interface for every CDN purge adapter. The job queue (app/jobs/cdn-purge-queue.ts) calls
// purge() with a batch of the app's purge tags (app/cache/tags.ts, the sets of
// app/cache/purge-set.ts); pages carry the same tags in `Surrogate-Key` and `Cache-Tag`.
// Tag-capable adapters (Cloudflare by tag, Fastly, Varnish xkey) send the tags under the names the
// pages' headers use (cdnTags() of app/cdn/cdn-headers.ts: percent-encoded, long ones hashed); URL adapters
// (CloudFront, Cloudflare by URL) turn them into paths with the database-backed expander
// (app/cdn/tag-urls.ts). Every purge is hard: the next request goes to the origin (no soft purge
// while `stale-while-revalidate` is on: a soft-purged copy would still be served once).

export const cdnProviders = ['none', 'cloudflare', 'fastly', 'cloudfront', 'varnish'] as const;
export type CdnProvider = (typeof cdnProviders)[number];

export interface PurgeOutcome {
  /** HTTP requests sent to the provider. */
  requests: number;
  /** Tags, URLs or paths they carried. */
  items: number;
}

export interface CdnPurger {
  readonly provider: Exclude<CdnProvider, 'none'>;
  /**
   * Purges every cached object carrying one of `tags`. Rejects with a CdnPurgeError on a provider
   * error (the queue retries with backoff); a partial batch is resent whole (purges are idempotent).
   */
  purge(tags: string[]): Promise<PurgeOutcome>;
}

/** A provider's refusal or an unreachable API; the message never carries a credential. */
export class CdnPurgeError extends Error {
  constructor(
    readonly provider: string,
    message: string,
    /** HTTP status, when the provider answered. */
    readonly status: number | null = null,
  ) {
    super(`${provider} purge failed: ${message}`);
    this.name = 'CdnPurgeError';
  }
}

/** Splits `items` into chunks of at most `size` (a provider's per-request limit). */
export function chunk<T>(items: readonly T[], size: number): T[][] {
  if (size < 1) throw new RangeError(`chunk size must be at least 1, got ${size}`);
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
