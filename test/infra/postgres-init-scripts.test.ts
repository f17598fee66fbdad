import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, onTestFinished, test } from 'vitest';
import { postgresServerArgs } from '../../infra/docker/database';
import { parseTopology, synchronousStandbyNames } from '../../infra/topology';
import { tempDir } from './stack-fixtures';

// The staging stack's PostgreSQL scripts against a real local PostgreSQL (no Docker here): the
// primary's init script creates the roles, the replica script clones and streams through its slot
// with the password only in a passfile, and quorum sync over the slot names lets writes commit.

const pgBin = (() => {
  const base = '/usr/lib/postgresql';
  const v = existsSync(base) ? readdirSync(base).filter((x) => existsSync(`${base}/${x}/bin/initdb`)).sort().pop() : undefined;
  return v ? `${base}/${v}/bin` : null;
})();
const isRoot = process.getuid?.() === 0;
const scripts = join(import.meta.dirname, '../../infra/docker/postgres-init');
const passwords = { db: 'appPassw0rdFromPulumi', replication: 'replPassw0rdFromPulumi' };

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

const pgUid = () => Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
const asPostgres = (cmd: string, args: string[], env: Record<string, string> = {}) => {
  return spawnSync('runuser', ['-u', 'postgres', '--', 'env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), cmd, ...args], { encoding: 'utf8', timeout: 60_000 });
};

function must(r: ReturnType<typeof spawnSync>, what: string): string {
  if (r.status !== 0) throw new Error(`${what} failed (${r.status}): ${r.stdout}${r.stderr}`);
  return String(r.stdout);
}

describe.skipIf(!pgBin || !isRoot)('postgres init scripts on a real PostgreSQL', () => {
  test('primary roles, replica clone through its slot, quorum sync commit', async () => {
    const t = parseTopology({ target: 'docker', host: '0.0.0.0', appReplicas: 1, dbReplicas: 1, durability: 'sync-quorum' });
    const dir = tempDir('aidiary-pginit-');
    const uid = pgUid();
    chmodSync(dir, 0o755);
    const secrets = join(dir, 'secrets');
    const socket = join(dir, 'socket');
    const primaryData = join(dir, 'pg-0');
    const replicaData = join(dir, 'pg-1');
    for (const d of [secrets, socket, primaryData, replicaData]) {
      mkdirSync(d, { mode: 0o700 });
      chownSync(d, uid, uid);
    }
    const secretFile = (name: string, value: string) => {
      writeFileSync(join(secrets, name), value, { mode: 0o600 });
      chownSync(join(secrets, name), uid, uid);
    };
    secretFile('db-password', passwords.db);
    secretFile('replication-password', passwords.replication);
    secretFile('replication.pgpass', `*:*:*:replicator:${passwords.replication}`);
    const [primaryPort, replicaPort] = [await freePort(), await freePort()];

    // As the official image does: initdb, then the init scripts against the running server.
    must(asPostgres(`${pgBin}/initdb`, ['-D', primaryData, '-U', 'postgres', '--encoding=UTF8', '--locale=C.UTF-8', '--auth-local=trust', '--auth-host=scram-sha-256']), 'initdb');
    const start = (data: string, port: number) => {
      const args = [...postgresServerArgs(t), '-c', 'listen_addresses=127.0.0.1', '-c', `port=${port}`, '-c', `unix_socket_directories=${socket}`];
      must(asPostgres(`${pgBin}/pg_ctl`, ['-D', data, '-w', '-t', '60', '-l', join(data, 'log'), '-o', args.map((a) => (a.includes(' ') ? `'${a}'` : a)).join(' '), 'start']), `start ${data}`);
      onTestFinished(() => { asPostgres(`${pgBin}/pg_ctl`, ['-D', data, '-m', 'immediate', 'stop']); });
    };
    start(primaryData, primaryPort);
    const psql = (port: number, sql: string, extra: string[] = []) =>
      must(asPostgres(`${pgBin}/psql`, ['-h', socket, '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-AtX', '-v', 'ON_ERROR_STOP=1', ...extra, '-c', sql]), sql);
    psql(primaryPort, 'CREATE DATABASE aidiary');
    const env = {
      POSTGRES_USER: 'postgres', POSTGRES_DB: 'aidiary', PGDATA: primaryData, PGHOST: socket, PGPORT: String(primaryPort),
      AIDIARY_DB_USER: 'aidiary', AIDIARY_REPLICATION_USER: 'replicator', AIDIARY_SECRETS_DIR: secrets,
    };
    must(asPostgres('bash', [join(scripts, '10-aidiary-roles.sh')], env), 'init script');
    psql(primaryPort, 'SELECT pg_reload_conf()');

    // The app role logs in over TCP with its password and owns the database; pg_trgm is there.
    const appLogin = spawnSync(`${pgBin}/psql`, ['-h', '127.0.0.1', '-p', String(primaryPort), '-U', 'aidiary', '-d', 'aidiary', '-AtX', '-c',
      "SELECT current_user, (SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'aidiary'), (SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm')"],
    { encoding: 'utf8', env: { ...process.env, PGPASSWORD: passwords.db } });
    expect(must(appLogin, 'app login').trim()).toBe('aidiary|aidiary|1');

    // Replica: the clone script, then the server with the same settings.
    const clone = asPostgres('bash', [join(scripts, 'clone-replica.sh')], {
      PGDATA: replicaData, AIDIARY_PRIMARY_HOST: '127.0.0.1', AIDIARY_PRIMARY_PORT: String(primaryPort),
      AIDIARY_SLOT_NAME: 'pg_1', AIDIARY_REPLICATION_USER: 'replicator', AIDIARY_SECRETS_DIR: secrets,
    });
    must(clone, 'clone-replica.sh');
    const autoConf = readFileSync(join(replicaData, 'postgresql.auto.conf'), 'utf8');
    expect(autoConf).toContain('application_name=pg_1');
    expect(autoConf).not.toContain(passwords.replication);
    expect(existsSync(join(replicaData, 'standby.signal'))).toBe(true);
    start(replicaData, replicaPort);

    const deadline = Date.now() + 20_000;
    let state = '';
    while (Date.now() < deadline && state !== 'pg_1|streaming|t') {
      state = psql(primaryPort, "SELECT application_name, state, (SELECT active FROM pg_replication_slots WHERE slot_name = 'pg_1') FROM pg_stat_replication").trim();
      if (state !== 'pg_1|streaming|t') await new Promise((r) => setTimeout(r, 200));
    }
    expect(state).toBe('pg_1|streaming|t');
    expect(psql(replicaPort, 'SELECT pg_is_in_recovery()').trim()).toBe('t');

    // What the sync-config one-shot applies: a write commits only if pg_1 is a quorum member.
    psql(primaryPort, `ALTER SYSTEM SET synchronous_standby_names = '${synchronousStandbyNames(t)}'`);
    psql(primaryPort, 'SELECT pg_reload_conf()');
    psql(primaryPort, 'CREATE TABLE sync_probe (id int)', ['-d', 'aidiary']);
    expect(psql(primaryPort, "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'pg_1'").trim()).toBe('quorum');
  }, 90_000);
});
