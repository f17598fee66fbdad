import { mkdtempSync, chmodSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  createAppRoleAndDatabase, createReplica, initPrimary, startPostgres, stopPostgres, superuserQuery, type PgNode,
} from '../../infra/local/postgres';
import { startRedis, stopRedis, type RedisNode } from '../../infra/local/redis';
import { freePort } from '../../infra/local/process';
import { redisUsers, renderRedisAclFile, type RedisPasswords } from '../../infra/redis-settings';

// Real PostgreSQL and Redis for tests: fresh servers in a temp directory on free loopback ports.
// Each test file owns what it starts and stops it in afterAll.

export interface TestPostgres {
  root: string;
  primary: PgNode;
  replicas: PgNode[];
  /** All nodes, primary first. */
  nodes: PgNode[];
  dbName: string;
  appUser: string;
  appPassword: string;
  /** AIDIARY_DB_NODES value, e.g. `pg-0@127.0.0.1:41234,pg-1@127.0.0.1:41235`. */
  nodesEnv: string;
  /** Environment for loadConfig() (without the Redis URLs and session secret). */
  env: Record<string, string>;
  stop(): Promise<void>;
}

function tempRoot(prefix: string): string {
  const root = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(root, 0o755); // the postgres user must traverse it
  return root;
}

export async function startTestPostgres(opts: { replicas?: number; maxConnections?: number; synchronousStandbyNames?: string } = {}): Promise<TestPostgres> {
  const replicaCount = opts.replicas ?? 0;
  const root = tempRoot('aidiary-pg-');
  const nodes: PgNode[] = [];
  for (let k = 0; k <= replicaCount; k++) {
    nodes.push({
      name: `pg-${k}`,
      host: '127.0.0.1',
      port: await freePort(),
      dataDir: join(root, `pg-${k}`, 'data'),
      socketDir: join(root, `pg-${k}`, 'run'),
      logFile: join(root, `pg-${k}.log`),
    });
  }
  const settings = { maxConnections: opts.maxConnections ?? 100, synchronousStandbyNames: opts.synchronousStandbyNames ?? '' };
  const [primary, ...replicas] = nodes;
  await initPrimary(primary, settings);
  await startPostgres(primary);
  const dbName = 'aidiary';
  const appUser = 'aidiary';
  const appPassword = randomBytes(18).toString('base64url');
  await createAppRoleAndDatabase(primary, { user: appUser, password: appPassword, database: dbName });
  for (const [i, replica] of replicas.entries()) {
    await createReplica(primary, replica, { slotName: `pg_${i + 1}`, settings });
    await startPostgres(replica);
  }
  // Wait until every replica streams, so tests start from a replicated state.
  const deadline = Date.now() + 30_000;
  while (replicaCount > 0) {
    const rows = await superuserQuery<{ n: string }>(primary, "SELECT count(*) AS n FROM pg_stat_replication WHERE state = 'streaming'");
    if (Number(rows[0].n) >= replicaCount) break;
    if (Date.now() > deadline) throw new Error('replicas did not start streaming within 30 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  const nodesEnv = nodes.map((n) => `${n.name}@${n.host}:${n.port}`).join(',');
  return {
    root, primary, replicas, nodes, dbName, appUser, appPassword, nodesEnv,
    env: {
      AIDIARY_DB_NODES: nodesEnv,
      AIDIARY_DB_NAME: dbName,
      AIDIARY_DB_USER: appUser,
      AIDIARY_DB_PASSWORD: appPassword,
    },
    async stop() {
      for (const node of [...replicas].reverse()) await stopPostgres(node, 'immediate').catch(() => {});
      await stopPostgres(primary, 'immediate').catch(() => {});
      rmSync(root, { recursive: true, force: true });
    },
  };
}

export interface TestRedis {
  /** `redis://aidiary:<password>@127.0.0.1:<port>`: the app user's login in the URL, for test clients and loadConfig. */
  url: string;
  /** The same address without credentials: commands on it are refused (NOAUTH). */
  anonymousUrl: string;
  /** Every user's password (app, exporter, healthcheck) of the server's ACL file. */
  passwords: RedisPasswords;
  /** The app user's password as a 0600 file (AIDIARY_REDIS_<ROLE>_PASSWORD_FILE). */
  appPasswordFile: string;
  port: number;
  node: RedisNode;
  pid: number;
  /** Stops the server but keeps its port and data dir, for outage tests. */
  kill(): Promise<void>;
  /** Starts it again on the same port. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startTestRedis(role: 'sessions' | 'cache' = 'sessions'): Promise<TestRedis> {
  const root = mkdtempSync(join(tmpdir(), 'aidiary-redis-'));
  // Authenticated like every target: the default user is off; the app logs in as its ACL user.
  const passwords: RedisPasswords = { app: randomBytes(18).toString('base64url'), exporter: randomBytes(18).toString('base64url'), healthcheck: randomBytes(18).toString('base64url') };
  const secret = (name: string, value: string) => { const file = join(root, name); writeFileSync(file, `${value}\n`, { mode: 0o600 }); return file; };
  const node: RedisNode = {
    name: `redis-${role}`, role, host: '127.0.0.1', port: await freePort(), dataDir: join(root, 'data'), logFile: join(root, 'redis.log'),
    aclFile: secret('users.acl', renderRedisAclFile(passwords)), healthcheckPasswordFile: secret('healthcheck-password', passwords.healthcheck),
  };
  const handle: TestRedis = {
    url: `redis://${redisUsers.app}:${passwords.app}@127.0.0.1:${node.port}`,
    anonymousUrl: `redis://127.0.0.1:${node.port}`,
    passwords,
    appPasswordFile: secret('app-password', passwords.app),
    port: node.port,
    node,
    pid: await startRedis(node),
    async kill() { await stopRedis(handle.pid); },
    async restart() { handle.pid = await startRedis(node); },
    async stop() { await stopRedis(handle.pid); rmSync(root, { recursive: true, force: true }); },
  };
  return handle;
}
