import type { FastifyInstance } from 'fastify';
import type { AppDeps } from '../../deps';
import { can } from '../../auth/roles';
import { HttpError } from '../../errors';
import { readContextFor } from '../../session/plugin';
import { listTerms } from '../../db/queries/admin-taxonomy';
import { mapDbError, parseId, parseWith } from '../api/guards';
import { performWrite } from '../api/idempotent-write';
import { createTermTx, deleteTermTx, termInput } from '../api/taxonomy-routes';
import type { AdminViews } from './admin-views';
import { adminCsrf, adminSession, formField } from './admin-guard';

// /admin/categories and /admin/tags: list with post counts, add, delete.

export function registerAdminTaxonomyRoutes(admin: FastifyInstance, deps: AppDeps, views: AdminViews): void {
  const kit = admin.sessionKit;
  for (const kind of ['categories', 'tags'] as const) {
    const heading = kind === 'categories' ? 'Categories' : 'Tags';
    const createAction = kind === 'tags' ? 'tag:create' as const : 'taxonomy:manage' as const;

    const listPage = async (request: Parameters<typeof adminSession>[0], reply: Parameters<typeof adminSession>[1], error: string | null, status = 200) => {
      const session = adminSession(request, reply)!;
      let res;
      try {
        res = await deps.db.read(readContextFor(request), (q) => listTerms(q, kind, 100, 0));
      } catch (err) {
        mapDbError(err);
      }
      await kit.recordRead(request, res.lsn);
      reply.code(status).type('text/html; charset=utf-8');
      return views.render('terms', {
        title: heading, heading, kind, ...res.value, user: { username: session.data.username, role: session.data.role },
        csrfToken: session.data.csrfToken, appName: deps.config.appName, notice: null, error,
        canCreate: can(session.data.role, createAction), canManage: can(session.data.role, 'taxonomy:manage'),
      });
    };

    admin.get(`/admin/${kind}`, async (request, reply) => {
      if (!adminSession(request, reply)) return reply;
      return listPage(request, reply, null);
    });

    admin.post(`/admin/${kind}`, { bodyLimit: 64 * 1024 }, async (request, reply) => {
      const session = adminSession(request, reply, createAction);
      if (!session) return reply;
      adminCsrf(request);
      const slug = formField(request.body, 'slug').trim();
      try {
        const input = parseWith(termInput, { name: formField(request.body, 'name'), ...(slug ? { slug } : {}) }, 'form');
        await performWrite(request, deps, session.data.userId, (q) => createTermTx(q, kind, input));
      } catch (err) {
        if (err instanceof HttpError && (err.status === 422 || err.status === 409)) return listPage(request, reply, err.message, err.status);
        throw err;
      }
      return reply.redirect(`/admin/${kind}`, 303);
    });

    admin.post<{ Params: { id: string } }>(`/admin/${kind}/:id/delete`, async (request, reply) => {
      const session = adminSession(request, reply, 'taxonomy:manage');
      if (!session) return reply;
      adminCsrf(request);
      const id = parseId(request.params.id);
      await performWrite(request, deps, session.data.userId, (q) => deleteTermTx(q, kind, id));
      return reply.redirect(`/admin/${kind}`, 303);
    });
  }
}
