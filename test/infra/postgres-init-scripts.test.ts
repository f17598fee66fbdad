import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, onTestFinished, test } from 'vitest';
import { postgresServerArgs, syncConfigScript } from '../../infra/docker/database';
import { defaultTopology, parseTopology, synchronousStandbyNames } from '../../infra/topology';
import { superuserQuery } from '../../infra/local/postgres';
import { startTestPostgres } from '../helpers/services';
import { tempDir } from './stack-fixtures';

// The staging stack's PostgreSQL scripts against a real local PostgreSQL (no Docker here): the
// primary's init script creates the roles, the replica script clones and streams through its slot
// with the password only in a passfile, the sync-config one-shot's script (run by bash exactly as
// declared) sets quorum sync over the slot names, and when dbReplicas goes 2 → 1 it drops the
// removed replica's slot while that replica still runs (Pulumi removes its container last).

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
  test('primary roles, replica clones through their slots, quorum sync, scale 2 → 1 drops the removed slot', async () => {
    const t2 = parseTopology({ target: 'docker', host: '0.0.0.0', appReplicas: 1, dbReplicas: 2 });
    const t1 = parseTopology({ target: 'docker', host: '0.0.0.0', appReplicas: 1, dbReplicas: 1 });
    const dir = tempDir('aidiary-pginit-');
    const uid = pgUid();
    chmodSync(dir, 0o755);
    // The postgres user runs the scripts: a copy it can read (a checkout in a 0700 home is not).
    const initScripts = join(dir, 'postgres-init');
    cpSync(scripts, initScripts, { recursive: true });
    const secrets = join(dir, 'secrets');
    const socket = join(dir, 'socket');
    const primaryData = join(dir, 'pg-0');
    const replicaData = [join(dir, 'pg-1'), join(dir, 'pg-2')];
    for (const d of [secrets, socket, primaryData, ...replicaData]) {
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
    const [primaryPort, ...replicaPorts] = [await freePort(), await freePort(), await freePort()];

    // As the official image does: initdb, then the init scripts against the running server.
    must(asPostgres(`${pgBin}/initdb`, ['-D', primaryData, '-U', 'postgres', '--encoding=UTF8', '--locale=C.UTF-8', '--auth-local=trust', '--auth-host=scram-sha-256']), 'initdb');
    const start = (data: string, port: number) => {
      const args = [...postgresServerArgs(t2), '-c', 'listen_addresses=127.0.0.1', '-c', `port=${port}`, '-c', `unix_socket_directories=${socket}`];
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
    must(asPostgres('bash', [join(initScripts, '10-aidiary-roles.sh')], env), 'init script');
    psql(primaryPort, 'SELECT pg_reload_conf()');
    // The cap on WAL a slot may hold back (the primary's disk never fills for a lost replica).
    expect(psql(primaryPort, 'SHOW max_slot_wal_keep_size').trim()).toBe(`${t2.database.maxSlotWalKeepSizeMb / 1024}GB`);

    // The app role logs in over TCP with its password and owns the database; pg_trgm is there.
    const appLogin = spawnSync(`${pgBin}/psql`, ['-h', '127.0.0.1', '-p', String(primaryPort), '-U', 'aidiary', '-d', 'aidiary', '-AtX', '-c',
      "SELECT current_user, (SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'aidiary'), (SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm')"],
    { encoding: 'utf8', env: { ...process.env, PGPASSWORD: passwords.db } });
    expect(must(appLogin, 'app login').trim()).toBe('aidiary|aidiary|1');

    // Replicas: the clone script, then the server with the same settings.
    for (const [i, data] of replicaData.entries()) {
      const slot = `pg_${i + 1}`;
      must(asPostgres('bash', [join(initScripts, 'clone-replica.sh')], {
        PGDATA: data, AIDIARY_PRIMARY_HOST: '127.0.0.1', AIDIARY_PRIMARY_PORT: String(primaryPort),
        AIDIARY_SLOT_NAME: slot, AIDIARY_REPLICATION_USER: 'replicator', AIDIARY_SECRETS_DIR: secrets,
      }), `clone-replica.sh ${slot}`);
      const autoConf = readFileSync(join(data, 'postgresql.auto.conf'), 'utf8');
      expect(autoConf).toContain(`application_name=${slot}`);
      expect(autoConf).not.toContain(passwords.replication);
      expect(existsSync(join(data, 'standby.signal'))).toBe(true);
      start(data, replicaPorts[i]);
    }
    const replication = () => psql(primaryPort, 'SELECT s.slot_name, s.active, r.state FROM pg_replication_slots s LEFT JOIN pg_stat_replication r ON r.pid = s.active_pid ORDER BY 1').trim();
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && replication() !== 'pg_1|t|streaming\npg_2|t|streaming') await new Promise((r) => setTimeout(r, 200));
    expect(replication()).toBe('pg_1|t|streaming\npg_2|t|streaming');
    expect(psql(replicaPorts[0], 'SELECT pg_is_in_recovery()').trim()).toBe('t');

    // The sync-config one-shot exactly as declared (bash -c <script>), pointed at this primary.
    const runSyncConfig = (t: typeof t2) => {
      const r = asPostgres('bash', ['-c', syncConfigScript(t)], { PATH: `${pgBin}:/usr/bin:/bin`, AIDIARY_PRIMARY_HOST: socket, AIDIARY_PRIMARY_PORT: String(primaryPort) });
      must(r, `sync-config for ${t.dbReplicas} replicas`);
      return r.stderr;
    };
    runSyncConfig(t2);
    expect(psql(primaryPort, 'SHOW synchronous_standby_names').trim()).toBe(synchronousStandbyNames(t2));
    psql(primaryPort, 'CREATE TABLE sync_probe (id int)', ['-d', 'aidiary']);
    expect(psql(primaryPort, 'SELECT application_name, sync_state FROM pg_stat_replication ORDER BY 1').trim()).toBe('pg_1|quorum\npg_2|quorum');
    expect(replication()).toBe('pg_1|t|streaming\npg_2|t|streaming');

    // dbReplicas 2 → 1: the new one-shot runs while pg-2 still streams; its slot goes, pg_1 stays,
    // and slots the stack did not make (an operator's, a backup tool's) are left alone.
    psql(primaryPort, "SELECT pg_create_physical_replication_slot('pg_operator'), pg_create_physical_replication_slot('pg_9x')");
    const notices = runSyncConfig(t1);
    expect(notices).toContain('dropped replication slot pg_2');
    expect(notices).not.toContain('slot pg_1');
    expect(psql(primaryPort, 'SHOW synchronous_standby_names').trim()).toBe('');
    await new Promise((r) => setTimeout(r, 1000));
    expect(psql(primaryPort, 'SELECT slot_name, active FROM pg_replication_slots ORDER BY 1').trim()).toBe('pg_1|t\npg_9x|f\npg_operator|f');
    psql(primaryPort, 'INSERT INTO sync_probe VALUES (1)', ['-d', 'aidiary']);
    // Running it again (a retried release) changes nothing and succeeds.
    runSyncConfig(t1);
    expect(psql(primaryPort, 'SELECT slot_name FROM pg_replication_slots ORDER BY 1').trim()).toBe('pg_1\npg_9x\npg_operator');
  }, 120_000);
});

describe.skipIf(!pgBin)('local cluster nodes', () => {
  test('cap the WAL a replication slot may hold back (max_slot_wal_keep_size), primary and replica alike', async () => {
    const pg = await startTestPostgres({ replicas: 1 });
    onTestFinished(() => pg.stop());
    for (const node of pg.nodes) {
      const [row] = await superuserQuery<{ v: string }>(node, 'SELECT setting AS v FROM pg_settings WHERE name = $1', ['max_slot_wal_keep_size']);
      expect(Number(row.v), node.name).toBe(defaultTopology.database.maxSlotWalKeepSizeMb);
    }
  }, 60_000);
});
