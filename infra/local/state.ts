import { randomBytes } from 'node:crypto';
import {
  chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync, writeSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RedisRole, SecretRefs, Topology } from '../topology';
import { redisRolePasswords, renderRedisAclFile, type RedisSecretValues } from '../redis-settings';
import { isAlive } from './process';

// The `.aidiary/` state directory: the topology a cluster was created with, one pid file per
// node, secrets as 0600 files, and a lock so that two `up`/`down`/`scale` never run at once.
//
//   state.json            topology + bookkeeping (no secrets)
//   lock                  pid of the CLI process running an operation
//   pids/<node>.pid       one per running process (apps, nginx, redis; PostgreSQL uses postmaster.pid)
//   secrets/              db-app-password, session-secret, redis-{sessions,cache,exporter,healthcheck}-password,
//                         redis-{sessions,cache}.acl (each role's ACL file: password hashes) (0600, dir 0700)
//   admin-password        the admin password (0600; DESIGN.md §3: only this path is ever printed)
//   logs/<node>.log       every node's output
//   pg/<node>/{data,run}  PostgreSQL data directory and unix socket directory
//   wal-archive/, backups/ WAL archive and base backups (infra/local/backup.ts)
//   redis/<node>/         Redis working directory (AOF of the sessions role)
//   nginx/                rendered nginx.conf, pid, cache and temp directories
//   varnish/              `--cdn varnish`: the rendered default.vcl and varnishd's working dir run/ (-n)
//   ports/<app>.control   each app's loopback control port (picked free at its first start, reused)
//
// PostgreSQL's part (pg/, wal-archive/, backups/ and the pg-K logs) lives under the "PostgreSQL
// home": the state dir itself when the postgres user can reach it, else a directory of its own
// under /var/lib/aidiary (infra/local/postgres.ts, choosePgHome). The choice is made once, at the
// first `up`, and recorded in state.json (pgHome); logs/pg-K.log is then a link to the real log.

export interface ClusterState {
  version: 1;
  topology: Topology;
  createdAt: string;
  /** Set once the demo content has been seeded (first start only). */
  seeded: boolean;
  /** pid of the foreground `up` that supervises the cluster (null when detached). */
  supervisorPid: number | null;
  /** Where PostgreSQL's files live (see above); absent in older state files: the state dir itself. */
  pgHome?: string;
}

/** The directory holding package.json, found by walking up (works from source and from dist/). */
export function projectRoot(from: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'app'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no project root (package.json) above ${from}`);
    dir = parent;
  }
}

export function resolveStateDir(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(flag ?? env.AIDIARY_STATE_DIR ?? join(projectRoot(), '.aidiary'));
}

export class StateDir {
  /** The recorded PostgreSQL home, once read (it never changes for a state dir). */
  private recordedPgHome: string | undefined;

  constructor(readonly root: string) {}

  /** Where pg/, wal-archive/, backups/ and the PostgreSQL logs live: recorded in state.json, else the state dir. */
  get pgHome(): string {
    if (this.recordedPgHome) return this.recordedPgHome;
    const recorded = this.read()?.pgHome;
    if (recorded) this.recordedPgHome = recorded;
    return recorded ?? this.root;
  }

  get stateFile() { return join(this.root, 'state.json'); }
  get lockFile() { return join(this.root, 'lock'); }
  get pidsDir() { return join(this.root, 'pids'); }
  get logsDir() { return join(this.root, 'logs'); }
  get secretsDir() { return join(this.root, 'secrets'); }
  get adminPasswordFile() { return join(this.root, 'admin-password'); }
  get dbPasswordFile() { return join(this.secretsDir, 'db-app-password'); }
  get sessionSecretFile() { return join(this.secretsDir, 'session-secret'); }
  /** The app user's password on one Redis role; exporter and healthcheck passwords are shared by both roles. */
  redisPasswordFile(user: RedisRole | 'exporter' | 'healthcheck') { return join(this.secretsDir, `redis-${user}-password`); }
  redisAclFile(role: RedisRole) { return join(this.secretsDir, `redis-${role}.acl`); }
  get nginxDir() { return join(this.root, 'nginx'); }
  get nginxConf() { return join(this.nginxDir, 'nginx.conf'); }
  get pgNodesDir() { return join(this.pgHome, 'pg'); }
  pgDataDir(node: string) { return join(this.pgNodesDir, node, 'data'); }
  pgSocketDir(node: string) { return join(this.pgNodesDir, node, 'run'); }
  /** A PostgreSQL node's own log (the server writes it, so it sits in the PostgreSQL home). */
  pgLogFile(node: string) { return join(this.pgHome, 'logs', `${node}.log`); }
  get walArchiveDir() { return join(this.pgHome, 'wal-archive'); }
  get backupsDir() { return join(this.pgHome, 'backups'); }
  redisDir(node: string) { return join(this.root, 'redis', node); }
  logFile(node: string) { return join(this.logsDir, `${node}.log`); }
  pidFile(node: string) { return join(this.pidsDir, `${node}.pid`); }
  get portsDir() { return join(this.root, 'ports'); }
  controlPortFile(node: string) { return join(this.portsDir, `${node}.control`); }

  /** Creates the layout. The root stays traversable (0755) so the postgres user reaches its dirs. */
  ensureLayout(): void {
    mkdirSync(this.root, { recursive: true, mode: 0o755 });
    chmodSync(this.root, 0o755);
    for (const d of [this.pidsDir, this.logsDir, this.nginxDir, this.portsDir]) mkdirSync(d, { recursive: true, mode: 0o755 });
    mkdirSync(this.secretsDir, { recursive: true, mode: 0o700 });
    chmodSync(this.secretsDir, 0o700);
  }

  /**
   * When the PostgreSQL home is elsewhere, logs/<node>.log links to the node's real log, so that
   * `aidiary logs pg-K` finds it where every other node's log is.
   */
  linkPgLog(node: string): void {
    const link = this.logFile(node);
    const target = this.pgLogFile(node);
    if (link === target) return;
    try {
      if (readlinkSync(link) === target) return;
    } catch {
      /* missing, or a plain file from before the move */
    }
    rmSync(link, { force: true });
    mkdirSync(this.logsDir, { recursive: true, mode: 0o755 });
    symlinkSync(target, link);
  }

  exists(): boolean {
    return existsSync(this.stateFile);
  }

  read(): ClusterState | null {
    try {
      return JSON.parse(readFileSync(this.stateFile, 'utf8')) as ClusterState;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new Error(`cannot read ${this.stateFile}; fix or delete it`, { cause: err });
    }
  }

  /** Atomic write (rename), so a crash never leaves half a state file. */
  write(state: ClusterState): void {
    const tmp = `${this.stateFile}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o644 });
    renameSync(tmp, this.stateFile);
  }

  // ---- pid files -------------------------------------------------------------------------

  writePid(node: string, pid: number): void {
    writeFileSync(this.pidFile(node), `${pid}\n`);
  }

  readPid(node: string): number | null {
    try {
      const pid = Number(readFileSync(this.pidFile(node), 'utf8').trim());
      return Number.isInteger(pid) && pid > 0 ? pid : null;
    } catch {
      return null;
    }
  }

  removePid(node: string): void {
    rmSync(this.pidFile(node), { force: true });
  }

  /** Every node that has a pid file, with its pid. */
  pidFiles(): { node: string; pid: number | null }[] {
    if (!existsSync(this.pidsDir)) return [];
    return readdirSync(this.pidsDir)
      .filter((f) => f.endsWith('.pid'))
      .map((f) => f.slice(0, -4))
      .sort()
      .map((node) => ({ node, pid: this.readPid(node) }));
  }

  // ---- control ports (app/control-server.ts; loopback only, never behind nginx) -------------

  writeControlPort(node: string, port: number): void {
    mkdirSync(this.portsDir, { recursive: true, mode: 0o755 });
    writeFileSync(this.controlPortFile(node), `${port}\n`);
  }

  readControlPort(node: string): number | null {
    try {
      const port = Number(readFileSync(this.controlPortFile(node), 'utf8').trim());
      return Number.isInteger(port) && port > 0 && port < 65536 ? port : null;
    } catch {
      return null;
    }
  }

  // ---- lock ------------------------------------------------------------------------------

  /**
   * Takes the operation lock (O_EXCL). A lock left by a dead process is stale: removed and retaken.
   * Throws naming the holder when a live process has it.
   */
  acquireLock(operation: string): () => void {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(this.lockFile, 'wx', 0o644);
        writeSync(fd, JSON.stringify({ pid: process.pid, operation, at: new Date().toISOString() }));
        closeSync(fd);
        let released = false;
        return () => {
          if (released) return;
          released = true;
          if (this.lockHolder()?.pid === process.pid) rmSync(this.lockFile, { force: true });
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const holder = this.lockHolder();
        if (holder && holder.pid !== process.pid && isAlive(holder.pid)) {
          throw new StateLockedError(`another aidiary ${holder.operation} (pid ${holder.pid}) is running on ${this.root} since ${holder.at}; wait for it or stop it`);
        }
        rmSync(this.lockFile, { force: true }); // stale: its owner is gone
      }
    }
    throw new StateLockedError(`could not take the lock ${this.lockFile}`);
  }

  lockHolder(): { pid: number; operation: string; at: string } | null {
    try {
      return JSON.parse(readFileSync(this.lockFile, 'utf8'));
    } catch {
      return null;
    }
  }

  // ---- secrets ---------------------------------------------------------------------------

  /**
   * Makes sure every secret file exists (0600). The admin password comes from
   * AIDIARY_ADMIN_PASSWORD when set (written to the file so the app reads it from there), else it
   * is generated once. Returns the paths only: callers never see or print the values.
   */
  ensureSecrets(env: NodeJS.ProcessEnv = process.env): { dbPasswordFile: string; sessionSecretFile: string; adminPasswordFile: string } {
    this.ensureLayout();
    writeSecretOnce(this.dbPasswordFile, () => randomBytes(24).toString('base64url'));
    writeSecretOnce(this.sessionSecretFile, () => randomBytes(32).toString('hex'));
    this.ensureRedisSecrets();
    const fromEnv = env.AIDIARY_ADMIN_PASSWORD;
    if (fromEnv) writeSecret(this.adminPasswordFile, fromEnv);
    else writeSecretOnce(this.adminPasswordFile, () => randomBytes(12).toString('base64url'));
    return { dbPasswordFile: this.dbPasswordFile, sessionSecretFile: this.sessionSecretFile, adminPasswordFile: this.adminPasswordFile };
  }

  /**
   * The Redis passwords (generated once) and each role's ACL file, rewritten from them at every
   * start so it always matches the password files (the hashes only, 0600 like the rest).
   */
  ensureRedisSecrets(): void {
    const users = ['sessions', 'cache', 'exporter', 'healthcheck'] as const;
    for (const user of users) writeSecretOnce(this.redisPasswordFile(user), () => randomBytes(24).toString('base64url'));
    const values = Object.fromEntries(users.map((u) => [u, this.readSecret(this.redisPasswordFile(u))])) as unknown as RedisSecretValues;
    for (const role of ['sessions', 'cache'] as const) writeSecret(this.redisAclFile(role), renderRedisAclFile(redisRolePasswords(role, values)).trimEnd());
  }

  /** Every secret file an app process reads, as the AIDIARY_*_FILE references of its environment. */
  appSecretRefs(): SecretRefs {
    return {
      dbPasswordFile: this.dbPasswordFile,
      sessionSecretFile: this.sessionSecretFile,
      adminPasswordFile: this.adminPasswordFile,
      redisSessionsPasswordFile: this.redisPasswordFile('sessions'),
      redisCachePasswordFile: this.redisPasswordFile('cache'),
    };
  }

  readSecret(file: string): string {
    return readFileSync(file, 'utf8').trim();
  }
}

export class StateLockedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StateLockedError';
  }
}

function writeSecret(file: string, value: string): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${value}\n`, { mode: 0o600 });
  chmodSync(file, 0o600); // writeFileSync keeps the mode of an existing file
}

function writeSecretOnce(file: string, make: () => string): void {
  if (existsSync(file) && statSync(file).size > 0) {
    chmodSync(file, 0o600);
    return;
  }
  writeSecret(file, make());
}
