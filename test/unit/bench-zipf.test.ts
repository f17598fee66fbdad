import { describe, expect, it } from 'vitest';
import { seededRandom, zipfProbabilities, zipfSampler, zipfSequence } from '../../infra/bench/zipf';

describe('zipf sampler', () => {
  it('matches the s=1 distribution over 10,000 ranks (rank frequencies and head share)', () => {
    const n = 10_000;
    const draws = 200_000;
    const sample = zipfSampler(n, 1, seededRandom(7));
    const counts = new Map<number, number>();
    let outOfRange = 0;
    for (let i = 0; i < draws; i++) {
      const r = sample();
      if (!(r >= 0 && r < n)) outOfRange++;
      counts.set(r, (counts.get(r) ?? 0) + 1);
    }
    expect(outOfRange).toBe(0);
    const p = zipfProbabilities(n, 1);
    // Rank 1 ≈ 1/H(10000) ≈ 10.1 %; rank 2 half of it; rank 10 a tenth.
    expect(p[0]).toBeCloseTo(0.1021, 3);
    for (const k of [0, 1, 9, 99]) {
      const observed = (counts.get(k) ?? 0) / draws;
      expect(Math.abs(observed - p[k])).toBeLessThan(Math.max(0.004, p[k] * 0.15));
    }
    // The top 100 ranks take ~53 % of requests under s=1.
    let head = 0;
    for (let k = 0; k < 100; k++) head += counts.get(k) ?? 0;
    const expectedHead = p.slice(0, 100).reduce((a, b) => a + b, 0);
    expect(Math.abs(head / draws - expectedHead)).toBeLessThan(0.01);
  });

  it('s=0 is uniform and invalid parameters are refused', () => {
    const sample = zipfSampler(4, 0, seededRandom(1));
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 40_000; i++) counts[sample()]++;
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(600);
    expect(() => zipfSampler(0, 1, Math.random)).toThrow(/positive integer/);
    expect(() => zipfSampler(10, -1, Math.random)).toThrow(/s must be/);
  });

  it('seeded sequences are reproducible and respect the listing share', () => {
    const mix = { posts: Array.from({ length: 500 }, (_, i) => `/posts/p${i}`), listings: ['/', '/page/2', '/category/a'], listingShare: 0.3 };
    const a = zipfSequence(mix, 20_000, 1, 42);
    const b = zipfSequence(mix, 20_000, 1, 42);
    const c = zipfSequence(mix, 20_000, 1, 43);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    const listings = a.filter((p) => !p.startsWith('/posts/')).length / a.length;
    expect(Math.abs(listings - 0.3)).toBeLessThan(0.02);
    // `/` is the hottest listing and the newest post the hottest post.
    const homeCount = a.filter((p) => p === '/').length;
    const page2 = a.filter((p) => p === '/page/2').length;
    expect(homeCount).toBeGreaterThan(page2 * 1.6);
    expect(a.filter((p) => p === '/posts/p0').length).toBeGreaterThan(a.filter((p) => p === '/posts/p9').length * 5);
  });

  it('a mix with only posts never yields a listing', () => {
    const seq = zipfSequence({ posts: ['/posts/a', '/posts/b'], listings: [], listingShare: 0.5 }, 1000);
    expect(new Set(seq)).toEqual(new Set(['/posts/a', '/posts/b']));
    expect(() => zipfSequence({ posts: [], listings: [], listingShare: 0 }, 10)).toThrow(/no URLs/);
  });
});
