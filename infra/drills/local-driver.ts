import { rmSync } from 'node:fs';
import pg from 'pg';
import { synchronousStandbyNames, type Topology } from '../topology';
import { main as aidiary } from '../cli/main';
import { startApp, stopApp } from '../local/app-processes';
import { appNodes, isPrimaryDataDir, pgNodes, redisNodes } from '../local/cluster-layout';
import {
  createReplica, ensureSlot, isInRecovery, postmasterPid, startPostgres, stopPostgres, superuserQuery, waitForPostgres, type PgNode,
} from '../local/postgres';
import { isAlive, sleep } from '../local/process';
import { startRedis, stopRedis } from '../local/redis';
import { scale as scaleCluster } from '../local/runner';
import { projectRoot, StateDir } from '../local/state';
import { clusterStatus } from '../local/status';
import type { ClusterDriver, DriverNode, PromotionResult } from './cluster-driver';

// The drill driver for the local cluster: acts on the processes recorded in the state dir with the
// local runner's primitives (infra/local/*). PostgreSQL is killed and frozen as a process group
// (pg_ctl starts the postmaster with setsid, so -pid reaches it and every backend: a crash or a
// frozen host, not just one process). Failover goes through `aidiary failover --yes`, the
// operator's command (infra/cli/commands/failover.ts → infra/local/failover.ts).

export interface LocalDriverOptions {
  stateDir: string;
  log?: (message: string) => void;
}

export class LocalDriver implements ClusterDriver {
  readonly kind = 'local' as const;
  readonly state: StateDir;
  private readonly log: (message: string) => void;

  constructor(opts: LocalDriverOptions) {
    this.state = new StateDir(opts.stateDir);
    this.log = opts.log ?? (() => {});
    if (!this.state.read()) throw new Error(`no cluster in ${opts.stateDir}; run \`aidiary up --detach\` first`);
  }

  topology(): Topology {
    return this.state.read()!.topology;
  }

  async baseUrl() {
    const t = this.topology();
    return `http://${t.host}:${t.ports.lb}`;
  }

  async adminCredentials() {
    return { username: 'admin', password: this.state.readSecret(this.state.adminPasswordFile) };
  }

  async close() {}

  pgNode(name: string): PgNode {
    const found = pgNodes(this.state, this.topology()).find((n) => n.node.name === name);
    if (!found) throw new Error(`no PostgreSQL node ${name} in the topology`);
    return found.node;
  }

  async listNodes(): Promise<DriverNode[]> {
    const s = await clusterStatus(this.state.root);
    return [
      { name: s.lb.name, kind: 'lb' as const, healthy: s.lb.healthy },
      ...s.apps.map((a) => ({ name: a.name, kind: 'app' as const, healthy: a.healthy })),
      ...s.postgres.map((p) => ({ name: p.name, kind: 'postgres' as const, role: p.role, healthy: p.healthy })),
      ...s.redis.map((r) => ({ name: r.name, kind: 'redis' as const, role: r.role, healthy: r.healthy })),
    ];
  }

  /** The pid to signal: a PostgreSQL node's process group, else the node's recorded pid. */
  private target(name: string): number {
    if (name.startsWith('pg-')) {
      const pid = postmasterPid(this.pgNode(name));
      if (!pid) throw new Error(`${name} is not running`);
      return -pid;
    }
    const pid = this.state.readPid(name);
    if (!pid || !isAlive(pid)) throw new Error(`${name} is not running`);
    return pid;
  }

  async killNode(name: string, signal: NodeJS.Signals = 'SIGKILL') {
    const target = this.target(name);
    process.kill(target, signal);
    if (signal === 'SIGKILL') {
      const pid = Math.abs(target);
      const deadline = Date.now() + 5000;
      while (isAlive(pid) && Date.now() < deadline) await sleep(10);
    }
  }

  async pause(name: string) { process.kill(this.target(name), 'SIGSTOP'); }
  async resume(name: string) { process.kill(this.target(name), 'SIGCONT'); }

  async stopNode(name: string) {
    const t = this.topology();
    if (name.startsWith('app-')) return stopApp(this.state, name, t.drainMs);
    if (name.startsWith('pg-')) {
      await stopPostgres(this.pgNode(name), 'fast');
      this.state.removePid(name);
      return;
    }
    if (name.startsWith('redis-')) {
      const pid = this.state.readPid(name);
      if (pid) await stopRedis(pid);
      this.state.removePid(name);
      return;
    }
    throw new Error(`stopNode ${name}: not supported locally (stop the whole cluster with \`aidiary down\`)`);
  }

  private settingsFor(t: Topology, name: string) {
    return { maxConnections: t.database.maxConnections, synchronousStandbyNames: synchronousStandbyNames(t, name) };
  }

  /** The running primary, if any (by role, not by name). */
  async currentPrimary(): Promise<PgNode | null> {
    for (const { node } of pgNodes(this.state, this.topology())) {
      if (!postmasterPid(node)) continue;
      try {
        if (!(await isInRecovery(node))) return node;
      } catch {
        /* not answering */
      }
    }
    return null;
  }

  async startNode(name: string) {
    const t = this.topology();
    if (name.startsWith('app-')) {
      const app = appNodes(t).find((a) => a.name === name);
      if (!app) throw new Error(`no app ${name} in the topology`);
      if (isAlive(this.state.readPid(name))) throw new Error(`${name} is already running`);
      const secrets = this.state.appSecretRefs();
      await startApp({ root: projectRoot(), state: this.state, topology: t, app, secrets });
      await this.waitUntilEdgeServesFrom(name, (t.nginx.failTimeoutSeconds + 3) * 1000);
      return;
    }
    if (name.startsWith('pg-')) {
      const node = this.pgNode(name);
      const primary = await this.currentPrimary();
      if (primary && primary.name !== name && isPrimaryDataDir(node)) {
        await this.rejoinAsReplica(name, primary);
        return;
      }
      if (!postmasterPid(node)) {
        try {
          await startPostgres(node);
        } catch (err) {
          if (!primary || primary.name === name) throw err;
          this.log(`${name} does not start (${(err as Error).message.split('\n')[0]}); re-cloning it`);
          await this.rejoinAsReplica(name, primary);
          return;
        }
      }
      this.state.writePid(name, postmasterPid(node)!);
      await waitForPostgres(node);
      // A standby that cannot follow the primary (e.g. a timeline it is not a child of) is re-cloned.
      if (primary && primary.name !== name && !(await this.streamsWithin(node, 15_000))) {
        this.log(`${name} does not stream from ${primary.name}; re-cloning it`);
        await this.rejoinAsReplica(name, primary);
      }
      return;
    }
    if (name.startsWith('redis-')) {
      const r = redisNodes(this.state, t).find((x) => x.name === name);
      if (!r) throw new Error(`no ${name} in the topology`);
      this.state.writePid(name, await startRedis(r));
      return;
    }
    throw new Error(`startNode ${name}: not supported locally`);
  }

  /**
   * nginx keeps an app that refused connections marked failed for fail_timeout even after it is
   * back. Returning before nginx uses it again let a rolling restart stop the next app while the
   * previous one was still marked failed: with every app marked, nginx answered 502 ("no live
   * upstreams"). So an app counts as started once a request through the edge is served by it
   * (X-Served-By); past the deadline the caller goes on and the drill's figures show the cost.
   */
  private async waitUntilEdgeServesFrom(name: string, timeoutMs: number): Promise<void> {
    const url = `${await this.baseUrl()}/api/auth/me`; // uncached, answered by the app (401 when anonymous)
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
        await res.arrayBuffer();
        if (res.headers.get('x-served-by') === name) return;
      } catch {
        /* the edge is busy or restarting: try again */
      }
      await sleep(100);
    }
  }

  /** True once the standby's WAL receiver streams (checked on the standby itself). */
  private async streamsWithin(node: PgNode, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!postmasterPid(node)) return false;
      try {
        const rows = await superuserQuery<{ s: string }>(node, 'SELECT status AS s FROM pg_stat_wal_receiver');
        if (rows[0]?.s === 'streaming') return true;
      } catch {
        /* starting up or gone */
      }
      await sleep(200);
    }
    return false;
  }

  /**
   * An old primary comes back as a replica of the new one. It may hold WAL the new primary never
   * saw (it crashed), so it is re-cloned with pg_basebackup (about a second on a small database)
   * rather than rewound: simpler and always correct.
   */
  async rejoinAsReplica(name: string, primary: PgNode): Promise<void> {
    const t = this.topology();
    const node = this.pgNode(name);
    const db = pgNodes(this.state, t).find((n) => n.node.name === name)!.db;
    if (postmasterPid(node)) await stopPostgres(node, 'immediate');
    rmSync(node.dataDir, { recursive: true, force: true });
    this.log(`re-clone ${name} from ${primary.name}`);
    await createReplica(primary, node, { slotName: db.slotName, settings: this.settingsFor(t, name) });
    await startPostgres(node);
    this.state.writePid(name, postmasterPid(node)!);
    await waitForPostgres(node);
    // Promotion candidates keep a slot for every peer (as `aidiary up` does).
    for (const peer of pgNodes(this.state, t)) if (peer.node.name !== name) await ensureSlot(node, peer.db.slotName);
  }

  async failover(to?: string): Promise<PromotionResult> {
    const started = Date.now();
    // The operator's command, confirmed up front (the drill is the deliberate fault); any non-zero
    // exit is a failed failover (2 is a usage error, no longer a signal to promote some other way).
    const args = ['failover', '--yes', '--state-dir', this.state.root, ...(to ? ['--to', to] : [])];
    const code = await aidiary(args);
    if (code !== 0) throw new Error(`aidiary ${args.join(' ')} exited ${code}; its message is above`);
    const primary = await this.currentPrimary();
    if (!primary) throw new Error('aidiary failover returned 0 but no primary answers');
    return { promoted: primary.name, elapsedMs: Date.now() - started };
  }

  /** Planned: fast shutdown of the primary (its WAL reaches the standbys), promote, old primary rejoins. */
  async switchover(to?: string): Promise<PromotionResult> {
    const started = Date.now();
    const old = await this.currentPrimary();
    if (!old) throw new Error('no running primary to switch over from');
    await superuserQuery(old, 'CHECKPOINT');
    await stopPostgres(old, 'fast');
    const result = await this.failover(to);
    const primary = this.pgNode(result.promoted);
    await this.rejoinAsReplica(old.name, primary);
    return { promoted: result.promoted, elapsedMs: Date.now() - started };
  }

  async scale(counts: { apps?: number; dbReplicas?: number }) {
    await scaleCluster({ stateDir: this.state.root, apps: counts.apps, dbReplicas: counts.dbReplicas, log: this.log });
  }

  async waitHealthy(timeoutMs: number) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const sick = (await this.listNodes()).filter((n) => !n.healthy).map((n) => n.name);
      if (!sick.length) return;
      if (Date.now() > deadline) throw new Error(`not healthy after ${timeoutMs} ms: ${sick.join(', ')}`);
      await sleep(200);
    }
  }

  async checkDbNode(name: string, timeoutMs: number): Promise<boolean> {
    const node = this.pgNode(name);
    const client = new pg.Client({ host: node.socketDir, port: node.port, user: 'postgres', database: 'postgres', connectionTimeoutMillis: timeoutMs, query_timeout: timeoutMs });
    client.on('error', () => { /* a failed check is the answer */ });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return true;
    } catch {
      return false;
    } finally {
      client.end().catch(() => {});
    }
  }

  async primaryQuery<R extends Record<string, unknown>>(sql: string): Promise<R[]> {
    const primary = await this.currentPrimary();
    if (!primary) throw new Error('no running primary');
    return superuserQuery<R>(primary, sql, [], this.topology().database.name);
  }

  async replicationState() {
    const t = this.topology();
    const primary = await this.currentPrimary();
    if (!primary) throw new Error('no running primary');
    const expected = pgNodes(this.state, t).filter((n) => n.node.name !== primary.name).map((n) => n.db.slotName);
    const rows = await superuserQuery<{ name: string }>(primary, "SELECT application_name AS name FROM pg_stat_replication WHERE state = 'streaming'");
    return { expected, streaming: rows.map((r) => r.name) };
  }
}
