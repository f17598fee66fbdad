-- Up Migration
-- The home page's pagination needs the number of published posts. Counting them per render was
-- the largest cost of an uncached home page: 4 ms of PostgreSQL CPU at 10,000 posts (index-only
-- scan, growing with the site) against ~2 ms for the rest of the render (aidiary bench,
-- home-uncached). One counter row, kept by statement-level triggers (transition tables, so a bulk
-- seed updates it once per statement, not once per row). Archives (category, tag, author, date)
-- still count their own, much smaller, sets.
CREATE TABLE post_stats (
  singleton       boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  published_count bigint NOT NULL CHECK (published_count >= 0)
);
INSERT INTO post_stats (published_count) SELECT count(*) FROM posts WHERE status = 'published';

CREATE FUNCTION post_stats_after_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE post_stats SET published_count = published_count + d.n
  FROM (SELECT count(*) AS n FROM new_rows WHERE status = 'published') d WHERE d.n <> 0;
  RETURN NULL;
END $$;

CREATE FUNCTION post_stats_after_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE post_stats SET published_count = published_count + d.n
  FROM (SELECT (SELECT count(*) FROM new_rows WHERE status = 'published')
             - (SELECT count(*) FROM old_rows WHERE status = 'published') AS n) d WHERE d.n <> 0;
  RETURN NULL;
END $$;

CREATE FUNCTION post_stats_after_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE post_stats SET published_count = published_count - d.n
  FROM (SELECT count(*) AS n FROM old_rows WHERE status = 'published') d WHERE d.n <> 0;
  RETURN NULL;
END $$;

CREATE FUNCTION post_stats_after_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE post_stats SET published_count = 0;
  RETURN NULL;
END $$;

CREATE TRIGGER post_stats_insert AFTER INSERT ON posts REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION post_stats_after_insert();
CREATE TRIGGER post_stats_update AFTER UPDATE ON posts REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION post_stats_after_update();
CREATE TRIGGER post_stats_delete AFTER DELETE ON posts REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION post_stats_after_delete();
CREATE TRIGGER post_stats_truncate AFTER TRUNCATE ON posts
  FOR EACH STATEMENT EXECUTE FUNCTION post_stats_after_truncate();

-- Down Migration
DROP TRIGGER IF EXISTS post_stats_insert ON posts;
DROP TRIGGER IF EXISTS post_stats_update ON posts;
DROP TRIGGER IF EXISTS post_stats_delete ON posts;
DROP TRIGGER IF EXISTS post_stats_truncate ON posts;
DROP FUNCTION IF EXISTS post_stats_after_insert(), post_stats_after_update(), post_stats_after_delete(), post_stats_after_truncate();
DROP TABLE IF EXISTS post_stats;
