import { connectionBudget } from './connection-budget';
import type { DatabaseConfig, Topology } from './model';

const database: Omit<DatabaseConfig, 'maxConnections'> = {
  name: 'aidiary',
  appUser: 'aidiary',
  poolPerApp: 20,
  maxAppReplicas: 16,
  reservedConnections: 20,
  maxSlotWalKeepSizeMb: 2048,
  maxReplicaLagBytes: 16 * 1024 * 1024,
  maxReplicaLagMs: 1000,
};

/** The local cluster of DESIGN.md §3: 3 apps, 2 DB replicas, LB on 127.0.0.1:8080. */
export const defaultTopology: Topology = {
  name: 'aidiary',
  target: 'local',
  host: '127.0.0.1',
  siteUrl: '',
  trustedProxies: [],
  cdn: 'none',
  login: {
    maxAttemptsPerAddress: 50,
    addressWindowSeconds: 300,
    usernameBackoffCapSeconds: 30,
    edgeRatePerSecond: 5,
    edgeBurst: 20,
  },
  appReplicas: 3,
  dbReplicas: 2,
  durability: 'auto',
  ports: {
    lb: 8080,
    appBase: 3000,
    pgBase: 5433,
    redisSessions: 6380,
    redisCache: 6381,
    stubStatus: 8089,
    cdn: 8088,
  },
  // parseTopology derives max_connections again for the target it parses.
  database: { ...database, maxConnections: connectionBudget('local', database).total },
  cache: {
    l1Enabled: true,
    l2Enabled: true,
    edgeEnabled: true,
    l1MaxBytes: 64 * 1024 * 1024,
    l1TtlSeconds: 60,
    l2TtlSeconds: 300,
    edgeTtlSeconds: 1,
    staleWhileRevalidateSeconds: 10,
  },
  nginx: {
    workerConnections: 4096,
    keepaliveTimeoutSeconds: 65,
    upstreamKeepalive: 64,
    upstreamKeepaliveTimeoutSeconds: 60,
    proxyConnectTimeoutMs: 500,
    proxyReadTimeoutSeconds: 30,
    proxyNextUpstreamTries: 3,
    maxFails: 3,
    failTimeoutSeconds: 5,
    gzip: true,
    tcpNopush: false,
    clientMaxBodySize: '12m',
  },
  appKeepAliveTimeoutMs: 75_000,
  drainMs: 1000,
};
