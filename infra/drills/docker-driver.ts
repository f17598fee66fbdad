import { jsonRowsSql, psqlRows, type ClusterDriver, type CommandExecutor, type DriverNode, type NodeKind, type PromotionResult } from './cluster-driver';
import { systemExecutor } from './command-executor';

// The drill driver for the Docker staging stack (infra/docker). App containers have generated
// names, so every container is found by its labels (container-labels.ts):
// aidiary.stack=<stack>, aidiary.instance=<node>. Faults are the documented Docker commands:
// `docker kill`, `docker stop`, `docker start`, `docker pause`/`unpause` (a frozen container keeps
// its sockets but answers nothing: what clients see in a partition). PostgreSQL is reached with
// `docker exec -u postgres <id> psql`.

export interface DockerDriverOptions {
  /** Value of the aidiary.stack label (the topology name of the staging stack). */
  stack: string;
  /** Pulumi stack that owns the replica counts (`pulumi config set` + `pulumi up`). */
  pulumiStack: string;
  lbUrl: string;
  database: string;
  admin: { username: string; password: string };
  exec?: CommandExecutor;
  /** How long `docker stop` lets an app drain before SIGKILL. */
  stopTimeoutSeconds?: number;
}

const kindOf = (role: string): NodeKind | null =>
  role === 'app' ? 'app' : role === 'postgres' ? 'postgres' : role === 'redis' ? 'redis' : role === 'nginx' || role === 'lb' ? 'lb' : null;

interface PsLine { ID: string; Labels: string; State: string; Status: string }

export class DockerDriver implements ClusterDriver {
  readonly kind = 'docker' as const;
  private readonly exec: CommandExecutor;

  constructor(private readonly opts: DockerDriverOptions) {
    this.exec = opts.exec ?? systemExecutor();
  }

  async baseUrl() { return this.opts.lbUrl.replace(/\/$/, ''); }
  async adminCredentials() { return this.opts.admin; }
  async close() {}

  /** The container id of a node (docker ps -a, filtered by labels). */
  async containerId(name: string): Promise<string> {
    const { stdout } = await this.exec('docker', [
      'ps', '-a', '--filter', `label=aidiary.stack=${this.opts.stack}`, '--filter', `label=aidiary.instance=${name}`, '--format', '{{.ID}}',
    ]);
    const id = stdout.trim().split('\n').filter(Boolean)[0];
    if (!id) throw new Error(`no container labelled aidiary.instance=${name} in stack ${this.opts.stack}`);
    return id;
  }

  async listNodes(): Promise<DriverNode[]> {
    const { stdout } = await this.exec('docker', ['ps', '-a', '--filter', `label=aidiary.stack=${this.opts.stack}`, '--format', '{{json .}}']);
    const nodes: DriverNode[] = [];
    for (const line of stdout.split('\n').filter((l) => l.trim())) {
      const ps = JSON.parse(line) as PsLine;
      const labels = Object.fromEntries(ps.Labels.split(',').map((kv) => kv.split('=') as [string, string]));
      const kind = kindOf(labels['aidiary.role'] ?? '');
      const name = labels['aidiary.instance'];
      if (!kind || !name) continue;
      // "Up 3 minutes (healthy)"; containers without a healthcheck count as healthy while running.
      const healthy = ps.State === 'running' && !/\((unhealthy|health: starting)\)/.test(ps.Status);
      const node: DriverNode = { name, kind, healthy };
      if (kind === 'redis') node.role = name.endsWith('cache') ? 'cache' : 'sessions';
      if (kind === 'postgres' && healthy) node.role = (await this.inRecovery(name).catch(() => null)) ? 'replica' : 'primary';
      nodes.push(node);
    }
    return nodes.sort((a, b) => a.name.localeCompare(b.name));
  }

  async killNode(name: string, signal: NodeJS.Signals = 'SIGKILL') {
    await this.exec('docker', ['kill', '--signal', signal, await this.containerId(name)]);
  }

  async stopNode(name: string) {
    await this.exec('docker', ['stop', '--time', String(this.opts.stopTimeoutSeconds ?? 30), await this.containerId(name)]);
  }

  async startNode(name: string) {
    await this.exec('docker', ['start', await this.containerId(name)]);
  }

  async pause(name: string) {
    await this.exec('docker', ['pause', await this.containerId(name)]);
  }

  async resume(name: string) {
    await this.exec('docker', ['unpause', await this.containerId(name)]);
  }

  private async psql(name: string, sql: string, database = 'postgres'): Promise<string> {
    const { stdout } = await this.exec('docker', ['exec', '-u', 'postgres', await this.containerId(name), 'psql', '-d', database, '-At', '-v', 'ON_ERROR_STOP=1', '-c', sql]);
    return stdout.trim();
  }

  private async inRecovery(name: string): Promise<boolean> {
    return (await this.psql(name, 'SELECT pg_is_in_recovery()')) === 't';
  }

  private async pgNames(): Promise<string[]> {
    return (await this.listNodes()).filter((n) => n.kind === 'postgres').map((n) => n.name);
  }

  async checkDbNode(name: string, timeoutMs: number): Promise<boolean> {
    try {
      await this.exec('docker', ['exec', '-u', 'postgres', await this.containerId(name), 'pg_isready', '-t', String(Math.max(1, Math.ceil(timeoutMs / 1000)))]);
      return true;
    } catch {
      return false;
    }
  }

  private async primaryName(): Promise<string> {
    for (const name of await this.pgNames()) if (!(await this.inRecovery(name).catch(() => true))) return name;
    throw new Error('no PostgreSQL container answers as primary');
  }

  async primaryQuery<R extends Record<string, unknown>>(sql: string): Promise<R[]> {
    return psqlRows<R>(await this.psql(await this.primaryName(), jsonRowsSql(sql), this.opts.database));
  }

  async replicationState() {
    const primary = await this.primaryName();
    const expected = (await this.pgNames()).filter((n) => n !== primary);
    const rows = psqlRows<{ name: string }>(await this.psql(primary, jsonRowsSql("SELECT application_name AS name FROM pg_stat_replication WHERE state = 'streaming'")));
    return { expected, streaming: rows.map((r) => r.name) };
  }

  /** Most advanced replica by replay LSN (when no target is named). */
  private async mostAdvancedReplica(exclude: string[]): Promise<string> {
    let best: { name: string; lsn: bigint } | null = null;
    for (const name of (await this.pgNames()).filter((n) => !exclude.includes(n))) {
      const out = await this.psql(name, "SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')::bigint").catch(() => '');
      if (!/^\d+$/.test(out)) continue;
      if (!best || BigInt(out) > best.lsn) best = { name, lsn: BigInt(out) };
    }
    if (!best) throw new Error('no replica answers; nothing to promote');
    return best.name;
  }

  /** pg_promote() on the target, then every other standby re-points at it (host = its network alias). */
  private async promote(to: string | undefined, exclude: string[]): Promise<PromotionResult> {
    const started = Date.now();
    const target = to ?? (await this.mostAdvancedReplica(exclude));
    await this.psql(target, 'SELECT pg_promote(true, 60)');
    for (const other of (await this.pgNames()).filter((n) => n !== target && !exclude.includes(n))) {
      const conninfo = await this.psql(other, 'SHOW primary_conninfo').catch(() => '');
      if (!conninfo) continue;
      const repointed = conninfo.replace(/host=\S+/, `host=${target}`).replace(/'/g, "''");
      await this.psql(other, `ALTER SYSTEM SET primary_conninfo = '${repointed}'`);
      await this.psql(other, 'SELECT pg_reload_conf()');
    }
    return { promoted: target, elapsedMs: Date.now() - started };
  }

  async failover(to?: string) {
    const nodes = await this.listNodes();
    const down = nodes.filter((n) => n.kind === 'postgres' && !n.healthy).map((n) => n.name);
    return this.promote(to, down);
  }

  /** Planned: checkpoint and stop the primary, promote, then start the old one (it needs pg_rewind to rejoin; see README). */
  async switchover(to?: string) {
    const old = await this.primaryName();
    await this.psql(old, 'CHECKPOINT');
    await this.stopNode(old);
    return this.promote(to, [old]);
  }

  async scale(counts: { apps?: number; dbReplicas?: number }) {
    const s = this.opts.pulumiStack;
    if (counts.apps !== undefined) await this.exec('pulumi', ['config', 'set', '--stack', s, 'appReplicas', String(counts.apps)]);
    if (counts.dbReplicas !== undefined) await this.exec('pulumi', ['config', 'set', '--stack', s, 'dbReplicas', String(counts.dbReplicas)]);
    await this.exec('pulumi', ['up', '--stack', s, '--yes', '--skip-preview']);
  }

  async waitHealthy(timeoutMs: number) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const sick = (await this.listNodes()).filter((n) => !n.healthy).map((n) => n.name);
      if (!sick.length) return;
      if (Date.now() > deadline) throw new Error(`not healthy after ${timeoutMs} ms: ${sick.join(', ')}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}
