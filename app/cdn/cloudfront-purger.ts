import { randomBytes } from 'node:crypto';
import { chunk, CdnPurgeError, type CdnPurger, type PurgeOutcome } from './purger';
import { sendProviderRequest } from './provider-http';
import { signAwsRequest, type AwsCredentials } from './aws-sigv4';
import type { TagUrlExpander } from './tag-urls';

// CloudFront: invalidations by path, `POST /2020-05-31/distribution/{Id}/invalidation` with an
// InvalidationBatch (XML), signed with SigV4 (an IAM user or role allowed only
// `cloudfront:CreateInvalidation` on the distribution). CloudFront has no tags: the expander
// (app/cdn/tag-urls.ts) turns the purge tags into paths from the database, or `/prefix*`
// wildcards past its bound, or `/*` for a site-wide change. Limits (CloudFront quotas): 3,000
// paths in progress per distribution and 15 wildcard paths in progress; a batch is split into
// requests of at most maxPathsPerRequest paths and at most 15 wildcards, and more than 15 wildcards
// in one batch become `/*`. A TooManyInvalidationsInProgress answer rejects the batch and the queue
// retries it with backoff. An invalidation always removes the object (there is no soft variant).

export interface CloudFrontPurgerOptions {
  distributionId: string;
  credentials: AwsCredentials;
  expander: TagUrlExpander;
  maxPathsPerRequest?: number;
  apiBase?: string;
  /** Unique per request (tests pass a fixed one). */
  callerReference?: () => string;
}

export const cloudfrontApiBase = 'https://cloudfront.amazonaws.com';
export const cloudfrontMaxPaths = 3000;
export const cloudfrontMaxWildcards = 15;

const xmlEscape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');

export function invalidationBatchXml(paths: string[], callerReference: string): string {
  return '<?xml version="1.0" encoding="UTF-8"?>'
    + '<InvalidationBatch xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/">'
    + `<Paths><Quantity>${paths.length}</Quantity><Items>${paths.map((p) => `<Path>${xmlEscape(p)}</Path>`).join('')}</Items></Paths>`
    + `<CallerReference>${xmlEscape(callerReference)}</CallerReference>`
    + '</InvalidationBatch>';
}

/** Paths → request batches within the limits; more than 15 wildcards collapse to `/*`. */
export function invalidationBatches(exact: string[], wildcards: string[], maxPaths: number): string[][] {
  if (wildcards.includes('/*') || wildcards.length > cloudfrontMaxWildcards) return [['/*']];
  const batches = chunk(exact, maxPaths);
  if (wildcards.length === 0) return batches;
  // The wildcards ride with the first batch when it has room, else go alone.
  if (batches.length && batches[0].length + wildcards.length <= maxPaths) batches[0] = [...batches[0], ...wildcards];
  else batches.unshift(wildcards);
  return batches;
}

export function createCloudFrontPurger(opts: CloudFrontPurgerOptions): CdnPurger {
  const base = (opts.apiBase ?? cloudfrontApiBase).replace(/\/+$/, '');
  const maxPaths = Math.min(opts.maxPathsPerRequest ?? cloudfrontMaxPaths, cloudfrontMaxPaths);
  const reference = opts.callerReference ?? (() => `aidiary-${Date.now()}-${randomBytes(6).toString('hex')}`);
  return {
    provider: 'cloudfront',
    async purge(tags): Promise<PurgeOutcome> {
      const expanded = await opts.expander.expand(tags);
      const wildcards = expanded.everything ? ['/*'] : expanded.prefixes.map((p) => `${p}*`);
      const out: PurgeOutcome = { requests: 0, items: 0 };
      for (const paths of invalidationBatches(expanded.everything ? [] : expanded.paths, wildcards, maxPaths)) {
        const url = `${base}/2020-05-31/distribution/${encodeURIComponent(opts.distributionId)}/invalidation`;
        const body = invalidationBatchXml(paths, reference());
        const headers = signAwsRequest({
          method: 'POST', url, body, region: 'us-east-1', service: 'cloudfront', credentials: opts.credentials,
          headers: { 'content-type': 'application/xml' },
        });
        const res = await sendProviderRequest('cloudfront', { method: 'POST', url, headers, body });
        if (res.status !== 201 && res.status !== 200) throw new CdnPurgeError('cloudfront', `unexpected status ${res.status}`, res.status);
        out.requests += 1;
        out.items += paths.length;
      }
      return out;
    },
  };
}
