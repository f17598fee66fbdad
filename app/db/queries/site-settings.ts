import type { FastifyBaseLogger } from 'fastify';
import { compareLsn, type Db, type Queryable } from '../db';

// Site title/description/posts-per-page: loaded once per process and refreshed when they change,
// never queried per render. A cheap version probe (an md5 over the few rows) runs every
// refreshIntervalMs in the background, so a change made through any replica reaches every
// process within about that interval; refresh() reloads at once (after a local settings write).
// A page-cache fill must not re-cache a page with settings older than the purge it follows, so
// atLeast(lsn) reloads first when the copy in memory was read before that LSN (invariant 4).

export interface SiteSettings {
  title: string;
  description: string;
  postsPerPage: number;
  /** The public origin (configuration, AIDIARY_SITE_URL; never a setting): absolute links. */
  origin: string;
  /** Every key, for themes. */
  all: Record<string, string>;
}

// A digest of every key and value: catches any change, even one that forgot to bump updated_at.
const versionExpression = "SELECT coalesce(md5(string_agg(key || '=' || value, E'\\n' ORDER BY key)), '') FROM site_settings";

const defaults: Omit<SiteSettings, 'origin'> = { title: 'AIDiary', description: '', postsPerPage: 10, all: {} };

async function loadAll(q: Queryable, origin: string): Promise<{ settings: SiteSettings; version: string }> {
  const res = await q.query<{ key: string; value: string; version: string }>({
    name: 'site_settings_all',
    text: `SELECT key, value, (${versionExpression}) AS version FROM site_settings`,
  });
  const all: Record<string, string> = {};
  for (const r of res.rows) all[r.key] = r.value;
  const perPage = Number(all.posts_per_page);
  return {
    settings: {
      title: all.title || defaults.title,
      description: all.description ?? defaults.description,
      postsPerPage: Number.isInteger(perPage) && perPage >= 1 && perPage <= 100 ? perPage : defaults.postsPerPage,
      origin,
      all,
    },
    version: res.rows[0]?.version ?? '',
  };
}

export class SiteSettingsStore {
  private current: SiteSettings;
  private version: string | null = null;
  /** Replay LSN of the node the current copy was read from (null: unknown, e.g. defaults). */
  private loadedAtLsn: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private inflight: Promise<void> | null = null;

  constructor(private readonly db: Db, private readonly logger: FastifyBaseLogger, private readonly origin = 'http://localhost', private readonly refreshIntervalMs = 1000) {
    this.current = { ...defaults, origin };
  }

  get(): SiteSettings {
    return this.current;
  }

  /** Loads now; later calls reuse a running load. Never throws (keeps the last good settings). */
  refresh(minLsn: string | null = null): Promise<void> {
    this.inflight ??= (async () => {
      try {
        // trackLsn false: `lsn` is then a lower bound of what the read saw (the node's replay LSN
        // before it, or minLsn), which is what atLeast() must compare against.
        const { value, lsn } = await this.db.read({ minLsn, trackLsn: false }, (q) => loadAll(q, this.origin));
        this.current = value.settings;
        this.version = value.version;
        this.loadedAtLsn = lsn ?? minLsn;
      } catch (err) {
        this.logger.warn({ err }, 'site settings: load failed; keeping the previous values');
      } finally {
        this.inflight = null;
      }
    })();
    return this.inflight;
  }

  /** The settings as of at least `minLsn` (a reload from a node that has replayed it when needed). */
  async atLeast(minLsn: string | null | undefined): Promise<SiteSettings> {
    if (!minLsn) return this.current;
    if (this.loadedAtLsn === null || compareLsn(this.loadedAtLsn, minLsn) < 0) {
      await this.inflight; // a load already running may have started before minLsn
      if (this.loadedAtLsn === null || compareLsn(this.loadedAtLsn, minLsn) < 0) await this.refresh(minLsn);
    }
    return this.current;
  }

  private async probe(): Promise<void> {
    try {
      const { value } = await this.db.read({}, (q) => q.query<{ version: string }>({
        name: 'site_settings_version',
        text: `SELECT (${versionExpression}) AS version`,
      }));
      if (value.rows[0]?.version !== this.version) await this.refresh();
    } catch (err) {
      this.logger.debug({ err }, 'site settings: version probe failed');
    }
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.probe(), this.refreshIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

/** Admin settings form: writes every given key (inside the caller's write transaction). */
export async function saveSiteSettings(q: Queryable, entries: Record<string, string>): Promise<void> {
  const keys = Object.keys(entries);
  await q.query({
    name: 'site_settings_save',
    text: `INSERT INTO site_settings (key, value, updated_at) SELECT k, v, now() FROM unnest($1::text[], $2::text[]) AS s(k, v)
           ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()`,
    values: [keys, keys.map((k) => entries[k])],
  });
}
