import { runner } from 'node-pg-migrate';
import type { FastifyBaseLogger } from 'fastify';
import { fromRoot } from '../project-root';
import { withMigrationClient } from './migration-client';
import { backfillRenderedPosts } from './backfill-rendered-posts';

// Versioned SQL migrations (app/db/migrations, node-pg-migrate SQL format). node-pg-migrate takes
// a session advisory lock for the run; it uses pg_try_advisory_lock and fails at once when another
// process holds it, so concurrent starters (N app processes, a Kubernetes Job retry) wait and retry
// here instead. A second run finds every migration recorded in `pgmigrations` and does nothing.

export interface MigrationConnection {
  host: string;
  port: number;
  database: string;
  user: string;
  password?: string;
}

/**
 * After a migration or backfill rewrote post rows: VACUUM (ANALYZE) sets the visibility map
 * again, so the listings' index-only scans need no heap fetches (autovacuum would get there
 * later), and refreshes the planner's statistics. Not possible inside the migration's transaction.
 */
async function vacuumPostTables(conn: MigrationConnection): Promise<void> {
  await withMigrationClient(conn, (client) => client.query('VACUUM (ANALYZE) posts, post_categories, post_tags'));
}

export const migrationsDir = () => fromRoot('app', 'db', 'migrations');
const lockBusy = /Another migration is already running/;

export async function runMigrations(
  conn: MigrationConnection,
  logger?: Pick<FastifyBaseLogger, 'info' | 'warn' | 'error'>,
  opts: { lockWaitMs?: number } = {},
): Promise<{ applied: string[] }> {
  const deadline = Date.now() + (opts.lockWaitMs ?? 60_000);
  for (let attempt = 1; ; attempt++) {
    try {
      const applied = await runner({
        databaseUrl: { host: conn.host, port: conn.port, database: conn.database, user: conn.user, password: conn.password },
        dir: migrationsDir(),
        migrationsTable: 'pgmigrations',
        direction: 'up',
        count: Infinity,
        singleTransaction: true,
        checkOrder: true,
        // Its progress lines go to our logger at debug level; we log one summary line below.
        log: () => {},
      });
      const names = applied.map((m) => m.name);
      logger?.info({ applied: names }, names.length ? `migrations applied: ${names.join(', ')}` : 'migrations: up to date');
      // Data the schema now expects and only the app can compute (post bodies rendered at write time).
      const backfilled = await backfillRenderedPosts(conn, logger);
      if (names.length || backfilled) await vacuumPostTables(conn);
      return { applied: names };
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (lockBusy.test(message) && Date.now() < deadline) {
        logger?.warn({ attempt }, 'migrations: another process holds the migration lock; waiting');
        await new Promise((r) => setTimeout(r, Math.min(2000, 100 * attempt)));
        continue;
      }
      throw new Error(`migrations failed on ${conn.host}:${conn.port}/${conn.database}: ${message}`, { cause: err });
    }
  }
}
