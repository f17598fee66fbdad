// Zipf-distributed sampling for the benchmark's URL mixes. Hand-rolled (a CDF and a binary search,
// ~20 lines) because no installed library does it and the sequence must be reproducible from a
// seed so two runs request the same URLs.
import { seededRandom } from '../../app/seeded-random';

export { seededRandom };

/** P(rank k) ∝ 1 / k^s for k = 1..n; returns a sampler of 0-based ranks. */
export function zipfSampler(n: number, s: number, random: () => number): () => number {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`zipf: n must be a positive integer, got ${n}`);
  if (!(s >= 0)) throw new RangeError(`zipf: s must be ≥ 0, got ${s}`);
  const cdf = new Float64Array(n);
  let total = 0;
  for (let k = 1; k <= n; k++) {
    total += 1 / k ** s;
    cdf[k - 1] = total;
  }
  for (let i = 0; i < n; i++) cdf[i] /= total;
  cdf[n - 1] = 1; // guard against rounding leaving the last bucket unreachable
  return () => {
    const u = random();
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid] > u) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  };
}

/** The expected probability of each rank (for tests and for reporting the mix). */
export function zipfProbabilities(n: number, s: number): number[] {
  const w = Array.from({ length: n }, (_, i) => 1 / (i + 1) ** s);
  const total = w.reduce((a, b) => a + b, 0);
  return w.map((x) => x / total);
}

export interface UrlMix {
  /** Post paths, hottest first (rank 1 = the newest post). */
  posts: string[];
  /** Listing paths, hottest first (rank 1 = `/`). */
  listings: string[];
  /** Share of requests that go to listings (the rest go to posts). */
  listingShare: number;
}

/**
 * A reproducible request sequence: each entry picks posts or listings by `listingShare`, then a
 * Zipf(s) rank within that group. wrk's Lua replays the sequence (striding by thread).
 */
export function zipfSequence(mix: UrlMix, count: number, s = 1, seed = 42): string[] {
  if (mix.posts.length === 0 && mix.listings.length === 0) throw new Error('zipfSequence: no URLs to mix');
  const random = seededRandom(seed);
  const posts = mix.posts.length > 0 ? zipfSampler(mix.posts.length, s, random) : null;
  const listings = mix.listings.length > 0 ? zipfSampler(mix.listings.length, s, random) : null;
  const out: string[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const pickListing = listings !== null && (posts === null || random() < mix.listingShare);
    out[i] = pickListing ? mix.listings[listings!()] : mix.posts[posts!()];
  }
  return out;
}
