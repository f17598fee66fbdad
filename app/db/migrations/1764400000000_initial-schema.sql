-- Up Migration
-- AIDiary initial schema. Applied by node-pg-migrate under its advisory lock (app/db/migrate.ts).
-- Expand/contract rule: a later migration must stay compatible with the previous release.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TYPE user_role AS ENUM ('admin', 'editor', 'author', 'subscriber');
CREATE TYPE post_status AS ENUM ('draft', 'published', 'unlisted', 'trash');

CREATE TABLE users (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  username      text NOT NULL UNIQUE CHECK (username ~ '^[a-zA-Z0-9_.-]{2,40}$'),
  email         text NOT NULL UNIQUE,
  display_name  text NOT NULL,
  password_hash text NOT NULL,
  role          user_role NOT NULL DEFAULT 'subscriber',
  bio           text NOT NULL DEFAULT '',
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE categories (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name        text NOT NULL,
  slug        text NOT NULL UNIQUE,
  description text NOT NULL DEFAULT '',
  parent_id   bigint REFERENCES categories(id) ON DELETE SET NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  CHECK (parent_id IS NULL OR parent_id <> id)
);
CREATE INDEX categories_parent_idx ON categories (parent_id);

CREATE TABLE tags (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name       text NOT NULL,
  slug       text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE posts (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  title        text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 255),
  slug         text NOT NULL UNIQUE,
  content      text NOT NULL DEFAULT '',
  excerpt      text NOT NULL DEFAULT '' CHECK (char_length(excerpt) <= 500),
  author_id    bigint NOT NULL REFERENCES users(id),
  status       post_status NOT NULL DEFAULT 'draft',
  published_at timestamptz,
  -- A scheduled publish: a job publishes the post at this time (issue 9).
  scheduled_at timestamptz,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);
-- Listings read only published posts, newest first: partial indexes keep them small.
CREATE INDEX posts_published_idx ON posts (published_at DESC, id DESC) WHERE status = 'published';
CREATE INDEX posts_author_published_idx ON posts (author_id, published_at DESC, id DESC) WHERE status = 'published';
CREATE INDEX posts_author_idx ON posts (author_id);
CREATE INDEX posts_status_updated_idx ON posts (status, updated_at DESC);
-- Partial-match search (Japanese included: the cluster is initdb'd with a UTF-8 C.UTF-8 ctype).
CREATE INDEX posts_search_trgm_idx ON posts
  USING gin ((title || ' ' || excerpt || ' ' || content) gin_trgm_ops) WHERE status = 'published';

CREATE TABLE post_categories (
  post_id     bigint NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
  category_id bigint NOT NULL REFERENCES categories(id) ON DELETE CASCADE,
  PRIMARY KEY (post_id, category_id)
);
CREATE INDEX post_categories_category_idx ON post_categories (category_id, post_id);

CREATE TABLE post_tags (
  post_id bigint NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
  tag_id  bigint NOT NULL REFERENCES tags(id) ON DELETE CASCADE,
  PRIMARY KEY (post_id, tag_id)
);
CREATE INDEX post_tags_tag_idx ON post_tags (tag_id, post_id);

-- Site-wide settings (title, description, …): one row per key, read once per process and
-- refreshed on change, never per render.
CREATE TABLE site_settings (
  key        text PRIMARY KEY,
  value      text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO site_settings (key, value) VALUES
  ('title', 'AIDiary'),
  ('description', 'A diary that scales.'),
  ('posts_per_page', '10');

-- Idempotency keys for API writes (a retried POST returns the first answer).
CREATE TABLE idempotency_keys (
  key         text NOT NULL,
  user_id     bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  request_sig text NOT NULL,
  status_code int NOT NULL,
  response    jsonb NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

-- Down Migration
DROP TABLE IF EXISTS idempotency_keys, site_settings, post_tags, post_categories, posts, tags, categories, users;
DROP TYPE IF EXISTS post_status;
DROP TYPE IF EXISTS user_role;
