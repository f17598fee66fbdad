import { describe, expect, it } from 'vitest';
import {
  costOfMix, fitModel, fitWakeupCost, mixOfRun, planDeployment, planningMix, projectGroups, relativeError, utilizationOf,
  type ScenarioFigures, type TierCosts,
} from '../../infra/bench/capacity-model';
import { buildCapacityReport } from '../../infra/bench/capacity-report';
import { formatCapacity } from '../../infra/bench/capacity-table';
import { notRun, type ScenarioName, type ScenarioResult } from '../../infra/bench/bench-report';

// The capacity model's arithmetic, on hand-made figures whose answers are worked out in comments.

const costs = (nginx: number, apps: number, postgres: number, redis: number, loadgen: number): TierCosts => ({ nginx, apps, postgres, redis, loadgen });
const run = (rps: number, c: TierCosts, appCache: ScenarioFigures['appCache'] = null, availableCores = 2, appWakeupsPerRequest: number | null = null): ScenarioFigures => ({
  requestsPerSecond: rps, requests: rps * 10, micros: c, appCache, availableCores, appWakeupsPerRequest,
});

describe('mixes', () => {
  it('derives class shares from the page-cache counters (edge hits never reach an app)', () => {
    // 10,000 requests: 1,000 L1 hits + 200 stale (app hits), 300 L2 hits, 100 renders → 8,400 at the edge.
    const mix = mixOfRun(run(1000, costs(0, 0, 0, 0, 0), { hitsL1: 1000, hitsL2: 300, staleServed: 200, renders: 100 }));
    expect(mix).toEqual({ edgeHit: 0.84, appHit: 0.12, l2Hit: 0.03, render: 0.01, loggedIn: 0 });
    expect(mixOfRun(run(1000, costs(0, 0, 0, 0, 0), null))).toBeNull();
  });

  it('builds a planning mix from hit ratio, logged-in share and where hits are served', () => {
    // 10 % logged in; of the 90 % anonymous, 95 % hit (85.5 %), 80 % of those at the edge, 25 % of the app's hits from L2.
    const m = planningMix({ anonymousHitRatio: 0.95, loggedInShare: 0.1, edgeShareOfHits: 0.8, l2ShareOfAppHits: 0.25 });
    expect(m.loggedIn).toBeCloseTo(0.1);
    expect(m.edgeHit).toBeCloseTo(0.684);
    expect(m.appHit).toBeCloseTo(0.12825);
    expect(m.l2Hit).toBeCloseTo(0.04275);
    expect(m.render).toBeCloseTo(0.045);
    expect(() => planningMix({ anonymousHitRatio: 1.2, loggedInShare: 0, edgeShareOfHits: 0.5 })).toThrow(/anonymousHitRatio must be between 0 and 1/);
  });

  it('costs a mix per tier as the share-weighted sum of the classes, and refuses shares not adding to 1', () => {
    const classes = { edgeHit: costs(10, 0, 0, 0, 5), appHit: costs(40, 100, 0, 2, 10), l2Hit: costs(40, 150, 0, 20, 10), render: costs(40, 1000, 800, 50, 10), loggedIn: costs(40, 1200, 900, 60, 10) };
    const c = costOfMix(classes, { edgeHit: 0.5, appHit: 0.3, l2Hit: 0, render: 0.2, loggedIn: 0 });
    // nginx 5 + 12 + 8; apps 30 + 200; pg 160; redis 0.6 + 10; wrk 2.5 + 3 + 2
    expect(c.nginx).toBeCloseTo(25);
    expect(c.apps).toBeCloseTo(230);
    expect(c.postgres).toBeCloseTo(160);
    expect(c.redis).toBeCloseTo(10.6);
    expect(c.loadgen).toBeCloseTo(7.5);
    expect(() => costOfMix(classes, { edgeHit: 0.5, appHit: 0.3, l2Hit: 0, render: 0.1, loggedIn: 0 })).toThrow(/add up to 0.9/);
  });
});

describe('fitting', () => {
  // home-cached: 20,000 req/s × 50 µs = 1 core-second per second of 2 available → 0.5
  const homeCached = run(20_000, costs(30, 0, 0, 0, 20));
  // home-l1: 4,000 × 400 = 1.6 of 2 → 0.8
  const homeL1 = run(4_000, costs(60, 300, 0, 10, 30));
  // home-uncached: 500 × 3,000 = 1.5 of 2 → 0.75
  const homeUncached = run(500, costs(60, 1800, 1000, 100, 40));

  it('takes each class from its scenario and the utilization as the median over the fitting runs', () => {
    const m = fitModel({ homeCached, homeL1, homeUncached }, 2);
    expect(m.classes.edgeHit).toEqual(costs(30, 0, 0, 0, 20));
    expect(m.classes.appHit).toEqual(costs(60, 300, 0, 10, 30));
    expect(m.classes.l2Hit).toEqual(m.classes.appHit); // no home-l2: costed as an L1 hit
    expect(m.classes.render).toEqual(m.classes.loggedIn);
    expect(m.utilization).toBeCloseTo(0.75);
    expect(m.fittedOn).toEqual(['home-cached', 'home-l1', 'home-uncached']);
  });

  it('utilization counts only the cores other processes left free', () => {
    expect(utilizationOf(run(4_000, costs(60, 300, 0, 10, 30), null, 2))).toBeCloseTo(0.8);
    expect(utilizationOf(run(4_000, costs(60, 300, 0, 10, 30), null, 1.6))).toBeCloseTo(1);
  });

  it('solves posts-cold for the render cost: posts-cold = r · render + (1 − r) · appHit', () => {
    // r = 0.5: apps 0.5 · R + 0.5 · 300 = 1150 → R = 2000; pg 0.5 · R = 400 → 800.
    const postsCold = run(800, costs(60, 1150, 400, 30, 30), { hitsL1: 5000, hitsL2: 0, staleServed: 0, renders: 4000 });
    const m = fitModel({ homeCached, homeL1, homeUncached, postsCold }, 2);
    expect(m.classes.render.apps).toBeCloseTo(2000);
    expect(m.classes.render.postgres).toBeCloseTo(800);
    expect(m.classes.render.nginx).toBeCloseTo(60);
    expect(m.fittedOn).toContain('posts-cold');
  });

  it('takes the edge store from posts-cold\'s nginx (stored misses) less home-l1\'s (cache bypassed), and charges it only through the edge', () => {
    const postsCold = run(800, costs(360, 1150, 400, 30, 30), { hitsL1: 5000, hitsL2: 0, staleServed: 0, renders: 4000 });
    const m = fitModel({ homeCached, homeL1, homeUncached, postsCold }, 2);
    expect(m.edgeStoreNginxMicros).toBe(300);
    expect(m.classes.render.nginx).toBeCloseTo(60);
    // 90 % edge hits, 10 % L1 hits: nginx 0.9 · 30 + 0.1 · 60 = 33, plus 0.1 · 300 through the edge.
    const mix = { edgeHit: 0.9, appHit: 0.1, l2Hit: 0, render: 0, loggedIn: 0 };
    expect(costOfMix(m.classes, mix).nginx).toBeCloseTo(33);
    expect(costOfMix(m.classes, mix, m.edgeStoreNginxMicros).nginx).toBeCloseTo(63);
    // Logged-in requests never use the micro-cache: no store.
    expect(costOfMix(m.classes, { edgeHit: 0, appHit: 0, l2Hit: 0, render: 0, loggedIn: 1 }, 300).nginx).toBeCloseTo(60);
  });

  it('separates the apps\' cost per event-loop wake-up from their batched cost with home-l1 at two loads', () => {
    // 64 connections: 100 µs at 0.05 wake-ups per request; 3 connections: 300 µs at 1.05.
    // W = (300 − 100) / (1.05 − 0.05) = 200 µs; batched L1 hit 100 − 0.05 · 200 = 90 µs.
    const busy = run(6_000, costs(40, 100, 0, 1, 20), null, 2, 0.05);
    const light = run(1_000, costs(40, 300, 0, 1, 20), null, 2, 1.05);
    expect(fitWakeupCost(busy, light)).toBeCloseTo(200);
    const uncached = run(500, costs(60, 1800, 1000, 100, 40), null, 2, 0.5);
    const m = fitModel({ homeCached, homeL1: busy, homeL1Light: light, homeUncached: uncached }, 2);
    expect(m.wakeupMicros).toBeCloseTo(200);
    expect(m.saturatedWakeupsPerRequest).toBeCloseTo(0.05);
    expect(m.classes.appHit.apps).toBeCloseTo(90);
    // Each class loses its own run's wake-ups: 1800 − 0.5 · 200.
    expect(m.classes.loggedIn.apps).toBeCloseTo(1700);
    expect(m.classes.appHit.nginx).toBe(40); // only the apps pay for their loop's wake-ups
    expect(m.fittedOn).toEqual(['home-cached', 'home-l1', 'home-l1-light', 'home-uncached']);
    // Wake-ups too close to tell, not recorded, or app CPU not rising with them: no W.
    expect(fitWakeupCost(busy, run(1_000, costs(40, 300, 0, 1, 20), null, 2, 0.2))).toBe(0);
    expect(fitWakeupCost(busy, run(1_000, costs(40, 300, 0, 1, 20)))).toBe(0);
    expect(fitWakeupCost(busy, run(1_000, costs(40, 90, 0, 1, 20), null, 2, 1.05))).toBe(0);
    // Without W the classes are the runs' costs as measured.
    expect(fitModel({ homeCached, homeL1: busy, homeUncached: uncached }, 2).classes.appHit.apps).toBe(100);
  });

  it('charges W for each wake-up per request of a mix on top of the classes\' batched costs', () => {
    const classes = { edgeHit: costs(10, 0, 0, 0, 5), appHit: costs(40, 90, 0, 2, 10), l2Hit: costs(40, 150, 0, 20, 10), render: costs(40, 1000, 800, 50, 10), loggedIn: costs(40, 1200, 900, 60, 10) };
    const mix = { edgeHit: 0.75, appHit: 0.25, l2Hit: 0, render: 0, loggedIn: 0 };
    // apps 0.25 · 90 = 22.5, plus 0.2 wake-ups per request · 200 µs = 40 → 62.5; nothing else changes.
    const c = costOfMix(classes, mix, 0, { micros: 200, perRequest: 0.2 });
    expect(c.apps).toBeCloseTo(62.5);
    expect(c.nginx).toBeCloseTo(costOfMix(classes, mix).nginx);
  });

  it('refuses to fit without CPU figures', () => {
    const none = run(100, costs(0, 0, 0, 0, 0));
    expect(() => fitModel({ homeCached: none, homeL1: none, homeUncached: none }, 2)).toThrow(/no fitting run has CPU figures/);
  });
});

describe('projections', () => {
  const cost = costs(50, 300, 100, 20, 30);

  it('one shared group: u · cores · 10⁶ / the sum of the tiers', () => {
    // 0.9 · 2 · 10⁶ / 500 = 3,600
    expect(projectGroups(cost, [{ tiers: ['nginx', 'apps', 'postgres', 'redis', 'loadgen'], cores: 2 }], 0.9).requestsPerSecond).toBe(3600);
  });

  it('separate groups: the least of them is the deployment\'s rate and its bottleneck', () => {
    // apps alone on 1 core: 10⁶ / 300 = 3,333; the rest on 1 core: 10⁶ / 200 = 5,000.
    const p = projectGroups(cost, [{ tiers: ['apps'], cores: 1 }, { tiers: ['nginx', 'postgres', 'redis', 'loadgen'], cores: 1 }], 1);
    expect(p.requestsPerSecond).toBe(3333);
    expect(p.bottleneck).toBe('apps');
    expect(p.perGroup[1].requestsPerSecond).toBe(5000);
    expect(() => projectGroups(cost, [{ tiers: ['apps'], cores: 0 }], 1)).toThrow(/positive core count/);
  });

  it('plans a deployment: rate over the serving tiers only, cores split by cost, processes rounded up', () => {
    // serving 470 µs; 16 cores at u 0.94: 0.94 · 16 · 10⁶ / 470 = 32,000 req/s.
    const p = planDeployment('one 16-core node', cost, 0.94, 1, 16);
    expect(p.requestsPerSecond).toBe(32_000);
    // busy cores per tier at that rate: 32,000 · µs / 10⁶ / 0.94 → nginx 1.70, apps 10.21, pg 3.40, redis 0.68
    expect(p.coresPerTier).toEqual({ nginx: 1.7, apps: 10.21, postgres: 3.4, redis: 0.68 });
    expect(p.replicas).toEqual({ nginxWorkers: 2, apps: 11, postgresNodes: 1, redisProcesses: 1 });
    // Three such nodes: three times the rate; PostgreSQL's 10.2 cores fit one 16-core node.
    const c = planDeployment('3-node cluster', cost, 0.94, 3, 16);
    expect(c.requestsPerSecond).toBe(96_000);
    expect(c.replicas).toEqual({ nginxWorkers: 6, apps: 31, postgresNodes: 1, redisProcesses: 3 });
    // A read-heavy mix on small nodes: PostgreSQL keeps 400/470 of 12 cores busy (10.2) → 3 nodes of 4.
    expect(planDeployment('small nodes', costs(10, 50, 400, 10, 0), 0.94, 3, 4).replicas.postgresNodes).toBe(3);
    expect(() => planDeployment('x', cost, 0.9, 0, 16)).toThrow(/at least 1/);
  });

  it('relative error is signed and null without a measurement', () => {
    expect(relativeError(1200, 1000)).toBe(0.2);
    expect(relativeError(750, 1000)).toBe(-0.25);
    expect(relativeError(1, 0)).toBeNull();
  });
});

describe('the report section', () => {
  const scenario = (name: ScenarioName, rps: number, c: TierCosts, appCache: ScenarioResult['appCache'], othersCores = 0, wakeups?: number): ScenarioResult => ({
    ...notRun(name, name, '', 64), status: 'ok', reason: undefined, requests: rps * 10, requestsPerSecond: rps, durationSeconds: 10, appCache,
    cpu: {
      microsPerRequest: { ...c, cdn: null }, servingMicrosPerRequest: c.nginx + c.apps + c.postgres + c.redis,
      coresBusy: { nginx: 0, apps: 0, postgres: 0, redis: 0, cdn: 0, loadgen: 0 }, machine: { cores: 2, busyCores: 2, othersCores }, appRssBytes: [],
      ...(wakeups === undefined ? {} : { appSwitchesPerRequest: { wakeups, preemptions: 0 } }),
    },
  });
  const fitting = [
    scenario('home-cached', 20_000, costs(30, 0, 0, 0, 20), { hitsL1: 0, hitsL2: 0, staleServed: 0, renders: 0 }),
    scenario('home-l1', 4_000, costs(60, 300, 0, 10, 30), { hitsL1: 40_000, hitsL2: 0, staleServed: 0, renders: 0 }),
    scenario('home-uncached', 500, costs(60, 1800, 1000, 100, 40), { hitsL1: 0, hitsL2: 0, staleServed: 0, renders: 5000 }),
  ];

  it('predicts a held-out mix from its counters and judges the error against ±25 %', () => {
    // zipf: 90 % edge, 10 % L1 → nginx 33, apps 30, redis 1, and wrk as measured (22: the load
    // generator is charged, not modelled) = 86 µs; u = median(0.5, 0.8, 0.75) = 0.75 → 0.75 · 2 · 10⁶ / 86 = 17,442.
    const zipf = scenario('zipf-mix', 15_000, costs(35, 32, 0, 1, 22), { hitsL1: 15_000, hitsL2: 0, staleServed: 0, renders: 0 });
    // Pinned: apps alone on 1 core at u 0.75: 0.75 · 10⁶ / 300 = 2,500; half the machine went elsewhere → 1,250.
    const pinned = scenario('app-pinned', 2_000, costs(60, 300, 0, 10, 30), { hitsL1: 20_000, hitsL2: 0, staleServed: 0, renders: 0 }, 1);
    const r = buildCapacityReport([...fitting, zipf, pinned], 2)!;
    expect(r.model.utilization).toBeCloseTo(0.75);
    const [z, p] = r.validation;
    expect(z).toMatchObject({ scenario: 'zipf-mix', predictedRequestsPerSecond: 17_442, measuredRequestsPerSecond: 15_000, error: 0.163, withinTarget: true, predictedServingMicros: 64, wakeupsPerRequest: null });
    expect(p).toMatchObject({ scenario: 'app-pinned', availableShare: 0.5, predictedRequestsPerSecond: 1250, error: -0.375, withinTarget: false });
    expect(p.cores).toBe('apps: 1 core; nginx+loadgen+postgres+redis: 1 core');
    // The planning mix takes the edge share from the zipf run (90 % of hits at the edge).
    expect(r.planning.inputs.edgeShareOfHits).toBe(0.9);
    expect(r.deployments.map((d) => d.name)).toEqual(['this machine (2 cores)', 'one 16-core node', '3-node cluster (3 × 16 cores)']);
    expect(r.deployments[2].requestsPerSecond).toBeCloseTo(r.deployments[1].requestsPerSecond * 3, -1);
    expect(r.measuredHere).toEqual({ scenario: 'zipf-mix', cores: 2, requestsPerSecond: 15_000 });
    const text = formatCapacity(r).join('\n');
    expect(text).toContain('PASS  model predicts zipf-mix: 17,442 req/s, measured 15,000 (error 16.3 %');
    expect(text).toContain('        µs per request predicted/measured: nginx 33/35, apps 30/32, postgres 0/0, redis 1/1, wrk 22/22 (wrk charged as measured; wake-ups not recorded)');
    expect(text).toContain('FAIL  model predicts app-pinned: 1,250 req/s, measured 2,000 (error -37.5 %');
    expect(text).toMatch(/^ {2}one 16-core node\s+[\d,]+\s+\d+\s+\d+\s+1\s+\d+$/m);
  });

  it('costs a held-out run with its own wake-ups: a pinned, saturated app pays only the batched cost', () => {
    // home-l1 300 µs at 0.05 wake-ups, home-l1-light 500 µs at 1.05 → W = 200, batched L1 hit 290 µs.
    const withWakeups = [
      fitting[0],
      scenario('home-l1', 4_000, costs(60, 300, 0, 10, 30), { hitsL1: 40_000, hitsL2: 0, staleServed: 0, renders: 0 }, 0, 0.05),
      scenario('home-l1-light', 1_000, costs(60, 500, 0, 10, 30), { hitsL1: 10_000, hitsL2: 0, staleServed: 0, renders: 0 }, 0, 1.05),
      fitting[2],
    ];
    // Pinned, no wake-ups: apps 290 µs on its own core at u 0.75 → 2,586; the other core: 0.75 · 10⁶ / 100 = 7,500.
    const pinned = scenario('app-pinned', 2_500, costs(60, 280, 0, 10, 30), { hitsL1: 25_000, hitsL2: 0, staleServed: 0, renders: 0 }, 0, 0);
    // A light held-out run, 0.6 wake-ups per request: apps 290 + 120 = 410.
    const light = scenario('zipf-mix', 1_500, costs(60, 400, 0, 10, 30), { hitsL1: 15_000, hitsL2: 0, staleServed: 0, renders: 0 }, 0, 0.6);
    const r = buildCapacityReport([...withWakeups, light, pinned], 2)!;
    expect(r.model.wakeupMicros).toBe(200);
    const [z, p] = r.validation;
    expect(p).toMatchObject({ predictedRequestsPerSecond: 2586, wakeupsPerRequest: 0 });
    expect(p.predictedMicros.apps).toBe(290);
    expect(z.predictedMicros.apps).toBe(410);
    // Planning keeps the apps busy: home-l1's 0.05 wake-ups per request that reaches an app.
    expect(r.planning.microsPerRequest.apps).toBeCloseTo(r.planning.mix.appHit * 290 + (1 - r.planning.mix.edgeHit) * 0.05 * 200 + r.planning.mix.render * r.model.classes.render.apps + r.planning.mix.loggedIn * r.model.classes.loggedIn.apps, 0);
    expect(formatCapacity(r).join('\n')).toContain('each app event-loop wake-up +200 µs apps (home-l1: 0.050 wake-ups per request)');
  });

  it('is absent when a fitting scenario was not run', () => {
    expect(buildCapacityReport([fitting[0], fitting[1]], 2)).toBeNull();
  });
});
