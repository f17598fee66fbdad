import Fastify, { type FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AppDeps } from './deps';
import { isClusterPageCache } from './cache/page-cache';
import { faults } from './fault-injection';

// A loopback-only control port for the benchmark and tests (issue 8): switch cache layers per
// scenario, flush, read stats and render counters. It binds 127.0.0.1 only and nginx never
// proxies it; it is a separate fastify instance so no public route or plugin can reach it.

// `coalesce: false` stops single-flight (concurrent misses of one key each render): with both
// layers off that is the bench's "every request renders" case.
const faultsBody = z.object({ errorRatio: z.number().min(0).max(1) }).strict();
const layersBody = z.object({ l1: z.boolean().optional(), l2: z.boolean().optional(), coalesce: z.boolean().optional() }).strict();

export async function startControlServer(deps: Pick<AppDeps, 'pageCache' | 'logger' | 'config'>, port: number): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  const cache = deps.pageCache;

  app.post('/cache/layers', async (req, reply) => {
    const parsed = layersBody.safeParse(req.body ?? {});
    if (!parsed.success) return reply.code(400).send({ error: { code: 'bad_request', message: 'expected {l1?: boolean, l2?: boolean, coalesce?: boolean}' } });
    if (!isClusterPageCache(cache)) return reply.code(409).send({ error: { code: 'cache_off', message: 'the page cache is off in this process (AIDIARY_CACHE_L1=off and AIDIARY_CACHE_L2=off)' } });
    const { coalesce, ...layers } = parsed.data;
    cache.setLayers(layers);
    if (coalesce !== undefined) cache.setCoalesce(coalesce);
    deps.logger.info({ audit: true, layers: cache.layers(), coalesce: cache.coalesces() }, 'control: cache layers set');
    return { layers: cache.layers() };
  });

  app.post('/cache/flush', async () => {
    await cache.flushAll();
    deps.logger.info({ audit: true }, 'control: cache flushed');
    return { flushed: true };
  });

  app.get('/cache/stats', async () => cache.stats());

  // Fault injection for the alert tests: answer this share of public requests with a 500.
  app.post('/faults/errors', async (req, reply) => {
    const parsed = faultsBody.safeParse(req.body ?? {});
    if (!parsed.success) return reply.code(400).send({ error: { code: 'bad_request', message: 'expected {errorRatio: number from 0 to 1}' } });
    faults.errorRatio = parsed.data.errorRatio;
    deps.logger.warn({ audit: true, errorRatio: faults.errorRatio }, 'control: injected error ratio set');
    return { errorRatio: faults.errorRatio };
  });

  app.get('/cache/renders', async () => {
    if (!isClusterPageCache(cache)) return { app: deps.config.appName, process: null, cluster: null };
    return { app: deps.config.appName, ...(await cache.renderCounts()) };
  });

  app.post('/cache/warm', async () => {
    if (!isClusterPageCache(cache)) return { warmed: null };
    return { warmed: await cache.warm() };
  });

  await app.listen({ host: '127.0.0.1', port });
  return app;
}
