import type { Topology } from '../topology';
import { kubernetesNames } from '../kubernetes/names';
import { tierLabels } from '../kubernetes/labels';
import { jsonRowsSql, psqlRows, type ClusterDriver, type CommandExecutor, type DriverNode, type PromotionResult } from './cluster-driver';
import { systemExecutor } from './command-executor';

// The drill driver for the Kubernetes prod stack (infra/kubernetes): the documented commands.
// A crash is `kubectl delete pod --grace-period=0 --force` (the Deployment / CloudNativePG
// recreate the pod); a planned stop is a graceful `kubectl delete pod`; promotion is the
// CloudNativePG plugin's `kubectl cnpg promote <cluster> <instance>` (a switchover when the
// primary is healthy, a failover otherwise); scaling is `kubectl scale` for the app Deployment
// and a patch of the Cluster's `spec.instances`. Node names are pod names.
// Pulumi owns those replica counts: a kubectl scale is drift that the next `pulumi up` reverts.
// The scale drill always returns to the count it found, so it leaves no drift behind; a lasting
// change goes through `pulumi config set appReplicas N && pulumi up` (README).

export interface KubernetesDriverOptions {
  topology: Topology;
  namespace: string;
  lbUrl: string;
  admin: { username: string; password: string };
  exec?: CommandExecutor;
  /** kubectl --context (default: the current context). */
  context?: string;
}

interface PodList {
  items: {
    metadata: { name: string; labels?: Record<string, string> };
    status: { phase?: string; conditions?: { type: string; status: string }[] };
  }[];
}

export class KubernetesDriver implements ClusterDriver {
  readonly kind = 'kubernetes' as const;
  private readonly exec: CommandExecutor;
  private readonly names: ReturnType<typeof kubernetesNames>;

  constructor(private readonly opts: KubernetesDriverOptions) {
    this.exec = opts.exec ?? systemExecutor();
    this.names = kubernetesNames(opts.topology);
  }

  private kubectl(args: string[]) {
    const ctx = this.opts.context ? ['--context', this.opts.context] : [];
    return this.exec('kubectl', [...ctx, '-n', this.opts.namespace, ...args]);
  }

  async baseUrl() { return this.opts.lbUrl.replace(/\/$/, ''); }
  async adminCredentials() { return this.opts.admin; }
  async close() {}

  async listNodes(): Promise<DriverNode[]> {
    const { stdout } = await this.kubectl(['get', 'pods', '-l', `app.kubernetes.io/instance=${this.opts.topology.name}`, '-o', 'json']);
    const db = await this.kubectl(['get', 'pods', '-l', `cnpg.io/cluster=${this.names.dbCluster}`, '-o', 'json']);
    const nodes: DriverNode[] = [];
    const ready = (p: PodList['items'][number]) => p.status.phase === 'Running' && !!p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
    for (const p of (JSON.parse(stdout) as PodList).items) {
      const component = p.metadata.labels?.['app.kubernetes.io/component'];
      const kind = component === 'app' ? 'app' : component === 'redis-sessions' || component === 'redis-cache' || component === 'redis' ? 'redis' : component === 'nginx' ? 'lb' : null;
      if (!kind) continue;
      const node: DriverNode = { name: p.metadata.name, kind, healthy: ready(p) };
      if (kind === 'redis') node.role = p.metadata.name.includes('cache') ? 'cache' : 'sessions';
      nodes.push(node);
    }
    for (const p of (JSON.parse(db.stdout) as PodList).items) {
      // CloudNativePG labels the live role (cnpg.io/instanceRole; `role` on older releases).
      const role = p.metadata.labels?.['cnpg.io/instanceRole'] ?? p.metadata.labels?.role;
      nodes.push({ name: p.metadata.name, kind: 'postgres', role: role === 'primary' ? 'primary' : 'replica', healthy: ready(p) });
    }
    return nodes.sort((a, b) => a.name.localeCompare(b.name));
  }

  /** SIGKILL = forced deletion (no grace period); any other signal = a graceful deletion. */
  async killNode(name: string, signal: NodeJS.Signals = 'SIGKILL') {
    if (signal === 'SIGKILL') await this.kubectl(['delete', 'pod', name, '--grace-period=0', '--force', '--wait=false']);
    else await this.stopNode(name);
  }

  async stopNode(name: string) {
    await this.kubectl(['delete', 'pod', name, '--wait=true']);
  }

  /** The controllers recreate deleted pods; starting means waiting for them. */
  async startNode(_name: string) {
    await this.waitHealthy(300_000);
  }

  async pause(name: string): Promise<void> {
    // Freezing a pod needs a NetworkPolicy or node-level access that this driver does not assume.
    throw new Error(`pause ${name}: partition drills are not supported on Kubernetes by this driver; isolate the pod with a deny-all NetworkPolicy instead`);
  }

  async resume(name: string): Promise<void> {
    throw new Error(`resume ${name}: not supported on Kubernetes (see pause)`);
  }

  private async primaryPod(): Promise<string> {
    const p = (await this.listNodes()).find((n) => n.kind === 'postgres' && n.role === 'primary');
    if (!p) throw new Error(`no primary pod in Cluster ${this.names.dbCluster}`);
    return p.name;
  }

  private async psql(pod: string, sql: string, database: string): Promise<string> {
    const { stdout } = await this.kubectl(['exec', pod, '-c', 'postgres', '--', 'psql', '-U', 'postgres', '-d', database, '-At', '-v', 'ON_ERROR_STOP=1', '-c', sql]);
    return stdout.trim();
  }

  async checkDbNode(name: string, timeoutMs: number) {
    try {
      await this.kubectl(['exec', name, '-c', 'postgres', '--', 'pg_isready', '-t', String(Math.max(1, Math.ceil(timeoutMs / 1000)))]);
      return true;
    } catch {
      return false;
    }
  }

  async primaryQuery<R extends Record<string, unknown>>(sql: string): Promise<R[]> {
    return psqlRows<R>(await this.psql(await this.primaryPod(), jsonRowsSql(sql), this.opts.topology.database.name));
  }

  async replicationState() {
    const nodes = (await this.listNodes()).filter((n) => n.kind === 'postgres');
    const primary = nodes.find((n) => n.role === 'primary');
    if (!primary) throw new Error('no primary pod');
    const rows = psqlRows<{ name: string }>(await this.psql(primary.name, jsonRowsSql("SELECT application_name AS name FROM pg_stat_replication WHERE state = 'streaming'"), 'postgres'));
    return { expected: nodes.filter((n) => n !== primary).map((n) => n.name), streaming: rows.map((r) => r.name) };
  }

  private async promote(to?: string): Promise<PromotionResult> {
    const started = Date.now();
    const target = to ?? (await this.listNodes()).find((n) => n.kind === 'postgres' && n.role === 'replica' && n.healthy)?.name;
    if (!target) throw new Error('no healthy replica pod to promote');
    await this.exec('kubectl', [...(this.opts.context ? ['--context', this.opts.context] : []), 'cnpg', 'promote', this.names.dbCluster, target, '-n', this.opts.namespace]);
    return { promoted: target, elapsedMs: Date.now() - started };
  }

  async failover(to?: string) { return this.promote(to); }
  async switchover(to?: string) { return this.promote(to); }

  async scale(counts: { apps?: number; dbReplicas?: number }) {
    if (counts.apps !== undefined) await this.kubectl(['scale', `deployment/${this.names.app}`, `--replicas=${counts.apps}`]);
    if (counts.dbReplicas !== undefined) {
      await this.kubectl(['patch', 'cluster', this.names.dbCluster, '--type', 'merge', '-p', JSON.stringify({ spec: { instances: counts.dbReplicas + 1 } })]);
    }
  }

  async waitHealthy(timeoutMs: number) {
    const seconds = Math.max(1, Math.ceil(timeoutMs / 1000));
    const labels = tierLabels(this.opts.topology, 'app');
    await this.kubectl(['rollout', 'status', `deployment/${this.names.app}`, `--timeout=${seconds}s`]);
    await this.kubectl(['wait', '--for=condition=Ready', 'pod', '-l', Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(','), `--timeout=${seconds}s`]);
    await this.kubectl(['wait', '--for=condition=Ready', `cluster/${this.names.dbCluster}`, `--timeout=${seconds}s`]);
  }
}
