import { describe, expect, test } from 'vitest';
import { L1Cache, type CachedPage } from '../../app/cache/l1-cache';

// The in-process L1 (app/cache/l1-cache.ts): pages kept as bytes, the tag → keys index that
// purges drop entries by, and the generation backstop. The cluster-wide behaviour is covered by
// test/integration/page-cache*.test.ts; these pin the data structures on their own.

function entry(body: string, tags: string[], gens: Record<string, number> = {}): CachedPage {
  return {
    page: { status: 200, body, contentType: 'text/html; charset=utf-8', dbNode: 'pg-1', renderedBy: 'app-0', headers: { 'X-Robots-Tag': 'noindex' } },
    tags, gens, freshUntilMs: 1_000, renderedAtMs: 500, minLsn: '0/16B3748',
  };
}

function cache(maxBytes = 1 << 20): { l1: L1Cache; evictions: () => number } {
  let evicted = 0;
  return { l1: new L1Cache({ maxBytes, onEvict: () => evicted++ }), evictions: () => evicted };
}

describe('L1 page cache', () => {
  test('a stored page keeps its fields, its body as UTF-8 bytes and a body that decodes them', () => {
    const { l1 } = cache();
    l1.set('/posts/é', entry('<p>café ☕</p>', ['site', 'post:é'], { site: 3, 'post:é': 7 }), 60_000);
    const got = l1.get('/posts/é')!;
    expect(got.page.bytes).toEqual(Buffer.from('<p>café ☕</p>', 'utf8'));
    expect(got.page.body).toBe('<p>café ☕</p>');
    expect(got.page).toMatchObject({ status: 200, contentType: 'text/html; charset=utf-8', dbNode: 'pg-1', renderedBy: 'app-0', headers: { 'X-Robots-Tag': 'noindex' } });
    expect(got).toMatchObject({ tags: ['site', 'post:é'], freshUntilMs: 1_000, renderedAtMs: 500, minLsn: '0/16B3748' });
    expect(got.gens).toEqual({ site: 3, 'post:é': 7 });
  });

  test('gens keeps only what the render carried (a missing tag stays missing)', () => {
    const { l1 } = cache();
    l1.set('/outage', entry('x', ['site', 'home'], {}), 60_000);
    expect(l1.get('/outage')!.gens).toEqual({});
    l1.set('/half', entry('x', ['site', 'home'], { home: 2 }), 60_000);
    expect(l1.get('/half')!.gens).toEqual({ home: 2 });
  });

  test('dropTags drops exactly the entries carrying a tag, whether one or many carry it', () => {
    const { l1 } = cache();
    l1.set('/a', entry('a', ['site', 'post:a']), 60_000);
    l1.set('/b', entry('b', ['site', 'post:b']), 60_000);
    l1.set('/c', entry('c', ['site', 'post:b', 'home']), 60_000);
    expect(l1.dropTags(['post:a'])).toBe(1);
    expect([l1.get('/a'), l1.get('/b')?.page.body, l1.get('/c')?.page.body]).toEqual([undefined, 'b', 'c']);
    expect(l1.tags().sort()).toEqual(['home', 'post:b', 'site']);
    expect(l1.dropTags(['post:b'])).toBe(2);
    expect(l1.entries).toBe(0);
    expect(l1.tags()).toEqual([]);
  });

  test('the index follows deletes, replacements and evictions (no tag outlives its last entry)', () => {
    const { l1, evictions } = cache(6_000);
    l1.set('/a', entry('a', ['site', 'post:a']), 60_000);
    l1.set('/b', entry('b', ['site', 'post:b']), 60_000);
    l1.delete('/a');
    expect(l1.tags().sort()).toEqual(['post:b', 'site']);
    // Replaced with other tags: the old ones go, the kept one still drops it.
    l1.set('/b', entry('b2', ['site', 'post:b2']), 60_000);
    expect(l1.tags().sort()).toEqual(['post:b2', 'site']);
    expect(l1.dropTags(['post:b'])).toBe(0);
    expect(l1.get('/b')!.page.body).toBe('b2');
    // 6,000 bytes hold about ten entries (512 B of overhead each): the oldest are evicted and unindexed.
    for (let i = 0; i < 20; i++) l1.set(`/p${i}`, entry(`p${i}`, ['site', `post:p${i}`]), 60_000);
    expect(evictions()).toBeGreaterThan(0);
    const kept = Array.from({ length: 20 }, (_, i) => `p${i}`).filter((p) => l1.get(`/${p}`) !== undefined);
    expect(kept.length).toBe(l1.entries);
    expect(l1.tags().sort()).toEqual(['site', ...kept.map((p) => `post:${p}`)].sort());
    expect(l1.dropTags(['site'])).toBe(kept.length);
    expect(l1.tags()).toEqual([]);
  });

  test('dropOutdated drops the entries whose generation of a tag is not the current one', () => {
    const { l1 } = cache();
    l1.set('/a', entry('a', ['site', 'post:a'], { site: 1, 'post:a': 4 }), 60_000);
    l1.set('/b', entry('b', ['site', 'post:b'], { site: 1, 'post:b': 2 }), 60_000);
    l1.set('/c', entry('c', ['site', 'post:c'], { site: 1 }), 60_000);
    expect(l1.dropOutdated(new Map([['site', 1], ['post:a', 4], ['post:b', 3], ['post:c', 0]]))).toBe(1);
    expect([l1.get('/a')?.page.body, l1.get('/b'), l1.get('/c')?.page.body]).toEqual(['a', undefined, 'c']);
    expect(l1.dropOutdated(new Map([['site', 2]]))).toBe(2);
    expect(l1.entries).toBe(0);
  });

  test('bytes count the encoded body, so a multi-byte page weighs its UTF-8 length', () => {
    const { l1 } = cache();
    l1.set('/ascii', entry('a'.repeat(1_000), ['t']), 60_000);
    const ascii = l1.bytes;
    l1.clear();
    l1.set('/utf8', entry('é'.repeat(1_000), ['t']), 60_000);
    expect(l1.bytes - ascii).toBe(1_000);
  });
});
