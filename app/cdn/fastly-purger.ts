import { chunk, type CdnPurger, type PurgeOutcome } from './purger';
import { sendProviderRequest } from './provider-http';
import { cdnTags } from './cdn-headers';

// Fastly: bulk purge by surrogate key, `POST /service/{service_id}/purge` with
// `{"surrogate_keys": [...]}` (at most 256 keys per request) and the API token in `Fastly-Key`
// (a token with the `purge_select` scope, limited to the service). Hard purge: no
// `Fastly-Soft-Purge: 1` header, so nothing purged is served again as stale. The pages carry
// their purge tags in `Surrogate-Key`.

export interface FastlyPurgerOptions {
  serviceId: string;
  apiToken: string;
  maxPerRequest?: number;
  apiBase?: string;
}

export const fastlyApiBase = 'https://api.fastly.com';
export const fastlyMaxKeysPerRequest = 256;

export function createFastlyPurger(opts: FastlyPurgerOptions): CdnPurger {
  const base = (opts.apiBase ?? fastlyApiBase).replace(/\/+$/, '');
  const max = Math.min(opts.maxPerRequest ?? fastlyMaxKeysPerRequest, fastlyMaxKeysPerRequest);
  return {
    provider: 'fastly',
    async purge(tags): Promise<PurgeOutcome> {
      const out: PurgeOutcome = { requests: 0, items: 0 };
      for (const keys of chunk(cdnTags(tags), max)) {
        await sendProviderRequest('fastly', {
          method: 'POST',
          url: `${base}/service/${encodeURIComponent(opts.serviceId)}/purge`,
          headers: { 'Fastly-Key': opts.apiToken, 'Content-Type': 'application/json', Accept: 'application/json' },
          body: JSON.stringify({ surrogate_keys: keys }),
        });
        out.requests += 1;
        out.items += keys.length;
      }
      return out;
    },
  };
}
