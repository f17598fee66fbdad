import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { durabilityMode, localCdnUrl, synchronousStandbyNames, type AppInstance, type Topology } from '../topology';
import { appEntry, startApp, stopApp } from './app-processes';
import { migrateAppDatabase, provisionLocalAdmin, seedAppDatabase, type AppDbConnection } from './app-database';
import { appNodes, hasData, isPrimaryDataDir, localTopology, pgNodes, redisNodes, topologyPorts, type LocalCdn, type LocalPortChoice } from './cluster-layout';
import { waitForHealthy } from './http-probe';
import { reloadNginx, startNginx, stopNginx, writeNginxConfig } from './nginx-process';
import {
  choosePgHome, createAppRoleAndDatabase, createReplica, ensureSlot, initPrimary, isInRecovery, postmasterPid, startPostgres, stopPostgres,
  superuserQuery, waitForPostgres, writeNodeSettings, type PgNode,
} from './postgres';
import { assertNotRunning, checkBinaries, checkPortsFree, cleanStalePidFiles, isNodeProcess, PreflightError } from './preflight';
import { stopMonitoring, syncMonitoring } from './monitoring';
import { isAlive, sleep, stopPid } from './process';
import { startRedis, stopRedis } from './redis';
import { choosePrimary, readRecordedPrimary, recordPrimary, startStandby } from './rejoin';
import { projectRoot, StateDir, type ClusterState } from './state';
import { CDN_NODE, checkVarnishInstalled, startVarnish, stopVarnish } from './varnish';

// Orchestrates the local cluster: up (PostgreSQL primary + streaming replicas, both Redis roles,
// migrations and first-start seed, N apps, nginx, and Varnish in front with `cdn: varnish`),
// down (by pid, keeping data) and scale (no failed request: add → reload → drain).

export type Log = (message: string) => void;

export interface UpOptions extends LocalPortChoice {
  stateDir: string;
  apps?: number;
  dbReplicas?: number;
  /** The CDN tier in front of nginx (`--cdn`); stored in the topology like the counts. */
  cdn?: LocalCdn;
  log?: Log;
  env?: NodeJS.ProcessEnv;
  /** Recorded as the supervising process (foreground `up`). */
  supervisorPid?: number | null;
  /** Published posts of the first-start demo seed (default: the seed's own, 1,000). */
  seedPosts?: number;
}

export interface UpResult {
  url: string;
  stateDir: string;
  adminPasswordFile: string;
  topology: Topology;
  elapsedMs: number;
}

const noop: Log = () => {};

/** A progress step: prints "name…" and then "name: done in N ms". */
async function step<T>(log: Log, what: string, fn: () => Promise<T>): Promise<T> {
  const started = Date.now();
  log(`${what}…`);
  const result = await fn();
  log(`${what}: done in ${Date.now() - started} ms`);
  return result;
}

function pgSettings(t: Topology, nodeName: string, withSync: boolean) {
  // Every node carries the rule it would need as primary (its peers), so a promotion needs no edit.
  return { maxConnections: t.database.maxConnections, synchronousStandbyNames: withSync ? synchronousStandbyNames(t, nodeName) : '' };
}

function appConnection(state: StateDir, t: Topology, primary: PgNode): AppDbConnection {
  return { host: primary.host, port: primary.port, user: t.database.appUser, password: state.readSecret(state.dbPasswordFile), database: t.database.name };
}

/** The node that is primary right now (pg_is_in_recovery() = false) among running nodes. */
export async function livePrimary(state: StateDir, t: Topology): Promise<PgNode> {
  for (const { node } of pgNodes(state, t)) {
    if (!postmasterPid(node)) continue;
    try {
      if (!(await isInRecovery(node))) return node;
    } catch {
      /* not answering: try the next */
    }
  }
  throw new Error('no running PostgreSQL primary; check `aidiary status` and `aidiary logs pg-0`');
}

async function waitForStreaming(primary: PgNode, names: string[], timeoutMs = 30_000): Promise<void> {
  if (!names.length) return;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = await superuserQuery<{ application_name: string }>(primary, "SELECT application_name FROM pg_stat_replication WHERE state = 'streaming'");
    const streaming = new Set(rows.map((r) => r.application_name));
    const missing = names.filter((n) => !streaming.has(n));
    if (!missing.length) return;
    if (Date.now() > deadline) throw new Error(`replicas not streaming after ${timeoutMs} ms: ${missing.join(', ')}`);
    await sleep(100);
  }
}

/** Every replica holds a (reserved-on-use) slot for each peer, so it can serve them after a promotion. */
async function ensureCandidateSlots(state: StateDir, t: Topology): Promise<void> {
  const all = pgNodes(state, t);
  for (const { node } of all) {
    if (!postmasterPid(node)) continue;
    for (const peer of all) if (peer.node.name !== node.name) await ensureSlot(node, peer.db.slotName);
  }
}

/** Writes each node's settings (with its synchronous_standby_names) and reloads it. */
async function applySyncSettings(state: StateDir, t: Topology): Promise<void> {
  for (const { node } of pgNodes(state, t)) {
    if (!hasData(node)) continue;
    writeNodeSettings(node, pgSettings(t, node.name, true));
    if (postmasterPid(node)) await superuserQuery(node, 'SELECT pg_reload_conf()');
  }
}

/** Starts (creating if needed) PostgreSQL; returns the primary. */
async function startDatabase(state: StateDir, t: Topology, log: Log): Promise<{ primary: PgNode; fresh: boolean }> {
  const nodes = pgNodes(state, t);
  const withData = nodes.filter((n) => hasData(n.node));
  // Several claimants after a failover that one node missed: the recorded (or newest-timeline) one wins; the others rejoin below.
  const chosen = await choosePrimary(withData.map((n) => n.node), readRecordedPrimary(state.root));
  if (withData.length && !chosen) throw new PreflightError('PostgreSQL data exists but no node is a primary; run `aidiary failover` after `up`, or remove the pg/ data dirs');

  let primary: PgNode;
  const fresh = withData.length === 0;
  if (fresh) {
    primary = nodes[0].node;
    const password = state.readSecret(state.dbPasswordFile);
    await step(log, `initdb ${primary.name} (UTF-8, C.UTF-8)`, () => initPrimary(primary, pgSettings(t, primary.name, false)));
    await step(log, `start ${primary.name} (primary) on port ${primary.port}`, () => startPostgres(primary));
    await waitForPostgres(primary);
    await createAppRoleAndDatabase(primary, { user: t.database.appUser, password, database: t.database.name });
  } else {
    primary = chosen!;
    writeNodeSettings(primary, pgSettings(t, primary.name, true));
    await step(log, `start ${primary.name} (primary) on port ${primary.port}`, () => startPostgres(primary));
    await waitForPostgres(primary);
  }
  state.writePid(primary.name, postmasterPid(primary)!);

  const replicas = nodes.filter((n) => n.node.name !== primary.name);
  // Replicas are independent of each other: clone and start them in parallel.
  await Promise.all(replicas.map(async ({ db, node }) => {
    if (!hasData(node)) {
      await step(log, `pg_basebackup ${node.name} from ${primary.name}`, () => createReplica(primary, node, { slotName: db.slotName, settings: pgSettings(t, node.name, !fresh) }));
    } else {
      writeNodeSettings(node, pgSettings(t, node.name, true));
    }
    // Rewinds (or re-clones) a node that cannot follow: infra/local/rejoin.ts.
    await step(log, `start ${node.name} (replica) on port ${node.port}`, () => startStandby({ ...node, slotName: db.slotName }, primary, log));
    state.writePid(node.name, postmasterPid(node)!);
  }));
  recordPrimary(state.root, primary.name);
  await step(log, `wait for ${replicas.length} replica(s) to stream`, () => waitForStreaming(primary, replicas.map((r) => r.db.slotName)));
  await ensureCandidateSlots(state, t);
  await applySyncSettings(state, t);
  log(`durability: ${durabilityMode(t)}${durabilityMode(t) === 'sync-quorum' ? ` (${synchronousStandbyNames(t, primary.name)})` : ''}`);
  return { primary, fresh };
}

async function startApps(root: string, state: StateDir, t: Topology, apps: AppInstance[]): Promise<void> {
  const secrets = state.appSecretRefs();
  await Promise.all(apps.map((app) => startApp({ root, state, topology: t, app, secrets })));
}

export async function up(opts: UpOptions): Promise<UpResult> {
  const started = Date.now();
  const log = opts.log ?? noop;
  const root = projectRoot();
  const state = new StateDir(opts.stateDir);
  state.ensureLayout();
  const release = state.acquireLock('up');
  try {
    checkBinaries();
    appEntry(root);
    const stale = cleanStalePidFiles(state);
    if (stale.length) log(`removed stale pid files: ${stale.join(', ')}`);
    assertNotRunning(state);
    const previous = state.read();
    if (previous && opts.basePort !== undefined) log(`note: ${state.root} keeps the ports it was created with; --base-port ignored`);
    const t = previous
      ? localTopology({ apps: opts.apps, dbReplicas: opts.dbReplicas, cdn: opts.cdn, port: opts.port }, previous.topology)
      : localTopology({ apps: opts.apps, dbReplicas: opts.dbReplicas, cdn: opts.cdn, port: opts.port, basePort: opts.basePort });
    if (t.cdn === 'varnish') checkVarnishInstalled();
    await checkPortsFree(topologyPorts(t), t.host);
    const secrets = state.ensureSecrets(opts.env ?? process.env);
    const pgHome = previous?.pgHome ?? resolvePgHome(state);
    if (pgHome !== state.root && !previous?.pgHome) log(`PostgreSQL files in ${pgHome} (the postgres user cannot reach ${state.root})`);
    const clusterState: ClusterState = {
      version: 1, topology: t, createdAt: previous?.createdAt ?? new Date().toISOString(), seeded: previous?.seeded ?? false,
      supervisorPid: opts.supervisorPid ?? null, pgHome,
    };
    state.write(clusterState);
    for (const { node } of pgNodes(state, t)) state.linkPgLog(node.name);
    try {
      const { primary } = await startDatabase(state, t, log);
      for (const r of redisNodes(state, t)) {
        await step(log, `start ${r.name} on port ${r.port}`, async () => state.writePid(r.name, await startRedis(r)));
      }
      const conn = appConnection(state, t, primary);
      await step(log, 'run migrations', () => migrateAppDatabase(conn));
      if (!clusterState.seeded) {
        await step(log, 'seed demo content (first start)', () => seedAppDatabase(conn, { posts: opts.seedPosts }));
        clusterState.seeded = true;
        state.write(clusterState);
      }
      await provisionLocalAdmin(conn, state.readSecret(secrets.adminPasswordFile), opts.env ?? process.env);
      await step(log, `start ${t.appReplicas} app process(es)`, () => startApps(root, state, t, appNodes(t)));
      await step(log, `start nginx on ${t.host}:${t.ports.lb}`, async () => {
        writeNginxConfig(state, root, t, appNodes(t).map((a) => a.port));
        const pid = startNginx(state, root);
        await waitForHealthy(`http://${t.host}:${t.ports.lb}/health`, { timeoutMs: 15_000, alive: () => isAlive(pid), what: 'nginx', logFile: state.logFile('lb') });
      });
      if (t.cdn === 'varnish') await step(log, `start varnish on ${t.host}:${t.ports.cdn} (in front of nginx)`, () => startVarnish(state, t));
    } catch (err) {
      log('start failed; stopping what was started');
      await stopEverything(state, noop).catch(() => {});
      throw err;
    }
    return { url: `${localCdnUrl(t) ?? `http://${t.host}:${t.ports.lb}`}/`, stateDir: state.root, adminPasswordFile: secrets.adminPasswordFile, topology: t, elapsedMs: Date.now() - started };
  } finally {
    release();
  }
}

/**
 * The PostgreSQL home of a state dir that has none recorded yet: where its data already is (a
 * state dir from before the home was recorded), else infra/local/postgres.ts's choice. An outside
 * home that already holds data belonged to an earlier state dir at the same path: never reused.
 */
function resolvePgHome(state: StateDir): string {
  const inside = join(state.root, 'pg');
  if (existsSync(inside) && readdirSync(inside).some((n) => existsSync(join(inside, n, 'data', 'PG_VERSION')))) return state.root;
  const home = choosePgHome(state.root);
  if (home !== state.root && existsSync(join(home, 'pg'))) {
    throw new PreflightError(`${home} holds PostgreSQL files of an earlier cluster whose state dir was ${state.root}; remove that directory (rm -rf ${home}) or use another --state-dir`);
  }
  return home;
}

/**
 * pg_ctl stop -w returns once postmaster.pid is gone, a moment before the postmaster process has
 * exited; "down stops every pid" means the pid is gone too.
 */
async function stopPostgresAndWait(node: PgNode): Promise<void> {
  const pid = postmasterPid(node);
  await stopPostgres(node, 'fast');
  const deadline = Date.now() + 10_000;
  while (pid && isAlive(pid) && Date.now() < deadline) await sleep(20);
}

/** Stops every process of the state dir by pid: nginx, apps (drain), PostgreSQL (fast), Redis. */
async function stopEverything(state: StateDir, log: Log): Promise<string[]> {
  const t = state.read()?.topology;
  const stopped: string[] = [];
  // The outermost tier first: no client reaches a cluster that is going down through it.
  if (state.readPid(CDN_NODE) && await step(log, 'stop varnish', () => stopVarnish(state))) stopped.push(CDN_NODE);
  // Monitoring next: it would only record the rest going down (none without `up --monitoring`).
  if (state.pidFiles().some((p) => p.node.startsWith('mon-'))) stopped.push(...await step(log, 'stop monitoring', () => stopMonitoring(state.root)));
  if (state.readPid('lb')) {
    await step(log, 'stop nginx', () => stopNginx(state));
    stopped.push('lb');
  }
  const apps = state.pidFiles().filter((p) => p.node.startsWith('app-'));
  if (apps.length) {
    await step(log, `stop ${apps.length} app(s) (drain)`, () => Promise.all(apps.map((a) => stopApp(state, a.node, t?.drainMs ?? 1000))));
    stopped.push(...apps.map((a) => a.node));
  }
  // Every PostgreSQL data dir of this state dir, including nodes beyond the current topology.
  const pgRoot = state.pgNodesDir;
  const pgNames = existsSync(pgRoot) ? readdirSync(pgRoot).sort() : [];
  const running = pgNames
    .map((name) => ({ name, dataDir: state.pgDataDir(name), socketDir: state.pgSocketDir(name), logFile: state.pgLogFile(name), host: '127.0.0.1', port: 0 }))
    .filter((node) => postmasterPid(node));
  // Primary first: at shutdown it sends its last WAL to the replicas, which then stop cleanly.
  // Replicas and Redis then stop in parallel.
  const primaries = running.filter((n) => isPrimaryDataDir(n));
  const standbys = running.filter((n) => !isPrimaryDataDir(n));
  for (const node of primaries) await step(log, `stop ${node.name}`, () => stopPostgresAndWait(node));
  const redisPids = state.pidFiles().filter((p) => p.node.startsWith('redis-'));
  await step(log, `stop ${[...standbys.map((n) => n.name), ...redisPids.map((p) => p.node)].join(', ') || 'nothing else'}`, () => Promise.all([
    ...standbys.map((node) => stopPostgresAndWait(node)),
    ...redisPids.map(async (p) => { if (p.pid) await stopRedis(p.pid); state.removePid(p.node); }),
  ]));
  stopped.push(...primaries.map((n) => n.name), ...standbys.map((n) => n.name), ...redisPids.map((p) => p.node));
  for (const name of pgNames) state.removePid(name);
  for (const p of state.pidFiles()) {
    // Anything else we recorded (e.g. a node from a newer version): stop it by pid.
    if (isNodeProcess(p.node, p.pid)) await stopPid(p.pid!);
    state.removePid(p.node);
  }
  return stopped;
}

export async function down(opts: { stateDir: string; log?: Log }): Promise<{ stopped: string[] }> {
  const state = new StateDir(opts.stateDir);
  if (!state.exists()) return { stopped: [] };
  const release = state.acquireLock('down');
  try {
    const stopped = await stopEverything(state, opts.log ?? noop);
    const s = state.read();
    if (s) state.write({ ...s, supervisorPid: null });
    return { stopped };
  } finally {
    release();
  }
}

export interface ScaleOptions {
  stateDir: string;
  apps?: number;
  dbReplicas?: number;
  log?: Log;
}

/** Changes replica counts with no failed request. */
export async function scale(opts: ScaleOptions): Promise<{ topology: Topology }> {
  const log = opts.log ?? noop;
  const root = projectRoot();
  const state = new StateDir(opts.stateDir);
  const previous = state.read();
  if (!previous) throw new PreflightError(`no cluster in ${state.root}; run \`aidiary up\` first`);
  const release = state.acquireLock('scale');
  try {
    const lbPid = state.readPid('lb');
    if (!isNodeProcess('lb', lbPid)) throw new PreflightError('the cluster is not running (nginx is down); run `aidiary up` first');
    const oldT = previous.topology;
    const newT = localTopology({ apps: opts.apps, dbReplicas: opts.dbReplicas }, oldT);
    const newPorts = topologyPorts(newT).filter((p) => !topologyPorts(oldT).some((o) => o.port === p.port));
    await checkPortsFree(newPorts, newT.host);
    state.ensureRedisSecrets(); // a cluster created before Redis had users gets them on its next `up`
    const secrets = state.appSecretRefs();

    let t = oldT;
    const save = (next: Topology) => { t = next; state.write({ ...state.read()!, topology: next }); };

    /** Takes apps out of nginx, then drains and stops them. */
    const retireApps = async (names: string[], keepPorts: number[]) => {
      writeNginxConfig(state, root, t, keepPorts);
      await step(log, 'reload nginx', () => reloadNginx(lbPid!));
      await step(log, `drain ${names.join(', ')}`, () => Promise.all(names.map((n) => stopApp(state, n, t.drainMs))));
    };

    /**
     * Restarts every app one at a time with the topology's environment (new DB node list): take it
     * out of nginx (reload), drain and restart it, put it back (reload). Relying on nginx's passive
     * checks instead failed requests: a restarted app stays marked failed for fail_timeout, and
     * stopping the next one meanwhile left no live upstream (502, measured with 2 apps). Reloads
     * lose no request (old workers finish theirs; a client re-sends an idempotent request on a
     * keep-alive connection closed under it). A lone app is restarted in place: nothing can cover it.
     */
    const rollApps = async (target: Topology) => {
      const all = appNodes(target);
      for (const app of all) {
        await step(log, `restart ${app.name} (out of nginx, drain, start, ready, back)`, async () => {
          if (all.length > 1) {
            writeNginxConfig(state, root, target, all.filter((a) => a !== app).map((a) => a.port));
            await reloadNginx(lbPid!);
          }
          await stopApp(state, app.name, target.drainMs);
          await startApp({ root, state, topology: target, app, secrets });
          if (all.length > 1) {
            writeNginxConfig(state, root, target, all.map((a) => a.port));
            await reloadNginx(lbPid!);
          }
        });
      }
    };

    // 1. More DB replicas: clone and stream them, then let every app know the new node list.
    if (newT.dbReplicas > oldT.dbReplicas) {
      const grown = localTopology({ dbReplicas: newT.dbReplicas }, t);
      const primary = await livePrimary(state, t);
      const added = pgNodes(state, grown).filter((n) => !pgNodes(state, t).some((o) => o.node.name === n.node.name));
      for (const { db, node } of added) {
        state.linkPgLog(node.name);
        if (hasData(node)) rmSync(node.dataDir, { recursive: true, force: true }); // an old, diverged copy
        await step(log, `pg_basebackup ${node.name} from ${primary.name}`, () => createReplica(primary, node, { slotName: db.slotName, settings: pgSettings(grown, node.name, true) }));
        await step(log, `start ${node.name}`, () => startPostgres(node));
        state.writePid(node.name, postmasterPid(node)!);
      }
      await waitForStreaming(primary, added.map((a) => a.db.slotName));
      save(grown);
      await ensureCandidateSlots(state, t);
      await applySyncSettings(state, t);
      await rollApps(t);
    }

    // 2. App count.
    if (newT.appReplicas > t.appReplicas) {
      const grown = localTopology({ apps: newT.appReplicas }, t);
      const added = appNodes(grown).slice(t.appReplicas);
      // The pool per app is fixed and max_connections is sized for maxAppReplicas (the topology
      // refuses more), so the running apps keep their environment: only the new ones start.
      await step(log, `start ${added.map((a) => a.name).join(', ')}`, () => startApps(root, state, grown, added));
      writeNginxConfig(state, root, grown, appNodes(grown).map((a) => a.port));
      await step(log, 'reload nginx', () => reloadNginx(lbPid!));
      save(grown);
    } else if (newT.appReplicas < t.appReplicas) {
      const shrunk = localTopology({ apps: newT.appReplicas }, t);
      const removed = appNodes(t).slice(newT.appReplicas).map((a) => a.name);
      await retireApps(removed, appNodes(shrunk).map((a) => a.port));
      save(shrunk);
    }

    // 3. Fewer DB replicas: apps stop using them first, then they stop, their slots are dropped.
    if (newT.dbReplicas < t.dbReplicas) {
      const shrunk = localTopology({ dbReplicas: newT.dbReplicas }, t);
      const primary = await livePrimary(state, t);
      const removed = pgNodes(state, t).filter((n) => !pgNodes(state, shrunk).some((k) => k.node.name === n.node.name));
      if (removed.some((r) => r.node.name === primary.name)) throw new PreflightError(`cannot remove ${primary.name}: it is the primary; fail over first`);
      await rollApps(shrunk);
      save(shrunk);
      await applySyncSettings(state, t); // before the replicas leave, so a quorum never waits on them
      for (const { db, node } of removed) {
        await step(log, `stop ${node.name}`, () => stopPostgresAndWait(node));
        state.removePid(node.name);
        for (const { node: other } of pgNodes(state, t)) {
          if (postmasterPid(other)) await superuserQuery(other, 'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active', [db.slotName]);
        }
        rmSync(node.dataDir, { recursive: true, force: true });
      }
    }
    // Scrape targets follow the new shape (a no-op without `up --monitoring`).
    await syncMonitoring(state.root);
    return { topology: t };
  } finally {
    release();
  }
}
