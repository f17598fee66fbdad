import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AppDeps } from '../../deps';
import type { MediaItem } from '../../media/media-library';
import { registerUploadParser, uploadedFile } from '../../media/multipart-upload';
import { readContextFor } from '../../session/plugin';
import { can } from '../../auth/roles';
import { mapDbError, parseWith, requireCsrf, requireUser } from './guards';

// The media library over JSON: GET /api/media (list), POST /api/media (multipart upload, field
// `file`; 201 new, 200 when the same bytes were already there), DELETE /api/media/:sha256
// (409 while a post references the file). Uploads: author+; deleting another user's file: editor+.
// An author lists only their own uploads; editors and admins list everybody's.

const listQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(30),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
}).strict();

export const mediaJson = (m: MediaItem) => ({
  sha256: m.sha256, url: m.url, thumbUrl: m.thumbReady ? m.thumbUrl : null, markdown: m.markdown, mime: m.mime,
  byteSize: m.byteSize, width: m.width, height: m.height, originalName: m.originalName,
  uploadedBy: m.uploaderUsername, createdAt: m.createdAt,
});

export function registerMediaApiRoutes(api: FastifyInstance, deps: AppDeps): void {
  const media = deps.media;
  if (!media) return;

  api.get('/media', async (request) => {
    const session = requireUser(request, 'media:upload');
    const page = parseWith(listQuery, request.query ?? {}, 'query');
    const uploadedBy = can(session.data.role, 'media:delete-any') ? null : session.data.userId;
    try {
      const res = await media.list(readContextFor(request), { ...page, uploadedBy });
      await request.server.sessionKit.recordRead(request, res.lsn);
      return { items: res.items.map(mediaJson), total: res.total };
    } catch (err) {
      mapDbError(err);
    }
  });

  api.delete<{ Params: { sha256: string } }>('/media/:sha256', async (request, reply) => {
    const session = requireUser(request, 'media:upload');
    requireCsrf(request);
    try {
      const { lsn } = await media.remove(request.params.sha256, { userId: session.data.userId, role: session.data.role });
      await request.server.sessionKit.recordWrite(request, lsn);
    } catch (err) {
      mapDbError(err);
    }
    return reply.code(204).send();
  });

  api.register(async (scope) => {
    // Refuse before the body is read: no session, wrong role.
    scope.addHook('onRequest', async (request) => { requireUser(request, 'media:upload'); });
    await registerUploadParser(scope, media.maxUploadBytes);
    scope.post('/media', async (request, reply) => {
      const session = requireUser(request, 'media:upload');
      requireCsrf(request);
      const file = uploadedFile(request);
      let result;
      try {
        result = await media.upload({ bytes: file.data, originalName: file.filename, userId: session.data.userId });
      } catch (err) {
        mapDbError(err);
      }
      await request.server.sessionKit.recordWrite(request, result.lsn);
      // Not awaited: the upload's answer never waits on the queue's Redis (enqueue logs and counts a failure).
      if (!result.item.thumbReady) void deps.jobs?.enqueueThumbnail({ sha256: result.item.sha256, createdAtMs: Date.parse(result.item.createdAt) }, result.lsn);
      reply.code(result.created ? 201 : 200);
      return { ...mediaJson(result.item), created: result.created };
    });
  });
}

