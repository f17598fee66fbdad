import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppDeps } from '../../deps';
import { can } from '../../auth/roles';
import { HttpError } from '../../errors';
import { readContextFor } from '../../session/plugin';
import { registerUploadParser, uploadedFile } from '../../media/multipart-upload';
import { megapixels } from '../../media/thumbnail';
import { mapDbError } from '../api/guards';
import type { AdminPageKit } from './admin-page';
import { adminRouteGuard, adminSession } from './admin-guard';

// /admin/media: the library (thumbnails, URL and Markdown snippet to copy, delete) and the upload
// form. Uploads: author+; deleting another user's file: editor+; a file a post uses is refused
// with the posts named. Every POST carries the `_csrf` form field (checked by the session plugin
// after the multipart body is parsed).

const pageSize = 60;

export function registerAdminMediaRoutes(admin: FastifyInstance, deps: AppDeps, kit: AdminPageKit): void {
  const media = deps.media;
  if (!media) return;

  const listPage = async (request: FastifyRequest, reply: FastifyReply, status = 200, messages: { notice?: string | null; error?: string | null } = {}) => {
    const session = adminSession(request);
    const query = request.query as { page?: string; uploaded?: string; deleted?: string };
    const pageNo = /^[1-9][0-9]{0,5}$/.test(query.page ?? '') ? Number(query.page) : 1;
    let res;
    try {
      // An author's library is their own uploads; editors and admins (who may delete any) see all.
      const uploadedBy = can(session.data.role, 'media:delete-any') ? null : session.data.userId;
      res = await media.list(readContextFor(request), { limit: pageSize, offset: (pageNo - 1) * pageSize, uploadedBy });
    } catch (err) {
      mapDbError(err);
    }
    await request.server.sessionKit.recordRead(request, res.lsn);
    const items = res.items.map((m) => ({
      ...m,
      canDelete: m.uploadedBy === session.data.userId || can(session.data.role, 'media:delete-any'),
      highlight: m.sha256 === query.uploaded,
    }));
    let notice = messages.notice ?? null;
    if (!notice && query.uploaded && /^[0-9a-f]{64}$/.test(query.uploaded)) notice = 'Uploaded. Copy the Markdown below into a post.';
    if (!notice && query.deleted === '1') notice = 'Deleted.';
    return kit.page(request, reply, 'media', {
      title: 'Media', items, total: res.total, pageNo, pages: Math.max(1, Math.ceil(res.total / pageSize)),
      maxUploadMb: Math.round(media.maxUploadBytes / 1024 / 1024), maxUploadMegapixels: megapixels(media.maxUploadPixels), notice, error: messages.error ?? null,
    }, status);
  };

  admin.get('/admin/media', { config: { adminAction: 'media:upload' } }, async (request, reply) => listPage(request, reply));

  admin.post<{ Params: { sha256: string } }>('/admin/media/:sha256/delete', { config: { adminAction: 'media:upload' } }, async (request, reply) => {
    const session = adminSession(request, 'media:upload');
    try {
      const { lsn } = await media.remove(request.params.sha256, { userId: session.data.userId, role: session.data.role });
      await request.server.sessionKit.recordWrite(request, lsn);
    } catch (err) {
      // Refusals are shown on the page with what to do; anything else is the error page.
      if (err instanceof HttpError && (err.status === 409 || err.status === 403 || err.status === 404)) {
        return listPage(request, reply, err.status, { error: err.message });
      }
      mapDbError(err);
    }
    return reply.redirect('/admin/media?deleted=1', 303);
  });

  admin.register(async (scope) => {
    // Refuse before the body is read (no session: 401, wrong role: 403); the scope's preHandler
    // guard checks again after the CSRF check.
    scope.addHook('onRequest', adminRouteGuard);
    await registerUploadParser(scope, media.maxUploadBytes);
    scope.post('/admin/media', { config: { adminAction: 'media:upload' } }, async (request, reply) => {
      const session = adminSession(request, 'media:upload');
      let result;
      try {
        const file = uploadedFile(request);
        result = await media.upload({ bytes: file.data, originalName: file.filename, userId: session.data.userId });
      } catch (err) {
        if (err instanceof HttpError && [413, 415, 422].includes(err.status)) return listPage(request, reply, err.status, { error: err.message });
        mapDbError(err);
      }
      await request.server.sessionKit.recordWrite(request, result.lsn);
      // Not awaited: the upload's answer never waits on the queue's Redis (enqueue logs and counts a failure).
      if (!result.item.thumbReady) void deps.jobs?.enqueueThumbnail({ sha256: result.item.sha256, createdAtMs: Date.parse(result.item.createdAt) }, result.lsn);
      return reply.redirect(`/admin/media?uploaded=${result.item.sha256}`, 303);
    });
  });
}
