import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AppDeps } from '../../deps';
import { renderMarkdown } from '../../content/markdown';
import { httpError } from '../../errors';
import { registerAuthRoutes } from './auth-routes';
import { registerPostRoutes } from './posts-routes';
import { registerTaxonomyRoutes } from './taxonomy-routes';
import { registerMediaApiRoutes } from './media-routes';
import { parseWith, requireCsrf, requireJson, requireUser } from './guards';

// The JSON API under /api. Errors are `{error: {code, message}}` (server.ts error handler).
// Nothing here is cacheable: every answer is `Cache-Control: no-store`.
// Needs registerSessionPlugin(app, deps) to have run first (request.session, app.sessionKit).

const previewBody = z.object({ content: z.string().max(500_000) }).strict();

export async function registerApiRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  await app.register(async (api) => {
    api.addHook('onSend', async (_request, reply) => {
      reply.header('Cache-Control', 'no-store');
    });
    registerAuthRoutes(api, deps);
    registerPostRoutes(api, deps);
    registerTaxonomyRoutes(api, deps);
    registerMediaApiRoutes(api, deps);

    // Markdown preview for the editor: the same renderer and sanitiser as the public pages.
    api.post('/preview', { bodyLimit: 1024 * 1024 }, async (request) => {
      const session = requireUser(request, 'admin:access');
      requireCsrf(request);
      if (!session) throw httpError('unauthenticated');
      requireJson(request);
      const { content } = parseWith(previewBody, request.body);
      return { html: renderMarkdown(content) };
    });
  }, { prefix: '/api' });
}
