import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { request as httpRequest, Agent } from 'node:http';
import pg from 'pg';
import { fromRoot } from '../../app/project-root';
import { runMigrations } from '../../app/db/migrate';
import { seedDemoContent } from '../../app/db/seed';
import { freePort, waitForTcp } from '../../infra/local/process';
import { startTestPostgres, startTestRedis, type TestPostgres, type TestRedis } from '../helpers/services';

// The production bundle (dist/app.mjs, built by the global setup) as a real process: a bad
// config exits 1 with the variable's name; SIGTERM turns readiness off, lets an in-flight request
// finish, closes idle keep-alive sockets and exits 0.

let pgs: TestPostgres;
let redis: TestRedis;
let client: pg.Client;
const children: ChildProcess[] = [];

function get(port: number, path: string, agent?: Agent): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

function startApp(env: Record<string, string>): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [fromRoot('dist', 'app.mjs')], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (c) => { out += c; });
  child.stderr!.on('data', (c) => { out += c; });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, output: () => out, exited };
}

beforeAll(async () => {
  pgs = await startTestPostgres();
  redis = await startTestRedis();
  const conn = { host: pgs.primary.host, port: pgs.primary.port, database: pgs.dbName, user: pgs.appUser, password: pgs.appPassword };
  await runMigrations(conn);
  client = new pg.Client(conn);
  client.on('error', () => {});
  await client.connect();
  await seedDemoContent(client, { posts: 20 });
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await client?.end().catch(() => {});
  await redis?.stop();
  await pgs?.stop();
});

describe('app process (dist/app.mjs)', () => {
  it('exits 1 naming the variable when the config is bad', async () => {
    const app = startApp({ AIDIARY_DB_NODES: 'not a node list', AIDIARY_DB_PASSWORD: 'x', AIDIARY_SESSION_SECRET: 'y'.repeat(40) });
    expect(await app.exited).toBe(1);
    expect(app.output()).toContain('AIDIARY_DB_NODES');
  });

  it('drains on SIGTERM: readiness off, in-flight request finishes, exit 0', async () => {
    const port = await freePort();
    const app = startApp({
      ...pgs.env, AIDIARY_PORT: String(port), AIDIARY_APP_NAME: 'app-3', AIDIARY_REDIS_SESSIONS_URL: redis.url,
      AIDIARY_SESSION_SECRET: randomBytes(32).toString('hex'), AIDIARY_CACHE_L1: 'off', AIDIARY_CACHE_L2: 'off',
      AIDIARY_DRAIN_MS: '800', AIDIARY_LOG_LEVEL: 'warn',
    });
    await waitForTcp('127.0.0.1', port, 20_000);
    const ready = await get(port, '/health/ready');
    expect(ready.status).toBe(200);
    expect(ready.headers['x-served-by']).toBe('app-3');

    // An idle keep-alive socket that must not hold the shutdown open.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    expect((await get(port, '/health', agent)).status).toBe(200);

    // Hold the posts table so the home page stays in flight across the signal.
    await client.query('BEGIN');
    await client.query('LOCK TABLE posts IN ACCESS EXCLUSIVE MODE');
    const inFlight = get(port, '/');
    await new Promise((r) => setTimeout(r, 300));
    const signalledAt = Date.now();
    app.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    expect((await get(port, '/health/ready')).status).toBe(503);
    await new Promise((r) => setTimeout(r, 900)); // past drainMs: the listener is closing now
    await client.query('COMMIT');
    const home = await inFlight;
    expect(home.status).toBe(200);
    expect(home.body).toContain('post-card');
    const committedAt = Date.now();
    expect(await app.exited).toBe(0);
    // Connection: close while draining: the in-flight request's keep-alive socket does not hold exit.
    expect(Date.now() - committedAt).toBeLessThan(2000);
    expect(Date.now() - signalledAt).toBeLessThan(8000);
    agent.destroy();
  });
});
