import { isIP } from 'node:net';
import { z } from 'zod';
import { connectionBudget, MAX_DB_REPLICAS } from './connection-budget';
import { defaultTopology } from './defaults';
import type { DatabaseConfig, Topology } from './model';

// Validation of a topology. Every error names the key and says how to fix it, e.g.
// "topology.appReplicas: must be at least 1 (got 0); set appReplicas to 1 or more".

const port = z.number().int().min(1).max(65535);
const positiveInt = z.number().int().min(1);

/** An IPv4/IPv6 address or CIDR (what nginx's set_real_ip_from and the app's trust list take). */
export function isCidr(value: string): boolean {
  const [addr, bits, ...rest] = value.split('/');
  const family = isIP(addr);
  if (!family || rest.length > 0) return false;
  if (bits === undefined) return true;
  if (!/^\d{1,3}$/.test(bits)) return false;
  return Number(bits) <= (family === 4 ? 32 : 128);
}

const topologySchema = z.object({
  name: z.string().regex(/^[a-z][a-z0-9-]{0,39}$/, 'must be lower-case letters, digits and "-", starting with a letter'),
  target: z.enum(['local', 'docker', 'kubernetes']),
  host: z.string().min(1),
  siteUrl: z.string().refine((v) => v === '' || /^https?:\/\/[a-z0-9.-]+(:\d{1,5})?$/.test(v), 'must be scheme://host[:port] in lower case, no path (e.g. https://blog.example.com)'),
  trustedProxies: z.array(z.string().refine(isCidr, 'must be an IP address or CIDR (e.g. 10.0.0.0/8)')).max(64),
  cdn: z.enum(['none', 'varnish', 'cloudflare', 'fastly', 'cloudfront']),
  login: z.object({
    maxAttemptsPerAddress: positiveInt,
    addressWindowSeconds: positiveInt,
    usernameBackoffCapSeconds: z.number().int().min(1).max(3600),
    edgeRatePerSecond: positiveInt,
    edgeBurst: z.number().int().min(0),
  }).strict(),
  appReplicas: z.number().int().min(1, 'must be at least 1').max(64, 'must be at most 64'),
  dbReplicas: z.number().int().min(0, 'must be 0 or more').max(MAX_DB_REPLICAS, `must be at most ${MAX_DB_REPLICAS}`),
  durability: z.enum(['auto', 'sync-quorum', 'async']),
  ports: z.object({
    lb: port, appBase: port, pgBase: port, redisSessions: port, redisCache: port, stubStatus: port, cdn: port,
  }),
  database: z.object({
    name: z.string().regex(/^[a-z_][a-z0-9_]*$/, 'must be a plain SQL identifier'),
    appUser: z.string().regex(/^[a-z_][a-z0-9_]*$/, 'must be a plain SQL identifier'),
    poolPerApp: z.number().int().min(2, 'must be at least 2').max(200),
    maxAppReplicas: z.number().int().min(1, 'must be at least 1').max(64, 'must be at most 64'),
    reservedConnections: z.number().int().min(5),
    maxSlotWalKeepSizeMb: z.number().int().min(64, 'must be at least 64 (MB)'),
    maxReplicaLagBytes: z.number().int().min(0),
    maxReplicaLagMs: z.number().int().min(0),
  }).strict(),
  cache: z.object({
    l1Enabled: z.boolean(), l2Enabled: z.boolean(), edgeEnabled: z.boolean(),
    l1MaxBytes: z.number().int().min(1024 * 1024, 'must be at least 1 MiB'),
    l1TtlSeconds: positiveInt, l2TtlSeconds: positiveInt, edgeTtlSeconds: positiveInt,
    staleWhileRevalidateSeconds: z.number().int().min(0),
  }),
  nginx: z.object({
    workerConnections: z.number().int().min(64),
    keepaliveTimeoutSeconds: positiveInt,
    upstreamKeepalive: positiveInt,
    upstreamKeepaliveTimeoutSeconds: positiveInt,
    proxyConnectTimeoutMs: positiveInt,
    proxyReadTimeoutSeconds: positiveInt,
    proxyNextUpstreamTries: z.number().int().min(1).max(10),
    maxFails: positiveInt,
    failTimeoutSeconds: positiveInt,
    gzip: z.boolean(),
    tcpNopush: z.boolean(),
    clientMaxBodySize: z.string().regex(/^\d+[kmg]?$/i, 'must look like 12m'),
  }),
  appKeepAliveTimeoutMs: z.number().int().min(1000).max(600_000),
  drainMs: z.number().int().min(0).max(60000),
}).strict();

/** What a caller may set: any key but the derived max_connections. */
export type TopologyOverrides = {
  [K in keyof Topology]?: K extends 'database'
    ? Partial<Omit<DatabaseConfig, 'maxConnections'>>
    : Topology[K] extends unknown[] ? Topology[K] : Topology[K] extends object ? Partial<Topology[K]> : Topology[K];
};

export class TopologyError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TopologyError';
  }
}

function merge(base: Topology, overrides: TopologyOverrides): unknown {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    const current = (base as unknown as Record<string, unknown>)[key];
    out[key] = current && typeof current === 'object' && value && typeof value === 'object' && !Array.isArray(value)
      ? { ...current, ...value }
      : value;
  }
  return out;
}

/**
 * A base topology (e.g. the one a local cluster recorded in its state file) brought to the current
 * model: keys the model no longer has are dropped, new ones take their defaults, and the derived
 * max_connections is left for parseTopology to compute.
 */
function currentShape(base: Topology): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, fallback] of Object.entries(defaultTopology)) {
    const value = (base as unknown as Record<string, unknown>)[key];
    if (Array.isArray(fallback)) {
      out[key] = Array.isArray(value) ? value : fallback;
    } else if (fallback && typeof fallback === 'object') {
      const given = value && typeof value === 'object' ? value as Record<string, unknown> : {};
      out[key] = Object.fromEntries(Object.entries(fallback).map(([k, v]) => [k, k in given ? given[k] : v]));
    } else {
      out[key] = value === undefined ? fallback : value;
    }
  }
  delete (out.database as Record<string, unknown>).maxConnections;
  return out;
}

/** Defaults + overrides, validated. Throws TopologyError naming the first bad key. */
export function parseTopology(overrides: TopologyOverrides = {}, base: Topology = defaultTopology): Topology {
  const merged = merge(currentShape(base) as unknown as Topology, overrides as TopologyOverrides);
  const result = topologySchema.safeParse(merged);
  if (!result.success) {
    const issue = result.error.issues[0];
    const key = issue.path.join('.');
    const got = issue.path.reduce<unknown>((obj, k) => (obj as Record<string, unknown> | undefined)?.[k as string], merged);
    throw new TopologyError(`topology.${key}: ${issue.message} (got ${JSON.stringify(got)}); set ${key} to a valid value`);
  }
  const parsed = result.data;
  const topology: Topology = {
    ...parsed,
    database: { ...parsed.database, maxConnections: connectionBudget(parsed.target, parsed.database).total },
  };
  checkCrossFieldRules(topology);
  return topology;
}

function checkCrossFieldRules(t: Topology): void {
  if (t.nginx.upstreamKeepaliveTimeoutSeconds * 1000 >= t.appKeepAliveTimeoutMs) {
    throw new TopologyError(`topology.nginx.upstreamKeepaliveTimeoutSeconds: must be shorter than the app keep-alive timeout (appKeepAliveTimeoutMs ${t.appKeepAliveTimeoutMs}); lower it or raise appKeepAliveTimeoutMs`);
  }
  if (t.durability === 'sync-quorum' && t.dbReplicas < 1) {
    throw new TopologyError('topology.durability: sync-quorum needs dbReplicas >= 1; set durability to "auto" or add replicas');
  }
  if (t.appReplicas > t.database.maxAppReplicas) {
    const budget = connectionBudget(t.target, t.database);
    throw new TopologyError(
      `topology.appReplicas: ${t.appReplicas} is above the ${t.database.maxAppReplicas} apps the connection budget allows `
      + `(max_connections ${t.database.maxConnections} = (${t.database.maxAppReplicas} apps + a release's surge of ${budget.surge}) × ${budget.perApp} connections each `
      + `+ ${budget.migration} migration + ${budget.reserved} reserved + ${budget.walSenders} walsenders); `
      + `set appReplicas to ${t.database.maxAppReplicas} or less`
      + (t.target === 'local' ? '' : ', or raise maxAppReplicas (`pulumi config set maxAppReplicas <n>`; max_connections grows with it and every PostgreSQL node restarts once)'),
    );
  }
  if (t.target === 'local') {
    const used = new Map<number, string>();
    const claim = (p: number, what: string) => {
      const other = used.get(p);
      if (other) throw new TopologyError(`topology.ports: ${what} and ${other} both use port ${p}; move one of them`);
      used.set(p, what);
    };
    claim(t.ports.lb, 'ports.lb');
    claim(t.ports.stubStatus, 'ports.stubStatus');
    claim(t.ports.redisSessions, 'ports.redisSessions');
    claim(t.ports.redisCache, 'ports.redisCache');
    if (t.cdn === 'varnish') claim(t.ports.cdn, 'ports.cdn');
    for (let k = 0; k < t.appReplicas; k++) claim(t.ports.appBase + k, `app-${k} (ports.appBase+${k})`);
    for (let k = 0; k <= t.dbReplicas; k++) claim(t.ports.pgBase + k, `pg-${k} (ports.pgBase+${k})`);
  }
}

