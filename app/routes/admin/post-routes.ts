import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppDeps } from '../../deps';
import { can } from '../../auth/roles';
import { HttpError, httpError } from '../../errors';
import { renderMarkdown } from '../../content/markdown';
import { readContextFor, type SessionState } from '../../session/plugin';
import { dashboardCounts, getPost, listPosts, postStatuses, recentPosts, type PostStatus } from '../../db/queries/admin-posts';
import { listTerms } from '../../db/queries/admin-taxonomy';
import { canEditPost } from '../../auth/roles';
import { mapDbError, parseId, parseWith } from '../api/guards';
import { performWrite } from '../api/idempotent-write';
import { createPostTx, postInput, postUrl, setStatusTx, updatePostTx } from '../api/post-writes';
import type { AdminViews } from './admin-views';
import { adminCsrf, adminSession, formField, formList } from './admin-guard';

// Dashboard, post list (status filter), new/edit with a server-side Markdown preview (no build
// step, no client JS), trash and restore.

const perPage = 20;

interface FormPost {
  id: number | null; title: string; slug: string; content: string; excerpt: string; status: PostStatus;
  categoryIds: number[]; tagSlugs: string;
}

export function registerAdminPostRoutes(admin: FastifyInstance, deps: AppDeps, views: AdminViews): void {
  const kit = admin.sessionKit;
  const page = (reply: FastifyReply, name: string, session: SessionState, data: object, status = 200) => {
    reply.code(status).type('text/html; charset=utf-8');
    return views.render(name, {
      user: { username: session.data.username, role: session.data.role }, csrfToken: session.data.csrfToken,
      appName: deps.config.appName, notice: null, error: null, ...data,
    });
  };
  const read = async <T>(request: FastifyRequest, fn: Parameters<AppDeps['db']['read']>[1] & ((...a: never[]) => Promise<T>)) => {
    try {
      const res = await deps.db.read(readContextFor(request), fn as never);
      await kit.recordRead(request, res.lsn);
      return res as { value: T; node: string };
    } catch (err) {
      mapDbError(err);
    }
  };

  admin.get('/admin', async (_request, reply) => reply.redirect('/admin/dashboard', 302));

  admin.get('/admin/dashboard', async (request, reply) => {
    const session = adminSession(request, reply);
    if (!session) return reply;
    const res = await read(request, async (q) => ({ counts: await dashboardCounts(q), recent: await recentPosts(q, 5) }));
    return page(reply, 'dashboard', session, {
      title: 'Dashboard', ...(res.value as object), dbNode: res.node, now: new Date().toISOString(),
    });
  });

  admin.get<{ Querystring: Record<string, string> }>('/admin/posts', async (request, reply) => {
    const session = adminSession(request, reply);
    if (!session) return reply;
    const statusParam = request.query?.status ?? 'all';
    const status = (['all', ...postStatuses] as string[]).includes(statusParam) ? statusParam as PostStatus | 'all' : 'all';
    const pageParam = request.query?.page ?? '1';
    if (!/^[1-9][0-9]{0,5}$/.test(pageParam)) throw httpError('bad_request', 'page must be a positive integer.');
    const pageNo = Number(pageParam);
    const seesAll = can(session.data.role, 'post:edit-any');
    const res = await read(request, (q) => listPosts(q, {
      status, authorId: seesAll ? null : session.data.userId, orPublished: false, limit: perPage, offset: (pageNo - 1) * perPage,
    }));
    const { items, total } = res.value as Awaited<ReturnType<typeof listPosts>>;
    return page(reply, 'posts', session, { title: 'Posts', items, total, status, page: pageNo, hasNext: pageNo * perPage < total });
  });

  const categoriesFor = async (request: FastifyRequest) =>
    ((await read(request, (q) => listTerms(q, 'categories', 100, 0))).value as Awaited<ReturnType<typeof listTerms>>).items;

  const renderForm = async (request: FastifyRequest, reply: FastifyReply, session: SessionState, post: FormPost, extra: { error?: string; previewHtml?: string | null; status?: number } = {}) =>
    page(reply, 'post-form', session, {
      title: post.id ? 'Edit post' : 'New post', post, url: post.id ? postUrl(post.slug) : '',
      categories: await categoriesFor(request), previewHtml: extra.previewHtml ?? null, error: extra.error ?? null,
    }, extra.status ?? 200);

  admin.get('/admin/posts/new', async (request, reply) => {
    const session = adminSession(request, reply, 'post:create');
    if (!session) return reply;
    return renderForm(request, reply, session, { id: null, title: '', slug: '', content: '', excerpt: '', status: 'draft', categoryIds: [], tagSlugs: '' });
  });

  admin.get<{ Params: { id: string } }>('/admin/posts/:id/edit', async (request, reply) => {
    const session = adminSession(request, reply);
    if (!session) return reply;
    const id = parseId(request.params.id);
    const post = (await read(request, (q) => getPost(q, id))).value as Awaited<ReturnType<typeof getPost>>;
    if (!post) throw httpError('not_found', 'No such post.');
    if (!canEditPost({ id: session.data.userId, role: session.data.role }, post)) throw httpError('forbidden', 'You can edit only your own posts.');
    return renderForm(request, reply, session, {
      id, title: post.title, slug: post.slug, content: post.content, excerpt: post.excerpt, status: post.status,
      categoryIds: post.categories.map((c) => c.id), tagSlugs: post.tags.map((t) => t.slug).join(', '),
    });
  });

  /** Form fields → the same input the JSON API validates. */
  const formInput = (body: unknown) => {
    const slug = formField(body, 'slug').trim();
    return {
      title: formField(body, 'title'),
      content: formField(body, 'content'),
      excerpt: formField(body, 'excerpt'),
      status: formField(body, 'status') || 'draft',
      ...(slug ? { slug } : {}),
      categories: formList(body, 'categories').filter((c) => /^[1-9][0-9]{0,14}$/.test(c)).map(Number),
      tags: formField(body, 'tags').split(',').map((t) => t.trim()).filter(Boolean),
    };
  };
  const formPostOf = (id: number | null, body: unknown): FormPost => {
    const input = formInput(body);
    return {
      id, title: input.title, slug: input.slug ?? '', content: input.content, excerpt: input.excerpt,
      status: (postStatuses as string[]).includes(input.status) ? input.status as PostStatus : 'draft',
      categoryIds: input.categories, tagSlugs: formField(body, 'tags'),
    };
  };

  const savePost = async (request: FastifyRequest, reply: FastifyReply, id: number | null) => {
    const session = adminSession(request, reply, id === null ? 'post:create' : 'post:edit-own');
    if (!session) return reply;
    adminCsrf(request);
    if (formField(request.body, 'action') === 'preview') {
      return renderForm(request, reply, session, formPostOf(id, request.body), { previewHtml: renderMarkdown(formField(request.body, 'content')) });
    }
    try {
      const input = parseWith(postInput, formInput(request.body), 'form');
      const answer = await performWrite(request, deps, session.data.userId, async (q) => {
        const { post, ...outcome } = id === null ? await createPostTx(q, session.data, input) : await updatePostTx(q, session.data, id, input, 'put');
        return { ...outcome, body: { id: post.id } };
      });
      const savedId = (answer.body as { id: number }).id;
      return reply.redirect(`/admin/posts/${savedId}/edit?saved=1`, 303);
    } catch (err) {
      if (err instanceof HttpError && (err.status === 422 || err.status === 409)) {
        return renderForm(request, reply, session, formPostOf(id, request.body), { error: err.message, status: err.status });
      }
      throw err;
    }
  };

  admin.post('/admin/posts', { bodyLimit: 1024 * 1024 }, async (request, reply) => savePost(request, reply, null));
  admin.post<{ Params: { id: string } }>('/admin/posts/:id', { bodyLimit: 1024 * 1024 }, async (request, reply) =>
    savePost(request, reply, parseId(request.params.id)));

  for (const [action, status] of [['trash', 'trash'], ['restore', 'draft']] as const) {
    admin.post<{ Params: { id: string } }>(`/admin/posts/:id/${action}`, async (request, reply) => {
      const session = adminSession(request, reply, 'post:edit-own');
      if (!session) return reply;
      adminCsrf(request);
      const id = parseId(request.params.id);
      await performWrite(request, deps, session.data.userId, (q) => setStatusTx(q, session.data, id, status));
      return reply.redirect(`/admin/posts?status=${status === 'trash' ? 'trash' : 'all'}`, 303);
    });
  }
}
