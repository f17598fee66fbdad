import type { ScenarioName, ScenarioResult } from './bench-report';
import {
  costOfMix, fitModel, mixOfRun, planDeployment, planningMix, projectGroups, relativeError, servingTiers,
  type CoreGroup, type DeploymentPlan, type FittedModel, type Mix, type ModelTier, type ScenarioFigures,
} from './capacity-model';

// The capacity section of the bench report: the model (capacity-model.ts) fitted on this run's
// single-page scenarios, checked against the runs it was not fitted on (zipf-mix, read-write, one
// app pinned to one core), and the projections for a 16-core node and a 3-node cluster.

export interface PlanningInputs {
  anonymousHitRatio: number;
  loggedInShare: number;
  /** Share of the cache hits the edge answers (the rest are app page-cache hits); null: from this run's zipf-mix. */
  edgeShareOfHits: number | null;
  coresPerNode: number;
  nodes: number;
}

export const defaultPlanning: PlanningInputs = { anonymousHitRatio: 0.95, loggedInShare: 0.05, edgeShareOfHits: null, coresPerNode: 16, nodes: 3 };
/** Edge share of hits when the run has no zipf-mix to take it from. */
const fallbackEdgeShare = 0.9;
/** The prediction error the model is held to. */
export const maxPredictionError = 0.25;

export interface ValidationRow {
  scenario: ScenarioName;
  /** How the cores were grouped for the prediction, e.g. "apps: 1 core; nginx+loadgen+postgres+redis: 1 core". */
  cores: string;
  /** Share of the machine the tiers could use during the run (the rest went to other processes); each group's cores are scaled by it. */
  availableShare: number;
  mix: Mix;
  measuredRequestsPerSecond: number;
  predictedRequestsPerSecond: number;
  error: number | null;
  withinTarget: boolean | null;
  /** µs per request over the serving tiers (no load generator): measured vs the model's cost of the mix. */
  measuredServingMicros: number;
  /** The run's apps' event-loop wake-ups per request (null: not recorded; home-l1's used instead). */
  wakeupsPerRequest: number | null;
  predictedServingMicros: number;
  /** Per tier (wrk included), to show which tier the error comes from. */
  measuredMicros: Record<ModelTier, number>;
  predictedMicros: Record<ModelTier, number>;
}

export interface CapacityReport {
  model: FittedModel;
  validation: ValidationRow[];
  planning: { inputs: PlanningInputs & { edgeShareOfHits: number }; mix: Mix; microsPerRequest: Record<ModelTier, number> };
  /** What this machine measured on the Zipf mix (the load generator included) next to the projections. */
  measuredHere: { scenario: ScenarioName; cores: number; requestsPerSecond: number } | null;
  deployments: DeploymentPlan[];
  /** Every request rendered (a logged-in reader on every page) on this machine, serving only. */
  uncachedHere: DeploymentPlan;
  notes: string[];
}

function figures(s: ScenarioResult | undefined): ScenarioFigures | null {
  if (!s || s.status === 'not-run' || !s.cpu || s.requests <= 0) return null;
  const m = s.cpu.microsPerRequest;
  return {
    requestsPerSecond: s.requestsPerSecond,
    requests: s.requests,
    micros: { nginx: m.nginx, apps: m.apps, postgres: m.postgres, redis: m.redis, loadgen: m.loadgen },
    appCache: s.appCache,
    availableCores: Math.max(0.01, s.cpu.machine.cores - s.cpu.machine.othersCores),
    appWakeupsPerRequest: s.cpu.appSwitchesPerRequest?.wakeups ?? null,
  };
}

const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;
const servingMicros = (f: ScenarioFigures) => round(servingTiers.reduce((s, t) => s + (f.micros[t] ?? 0), 0));
const describeGroups = (groups: CoreGroup[]) => groups.map((g) => `${g.tiers.join('+')}: ${g.cores} core${g.cores === 1 ? '' : 's'}`).join('; ');

export function buildCapacityReport(scenarios: ScenarioResult[], cores: number, planning: PlanningInputs = defaultPlanning): CapacityReport | null {
  const by = (name: ScenarioName) => figures(scenarios.find((s) => s.name === name));
  const homeCached = by('home-cached');
  const homeL1 = by('home-l1');
  const homeUncached = by('home-uncached');
  if (!homeCached || !homeL1 || !homeUncached) return null;
  const others = (['node-floor', 'health'] as const).map(by).filter((f): f is ScenarioFigures => f !== null);
  const model = fitModel({ homeCached, homeL1, homeL1Light: by('home-l1-light'), homeL2: by('home-l2'), homeUncached, postsCold: by('posts-cold'), others }, cores);
  const notes: string[] = [];
  if (others.length > 0) notes.push(`utilization also fitted on ${(['node-floor', 'health'] as const).filter((n) => by(n)).join(', ')}`);

  const allTiers: ModelTier[] = ['nginx', 'apps', 'postgres', 'redis', 'loadgen'];
  const validation: ValidationRow[] = [];
  const validate = (name: ScenarioName, groups: CoreGroup[], throughEdge: boolean) => {
    const f = by(name);
    const mix = f ? mixOfRun(f) : null;
    if (!f || !mix) return;
    // The run's own wake-ups per request (how its load reached the apps); a run that did not record
    // them is costed as if its apps were busy (home-l1's), and says so.
    const wakeupsPerRequest = f.appWakeupsPerRequest ?? model.saturatedWakeupsPerRequest * (1 - mix.edgeHit);
    if (f.appWakeupsPerRequest === null && model.wakeupMicros > 0) notes.push(`${name}: no wake-up count recorded, costed at home-l1's`);
    const cost = costOfMix(model.classes, mix, throughEdge ? model.edgeStoreNginxMicros : 0, { micros: model.wakeupMicros, perRequest: wakeupsPerRequest });
    // The load generator is not what the model explains (a deployment has none, and its cost per
    // request depends on its script: the Zipf mix's Lua picks a URL per request): on this machine it
    // shares the cores, so it is charged what it measured, as the other processes are.
    cost.loadgen = Math.max(0, f.micros.loadgen ?? 0);
    // Other processes' share of the machine is spread over every core (they are not pinned).
    const availableShare = Math.min(1, f.availableCores / cores);
    const predicted = projectGroups(cost, groups.map((g) => ({ ...g, cores: g.cores * availableShare })), model.utilization).requestsPerSecond;
    const error = relativeError(predicted, f.requestsPerSecond);
    validation.push({
      scenario: name, cores: describeGroups(groups), availableShare: round(availableShare, 3), mix: roundMix(mix),
      measuredRequestsPerSecond: f.requestsPerSecond, predictedRequestsPerSecond: predicted,
      error, withinTarget: error === null ? null : Math.abs(error) <= maxPredictionError,
      measuredServingMicros: servingMicros(f), wakeupsPerRequest: f.appWakeupsPerRequest, predictedServingMicros: round(servingTiers.reduce((s, t) => s + cost[t], 0)),
      measuredMicros: Object.fromEntries(allTiers.map((t) => [t, round(f.micros[t] ?? 0)])) as Record<ModelTier, number>,
      predictedMicros: Object.fromEntries(allTiers.map((t) => [t, round(cost[t])])) as Record<ModelTier, number>,
    });
  };
  validate('zipf-mix', [{ tiers: allTiers, cores }], true);
  validate('read-write', [{ tiers: allTiers, cores }], true);
  // app-pinned bypasses the micro-cache (X-Bench-Bypass-Edge), as home-l1.
  if (cores >= 2) validate('app-pinned', [{ tiers: ['apps'], cores: 1 }, { tiers: ['nginx', 'loadgen', 'postgres', 'redis'], cores: cores - 1 }], false);

  const zipf = by('zipf-mix');
  const zipfMix = zipf ? mixOfRun(zipf) : null;
  const hits = zipfMix ? zipfMix.edgeHit + zipfMix.appHit + zipfMix.l2Hit : 0;
  const edgeShareOfHits = planning.edgeShareOfHits ?? (zipfMix && hits > 0 ? round(zipfMix.edgeHit / hits, 3) : fallbackEdgeShare);
  if (planning.edgeShareOfHits === null) notes.push(zipfMix && hits > 0 ? `edge share of hits ${edgeShareOfHits} taken from this run's zipf-mix` : `edge share of hits: no zipf-mix in this run, ${fallbackEdgeShare} assumed`);
  const appHits = zipfMix ? zipfMix.appHit + zipfMix.l2Hit : 0;
  const l2ShareOfAppHits = zipfMix && appHits > 0 ? round(zipfMix.l2Hit / appHits, 3) : 0;
  const mix = planningMix({ anonymousHitRatio: planning.anonymousHitRatio, loggedInShare: planning.loggedInShare, edgeShareOfHits, l2ShareOfAppHits });
  // A deployment sized to keep its apps busy: their wake-ups per request reaching them are home-l1's.
  const saturated = (m: Mix) => ({ micros: model.wakeupMicros, perRequest: model.saturatedWakeupsPerRequest * (1 - m.edgeHit) });
  const cost = costOfMix(model.classes, mix, model.edgeStoreNginxMicros, saturated(mix));
  const u = model.utilization;
  const deployments = [
    planDeployment(`this machine (${cores} cores)`, cost, u, 1, cores),
    planDeployment(`one ${planning.coresPerNode}-core node`, cost, u, 1, planning.coresPerNode),
    planDeployment(`${planning.nodes}-node cluster (${planning.nodes} × ${planning.coresPerNode} cores)`, cost, u, planning.nodes, planning.coresPerNode),
  ];
  const allRendered: Mix = { edgeHit: 0, appHit: 0, l2Hit: 0, render: 0, loggedIn: 1 };
  const uncachedHere = planDeployment(`every request rendered, this machine (${cores} cores)`, costOfMix(model.classes, allRendered, 0, saturated(allRendered)), u, 1, cores);
  const zipfRun = scenarios.find((s) => s.name === 'zipf-mix' && s.status !== 'not-run');
  return {
    model,
    validation,
    planning: { inputs: { ...planning, edgeShareOfHits }, mix: roundMix(mix), microsPerRequest: Object.fromEntries(allTiers.map((t) => [t, round(cost[t])])) as Record<ModelTier, number> },
    measuredHere: zipfRun ? { scenario: 'zipf-mix', cores, requestsPerSecond: zipfRun.requestsPerSecond } : null,
    deployments,
    uncachedHere,
    notes,
  };
}

function roundMix(m: Mix): Mix {
  return { edgeHit: round(m.edgeHit, 4), appHit: round(m.appHit, 4), l2Hit: round(m.l2Hit, 4), render: round(m.render, 4), loggedIn: round(m.loggedIn, 4) };
}
