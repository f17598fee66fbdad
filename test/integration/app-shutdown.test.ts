import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { fromRoot } from '../../app/project-root';
import { runMigrations } from '../../app/db/migrate';
import { freePort, waitForTcp } from '../../infra/local/process';
import { startTestPostgres, type TestPostgres } from '../helpers/services';

// The production bundle (dist/app.mjs) with the database up but both Redis addresses dead (closed
// ports): the app still serves /health, and SIGTERM still exits 0 in bounded time. The Redis
// clients never connected, and closing such a client waits for a connection unless bounded
// (app/create-deps.ts closeDeps).

let pgs: TestPostgres;
let child: ChildProcess | undefined;

function status(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)); });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  pgs = await startTestPostgres();
  await runMigrations({ host: pgs.primary.host, port: pgs.primary.port, database: pgs.dbName, user: pgs.appUser, password: pgs.appPassword });
});

afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await pgs?.stop();
});

describe('app process shutdown with Redis unreachable', () => {
  it('exits 0 within drainMs + a few seconds after SIGTERM', async () => {
    // Free ports nobody listens on: every connection attempt is refused.
    const [port, deadSessions, deadCache] = [await freePort(), await freePort(), await freePort()];
    const drainMs = 500;
    child = spawn(process.execPath, [fromRoot('dist', 'app.mjs')], {
      env: {
        PATH: process.env.PATH, ...pgs.env, AIDIARY_PORT: String(port), AIDIARY_APP_NAME: 'app-1',
        AIDIARY_REDIS_SESSIONS_URL: `redis://127.0.0.1:${deadSessions}`, AIDIARY_REDIS_CACHE_URL: `redis://127.0.0.1:${deadCache}`,
        AIDIARY_SESSION_SECRET: randomBytes(32).toString('hex'), AIDIARY_DRAIN_MS: String(drainMs), AIDIARY_LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.on('data', (c) => { out += c; });
    child.stderr!.on('data', (c) => { out += c; });
    const exited = new Promise<{ code: number | null; at: number }>((r) => child!.on('exit', (code) => r({ code, at: Date.now() })));

    await waitForTcp('127.0.0.1', port, 20_000);
    expect(await status(port, '/health')).toBe(200);
    // Long enough for the Redis clients to be retrying (not in their first connect).
    await new Promise((r) => setTimeout(r, 1500));
    const signalledAt = Date.now();
    child.kill('SIGTERM');
    // closeDeps is bounded at 5 s (app/create-deps.ts); 1 s more for the listener and the exit.
    const limitMs = drainMs + 6000;
    const result = await Promise.race([exited, new Promise<null>((r) => setTimeout(() => r(null), limitMs + 5000))]);
    expect(result, `still running ${limitMs + 5000} ms after SIGTERM; output:\n${out.slice(-3000)}`).not.toBeNull();
    expect(result!.code, out.slice(-3000)).toBe(0);
    expect(result!.at - signalledAt, out.split('\n').filter((l) => /closing|stopped/.test(l)).join('\n')).toBeLessThan(limitMs);
    expect(out).toContain('"msg":"stopped"');
  }, 60_000);
});
