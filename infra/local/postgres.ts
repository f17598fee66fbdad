import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chownSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, writeFileSync, appendFileSync, chmodSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { defaultTopology } from '../topology';
import { isAlive, isRoot, sleep, userCanEnter } from './process';

// PostgreSQL primitives for the local cluster and the tests: initdb a primary, clone replicas with
// pg_basebackup, start/stop with pg_ctl, connect as the superuser over the node's unix socket.
// When run as root, every binary runs as the `postgres` user on directories it owns (PostgreSQL
// refuses to run as root). The superuser connects through the socket without a password
// (`local all all trust`); the socket directory is 0700, so only its owner (and root) can use it.

const execFileAsync = promisify(execFile);

export interface PgNode {
  name: string; // pg-K
  host: string; // TCP listen address (loopback)
  port: number;
  dataDir: string;
  socketDir: string;
  logFile: string;
}

export interface PgSettings {
  maxConnections: number;
  synchronousStandbyNames?: string;
  /** max_slot_wal_keep_size in MB; the topology's default when absent. */
  maxSlotWalKeepSizeMb?: number;
  /** Extra postgresql.conf settings (value written verbatim, quote strings yourself). */
  extra?: Record<string, string>;
}

export class PostgresMissingError extends Error {
  constructor() {
    super('PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin; install them with: sudo apt-get install -y postgresql postgresql-contrib');
    this.name = 'PostgresMissingError';
  }
}

export function findPostgresBinDir(): string {
  const base = '/usr/lib/postgresql';
  if (existsSync(base)) {
    const versions = readdirSync(base).filter((v) => existsSync(join(base, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a));
    if (versions.length) return join(base, versions[0], 'bin');
  }
  throw new PostgresMissingError();
}

function postgresIds(): { uid: number; gid: number } | null {
  if (!isRoot()) return null;
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error('running as root but no `postgres` user exists; install postgresql through apt (it creates the user)');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

/** Where PostgreSQL homes go when the state dir is out of the postgres user's reach. */
export const outsidePgHomeBase = '/var/lib/aidiary';

/**
 * True when the postgres user can reach `dir` (asked as that user: every parent must let it
 * through, which mode bits alone do not tell with ACLs or other owners). Not root: PostgreSQL runs
 * as the invoking user, who owns the state dir.
 */
export function postgresCanReach(dir: string): boolean {
  if (!isRoot()) return true;
  postgresIds(); // a clear error when there is no postgres user at all
  return userCanEnter('postgres', dir);
}

/** /var/lib/aidiary/<first 16 hex of sha256(real path of the state dir)>: one per state dir. */
export function outsidePgHome(stateRoot: string): string {
  return join(outsidePgHomeBase, createHash('sha256').update(realpathSync(stateRoot)).digest('hex').slice(0, 16));
}

/**
 * Where a state dir's PostgreSQL files go: the state dir itself when the postgres user can reach
 * it, else a directory of its own under /var/lib/aidiary (0700, owned by postgres; a `state-dir`
 * file in it names the state dir it belongs to). Root's home and `mktemp -d` directories are 0700,
 * so a checkout there cannot hold PostgreSQL's data directories.
 */
export function choosePgHome(stateRoot: string): string {
  if (postgresCanReach(stateRoot)) return stateRoot;
  const home = outsidePgHome(stateRoot);
  mkdirSync(outsidePgHomeBase, { recursive: true, mode: 0o755 });
  preparePgDir(home);
  writeFileSync(join(home, 'state-dir'), `${realpathSync(stateRoot)}\n`, { mode: 0o644 });
  return home;
}

/** mkdir -p, then hand the directory to the postgres user when we are root. */
export function preparePgDir(path: string, mode = 0o700): void {
  // Parents stay traversable (0755) so the postgres user can reach its own directory.
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  mkdirSync(path, { recursive: true, mode });
  chmodSync(path, mode);
  const ids = postgresIds();
  if (ids) chownSync(path, ids.uid, ids.gid);
}

/** Creates (if needed) a file the postgres user may write, e.g. pg_ctl's log file. */
export function preparePgFile(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  if (!existsSync(path)) writeFileSync(path, '', { mode: 0o640 });
  const ids = postgresIds();
  if (ids) chownSync(path, ids.uid, ids.gid);
}

/** Runs a PostgreSQL binary (as the postgres user when root). Arguments never carry secrets. */
export async function runPgBinary(binary: string, args: string[], timeoutMs = 120_000): Promise<string> {
  const path = join(findPostgresBinDir(), binary);
  const [cmd, argv] = isRoot() ? ['runuser', ['-u', 'postgres', '--', path, ...args]] : [path, args];
  try {
    const { stdout } = await execFileAsync(cmd, argv, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, cwd: '/' });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${binary} failed: ${(e.stderr || e.stdout || e.message).trim()}`, { cause: err });
  }
}

function nodeSettings(node: PgNode, settings: PgSettings): string {
  const lines: Record<string, string> = {
    listen_addresses: `'${node.host}'`,
    port: String(node.port),
    unix_socket_directories: `'${node.socketDir}'`,
    max_connections: String(settings.maxConnections),
    shared_buffers: "'128MB'",
    wal_level: 'replica',
    max_wal_senders: '16',
    max_replication_slots: '16',
    wal_keep_size: "'256MB'",
    // A slot whose replica is gone or far behind stops holding WAL past this: the primary's disk
    // never fills for a lost replica (that replica then needs a fresh clone).
    max_slot_wal_keep_size: `'${settings.maxSlotWalKeepSizeMb ?? defaultTopology.database.maxSlotWalKeepSizeMb}MB'`,
    hot_standby: 'on',
    hot_standby_feedback: 'on',
    // pg_rewind needs hint bits WAL-logged (or checksums) to bring an old primary back.
    wal_log_hints: 'on',
    wal_receiver_status_interval: "'1s'",
    synchronous_commit: 'on',
    synchronous_standby_names: `'${settings.synchronousStandbyNames ?? ''}'`,
    password_encryption: 'scram-sha-256',
    log_line_prefix: "'%m [%p] %q%u@%d '",
    log_timezone: "'UTC'",
    timezone: "'UTC'",
    ...settings.extra,
  };
  return `# Written by aidiary (infra/local/postgres.ts) for ${node.name}; ALTER SYSTEM overrides land in postgresql.auto.conf.\n`
    + Object.entries(lines).map(([k, v]) => `${k} = ${v}`).join('\n') + '\n';
}

/** Writes this node's own settings file (aidiary.conf, included by postgresql.conf). */
export function writeNodeSettings(node: PgNode, settings: PgSettings): void {
  const file = join(node.dataDir, 'aidiary.conf');
  writeFileSync(file, nodeSettings(node, settings), { mode: 0o600 });
  const ids = postgresIds();
  if (ids) chownSync(file, ids.uid, ids.gid);
}

/** initdb a primary: UTF-8 with the C.UTF-8 locale (pg_trgm treats Japanese as word characters). */
export async function initPrimary(node: PgNode, settings: PgSettings): Promise<void> {
  preparePgDir(node.dataDir);
  preparePgDir(node.socketDir);
  preparePgFile(node.logFile);
  await runPgBinary('initdb', [
    '-D', node.dataDir, '-U', 'postgres', '--encoding=UTF8', '--locale=C.UTF-8',
    '--auth-local=trust', '--auth-host=scram-sha-256', '--no-instructions',
  ]);
  appendFileSync(join(node.dataDir, 'postgresql.conf'), "\ninclude_if_exists = 'aidiary.conf'\n");
  writeNodeSettings(node, settings);
}

export function postmasterPid(node: PgNode): number | null {
  try {
    const pid = Number(readFileSync(join(node.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 && isAlive(pid) ? pid : null;
  } catch {
    return null;
  }
}

/** pg_ctl start -w; returns the postmaster pid. */
export async function startPostgres(node: PgNode, timeoutSeconds = 60): Promise<number> {
  preparePgDir(node.socketDir);
  preparePgFile(node.logFile);
  await runPgBinary('pg_ctl', ['start', '-w', '-t', String(timeoutSeconds), '-D', node.dataDir, '-l', node.logFile], (timeoutSeconds + 5) * 1000);
  const pid = postmasterPid(node);
  if (!pid) throw new Error(`${node.name} did not start; see ${node.logFile}`);
  return pid;
}

export async function stopPostgres(node: PgNode, mode: 'smart' | 'fast' | 'immediate' = 'fast'): Promise<void> {
  const pid = postmasterPid(node);
  if (!pid) return;
  try {
    await runPgBinary('pg_ctl', ['stop', '-w', '-t', '60', '-m', mode, '-D', node.dataDir]);
  } catch (err) {
    if (postmasterPid(node)) throw err;
  }
}

export async function superuserClient(node: PgNode, database = 'postgres'): Promise<pg.Client> {
  const client = new pg.Client({ host: node.socketDir, port: node.port, user: 'postgres', database, connectionTimeoutMillis: 5000 });
  client.on('error', () => { /* a dropped admin connection surfaces on the next query */ });
  await client.connect();
  return client;
}

/** Runs one statement as the superuser and returns its rows. */
export async function superuserQuery<R extends pg.QueryResultRow = pg.QueryResultRow>(node: PgNode, text: string, values: unknown[] = [], database = 'postgres'): Promise<R[]> {
  const client = await superuserClient(node, database);
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end().catch(() => {});
  }
}

export async function waitForPostgres(node: PgNode, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await superuserQuery(node, 'SELECT 1');
      return;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`${node.name} not ready after ${timeoutMs} ms`, { cause: err });
      await sleep(100);
    }
  }
}

/**
 * Creates the app's own non-superuser role and its database (owned by it, so that its migrations
 * may create the trusted pg_trgm extension). The password travels only inside the protocol.
 */
export async function createAppRoleAndDatabase(primary: PgNode, opts: { user: string; password: string; database: string }): Promise<void> {
  const client = await superuserClient(primary);
  try {
    const ident = client.escapeIdentifier.bind(client);
    const exists = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [opts.user]);
    const verb = exists.rowCount ? 'ALTER' : 'CREATE';
    await client.query(`${verb} ROLE ${ident(opts.user)} LOGIN PASSWORD ${client.escapeLiteral(opts.password)}`);
    const db = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [opts.database]);
    if (!db.rowCount) await client.query(`CREATE DATABASE ${ident(opts.database)} OWNER ${ident(opts.user)} ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8' TEMPLATE template0`);
  } finally {
    await client.end().catch(() => {});
  }
}

function replicaConninfo(primary: PgNode, applicationName: string): string {
  return `host=${primary.socketDir} port=${primary.port} user=postgres application_name=${applicationName}`;
}

/** Points a standby's data dir at `primary` (takes effect on start or pg_reload_conf()). */
export function writeStandbyConfig(replica: PgNode, primary: PgNode, slotName: string): void {
  const autoConf = join(replica.dataDir, 'postgresql.auto.conf');
  const kept = existsSync(autoConf)
    ? readFileSync(autoConf, 'utf8').split('\n').filter((l) => !/^\s*(primary_conninfo|primary_slot_name)\s*=/.test(l)).join('\n')
    : '';
  writeFileSync(autoConf, `${kept.trimEnd()}\nprimary_conninfo = '${replicaConninfo(primary, slotName)}'\nprimary_slot_name = '${slotName}'\n`, { mode: 0o600 });
  const signal = join(replica.dataDir, 'standby.signal');
  if (!existsSync(signal)) writeFileSync(signal, '', { mode: 0o600 });
  const ids = postgresIds();
  if (ids) {
    chownSync(autoConf, ids.uid, ids.gid);
    chownSync(signal, ids.uid, ids.gid);
  }
}

/**
 * Clones a streaming replica with pg_basebackup (-C -S creates its physical slot on the primary),
 * gives it its own port/socket settings and an application_name equal to the slot name (that is
 * the name synchronous_standby_names lists). Does not start it.
 */
export async function createReplica(primary: PgNode, replica: PgNode, opts: { slotName: string; settings: PgSettings }): Promise<void> {
  preparePgDir(replica.dataDir);
  preparePgDir(replica.socketDir);
  preparePgFile(replica.logFile);
  const slotExists = (await superuserQuery(primary, 'SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [opts.slotName])).length > 0;
  await runPgBinary('pg_basebackup', [
    '-D', replica.dataDir, '-h', primary.socketDir, '-p', String(primary.port), '-U', 'postgres',
    '-X', 'stream', '-c', 'fast', '-R', '-S', opts.slotName, ...(slotExists ? [] : ['-C']),
  ]);
  writeNodeSettings(replica, opts.settings);
  writeStandbyConfig(replica, primary, opts.slotName);
}

/** Creates a physical slot if missing (on a primary, or on a standby as a promotion candidate). */
export async function ensureSlot(node: PgNode, slotName: string): Promise<void> {
  await superuserQuery(node,
    'SELECT pg_create_physical_replication_slot($1) WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)',
    [slotName]);
}

export async function isInRecovery(node: PgNode): Promise<boolean> {
  const rows = await superuserQuery<{ r: boolean }>(node, 'SELECT pg_is_in_recovery() AS r');
  return rows[0].r;
}
