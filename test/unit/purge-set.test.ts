import { describe, expect, it } from 'vitest';
import { purgeSetFor } from '../../app/cache/purge-set';
import type { PostSnapshot } from '../../app/deps';

// The known failure list of WordPress/Fastly cache plugins (peers.md §3): each case names the
// page that plugin X left stale, and asserts our purge set covers it.

const post = (over: Partial<PostSnapshot> = {}): PostSnapshot => ({
  id: 7,
  slug: 'hello-world',
  status: 'published',
  publishedAt: new Date('2025-03-09T10:00:00Z'),
  authorUsername: 'alice',
  categorySlugs: ['tech'],
  tagSlugs: ['node', 'redis'],
  ...over,
});
const lsn = '0/16B3748';

describe('purgeSetFor', () => {
  it('publishing a new post purges the posts page (home listing, every page of it) and a cached 404 of its URL', () => {
    const tags = purgeSetFor({ kind: 'post', before: null, after: post(), lsn });
    expect(tags).toContain('list:home');
    expect(tags).toContain('post:7');
    expect(tags).toContain('post-slug:hello-world');
  });

  it('a new post purges every tag and category archive it appears on (no collection-key hole)', () => {
    const tags = purgeSetFor({ kind: 'post', before: post({ status: 'draft', publishedAt: null }), after: post(), lsn });
    expect(tags).toEqual(expect.arrayContaining(['list:tag:node', 'list:tag:redis', 'list:category:tech', 'list:author:alice']));
  });

  it('purges the date archives (year, month, day) and feeds, sitemap, search', () => {
    const tags = purgeSetFor({ kind: 'post', before: null, after: post(), lsn });
    expect(tags).toEqual(expect.arrayContaining(['list:date:2025', 'list:date:2025-03', 'list:date:2025-03-09', 'feed', 'sitemap', 'list:search']));
  });

  it('pagination siblings share the listing tag: one tag covers /page/2, /page/3 …', () => {
    // Pages are keyed by URL but tagged by listing; the purge set must not enumerate page numbers.
    const tags = purgeSetFor({ kind: 'post', before: post(), after: post({ publishedAt: new Date('2025-03-10T00:00:00Z') }), lsn });
    expect(tags.filter((t) => t.startsWith('list:home'))).toEqual(['list:home']);
  });

  it('unpublish (published → draft) purges everything the post appeared on', () => {
    const tags = purgeSetFor({ kind: 'post', before: post(), after: post({ status: 'draft' }), lsn });
    expect(tags).toEqual(expect.arrayContaining(['post:7', 'list:home', 'feed', 'sitemap', 'list:tag:node', 'list:category:tech', 'list:date:2025-03-09']));
  });

  it('trash purges like unpublish', () => {
    const tags = purgeSetFor({ kind: 'post', before: post(), after: post({ status: 'trash' }), lsn });
    expect(tags).toEqual(expect.arrayContaining(['post:7', 'list:home', 'feed', 'list:author:alice', 'list:tag:redis']));
  });

  it('slug change purges the post tag (carried by the old-slug and new-slug pages) and the listings', () => {
    const tags = purgeSetFor({ kind: 'post', before: post(), after: post({ slug: 'hello-again' }), lsn });
    expect(tags).toEqual(expect.arrayContaining(['post:7', 'post-slug:hello-world', 'post-slug:hello-again', 'list:home', 'feed', 'sitemap']));
  });

  it('re-categorising purges the OLD and the NEW category and tag archives', () => {
    const tags = purgeSetFor({
      kind: 'post', lsn,
      before: post({ categorySlugs: ['tech'], tagSlugs: ['node'] }),
      after: post({ categorySlugs: ['life'], tagSlugs: ['cooking'] }),
    });
    expect(tags).toEqual(expect.arrayContaining(['list:category:tech', 'list:category:life', 'list:tag:node', 'list:tag:cooking']));
  });

  it('re-dating purges the old and the new date archives', () => {
    const tags = purgeSetFor({ kind: 'post', lsn, before: post(), after: post({ publishedAt: new Date('2024-12-31T23:00:00Z') }) });
    expect(tags).toEqual(expect.arrayContaining(['list:date:2025-03-09', 'list:date:2024', 'list:date:2024-12', 'list:date:2024-12-31']));
  });

  it('scheduled publish (a status transition without an edit) purges the listings', () => {
    const scheduled = post({ status: 'draft', publishedAt: null });
    const tags = purgeSetFor({ kind: 'post', lsn, before: scheduled, after: post() });
    expect(tags).toEqual(expect.arrayContaining(['list:home', 'feed', 'list:tag:node']));
  });

  it('an unlisted post purges its page and what links to it, but a draft edit purges only its own page', () => {
    expect(purgeSetFor({ kind: 'post', lsn, before: post({ status: 'draft' }), after: post({ status: 'draft', slug: 'x' }) }).sort())
      .toEqual(['post-slug:hello-world', 'post-slug:x', 'post:7']);
    expect(purgeSetFor({ kind: 'post', lsn, before: null, after: post({ status: 'draft' }) }).sort()).toEqual(['post-slug:hello-world', 'post:7']);
    expect(purgeSetFor({ kind: 'post', lsn, before: post({ status: 'unlisted' }), after: post({ status: 'unlisted' }) })).toContain('post:7');
  });

  it('deleting a published post (after = null) purges its old listings', () => {
    const tags = purgeSetFor({ kind: 'post', lsn, before: post(), after: null });
    expect(tags).toEqual(expect.arrayContaining(['post:7', 'list:home', 'list:tag:node', 'feed']));
  });

  it('site changes purge `site` (every page carries it)', () => {
    expect(purgeSetFor({ kind: 'site', lsn })).toEqual(['site']);
  });

  it('returns no duplicates', () => {
    const tags = purgeSetFor({ kind: 'post', lsn, before: post(), after: post() });
    expect(new Set(tags).size).toBe(tags.length);
  });
});
