import { chunk, CdnPurgeError, type CdnPurger, type PurgeOutcome } from './purger';
import { sendProviderRequest } from './provider-http';
import { cdnTags } from './cdn-headers';
import type { TagUrlExpander } from './tag-urls';

// Cloudflare: `POST /zones/{zone_id}/purge_cache` with an API token (Bearer; a token limited to
// the zone's "Cache Purge" permission). Two modes:
//   tags  `{"tags": [...]}`: every object whose `Cache-Tag` header holds one of them (the pages
//         carry their purge tags there). Available on every plan.
//   urls  `{"files": [absolute URLs]}` and `{"prefixes": ["host/path"]}` from the expander, or
//         `{"purge_everything": true}` for a site-wide change.
// Limits (developers.cloudflare.com/cache/how-to/purge-cache, "availability and limits"): at most
// 100 tags/prefixes/URLs per request (500 URLs on Enterprise: maxPerRequest), and a per-account
// request rate (5 per minute on Free): a 429 rejects the batch and the queue retries it with backoff.
// Purges are always hard: `purge_cache`, never the revalidating `invalidate` endpoint.

export interface CloudflarePurgerOptions {
  zoneId: string;
  apiToken: string;
  mode: 'tags' | 'urls';
  /** The public origin the zone serves (absolute URLs and prefixes are built from it). */
  siteUrl: string;
  /** Needed in `urls` mode. */
  expander?: TagUrlExpander;
  maxPerRequest?: number;
  apiBase?: string;
}

export const cloudflareApiBase = 'https://api.cloudflare.com/client/v4';
export const cloudflareMaxPerRequest = 100;

export function createCloudflarePurger(opts: CloudflarePurgerOptions): CdnPurger {
  const base = (opts.apiBase ?? cloudflareApiBase).replace(/\/+$/, '');
  const max = opts.maxPerRequest ?? cloudflareMaxPerRequest;
  const site = new URL(opts.siteUrl);
  const origin = site.origin;
  if (opts.mode === 'urls' && !opts.expander) throw new Error('cloudflare purger: urls mode needs a tag→URL expander');

  const send = async (body: Record<string, unknown>) => {
    const res = await sendProviderRequest('cloudflare', {
      method: 'POST',
      url: `${base}/zones/${encodeURIComponent(opts.zoneId)}/purge_cache`,
      headers: { Authorization: `Bearer ${opts.apiToken}`, 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify(body),
    });
    // The v4 envelope: a 200 may still say success: false.
    let parsed: { success?: boolean; errors?: Array<{ code?: number; message?: string }> } = {};
    try { parsed = JSON.parse(res.text); } catch { /* not JSON: judged by the status alone */ }
    if (parsed.success === false) {
      throw new CdnPurgeError('cloudflare', `refused: ${(parsed.errors ?? []).map((e) => `${e.code} ${e.message}`).join('; ') || 'success: false'}`, res.status);
    }
  };

  return {
    provider: 'cloudflare',
    async purge(tags): Promise<PurgeOutcome> {
      const out: PurgeOutcome = { requests: 0, items: 0 };
      const run = async (field: 'tags' | 'files' | 'prefixes', items: string[]) => {
        for (const part of chunk(items, max)) {
          await send({ [field]: part });
          out.requests += 1;
          out.items += part.length;
        }
      };
      if (opts.mode === 'tags') {
        await run('tags', cdnTags(tags));
        return out;
      }
      const expanded = await opts.expander!.expand(tags);
      if (expanded.everything) {
        await send({ purge_everything: true });
        return { requests: 1, items: 1 };
      }
      await run('files', expanded.paths.map((p) => `${origin}${p}`));
      // Prefixes are `host/path`, no scheme (the API refuses one).
      await run('prefixes', expanded.prefixes.map((p) => `${site.host}${p}`));
      return out;
    },
  };
}
