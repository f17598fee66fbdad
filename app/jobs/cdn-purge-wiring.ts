import type { FastifyBaseLogger } from 'fastify';
import type { Registry } from 'prom-client';
import type { AppConfig } from '../config';
import type { Db } from '../db/db';
import { createCdnPurger, loadCdnAdapterConfig } from '../cdn/adapter-config';
import { createCdnPurgeQueue, type CdnPurgeQueue, type CdnPurgeTuning } from './cdn-purge-queue';

/**
 * The CDN purge queue of the adapter AIDIARY_CDN_PROVIDER selects (app/cdn/adapter-config.ts),
 * or null without a CDN. Throws a ConfigError naming the variable when the selection is incomplete.
 */
export function createConfiguredCdnPurge(
  deps: { config: AppConfig; db: Db; logger: FastifyBaseLogger; metrics: Registry },
  env: Record<string, string | undefined> = process.env,
  tuning: Partial<CdnPurgeTuning> = {},
): CdnPurgeQueue | null {
  const cdn = loadCdnAdapterConfig(env);
  const purger = createCdnPurger(cdn, { db: deps.db, siteUrl: deps.config.siteUrl });
  if (!purger || cdn.provider === 'none') return null;
  deps.logger.info({ provider: cdn.provider, purgeDelayMs: cdn.purgeDelayMs }, 'cdn purges on');
  return createCdnPurgeQueue({
    redisUrl: deps.config.redisSessionsUrl, redisAuth: deps.config.redisSessionsAuth, appName: deps.config.appName,
    logger: deps.logger, metrics: deps.metrics, purger,
  }, { purgeDelayMs: cdn.purgeDelayMs, ...tuning });
}
