import type { ClusterDriver, DriverNode } from './cluster-driver';
import type { Scenario } from './drill-report';

// What each drill does to the cluster while the load runs. `inject` performs the fault AND the
// recovery an operator (or the platform) would do, and returns once the cluster should be whole
// again; the runner keeps the load going a little longer to see the recovery from the client side.

export interface ScenarioContext {
  driver: ClusterDriver;
  /** Seconds the fault is held (a killed node stays down, Redis stays stopped, the primary frozen). */
  holdMs: number;
  log: (message: string) => void;
  notes: string[];
  /** Timestamps the runner reports: when the fault started, when recovery finished. */
  markFault(): void;
}

export interface ScenarioPlan {
  description: string;
  inject(ctx: ScenarioContext): Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function pick(driver: ClusterDriver, pred: (n: DriverNode) => boolean, what: string): Promise<DriverNode> {
  const nodes = (await driver.listNodes()).filter(pred);
  // Not the first one: app-0/pg-1 would make every drill hit the same node.
  const node = nodes[nodes.length - 1];
  if (!node) throw new Error(`no ${what} to act on`);
  return node;
}

const isApp = (n: DriverNode) => n.kind === 'app' && n.healthy;
const isReplica = (n: DriverNode) => n.kind === 'postgres' && n.role === 'replica' && n.healthy;
const isPrimary = (n: DriverNode) => n.kind === 'postgres' && n.role === 'primary' && n.healthy;

/**
 * An operator's monitor: checks the primary every `intervalMs` and returns once it has failed
 * two checks in a row (the moment `aidiary failover` is invoked).
 */
export async function waitForTwoFailedChecks(driver: ClusterDriver, node: string, intervalMs = 500, timeoutMs = 1000): Promise<number> {
  let failures = 0;
  let checks = 0;
  while (failures < 2) {
    checks++;
    failures = (await driver.checkDbNode(node, timeoutMs)) ? 0 : failures + 1;
    if (failures < 2) await sleep(intervalMs);
  }
  return checks;
}

export const scenarioPlans: Record<Exclude<Scenario, 'restore'>, ScenarioPlan> = {
  'kill-app': {
    description: 'SIGKILL one app process, restart it after the hold',
    async inject(ctx) {
      const app = await pick(ctx.driver, isApp, 'healthy app');
      ctx.log(`kill -9 ${app.name}`);
      ctx.markFault();
      await ctx.driver.killNode(app.name, 'SIGKILL');
      await sleep(ctx.holdMs);
      await ctx.driver.startNode(app.name);
    },
  },
  'rolling-restart': {
    description: 'every app in turn: SIGTERM (drain), start, wait healthy',
    async inject(ctx) {
      const apps = (await ctx.driver.listNodes()).filter(isApp);
      ctx.markFault();
      for (const app of apps) {
        ctx.log(`restart ${app.name}`);
        await ctx.driver.stopNode(app.name);
        await ctx.driver.startNode(app.name);
      }
    },
  },
  'kill-replica': {
    description: 'SIGKILL a streaming replica (postmaster and backends), restart it after the hold',
    async inject(ctx) {
      const replica = await pick(ctx.driver, isReplica, 'healthy replica');
      ctx.log(`kill -9 ${replica.name}`);
      ctx.markFault();
      await ctx.driver.killNode(replica.name, 'SIGKILL');
      await sleep(ctx.holdMs);
      await ctx.driver.startNode(replica.name);
    },
  },
  'kill-primary': {
    description: 'SIGKILL the primary; failover after two failed health checks; the old primary rejoins as a replica',
    async inject(ctx) {
      const primary = await pick(ctx.driver, isPrimary, 'primary');
      ctx.log(`kill -9 ${primary.name}`);
      ctx.markFault();
      const killedAt = Date.now();
      await ctx.driver.killNode(primary.name, 'SIGKILL');
      const checks = await waitForTwoFailedChecks(ctx.driver, primary.name);
      const detectedMs = Date.now() - killedAt;
      const result = await ctx.driver.failover();
      ctx.notes.push(`primary ${primary.name} failed ${checks} health checks (every 500 ms) in ${detectedMs} ms; ${result.promoted} promoted in ${result.elapsedMs} ms`);
      ctx.log(`${result.promoted} promoted; ${primary.name} rejoins as a replica`);
      await ctx.driver.startNode(primary.name);
    },
  },
  switchover: {
    description: 'planned switchover: the primary shuts down cleanly, a replica is promoted, the old primary rejoins',
    async inject(ctx) {
      ctx.markFault();
      const result = await ctx.driver.switchover();
      ctx.notes.push(`${result.promoted} is primary after a ${result.elapsedMs} ms switchover`);
    },
  },
  'restart-redis': {
    description: 'restart both Redis roles (SIGTERM, start again at once; sessions persist in the AOF)',
    async inject(ctx) {
      const redis = (await ctx.driver.listNodes()).filter((n) => n.kind === 'redis');
      ctx.markFault();
      for (const r of redis) {
        ctx.log(`restart ${r.name}`);
        await ctx.driver.stopNode(r.name);
        await ctx.driver.startNode(r.name);
      }
    },
  },
  'stop-redis': {
    description: 'stop both Redis roles for the hold, then start them',
    async inject(ctx) {
      const redis = (await ctx.driver.listNodes()).filter((n) => n.kind === 'redis');
      ctx.markFault();
      for (const r of redis) await ctx.driver.stopNode(r.name);
      ctx.log(`Redis stopped for ${ctx.holdMs} ms`);
      await sleep(ctx.holdMs);
      for (const r of redis) await ctx.driver.startNode(r.name);
    },
  },
  scale: {
    description: 'scale apps up by one, hold, then back down (add → reload → drain)',
    async inject(ctx) {
      const apps = (await ctx.driver.listNodes()).filter((n) => n.kind === 'app').length;
      ctx.markFault();
      ctx.log(`scale apps ${apps} → ${apps + 1}`);
      await ctx.driver.scale({ apps: apps + 1 });
      await sleep(ctx.holdMs);
      ctx.log(`scale apps ${apps + 1} → ${apps}`);
      await ctx.driver.scale({ apps });
    },
  },
  'partition-primary': {
    description: 'freeze the primary (SIGSTOP to its postmaster and backends) for the hold, then SIGCONT',
    async inject(ctx) {
      const primary = await pick(ctx.driver, isPrimary, 'primary');
      ctx.log(`SIGSTOP ${primary.name} for ${ctx.holdMs} ms`);
      ctx.markFault();
      await ctx.driver.pause(primary.name);
      try {
        await sleep(ctx.holdMs);
      } finally {
        await ctx.driver.resume(primary.name);
      }
    },
  },
};
