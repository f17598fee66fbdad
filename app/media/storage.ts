import type { Db, ReadContext } from '../db/db';

// Where media bytes live, behind one small interface so every app (and every DB replica) sees every
// file. The driver here keeps them in PostgreSQL (`media_blobs`, bytea): replicated, backed up and
// restored with the rest of the data, and read from replicas through the DB router. An
// S3-compatible driver may implement the same interface later.
//
// Keys are content addresses: `<sha256>` for an original, `<sha256>/thumb.webp` for derivatives,
// so a key's bytes never change and put() of an existing key is a no-op.

export interface StoredObject {
  data: Buffer;
  contentType: string;
  /** The DB node that answered (X-DB-Node), when the driver has one. */
  node: string | null;
}

export interface MediaStorage {
  /** Stores bytes under `key` (a no-op when the key exists); the commit LSN when the driver has one. */
  put(key: string, data: Buffer, contentType: string): Promise<{ lsn: string | null }>;
  /** The bytes, or null. `ctx` carries the reader's read-your-writes LSN. */
  get(key: string, ctx?: ReadContext): Promise<StoredObject | null>;
  exists(key: string, ctx?: ReadContext): Promise<boolean>;
  /** Removes `key` (no error when it is absent). */
  delete(key: string): Promise<{ lsn: string | null }>;
}

export const storageKeyPattern = /^[0-9a-f]{64}(\/[a-z0-9.-]{1,40})?$/;

function checkKey(key: string): void {
  if (!storageKeyPattern.test(key)) throw new Error(`media storage: invalid key "${key}"`);
}

export function createPgMediaStorage(db: Db): MediaStorage {
  return {
    async put(key, data, contentType) {
      checkKey(key);
      const { lsn } = await db.write((q) => q.query({
        name: 'media_blob_put',
        text: `INSERT INTO media_blobs (key, content_type, byte_size, data) VALUES ($1, $2, $3, $4)
               ON CONFLICT (key) DO NOTHING`,
        values: [key, contentType, data.length, data],
      }));
      return { lsn };
    },

    async get(key, ctx = {}) {
      checkKey(key);
      const res = await db.read(ctx, (q) => q.query<{ content_type: string; data: Buffer }>({
        name: 'media_blob_get',
        text: 'SELECT content_type, data FROM media_blobs WHERE key = $1',
        values: [key],
      }));
      const row = res.value.rows[0];
      return row ? { data: row.data, contentType: row.content_type, node: res.node } : null;
    },

    async exists(key, ctx = {}) {
      checkKey(key);
      const res = await db.read(ctx, (q) => q.query({
        name: 'media_blob_exists',
        text: 'SELECT 1 FROM media_blobs WHERE key = $1',
        values: [key],
      }));
      return res.value.rows.length > 0;
    },

    async delete(key) {
      checkKey(key);
      const { lsn } = await db.write((q) => q.query({
        name: 'media_blob_delete',
        text: 'DELETE FROM media_blobs WHERE key = $1',
        values: [key],
      }));
      return { lsn };
    },
  };
}
