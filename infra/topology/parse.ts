import { z } from 'zod';
import { defaultTopology } from './defaults';
import type { Topology } from './model';

// Validation of a topology. Every error names the key and says how to fix it, e.g.
// "topology.appReplicas: must be at least 1 (got 0); set appReplicas to 1 or more".

const port = z.number().int().min(1).max(65535);
const positiveInt = z.number().int().min(1);

const topologySchema = z.object({
  name: z.string().regex(/^[a-z][a-z0-9-]{0,39}$/, 'must be lower-case letters, digits and "-", starting with a letter'),
  target: z.enum(['local', 'docker', 'kubernetes']),
  host: z.string().min(1),
  appReplicas: z.number().int().min(1, 'must be at least 1').max(64, 'must be at most 64'),
  dbReplicas: z.number().int().min(0, 'must be 0 or more').max(8, 'must be at most 8'),
  durability: z.enum(['auto', 'sync-quorum', 'async']),
  ports: z.object({
    lb: port, appBase: port, pgBase: port, redisSessions: port, redisCache: port, stubStatus: port,
  }),
  database: z.object({
    name: z.string().regex(/^[a-z_][a-z0-9_]*$/, 'must be a plain SQL identifier'),
    appUser: z.string().regex(/^[a-z_][a-z0-9_]*$/, 'must be a plain SQL identifier'),
    maxConnections: z.number().int().min(20).max(10000),
    reservedConnections: z.number().int().min(5),
    maxPoolPerApp: positiveInt,
    maxReplicaLagBytes: z.number().int().min(0),
    maxReplicaLagMs: z.number().int().min(0),
  }),
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

export type TopologyOverrides = {
  [K in keyof Topology]?: Topology[K] extends object ? Partial<Topology[K]> : Topology[K];
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

/** Defaults + overrides, validated. Throws TopologyError naming the first bad key. */
export function parseTopology(overrides: TopologyOverrides = {}, base: Topology = defaultTopology): Topology {
  const result = topologySchema.safeParse(merge(base, overrides));
  if (!result.success) {
    const issue = result.error.issues[0];
    const key = issue.path.join('.');
    const got = issue.path.reduce<unknown>((obj, k) => (obj as Record<string, unknown> | undefined)?.[k as string], merge(base, overrides));
    throw new TopologyError(`topology.${key}: ${issue.message} (got ${JSON.stringify(got)}); set ${key} to a valid value`);
  }
  const topology = result.data as Topology;
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
  if (t.database.reservedConnections >= t.database.maxConnections) {
    throw new TopologyError('topology.database.reservedConnections: must be below maxConnections; lower it');
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
    for (let k = 0; k < t.appReplicas; k++) claim(t.ports.appBase + k, `app-${k} (ports.appBase+${k})`);
    for (let k = 0; k <= t.dbReplicas; k++) claim(t.ports.pgBase + k, `pg-${k} (ports.pgBase+${k})`);
  }
}

