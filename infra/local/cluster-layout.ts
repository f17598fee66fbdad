import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  appInstances, dbInstances, parseTopology, redisInstances, type AppInstance, type DbInstance, type Topology, type TopologyOverrides,
} from '../topology';
import type { PgNode } from './postgres';
import type { RedisNode } from './redis';
import type { StateDir } from './state';

// Where every node of a topology lives on this machine: ports from the topology, files under the
// state dir (PostgreSQL's under its recorded home, infra/local/state.ts). Pure mapping, no side effects.

export interface LocalPortChoice {
  /** LB port (--port). */
  port?: number;
  /**
   * First of a block of ports for everything else (--base-port): stub_status B+1, redis B+2/B+3,
   * Varnish (--cdn varnish) B+4, pg-K B+10+K, app-K B+20+K. Without it the topology defaults apply (DESIGN.md §3).
   */
  basePort?: number;
}

/** The CDN tiers the local cluster can run itself (`up --cdn`). */
export type LocalCdn = 'none' | 'varnish';

/** Ports needed by a --base-port block: 20 fixed slots plus up to 64 apps. */
export const BASE_PORT_SPAN = 20 + 64;

export function localTopology(opts: { apps?: number; dbReplicas?: number; cdn?: LocalCdn } & LocalPortChoice, base?: Topology): Topology {
  const overrides: TopologyOverrides = { target: 'local' };
  if (opts.cdn !== undefined) overrides.cdn = opts.cdn;
  if (opts.apps !== undefined) overrides.appReplicas = opts.apps;
  if (opts.dbReplicas !== undefined) overrides.dbReplicas = opts.dbReplicas;
  if (opts.basePort !== undefined) {
    const b = opts.basePort;
    overrides.ports = { lb: opts.port ?? b, stubStatus: b + 1, redisSessions: b + 2, redisCache: b + 3, cdn: b + 4, pgBase: b + 10, appBase: b + 20 };
  } else if (opts.port !== undefined) {
    overrides.ports = { lb: opts.port };
  }
  return base ? parseTopology(overrides, base) : parseTopology(overrides);
}

export function pgNode(state: StateDir, t: Topology, db: DbInstance): PgNode {
  return {
    name: db.name,
    host: t.host,
    port: db.port,
    dataDir: state.pgDataDir(db.name),
    socketDir: state.pgSocketDir(db.name),
    logFile: state.pgLogFile(db.name),
  };
}

export function pgNodes(state: StateDir, t: Topology): { db: DbInstance; node: PgNode }[] {
  return dbInstances(t).map((db) => ({ db, node: pgNode(state, t, db) }));
}

export function redisNodes(state: StateDir, t: Topology): RedisNode[] {
  return redisInstances(t).map((r) => ({
    name: r.name, role: r.role, host: t.host, port: r.port, dataDir: state.redisDir(r.name), logFile: state.logFile(r.name),
    aclFile: state.redisAclFile(r.role), healthcheckPasswordFile: state.redisPasswordFile('healthcheck'),
  }));
}

export function appNodes(t: Topology): AppInstance[] {
  return appInstances(t);
}

/** A data dir without standby.signal belongs to a primary (the live role after any failover). */
export function isPrimaryDataDir(node: PgNode): boolean {
  return existsSync(join(node.dataDir, 'PG_VERSION')) && !existsSync(join(node.dataDir, 'standby.signal'));
}

export function hasData(node: PgNode): boolean {
  return existsSync(join(node.dataDir, 'PG_VERSION'));
}

/** Every port the topology binds, with what binds it (for preflight messages). */
export function topologyPorts(t: Topology): { port: number; what: string }[] {
  return [
    { port: t.ports.lb, what: 'nginx load balancer' },
    { port: t.ports.stubStatus, what: 'nginx stub_status' },
    ...(t.cdn === 'varnish' ? [{ port: t.ports.cdn, what: 'varnish (--cdn varnish)' }] : []),
    ...redisInstances(t).map((r) => ({ port: r.port, what: r.name })),
    ...dbInstances(t).map((d) => ({ port: d.port, what: d.name })),
    ...appInstances(t).map((a) => ({ port: a.port, what: a.name })),
  ];
}
