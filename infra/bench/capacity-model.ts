// The capacity model: CPU µs per request per tier, measured by the bench on single-page
// scenarios, turned into the req/s a deployment serves and the processes it needs.
//
// A request is one of five classes, each with its own cost per tier:
//   edgeHit   served from nginx's micro-cache              (fitted on home-cached)
//   appHit    passed through nginx, an app L1 hit           (fitted on home-l1)
//   l2Hit     passed through nginx, an app L2 (Redis) hit   (fitted on home-l2; home-l1 without it)
//   render    an anonymous page the app renders (SQL+render, then stored in L1/L2: fitted on
//             posts-cold, less its share of app hits)
//   loggedIn  a session request: never cached, rendered every time (fitted on home-uncached)
// An anonymous request that reaches an app through the micro-cache (a miss, or the background
// refresh of a stale entry: once a second per hot URL with the 1 s bound) also costs nginx the
// store of the new cache file: the edge-store surcharge, posts-cold's nginx µs (every request a
// miss, stored) less home-l1's (the cache bypassed). home-l1, home-l2 and app-pinned bypass the
// micro-cache and pay none.
// An app's event loop pays for each wake-up: when a request arrives while the loop is blocked in
// epoll_wait, the kernel switches it back in and the loop runs a whole turn (timers, microtasks,
// poll) for that one request; a busy loop finds several requests per turn and pays it once for all.
// The bench counts the apps' wake-ups (their main threads' voluntary context switches, less the idle
// timer rate) per request, and the model charges W µs per wake-up on top of each class's batched
// cost: apps µs = c + W · wake-ups per request. W comes from home-l1 at two loads (64 connections:
// a few wake-ups per hundred requests; home-l1-light's 3: about one per request), same class, so the
// difference in app µs per request is the wake-ups' alone: W = Δ apps µs / Δ wake-ups per request.
// (An app's idle timers cost about as much per wake-up: its idle CPU over its idle wake-ups.)
// A run on this machine predicts with its own wake-ups per request (how many requests reach an app
// together: the offered load, like the mix); a deployment planned to saturate its apps, with
// home-l1's, the apps' wake-ups at saturation.
// A mix is the share of each class. A tier t with c_t cores serves u · c_t · 10⁶ / cost_t(mix)
// req/s; u, the share of its cores the tiers really keep busy at saturation (waits, scheduling),
// is fitted on the same single-page runs: measured req/s × µs per request ÷ the cores they could
// have had. On a shared machine that is the cores minus what other processes took during the run
// (measured from /proc/stat), so a busy neighbour does not read as a slow tier. Tiers that share
// cores (this machine) form one group; the deployment serves the least of its groups. Pure
// arithmetic: the fit's inputs come from the bench report.

export const modelTiers = ['nginx', 'apps', 'postgres', 'redis', 'loadgen'] as const;
export type ModelTier = (typeof modelTiers)[number];
export type TierCosts = Record<ModelTier, number>;
export const servingTiers = ['nginx', 'apps', 'postgres', 'redis'] as const satisfies readonly ModelTier[];

export const requestClasses = ['edgeHit', 'appHit', 'l2Hit', 'render', 'loggedIn'] as const;
export type RequestClass = (typeof requestClasses)[number];
export type ClassCosts = Record<RequestClass, TierCosts>;
export type Mix = Record<RequestClass, number>;

/** What the fit needs from one measured scenario. */
export interface ScenarioFigures {
  requestsPerSecond: number;
  requests: number;
  /** µs per request per tier (null: not measured, counted as 0). */
  micros: Partial<Record<ModelTier, number | null>>;
  /** Page-cache counters of the measured phase (null when unknown). */
  appCache: { hitsL1: number; hitsL2: number; staleServed: number; renders: number } | null;
  /** Cores the tiers could use during the run: the machine's minus what other processes took. */
  availableCores: number;
  /** The apps' event-loop wake-ups per request (null: not recorded). */
  appWakeupsPerRequest: number | null;
}

export interface FittedModel {
  classes: ClassCosts;
  /** Busy share of the cores at saturation, median over the fitting runs. */
  utilization: number;
  /** Cores of the machine the fit ran on. */
  cores: number;
  fittedOn: string[];
  /** nginx µs added to each anonymous request that reaches an app through the micro-cache. */
  edgeStoreNginxMicros: number;
  /** W: app CPU µs per event-loop wake-up, beyond the requests' own (0 when the runs do not separate it). */
  wakeupMicros: number;
  /** Wake-ups per request of apps kept busy (home-l1's, 64 connections), for deployment planning. */
  saturatedWakeupsPerRequest: number;
}

const zero = (): TierCosts => ({ nginx: 0, apps: 0, postgres: 0, redis: 0, loadgen: 0 });
const costsOf = (f: ScenarioFigures): TierCosts => {
  const c = zero();
  for (const t of modelTiers) c[t] = Math.max(0, f.micros[t] ?? 0);
  return c;
};
const sum = (c: TierCosts, tiers: readonly ModelTier[] = modelTiers) => tiers.reduce((s, t) => s + c[t], 0);
const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;

/** Share of each class in a measured run, from the apps' page-cache counters (edge hits never reach an app). */
export function mixOfRun(f: ScenarioFigures): Mix | null {
  if (!f.appCache || f.requests <= 0) return null;
  const render = Math.min(1, f.appCache.renders / f.requests);
  const l2Hit = Math.min(1 - render, f.appCache.hitsL2 / f.requests);
  const appHit = Math.min(1 - render - l2Hit, (f.appCache.hitsL1 + f.appCache.staleServed) / f.requests);
  return { edgeHit: Math.max(0, 1 - render - l2Hit - appHit), appHit, l2Hit, render, loggedIn: 0 };
}

/** The busy share of the available cores a run implies: req/s × µs per request (all tiers) ÷ (cores × 10⁶). */
export function utilizationOf(f: ScenarioFigures): number {
  return (f.requestsPerSecond * sum(costsOf(f))) / (Math.max(0.01, f.availableCores) * 1e6);
}

/**
 * W from one request class measured at two loads: the app µs per request rise by W for each extra
 * wake-up per request. 0 when either run lacks wake-up counts, or they differ by less than 0.2 per
 * request (too close to tell the slope from noise), or the app µs do not rise with them.
 */
export function fitWakeupCost(busy: ScenarioFigures, light: ScenarioFigures): number {
  const vb = busy.appWakeupsPerRequest;
  const vl = light.appWakeupsPerRequest;
  if (vb === null || vl === null || vl - vb < 0.2) return 0;
  const w = (Math.max(0, light.micros.apps ?? 0) - Math.max(0, busy.micros.apps ?? 0)) / (vl - vb);
  return w > 0 ? w : 0;
}

/** A run's costs with its wake-ups' share taken out of the apps' µs per request: the batched cost. */
function classCosts(f: ScenarioFigures, wakeupMicros: number): TierCosts {
  const c = costsOf(f);
  c.apps = Math.max(0, c.apps - wakeupMicros * (f.appWakeupsPerRequest ?? 0));
  return c;
}

export function fitModel(runs: { homeCached: ScenarioFigures; homeL1: ScenarioFigures; homeL1Light?: ScenarioFigures | null; homeL2?: ScenarioFigures | null; homeUncached: ScenarioFigures; postsCold?: ScenarioFigures | null; others?: ScenarioFigures[] }, cores: number): FittedModel {
  const wakeupMicros = runs.homeL1Light ? fitWakeupCost(runs.homeL1, runs.homeL1Light) : 0;
  const edgeHit = classCosts(runs.homeCached, wakeupMicros);
  const appHit = classCosts(runs.homeL1, wakeupMicros);
  const l2Hit = runs.homeL2 ? classCosts(runs.homeL2, wakeupMicros) : appHit;
  const loggedIn = classCosts(runs.homeUncached, wakeupMicros);
  let render = loggedIn;
  let edgeStoreNginxMicros = 0;
  const fittedOn = ['home-cached', 'home-l1', ...(runs.homeL1Light ? ['home-l1-light'] : []), ...(runs.homeL2 ? ['home-l2'] : []), 'home-uncached'];
  const cold = runs.postsCold ? mixOfRun(runs.postsCold) : null;
  if (runs.postsCold && cold && cold.render >= 0.2) {
    // posts-cold = store + r · render + (1 − r) · appHit per tier (the store: nginx only): solve for render.
    const c = classCosts(runs.postsCold, wakeupMicros);
    edgeStoreNginxMicros = Math.max(0, c.nginx - appHit.nginx);
    c.nginx -= edgeStoreNginxMicros;
    render = zero();
    for (const t of modelTiers) render[t] = Math.max(appHit[t], (c[t] - (1 - cold.render) * appHit[t]) / cold.render);
    fittedOn.push('posts-cold');
  }
  const fitting = [runs.homeCached, runs.homeL1, ...(runs.homeL2 ? [runs.homeL2] : []), runs.homeUncached, ...(fittedOn.includes('posts-cold') ? [runs.postsCold!] : []), ...(runs.others ?? [])];
  const us = fitting.filter((f) => f.requestsPerSecond > 0 && sum(costsOf(f)) > 0).map(utilizationOf).sort((a, b) => a - b);
  if (us.length === 0) throw new Error('capacity model: no fitting run has CPU figures');
  const utilization = Math.min(1, us[Math.floor((us.length - 1) / 2)]);
  const tidy = (c: TierCosts): TierCosts => Object.fromEntries(modelTiers.map((t) => [t, round(c[t])])) as TierCosts;
  return {
    classes: { edgeHit: tidy(edgeHit), appHit: tidy(appHit), l2Hit: tidy(l2Hit), render: tidy(render), loggedIn: tidy(loggedIn) },
    utilization: round(utilization, 3), cores, fittedOn, edgeStoreNginxMicros: round(edgeStoreNginxMicros),
    wakeupMicros: round(wakeupMicros), saturatedWakeupsPerRequest: round(runs.homeL1.appWakeupsPerRequest ?? 0, 4),
  };
}

/**
 * µs per request per tier for a mix; `edgeStoreNginxMicros` when the anonymous requests go through
 * the micro-cache (every one that reaches an app is stored), 0 when they bypass it; `wakeups`: W and
 * the apps' wake-ups per request of the mix (per request of the whole mix, edge hits included).
 */
export function costOfMix(classes: ClassCosts, mix: Mix, edgeStoreNginxMicros = 0, wakeups: { micros: number; perRequest: number } = { micros: 0, perRequest: 0 }): TierCosts {
  const total = requestClasses.reduce((s, k) => s + mix[k], 0);
  if (Math.abs(total - 1) > 1e-6) throw new Error(`capacity model: the mix's shares add up to ${total}, not 1`);
  const c = zero();
  for (const k of requestClasses) for (const t of modelTiers) c[t] += mix[k] * classes[k][t];
  c.nginx += (mix.appHit + mix.l2Hit + mix.render) * edgeStoreNginxMicros;
  c.apps += wakeups.micros * wakeups.perRequest;
  return c;
}

/**
 * A mix from the planning inputs: anonymous hit ratio, logged-in share, which cache serves the
 * hits (edge share) and, of the app's hits, the share L2 serves (the rest are L1 hits).
 */
export function planningMix(opts: { anonymousHitRatio: number; loggedInShare: number; edgeShareOfHits: number; l2ShareOfAppHits?: number }): Mix {
  for (const [k, v] of Object.entries(opts)) if (v !== undefined && !(v >= 0 && v <= 1)) throw new Error(`capacity model: ${k} must be between 0 and 1, got ${v}`);
  const anon = 1 - opts.loggedInShare;
  const hits = anon * opts.anonymousHitRatio;
  const appHits = hits * (1 - opts.edgeShareOfHits);
  const l2 = appHits * (opts.l2ShareOfAppHits ?? 0);
  return { edgeHit: hits * opts.edgeShareOfHits, appHit: appHits - l2, l2Hit: l2, render: anon - hits, loggedIn: opts.loggedInShare };
}

export interface CoreGroup {
  tiers: readonly ModelTier[];
  cores: number;
}

export interface Projection {
  requestsPerSecond: number;
  /** The group that runs out of CPU first. */
  bottleneck: string;
  perGroup: { tiers: string; cores: number; requestsPerSecond: number }[];
}

/**
 * req/s when each group of tiers has its own cores (a tier absent from every group is not
 * limiting): u · cores · 10⁶ / µs per request of the group's tiers.
 */
export function projectGroups(cost: TierCosts, groups: CoreGroup[], utilization: number): Projection {
  if (groups.length === 0) throw new Error('capacity model: no core groups');
  const perGroup = groups.map((g) => {
    if (!(g.cores > 0)) throw new Error(`capacity model: ${g.tiers.join('+')} needs a positive core count, got ${g.cores}`);
    const micros = sum(cost, g.tiers);
    const budget = utilization * g.cores * 1e6;
    return { tiers: g.tiers.join('+'), cores: g.cores, requestsPerSecond: micros > 0 ? budget / micros : Infinity };
  });
  const limiting = perGroup.reduce((a, b) => (b.requestsPerSecond < a.requestsPerSecond ? b : a));
  return { requestsPerSecond: round(limiting.requestsPerSecond, 0), bottleneck: limiting.tiers, perGroup: perGroup.map((g) => ({ ...g, requestsPerSecond: round(g.requestsPerSecond, 0) })) };
}

export interface DeploymentPlan {
  name: string;
  nodes: number;
  coresPerNode: number;
  requestsPerSecond: number;
  /** Cores each tier keeps busy at that rate (the split that saturates every tier together). */
  coresPerTier: Record<(typeof servingTiers)[number], number>;
  /** Processes needed: Node.js and Redis run their request work on one core per process. */
  replicas: { nginxWorkers: number; apps: number; postgresNodes: number; redisProcesses: number };
}

/**
 * A deployment of `nodes` × `coresPerNode` serving a mix (no load generator): cores split in
 * proportion to each tier's cost, so all saturate together; process counts rounded up. An app
 * process runs JavaScript on one core, as a Redis server its commands; a PostgreSQL node uses
 * every core of its node, so reads need ceil(cores / coresPerNode) nodes (a replica on the same
 * node adds no CPU).
 */
export function planDeployment(name: string, cost: TierCosts, utilization: number, nodes: number, coresPerNode: number): DeploymentPlan {
  if (!(nodes >= 1 && coresPerNode >= 1)) throw new Error(`capacity model: ${name}: nodes and cores per node must be at least 1`);
  const serving = sum(cost, servingTiers);
  if (serving <= 0) throw new Error(`capacity model: ${name}: the mix costs no CPU`);
  const totalCores = nodes * coresPerNode;
  const atLeastOne = (x: number) => Math.max(1, Math.ceil(x - 1e-9));
  const rps = (utilization * totalCores * 1e6) / serving;
  const busy = (t: (typeof servingTiers)[number]) => (rps * cost[t]) / 1e6 / utilization;
  const coresPerTier = Object.fromEntries(servingTiers.map((t) => [t, round(busy(t), 2)])) as DeploymentPlan['coresPerTier'];
  return {
    name, nodes, coresPerNode,
    requestsPerSecond: round(rps, 0),
    coresPerTier,
    replicas: {
      nginxWorkers: atLeastOne(coresPerTier.nginx),
      apps: atLeastOne(coresPerTier.apps),
      postgresNodes: atLeastOne(coresPerTier.postgres / coresPerNode),
      redisProcesses: atLeastOne(coresPerTier.redis),
    },
  };
}

/** Signed relative error of a prediction, e.g. 0.12 for 12 % over the measurement. */
export function relativeError(predicted: number, measured: number): number | null {
  return measured > 0 ? round((predicted - measured) / measured, 3) : null;
}
