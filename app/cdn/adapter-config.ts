import { ConfigError, secret as readSecret } from '../config';
import type { Db } from '../db/db';
import { cdnProviders, type CdnProvider, type CdnPurger } from './purger';
import { createCloudflarePurger } from './cloudflare-purger';
import { createFastlyPurger } from './fastly-purger';
import { createCloudFrontPurger } from './cloudfront-purger';
import { createVarnishPurger } from './varnish-purger';
import { createTagUrlExpander, defaultMaxPagesPerListing } from './tag-urls';

// Which CDN purge adapter runs, and its credentials, from the environment (validated at start;
// an error names the variable and the fix). Secrets as everywhere else: `<NAME>_FILE` (a 0600
// file; the stacks mount them from a Secret) or `<NAME>`; never logged.
//
//   AIDIARY_CDN_PROVIDER            none (default) | cloudflare | fastly | cloudfront | varnish
//   AIDIARY_CDN_PURGE_DELAY_MS      delay after the commit, at least 1100 (nginx keeps a page to
//                                   the end of its second: a purge sooner could be refilled from it)
//   AIDIARY_CDN_API_URL             the provider's API base (default: its public endpoint; a
//                                   corporate proxy or a test server)
//   cloudflare  AIDIARY_CDN_CLOUDFLARE_ZONE_ID, AIDIARY_CDN_CLOUDFLARE_API_TOKEN(_FILE),
//               AIDIARY_CDN_CLOUDFLARE_PURGE_BY = tags (default) | urls,
//               AIDIARY_CDN_CLOUDFLARE_MAX_PER_REQUEST (default 100; 500 for URLs on Enterprise)
//   fastly      AIDIARY_CDN_FASTLY_SERVICE_ID, AIDIARY_CDN_FASTLY_API_TOKEN(_FILE)
//   cloudfront  AIDIARY_CDN_CLOUDFRONT_DISTRIBUTION_ID, AIDIARY_CDN_AWS_ACCESS_KEY_ID,
//               AIDIARY_CDN_AWS_SECRET_ACCESS_KEY(_FILE)
//   varnish     AIDIARY_CDN_VARNISH_URL (e.g. http://127.0.0.1:6081)
//   AIDIARY_CDN_MAX_PAGES_PER_LISTING   URL adapters: more pages than this → a `/page/` prefix

type Env = Record<string, string | undefined>;

export const minPurgeDelayMs = 1100;

export type CdnAdapterConfig =
  | { provider: 'none' }
  | ({ provider: Exclude<CdnProvider, 'none'>; purgeDelayMs: number; apiUrl: string | null; maxPagesPerListing: number } & (
    | { provider: 'cloudflare'; zoneId: string; apiToken: string; purgeBy: 'tags' | 'urls'; maxPerRequest: number }
    | { provider: 'fastly'; serviceId: string; apiToken: string }
    | { provider: 'cloudfront'; distributionId: string; accessKeyId: string; secretAccessKey: string }
    | { provider: 'varnish'; url: string }
  ));

/** A provider's secret through the config's own reader (app/config.ts), required for that provider. */
function secret(env: Env, name: string): string {
  const value = readSecret(env, name, false);
  if (value) return value;
  throw new ConfigError(`${name}: missing for AIDIARY_CDN_PROVIDER=${env.AIDIARY_CDN_PROVIDER}; set ${name}_FILE (a 0600 file holding it) or ${name}`);
}

function required(env: Env, name: string, pattern: RegExp, example: string): string {
  const value = env[name]?.trim();
  if (!value) throw new ConfigError(`${name}: missing for AIDIARY_CDN_PROVIDER=${env.AIDIARY_CDN_PROVIDER}; set it, e.g. ${example}`);
  if (!pattern.test(value)) throw new ConfigError(`${name}: "${value}" is not valid; expected something like ${example}`);
  return value;
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`${name}: expected an integer from ${min} to ${max}, got "${raw}"`);
  return n;
}

function httpUrl(name: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`${name}: "${value}" is not a URL; e.g. http://127.0.0.1:6081`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`${name}: "${value}" must be http:// or https://`);
  return url.toString().replace(/\/+$/, '');
}

export function loadCdnAdapterConfig(env: Env = process.env): CdnAdapterConfig {
  const provider = (env.AIDIARY_CDN_PROVIDER ?? 'none').trim() || 'none';
  if (!(cdnProviders as readonly string[]).includes(provider)) {
    throw new ConfigError(`AIDIARY_CDN_PROVIDER: "${provider}" is not one of ${cdnProviders.join(', ')}`);
  }
  if (provider === 'none') return { provider: 'none' };
  const common = {
    purgeDelayMs: integer(env, 'AIDIARY_CDN_PURGE_DELAY_MS', minPurgeDelayMs, minPurgeDelayMs, 60_000),
    apiUrl: env.AIDIARY_CDN_API_URL ? httpUrl('AIDIARY_CDN_API_URL', env.AIDIARY_CDN_API_URL) : null,
    maxPagesPerListing: integer(env, 'AIDIARY_CDN_MAX_PAGES_PER_LISTING', defaultMaxPagesPerListing, 1, 1000),
  };
  switch (provider as Exclude<CdnProvider, 'none'>) {
    case 'cloudflare': {
      const purgeBy = env.AIDIARY_CDN_CLOUDFLARE_PURGE_BY ?? 'tags';
      if (purgeBy !== 'tags' && purgeBy !== 'urls') throw new ConfigError(`AIDIARY_CDN_CLOUDFLARE_PURGE_BY: "${purgeBy}" is not tags or urls`);
      return {
        provider: 'cloudflare', ...common, purgeBy,
        zoneId: required(env, 'AIDIARY_CDN_CLOUDFLARE_ZONE_ID', /^[0-9a-f]{32}$/, '023e105f4ecef8ad9ca31a8372d0c353 (the zone ID on the zone\'s overview page)'),
        apiToken: secret(env, 'AIDIARY_CDN_CLOUDFLARE_API_TOKEN'),
        maxPerRequest: integer(env, 'AIDIARY_CDN_CLOUDFLARE_MAX_PER_REQUEST', 100, 1, 500),
      };
    }
    case 'fastly':
      return {
        provider: 'fastly', ...common,
        serviceId: required(env, 'AIDIARY_CDN_FASTLY_SERVICE_ID', /^[A-Za-z0-9]{8,64}$/, 'SU1Z0isxPaozGVKXdv0eY (the service ID)'),
        apiToken: secret(env, 'AIDIARY_CDN_FASTLY_API_TOKEN'),
      };
    case 'cloudfront':
      return {
        provider: 'cloudfront', ...common,
        distributionId: required(env, 'AIDIARY_CDN_CLOUDFRONT_DISTRIBUTION_ID', /^[A-Z0-9]{8,32}$/, 'EDFDVBD6EXAMPLE'),
        accessKeyId: required(env, 'AIDIARY_CDN_AWS_ACCESS_KEY_ID', /^[A-Z0-9]{16,128}$/, 'AKIAIOSFODNN7EXAMPLE'),
        secretAccessKey: secret(env, 'AIDIARY_CDN_AWS_SECRET_ACCESS_KEY'),
      };
    case 'varnish': {
      const url = env.AIDIARY_CDN_VARNISH_URL;
      if (!url) throw new ConfigError('AIDIARY_CDN_VARNISH_URL: missing for AIDIARY_CDN_PROVIDER=varnish; set it to Varnish\'s address, e.g. http://127.0.0.1:6081');
      return { provider: 'varnish', ...common, url: httpUrl('AIDIARY_CDN_VARNISH_URL', url) };
    }
  }
}

/** The configured adapter, or null for `none`. URL adapters read the database (the tag→URL expander). */
export function createCdnPurger(config: CdnAdapterConfig, deps: { db: Db; siteUrl: string }): CdnPurger | null {
  if (config.provider === 'none') return null;
  const apiBase = config.apiUrl ?? undefined;
  const expander = () => createTagUrlExpander(deps.db, { maxPagesPerListing: config.maxPagesPerListing });
  switch (config.provider) {
    case 'cloudflare':
      return createCloudflarePurger({
        zoneId: config.zoneId, apiToken: config.apiToken, mode: config.purgeBy, siteUrl: deps.siteUrl,
        expander: config.purgeBy === 'urls' ? expander() : undefined, maxPerRequest: config.maxPerRequest, apiBase,
      });
    case 'fastly':
      return createFastlyPurger({ serviceId: config.serviceId, apiToken: config.apiToken, apiBase });
    case 'cloudfront':
      return createCloudFrontPurger({
        distributionId: config.distributionId, credentials: { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey },
        expander: expander(), apiBase,
      });
    case 'varnish':
      return createVarnishPurger({ url: config.url });
  }
}
