import pg from 'pg';
import type { Topology } from '../topology';
import { startApp, stopApp } from '../local/app-processes';
import { appNodes, pgNodes, redisNodes } from '../local/cluster-layout';
import { failoverLocalCluster } from '../local/failover';
import { postmasterPid, stopPostgres, superuserQuery, type PgNode } from '../local/postgres';
import { isAlive, sleep } from '../local/process';
import { startRedis, stopRedis } from '../local/redis';
import { restartPgNode, type StandbyNode } from '../local/rejoin';
import { livePrimary, scale as scaleCluster } from '../local/runner';
import { projectRoot, StateDir } from '../local/state';
import { clusterStatus } from '../local/status';
import type { ClusterDriver, DriverNode, PromotionResult } from './cluster-driver';
import { signalTree } from './process-tree';

// The drill driver for the local cluster: acts on the processes recorded in the state dir through
// the same functions the operator's commands use: failover and switchover are
// infra/local/failover.ts's failoverLocalCluster (what `aidiary failover [--planned]` runs once
// confirmed: a drill is the deliberate fault, so it is the `--yes` case), scaling is the runner's
// scale (`aidiary scale`), a PostgreSQL node comes back through infra/local/rejoin.ts (what `up`
// uses). A PostgreSQL node is killed and frozen as a whole process tree (process-tree.ts): the
// postmaster and every backend, as a crash or a frozen host would.

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

  /** The pid of a running node: a PostgreSQL node's postmaster, else the node's recorded pid. */
  private runningPid(name: string): number {
    const pid = name.startsWith('pg-') ? postmasterPid(this.pgNode(name)) : this.state.readPid(name);
    if (!pid || !isAlive(pid)) throw new Error(`${name} is not running`);
    return pid;
  }

  /** Signals a node: a PostgreSQL node's whole process tree (postmaster and every backend), else its one process. */
  private signalNode(name: string, sig: NodeJS.Signals): number[] {
    const pid = this.runningPid(name);
    if (name.startsWith('pg-')) return signalTree(pid, sig);
    process.kill(pid, sig);
    return [pid];
  }

  async killNode(name: string, signal: NodeJS.Signals = 'SIGKILL') {
    const pids = this.signalNode(name, signal);
    if (signal === 'SIGKILL') {
      const deadline = Date.now() + 5000;
      while (pids.some(isAlive) && Date.now() < deadline) await sleep(10);
    }
  }

  /** Freezes every process of the node: connections stay open and nothing answers (a partition as clients see it). */
  async pause(name: string) {
    const pids = this.signalNode(name, 'SIGSTOP');
    this.log(`${name}: froze ${pids.length} process(es)`);
  }

  /** Resumes every process of the node; a no-op for running ones, so it is safe to repeat (the interrupt undo). */
  async resume(name: string) {
    const pid = name.startsWith('pg-') ? postmasterPid(this.pgNode(name)) : this.state.readPid(name);
    if (!pid || !isAlive(pid)) return; // gone: nothing left frozen
    if (name.startsWith('pg-')) signalTree(pid, 'SIGCONT');
    else process.kill(pid, 'SIGCONT');
  }

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

  /** The running primary, if any (by role, not by name): the runner's lookup. */
  async currentPrimary(): Promise<PgNode | null> {
    return livePrimary(this.state, this.topology()).catch(() => null);
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
      const nodes = this.standbyNodes();
      const node = nodes.find((n) => n.name === name);
      if (!node) throw new Error(`no PostgreSQL node ${name} in the topology`);
      const how = await restartPgNode(node, nodes, await this.currentPrimary(), this.log);
      if (how !== 'running' && how !== 'started') this.log(`${name}: back as ${how === 'primary' ? 'the primary' : `a standby (${how})`}`);
      this.state.writePid(name, postmasterPid(node)!);
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

  /** The nodes as infra/local/failover.ts and rejoin.ts take them (with their slot names). */
  private standbyNodes(): StandbyNode[] {
    return pgNodes(this.state, this.topology()).map(({ db, node }) => ({ ...node, slotName: db.slotName }));
  }

  /** Unplanned: `aidiary failover --yes` (fence, promote the most advanced replica, the old primary rejoins). */
  async failover(to?: string): Promise<PromotionResult> {
    const r = await failoverLocalCluster(this.state, this.topology(), { to, log: this.log });
    return { promoted: r.newPrimary, elapsedMs: r.durationMs };
  }

  /** Planned: `aidiary failover --planned` (clean stop once the target has every WAL record, promote, rejoin). */
  async switchover(to?: string): Promise<PromotionResult> {
    const r = await failoverLocalCluster(this.state, this.topology(), { to, planned: true, log: this.log });
    return { promoted: r.newPrimary, elapsedMs: r.durationMs };
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
