-- Up Migration
-- Admin UI (issue 9): a user can be disabled instead of deleted (their posts keep their author).
-- Expand only: the previous release ignores the column.

ALTER TABLE users ADD COLUMN disabled_at timestamptz;

-- Down Migration
ALTER TABLE users DROP COLUMN IF EXISTS disabled_at;
