import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppDeps } from '../../deps';
import { httpError } from '../../errors';
import { readContextFor } from '../../session/plugin';
import { mimeForExt, type ImageExt } from '../../media/media-type';
import { thumbnailKey } from '../../media/thumbnail';
import { cdnPageHeaders } from '../../cdn/cdn-headers';
import { mediaTag } from '../../cdn/media-purge';

// Media files at stable, content-addressed URLs: `/media/<sha256>.<ext>` and the thumbnail
// `/media/<sha256>/thumb.webp`. The bytes behind a URL never change, so browsers and nginx may keep
// them for a year (`immutable`), logged-in or not; the ETag is the content hash. Reads go through
// the DB router like any page: a replica, at the reader's read-your-writes LSN when logged in, and
// the primary when the replica does not have the file yet (app/media/media-library.ts read()).

const fileParam = /^([0-9a-f]{64})\.(jpg|png|webp|gif)$/;
const shaParam = /^[0-9a-f]{64}$/;
export const immutableCacheControl = 'public, max-age=31536000, immutable';

export function registerMediaRoutes(app: FastifyInstance, deps: AppDeps): void {
  const media = deps.media;
  if (!media) return;

  app.register(async (scope) => {
    // Runs after the session plugin's onSend (registered earlier, at the root), which marks every
    // logged-in answer `private, no-store`: these bytes are public and identical for everybody.
    // nginx ignores that Cache-Control for /media/ and keeps its copy (or a 404) to the end of the
    // current second only (X-Accel-Expires, as pages do): a deleted image leaves the edge within 1 s.
    scope.addHook('onSend', async (_request, reply) => {
      if (reply.statusCode === 200 || reply.statusCode === 304) reply.header('Cache-Control', immutableCacheControl);
      reply.header('X-Accel-Expires', `@${Math.floor(Date.now() / 1000)}`);
    });

    const serve = async (request: FastifyRequest, reply: FastifyReply, sha: string, key: string, contentType: string, etag: string) => {
      reply.header('ETag', etag).header('X-Content-Type-Options', 'nosniff');
      // A CDN may keep a file for its TTL, tagged with what its deletion purges
      // (app/cdn/media-purge.ts). A 404 carries no tag: an upload purges nothing, so it stays 1 s.
      const cdnHeaders = cdnPageHeaders([mediaTag(sha)], deps.config.cdn);
      if (request.headers['if-none-match'] === etag) return reply.headers(cdnHeaders).code(304).send();
      const found = await media.read(key, readContextFor(request));
      // A stored type other than the URL's (a hand-edited URL): no such file at this address.
      if (!found || found.contentType !== contentType) throw httpError('not_found', 'No such file.');
      reply.headers(cdnHeaders);
      if (found.node) reply.header('X-DB-Node', found.node);
      return reply.type(contentType).send(found.data);
    };

    scope.get<{ Params: { file: string } }>('/media/:file', async (request, reply) => {
      const m = fileParam.exec(request.params.file);
      if (!m) throw httpError('not_found', 'No such file.');
      return serve(request, reply, m[1], m[1], mimeForExt[m[2] as ImageExt], `"${m[1]}"`);
    });

    scope.get<{ Params: { sha: string } }>('/media/:sha/thumb.webp', async (request, reply) => {
      const sha = request.params.sha;
      if (!shaParam.test(sha)) throw httpError('not_found', 'No such file.');
      return serve(request, reply, sha, thumbnailKey(sha), 'image/webp', `"${sha}-thumb"`);
    });
  });
}
