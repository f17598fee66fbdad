-- Up Migration
-- Post bodies rendered at write time (app/content/rendered-post.ts): the sanitized HTML and the
-- plain text excerpts are cut from, with the renderer version that made them. NULL (rows from
-- before this migration until the backfill, which `aidiary migrate` runs after the migrations,
-- has reached them): readers render from the Markdown per request, as before.
ALTER TABLE posts
  ADD COLUMN content_html text,
  ADD COLUMN content_text text,
  ADD COLUMN rendered_version smallint;

-- A write that changes the Markdown but not its rendering (an app from before this migration
-- during a rolling release, a hand-made UPDATE) drops the stored rendering, so no page can show
-- a body that is not the post's. The app's own writes set all of them in the same statement.
CREATE FUNCTION posts_drop_stale_rendering() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.content IS DISTINCT FROM OLD.content
     AND NEW.content_html IS NOT DISTINCT FROM OLD.content_html
     AND NEW.content_text IS NOT DISTINCT FROM OLD.content_text THEN
    NEW.content_html := NULL;
    NEW.content_text := NULL;
    NEW.rendered_version := NULL;
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER posts_drop_stale_rendering BEFORE UPDATE OF content ON posts
  FOR EACH ROW EXECUTE FUNCTION posts_drop_stale_rendering();

-- Down Migration
DROP TRIGGER posts_drop_stale_rendering ON posts;
DROP FUNCTION posts_drop_stale_rendering();
ALTER TABLE posts DROP COLUMN content_html, DROP COLUMN content_text, DROP COLUMN rendered_version;
