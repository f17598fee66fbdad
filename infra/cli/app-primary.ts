import pg from 'pg';
import type { AppConfig } from '../../app/config';
import { isConnectionError } from '../../app/db/pg-errors';

// The PostgreSQL primary as the app is configured to find it, for the one-shot commands that write
// (`migrate`, `admin …`): with AIDIARY_DB_NODES the node that is not in recovery, with
// AIDIARY_DB_PRIMARY_SERVICE the `-rw` service. Every failure becomes ONE line naming the address,
// the cause and the variable to check, because these commands run as Kubernetes Jobs and Docker
// one-shots whose only output an operator sees is a log line.

type Env = Record<string, string | undefined>;

export interface PrimaryAddress {
  /** Node name (pg-0…) or the service's host. */
  name: string;
  host: string;
  port: number;
}

/** A failure to use the database; `transient` ones (unreachable, starting up, no primary yet) may pass with time. */
export class DbConnectError extends Error {
  constructor(message: string, readonly transient: boolean) {
    super(message);
    this.name = 'DbConnectError';
  }
}

const addressVariable = (config: AppConfig) => (config.dbPrimaryService ? 'AIDIARY_DB_PRIMARY_SERVICE' : 'AIDIARY_DB_NODES');
const passwordVariable = (env: Env) => (env.AIDIARY_DB_PASSWORD_FILE ? 'AIDIARY_DB_PASSWORD_FILE' : 'AIDIARY_DB_PASSWORD');

/** One line for a failed connection or login at `where` (host:port). */
export function describeDbError(err: unknown, where: string, config: AppConfig, env: Env): DbConnectError {
  const e = err as { code?: string; message?: string };
  const message = (e?.message ?? String(err)).replace(/\s+/g, ' ').trim();
  if (e?.code === '28P01' || e?.code === '28000') {
    return new DbConnectError(`PostgreSQL at ${where} refused user "${config.dbUser}" (${message}); check AIDIARY_DB_USER and ${passwordVariable(env)}`, false);
  }
  if (e?.code === '3D000') return new DbConnectError(`database "${config.dbName}" does not exist on ${where}; check AIDIARY_DB_NAME`, false);
  if (e?.code === '57P03') return new DbConnectError(`PostgreSQL at ${where} is not accepting connections yet (${message}); retry, or pass --wait SECONDS`, true);
  // The app's own test of "node or connection gone" (pg's connect timeout has no code, only a message).
  if (isConnectionError(err)) {
    return new DbConnectError(`cannot reach PostgreSQL at ${where} (${message}); check ${addressVariable(config)} and that the database is running`, true);
  }
  return new DbConnectError(`PostgreSQL at ${where}: ${message}`, false);
}

async function connect(config: AppConfig, env: Env, host: string, port: number): Promise<pg.Client> {
  const client = new pg.Client({
    host, port, user: config.dbUser, password: config.dbPassword, database: config.dbName, connectionTimeoutMillis: 5000,
  });
  client.on('error', () => { /* a dropped connection surfaces on the next query */ });
  try {
    await client.connect();
    return client;
  } catch (err) {
    await client.end().catch(() => {});
    throw describeDbError(err, `${host}:${port}`, config, env);
  }
}

/** The primary's address: the first listed node that is not in recovery, or the primary service. */
async function findPrimaryOnce(config: AppConfig, env: Env): Promise<PrimaryAddress> {
  if (config.dbPrimaryService) {
    const { host, port } = config.dbPrimaryService;
    const client = await connect(config, env, host, port);
    await client.end().catch(() => {});
    return { name: host, host, port };
  }
  const nodes = config.dbNodes ?? [];
  const problems: Array<{ node: string; err: DbConnectError }> = [];
  for (const node of nodes) {
    const where = `${node.host}:${node.port}`;
    let client: pg.Client;
    try {
      client = await connect(config, env, node.host, node.port);
    } catch (err) {
      problems.push({ node: node.name, err: err as DbConnectError });
      continue;
    }
    try {
      const { rows } = await client.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
      if (!rows[0].r) return { name: node.name, host: node.host, port: node.port };
      problems.push({ node: node.name, err: new DbConnectError(`${where} is a replica (in recovery)`, true) });
    } catch (err) {
      problems.push({ node: node.name, err: describeDbError(err, where, config, env) });
    } finally {
      await client.end().catch(() => {});
    }
  }
  if (problems.length === 1) throw problems[0].err;
  // A refused login or a missing database is the same on every node: name it once.
  const fatal = problems.find((p) => !p.err.transient);
  if (fatal) throw fatal.err;
  const each = problems.map((p) => `${p.node}: ${p.err.message.replace(/; check .*$/, '')}`).join('; ');
  throw new DbConnectError(`no PostgreSQL primary among AIDIARY_DB_NODES (${each}); check AIDIARY_DB_NODES and that the primary is running`, true);
}

/**
 * Finds the primary; with `waitMs` > 0, retries transient failures (database still starting, a
 * failover in progress) until then, so a deploy step can start together with the database.
 */
export async function findPrimary(config: AppConfig, env: Env, opts: { waitMs?: number; onRetry?: (reason: string) => void } = {}): Promise<PrimaryAddress> {
  const deadline = Date.now() + (opts.waitMs ?? 0);
  let announced = false;
  for (;;) {
    try {
      return await findPrimaryOnce(config, env);
    } catch (err) {
      if (!(err instanceof DbConnectError) || !err.transient || Date.now() >= deadline) throw err;
      if (!announced) opts.onRetry?.(err.message);
      announced = true;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

/** A connected client on the primary (the caller ends it). */
export function connectPrimary(config: AppConfig, env: Env, primary: PrimaryAddress): Promise<pg.Client> {
  return connect(config, env, primary.host, primary.port);
}
