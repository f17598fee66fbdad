import { describe, expect, it } from 'vitest';
import {
  appEnvironment, appInstances, dbInstances, durabilityMode, parseTopology, poolSizePerApp, redisInstances,
  synchronousStandbyNames, TopologyError, appKeepAliveTimeoutMs, connectionsPerNode, MONITOR_CONNECTIONS_PER_APP,
} from '../../infra/topology';
import { MONITOR_CONNECTIONS_PER_NODE } from '../../app/db/node-monitor';
import { loadConfig } from '../../app/config';

describe('topology model', () => {
  it('derives the default local cluster of DESIGN.md §3', () => {
    const t = parseTopology();
    expect(appInstances(t).map((a) => [a.name, a.port])).toEqual([['app-0', 3000], ['app-1', 3001], ['app-2', 3002]]);
    expect(dbInstances(t).map((d) => [d.name, d.initialRole, d.slotName])).toEqual([
      ['pg-0', 'primary', 'pg_0'], ['pg-1', 'replica', 'pg_1'], ['pg-2', 'replica', 'pg_2'],
    ]);
    expect(redisInstances(t).map((r) => r.role)).toEqual(['sessions', 'cache']);
    expect(t.ports.lb).toBe(8080);
  });

  it('derives durability once: quorum ANY 1 with 2+ replicas, async below', () => {
    expect(durabilityMode(parseTopology({ dbReplicas: 2 }))).toBe('sync-quorum');
    expect(synchronousStandbyNames(parseTopology({ dbReplicas: 2 }))).toBe('ANY 1 (pg_1, pg_2)');
    expect(synchronousStandbyNames(parseTopology({ dbReplicas: 3 }), 'pg-2')).toBe('ANY 1 (pg_0, pg_1, pg_3)');
    expect(durabilityMode(parseTopology({ dbReplicas: 1 }))).toBe('async');
    expect(synchronousStandbyNames(parseTopology({ dbReplicas: 1 }))).toBe('');
    expect(durabilityMode(parseTopology({ dbReplicas: 1, durability: 'sync-quorum' }))).toBe('sync-quorum');
    expect(durabilityMode(parseTopology({ dbReplicas: 0 }))).toBe('async');
  });

  it('keeps apps × pool under max_connections minus the reserve at any replica count', () => {
    for (const apps of [1, 2, 3, 7, 20, 64]) {
      const t = parseTopology({ appReplicas: apps, database: { maxConnections: 300 } });
      const pool = poolSizePerApp(t);
      expect(pool).toBeGreaterThanOrEqual(2);
      expect(apps * pool + t.database.reservedConnections + t.dbReplicas + 1).toBeLessThanOrEqual(t.database.maxConnections);
    }
    expect(() => poolSizePerApp(parseTopology({ appReplicas: 64, database: { maxConnections: 100 } }))).toThrow(/raise maxConnections or lower appReplicas/);
  });

  it('counts each app\'s monitor connection per node: apps × (pool + monitor) + reserve + walsenders ≤ max_connections, any counts', () => {
    expect(MONITOR_CONNECTIONS_PER_APP).toBe(MONITOR_CONNECTIONS_PER_NODE);
    for (const maxConnections of [60, 100, 200, 300]) {
      for (const dbReplicas of [0, 1, 2, 5]) {
        for (const apps of [1, 2, 3, 7, 16, 20]) {
          const t = parseTopology({ appReplicas: apps, dbReplicas, database: { maxConnections } });
          const needed = apps * (2 + MONITOR_CONNECTIONS_PER_APP) + t.database.reservedConnections + dbReplicas + 1;
          if (needed > maxConnections) {
            expect(() => poolSizePerApp(t)).toThrow(new RegExp(`need at least ${needed} connections per node`));
            continue;
          }
          const pool = poolSizePerApp(t);
          expect(pool).toBeGreaterThanOrEqual(2);
          expect(pool).toBeLessThanOrEqual(t.database.maxPoolPerApp);
          expect(connectionsPerNode(t, pool)).toBe(apps * (pool + 1) + t.database.reservedConnections + dbReplicas + 1);
          expect(connectionsPerNode(t, pool)).toBeLessThanOrEqual(maxConnections);
          // The largest pool that fits (unless capped): one more connection per app would not.
          if (pool < t.database.maxPoolPerApp) expect(connectionsPerNode(t, pool + 1)).toBeGreaterThan(maxConnections);
        }
      }
    }
  });

  it('worked example: 7 apps, 2 replicas, max_connections 100, reserve 20 → pool 10 (7 × 11 + 20 + 3 = 100)', () => {
    const t = parseTopology({ appReplicas: 7, dbReplicas: 2, database: { maxConnections: 100, reservedConnections: 20 } });
    expect(poolSizePerApp(t)).toBe(10);
    expect(connectionsPerNode(t, 10)).toBe(100);
  });

  it('names the bad key and the fix', () => {
    expect(() => parseTopology({ appReplicas: 0 })).toThrow(TopologyError);
    expect(() => parseTopology({ appReplicas: 0 })).toThrow(/topology\.appReplicas: must be at least 1 \(got 0\)/);
    expect(() => parseTopology({ ports: { lb: 70000 } })).toThrow(/topology\.ports\.lb/);
    expect(() => parseTopology({ ports: { lb: 3001 } })).toThrow(/both use port 3001/);
    expect(() => parseTopology({ dbReplicas: 0, durability: 'sync-quorum' })).toThrow(/sync-quorum needs dbReplicas/);
    expect(() => parseTopology({ nginx: { upstreamKeepaliveTimeoutSeconds: 600 } })).toThrow(/shorter than the app keep-alive/);
  });

  it('gives the app a keep-alive longer than nginx upstream keep-alive (invariant 1)', () => {
    const t = parseTopology();
    expect(appKeepAliveTimeoutMs(t)).toBeGreaterThan(t.nginx.upstreamKeepaliveTimeoutSeconds * 1000);
  });

  it('produces an app environment that the app config parser accepts', () => {
    const t = parseTopology();
    const app = appInstances(t)[1];
    const env = appEnvironment(t, app, {
      dbNodes: dbInstances(t).map((d) => ({ name: d.name, host: '127.0.0.1', port: d.port })),
      redisSessions: { host: '127.0.0.1', port: t.ports.redisSessions },
      redisCache: { host: '127.0.0.1', port: t.ports.redisCache },
    });
    expect(Object.values(env).join(' ')).not.toMatch(/password=/i);
    const config = loadConfig({ ...env, AIDIARY_DB_PASSWORD: 'x'.repeat(20), AIDIARY_SESSION_SECRET: 's'.repeat(40) });
    expect(config.appName).toBe('app-1');
    expect(config.port).toBe(3001);
    expect(config.dbNodes?.map((n) => n.name)).toEqual(['pg-0', 'pg-1', 'pg-2']);
    expect(config.dbPoolSize).toBe(poolSizePerApp(t));
    expect(config.keepAliveTimeoutMs).toBe(appKeepAliveTimeoutMs(t));
    expect(config.redisCacheUrl).toBe(`redis://127.0.0.1:${t.ports.redisCache}`);
  });

  it('supports the Kubernetes service form and rejects mixing both forms', () => {
    const t = parseTopology({ target: 'kubernetes' });
    const env = appEnvironment(t, appInstances(t)[0], {
      dbPrimaryService: { host: 'db-rw', port: 5432 }, dbReadService: { host: 'db-ro', port: 5432 },
      redisSessions: { host: 'redis-sessions', port: 6379 }, redisCache: { host: 'redis-cache', port: 6379 },
    });
    const config = loadConfig({ ...env, AIDIARY_DB_PASSWORD: 'p', AIDIARY_SESSION_SECRET: 's'.repeat(32) });
    expect(config.dbPrimaryService).toEqual({ host: 'db-rw', port: 5432 });
    expect(config.dbReadService).toEqual({ host: 'db-ro', port: 5432 });
    expect(config.host).toBe('0.0.0.0');
    expect(() => appEnvironment(t, appInstances(t)[0], {
      dbNodes: [{ name: 'pg-0', host: 'a', port: 1 }], dbPrimaryService: { host: 'b', port: 2 },
      redisSessions: { host: 'r', port: 1 }, redisCache: { host: 'r', port: 2 },
    })).toThrow(/either dbNodes or dbPrimaryService/);
  });
});

describe('app config', () => {
  const base = { AIDIARY_DB_NODES: 'pg-0@127.0.0.1:5433', AIDIARY_DB_PASSWORD: 'pw', AIDIARY_SESSION_SECRET: 'k'.repeat(32) };
  it('fails fast naming the variable', () => {
    expect(() => loadConfig({ ...base, AIDIARY_DB_NODES: undefined })).toThrow(/AIDIARY_DB_NODES: missing/);
    expect(() => loadConfig({ ...base, AIDIARY_DB_NODES: 'pg-0@nohost' })).toThrow(/AIDIARY_DB_NODES: expected host:port/);
    expect(() => loadConfig({ ...base, AIDIARY_PORT: 'abc' })).toThrow(/AIDIARY_PORT: expected an integer/);
    expect(() => loadConfig({ ...base, AIDIARY_SESSION_SECRET: 'short' })).toThrow(/AIDIARY_SESSION_SECRET: must be at least 32/);
    expect(() => loadConfig({ ...base, AIDIARY_DB_PASSWORD: undefined })).toThrow(/AIDIARY_DB_PASSWORD: missing; set AIDIARY_DB_PASSWORD or AIDIARY_DB_PASSWORD_FILE/);
    expect(() => loadConfig({ ...base, AIDIARY_DB_PASSWORD_FILE: '/nonexistent/file' })).toThrow(/AIDIARY_DB_PASSWORD_FILE: cannot read/);
    expect(() => loadConfig({ ...base, AIDIARY_CACHE_L1: 'maybe' })).toThrow(/AIDIARY_CACHE_L1: expected on\/off/);
  });
  it('never puts a secret value in an error message', () => {
    try {
      loadConfig({ ...base, AIDIARY_SESSION_SECRET: 'sekrit' });
    } catch (err) {
      expect((err as Error).message).not.toContain('sekrit');
    }
  });
});
