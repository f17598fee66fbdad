import { describe, expect, it } from 'vitest';
import { anonymousCacheControl, cdnPageHeaders, cdnTag, cdnTags, maxTagBytes, maxTagHeaderBytes, maxTags } from '../../app/cdn/cdn-headers';
import { ConfigError, loadConfig } from '../../app/config';
import { categoryTag, postSlugTag, postTag, siteTag } from '../../app/cache/tags';
import { purgeSetFor } from '../../app/cache/purge-set';
import type { PostSnapshot } from '../../app/deps';

const policy = { ttlSeconds: 86_400, staleIfErrorSeconds: 3_600 };
const baseEnv = { AIDIARY_DB_NODES: 'pg-0@127.0.0.1:5433', AIDIARY_DB_PASSWORD: 'pw', AIDIARY_SESSION_SECRET: 'x'.repeat(32) };

describe('CDN tag names', () => {
  it('keeps ASCII tags as they are and percent-encodes the rest, so no tag holds a separator', () => {
    expect(cdnTag('list:category:diary')).toBe('list:category:diary');
    expect(cdnTag(categoryTag('日記'))).toBe('list:category:%E6%97%A5%E8%A8%98');
    for (const raw of ['a b', 'a,b', 'a%2Cb', 'é\tx', 'x"y']) {
      const t = cdnTag(postSlugTag(raw));
      expect(t).toMatch(/^[\x21-\x7e]+$/);
      expect(t).not.toMatch(/[ ,"]/);
    }
    // Injective: a literal "%2C" and a real comma do not meet.
    expect(cdnTag('post-slug:a%2Cb')).not.toBe(cdnTag('post-slug:a,b'));
  });

  it('names an over-long tag by a digest that the purge side computes the same way, never a cut tag', () => {
    const long = postSlugTag('日'.repeat(120)); // the longest slug, 9 bytes per character encoded
    const t = cdnTag(long);
    expect(t).toMatch(/^h:[0-9a-f]{32}$/);
    expect(cdnTag(long)).toBe(t);
    expect(cdnTag(postSlugTag('日'.repeat(119)))).not.toBe(t);
    expect(cdnTag('x'.repeat(maxTagBytes))).toBe('x'.repeat(maxTagBytes));
    expect(cdnTag('x'.repeat(maxTagBytes + 1))).toMatch(/^h:/);
    expect(cdnTag('post-slug:\ud800')).toMatch(/^h:/); // not well-formed: hashed, not thrown
  });

  it('maps a write\'s purge set to exactly the names its pages carry', () => {
    const post: PostSnapshot = { id: 7, slug: '日記の記事', status: 'published', authorUsername: 'admin', categorySlugs: ['日記'], tagSlugs: [], publishedAt: new Date('2025-03-09T12:00:00Z') };
    const purge = cdnTags(purgeSetFor({ kind: 'post', before: null, after: post, lsn: '0/1' }));
    const singlePage = cdnPageHeaders([siteTag, postSlugTag(post.slug)], policy);
    const categoryPage = cdnPageHeaders([siteTag, categoryTag('日記')], policy);
    for (const headers of [singlePage, categoryPage]) {
      const pageTags = headers['Surrogate-Key'].split(' ').filter((t) => t !== siteTag);
      expect(pageTags.every((t) => purge.includes(t))).toBe(true);
    }
    expect(purge).toContain(cdnTag(postTag(7)));
  });
});

describe('cdnPageHeaders', () => {
  it('puts the long TTL only in the CDN headers and the tags in both tag headers', () => {
    const h = cdnPageHeaders([siteTag, 'list:home', 'list:home'], policy);
    expect(h).toEqual({
      'Surrogate-Control': 'max-age=86400, stale-if-error=3600',
      'CDN-Cache-Control': 'max-age=86400, stale-if-error=3600',
      'Cloudflare-CDN-Cache-Control': 'max-age=86400, stale-if-error=3600',
      'Surrogate-Key': 'site list:home',
      'Cache-Tag': 'site,list:home',
    });
    expect(anonymousCacheControl(policy)).toBe('public, max-age=0, s-maxage=1, stale-if-error=3600');
  });

  it('computed once per tag list and policy (every L1 hit asks), never shared across policies', () => {
    const a = cdnPageHeaders([siteTag, 'feed'], policy);
    expect(cdnPageHeaders([siteTag, 'feed'], policy)).toBe(a);
    const other = cdnPageHeaders([siteTag, 'feed'], { ttlSeconds: 60, staleIfErrorSeconds: 5 });
    expect(other['Surrogate-Control']).toBe('max-age=60, stale-if-error=5');
    expect(cdnPageHeaders([siteTag, 'feed', 'sitemap'], policy)['Surrogate-Key']).toBe('site feed sitemap');
    expect(Object.isFrozen(a)).toBe(true); // shared: no caller can change another response's headers
  });

  it('past the count or size bound, falls back to the coarse site tag and the 1 s TTL instead of dropping tags', () => {
    const many = [siteTag, ...Array.from({ length: maxTags }, (_, i) => postTag(i))];
    const h = cdnPageHeaders(many, policy);
    expect(h['Surrogate-Key']).toBe('site');
    expect(h['Cache-Tag']).toBe('site');
    expect(h['Surrogate-Control']).toBe('max-age=1, stale-if-error=3600');
    expect(h['CDN-Cache-Control']).toBe('max-age=1, stale-if-error=3600');

    const wide = [siteTag, ...Array.from({ length: 40 }, (_, i) => `list:tag:${String(i).padStart(maxTagBytes - 9, 'x')}`)];
    expect(wide.join(' ').length).toBeGreaterThan(maxTagHeaderBytes);
    expect(cdnPageHeaders(wide, policy)['Surrogate-Key']).toBe('site');

    const fits = [siteTag, ...Array.from({ length: maxTags - 1 }, (_, i) => postTag(i))];
    const ok = cdnPageHeaders(fits, policy);
    expect(ok['Surrogate-Key'].split(' ')).toHaveLength(maxTags);
    expect(ok['Surrogate-Control']).toBe('max-age=86400, stale-if-error=3600');
  });
});

describe('CDN config', () => {
  it('defaults to a day each and reads AIDIARY_CDN_TTL_SECONDS / AIDIARY_CDN_STALE_IF_ERROR_SECONDS', () => {
    expect(loadConfig(baseEnv).cdn).toEqual({ ttlSeconds: 86_400, staleIfErrorSeconds: 86_400 });
    expect(loadConfig({ ...baseEnv, AIDIARY_CDN_TTL_SECONDS: '600', AIDIARY_CDN_STALE_IF_ERROR_SECONDS: '30' }).cdn).toEqual({ ttlSeconds: 600, staleIfErrorSeconds: 30 });
  });

  it('refuses anything but whole seconds from 1 to a year, naming the variable', () => {
    for (const [name, value] of [['AIDIARY_CDN_TTL_SECONDS', '0'], ['AIDIARY_CDN_TTL_SECONDS', '1.5'], ['AIDIARY_CDN_STALE_IF_ERROR_SECONDS', 'soon'], ['AIDIARY_CDN_TTL_SECONDS', '31536001']]) {
      expect(() => loadConfig({ ...baseEnv, [name]: value })).toThrow(ConfigError);
      expect(() => loadConfig({ ...baseEnv, [name]: value })).toThrow(new RegExp(`^${name}: .*"${value.replace('.', '\\.')}"`));
    }
  });
});
