import type { FastifyInstance } from 'fastify';
import fastifyFormbody from '@fastify/formbody';
import type { Action } from '../../auth/roles';
import type { AppDeps } from '../../deps';
import { loadAdminViews } from './admin-views';
import { adminActionOf, adminRouteGuard } from './admin-guard';
import { adminPageKit } from './admin-page';
import { registerAdminLoginRoutes } from './login-routes';
import { registerAdminDashboardRoutes } from './dashboard-routes';
import { registerAdminPostRoutes } from './post-routes';
import { registerAdminTaxonomyRoutes } from './taxonomy-routes';
import { registerAdminUserRoutes } from './user-routes';
import { registerAdminAccountRoutes } from './account-routes';
import { registerAdminSiteRoutes } from './site-routes';
import { registerAdminMediaRoutes } from './media-routes';

// The admin (server-rendered eta, no build step; one small script for the live preview). Form
// bodies are parsed only in this scope (the JSON API stays JSON-only). Every answer is
// `Cache-Control: no-store`. Every route passes adminRouteGuard with the action it declares.
// Needs registerSessionPlugin(app, deps) to have run first.

export interface AdminRoute { method: string; url: string; action: Action | 'public' }

declare module 'fastify' {
  interface FastifyInstance {
    /** Every route registered under /admin with its action: the role-matrix test walks this list. */
    adminRoutes: AdminRoute[];
  }
}

export async function registerAdminRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  const views = loadAdminViews();
  const kit = adminPageKit(deps, views);
  const table: AdminRoute[] = [];
  app.decorate('adminRoutes', table);
  // On the root instance, so a route under /admin registered anywhere after this point is listed.
  app.addHook('onRoute', (route) => {
    if (route.url !== '/admin' && !route.url.startsWith('/admin/')) return;
    for (const method of [route.method].flat()) {
      if (method !== 'HEAD') table.push({ method, url: route.url, action: adminActionOf(route.config) });
    }
  });
  await app.register(async (admin) => {
    await admin.register(fastifyFormbody, { bodyLimit: 1024 * 1024 });
    admin.addHook('preHandler', adminRouteGuard);
    admin.addHook('onSend', async (_request, reply) => {
      reply.header('Cache-Control', 'no-store');
      reply.header('X-Frame-Options', 'DENY');
    });
    registerAdminLoginRoutes(admin, deps, views);
    registerAdminDashboardRoutes(admin, deps, kit);
    registerAdminPostRoutes(admin, deps, kit);
    registerAdminTaxonomyRoutes(admin, deps, kit);
    registerAdminUserRoutes(admin, deps, kit);
    registerAdminAccountRoutes(admin, deps, kit);
    registerAdminSiteRoutes(admin, deps, kit);
    registerAdminMediaRoutes(admin, deps, kit);
  });
}
