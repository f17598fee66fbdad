import type { PageCache, PageRequest, RenderedPage, CacheStatus } from '../deps';

/**
 * The page cache switched off (AIDIARY_CACHE_L1=off and AIDIARY_CACHE_L2=off): every request
 * renders. Used by the `home-uncached` benchmark and by tests of the render path itself.
 */
export function createPassthroughPageCache(): PageCache {
  return {
    async get(req: PageRequest): Promise<{ page: RenderedPage; cacheStatus: CacheStatus }> {
      return { page: await req.render({}), cacheStatus: 'BYPASS' };
    },
    async invalidate() {},
    async flushAll() {},
    async stats() {
      return { enabled: false };
    },
    async close() {},
  };
}
