import { parseTopology, synchronousStandbyNames } from '../topology';
import { jsonRowsSql, psqlRows, sqlLiteral, type ClusterDriver, type CommandExecutor, type DriverNode, type NodeKind, type PromotionResult } from './cluster-driver';
import { systemExecutor } from './command-executor';

// The drill driver for the Docker staging stack (infra/docker). App containers have generated
// names, so every container is found by its labels (container-labels.ts):
// aidiary.stack=<stack>, aidiary.instance=<node>. Faults are the documented Docker commands:
// `docker kill`, `docker stop`, `docker start`, `docker pause`/`unpause` (a frozen container keeps
// its sockets but answers nothing: what clients see in a partition). PostgreSQL is reached with
// `docker exec -u postgres <id> psql`.
//
// A failover follows infra/local/failover.ts's order: fence every PostgreSQL container that is not
// a streaming standby (restart policy off, then killed), set the quorum over the new primary's peers,
// promote, give it a slot per follower and re-point the other standbys, then
// record the new primary in the Pulumi stack (`pulumi config set primaryIndex K`), so the next
// `pulumi up` re-creates the fenced node as a replica of the new primary instead of starting it as
// a primary again. Bringing the fenced node back is that `pulumi up`.

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
  log?: (message: string) => void;
}

/**
 * Node kinds by the aidiary.role label infra/docker/* gives the long-running containers. One-shots
 * and exporters (postgres-sync-config, postgres-exporter, …) carry a node's instance name too
 * (pg-0), so a node's container is chosen by role as well as by instance.
 */
const nodeRoles: Record<string, NodeKind> = {
  app: 'app', lb: 'lb', 'postgres-primary': 'postgres', 'postgres-replica': 'postgres', 'redis-sessions': 'redis', 'redis-cache': 'redis',
};

interface PsLine { ID: string; Labels: string; State: string; Status: string }

interface Container { id: string; name: string; kind: NodeKind; running: boolean; healthy: boolean }

function parseLabels(text: string): Record<string, string> {
  return Object.fromEntries(text.split(',').map((kv) => {
    const i = kv.indexOf('=');
    return [kv.slice(0, i), kv.slice(i + 1)];
  }));
}

export class DockerDriver implements ClusterDriver {
  readonly kind = 'docker' as const;
  private readonly exec: CommandExecutor;
  private readonly log: (message: string) => void;

  constructor(private readonly opts: DockerDriverOptions) {
    this.exec = opts.exec ?? systemExecutor();
    this.log = opts.log ?? (() => {});
  }

  async baseUrl() { return this.opts.lbUrl.replace(/\/$/, ''); }
  async adminCredentials() { return this.opts.admin; }
  async close() {}

  /** Every node container of the stack (docker ps -a, filtered by the stack label), one per node: the running one when a replacement left two. */
  private async containers(): Promise<Container[]> {
    const { stdout } = await this.exec('docker', ['ps', '-a', '--filter', `label=aidiary.stack=${this.opts.stack}`, '--format', '{{json .}}']);
    const byName = new Map<string, Container>();
    for (const line of stdout.split('\n').filter((l) => l.trim())) {
      const ps = JSON.parse(line) as PsLine;
      const labels = parseLabels(ps.Labels);
      const kind = nodeRoles[labels['aidiary.role'] ?? ''];
      const name = labels['aidiary.instance'];
      if (!kind || !name) continue;
      const running = ps.State === 'running';
      // "Up 3 minutes (healthy)"; containers without a healthcheck count as healthy while running.
      const c: Container = { id: ps.ID, name, kind, running, healthy: running && !/\((unhealthy|health: starting)\)/.test(ps.Status) };
      if (!byName.get(name)?.running) byName.set(name, c);
    }
    return [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** The container id of a node. */
  async containerId(name: string): Promise<string> {
    const c = (await this.containers()).find((x) => x.name === name);
    if (!c) throw new Error(`no container labelled aidiary.instance=${name} (a node role) in stack ${this.opts.stack}`);
    return c.id;
  }

  async listNodes(): Promise<DriverNode[]> {
    const nodes: DriverNode[] = [];
    for (const c of await this.containers()) {
      const node: DriverNode = { name: c.name, kind: c.kind, healthy: c.healthy };
      if (c.kind === 'redis') node.role = c.name.endsWith('cache') ? 'cache' : 'sessions';
      if (c.kind === 'postgres' && c.healthy) node.role = (await this.inRecovery(c.id).catch(() => null)) ? 'replica' : 'primary';
      nodes.push(node);
    }
    return nodes;
  }

  async killNode(name: string, signal: NodeJS.Signals = 'SIGKILL') {
    await this.exec('docker', ['kill', '--signal', signal, await this.containerId(name)]);
  }

  async stopNode(name: string) {
    await this.exec('docker', ['stop', '--time', String(this.opts.stopTimeoutSeconds ?? 30), await this.containerId(name)]);
  }

  async pause(name: string) {
    await this.exec('docker', ['pause', await this.containerId(name)]);
  }

  /** Safe to repeat (the interrupt undo runs it after a normal resume too): "not paused" is success. */
  async resume(name: string) {
    try {
      await this.exec('docker', ['unpause', await this.containerId(name)]);
    } catch (err) {
      if (!/is not paused/.test((err as Error).message)) throw err;
    }
  }

  /** psql in a container, by container id. */
  private async psqlIn(id: string, sql: string, database = 'postgres'): Promise<string> {
    const { stdout } = await this.exec('docker', ['exec', '-u', 'postgres', id, 'psql', '-d', database, '-At', '-v', 'ON_ERROR_STOP=1', '-c', sql]);
    return stdout.trim();
  }

  private async psql(name: string, sql: string, database = 'postgres'): Promise<string> {
    return this.psqlIn(await this.containerId(name), sql, database);
  }

  private async inRecovery(id: string): Promise<boolean> {
    return (await this.psqlIn(id, 'SELECT pg_is_in_recovery()')) === 't';
  }

  private async pgContainers(): Promise<Container[]> {
    return (await this.containers()).filter((c) => c.kind === 'postgres');
  }

  private async pgNames(): Promise<string[]> {
    return (await this.pgContainers()).map((c) => c.name);
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
    for (const c of await this.pgContainers()) if (c.running && !(await this.inRecovery(c.id).catch(() => true))) return c.name;
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

  /** The running standbys (answering pg_is_in_recovery() = true) with their received WAL position in bytes. */
  private async standbys(): Promise<{ c: Container; lsn: bigint }[]> {
    const found: { c: Container; lsn: bigint }[] = [];
    for (const c of (await this.pgContainers()).filter((x) => x.running)) {
      const out = await this.psqlIn(c.id, "SELECT pg_is_in_recovery(), pg_wal_lsn_diff(coalesce(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), '0/0')::bigint").catch(() => '');
      const [rec, lsn] = out.split('|');
      if (rec === 't' && /^\d+$/.test(lsn ?? '')) found.push({ c, lsn: BigInt(lsn) });
    }
    return found;
  }

  /**
   * Fences a node that may still take writes: restart policy off, then SIGKILL when it runs.
   * `docker kill` alone suspends the policy only until the container is next started; the policy
   * off also marks the node as fenced, so startNode brings it back through the stack (as a
   * replica), never with a plain `docker start` that would make it a second primary.
   */
  private async fence(c: Container): Promise<void> {
    this.log(`${c.name}: fencing (restart policy off${c.running ? ', docker kill' : ''})`);
    await this.exec('docker', ['update', '--restart=no', c.id]);
    if (c.running) await this.exec('docker', ['kill', '--signal', 'SIGKILL', c.id]);
  }

  /** Promotes `target` (or the most advanced standby), re-points the others, records it in the stack. */
  private async promote(to: string | undefined, started: number): Promise<PromotionResult> {
    const standbys = await this.standbys();
    const best = [...standbys].sort((a, b) => (b.lsn > a.lsn ? 1 : b.lsn < a.lsn ? -1 : 0))[0];
    const target = to ? standbys.find((s) => s.c.name === to) : best;
    if (!target) throw new Error(to ? `${to} is not a running standby` : 'no standby answers; nothing to promote');
    const others = standbys.filter((s) => s !== target);
    // The durability rule over the new primary's peers, in place before it takes a write (the
    // stack's default durability; the next pulumi up's sync-config one-shot applies the configured one).
    const t = parseTopology({ target: 'docker', host: '0.0.0.0', dbReplicas: (await this.pgContainers()).length - 1 });
    const names = synchronousStandbyNames(t, target.c.name);
    await this.psqlIn(target.c.id, `ALTER SYSTEM SET synchronous_standby_names = ${sqlLiteral(names)}`);
    await this.psqlIn(target.c.id, 'SELECT pg_reload_conf()');
    this.log(`promoting ${target.c.name} (synchronous_standby_names = '${names}')`);
    await this.psqlIn(target.c.id, 'SELECT pg_promote(true, 60)');
    for (const { c } of others) {
      // Physical slots are not replicated: the new primary gets one for each standby that follows it.
      const slot = sqlLiteral(c.name.replace('-', '_'));
      await this.psqlIn(target.c.id, `SELECT pg_create_physical_replication_slot(${slot}) WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = ${slot})`);
      const conninfo = await this.psqlIn(c.id, 'SHOW primary_conninfo').catch(() => '');
      if (!conninfo) continue;
      const repointed = conninfo.replace(/host=\S+/, `host=${target.c.name}`).replace(/'/g, "''");
      await this.psqlIn(c.id, `ALTER SYSTEM SET primary_conninfo = '${repointed}'`);
      await this.psqlIn(c.id, 'SELECT pg_reload_conf()');
      this.log(`${c.name}: now follows ${target.c.name}`);
    }
    await this.recordPrimary(target.c.name);
    return { promoted: target.c.name, elapsedMs: Date.now() - started };
  }

  /**
   * Tells the staging stack which node is the primary (infra/docker/database.ts reads
   * `primaryIndex`): without it the next `pulumi up` would start pg-0 as a primary again.
   */
  private async recordPrimary(name: string): Promise<void> {
    const index = /^pg-(\d+)$/.exec(name)?.[1];
    if (index === undefined) throw new Error(`${name}: not a pg-K node; cannot record it as the stack's primary`);
    await this.exec('pulumi', ['config', 'set', '--stack', this.opts.pulumiStack, 'primaryIndex', index]);
  }

  /** Unplanned: fence everything that is not a running standby (except the target), then promote. */
  async failover(to?: string) {
    const started = Date.now();
    const standbys = new Set((await this.standbys()).map((s) => s.c.name));
    for (const c of await this.pgContainers()) if (!standbys.has(c.name) && c.name !== to) await this.fence(c);
    return this.promote(to, started);
  }

  /** Planned: checkpoint, a clean stop of the primary (its last WAL reaches the standbys), fenced, the same promotion, then it rejoins. */
  async switchover(to?: string) {
    const started = Date.now();
    const primary = await this.primaryName();
    const id = await this.containerId(primary);
    await this.psqlIn(id, 'CHECKPOINT');
    this.log(`${primary}: clean stop (restart policy off)`);
    await this.exec('docker', ['update', '--restart=no', id]);
    await this.exec('docker', ['stop', '--time', '60', id]);
    const result = await this.promote(to, started);
    await this.rejoinFenced(primary);
    return { ...result, elapsedMs: Date.now() - started };
  }

  /** The stack re-creates a fenced former primary as a replica of the recorded primary (entrypoint.sh re-clones it). */
  private async rejoinFenced(name: string): Promise<void> {
    this.log(`${name} was fenced: \`pulumi up\` re-creates it as a replica of the recorded primary`);
    await this.exec('pulumi', ['up', '--stack', this.opts.pulumiStack, '--yes', '--skip-preview']);
  }

  /**
   * A stopped node starts again with `docker start`, except a fenced former primary: it must come
   * back as a replica of the new primary, which is the stack's `pulumi up` once primaryIndex names
   * the new primary (its container is re-created as a replica and re-clones).
   */
  async startNode(name: string) {
    const c = (await this.containers()).find((x) => x.name === name);
    if (!c) throw new Error(`no container labelled aidiary.instance=${name} (a node role) in stack ${this.opts.stack}`);
    if (c.kind === 'postgres' && !c.running && (await this.isFenced(c))) return this.rejoinFenced(name);
    await this.exec('docker', ['start', c.id]);
  }

  /** True when the container's restart policy was turned off (the fence); the stack declares unless-stopped. */
  private async isFenced(c: Container): Promise<boolean> {
    const { stdout } = await this.exec('docker', ['inspect', '--format', '{{.HostConfig.RestartPolicy.Name}}', c.id]);
    return stdout.trim() === 'no';
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
