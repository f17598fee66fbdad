import type { FastifyInstance } from 'fastify';
import fastifyFormbody from '@fastify/formbody';
import type { AppDeps } from '../../deps';
import { loadAdminViews } from './admin-views';
import { registerAdminLoginRoutes } from './login-routes';
import { registerAdminPostRoutes } from './post-routes';
import { registerAdminTaxonomyRoutes } from './taxonomy-routes';

// The minimal admin (server-rendered, no build step, no client JS). Form bodies are parsed only
// in this scope (the JSON API stays JSON-only). Every admin answer is `Cache-Control: no-store`.
// Needs registerSessionPlugin(app, deps) to have run first.

export async function registerAdminRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  const views = loadAdminViews();
  await app.register(async (admin) => {
    await admin.register(fastifyFormbody, { bodyLimit: 1024 * 1024 });
    admin.addHook('onSend', async (_request, reply) => {
      reply.header('Cache-Control', 'no-store');
      reply.header('X-Frame-Options', 'DENY');
    });
    registerAdminLoginRoutes(admin, deps, views);
    registerAdminPostRoutes(admin, deps, views);
    registerAdminTaxonomyRoutes(admin, deps, views);
  });
}
