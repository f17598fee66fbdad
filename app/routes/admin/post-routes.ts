import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppDeps } from '../../deps';
import type { Queryable } from '../../db/db';
import { can, canEditPost } from '../../auth/roles';
import { HttpError, httpError } from '../../errors';
import { renderMarkdown } from '../../content/markdown';
import { slugify } from '../../content/slug';
import { getPost, listPosts, postStatuses, setPostSchedule, type PostStatus } from '../../db/queries/admin-posts';
import { listTerms, resolveTerms } from '../../db/queries/admin-taxonomy';
import { parseId, parseWith } from '../api/guards';
import { performWrite } from '../api/idempotent-write';
import { createPostTx, postInput, postUrl, setStatusTx, updatePostTx } from '../api/post-writes';
import { createTermTx } from '../api/taxonomy-routes';
import type { AdminPageKit } from './admin-page';
import { adminCsrf, adminSession, formField, formList } from './admin-guard';

// Post list (status filter incl. "scheduled", search), new/edit with Markdown preview (live via
// /static/admin/editor.js and /api/preview; the Preview button works without JavaScript),
// categories and tags (a tag typed that does not exist is created for roles with tag:create),
// a scheduled publish time (status stays draft; a job publishes it), trash and restore.
// Writes reuse the JSON API's transactions (post-writes.ts), so both paths purge alike.

const perPage = 20;
export const listStatuses = ['all', 'draft', 'scheduled', 'published', 'unlisted', 'trash'] as const;
type ListStatus = (typeof listStatuses)[number];

interface FormPost {
  id: number | null; title: string; slug: string; content: string; excerpt: string; status: PostStatus;
  categoryIds: number[]; tagSlugs: string; scheduledAt: string | null;
}

/**
 * The "Publish at" field → a Date, or null when empty. The editor script sends the browser's
 * local time converted to ISO with an offset (`scheduled_at_iso`); without JavaScript the
 * datetime-local value is read as UTC (the form says so).
 */
export function parseSchedule(body: unknown, now = Date.now()): Date | null {
  const iso = formField(body, 'scheduled_at_iso').trim();
  const local = formField(body, 'scheduled_at').trim();
  if (!iso && !local) return null;
  const text = iso || `${local}${/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/.test(local) ? 'Z' : ''}`;
  const at = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/.test(text) ? new Date(text) : new Date(Number.NaN);
  if (Number.isNaN(at.getTime())) throw httpError('invalid_field', 'scheduled_at: use a date and time such as 2030-01-31T09:00.');
  if (at.getTime() <= now) throw httpError('invalid_field', 'scheduled_at: the publish time must be in the future.');
  if (at.getTime() > now + 5 * 366 * 24 * 3600 * 1000) throw httpError('invalid_field', 'scheduled_at: at most five years ahead.');
  return at;
}

/** Tag field entries → existing tag ids, creating the missing ones when the role may. */
async function tagIdsFromForm(q: Queryable, entries: string[], mayCreate: boolean): Promise<number[]> {
  const ids: number[] = [];
  for (const entry of entries) {
    if (entry.length > 100 || entry.includes('\u0000')) throw httpError('invalid_field', 'tags: each tag is at most 100 characters');
    const { ids: found } = await resolveTerms(q, 'tags', [...new Set([entry, slugify(entry)].filter(Boolean))]);
    if (found.length) {
      ids.push(found[0]);
      continue;
    }
    if (!mayCreate) throw httpError('invalid_field', `tags: unknown tag "${entry}" (your role cannot create tags)`);
    const created = await createTermTx(q, 'tags', { name: entry });
    ids.push((created.body as { id: number }).id);
  }
  return [...new Set(ids)];
}

export function registerAdminPostRoutes(admin: FastifyInstance, deps: AppDeps, kit: AdminPageKit): void {
  admin.get<{ Querystring: Record<string, string> }>('/admin/posts', { config: { adminAction: 'admin:access' } }, async (request, reply) => {
    const session = adminSession(request);
    const statusParam = request.query?.status ?? 'all';
    const status: ListStatus = (listStatuses as readonly string[]).includes(statusParam) ? statusParam as ListStatus : 'all';
    const search = (request.query?.q ?? '').trim().slice(0, 200);
    const pageParam = request.query?.page ?? '1';
    if (!/^[1-9][0-9]{0,5}$/.test(pageParam)) throw httpError('bad_request', 'page must be a positive integer.');
    const pageNo = Number(pageParam);
    const seesAll = can(session.data.role, 'post:edit-any');
    const res = await kit.read(request, (q) => listPosts(q, {
      status, search: search || null, authorId: seesAll ? null : session.data.userId, orPublished: false, limit: perPage, offset: (pageNo - 1) * perPage,
    }));
    const { items, total } = res.value;
    const qs = (p: number) => `status=${status}${search ? `&q=${encodeURIComponent(search)}` : ''}&page=${p}`;
    return kit.page(request, reply, 'posts', {
      title: 'Posts', items, total, status, search, statuses: listStatuses, page: pageNo, hasNext: pageNo * perPage < total,
      prevQuery: qs(pageNo - 1), nextQuery: qs(pageNo + 1),
    });
  });

  const renderForm = async (request: FastifyRequest, reply: FastifyReply, post: FormPost, extra: { error?: string; notice?: string; previewHtml?: string | null; status?: number } = {}) => {
    const categories = (await kit.read(request, (q) => listTerms(q, 'categories', 500, 0))).value.items;
    return kit.page(request, reply, 'post-form', {
      title: post.id ? 'Edit post' : 'New post', post, url: post.id ? postUrl(post.slug) : '',
      categories, previewHtml: extra.previewHtml ?? null, error: extra.error ?? null, notice: extra.notice ?? null,
      canCreateTags: can(request.session!.data.role, 'tag:create'),
    }, extra.status ?? 200);
  };

  admin.get('/admin/posts/new', { config: { adminAction: 'post:create' } }, async (request, reply) =>
    renderForm(request, reply, { id: null, title: '', slug: '', content: '', excerpt: '', status: 'draft', categoryIds: [], tagSlugs: '', scheduledAt: null }));

  admin.get<{ Params: { id: string }; Querystring: Record<string, string> }>('/admin/posts/:id/edit', { config: { adminAction: 'post:edit-own' } }, async (request, reply) => {
    const session = adminSession(request);
    const id = parseId(request.params.id);
    const post = (await kit.read(request, (q) => getPost(q, id))).value;
    if (!post) throw httpError('not_found', 'No such post.');
    if (!canEditPost({ id: session.data.userId, role: session.data.role }, post)) throw httpError('forbidden', 'You can edit only your own posts.');
    return renderForm(request, reply, {
      id, title: post.title, slug: post.slug, content: post.content, excerpt: post.excerpt, status: post.status,
      categoryIds: post.categories.map((c) => c.id), tagSlugs: post.tags.map((t) => t.slug).join(', '), scheduledAt: post.scheduledAt,
    }, { notice: request.query?.saved ? 'Saved.' : undefined });
  });

  /** Form fields → the same input the JSON API validates (tags resolved separately). */
  const formInput = (body: unknown) => {
    const slug = formField(body, 'slug').trim();
    return {
      title: formField(body, 'title'),
      content: formField(body, 'content'),
      excerpt: formField(body, 'excerpt'),
      status: formField(body, 'status') || 'draft',
      ...(slug ? { slug } : {}),
      categories: formList(body, 'categories').filter((c) => /^[1-9][0-9]{0,14}$/.test(c)).map(Number),
    };
  };
  const tagEntries = (body: unknown) => formField(body, 'tags').split(',').map((t) => t.trim()).filter(Boolean).slice(0, 100);
  const formPostOf = (id: number | null, body: unknown): FormPost => {
    const input = formInput(body);
    const iso = formField(body, 'scheduled_at_iso') || formField(body, 'scheduled_at');
    return {
      id, title: input.title, slug: input.slug ?? '', content: input.content, excerpt: input.excerpt,
      status: (postStatuses as string[]).includes(input.status) ? input.status as PostStatus : 'draft',
      categoryIds: input.categories, tagSlugs: formField(body, 'tags'), scheduledAt: iso || null,
    };
  };

  const savePost = async (request: FastifyRequest, reply: FastifyReply, id: number | null) => {
    const session = adminSession(request);
    adminCsrf(request);
    if (formField(request.body, 'action') === 'preview') {
      return renderForm(request, reply, formPostOf(id, request.body), { previewHtml: renderMarkdown(formField(request.body, 'content')) });
    }
    try {
      const input = parseWith(postInput, formInput(request.body), 'form');
      const scheduledAt = parseSchedule(request.body);
      if (scheduledAt && input.status !== 'draft') {
        throw httpError('invalid_field', 'scheduled_at: a scheduled post stays a draft until its time; choose the status "draft" or clear the publish time.');
      }
      const entries = tagEntries(request.body);
      const mayCreateTags = can(session.data.role, 'tag:create');
      const answer = await performWrite(request, deps, session.data.userId, async (q) => {
        const tags = await tagIdsFromForm(q, entries, mayCreateTags);
        const { post, ...outcome } = id === null
          ? await createPostTx(q, session.data, { ...input, tags })
          : await updatePostTx(q, session.data, id, { ...input, tags }, 'put');
        await setPostSchedule(q, post.id, scheduledAt);
        return { ...outcome, body: { id: post.id } };
      });
      const savedId = (answer.body as { id: number }).id;
      return reply.redirect(`/admin/posts/${savedId}/edit?saved=1`, 303);
    } catch (err) {
      if (err instanceof HttpError && (err.status === 422 || err.status === 409)) {
        return renderForm(request, reply, formPostOf(id, request.body), { error: err.message, status: err.status });
      }
      throw err;
    }
  };

  admin.post('/admin/posts', { bodyLimit: 1024 * 1024, config: { adminAction: 'post:create' } }, async (request, reply) => savePost(request, reply, null));
  admin.post<{ Params: { id: string } }>('/admin/posts/:id', { bodyLimit: 1024 * 1024, config: { adminAction: 'post:edit-own' } }, async (request, reply) =>
    savePost(request, reply, parseId(request.params.id)));

  // `delete` is LuaAIDiary's URL; here it moves the post to the trash like `trash` (restorable).
  for (const [action, status] of [['trash', 'trash'], ['delete', 'trash'], ['restore', 'draft']] as const) {
    admin.post<{ Params: { id: string } }>(`/admin/posts/:id/${action}`, { config: { adminAction: 'post:edit-own' } }, async (request, reply) => {
      const session = adminSession(request);
      adminCsrf(request);
      const id = parseId(request.params.id);
      await performWrite(request, deps, session.data.userId, async (q) => {
        const outcome = await setStatusTx(q, session.data, id, status);
        // A trashed post is no longer scheduled (a restore must not publish it behind the user's back).
        if (status === 'trash') await setPostSchedule(q, id, null);
        return outcome;
      });
      return reply.redirect(`/admin/posts?status=${status === 'trash' ? 'trash' : 'all'}`, 303);
    });
  }
}
