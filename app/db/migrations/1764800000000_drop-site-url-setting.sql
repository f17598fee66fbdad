-- Up Migration
-- The public origin is configuration (the topology's siteUrl, AIDIARY_SITE_URL), not a setting:
-- no screen could set `site_url`, so feeds fell back to the request's Host. Drop any stored row.
DELETE FROM site_settings WHERE key = 'site_url';

-- Down Migration
-- Nothing to restore: the setting had no writer.
SELECT 1;
