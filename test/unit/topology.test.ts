import { describe, expect, it } from 'vitest';
import {
  appEnvironment, appInstances, dbInstances, durabilityMode, parseTopology, poolSizePerApp, redisInstances,
  synchronousStandbyNames, TopologyError, appKeepAliveTimeoutMs, connectionBudget, MONITOR_CONNECTIONS_PER_APP,
  type Target, type Topology,
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

  it('the pool per app is fixed: no app count changes an app\'s environment', () => {
    const envOf = (apps: number) => {
      const t = parseTopology({ target: 'docker', host: '0.0.0.0', appReplicas: apps });
      return appEnvironment(t, appInstances(t)[0], {
        dbNodes: dbInstances(t).map((d) => ({ name: d.name, host: d.name, port: d.port })),
        redisSessions: { host: 'redis-sessions', port: 6380 }, redisCache: { host: 'redis-cache', port: 6381 },
      });
    };
    const one = envOf(1);
    expect(one.AIDIARY_DB_POOL_SIZE).toBe('20');
    for (let apps = 2; apps <= 16; apps++) expect(envOf(apps), `${apps} apps`).toEqual(one);
  });

  it('max_connections: (maxAppReplicas + the release surge) × (pool + monitor) + migration + reserve + walsenders, per target', () => {
    expect(MONITOR_CONNECTIONS_PER_APP).toBe(MONITOR_CONNECTIONS_PER_NODE);
    // 16 apps × 21 + 2 + 20 + 9: the local runner stops an app before restarting it (no surge).
    expect(parseTopology({ target: 'local' }).database.maxConnections).toBe(367);
    // Kubernetes rolls with maxSurge 1: 17 × 21 + 31.
    expect(parseTopology({ target: 'kubernetes', host: '0.0.0.0' }).database.maxConnections).toBe(388);
    // Docker replaces every app create-before-delete: 32 × 21 + 31.
    expect(parseTopology({ target: 'docker', host: '0.0.0.0' }).database.maxConnections).toBe(703);
    expect(parseTopology({ target: 'docker', host: '0.0.0.0', database: { maxAppReplicas: 4, poolPerApp: 10 } }).database.maxConnections).toBe(8 * 11 + 31);
  });

  it.each(['local', 'docker', 'kubernetes'] as Target[])('%s: the budget holds at every allowed count, surge included; max_connections never follows the counts', (target) => {
    const base = parseTopology({ target, host: target === 'local' ? '127.0.0.1' : '0.0.0.0' });
    for (let apps = 1; apps <= base.database.maxAppReplicas; apps++) {
      for (const dbReplicas of [0, 2, 8]) {
        const t: Topology = parseTopology({ appReplicas: apps, dbReplicas }, base);
        expect(t.database.maxConnections).toBe(base.database.maxConnections);
        const during = connectionBudget(target, t.database, apps);
        expect(during.total, `${apps} apps`).toBeLessThanOrEqual(t.database.maxConnections);
        // Counted explicitly: every app and every surge instance holds its full pool plus the monitor.
        const surge = target === 'docker' ? apps : target === 'kubernetes' ? 1 : 0;
        expect((apps + surge) * (poolSizePerApp(t) + 1) + 2 + t.database.reservedConnections + dbReplicas + 1).toBeLessThanOrEqual(t.database.maxConnections);
      }
    }
  });

  it('refuses a count above maxAppReplicas, naming the limit and the fix', () => {
    expect(() => parseTopology({ target: 'docker', host: '0.0.0.0', appReplicas: 17 })).toThrow(
      /topology\.appReplicas: 17 is above the 16 apps the connection budget allows \(max_connections 703 = .*\); set appReplicas to 16 or less, or raise maxAppReplicas/,
    );
    expect(() => parseTopology({ target: 'docker', host: '0.0.0.0', appReplicas: 17 })).toThrow(/`pulumi config set maxAppReplicas <n>`/);
    // Locally there is nothing to raise: the message names the limit only.
    expect(() => parseTopology({ appReplicas: 17 })).toThrow(/^topology\.appReplicas: 17 is above the 16 apps .*set appReplicas to 16 or less$/);
    expect(parseTopology({ target: 'docker', host: '0.0.0.0', appReplicas: 17, database: { maxAppReplicas: 17 } }).database.maxConnections).toBe(34 * 21 + 31);
    expect(() => parseTopology({ database: { maxConnections: 500 } } as never)).toThrow(/topology\.database: Unrecognized key.*maxConnections/);
  });

  it('a topology recorded by an older version (retired keys, missing new ones) parses as the current model', () => {
    const old = { ...parseTopology(), database: { name: 'aidiary', appUser: 'aidiary', maxConnections: 200, reservedConnections: 20, maxPoolPerApp: 20, maxReplicaLagBytes: 1, maxReplicaLagMs: 2 } };
    const t = parseTopology({ appReplicas: 4 }, old as unknown as Topology);
    expect(t.appReplicas).toBe(4);
    expect(t.database).toMatchObject({ poolPerApp: 20, maxAppReplicas: 16, maxConnections: 367, maxReplicaLagBytes: 1, maxReplicaLagMs: 2 });
    expect(t.database).not.toHaveProperty('maxPoolPerApp');
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
