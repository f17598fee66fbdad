-- Up Migration
-- Media library on shared storage (issue 9). Expand only: the previous release ignores these tables.
--
-- media_blobs is the PostgreSQL driver of app/media/storage.ts: content-addressed bytes (key =
-- `<sha256>` for an original, `<sha256>/thumb.webp` for its thumbnail) that every app and every
-- replica sees. bytea rather than large objects: one row per file, streamed by streaming
-- replication and pg_basebackup like any row, and removed with a plain DELETE (large objects need
-- lo_unlink or they leak). Files are at most a few MB (the upload limit), well within bytea's range.
CREATE TABLE media_blobs (
  key          text PRIMARY KEY CHECK (key ~ '^[0-9a-f]{64}(/[a-z0-9.-]{1,40})?$'),
  content_type text NOT NULL,
  byte_size    int NOT NULL CHECK (byte_size >= 0),
  data         bytea NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now()
);
-- Already compressed images: do not spend CPU trying to compress them again.
ALTER TABLE media_blobs ALTER COLUMN data SET STORAGE EXTERNAL;

-- The library: one row per distinct file (deduplicated by SHA-256 of its bytes).
CREATE TABLE media (
  sha256        text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  mime          text NOT NULL CHECK (mime IN ('image/jpeg', 'image/png', 'image/webp', 'image/gif')),
  ext           text NOT NULL CHECK (ext IN ('jpg', 'png', 'webp', 'gif')),
  byte_size     int NOT NULL CHECK (byte_size > 0),
  width         int,
  height        int,
  original_name text NOT NULL DEFAULT '' CHECK (char_length(original_name) <= 255),
  uploaded_by   bigint REFERENCES users(id) ON DELETE SET NULL,
  -- Set by the thumbnail job once `<sha256>/thumb.webp` is stored.
  thumb_at      timestamptz,
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX media_created_idx ON media (created_at DESC);
CREATE INDEX media_uploaded_by_idx ON media (uploaded_by);

-- Scheduled publishing (issue 9): the job looks up due drafts every few seconds.
CREATE INDEX posts_scheduled_idx ON posts (scheduled_at) WHERE status = 'draft' AND scheduled_at IS NOT NULL;

-- Down Migration
DROP INDEX IF EXISTS posts_scheduled_idx;
DROP TABLE IF EXISTS media, media_blobs;
