// The typed topology: the single source of truth for every target (local processes, Docker,
// Kubernetes) and for the nginx config. Pure data; no @pulumi imports anywhere in this folder.

export type Target = 'local' | 'docker' | 'kubernetes';

/** `auto` = quorum sync (ANY 1) with 2+ replicas, async otherwise. */
export type DurabilitySetting = 'auto' | 'sync-quorum' | 'async';
export type DurabilityMode = 'sync-quorum' | 'async';

export type RedisRole = 'sessions' | 'cache';

/**
 * The CDN-style tier in front of nginx: none, Varnish (on the local target the cluster runs it
 * itself, `up --cdn varnish`; in front of a stack the operator does), or a provider the operator
 * puts in front of a stack. Any of them makes nginx pass the CDN headers (Surrogate-Key,
 * Surrogate-Control, …) instead of stripping them.
 */
export type CdnKind = 'none' | 'varnish' | 'cloudflare' | 'fastly' | 'cloudfront';

export interface PortsConfig {
  /** nginx load balancer (public). */
  lb: number;
  /** app-K listens on appBase + K. */
  appBase: number;
  /** pg-K listens on pgBase + K (local target; containers use 5432). */
  pgBase: number;
  redisSessions: number;
  redisCache: number;
  /** nginx stub_status, bound to loopback only. */
  stubStatus: number;
  /** The local Varnish tier (`cdn: 'varnish'`): the public port in front of nginx. */
  cdn: number;
}

export interface DatabaseConfig {
  name: string;
  appUser: string;
  /**
   * Each app's pool per DB node. Fixed, never derived from the app count: scaling changes no
   * app's environment, so it adds or removes only the affected instances.
   */
  poolPerApp: number;
  /**
   * The largest appReplicas this cluster accepts: max_connections is sized for it plus a
   * release's surge (infra/topology/connection-budget.ts); a larger count is refused.
   */
  maxAppReplicas: number;
  /** Connections kept free for superusers and operators. */
  reservedConnections: number;
  /**
   * PostgreSQL max_connections on every node. Derived by parseTopology from maxAppReplicas,
   * poolPerApp and the reserve (connectionBudget); not an input.
   */
  maxConnections: number;
  /**
   * max_slot_wal_keep_size: WAL a replication slot may hold back on a node. A replica that falls
   * further behind loses its slot (and must be re-cloned) instead of filling the primary's disk.
   */
  maxSlotWalKeepSizeMb: number;
  /** A replica lagging beyond either bound is skipped for reads. */
  maxReplicaLagBytes: number;
  maxReplicaLagMs: number;
}

export interface CacheConfig {
  l1Enabled: boolean;
  l2Enabled: boolean;
  edgeEnabled: boolean;
  l1MaxBytes: number;
  l1TtlSeconds: number;
  l2TtlSeconds: number;
  edgeTtlSeconds: number;
  staleWhileRevalidateSeconds: number;
}

export interface NginxTuning {
  workerConnections: number;
  /** Client-side keep-alive. */
  keepaliveTimeoutSeconds: number;
  /** Idle upstream connections kept per worker. */
  upstreamKeepalive: number;
  /** Must stay below the app's keep-alive timeout (invariant 1). */
  upstreamKeepaliveTimeoutSeconds: number;
  proxyConnectTimeoutMs: number;
  proxyReadTimeoutSeconds: number;
  proxyNextUpstreamTries: number;
  maxFails: number;
  failTimeoutSeconds: number;
  gzip: boolean;
  /** Measured, not copied: see DESIGN.md §4 (tcp_nopush stalled keep-alive responses). */
  tcpNopush: boolean;
  clientMaxBodySize: string;
}

/** Login throttling: the app's limits (shared in Redis by every app) and the edge's request rate. */
export interface LoginLimits {
  /** Attempts one client address may make per window, any username (password spraying). */
  maxAttemptsPerAddress: number;
  addressWindowSeconds: number;
  /** After k failures a username waits 2^k seconds, at most this long; a success resets it. */
  usernameBackoffCapSeconds: number;
  /** nginx `limit_req` on the login endpoints (POST), per client address. */
  edgeRatePerSecond: number;
  edgeBurst: number;
}

export interface Topology {
  /** Stack or cluster name; prefixes resource names. */
  name: string;
  target: Target;
  /** Address processes bind to on the local target. */
  host: string;
  /**
   * The public origin (scheme://host[:port], no path): feeds, the sitemap, canonical links and
   * redirects use it, and nginx answers 421 to any other Host. Empty: derived from the outermost
   * tier (siteOrigin in derive.ts); required on Kubernetes.
   */
  siteUrl: string;
  /**
   * CIDRs of proxies in front of nginx (an operator's load balancer or CDN) whose
   * X-Forwarded-For nginx believes. Empty (the default): the TCP peer is the client.
   */
  trustedProxies: string[];
  /** The CDN tier in front of nginx (see CdnKind); 'none' by default. */
  cdn: CdnKind;
  login: LoginLimits;
  appReplicas: number;
  dbReplicas: number;
  durability: DurabilitySetting;
  ports: PortsConfig;
  database: DatabaseConfig;
  cache: CacheConfig;
  nginx: NginxTuning;
  /** The app's HTTP keep-alive; must outlive nginx's upstream keep-alive (invariant 1). */
  appKeepAliveTimeoutMs: number;
  /** App drains this long after SIGTERM before it stops accepting (readiness goes false first). */
  drainMs: number;
}

export interface AppInstance {
  name: string; // app-K
  index: number;
  port: number;
}

export interface DbInstance {
  name: string; // pg-K
  index: number;
  port: number;
  /** Role at creation; the live role is found with pg_is_in_recovery(). */
  initialRole: 'primary' | 'replica';
  /** application_name and replication slot name (pg_K: slots allow no '-'). */
  slotName: string;
}

export interface RedisInstance {
  name: string; // redis-sessions | redis-cache
  role: RedisRole;
  port: number;
}
