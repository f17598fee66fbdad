import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { fromRoot } from '../../app/project-root';
import { runMigrations } from '../../app/db/migrate';
import { freePort, waitForTcp } from '../../infra/local/process';
import { startTestPostgres, startTestRedis, type TestPostgres, type TestRedis } from '../helpers/services';
import type { RecordedResource } from '../infra/pulumi-harness';
import { envFromList, materializeSecretFiles, runStaging } from '../infra/stack-fixtures';

// A staging app container's drain, replayed with the production bundle (dist/app.mjs) and the
// environment the stack declares (only addresses and secret file paths are local): after SIGTERM
// it keeps accepting new connections and answering for longer than the edge's resolver may still
// hand out its address (`valid` + `resolver_timeout` of the rendered nginx config), each response
// closing its connection, and only then closes its listener and exits 0 within Docker's
// stopTimeout. A removed or replaced container therefore fails no request nginx still sends it.

let pgs: TestPostgres;
let sessions: TestRedis;
let cache: TestRedis;
let child: ChildProcess | undefined;

beforeAll(async () => {
  pgs = await startTestPostgres();
  [sessions, cache] = [await startTestRedis('sessions'), await startTestRedis('cache')];
  await runMigrations({ host: pgs.primary.host, port: pgs.primary.port, database: pgs.dbName, user: pgs.appUser, password: pgs.appPassword });
});

afterAll(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  await sessions?.stop();
  await cache?.stop();
  await pgs?.stop();
});

/** One request on a fresh connection: status and Connection header, or the connect error's code. */
function probe(port: number): Promise<{ status?: number; connection?: string; error?: string }> {
  return new Promise((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/health', agent: false, timeout: 2000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode, connection: String(res.headers.connection) }));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
    req.end();
  });
}

describe('staging app drain (dist/app.mjs with the declared environment)', () => {
  test('after SIGTERM it serves new connections past the resolver\'s staleness, then refuses them and exits 0 within stopTimeout', async () => {
    const run = await runStaging(1, 0);
    const app = run.byType('docker:index/container:Container').find((c: RecordedResource) => c.inputs.hostname === 'app-0')!;
    const lb = run.byType('docker:index/container:Container').find((c: RecordedResource) => c.inputs.hostname === 'nginx')!;
    const conf: string = lb.inputs.uploads.find((u: { file: string }) => u.file.endsWith('nginx.conf')).content;
    const stalenessMs = (Number(/valid=(\d+)s/.exec(conf)![1]) + Number(/resolver_timeout (\d+)s;/.exec(conf)![1])) * 1000;

    const declared = envFromList(app.inputs.envs);
    const uploads = new Map<string, string>(app.inputs.uploads.map((u: { file: string; content: string }) => [u.file, u.content]));
    const port = await freePort();
    const env = {
      // This machine's passwords behind the declared files: the database's and each Redis role's app user.
      ...materializeSecretFiles(declared, (path) => ({
        [declared.AIDIARY_DB_PASSWORD_FILE]: pgs.appPassword,
        [declared.AIDIARY_REDIS_SESSIONS_PASSWORD_FILE]: sessions.passwords.app,
        [declared.AIDIARY_REDIS_CACHE_PASSWORD_FILE]: cache.passwords.app,
      }[path] ?? uploads.get(path) ?? randomBytes(32).toString('hex'))),
      // Only the addresses are this machine's.
      AIDIARY_HOST: '127.0.0.1',
      AIDIARY_PORT: String(port),
      AIDIARY_DB_NODES: pgs.nodesEnv,
      AIDIARY_REDIS_SESSIONS_URL: sessions.anonymousUrl,
      AIDIARY_REDIS_CACHE_URL: cache.anonymousUrl,
      AIDIARY_LOG_LEVEL: 'warn',
    };
    const drainMs = Number(declared.AIDIARY_DRAIN_MS);
    expect(drainMs).toBeGreaterThan(stalenessMs);

    child = spawn(process.execPath, [fromRoot('dist', 'app.mjs')], { env: { PATH: process.env.PATH, ...env }, stdio: 'ignore' });
    const exited = new Promise<number | null>((r) => child!.on('exit', (code) => r(code)));
    await waitForTcp('127.0.0.1', port, 20_000);
    expect((await probe(port)).status).toBe(200);

    const signalledAt = Date.now();
    child.kill('SIGTERM');
    const seen: { at: number; status?: number; connection?: string; error?: string }[] = [];
    while (child.exitCode === null && Date.now() - signalledAt < 40_000) {
      const at = Date.now() - signalledAt;
      seen.push({ at, ...(await probe(port)) });
      await new Promise((r) => setTimeout(r, 250));
    }
    const code = await exited;
    const exitedAfterMs = Date.now() - signalledAt;

    // Every connection made while nginx may still resolve the app was served, and closed after.
    const served = seen.filter((s) => s.at < stalenessMs);
    expect(served.length).toBeGreaterThan(10);
    for (const s of served) expect(s, `at ${s.at} ms`).toMatchObject({ status: 200, connection: 'close' });
    // The listener closed only after the drain; then connections are refused (nginx retries those).
    const firstRefused = seen.find((s) => s.error);
    expect(firstRefused?.at ?? exitedAfterMs).toBeGreaterThanOrEqual(drainMs - 300);
    expect(code).toBe(0);
    expect(exitedAfterMs).toBeLessThan(app.inputs.stopTimeout * 1000);
  }, 90_000);
});
