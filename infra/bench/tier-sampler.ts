import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { microsPerRequest, netTicks, parseMachineCpu, parseProcStat, parseStatusRssBytes, parseStatusSwitches, treeTicks, type ProcStat } from './process-cpu';

// Reads /proc for the bench's CPU-per-request columns: one snapshot of every process before a
// measured run and one after, the tiers' trees summed in each (process-cpu.ts has the arithmetic).
// The load generator is wrk, a child of this process that runs and exits within the measured
// run: its time is the change in this process's own cutime+cstime (children reaped meanwhile).

export const cpuTiers = ['nginx', 'apps', 'postgres', 'redis', 'cdn', 'loadgen'] as const;
export type CpuTier = (typeof cpuTiers)[number];

/** Root pids of each tier (the loadgen tier is implicit: this process's reaped children). */
export type TierRoots = Record<Exclude<CpuTier, 'loadgen'>, number[]>;

export interface TierSnapshot {
  ticks: Record<CpuTier, number>;
  /** The whole machine (/proc/stat), to tell what other processes took during the run. */
  machine: { total: number; idle: number };
  /** Context switches of the apps' main threads (their event loops), summed over the app roots. */
  appSwitches: { voluntary: number; involuntary: number };
  /** Monotonic ms, for the measured wall time. */
  at: number;
}

/** Each tier's background CPU with no load, in ticks per second (subtracted from every run). */
export type IdleRates = Record<CpuTier, number> & {
  /** The apps' event-loop wake-ups per second with no load (timers), subtracted like the ticks. */
  appWakeups?: number;
};

export interface ScenarioCpu {
  /** CPU µs per request in each tier, its idle background subtracted; cdn is null when there is no CDN tier. */
  microsPerRequest: Record<CpuTier, number | null>;
  /** Sum over the tiers except the load generator (what a deployment pays per request). */
  servingMicrosPerRequest: number | null;
  /** CPU the listed processes used over the run, in cores (ticks / wall time), per tier (background included). */
  coresBusy: Record<CpuTier, number>;
  /**
   * The machine over the run, in cores: all it has, what was busy, and what processes outside the
   * tiers took (other work on a shared machine, the bench itself). The tiers could use at most
   * cores − othersCores: the capacity model predicts with that.
   */
  machine: { cores: number; busyCores: number; othersCores: number };
  /** RSS of each app process at the end of the run, and the bytes its L1 page cache held then (null: unknown). */
  appRssBytes: { pid: number; bytes: number | null; l1Bytes?: number | null }[];
  /**
   * Per request, over the apps' main threads: event-loop wake-ups (voluntary context switches, their
   * idle timer rate subtracted) and preemptions (involuntary ones). How many requests an app handles
   * per turn of its loop: the capacity model's per-wake-up cost depends on it.
   */
  appSwitchesPerRequest?: { wakeups: number | null; preemptions: number | null };
}

let cachedTicksPerSecond: number | null = null;

/** USER_HZ, the unit of /proc/<pid>/stat times (100 on every mainstream Linux build). */
export function ticksPerSecond(): number {
  if (cachedTicksPerSecond !== null) return cachedTicksPerSecond;
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5000 });
  const n = Number((r.stdout ?? '').trim());
  cachedTicksPerSecond = Number.isInteger(n) && n > 0 ? n : 100;
  return cachedTicksPerSecond;
}

/** Every live process's stat line (processes that exit while we read are skipped). */
export function readAllProcStats(): Map<number, ProcStat> {
  const out = new Map<number, ProcStat>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const p = parseProcStat(readFileSync(`/proc/${entry}/stat`, 'utf8'));
      out.set(p.pid, p);
    } catch {
      /* the process ended while we looked */
    }
  }
  return out;
}

export function rssBytes(pid: number): number | null {
  try {
    return parseStatusRssBytes(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return null;
  }
}

/** Main-thread context switches summed over these pids (a pid gone meanwhile counts 0). */
export function readSwitches(pids: number[]): { voluntary: number; involuntary: number } {
  const total = { voluntary: 0, involuntary: 0 };
  for (const pid of pids) {
    try {
      const s = parseStatusSwitches(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (s) {
        total.voluntary += s.voluntary;
        total.involuntary += s.involuntary;
      }
    } catch {
      /* the process ended while we looked */
    }
  }
  return total;
}

export function snapshotTiers(roots: TierRoots): TierSnapshot {
  const procs = readAllProcStats();
  const self = procs.get(process.pid);
  return {
    at: performance.now(),
    appSwitches: readSwitches(roots.apps),
    machine: parseMachineCpu(readFileSync('/proc/stat', 'utf8')),
    ticks: {
      nginx: treeTicks(roots.nginx, procs),
      apps: treeTicks(roots.apps, procs),
      postgres: treeTicks(roots.postgres, procs),
      redis: treeTicks(roots.redis, procs),
      cdn: treeTicks(roots.cdn, procs),
      loadgen: self ? self.cutime + self.cstime : 0,
    },
  };
}

/** Each tier's CPU over `seconds` with no load (the tiers' timers, pollers, replication). */
export async function measureIdle(roots: TierRoots, seconds: number, sleep: (ms: number) => Promise<void>): Promise<IdleRates> {
  const before = snapshotTiers(roots);
  await sleep(seconds * 1000);
  const after = snapshotTiers(roots);
  const elapsed = Math.max(1e-3, (after.at - before.at) / 1000);
  const rates = {} as IdleRates;
  for (const tier of cpuTiers) rates[tier] = tier === 'loadgen' ? 0 : Math.max(0, after.ticks[tier] - before.ticks[tier]) / elapsed;
  rates.appWakeups = Math.max(0, after.appSwitches.voluntary - before.appSwitches.voluntary) / elapsed;
  return rates;
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

export function scenarioCpu(before: TierSnapshot, after: TierSnapshot, requests: number, roots: TierRoots, appPids: number[], idle: IdleRates): ScenarioCpu {
  const hz = ticksPerSecond();
  const seconds = Math.max(1e-3, (after.at - before.at) / 1000);
  const per = {} as Record<CpuTier, number | null>;
  const busy = {} as Record<CpuTier, number>;
  let ours = 0;
  for (const tier of cpuTiers) {
    const absent = tier === 'cdn' && roots.cdn.length === 0;
    const used = Math.max(0, after.ticks[tier] - before.ticks[tier]);
    ours += used;
    per[tier] = absent ? null : microsPerRequest(netTicks(before.ticks[tier], after.ticks[tier], idle[tier], seconds), requests, hz);
    busy[tier] = round3(used / hz / seconds);
  }
  // /proc/stat counts every core's ticks: its total over the run is cores × seconds × hz.
  const machineTicks = Math.max(1, after.machine.total - before.machine.total);
  const cores = machineTicks / hz / seconds;
  const busyTicks = machineTicks - Math.max(0, after.machine.idle - before.machine.idle);
  const machine = { cores: round3(cores), busyCores: round3(busyTicks / hz / seconds), othersCores: round3(Math.max(0, busyTicks - ours) / hz / seconds) };
  const serving = cpuTiers.filter((t) => t !== 'loadgen').map((t) => per[t]);
  return {
    microsPerRequest: per,
    servingMicrosPerRequest: serving.every((v) => v === null) ? null : Math.round(serving.reduce<number>((s, v) => s + (v ?? 0), 0) * 10) / 10,
    coresBusy: busy,
    machine,
    appRssBytes: appPids.map((pid) => ({ pid, bytes: rssBytes(pid) })),
    appSwitchesPerRequest: switchesPerRequest(before, after, requests, seconds, idle.appWakeups ?? 0),
  };
}

/** The apps' wake-ups (less the idle timer rate) and preemptions per request over a run (null: no requests). */
export function switchesPerRequest(before: Pick<TierSnapshot, 'appSwitches'>, after: Pick<TierSnapshot, 'appSwitches'>, requests: number, seconds: number, idleWakeupsPerSecond: number): { wakeups: number | null; preemptions: number | null } {
  if (requests <= 0) return { wakeups: null, preemptions: null };
  const round4 = (x: number) => Math.round(x * 1e4) / 1e4;
  const wakeups = Math.max(0, after.appSwitches.voluntary - before.appSwitches.voluntary - idleWakeupsPerSecond * seconds);
  const preemptions = Math.max(0, after.appSwitches.involuntary - before.appSwitches.involuntary);
  return { wakeups: round4(wakeups / requests), preemptions: round4(preemptions / requests) };
}
