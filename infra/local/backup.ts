import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Redis from 'ioredis';
import { synchronousStandbyNames, type Topology } from '../topology';
import { redisUsers } from '../redis-settings';
import { startApp, stopApp } from './app-processes';
import { appNodes, pgNodes, redisNodes } from './cluster-layout';
import {
  createReplica, ensureSlot, isInRecovery, postmasterPid, preparePgDir, runPgBinary, startPostgres, stopPostgres, superuserQuery,
  waitForPostgres, writeNodeSettings, type PgNode,
} from './postgres';
import { sleep } from './process';
import { recordPrimary } from './rejoin';
import { projectRoot, StateDir } from './state';

// `aidiary backup` and `aidiary restore [--time T]` for the local cluster: continuous WAL
// archiving into wal-archive/ plus base backups in backups/<id> (both in the PostgreSQL home, the
// state dir unless recorded elsewhere: infra/local/state.ts), and point-in-time
// recovery into a fresh primary (restore_command + recovery_target_time, promote at the target),
// after which every replica is re-cloned from it.

const execFileAsync = promisify(execFile);

export type Log = (message: string) => void;
const noop: Log = () => {};

export function walArchiveDir(stateDir: string): string { return new StateDir(stateDir).walArchiveDir; }
export function backupsDir(stateDir: string): string { return new StateDir(stateDir).backupsDir; }

/**
 * The postgresql.conf settings that turn on WAL archiving into the state dir. The cluster's
 * initdb can include them (PgSettings.extra) so that `aidiary backup` never needs a restart;
 * archive_mode=on archives on whichever node is primary (a promoted standby starts archiving).
 */
export function archiveSettings(stateDir: string): Record<string, string> {
  const dir = walArchiveDir(stateDir);
  return {
    archive_mode: "'on'",
    // `test ! -f` never overwrites a segment already archived (the documented safe form).
    archive_command: `'test ! -f ${dir}/%f && cp %p ${dir}/%f'`,
    archive_timeout: "'60s'",
  };
}

export interface BackupInfo {
  id: string;
  dir: string;
  fromNode: string;
  startedAt: string;
  finishedAt: string;
}

function primaryOf(state: StateDir, t: Topology): Promise<PgNode | null> {
  return (async () => {
    for (const { node } of pgNodes(state, t)) {
      if (!postmasterPid(node)) continue;
      try {
        if (!(await isInRecovery(node))) return node;
      } catch {
        /* not answering */
      }
    }
    return null;
  })();
}

function topologyOf(state: StateDir): Topology {
  const s = state.read();
  if (!s) throw new Error(`no cluster in ${state.root}; run \`aidiary up\` first`);
  return s.topology;
}

/**
 * Makes sure every running node archives WAL into the state dir (ALTER SYSTEM, kept in
 * postgresql.auto.conf, which base backups and replicas inherit). archive_mode needs a restart:
 * replicas restart first, the primary last (a write pause of about a second, once).
 */
export async function ensureArchiving(stateDir: string, log: Log = noop): Promise<{ restarted: string[] }> {
  const state = new StateDir(stateDir);
  const t = topologyOf(state);
  preparePgDir(walArchiveDir(stateDir));
  const settings = archiveSettings(stateDir);
  const restarted: string[] = [];
  const primary = await primaryOf(state, t);
  if (!primary) throw new Error('no running PostgreSQL primary; start the cluster first');
  const running = pgNodes(state, t).map((n) => n.node).filter((n) => postmasterPid(n));
  const ordered = [...running.filter((n) => n.name !== primary.name), primary];
  for (const node of ordered) {
    const [{ archive_mode: mode }] = await superuserQuery<{ archive_mode: string }>(node, 'SHOW archive_mode');
    const [{ archive_command: cmd }] = await superuserQuery<{ archive_command: string }>(node, 'SHOW archive_command');
    const wantCmd = settings.archive_command.slice(1, -1);
    if (cmd !== wantCmd) await superuserQuery(node, `ALTER SYSTEM SET archive_command = ${settings.archive_command}`);
    if (mode === 'off') {
      await superuserQuery(node, "ALTER SYSTEM SET archive_mode = 'on'");
      await superuserQuery(node, `ALTER SYSTEM SET archive_timeout = ${settings.archive_timeout}`);
      log(`restart ${node.name} to turn on WAL archiving`);
      await runPgBinary('pg_ctl', ['restart', '-w', '-t', '60', '-m', 'fast', '-D', node.dataDir, '-l', node.logFile]);
      state.writePid(node.name, postmasterPid(node)!);
      await waitForPostgres(node);
      restarted.push(node.name);
    } else if (cmd !== wantCmd) {
      await superuserQuery(node, 'SELECT pg_reload_conf()');
    }
  }
  return { restarted };
}

/** Base backup of the current primary (WAL comes from the archive: -X none waits until it is archived). */
export async function backup(opts: { stateDir: string; log?: Log }): Promise<BackupInfo> {
  const log = opts.log ?? noop;
  const state = new StateDir(opts.stateDir);
  const t = topologyOf(state);
  await ensureArchiving(opts.stateDir, log);
  const primary = await primaryOf(state, t);
  if (!primary) throw new Error('no running PostgreSQL primary');
  const startedAt = new Date();
  const id = startedAt.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  preparePgDir(backupsDir(opts.stateDir), 0o755);
  const dir = join(backupsDir(opts.stateDir), id);
  if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
  log(`pg_basebackup of ${primary.name} into ${dir}`);
  await runPgBinary('pg_basebackup', ['-D', dir, '-h', primary.socketDir, '-p', String(primary.port), '-U', 'postgres', '-X', 'none', '-c', 'fast', '-l', `aidiary ${id}`]);
  const info: BackupInfo = { id, dir, fromNode: primary.name, startedAt: startedAt.toISOString(), finishedAt: new Date().toISOString() };
  writeFileSync(join(backupsDir(opts.stateDir), `${id}.json`), JSON.stringify(info, null, 2) + '\n');
  return info;
}

export function listBackups(stateDir: string): BackupInfo[] {
  const dir = backupsDir(stateDir);
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as BackupInfo)
    .filter((b) => existsSync(b.dir))
    .sort((a, b) => a.finishedAt.localeCompare(b.finishedAt));
}

/** Forces the current WAL segment out and waits until the archiver has it (so recovery can reach "now"). */
async function flushWalToArchive(primary: PgNode, timeoutMs = 20_000): Promise<void> {
  const [{ seg }] = await superuserQuery<{ seg: string }>(primary, 'SELECT pg_walfile_name(pg_switch_wal()) AS seg');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [row] = await superuserQuery<{ last: string | null }>(primary, 'SELECT last_archived_wal AS last FROM pg_stat_archiver');
    // Segment names sort by timeline then position; history files (.history) never match the pattern.
    if (row.last && /^[0-9A-F]{24}$/.test(row.last) && row.last.slice(8) >= seg.slice(8)) return;
    if (Date.now() > deadline) throw new Error(`WAL segment ${seg} not archived after ${timeoutMs} ms; see the primary's log`);
    await sleep(100);
  }
}

/** PostgreSQL's timestamptz input form ('2026-01-31 12:00:00.123+00'); it rejects the ISO 'T…Z' form here. */
export function pgTimestamp(d: Date): string {
  return d.toISOString().replace('T', ' ').replace('Z', '+00');
}

function chownTreeToPostgres(path: string): Promise<unknown> {
  return process.getuid?.() === 0 ? execFileAsync('chown', ['-R', 'postgres:postgres', path]) : Promise.resolve();
}

export interface RestoreResult {
  primary: string;
  backupId: string;
  targetTime: string | null;
  replicas: string[];
  elapsedMs: number;
}

/**
 * Point-in-time recovery into a fresh primary: every PostgreSQL node stops, the primary's data
 * dir is replaced by the newest base backup finished before T and replays the archive up to T,
 * then promotes; each replica is re-cloned from it. The cache Redis is flushed and the apps are
 * restarted one by one (their L1 caches held pages from after T).
 */
export async function restore(opts: { stateDir: string; time?: Date; log?: Log }): Promise<RestoreResult> {
  const started = Date.now();
  const log: Log = (m) => (opts.log ?? noop)(`${m} (+${Date.now() - started} ms)`);
  const state = new StateDir(opts.stateDir);
  const t = topologyOf(state);
  const release = state.acquireLock('restore');
  try {
    const target = opts.time ?? null;
    const candidates = listBackups(opts.stateDir).filter((b) => !target || new Date(b.finishedAt) <= target);
    const chosen = candidates.at(-1);
    if (!chosen) throw new Error(target ? `no base backup finished before ${target.toISOString()}; run \`aidiary backup\` earlier` : 'no base backup; run `aidiary backup` first');

    const nodes = pgNodes(state, t);
    const current = await primaryOf(state, t);
    if (current) await flushWalToArchive(current);
    const primary = current ?? nodes[0].node;
    log(`restore ${primary.name} from backup ${chosen.id}${target ? ` to ${target.toISOString()}` : ' to the end of the archive'}`);

    for (const { node } of nodes) if (postmasterPid(node)) await stopPostgres(node, 'fast');
    const aside = `${primary.dataDir}.pre-restore`;
    rmSync(aside, { recursive: true, force: true });
    if (existsSync(primary.dataDir)) renameSync(primary.dataDir, aside);
    await execFileAsync('cp', ['-a', chosen.dir, primary.dataDir]);
    await chownTreeToPostgres(primary.dataDir);
    preparePgDir(primary.dataDir);
    for (const f of ['standby.signal', 'postmaster.pid']) rmSync(join(primary.dataDir, f), { force: true });

    // This node's own port/socket; no synchronous standbys until the replicas are back.
    writeNodeSettings(primary, { maxConnections: t.database.maxConnections, synchronousStandbyNames: '' });
    const autoConf = join(primary.dataDir, 'postgresql.auto.conf');
    const kept = readFileSync(autoConf, 'utf8').split('\n')
      .filter((l) => !/^\s*(primary_conninfo|primary_slot_name|restore_command|recovery_target\w*)\s*=/.test(l)).join('\n');
    const archive = walArchiveDir(opts.stateDir);
    writeFileSync(autoConf, `${kept.trimEnd()}\nrestore_command = 'cp ${archive}/%f %p'\n`
      + (target ? `recovery_target_time = '${pgTimestamp(target)}'\nrecovery_target_action = 'promote'\n` : ''), { mode: 0o600 });
    writeFileSync(join(primary.dataDir, 'recovery.signal'), '', { mode: 0o600 });
    await chownTreeToPostgres(primary.dataDir);

    await startPostgres(primary, 300);
    state.writePid(primary.name, postmasterPid(primary)!);
    const deadline = Date.now() + 300_000;
    while (await isInRecovery(primary).catch(() => true)) {
      if (!postmasterPid(primary)) throw new Error(`${primary.name} stopped during recovery; see ${primary.logFile}`);
      if (Date.now() > deadline) throw new Error(`${primary.name} still in recovery after 300 s; see ${primary.logFile}`);
      await sleep(100);
    }
    recordPrimary(state.root, primary.name); // `up` starts it as the primary (infra/local/rejoin.ts)
    // Recovery settings must not reach the replicas cloned from this node.
    for (const k of ['restore_command', 'recovery_target_time', 'recovery_target_action']) await superuserQuery(primary, `ALTER SYSTEM RESET ${k}`);
    await superuserQuery(primary, 'SELECT pg_reload_conf()');

    const replicas: string[] = [];
    for (const { node, db } of nodes.filter((n) => n.node.name !== primary.name)) {
      rmSync(node.dataDir, { recursive: true, force: true });
      log(`re-clone ${node.name} from ${primary.name}`);
      await superuserQuery(primary, 'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active', [db.slotName]);
      await createReplica(primary, node, { slotName: db.slotName, settings: { maxConnections: t.database.maxConnections, synchronousStandbyNames: synchronousStandbyNames(t, node.name) } });
      await startPostgres(node);
      state.writePid(node.name, postmasterPid(node)!);
      replicas.push(node.name);
    }
    for (const { node } of nodes) {
      if (!postmasterPid(node)) continue;
      for (const peer of nodes) if (peer.node.name !== node.name) await ensureSlot(node, peer.db.slotName);
    }
    writeNodeSettings(primary, { maxConnections: t.database.maxConnections, synchronousStandbyNames: synchronousStandbyNames(t, primary.name) });
    await superuserQuery(primary, 'SELECT pg_reload_conf()');

    await refreshApps(state, t, log);
    return { primary: primary.name, backupId: chosen.id, targetTime: target?.toISOString() ?? null, replicas, elapsedMs: Date.now() - started };
  } finally {
    release();
  }
}

/** Flushes the cache Redis and restarts running apps one at a time (nginx routes around each). */
async function refreshApps(state: StateDir, t: Topology, log: Log): Promise<void> {
  const cache = redisNodes(state, t).find((r) => r.role === 'cache');
  if (cache) {
    const passwordFile = state.redisPasswordFile('cache');
    const auth = existsSync(passwordFile) ? { username: redisUsers.app, password: state.readSecret(passwordFile) } : {};
    const client = new Redis({ host: cache.host, port: cache.port, ...auth, lazyConnect: true, maxRetriesPerRequest: 1 });
    client.on('error', () => { /* an unreachable cache just stays as it is */ });
    try {
      await client.connect();
      await client.flushall();
    } catch {
      log('cache Redis not reachable; its pages expire by TTL');
    } finally {
      client.disconnect();
    }
  }
  // nginx's micro-cache may hold pages from after T (served stale while updating): drop its files;
  // nginx treats a missing cache file as a miss.
  const edgeCache = join(state.nginxDir, 'cache');
  if (existsSync(edgeCache)) for (const f of readdirSync(edgeCache)) rmSync(join(edgeCache, f), { recursive: true, force: true });
  const secrets = state.appSecretRefs();
  for (const app of appNodes(t)) {
    if (!state.readPid(app.name)) continue;
    log(`restart ${app.name}`);
    await stopApp(state, app.name, t.drainMs);
    await startApp({ root: projectRoot(), state, topology: t, app, secrets });
  }
}

