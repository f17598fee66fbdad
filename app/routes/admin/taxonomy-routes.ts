import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppDeps } from '../../deps';
import { can } from '../../auth/roles';
import { HttpError, httpError } from '../../errors';
import { getTerm, listTerms, type Term } from '../../db/queries/admin-taxonomy';
import { parseId, parseWith } from '../api/guards';
import { performWrite } from '../api/idempotent-write';
import { createTermTx, deleteTermTx, termInput, updateTermTx } from '../api/taxonomy-routes';
import type { AdminPageKit } from './admin-page';
import { adminCsrf, adminSession, formField } from './admin-guard';

// /admin/categories (a hierarchy: each category may have a parent) and /admin/tags: list with
// post counts, add, edit, delete. The writes are the JSON API's transactions (a change purges the
// whole site cache), so a cycle or a taken slug is refused the same way (422 / 409).

const maxTerms = 1000;

/** Categories in tree order (parents first, children indented below them), each with its depth. */
export function categoryTree(items: Term[]): Array<Term & { depth: number }> {
  const children = new Map<number | null, Term[]>();
  const ids = new Set(items.map((t) => t.id));
  for (const t of items) {
    const parent = t.parentId != null && ids.has(t.parentId) ? t.parentId : null;
    children.set(parent, [...(children.get(parent) ?? []), t]);
  }
  const out: Array<Term & { depth: number }> = [];
  const seen = new Set<number>();
  const walk = (parent: number | null, depth: number) => {
    for (const t of children.get(parent) ?? []) {
      if (seen.has(t.id)) continue;
      seen.add(t.id);
      out.push({ ...t, depth });
      walk(t.id, depth + 1);
    }
  };
  walk(null, 0);
  for (const t of items) if (!seen.has(t.id)) out.push({ ...t, depth: 0 }); // a cycle cannot exist, but never drop a row
  return out;
}

export function registerAdminTaxonomyRoutes(admin: FastifyInstance, deps: AppDeps, kit: AdminPageKit): void {
  for (const kind of ['categories', 'tags'] as const) {
    const heading = kind === 'categories' ? 'Categories' : 'Tags';
    const createAction = kind === 'tags' ? 'tag:create' as const : 'taxonomy:manage' as const;

    const formInput = (body: unknown) => {
      const slug = formField(body, 'slug').trim();
      const parent = formField(body, 'parent_id').trim();
      if (parent && !/^[1-9][0-9]{0,14}$/.test(parent)) throw httpError('invalid_field', 'parentId: choose a category from the list');
      return parseWith(termInput, {
        name: formField(body, 'name'),
        ...(slug ? { slug } : {}),
        ...(kind === 'categories' ? { description: formField(body, 'description'), parentId: parent ? Number(parent) : null } : {}),
      }, 'form');
    };

    const listPage = async (request: FastifyRequest, reply: FastifyReply, error: string | null, status = 200, values: Record<string, string> = {}) => {
      const session = adminSession(request);
      const { items, total } = (await kit.read(request, (q) => listTerms(q, kind, maxTerms, 0))).value;
      return kit.page(request, reply, 'terms', {
        title: heading, heading, kind, items: kind === 'categories' ? categoryTree(items) : items.map((t) => ({ ...t, depth: 0 })), total,
        parents: kind === 'categories' ? categoryTree(items) : [], error, values,
        canCreate: can(session.data.role, createAction), canManage: can(session.data.role, 'taxonomy:manage'),
      }, status);
    };

    const editPage = async (request: FastifyRequest, reply: FastifyReply, id: number, error: string | null, status = 200) => {
      const res = await kit.read(request, async (q) => ({ term: await getTerm(q, kind, id), all: kind === 'categories' ? (await listTerms(q, kind, maxTerms, 0)).items : [] }));
      const { term, all } = res.value;
      if (!term) throw httpError('not_found', `No such ${kind === 'tags' ? 'tag' : 'category'}.`);
      // A category cannot move under itself or one of its descendants: leave those out of the list.
      const below = new Set<number>([id]);
      for (let grew = true; grew;) {
        grew = false;
        for (const t of all) if (t.parentId != null && below.has(t.parentId) && !below.has(t.id)) { below.add(t.id); grew = true; }
      }
      return kit.page(request, reply, 'term-form', {
        title: `Edit ${kind === 'tags' ? 'tag' : 'category'}`, kind, heading, term, error,
        parents: categoryTree(all).filter((t) => !below.has(t.id)),
      }, status);
    };

    admin.get(`/admin/${kind}`, { config: { adminAction: 'admin:access' } }, async (request, reply) => listPage(request, reply, null));

    admin.post(`/admin/${kind}`, { bodyLimit: 64 * 1024, config: { adminAction: createAction } }, async (request, reply) => {
      const session = adminSession(request);
      adminCsrf(request);
      try {
        const input = formInput(request.body);
        await performWrite(request, deps, session.data.userId, (q) => createTermTx(q, kind, input));
      } catch (err) {
        if (err instanceof HttpError && (err.status === 422 || err.status === 409)) {
          return listPage(request, reply, err.message, err.status, { name: formField(request.body, 'name'), slug: formField(request.body, 'slug') });
        }
        throw err;
      }
      return reply.redirect(`/admin/${kind}`, 303);
    });

    admin.get<{ Params: { id: string } }>(`/admin/${kind}/:id/edit`, { config: { adminAction: 'taxonomy:manage' } }, async (request, reply) =>
      editPage(request, reply, parseId(request.params.id), null));

    admin.post<{ Params: { id: string } }>(`/admin/${kind}/:id`, { bodyLimit: 64 * 1024, config: { adminAction: 'taxonomy:manage' } }, async (request, reply) => {
      const session = adminSession(request);
      adminCsrf(request);
      const id = parseId(request.params.id);
      try {
        const input = formInput(request.body);
        await performWrite(request, deps, session.data.userId, (q) => updateTermTx(q, kind, id, input));
      } catch (err) {
        if (err instanceof HttpError && (err.status === 422 || err.status === 409)) return editPage(request, reply, id, err.message, err.status);
        throw err;
      }
      return reply.redirect(`/admin/${kind}`, 303);
    });

    admin.post<{ Params: { id: string } }>(`/admin/${kind}/:id/delete`, { config: { adminAction: 'taxonomy:manage' } }, async (request, reply) => {
      const session = adminSession(request);
      adminCsrf(request);
      const id = parseId(request.params.id);
      await performWrite(request, deps, session.data.userId, (q) => deleteTermTx(q, kind, id));
      return reply.redirect(`/admin/${kind}`, 303);
    });
  }
}
