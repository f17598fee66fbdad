import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { AppDeps } from '../../deps';
import { HttpError } from '../../errors';
import { saveSiteSettings } from '../../db/queries/site-settings';
import { publicContext } from '../public/public-context';
import { parseWith } from '../api/guards';
import { readContextFor } from '../../session/plugin';
import { performWrite } from '../api/idempotent-write';
import { noNul } from '../api/post-writes';
import type { AdminPageKit } from './admin-page';
import { adminCsrf, adminSession, formField } from './admin-guard';
import { layerRatios } from './dashboard-routes';

// Site settings (admins) and the page cache's statistics with a flush-all button (admins).
// A settings change purges every cached page cluster-wide (onContentChanged kind 'site', through
// performWrite) and reloads this process's settings at once; other apps see it within their 1 s
// version probe. A flush is logged with the user id (audit).

const settingsInput = z.object({
  title: noNul(z.string().trim().min(1, 'must not be empty').max(100)),
  description: noNul(z.string().trim().max(300)),
  posts_per_page: z.coerce.number({ invalid_type_error: 'must be a number' }).int('must be a whole number').min(1, 'at least 1').max(100, 'at most 100'),
}).strict();

export function registerAdminSiteRoutes(admin: FastifyInstance, deps: AppDeps, kit: AdminPageKit): void {
  const settingsStore = publicContext(admin, deps).settings;

  const settingsPage = (request: FastifyRequest, reply: FastifyReply, opts: { error?: string; notice?: string; status?: number; values?: Record<string, string> } = {}) => {
    const s = settingsStore.get();
    return kit.page(request, reply, 'settings', {
      title: 'Settings', error: opts.error ?? null, notice: opts.notice ?? null,
      values: { title: s.title, description: s.description, posts_per_page: String(s.postsPerPage), ...opts.values },
    }, opts.status ?? 200);
  };

  admin.get<{ Querystring: Record<string, string> }>('/admin/settings', { config: { adminAction: 'settings:manage' } }, async (request, reply) => {
    // What the database holds now, at least as of this admin's own last write (not the probe's copy).
    await settingsStore.refresh(readContextFor(request).minLsn ?? null);
    return settingsPage(request, reply, { notice: request.query?.saved ? 'Settings saved; every cached page was purged.' : undefined });
  });

  admin.post('/admin/settings', { config: { adminAction: 'settings:manage' }, bodyLimit: 64 * 1024 }, async (request, reply) => {
    const session = adminSession(request);
    adminCsrf(request);
    const b = request.body;
    const values = { title: formField(b, 'title'), description: formField(b, 'description'), posts_per_page: formField(b, 'posts_per_page') };
    let lsn: string;
    try {
      const input = parseWith(settingsInput, values, 'form');
      ({ lsn } = await performWrite(request, deps, session.data.userId, async (q) => {
        await saveSiteSettings(q, { title: input.title, description: input.description, posts_per_page: String(input.posts_per_page) });
        return { status: 200, body: input, change: { kind: 'site' } };
      }));
    } catch (err) {
      if (err instanceof HttpError && err.status === 422) return settingsPage(request, reply, { error: err.message, status: 422, values });
      throw err;
    }
    await settingsStore.atLeast(lsn);
    // Other apps still hold the old settings until their probe (about 1 s); a page they fill after
    // the purge reloads the settings at the purge's LSN first (SiteSettingsStore.atLeast).
    request.log.info({ audit: 'settings.update', userId: session.data.userId }, 'site settings changed');
    return reply.redirect('/admin/settings?saved=1', 303);
  });

  admin.get<{ Querystring: Record<string, string> }>('/admin/cache', { config: { adminAction: 'cache:manage' } }, async (request, reply) => {
    const stats = await deps.pageCache.stats();
    return kit.page(request, reply, 'cache', {
      title: 'Cache', stats, ratios: layerRatios(stats), notice: request.query?.flushed ? 'Every cached page was flushed (all apps).' : null,
    });
  });

  admin.post('/admin/cache/flush', { config: { adminAction: 'cache:manage' } }, async (request, reply) => {
    const session = adminSession(request);
    adminCsrf(request);
    request.log.info({ audit: 'cache.flush', userId: session.data.userId, username: session.data.username }, 'page cache flush-all requested');
    await deps.pageCache.flushAll();
    return reply.redirect('/admin/cache?flushed=1', 303);
  });
}
