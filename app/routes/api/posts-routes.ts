import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AppDeps } from '../../deps';
import { can, canEditPost } from '../../auth/roles';
import { httpError } from '../../errors';
import { readContextFor } from '../../session/plugin';
import { getPost, listPosts, postStatuses, type PostStatus } from '../../db/queries/admin-posts';
import { mapDbError, parseId, parseWith, requireCsrf, requireJson, requireUser } from './guards';
import { idempotentWrite } from './idempotent-write';
import { createPostTx, postInput, postPatch, setStatusTx, updatePostTx } from './post-writes';

// /api/posts: list, get, create, replace (PUT), patch, delete (→ trash). Editors and admins see
// and edit every post; authors see their own plus published ones and edit only their own;
// subscribers read published posts only.

const listQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
  status: z.enum(['all', ...postStatuses] as ['all', ...PostStatus[]]).default('all'),
}).strict();

export const postBodyLimitBytes = 1024 * 1024;

export function registerPostRoutes(api: FastifyInstance, deps: AppDeps): void {
  const kit = api.sessionKit;

  api.get('/posts', async (request) => {
    const session = requireUser(request);
    const query = parseWith(listQuery, request.query ?? {}, 'query');
    const { role, userId } = session.data;
    const seesAll = can(role, 'post:edit-any');
    const filter = {
      status: query.status,
      authorId: seesAll ? null : userId,
      orPublished: !seesAll,
      limit: query.limit,
      offset: query.offset,
    };
    // Subscribers: published only, whatever they ask.
    if (!can(role, 'post:edit-own')) Object.assign(filter, { status: 'published', authorId: null, orPublished: false });
    try {
      const res = await deps.db.read(readContextFor(request), (q) => listPosts(q, filter));
      await kit.recordRead(request, res.lsn);
      return res.value;
    } catch (err) {
      mapDbError(err);
    }
  });

  api.get<{ Params: { id: string } }>('/posts/:id', async (request) => {
    const session = requireUser(request);
    const id = parseId(request.params.id);
    let res;
    try {
      res = await deps.db.read(readContextFor(request), (q) => getPost(q, id));
    } catch (err) {
      mapDbError(err);
    }
    await kit.recordRead(request, res.lsn);
    const post = res.value;
    const visible = post && (post.status === 'published' || post.status === 'unlisted'
      || canEditPost({ id: session.data.userId, role: session.data.role }, post));
    if (!post || !visible) throw httpError('not_found', 'No such post.');
    return post;
  });

  api.post('/posts', { bodyLimit: postBodyLimitBytes }, async (request, reply) => {
    const session = requireUser(request);
    requireCsrf(request);
    if (!can(session.data.role, 'post:create')) throw httpError('forbidden');
    requireJson(request);
    const input = parseWith(postInput, request.body);
    return idempotentWrite(request, reply, deps, session.data.userId, async (q) => {
      const { post: _post, ...outcome } = await createPostTx(q, session.data, input);
      return outcome;
    });
  });

  for (const method of ['put', 'patch'] as const) {
    api[method]<{ Params: { id: string } }>('/posts/:id', { bodyLimit: postBodyLimitBytes }, async (request, reply) => {
      const session = requireUser(request);
      requireCsrf(request);
      if (!can(session.data.role, 'post:edit-own')) throw httpError('forbidden');
      const id = parseId(request.params.id);
      requireJson(request);
      const input = parseWith(method === 'put' ? postInput : postPatch, request.body);
      return idempotentWrite(request, reply, deps, session.data.userId, async (q) => {
        const { post: _post, ...outcome } = await updatePostTx(q, session.data, id, input, method);
        return outcome;
      });
    });
  }

  api.delete<{ Params: { id: string } }>('/posts/:id', async (request, reply) => {
    const session = requireUser(request);
    requireCsrf(request);
    if (!can(session.data.role, 'post:edit-own')) throw httpError('forbidden');
    const id = parseId(request.params.id);
    return idempotentWrite(request, reply, deps, session.data.userId, (q) => setStatusTx(q, session.data, id, 'trash'));
  });
}
