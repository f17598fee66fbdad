import pg from 'pg';
import { parseArgs } from 'node:util';
import { loadConfig, type AppConfig, type HostPort } from '../../../app/config';
import { migrateAppDatabase } from '../../local/app-database';
import { progress } from '../output';

// `aidiary migrate`: runs the migrations on the primary, configured like the app (env via
// loadConfig). Containers run it before the app starts.

async function findPrimary(config: AppConfig): Promise<HostPort> {
  if (config.dbPrimaryService) return config.dbPrimaryService;
  for (const node of config.dbNodes ?? []) {
    const client = new pg.Client({ host: node.host, port: node.port, user: config.dbUser, password: config.dbPassword, database: config.dbName, connectionTimeoutMillis: 3000 });
    client.on('error', () => { /* surfaced by the query below */ });
    try {
      await client.connect();
      const { rows } = await client.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
      if (!rows[0].r) return node;
    } catch {
      /* node down: try the next */
    } finally {
      await client.end().catch(() => {});
    }
  }
  throw new Error('migrate: no reachable primary among AIDIARY_DB_NODES');
}

export async function migrateCommand(argv: string[]): Promise<number> {
  parseArgs({ args: argv, options: {}, strict: true });
  const config = loadConfig(process.env);
  const primary = await findPrimary(config);
  progress(`migrating ${config.dbName} on ${primary.host}:${primary.port}…`);
  const { applied } = await migrateAppDatabase({ ...primary, user: config.dbUser, password: config.dbPassword, database: config.dbName });
  progress(applied.length ? `applied ${applied.join(', ')}` : 'migrations: up to date');
  return 0;
}
