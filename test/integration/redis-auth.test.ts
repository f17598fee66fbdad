import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { loadConfig, type RedisAuth } from '../../app/config';
import { createLogger } from '../../app/create-deps';
import { createRedisSessionStore } from '../../app/session/redis-session-store';
import { appProcessEnv } from '../../infra/local/app-processes';
import { redisNodes } from '../../infra/local/cluster-layout';
import { anonymousRedisCommand } from '../helpers/redis-raw';
import { freePort } from '../../infra/local/process';
import { pingRedis, probeAuth, startRedis, stopRedis } from '../../infra/local/redis';
import { StateDir } from '../../infra/local/state';
import { redisAclDir, redisAclFile, redisHealthcheckPasswordFile, redisUsers } from '../../infra/redis-settings';
import { appInstances, parseTopology, type RedisRole } from '../../infra/topology';
import type { ProgramRun, RecordedResource } from '../infra/pulumi-harness';
import { envFromList, materializeSecretFiles, runProd, runStaging, tempDir } from '../infra/stack-fixtures';

// Every Redis the project starts requires a login. The staging and prod stacks' Redis servers run
// here for real with the arguments, ACL file and healthcheck they declare (only the address, the
// port and the paths of mounted files are moved to a temp dir, as a container would have them),
// and are driven with the credentials the stacks hand the apps. The local cluster's Redis starts
// through the runner's own code from the state directory's secret files.

const servers: ChildProcess[] = [];
const clients: Redis[] = [];
afterAll(async () => {
  for (const c of clients) c.disconnect();
  for (const s of servers) s.kill('SIGKILL');
});

function client(port: number, auth?: RedisAuth | null): Redis {
  const c = new Redis({ host: '127.0.0.1', port, ...(auth ? { username: auth.username, password: auth.password } : {}), maxRetriesPerRequest: 0, lazyConnect: true });
  c.on('error', () => {});
  clients.push(c);
  return c;
}

interface DeclaredRedis {
  args: string[];
  /** Files the container finds at its paths (ACL file, healthcheck password). */
  files: Record<string, string>;
  /** The healthcheck as the container runs it (`sh -c <script>`). */
  healthcheck: string;
}

function declaredDocker(run: ProgramRun, role: RedisRole): DeclaredRedis {
  const c = run.byType('docker:index/container:Container').find((x) => x.inputs.hostname === `redis-${role}`)!;
  expect(c.inputs.command[0]).toBe('redis-server');
  const tests: string[] = c.inputs.healthcheck.tests;
  expect(tests[0]).toBe('CMD-SHELL');
  return {
    args: c.inputs.command.slice(1),
    files: Object.fromEntries(c.inputs.uploads.map((u: { file: string; content: string }) => [u.file, u.content])),
    healthcheck: tests[1],
  };
}

function declaredKubernetes(run: ProgramRun, role: RedisRole): DeclaredRedis {
  const sts = run.byType('kubernetes:apps/v1:StatefulSet').find((x) => x.inputs.metadata.name === `aidiary-prod-redis-${role}`)!;
  const pod = sts.inputs.spec.template.spec;
  const c = pod.containers[0];
  const files: Record<string, string> = {};
  for (const m of c.volumeMounts as { name: string; mountPath: string }[]) {
    const secretName = pod.volumes.find((v: { name: string }) => v.name === m.name)?.secret?.secretName;
    if (!secretName) continue;
    const data = run.byType('kubernetes:core/v1:Secret').find((s) => s.inputs.metadata.name === secretName)!.inputs.stringData;
    for (const [key, value] of Object.entries(data)) files[`${m.mountPath}/${key}`] = value as string;
  }
  expect(c.readinessProbe.exec.command.slice(0, 2)).toEqual(['sh', '-c']);
  expect(c.livenessProbe.exec.command).toEqual(c.readinessProbe.exec.command);
  return { args: c.args, files, healthcheck: c.readinessProbe.exec.command[2] };
}

/** Starts the declared server on loopback; paths of mounted files move under a temp root. */
async function runDeclared(d: DeclaredRedis, dataDir = tempDir('aidiary-declared-redis-data-')): Promise<{ port: number; pid: number; root: string; localPath: (p: string) => string; healthcheck: string }> {
  const root = tempDir('aidiary-declared-redis-');
  const localPath = (p: string) => join(root, p);
  for (const [path, content] of Object.entries(d.files)) {
    mkdirSync(join(localPath(path), '..'), { recursive: true });
    writeFileSync(localPath(path), content, { mode: 0o600 });
  }
  const port = await freePort();
  const args = [...d.args];
  const set = (flag: string, value: string) => { const i = args.indexOf(flag); if (i >= 0) args[i + 1] = value; };
  set('--bind', '127.0.0.1');
  set('--port', String(port));
  set('--dir', dataDir);
  set('--aclfile', localPath(args[args.indexOf('--aclfile') + 1]));
  const server = spawn('redis-server', args, { stdio: 'ignore' });
  servers.push(server);
  const deadline = Date.now() + 10_000;
  while (!(await pingRedis('127.0.0.1', port))) {
    if (Date.now() > deadline) throw new Error(`redis-server ${args.join(' ')} did not start`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const healthcheck = d.healthcheck.replaceAll(redisAclDir, localPath(redisAclDir)).replace(/ -p \d+ /, ` -h 127.0.0.1 -p ${port} `);
  return { port, pid: server.pid!, root, localPath, healthcheck };
}

const sh = (script: string) => spawnSync('sh', ['-c', script], { encoding: 'utf8' });

/** The app's Redis credentials as a stack hands them over (files behind AIDIARY_*_FILE). */
function dockerAppConfig(run: ProgramRun) {
  const app = run.byType('docker:index/container:Container').find((c) => c.inputs.labels.some((l: { value: string }) => l.value === 'app'))!;
  const uploads = new Map<string, string>(app.inputs.uploads.map((u: { file: string; content: string }) => [u.file, u.content]));
  return loadConfig(materializeSecretFiles(envFromList(app.inputs.envs), (p) => uploads.get(p)!));
}

function kubernetesAppConfig(run: ProgramRun) {
  const dep: RecordedResource = run.byType('kubernetes:apps/v1:Deployment').find((d) => d.inputs.metadata.name === 'aidiary-prod-app')!;
  const pod = dep.inputs.spec.template.spec;
  const env: Record<string, string> = {};
  for (const e of pod.containers[0].env) env[e.name] = e.value ?? 'app-x';
  const secretData = (name: string, key: string) => run.byType('kubernetes:core/v1:Secret').find((s) => s.inputs.metadata.name === name)!.inputs.stringData[key];
  return loadConfig(materializeSecretFiles(env, (path) => {
    for (const source of pod.volumes.find((v: { projected?: unknown }) => v.projected).projected.sources) {
      const item = source.secret.items.find((i: { path: string }) => path.endsWith(`/${i.path}`));
      if (item) return secretData(source.secret.name, item.key);
    }
    throw new Error(`${path}: no secret item`);
  }));
}

describe.each([
  { stack: 'staging (Docker)', run: () => runStaging(1, 1), declared: declaredDocker, appConfig: dockerAppConfig },
  { stack: 'prod (Kubernetes)', run: () => runProd(1, 1), declared: declaredKubernetes, appConfig: kubernetesAppConfig },
])('the $stack Redis servers as declared, run for real', ({ run: runStack, declared, appConfig }) => {
  test.each(['sessions', 'cache'] as const)('%s: refuses every command before a login, takes the app\'s, and the healthcheck logs in from its file', async (role) => {
    const run = await runStack();
    const d = declared(run, role);
    expect(d.args).toContain('--aclfile');
    expect(d.args[d.args.indexOf('--aclfile') + 1]).toBe(redisAclFile);
    const server = await runDeclared(d);

    // No login: nothing runs, and the default user cannot be logged into.
    expect(await anonymousRedisCommand(server.port, 'SET', 'sess:forged', '{"role":"admin"}')).toMatch(/^NOAUTH/);
    expect(await anonymousRedisCommand(server.port, 'GET', 'x')).toMatch(/^NOAUTH/);
    expect(await anonymousRedisCommand(server.port, 'CONFIG', 'SET', 'dir', '/tmp')).toMatch(/^NOAUTH/);
    const config = appConfig(run);
    const auth = role === 'sessions' ? config.redisSessionsAuth! : config.redisCacheAuth!;
    const other = role === 'sessions' ? config.redisCacheAuth! : config.redisSessionsAuth!;
    expect(await anonymousRedisCommand(server.port, 'AUTH', auth.password)).toMatch(/^WRONGPASS/);
    expect(await anonymousRedisCommand(server.port, 'AUTH', other.username!, other.password)).toMatch(/^WRONGPASS/); // the other role's password

    // The app's login: data commands yes, server administration no.
    const app = client(server.port, auth);
    await app.connect();
    expect(await app.set('k', 'v')).toBe('OK');
    expect(await app.eval("return redis.call('GET', KEYS[1])", 1, 'k')).toBe('v');
    await expect(app.config('SET', 'dir', '/tmp')).rejects.toThrow(/NOPERM/);
    await expect(app.call('ACL', 'LIST')).rejects.toThrow(/NOPERM/);
    await expect(app.call('SHUTDOWN')).rejects.toThrow(/NOPERM/);

    // The container's healthcheck, as declared: 0 with its file, non-zero with a wrong password.
    const ok = sh(server.healthcheck);
    expect(ok.status, ok.stderr).toBe(0);
    writeFileSync(server.localPath(redisHealthcheckPasswordFile), 'not-the-password\n');
    expect(sh(server.healthcheck).status).not.toBe(0);

    // No password on the server's command line, in the declared args or the healthcheck.
    const argv = readFileSync(`/proc/${server.pid}/cmdline`, 'utf8');
    for (const secret of run.generatedSecrets) {
      expect(argv).not.toContain(secret);
      expect(d.args.join(' ')).not.toContain(secret);
      expect(d.healthcheck).not.toContain(secret);
    }
  }, 60_000);
});

test('prod: the exporter user reads server state and nothing it may write or read as data', async () => {
  const run = await runProd(1, 1);
  const server = await runDeclared(declaredKubernetes(run, 'sessions'));
  const login = run.byType('kubernetes:core/v1:Secret').find((s) => s.inputs.metadata.name === 'aidiary-prod-redis-exporter')!.inputs.stringData;
  const app = client(server.port, kubernetesAppConfig(run).redisSessionsAuth);
  await app.set('sess:x', 'secret-session');
  const exporter = client(server.port, { username: login.username, password: login.password });
  await exporter.connect();
  expect(await exporter.info('memory')).toMatch(/used_memory:/);
  expect(await exporter.dbsize()).toBe(1);
  expect(await exporter.type('sess:x')).toBe('string');
  await expect(exporter.get('sess:x')).rejects.toThrow(/NOPERM/);
  await expect(exporter.set('sess:x', 'changed')).rejects.toThrow(/NOPERM/);
  await expect(exporter.del('sess:x')).rejects.toThrow(/NOPERM/);
  await expect(exporter.config('SET', 'dir', '/tmp')).rejects.toThrow(/NOPERM/);
}, 60_000);

test('sessions Redis: logins written in MULTI/EXEC and Lua survive a restart with the default user locked', async () => {
  // Redis replays its AOF as the default user and re-checks EXEC against its permissions: with
  // `user default off` every transaction in the AOF is dropped on restart (redis/redis#14541).
  const run = await runStaging(1, 1);
  const d = declaredDocker(run, 'sessions');
  const dataDir = tempDir('aidiary-aof-');
  const first = await runDeclared(d, dataDir);
  const auth = dockerAppConfig(run).redisSessionsAuth!;
  const a = client(first.port, auth);
  await a.multi().set('sess:tx', 'in-a-transaction').sadd('sess-user:1', 'h').exec();
  await a.eval("redis.call('SET', 'job:lua', 'from-lua')", 0);
  process.kill(first.pid, 'SIGTERM');
  while (existsSync(`/proc/${first.pid}`) && !readFileSync(`/proc/${first.pid}/stat`, 'utf8').includes(') Z')) await new Promise((r) => setTimeout(r, 50));
  const second = await runDeclared(d, dataDir);
  const b = client(second.port, auth);
  expect(await b.get('sess:tx')).toBe('in-a-transaction');
  expect(await b.smembers('sess-user:1')).toEqual(['h']);
  expect(await b.get('job:lua')).toBe('from-lua');
}, 60_000);

describe('the local cluster\'s Redis (runner code, state directory secrets)', () => {
  test('passwords and ACL files are 0600 files, the servers refuse anonymous commands, the apps log in from their files', async () => {
    const state = new StateDir(tempDir('aidiary-state-'));
    state.ensureSecrets({});
    expect(statSync(state.secretsDir).mode & 0o777).toBe(0o700);
    const t = parseTopology({ target: 'local', appReplicas: 1, dbReplicas: 0, ports: { redisSessions: await freePort(), redisCache: await freePort() } });
    const nodes = redisNodes(state, t);
    const pids: number[] = [];
    try {
      for (const node of nodes) pids.push(await startRedis(node));
      for (const role of ['sessions', 'cache'] as const) {
        for (const file of [state.redisPasswordFile(role), state.redisAclFile(role)]) expect(statSync(file).mode & 0o777).toBe(0o600);
        const acl = readFileSync(state.redisAclFile(role), 'utf8');
        expect(acl).not.toContain(state.readSecret(state.redisPasswordFile(role)));
        const node = nodes.find((n) => n.role === role)!;
        expect(await anonymousRedisCommand(node.port, 'SET', 'k', 'v')).toMatch(/^NOAUTH/);
        expect(await pingRedis(node.host, node.port, 1000, probeAuth(node))).toBe(true);
        expect(await pingRedis(node.host, node.port, 1000, { username: redisUsers.healthcheck, password: 'wrong-password-123' })).toBe(false);
      }
      // An app process's environment: file paths only, no password in any value.
      const env = appProcessEnv(t, appInstances(t)[0], state.appSecretRefs(), {});
      for (const user of ['sessions', 'cache', 'exporter', 'healthcheck'] as const) {
        expect(Object.values(env).join('\n')).not.toContain(state.readSecret(state.redisPasswordFile(user)));
      }
      const config = loadConfig({ ...env, AIDIARY_DB_PASSWORD: 'unused-here' });
      expect(config.redisSessionsAuth?.username).toBe(redisUsers.app);
      const store = createRedisSessionStore({
        url: config.redisSessionsUrl, auth: config.redisSessionsAuth, secret: config.sessionSecret,
        logger: createLogger({ appName: 'test', logLevel: 'silent' }), metrics: new Registry(),
      });
      try {
        await new Promise<void>((resolve) => (store.isAvailable() ? resolve() : store.redis.once('ready', () => resolve())));
        const s = await store.create({ userId: 1, username: 'u', role: 'admin', csrfToken: 't', lastWriteLsn: null, lastReadLsn: null });
        expect((await store.get(s.id))?.username).toBe('u');
      } finally {
        await store.close();
      }
      const cache = client(nodes.find((n) => n.role === 'cache')!.port, config.redisCacheAuth);
      expect(await cache.set('page', 'x')).toBe('OK');
    } finally {
      for (const pid of pids) await stopRedis(pid);
    }
  }, 60_000);
});

describe('app config: Redis credentials', () => {
  const base = { AIDIARY_DB_NODES: 'pg-0@127.0.0.1:5433', AIDIARY_DB_PASSWORD: 'x'.repeat(20), AIDIARY_SESSION_SECRET: 's'.repeat(40) };
  test('a user and a password file per role; the URL kept has no credentials', () => {
    const dir = tempDir('aidiary-redis-cfg-');
    writeFileSync(join(dir, 'p'), 'file-password-1234567\n', { mode: 0o600 });
    const c = loadConfig({ ...base, AIDIARY_REDIS_SESSIONS_USER: 'aidiary', AIDIARY_REDIS_SESSIONS_PASSWORD_FILE: join(dir, 'p'), AIDIARY_REDIS_CACHE_URL: 'redis://aidiary:url-password-12345@10.0.0.5:6381' });
    expect(c.redisSessionsAuth).toEqual({ username: 'aidiary', password: 'file-password-1234567' });
    expect(c.redisCacheAuth).toEqual({ username: 'aidiary', password: 'url-password-12345' });
    expect(c.redisCacheUrl).toBe('redis://10.0.0.5:6381');
    expect(loadConfig(base).redisSessionsAuth).toBeNull();
  });
  test('contradictory or half-given credentials are refused, naming the fix', () => {
    expect(() => loadConfig({ ...base, AIDIARY_REDIS_SESSIONS_URL: 'redis://u:pw-in-url-123456@h:1', AIDIARY_REDIS_SESSIONS_PASSWORD: 'other' }))
      .toThrow(/AIDIARY_REDIS_SESSIONS_URL: carries a password and AIDIARY_REDIS_SESSIONS_PASSWORD\(_FILE\) is set too; keep the file only/);
    expect(() => loadConfig({ ...base, AIDIARY_REDIS_CACHE_USER: 'aidiary' })).toThrow(/AIDIARY_REDIS_CACHE_USER: set without a password; set AIDIARY_REDIS_CACHE_PASSWORD_FILE/);
    expect(() => loadConfig({ ...base, AIDIARY_REDIS_CACHE_PASSWORD_FILE: '/nonexistent/p' })).toThrow(/AIDIARY_REDIS_CACHE_PASSWORD_FILE: cannot read/);
  });
});
