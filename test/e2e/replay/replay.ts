import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { RecordedResource } from '../../infra/pulumi-harness';
import { CnpgEmulation, postgresStandIns } from './data-tier';
import type { DeclaredWorkload } from './declared-workloads';
import type { CnpgCluster } from './kubernetes-workloads';
import { localizeWorkload, type LocalWorkload, type Plan } from './localize';
import { materialize } from './workload-root';
import { failure, probeOnce, WorkloadProcess, type Exit } from './workload-process';

// One stack's replay: the plan (an address per workload, service names → addresses), the
// localized workloads, and their start in the declared order: a workload starts once everything
// it depends on (Pulumi dependencies, components expanded to their children) is ready (services:
// the declared readiness probe passes) or completed (one-shots: exit 0), as `pulumi up` waits.

export interface StackReplayInput {
  stack: string;
  workloads: DeclaredWorkload[];
  clusters: CnpgCluster[];
  virtualIpServices: string[];
  resources: RecordedResource[];
  /** Empty directory owned by this replay. */
  root: string;
  /** Third octet of the loopback addresses 127.0.<subnet>.<n>. */
  subnet: number;
}

export interface OneShotResult { code: number | null; status: string; output: string; ms: number }

/** This machine's PATH without the repository's node_modules/.bin (npx adds them): the image has none. */
function machinePath(): string {
  return (process.env.PATH ?? '/usr/bin:/bin').split(':').filter((d) => d && !d.includes('/node_modules/')).join(':');
}

const stopSignals: Record<string, NodeJS.Signals> = { postgres: 'SIGINT', nginx: 'SIGTERM', redis: 'SIGTERM', node: 'SIGTERM' };

export class StackReplay {
  readonly plan: Plan;
  readonly locals: LocalWorkload[];
  readonly oneShots = new Map<string, OneShotResult>();
  readonly startedAt = new Map<string, number>();
  private readonly processes: WorkloadProcess[] = [];
  private readonly emulations: CnpgEmulation[] = [];
  private readonly ready = new Set<string>();
  private readonly unitsByUrn = new Map<string, string[]>();
  private readonly descendants = new Map<string, string[]>();
  private readonly logs: string;

  constructor(private readonly input: StackReplayInput) {
    mkdirSync(input.root, { recursive: true, mode: 0o755 });
    chmodSync(input.root, 0o755);
    this.logs = join(input.root, 'logs');
    mkdirSync(this.logs, { mode: 0o755 });
    const names = [...input.clusters.flatMap((c) => CnpgEmulation.podNames(c)), ...input.workloads.map((w) => w.name)];
    if (new Set(names).size !== names.length) throw new Error(`${input.stack}: two workloads share a name: ${names.join(', ')}`);
    if (names.length > 250) throw new Error(`${input.stack}: ${names.length} workloads do not fit one /24 of loopback addresses`);
    const addresses = new Map(names.map((n, i) => [n, `127.0.${input.subnet}.${i + 1}`]));
    const services = new Map<string, string[]>();
    const add = (name: string, address: string) => services.set(name, [...(services.get(name) ?? []), address]);
    for (const w of input.workloads) for (const s of w.serviceNames) add(s, addresses.get(w.name)!);
    for (const c of input.clusters) {
      const [primary, ...replicas] = CnpgEmulation.podNames(c).map((p) => addresses.get(p)!);
      add(`${c.name}-rw`, primary);
      for (const r of replicas) add(`${c.name}-ro`, r);
      for (const a of [primary, ...replicas]) add(`${c.name}-r`, a);
    }
    // A Service with a cluster IP is one address: the first workload behind it.
    for (const s of input.virtualIpServices) if (services.has(s)) services.set(s, services.get(s)!.slice(0, 1));
    const standIns: Record<string, string> = {};
    if (input.workloads.some((w) => w.base.repository === 'postgres')) standIns.postgres = postgresStandIns(join(input.root, 'stand-ins'));
    this.plan = { stack: input.stack, root: join(input.root, 'workloads'), addresses, services, network: '127.0.0.0/8', machinePath: machinePath(), standIns };
    this.locals = input.workloads.map((w) => localizeWorkload(w, this.plan));

    for (const w of input.workloads) this.unitsByUrn.set(w.urn, [...(this.unitsByUrn.get(w.urn) ?? []), w.name]);
    for (const c of input.clusters) this.unitsByUrn.set(c.urn, [c.name]);
    const children = new Map<string, string[]>();
    for (const r of input.resources) children.set(r.parent, [...(children.get(r.parent) ?? []), r.urn]);
    const expand = (urn: string): string[] => [urn, ...(children.get(urn) ?? []).flatMap(expand)];
    for (const r of input.resources) this.descendants.set(r.urn, expand(r.urn));
  }

  local(name: string): LocalWorkload {
    const w = this.locals.find((l) => l.name === name);
    if (!w) throw new Error(`${this.input.stack}: no workload ${name} (have ${this.locals.map((l) => l.name).join(', ')})`);
    return w;
  }

  /** Workloads (and emulated clusters) this unit waits for, by name. */
  dependenciesOf(urns: string[], self: string): string[] {
    const names = urns.flatMap((u) => (this.descendants.get(u) ?? [u]).flatMap((d) => this.unitsByUrn.get(d) ?? []));
    return [...new Set(names)].filter((n) => n !== self);
  }

  /** Starts every workload in the declared order; throws at the first that fails (with its output). */
  async boot(): Promise<void> {
    const units = [
      ...this.input.clusters.map((c) => ({ name: c.name, deps: this.dependenciesOf(c.dependsOn, c.name), start: () => this.startCluster(c) })),
      ...this.locals.map((l) => ({ name: l.name, deps: this.dependenciesOf(l.declared.dependsOn, l.name), start: () => this.start(l) })),
    ];
    const pending = new Set(units.map((u) => u.name));
    while (pending.size) {
      const wave = units.filter((u) => pending.has(u.name) && u.deps.every((d) => this.ready.has(d)));
      if (!wave.length) {
        const waiting = units.filter((u) => pending.has(u.name)).map((u) => `${u.name} waits for ${u.deps.filter((d) => !this.ready.has(d)).join(', ')}`);
        throw new Error(`${this.input.stack}: nothing can start: ${waiting.join('; ')}`);
      }
      for (const u of wave) pending.delete(u.name);
      await Promise.all(wave.map((u) => u.start()));
    }
  }

  private async startCluster(c: CnpgCluster): Promise<void> {
    const emulation = new CnpgEmulation(c, join(this.input.root, 'cnpg'), (pod) => this.plan.addresses.get(pod)!);
    this.emulations.push(emulation);
    this.startedAt.set(c.name, Date.now());
    await emulation.start();
    this.ready.add(c.name);
  }

  private async start(w: LocalWorkload): Promise<void> {
    materialize(w);
    this.startedAt.set(w.name, Date.now());
    if (w.declared.kind === 'one-shot') {
      const result = await this.runOneShot(w);
      if (result.code !== 0) throw failure(w, 'the one-shot to exit 0', result.status, this.processes[this.processes.length - 1]);
    } else {
      await this.startService(w);
    }
    this.ready.add(w.name);
  }

  /** Runs a one-shot workload to its end (again, for a second release). */
  async runOneShot(w: LocalWorkload, timeoutMs = 180_000): Promise<OneShotResult> {
    const started = Date.now();
    const proc = this.spawn(w);
    const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), timeoutMs).unref());
    const exit = await Promise.race([proc.exited, timer]);
    if (exit === 'timeout') {
      await proc.stop('SIGKILL', 1000);
      throw failure(w, `the one-shot to finish within ${timeoutMs / 1000} s`, 'still running', proc);
    }
    const result = { code: (exit as Exit).code, status: proc.status(), output: proc.output(), ms: Date.now() - started };
    this.oneShots.set(w.name, result);
    return result;
  }

  private async startService(w: LocalWorkload, timeoutMs = 90_000): Promise<void> {
    const proc = this.spawn(w);
    if (!w.probe) return;
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      if (!proc.running()) throw failure(w, 'to keep running until its readiness probe passes', `${proc.status()}; last probe: ${last || 'none yet'}`, proc);
      const r = await probeOnce(w, w.probe);
      if (r.ok) return;
      last = r.detail;
      if (Date.now() > deadline) throw failure(w, `its readiness probe to pass within ${timeoutMs / 1000} s`, `last probe: ${last}`, proc);
      await new Promise((res) => setTimeout(res, 250));
    }
  }

  private spawn(w: LocalWorkload): WorkloadProcess {
    const runs = this.processes.filter((p) => p.w.name === w.name).length;
    const proc = new WorkloadProcess(w, join(this.logs, `${w.name}${runs ? `.${runs + 1}` : ''}.log`));
    this.processes.push(proc);
    return proc;
  }

  process(name: string): WorkloadProcess | undefined {
    return [...this.processes].reverse().find((p) => p.w.name === name);
  }

  /** The last output lines of these workloads' newest processes, for a failure message. */
  tails(names: string[], lines = 15): string {
    return names.map((n) => `  ${n} (${this.process(n)?.status() ?? 'not started'}):\n${this.process(n)?.tail(lines) ?? ''}`).join('\n');
  }

  /** Stops the edge and apps, then the data tier, then the emulated clusters. */
  async stop(): Promise<void> {
    const stop = (p: WorkloadProcess) => p.stop(stopSignals[p.w.declared.base.repository] ?? 'SIGTERM').catch(() => {});
    const isData = (p: WorkloadProcess) => ['postgres', 'redis'].includes(p.w.declared.base.repository);
    await Promise.all(this.processes.filter((p) => !isData(p)).map(stop));
    await Promise.all(this.processes.filter(isData).map(stop));
    for (const e of this.emulations) await e.stop();
  }
}
