import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { startTestPostgres, startTestRedis, type TestPostgres, type TestRedis } from '../helpers/services';
import { superuserQuery } from '../../infra/local/postgres';
import { pingRedis } from '../../infra/local/redis';

describe('local PostgreSQL and Redis primitives', () => {
  let pgc: TestPostgres;
  let redis: TestRedis;
  beforeAll(async () => {
    [pgc, redis] = await Promise.all([startTestPostgres({ replicas: 1 }), startTestRedis()]);
  });
  afterAll(async () => {
    await pgc?.stop();
    await redis?.stop();
  });

  it('streams from the primary to the replica, and the app role logs in over TCP with its password', async () => {
    const rows = await superuserQuery<{ application_name: string; state: string }>(pgc.primary, 'SELECT application_name, state FROM pg_stat_replication');
    expect(rows).toEqual([{ application_name: 'pg_1', state: 'streaming' }]);
    const client = new pg.Client({ host: '127.0.0.1', port: pgc.primary.port, user: pgc.appUser, password: pgc.appPassword, database: pgc.dbName });
    await client.connect();
    await client.query('CREATE TABLE probe (v text)');
    await client.query("INSERT INTO probe VALUES ('日本語')");
    await client.end();
    const deadline = Date.now() + 5000;
    let seen: { v: string }[] = [];
    while (Date.now() < deadline && seen.length === 0) {
      seen = await superuserQuery<{ v: string }>(pgc.replicas[0], 'SELECT v FROM probe', [], pgc.dbName).catch(() => []);
    }
    expect(seen).toEqual([{ v: '日本語' }]);
  });

  it('refuses the app role a wrong password', async () => {
    const client = new pg.Client({ host: '127.0.0.1', port: pgc.primary.port, user: pgc.appUser, password: 'wrong', database: pgc.dbName });
    client.on('error', () => {});
    await expect(client.connect()).rejects.toThrow(/password authentication failed/);
  });

  it('stops and restarts Redis on the same port', async () => {
    expect(await pingRedis('127.0.0.1', redis.port)).toBe(true);
    await redis.kill();
    expect(await pingRedis('127.0.0.1', redis.port)).toBe(false);
    await redis.restart();
    expect(await pingRedis('127.0.0.1', redis.port)).toBe(true);
  });
});
