import type { RestoreStack } from '../restore-stack';
import type { ClusterDriver, DriverNode } from './cluster-driver';
import type { Scenario } from './drill-report';

// What each drill does to the cluster while the load runs. `inject` performs the fault AND the
// recovery an operator (or the platform) would do, and returns once the cluster should be whole
// again; the runner keeps the load going a little longer to see the recovery from the client side.
// Each change is registered on the restore stack (infra/restore-stack.ts) just before it is made,
// with an undo that is safe to run twice; Ctrl-C or SIGTERM mid-drill runs the undos and exits.

export interface ScenarioContext {
  driver: ClusterDriver;
  /** Seconds the fault is held (a killed node stays down, Redis stays stopped, the primary frozen). */
  holdMs: number;
  log: (message: string) => void;
  notes: string[];
  /** Where every change registers its undo; its sleep() ends at Ctrl-C. */
  restore: RestoreStack;
  /** Timestamps the runner reports: when the fault started, when recovery finished. */
  markFault(): void;
}

export interface ScenarioPlan {
  description: string;
  inject(ctx: ScenarioContext): Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Starts a node again unless it already answers: the undo of a kill or a stop (safe to run twice). */
async function startIfDown(driver: ClusterDriver, name: string): Promise<void> {
  const node = (await driver.listNodes()).find((n) => n.name === name);
  if (node?.healthy) return;
  await driver.startNode(name);
}

/**
 * Registers "<name> running again" on the restore stack, just before a kill or stop: the undo
 * Ctrl-C runs. Returns the function to call once the drill has started the node itself.
 */
function restartOnInterrupt(ctx: ScenarioContext, name: string): () => void {
  return ctx.restore.push(`${name} running again`, () => startIfDown(ctx.driver, name));
}

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
export async function waitForTwoFailedChecks(driver: ClusterDriver, node: string, intervalMs = 500, timeoutMs = 1000, wait: (ms: number) => Promise<void> = sleep): Promise<number> {
  let failures = 0;
  let checks = 0;
  while (failures < 2) {
    checks++;
    failures = (await driver.checkDbNode(node, timeoutMs)) ? 0 : failures + 1;
    if (failures < 2) await wait(intervalMs);
  }
  return checks;
}

export const scenarioPlans: Record<Exclude<Scenario, 'restore'>, ScenarioPlan> = {
  'kill-app': {
    description: 'SIGKILL one app process, restart it after the hold',
    async inject(ctx) {
      const app = await pick(ctx.driver, isApp, 'healthy app');
      ctx.log(`kill -9 ${app.name}`);
      const undo = restartOnInterrupt(ctx, app.name);
      ctx.markFault();
      await ctx.driver.killNode(app.name, 'SIGKILL');
      await ctx.restore.sleep(ctx.holdMs);
      await ctx.driver.startNode(app.name);
      undo();
    },
  },
  'rolling-restart': {
    description: 'every app in turn: SIGTERM (drain), start, wait healthy',
    async inject(ctx) {
      const apps = (await ctx.driver.listNodes()).filter(isApp);
      ctx.markFault();
      for (const app of apps) {
        ctx.restore.check();
        ctx.log(`restart ${app.name}`);
        const undo = restartOnInterrupt(ctx, app.name);
        await ctx.driver.stopNode(app.name);
        await ctx.driver.startNode(app.name);
        undo();
      }
    },
  },
  'kill-replica': {
    description: 'SIGKILL a streaming replica (postmaster and backends), restart it after the hold',
    async inject(ctx) {
      const replica = await pick(ctx.driver, isReplica, 'healthy replica');
      ctx.log(`kill -9 ${replica.name}`);
      const undo = restartOnInterrupt(ctx, replica.name);
      ctx.markFault();
      await ctx.driver.killNode(replica.name, 'SIGKILL');
      await ctx.restore.sleep(ctx.holdMs);
      await ctx.driver.startNode(replica.name);
      undo();
    },
  },
  'kill-primary': {
    description: 'SIGKILL the primary; failover after two failed health checks; the old primary rejoins as a replica',
    async inject(ctx) {
      const primary = await pick(ctx.driver, isPrimary, 'primary');
      ctx.log(`kill -9 ${primary.name}`);
      // Before the failover it comes back as the primary; after it, it rejoins as a replica.
      const undo = restartOnInterrupt(ctx, primary.name);
      ctx.markFault();
      const killedAt = Date.now();
      await ctx.driver.killNode(primary.name, 'SIGKILL');
      const checks = await waitForTwoFailedChecks(ctx.driver, primary.name, 500, 1000, (ms) => ctx.restore.sleep(ms));
      const detectedMs = Date.now() - killedAt;
      ctx.restore.check();
      const result = await ctx.driver.failover();
      ctx.notes.push(`primary ${primary.name} failed ${checks} health checks (every 500 ms) in ${detectedMs} ms; ${result.promoted} promoted in ${result.elapsedMs} ms`);
      ctx.log(`${result.promoted} promoted; ${primary.name} rejoins as a replica`);
      await ctx.driver.startNode(primary.name);
      undo();
    },
  },
  switchover: {
    description: 'planned switchover: the primary shuts down cleanly, a replica is promoted, the old primary rejoins',
    async inject(ctx) {
      const old = await pick(ctx.driver, isPrimary, 'primary');
      const undo = restartOnInterrupt(ctx, old.name);
      ctx.markFault();
      const result = await ctx.driver.switchover();
      undo();
      ctx.notes.push(`${result.promoted} is primary after a ${result.elapsedMs} ms switchover`);
    },
  },
  'restart-redis': {
    description: 'restart both Redis roles (SIGTERM, start again at once; sessions persist in the AOF)',
    async inject(ctx) {
      const redis = (await ctx.driver.listNodes()).filter((n) => n.kind === 'redis');
      ctx.markFault();
      for (const r of redis) {
        ctx.restore.check();
        ctx.log(`restart ${r.name}`);
        const undo = restartOnInterrupt(ctx, r.name);
        await ctx.driver.stopNode(r.name);
        await ctx.driver.startNode(r.name);
        undo();
      }
    },
  },
  'stop-redis': {
    description: 'stop both Redis roles for the hold, then start them',
    async inject(ctx) {
      const redis = (await ctx.driver.listNodes()).filter((n) => n.kind === 'redis');
      ctx.markFault();
      const undos = redis.map((r) => restartOnInterrupt(ctx, r.name));
      for (const r of redis) await ctx.driver.stopNode(r.name);
      ctx.log(`Redis stopped for ${ctx.holdMs} ms`);
      await ctx.restore.sleep(ctx.holdMs);
      for (const r of redis) await ctx.driver.startNode(r.name);
      for (const undo of undos) undo();
    },
  },
  scale: {
    description: 'scale apps up by one, hold, then back down (add → reload → drain)',
    async inject(ctx) {
      const apps = (await ctx.driver.listNodes()).filter((n) => n.kind === 'app').length;
      ctx.markFault();
      ctx.log(`scale apps ${apps} → ${apps + 1}`);
      const undo = ctx.restore.push(`apps scaled back to ${apps}`, async () => {
        if ((await ctx.driver.listNodes()).filter((n) => n.kind === 'app').length !== apps) await ctx.driver.scale({ apps });
      });
      await ctx.driver.scale({ apps: apps + 1 });
      await ctx.restore.sleep(ctx.holdMs);
      ctx.log(`scale apps ${apps + 1} → ${apps}`);
      await ctx.driver.scale({ apps });
      undo();
    },
  },
  'partition-primary': {
    description: 'freeze the primary (SIGSTOP to its postmaster and backends) for the hold, then SIGCONT',
    async inject(ctx) {
      const primary = await pick(ctx.driver, isPrimary, 'primary');
      ctx.log(`SIGSTOP ${primary.name} for ${ctx.holdMs} ms`);
      // SIGCONT to a running process changes nothing: the undo is safe after a normal resume too.
      const undo = ctx.restore.push(`${primary.name} resumed (SIGCONT)`, () => ctx.driver.resume(primary.name));
      ctx.markFault();
      await ctx.driver.pause(primary.name);
      await ctx.restore.sleep(ctx.holdMs);
      await ctx.driver.resume(primary.name);
      undo();
    },
  },
};
