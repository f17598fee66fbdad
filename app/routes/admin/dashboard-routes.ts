import type { FastifyInstance } from 'fastify';
import type { AppDeps } from '../../deps';
import type { NodeStatus } from '../../db/node-monitor';
import { dashboardCounts, recentPosts } from '../../db/queries/admin-posts';
import { can } from '../../auth/roles';
import type { AdminPageKit } from './admin-page';
import { adminSession } from './admin-guard';

// /admin/dashboard: counts, recent posts, and the cluster as this app sees it: which app served
// the page, which DB node answered, every DB node's role and replay lag (the router's monitor),
// the page cache's hit ratio and the background job queues when configured. An author's recent
// posts and unpublished counts are their own (editors and admins see everybody's).

type JobQueueSummary = Awaited<ReturnType<NonNullable<AppDeps['jobs']>['summary']>>[number];

/** The router's per-node view, when deps.db is the routed Db (a plain Db has none). */
function dbNodes(deps: AppDeps): NodeStatus[] | null {
  const db = deps.db as AppDeps['db'] & { nodes?: () => NodeStatus[] };
  return typeof db.nodes === 'function' ? db.nodes() : null;
}

/** Hit ratio per layer from the cache's counters: hits / (hits + misses), null before any lookup. */
export function layerRatios(stats: Record<string, unknown>): { l1: number | null; l2: number | null; overall: number | null } {
  const c = (stats.counters ?? {}) as Record<string, number>;
  const ratio = (hits: number, misses: number) => (hits + misses > 0 ? hits / (hits + misses) : null);
  return {
    l1: ratio(c.hitsL1 ?? 0, c.missesL1 ?? 0),
    l2: ratio(c.hitsL2 ?? 0, c.missesL2 ?? 0),
    overall: typeof stats.hitRatio === 'number' ? stats.hitRatio : null,
  };
}

export function registerAdminDashboardRoutes(admin: FastifyInstance, deps: AppDeps, kit: AdminPageKit): void {
  admin.get('/admin', { config: { adminAction: 'public' } }, async (_request, reply) => reply.redirect('/admin/dashboard', 302));

  admin.get('/admin/dashboard', { config: { adminAction: 'admin:access' } }, async (request, reply) => {
    const session = adminSession(request);
    const onlyOwn = can(session.data.role, 'post:edit-any') ? null : session.data.userId;
    const res = await kit.read(request, async (q) => ({ counts: await dashboardCounts(q, onlyOwn), recent: await recentPosts(q, 5, onlyOwn) }));
    const cacheStats = await deps.pageCache.stats().catch((err: Error) => ({ enabled: false, error: err.message }));
    const jobsDep = deps.jobs;
    let jobs: JobQueueSummary[] | null = null;
    let jobsError: string | null = null;
    if (jobsDep) {
      try {
        jobs = await jobsDep.summary();
      } catch (err) {
        jobsError = (err as Error).message;
      }
    }
    return kit.page(request, reply, 'dashboard', {
      title: 'Dashboard', counts: res.value.counts, recent: res.value.recent, dbNode: res.node, now: new Date().toISOString(),
      nodes: dbNodes(deps), cache: cacheStats, ratios: layerRatios(cacheStats), jobsConfigured: Boolean(jobsDep), jobs, jobsError,
    });
  });
}
