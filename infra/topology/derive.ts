import type { AppInstance, DbInstance, DurabilityMode, RedisInstance, Topology } from './model';
import { TopologyError } from './parse';
import { redisUsers } from '../redis-settings';

// Pure derivations used by every consumer (local runner, Docker, Kubernetes, nginx renderer).

export function appInstances(t: Topology): AppInstance[] {
  return Array.from({ length: t.appReplicas }, (_, index) => ({
    name: `app-${index}`,
    index,
    port: t.target === 'local' ? t.ports.appBase + index : t.ports.appBase,
  }));
}

export function dbInstances(t: Topology): DbInstance[] {
  return Array.from({ length: t.dbReplicas + 1 }, (_, index) => ({
    name: `pg-${index}`,
    index,
    port: t.target === 'local' ? t.ports.pgBase + index : 5432,
    initialRole: index === 0 ? 'primary' : 'replica',
    slotName: `pg_${index}`,
  }));
}

export function redisInstances(t: Topology): RedisInstance[] {
  return [
    { name: 'redis-sessions', role: 'sessions', port: t.ports.redisSessions },
    { name: 'redis-cache', role: 'cache', port: t.ports.redisCache },
  ];
}

/** Decided once here and used by every target (invariant 6). */
export function durabilityMode(t: Topology): DurabilityMode {
  if (t.durability === 'auto') return t.dbReplicas >= 2 ? 'sync-quorum' : 'async';
  return t.durability;
}

/**
 * `synchronous_standby_names` for the primary: `ANY 1 (pg_1, pg_2)` in quorum mode, '' when async.
 * Every node is listed (minus the one that is primary) so that after a promotion the new primary
 * gets the same rule over its peers.
 */
export function synchronousStandbyNames(t: Topology, primaryName = 'pg-0'): string {
  if (durabilityMode(t) === 'async') return '';
  const standbys = dbInstances(t).filter((d) => d.name !== primaryName).map((d) => d.slotName);
  return `ANY 1 (${standbys.join(', ')})`;
}

/**
 * One app's pool per DB node: the topology's fixed poolPerApp, whatever the app count, so scaling
 * changes no app's environment. max_connections is sized for it (connectionBudget).
 */
export function poolSizePerApp(t: Topology): number {
  return t.database.poolPerApp;
}

export function appKeepAliveTimeoutMs(t: Topology): number {
  return t.appKeepAliveTimeoutMs;
}

/**
 * The public origin: the topology's siteUrl, else the outermost tier's address (nginx's listener
 * on the local target, the published lbPort elsewhere). Kubernetes has no address to derive a
 * real one from: the stack config requires siteUrl there (infra/stack-config.ts).
 */
export function siteOrigin(t: Topology): string {
  if (t.siteUrl) return t.siteUrl;
  if (t.target !== 'local') return `http://localhost:${t.ports.lb}`;
  return localCdnUrl(t) ?? `http://${t.host}:${t.ports.lb}`;
}

/** The local Varnish tier's origin (`cdn: 'varnish'`), else null. */
export function localCdnUrl(t: Topology): string | null {
  return t.target === 'local' && t.cdn === 'varnish' ? `http://${t.host}:${t.ports.cdn}` : null;
}

/** A CDN tier (local Varnish or a provider) is in front of nginx: nginx passes the CDN headers through. */
export function hasCdnTier(t: Topology): boolean {
  return t.cdn !== 'none';
}

/**
 * Peers in front of nginx whose X-Forwarded-For nginx believes (real_ip): the operator's
 * trustedProxies, plus the local Varnish tier, which connects from the topology's host and
 * overwrites X-Forwarded-For with its client's address. So the login limits and the loopback-only
 * bench header see the client, not Varnish. Locally every peer is on loopback anyway: nginx is
 * bound to it.
 */
export function edgeTrustedProxies(t: Topology): string[] {
  const cdnPeer = localCdnUrl(t) ? [t.host] : [];
  return [...new Set([...t.trustedProxies, ...cdnPeer])];
}

/**
 * Host names nginx serves (any other Host is answered 421): the origin's host, plus on the local
 * and Docker targets the loopback names tests, drills and the bench use (127.0.0.1, localhost).
 */
export function acceptedHostNames(t: Topology): string[] {
  const names = [new URL(siteOrigin(t)).hostname];
  if (t.target !== 'kubernetes') names.push('127.0.0.1', 'localhost');
  return [...new Set(names)];
}

/**
 * Peers whose X-Forwarded-For / X-Forwarded-Proto / X-Request-Id the app believes: the edge
 * only. Locally nginx connects from loopback. On Docker and Kubernetes the app's port is never
 * published: only peers inside the private network (the Docker network, the pod network, which
 * the NetworkPolicies narrow to the edge) reach it, so the private ranges stand for the edge's
 * addresses, which the engine assigns and cannot be listed ahead.
 */
export function trustedEdgeAddresses(t: Topology): string[] {
  return t.target === 'local' ? ['127.0.0.1', '::1'] : ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'];
}

/** Where the app finds its backing services on a given target. */
export interface ServiceAddresses {
  /**
   * Explicit node list (local, Docker): `pg-0@host:port,pg-1@host:port`; the primary is found by
   * role. Mutually exclusive with the two service addresses below.
   */
  dbNodes?: { name: string; host: string; port: number }[];
  /** Kubernetes: CloudNativePG `-rw` / `-ro` services that hide the nodes. */
  dbPrimaryService?: { host: string; port: number };
  dbReadService?: { host: string; port: number };
  redisSessions: { host: string; port: number };
  redisCache: { host: string; port: number };
}

/** Secret values are passed by reference only: a file path (local) or injected by the platform. */
export interface SecretRefs {
  dbPasswordFile?: string;
  sessionSecretFile?: string;
  adminPasswordFile?: string;
  /** The app user's password on each Redis role (the ACL user is redisUsers.app). */
  redisSessionsPasswordFile?: string;
  redisCachePasswordFile?: string;
}

/**
 * The app's environment (non-secret). The env keys are defined here and parsed by app/config.ts;
 * a test checks that what this produces is accepted by that parser.
 */
export function appEnvironment(t: Topology, app: AppInstance, addr: ServiceAddresses, secrets: SecretRefs = {}): Record<string, string> {
  const env: Record<string, string> = {
    NODE_ENV: 'production',
    AIDIARY_APP_NAME: app.name,
    AIDIARY_HOST: t.target === 'local' ? t.host : '0.0.0.0',
    AIDIARY_PORT: String(app.port),
    AIDIARY_DB_NAME: t.database.name,
    AIDIARY_DB_USER: t.database.appUser,
    AIDIARY_DB_POOL_SIZE: String(poolSizePerApp(t)),
    AIDIARY_DB_MAX_LAG_BYTES: String(t.database.maxReplicaLagBytes),
    AIDIARY_DB_MAX_LAG_MS: String(t.database.maxReplicaLagMs),
    AIDIARY_REDIS_SESSIONS_URL: `redis://${addr.redisSessions.host}:${addr.redisSessions.port}`,
    AIDIARY_REDIS_CACHE_URL: `redis://${addr.redisCache.host}:${addr.redisCache.port}`,
    AIDIARY_KEEPALIVE_TIMEOUT_MS: String(appKeepAliveTimeoutMs(t)),
    AIDIARY_DRAIN_MS: String(t.drainMs),
    AIDIARY_TRUSTED_EDGE: trustedEdgeAddresses(t).join(','),
    AIDIARY_SITE_URL: siteOrigin(t),
    AIDIARY_LOGIN_MAX_PER_ADDRESS: String(t.login.maxAttemptsPerAddress),
    AIDIARY_LOGIN_ADDRESS_WINDOW_SECONDS: String(t.login.addressWindowSeconds),
    AIDIARY_LOGIN_BACKOFF_CAP_SECONDS: String(t.login.usernameBackoffCapSeconds),
    AIDIARY_CACHE_L1: t.cache.l1Enabled ? 'on' : 'off',
    AIDIARY_CACHE_L2: t.cache.l2Enabled ? 'on' : 'off',
    AIDIARY_CACHE_L1_MAX_BYTES: String(t.cache.l1MaxBytes),
    AIDIARY_CACHE_L1_TTL_SECONDS: String(t.cache.l1TtlSeconds),
    AIDIARY_CACHE_L2_TTL_SECONDS: String(t.cache.l2TtlSeconds),
    AIDIARY_CACHE_SWR_SECONDS: String(t.cache.staleWhileRevalidateSeconds),
  };
  // The local Varnish tier is purged by the apps (app/cdn/adapter-config.ts); providers in front
  // of a stack get their adapter and credentials from the stack's config instead.
  const varnishUrl = localCdnUrl(t);
  if (varnishUrl) {
    env.AIDIARY_CDN_PROVIDER = 'varnish';
    env.AIDIARY_CDN_VARNISH_URL = varnishUrl;
  }
  if (addr.dbNodes && (addr.dbPrimaryService || addr.dbReadService)) {
    throw new TopologyError('service addresses: give either dbNodes or dbPrimaryService/dbReadService, not both');
  }
  if (addr.dbNodes) {
    env.AIDIARY_DB_NODES = addr.dbNodes.map((n) => `${n.name}@${n.host}:${n.port}`).join(',');
  } else if (addr.dbPrimaryService) {
    env.AIDIARY_DB_PRIMARY_SERVICE = `${addr.dbPrimaryService.host}:${addr.dbPrimaryService.port}`;
    if (addr.dbReadService) env.AIDIARY_DB_READ_SERVICE = `${addr.dbReadService.host}:${addr.dbReadService.port}`;
  } else {
    throw new TopologyError('service addresses: dbNodes or dbPrimaryService is required');
  }
  if (secrets.dbPasswordFile) env.AIDIARY_DB_PASSWORD_FILE = secrets.dbPasswordFile;
  if (secrets.sessionSecretFile) env.AIDIARY_SESSION_SECRET_FILE = secrets.sessionSecretFile;
  if (secrets.adminPasswordFile) env.AIDIARY_ADMIN_PASSWORD_FILE = secrets.adminPasswordFile;
  if (secrets.redisSessionsPasswordFile) {
    env.AIDIARY_REDIS_SESSIONS_USER = redisUsers.app;
    env.AIDIARY_REDIS_SESSIONS_PASSWORD_FILE = secrets.redisSessionsPasswordFile;
  }
  if (secrets.redisCachePasswordFile) {
    env.AIDIARY_REDIS_CACHE_USER = redisUsers.app;
    env.AIDIARY_REDIS_CACHE_PASSWORD_FILE = secrets.redisCachePasswordFile;
  }
  return env;
}
