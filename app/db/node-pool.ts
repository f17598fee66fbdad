import pg from 'pg';
import type { FastifyBaseLogger } from 'fastify';
import type { AppConfig, HostPort } from '../config';

// One pg.Pool per database node (or per service address in Kubernetes). The pool is the unit the
// router picks; its counters give "least busy".

export interface NodeTarget extends HostPort {
  name: string;
}

export interface NodePool {
  target: NodeTarget;
  pool: pg.Pool;
  /** Clients checked out plus callers waiting for one. */
  busy(): number;
  /** Idle clients are dropped when a node dies, so a restart does not reuse dead sockets. */
  close(): Promise<void>;
}

export type PoolSettings = Pick<AppConfig, 'appName' | 'dbName' | 'dbUser' | 'dbPassword' | 'dbPoolSize'>;

export interface PoolOptions {
  max?: number;
  connectionTimeoutMs?: number;
  /** Server-side statement timeout for every query on this pool (0 = none). */
  statementTimeoutMs?: number;
  purpose?: string;
}

export function createNodePool(target: NodeTarget, config: PoolSettings, logger: FastifyBaseLogger, opts: PoolOptions = {}): NodePool {
  const pool = new pg.Pool({
    host: target.host,
    port: target.port,
    database: config.dbName,
    user: config.dbUser,
    password: config.dbPassword,
    max: opts.max ?? config.dbPoolSize,
    // A dead node must fail fast so the read can move to another one.
    connectionTimeoutMillis: opts.connectionTimeoutMs ?? 2000,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
    application_name: `aidiary-${config.appName}${opts.purpose ? `-${opts.purpose}` : ''}`,
    ...(opts.statementTimeoutMs ? { statement_timeout: opts.statementTimeoutMs, query_timeout: opts.statementTimeoutMs + 500 } : {}),
  });
  // An idle client whose server went away emits 'error' on the pool; without a listener it crashes the process.
  pool.on('error', (err) => logger.warn({ err, node: target.name }, 'db pool: idle client error'));
  // pg-pool drops its own listener while a client is checked out; a server dying then (failover)
  // would emit an unhandled 'error' and crash the process. The failure reaches the caller through
  // the rejected query instead.
  pool.on('connect', (client) => { client.on('error', () => {}); });
  return {
    target,
    pool,
    busy: () => pool.totalCount - pool.idleCount + pool.waitingCount,
    close: () => pool.end(),
  };
}
