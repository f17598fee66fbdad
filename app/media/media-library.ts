import { createHash } from 'node:crypto';
import type { Db, Queryable, ReadContext } from '../db/db';
import { httpError } from '../errors';
import { can, type Role } from '../auth/roles';
import type { MediaStorage, StoredObject } from './storage';
import { detectImageType, type ImageExt, type ImageMime } from './media-type';
import { imageSize, megapixels, thumbnailKey } from './thumbnail';

// The media library: uploads checked by content, deduplicated by SHA-256, bytes in the shared
// storage (app/media/storage.ts), one `media` row per distinct file. Used by the admin page, the
// JSON API, the public /media route and the thumbnail job.
//
// "Is this file used?" is answered from posts.content at delete time (a post references a file by
// its URL, `/media/<sha256>…`), not from a join table kept up on every post save: the content is
// the truth the reader sees, every write path (API, admin form, scheduled publish, restore, a
// future importer) is covered without hooks, and deletes are rare. The delete transaction takes a
// SHARE lock on posts so no post write can slip a reference in between the check and the delete.

export const defaultMaxUploadBytes = 10 * 1024 * 1024;
export const defaultMaxUploadPixels = 40_000_000;

export interface MediaItem {
  sha256: string;
  mime: ImageMime;
  ext: ImageExt;
  byteSize: number;
  width: number | null;
  height: number | null;
  originalName: string;
  uploadedBy: number | null;
  uploaderUsername: string | null;
  thumbReady: boolean;
  createdAt: string;
  url: string;
  thumbUrl: string;
  /** The Markdown snippet an author pastes into a post. */
  markdown: string;
}

export const mediaUrl = (sha256: string, ext: string) => `/media/${sha256}.${ext}`;
export const mediaThumbUrl = (sha256: string) => `/media/${sha256}/thumb.webp`;
export const sha256Pattern = /^[0-9a-f]{64}$/;

interface MediaRow {
  sha256: string; mime: ImageMime; ext: ImageExt; byte_size: number; width: number | null; height: number | null;
  original_name: string; uploaded_by: string | null; uploader_username: string | null; thumb_at: Date | null; created_at: Date;
}

const columns = `m.sha256, m.mime, m.ext, m.byte_size, m.width, m.height, m.original_name, m.uploaded_by,
  u.username AS uploader_username, m.thumb_at, m.created_at`;

function markdownAlt(name: string): string {
  return name.replace(/\.[a-z0-9]{1,5}$/i, '').replace(/[[\]\\\n\r]/g, ' ').trim().slice(0, 100) || 'image';
}

function toItem(r: MediaRow): MediaItem {
  const url = mediaUrl(r.sha256, r.ext);
  return {
    sha256: r.sha256, mime: r.mime, ext: r.ext, byteSize: r.byte_size, width: r.width, height: r.height,
    originalName: r.original_name, uploadedBy: r.uploaded_by === null ? null : Number(r.uploaded_by),
    uploaderUsername: r.uploader_username, thumbReady: r.thumb_at !== null, createdAt: r.created_at.toISOString(),
    url, thumbUrl: mediaThumbUrl(r.sha256), markdown: `![${markdownAlt(r.original_name)}](${url})`,
  };
}

async function selectItem(q: Queryable, sha256: string): Promise<MediaItem | null> {
  const { rows } = await q.query<MediaRow>({
    name: 'media_get',
    text: `SELECT ${columns} FROM media m LEFT JOIN users u ON u.id = m.uploaded_by WHERE m.sha256 = $1`,
    values: [sha256],
  });
  return rows[0] ? toItem(rows[0]) : null;
}

/** Cleans a client-supplied file name for display only (it never names anything on disk). */
function cleanName(name: string): string {
  // eslint-disable-next-line no-control-regex
  return name.replace(/[\u0000-\u001f\u007f]/g, '').split(/[\\/]/).pop()!.slice(0, 255);
}

function humanBytes(n: number): string {
  return n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(n % (1024 * 1024) ? 1 : 0)} MB` : `${Math.round(n / 1024)} KB`;
}

/** The 409's text: the posts the user may open by id and title, the others only counted. */
function referencesMessage(rows: Array<{ id: string; title: string; status: string; visible: boolean; visible_total: string; hidden_total: string }>): string {
  const visibleTotal = Number(rows[0].visible_total);
  const hiddenTotal = Number(rows[0].hidden_total);
  const parts: string[] = [];
  if (visibleTotal > 0) {
    const names = rows.filter((r) => r.visible).map((r) => `#${r.id} "${r.title}"${r.status === 'trash' ? ' (in the trash)' : ''}`).join(', ');
    parts.push(`${visibleTotal > 5 ? `${visibleTotal} posts, including ` : visibleTotal === 1 ? 'post ' : 'posts '}${names}`);
  }
  if (hiddenTotal > 0) parts.push(`${hiddenTotal} ${hiddenTotal === 1 ? 'post' : 'posts'} by other users that you cannot open`);
  const hint = hiddenTotal > 0 ? 'remove it from them first (an editor can open the others)' : 'remove it from them first';
  return `The file is used by ${parts.join(' and ')}; ${hint}.`;
}

export interface UploadResult { item: MediaItem; created: boolean; lsn: string }

export interface MediaLibrary {
  readonly maxUploadBytes: number;
  /** The pixel cap (width × height from the header) of uploads and of thumbnail decodes. */
  readonly maxUploadPixels: number;
  /** Checks, stores and records one upload (415 not an accepted image, 413 too many bytes or pixels). */
  upload(input: { bytes: Buffer; originalName: string; userId: number }): Promise<UploadResult>;
  /** The library, newest first: `uploadedBy`'s files only when given (an author), else everybody's. */
  list(ctx: ReadContext, page: { limit: number; offset: number; uploadedBy: number | null }): Promise<{ items: MediaItem[]; total: number; node: string; lsn: string | null }>;
  find(sha256: string, ctx: ReadContext): Promise<MediaItem | null>;
  /**
   * 404 unknown, 403 another user's file without editor rights, 409 while a post references it
   * (naming only the posts this user may open: their own or published ones, all for editors).
   */
  remove(sha256: string, user: { userId: number; role: Role }): Promise<{ lsn: string }>;
  /**
   * The bytes of `key` for the public route. A replica that has not replayed the upload yet (or a
   * reader with no LSN of its own) would say "no such file": a miss is asked again on the primary.
   */
  read(key: string, ctx: ReadContext): Promise<StoredObject | null>;
  /** The thumbnail job: stores the thumbnail bytes and marks the row; false when the file is gone. */
  saveThumbnail(sha256: string, webp: Buffer): Promise<boolean>;
  /** The original's bytes for the thumbnail job (read at `minLsn`, falling back to the primary). */
  original(sha256: string, minLsn: string | null): Promise<StoredObject | null>;
  /** Files uploaded in the last day that still have no thumbnail, oldest first (the sweep). */
  missingThumbnails(limit: number): Promise<Array<{ sha256: string; createdAtMs: number }>>;
}

export function createMediaLibrary(deps: { db: Db; storage: MediaStorage; maxUploadBytes?: number; maxUploadPixels?: number }): MediaLibrary {
  const { db, storage } = deps;
  const maxUploadBytes = deps.maxUploadBytes ?? defaultMaxUploadBytes;
  const maxUploadPixels = deps.maxUploadPixels ?? defaultMaxUploadPixels;

  const read = async (key: string, ctx: ReadContext) => {
    const found = await storage.get(key, ctx);
    if (found || ctx.primary) return found;
    return storage.get(key, { ...ctx, primary: true });
  };

  return {
    maxUploadBytes,
    maxUploadPixels,

    async upload({ bytes, originalName, userId }) {
      if (bytes.length > maxUploadBytes) {
        throw httpError('payload_too_large', `The file is larger than the ${humanBytes(maxUploadBytes)} limit.`);
      }
      if (bytes.length === 0) throw httpError('invalid_field', 'file: the file is empty.');
      const type = await detectImageType(bytes);
      if (!type.accepted) {
        throw httpError('unsupported_media_type',
          `Only JPEG, PNG, WebP and GIF images are accepted; this file's content is ${type.detected ?? 'not a recognised image format'}.`);
      }
      const size = await imageSize(bytes);
      if (!size) throw httpError('unsupported_media_type', `The file looks like ${type.mime} but cannot be decoded as an image.`);
      // From the header alone: a 100-byte PNG may declare 12000×12000 (a decode would need GBs).
      if (size.width * size.height > maxUploadPixels) {
        throw httpError('image_too_large',
          `The image is ${size.width}×${size.height} pixels (${megapixels(size.width * size.height)} megapixels); the limit is ${megapixels(maxUploadPixels)} megapixels.`);
      }
      const sha256 = createHash('sha256').update(bytes).digest('hex');

      // Bytes first, then the row: a crash in between leaves an unreferenced blob (harmless; the
      // next upload of the same bytes reuses it), never a row pointing at nothing.
      await storage.put(sha256, bytes, type.mime);
      const res = await db.write(async (q) => {
        const inserted = await q.query({
          name: 'media_insert',
          text: `INSERT INTO media (sha256, mime, ext, byte_size, width, height, original_name, uploaded_by)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (sha256) DO NOTHING`,
          values: [sha256, type.mime, type.ext, bytes.length, size.width, size.height, cleanName(originalName), userId],
        });
        return { created: (inserted.rowCount ?? 0) > 0, item: (await selectItem(q, sha256))! };
      });
      return { item: res.value.item, created: res.value.created, lsn: res.lsn };
    },

    async list(ctx, { limit, offset, uploadedBy }) {
      const res = await db.read(ctx, async (q) => {
        const { rows } = await q.query<MediaRow & { total: string }>({
          name: 'media_list',
          text: `SELECT ${columns}, count(*) OVER () AS total FROM media m LEFT JOIN users u ON u.id = m.uploaded_by
                 WHERE $3::bigint IS NULL OR m.uploaded_by = $3
                 ORDER BY m.created_at DESC, m.sha256 LIMIT $1 OFFSET $2`,
          values: [limit, offset, uploadedBy],
        });
        return rows;
      });
      let total = Number(res.value[0]?.total ?? 0);
      if (res.value.length === 0 && offset > 0) {
        const count = await db.read(ctx, (q) => q.query<{ n: string }>({
          name: 'media_count', text: 'SELECT count(*) AS n FROM media WHERE $1::bigint IS NULL OR uploaded_by = $1', values: [uploadedBy],
        }));
        total = Number(count.value.rows[0].n);
      }
      return { items: res.value.map(toItem), total, node: res.node, lsn: res.lsn ?? null };
    },

    async find(sha256, ctx) {
      if (!sha256Pattern.test(sha256)) return null;
      return (await db.read(ctx, (q) => selectItem(q, sha256))).value;
    },

    async remove(sha256, user) {
      if (!sha256Pattern.test(sha256)) throw httpError('not_found', 'No such file.');
      const res = await db.write(async (q) => {
        await q.query({ name: 'media_lock', text: 'SELECT sha256 FROM media WHERE sha256 = $1 FOR UPDATE', values: [sha256] });
        const item = await selectItem(q, sha256);
        if (!item) throw httpError('not_found', 'No such file.');
        if (item.uploadedBy !== user.userId && !can(user.role, 'media:delete-any')) {
          throw httpError('forbidden', 'Only editors and admins delete files other users uploaded.');
        }
        // SHARE blocks post inserts/updates until this transaction ends (and waits for those in
        // flight), so the check below sees every reference that can exist when the row goes.
        await q.query({ text: 'LOCK TABLE posts IN SHARE MODE' });
        // Every referencing post counts, but only those this user may open are named: an author
        // must not learn another user's draft or trash titles from a refusal.
        const { rows } = await q.query<{ id: string; title: string; status: string; visible: boolean; visible_total: string; hidden_total: string }>({
          name: 'media_references',
          text: `SELECT id, title, status, visible,
                        count(*) FILTER (WHERE visible) OVER () AS visible_total,
                        count(*) FILTER (WHERE NOT visible) OVER () AS hidden_total
                 FROM (SELECT id, title, status, ($2::bigint IS NULL OR author_id = $2 OR status = 'published') AS visible
                       FROM posts WHERE strpos(content, $1) > 0) refs
                 ORDER BY visible DESC, id LIMIT 5`,
          values: [`/media/${sha256}`, can(user.role, 'post:edit-any') ? null : user.userId],
        });
        if (rows.length > 0) throw httpError('conflict', referencesMessage(rows));
        await q.query({ name: 'media_delete', text: 'DELETE FROM media WHERE sha256 = $1', values: [sha256] });
      });
      // The row is gone (nothing lists or links it any more); then the bytes. Known gap: the same
      // bytes uploaded again in the few ms between this commit and the blob delete would leave a
      // row without bytes (the next upload of them restores it); not worth a cross-store lock.
      await storage.delete(thumbnailKey(sha256));
      await storage.delete(sha256);
      return { lsn: res.lsn };
    },

    read,

    async saveThumbnail(sha256, webp) {
      await storage.put(thumbnailKey(sha256), webp, 'image/webp');
      const res = await db.write((q) => q.query({
        name: 'media_thumb_done',
        text: 'UPDATE media SET thumb_at = now() WHERE sha256 = $1',
        values: [sha256],
      }));
      if ((res.value.rowCount ?? 0) === 0) {
        await storage.delete(thumbnailKey(sha256)); // deleted while the job ran
        return false;
      }
      return true;
    },

    async original(sha256, minLsn) {
      return read(sha256, { minLsn });
    },

    async missingThumbnails(limit) {
      const res = await db.read({ primary: true }, (q) => q.query<{ sha256: string; created_at: Date }>({
        name: 'media_missing_thumbs',
        text: `SELECT sha256, created_at FROM media
               WHERE thumb_at IS NULL AND created_at > now() - interval '1 day'
               ORDER BY created_at LIMIT $1`,
        values: [limit],
      }));
      return res.value.rows.map((r) => ({ sha256: r.sha256, createdAtMs: r.created_at.getTime() }));
    },
  };
}

