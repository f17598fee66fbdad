import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AppDeps } from '../../deps';
import type { Queryable } from '../../db/db';
import { can, type Action } from '../../auth/roles';
import { httpError } from '../../errors';
import { readContextFor } from '../../session/plugin';
import { deleteTerm, getTerm, insertTerm, listTerms, updateTerm, wouldCycle, type TaxonomyTable } from '../../db/queries/admin-taxonomy';
import { isValidSlug, slugify, uniqueSlug } from '../../db/queries/admin-slugs';
import { mapDbError, parseId, parseWith, requireCsrf, requireJson, requireUser } from './guards';
import { idempotentWrite, type WriteOutcome } from './idempotent-write';
import { noNul } from './post-writes';

// /api/categories and /api/tags: list (any logged-in user), create (categories: editor+; tags:
// author+), rename/delete (editor+). A change purges the whole site cache (kind: 'site').

const listQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(50),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
}).strict();

export const termInput = z.object({
  name: noNul(z.string().trim().min(1, 'must not be empty').max(100)),
  slug: noNul(z.string().min(1).max(200)).optional(),
  description: noNul(z.string().max(1000)).optional(),
  parentId: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).nullable().optional(),
}).strict();
export type TermInput = z.infer<typeof termInput>;

async function termSlug(q: Queryable, table: TaxonomyTable, input: TermInput, excludeId: number | null): Promise<string> {
  if (input.slug === undefined) return uniqueSlug(q, table, slugify(input.name), excludeId);
  const slug = input.slug.normalize('NFKC');
  if (!isValidSlug(slug)) throw httpError('invalid_field', `slug: use lower-case letters, digits and single hyphens (e.g. "${slugify(slug)}")`);
  if ((await uniqueSlug(q, table, slug, excludeId)) !== slug) throw httpError('conflict', `slug: "${slug}" is already used.`);
  return slug;
}

async function checkParent(q: Queryable, table: TaxonomyTable, id: number | null, input: TermInput): Promise<void> {
  if (input.parentId === undefined || input.parentId === null) return;
  if (table !== 'categories') throw httpError('invalid_field', 'parentId: tags have no parent');
  if (!(await getTerm(q, 'categories', input.parentId))) throw httpError('invalid_field', 'parentId: no such category');
  if (id !== null && (input.parentId === id || (await wouldCycle(q, id, input.parentId)))) {
    throw httpError('invalid_field', 'parentId: a category cannot be its own ancestor');
  }
}

export async function createTermTx(q: Queryable, table: TaxonomyTable, input: TermInput): Promise<WriteOutcome> {
  await checkParent(q, table, null, input);
  const slug = await termSlug(q, table, input, null);
  const id = await insertTerm(q, table, { name: input.name, slug, description: input.description, parentId: input.parentId });
  return { status: 201, body: await getTerm(q, table, id), change: { kind: 'site' } };
}

export async function updateTermTx(q: Queryable, table: TaxonomyTable, id: number, input: TermInput): Promise<WriteOutcome> {
  const current = await getTerm(q, table, id);
  if (!current) throw httpError('not_found');
  await checkParent(q, table, id, input);
  const slug = input.slug === undefined ? current.slug : await termSlug(q, table, input, id);
  await updateTerm(q, table, id, { name: input.name, slug, description: input.description, parentId: input.parentId });
  return { status: 200, body: await getTerm(q, table, id), change: { kind: 'site' } };
}

export async function deleteTermTx(q: Queryable, table: TaxonomyTable, id: number): Promise<WriteOutcome> {
  if (!(await deleteTerm(q, table, id))) throw httpError('not_found');
  return { status: 200, body: { id, deleted: true }, change: { kind: 'site' } };
}

export function registerTaxonomyRoutes(api: FastifyInstance, deps: AppDeps): void {
  const kit = api.sessionKit;
  for (const table of ['categories', 'tags'] as const) {
    const createAction: Action = table === 'tags' ? 'tag:create' : 'taxonomy:manage';
    const guardWrite = (request: Parameters<typeof requireUser>[0], action: Action) => {
      const session = requireUser(request);
      requireCsrf(request);
      if (!can(session.data.role, action)) throw httpError('forbidden');
      return session;
    };

    api.get(`/${table}`, async (request) => {
      requireUser(request);
      const query = parseWith(listQuery, request.query ?? {}, 'query');
      try {
        const res = await deps.db.read(readContextFor(request), (q) => listTerms(q, table, query.limit, query.offset));
        await kit.recordRead(request, res.lsn);
        return res.value;
      } catch (err) {
        mapDbError(err);
      }
    });

    api.get<{ Params: { id: string } }>(`/${table}/:id`, async (request) => {
      requireUser(request);
      const id = parseId(request.params.id);
      let res;
      try {
        res = await deps.db.read(readContextFor(request), (q) => getTerm(q, table, id));
      } catch (err) {
        mapDbError(err);
      }
      if (!res.value) throw httpError('not_found');
      return res.value;
    });

    api.post(`/${table}`, { bodyLimit: 64 * 1024 }, async (request, reply) => {
      const session = guardWrite(request, createAction);
      requireJson(request);
      const input = parseWith(termInput, request.body);
      return idempotentWrite(request, reply, deps, session.data.userId, (q) => createTermTx(q, table, input));
    });

    api.put<{ Params: { id: string } }>(`/${table}/:id`, { bodyLimit: 64 * 1024 }, async (request, reply) => {
      const session = guardWrite(request, 'taxonomy:manage');
      const id = parseId(request.params.id);
      requireJson(request);
      const input = parseWith(termInput, request.body);
      return idempotentWrite(request, reply, deps, session.data.userId, (q) => updateTermTx(q, table, id, input));
    });

    api.delete<{ Params: { id: string } }>(`/${table}/:id`, async (request, reply) => {
      const session = guardWrite(request, 'taxonomy:manage');
      const id = parseId(request.params.id);
      return idempotentWrite(request, reply, deps, session.data.userId, (q) => deleteTermTx(q, table, id));
    });
  }
}
