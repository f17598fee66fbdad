import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, describe, expect, test } from 'vitest';
import { Redis } from 'ioredis';
import { freePort } from '../../infra/local/process';
import { pingRedis } from '../../infra/local/redis';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { redisMaxmemoryMib, redisMemoryLimitMib, redisServerArgs, redisUsers, renderRedisAclFile } from '../../infra/redis-settings';
import { parseTopology, redisInstances } from '../../infra/topology';
import { tempDir } from '../infra/stack-fixtures';

// The sessions Redis as the stacks start it (redisServerArgs: AOF, noeviction, maxmemory a share
// of the container's memory limit), run for real on loopback: once full it refuses writes with
// Redis's OOM error (the app answers 503 for a login, say) instead of growing until the kernel
// kills it at the container's limit. Only --bind (loopback), --port, the ACL file's path and the limit differ from the
// shipped arguments: a 32 MiB limit fills in well under a second where the shipped 1 GiB would not.

const LIMIT_MIB = 32;
const servers: ChildProcess[] = [];
afterAll(() => { for (const s of servers) s.kill('SIGKILL'); });

const password = 'maxmemory-test-app-password';

function localArgs(args: string[], port: number): string[] {
  const out = [...args];
  const aclFile = join(tempDir('aidiary-redis-acl-'), 'users.acl');
  writeFileSync(aclFile, renderRedisAclFile({ app: password, exporter: `${password}-exporter`, healthcheck: `${password}-probe` }), { mode: 0o600 });
  out[out.indexOf('--aclfile') + 1] = aclFile;
  out[out.indexOf('--bind') + 1] = '127.0.0.1';
  out[out.indexOf('--port') + 1] = String(port);
  return out;
}

async function startRedis(args: string[], port: number): Promise<Redis> {
  const server = spawn('redis-server', args, { stdio: 'ignore' });
  servers.push(server);
  const deadline = Date.now() + 10_000;
  while (!(await pingRedis('127.0.0.1', port))) {
    if (Date.now() > deadline) throw new Error(`redis-server ${args.join(' ')} does not answer PING`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return new Redis({ host: '127.0.0.1', port, username: redisUsers.app, password, maxRetriesPerRequest: 0 });
}

describe('sessions Redis with the derived maxmemory', () => {
  const t = parseTopology({ target: 'docker', host: '0.0.0.0' });
  const sessions = redisInstances(t).find((r) => r.role === 'sessions')!;

  test('the shipped arguments differ from the tested ones only by the memory limit', () => {
    const shipped = redisServerArgs(sessions, '/data');
    expect(redisArg(shipped, '--maxmemory')).toBe(`${redisMaxmemoryMib(redisMemoryLimitMib.sessions)}mb`);
    expect(redisServerArgs(sessions, '/data', redisMemoryLimitMib.sessions)).toEqual(shipped);
    const small = redisServerArgs(sessions, '/data', LIMIT_MIB);
    expect(small.map((a, i) => (shipped[i - 1] === '--maxmemory' ? 'M' : a))).toEqual(shipped.map((a, i) => (shipped[i - 1] === '--maxmemory' ? 'M' : a)));
  });

  test('fills to maxmemory, then refuses writes with an OOM error; reads and deletes still work', async () => {
    const port = await freePort();
    const args = localArgs(redisServerArgs(sessions, tempDir('aidiary-redis-'), LIMIT_MIB), port);
    const redis = await startRedis(args, port);
    const maxmemory = Number((await redis.config('GET', 'maxmemory') as string[])[1]);
    expect(maxmemory).toBe(redisMaxmemoryMib(LIMIT_MIB) * 1024 * 1024);
    expect((await redis.config('GET', 'maxmemory-policy') as string[])[1]).toBe('noeviction');

    const value = 'x'.repeat(64 * 1024);
    let written = 0;
    let refusal: Error | undefined;
    for (let i = 0; i < 10_000 && !refusal; i++) {
      try {
        await redis.set(`sess:${i}`, value);
        written++;
      } catch (err) {
        refusal = err as Error;
      }
    }
    expect(refusal?.message).toMatch(/^OOM command not allowed when used memory > 'maxmemory'/);
    const usedMemory = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
    // It stopped at maxmemory (one value past at most), far below the container's limit.
    expect(usedMemory).toBeLessThanOrEqual(maxmemory + 2 * value.length);
    expect(usedMemory).toBeLessThan(LIMIT_MIB * 1024 * 1024 * 0.8);
    expect(written).toBeGreaterThan(100);
    // Nothing was evicted; reads and deletes go on, and a delete makes room again.
    expect(await redis.dbsize()).toBe(written);
    expect(await redis.get('sess:0')).toBe(value);
    await redis.del('sess:0', 'sess:1');
    await redis.set('sess:after-delete', 'ok');
    expect(await redis.get('sess:after-delete')).toBe('ok');
    redis.disconnect();
  }, 30_000);
});

function redisArg(args: string[], flag: string): string {
  return args[args.indexOf(flag) + 1];
}
