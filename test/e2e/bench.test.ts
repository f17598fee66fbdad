import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BenchReport } from '../../infra/bench/bench-report';
import { scenarioNames } from '../../infra/bench/bench-report';
import { benchWorkPrefix } from '../../infra/bench/run-bench';
import { BASE_PORT_SPAN } from '../../infra/local/cluster-layout';
import { freePortBlock } from '../../infra/local/process';
import { projectRoot } from '../../infra/local/state';
import { runCli } from './helpers-cluster';

// `aidiary bench --duration 2 --rounds 1` end to end against a real local cluster (3 apps, 2
// replicas, nginx, both Redis roles) started through the CLI in a temp state dir on free ports.
// Checks the report is complete (the node:http floor behind the bench's own nginx, CPU per tier
// from /proc, the capacity model), not that the targets pass: 2-second runs on a shared 2-core
// machine say nothing about throughput. The cluster has Varnish in front (`up --cdn varnish`), so
// the CDN scenarios run through it (a cluster without one skips them with a printed reason:
// test/unit/bench-report.test.ts checks the reason's source).

const stateDir = mkdtempSync(join(tmpdir(), 'aidiary-bench-e2e-'));
chmodSync(stateDir, 0o755);
const resultsDir = mkdtempSync(join(tmpdir(), 'aidiary-bench-results-'));
const outFile = join(resultsDir, 'out.json');
const cli = (...args: string[]) => runCli([...args, '--state-dir', stateDir]);
/** `up --seed-posts N`: N published posts, all of them in the sitemap the bench's mix is built from. */
const seedPosts = 1200;
const cdnScenarios: string[] = ['cdn-hit', 'zipf-mix-cdn'];
let run: { code: number; stdout: string; stderr: string };
let report: BenchReport;

beforeAll(async () => {
  const basePort = await freePortBlock(BASE_PORT_SPAN);
  const up = await cli('up', '--detach', '--apps', '3', '--db-replicas', '2', '--base-port', String(basePort), '--seed-posts', String(seedPosts), '--cdn', 'varnish');
  if (up.code !== 0) throw new Error(`up failed (${up.code}): ${up.stderr}`);
  run = await cli('bench', '--duration', '2', '--rounds', '1', '--json', '--out', outFile, '--results-dir', resultsDir);
  report = JSON.parse(run.stdout) as BenchReport;
}, 420_000);

afterAll(async () => {
  await cli('down').catch(() => {});
  rmSync(stateDir, { recursive: true, force: true });
  rmSync(resultsDir, { recursive: true, force: true });
}, 120_000);

describe('aidiary bench --duration 2 on the local cluster', () => {
  it('prints progress on stderr and exits 0 for a valid run', () => {
    expect(run.stderr).toMatch(/bench: home-cached: measuring 2 s at 64 connections/);
    expect(run.code, run.stderr.slice(-2000)).toBe(0);
    expect(report.valid).toBe(true);
  });

  it('runs cdn-hit and zipf-mix-cdn through Varnish: hit ratio from nginx\'s request count, Varnish\'s own CPU', () => {
    const byName = Object.fromEntries(report.scenarios.map((s) => [s.name, s]));
    for (const name of cdnScenarios) {
      const s = byName[name];
      expect(s.status, `${name}: ${s.reason ?? s.invalidReasons.join('; ')}`).toBe('ok');
      // Warm: nearly every request answered by Varnish without asking nginx.
      expect(s.cdnHitRatio!, name).toBeGreaterThan(0.9);
      expect(s.cpu!.microsPerRequest.cdn!, name).toBeGreaterThan(0);
      expect(s.cpu!.microsPerRequest.nginx!, name).toBeLessThan(s.cpu!.microsPerRequest.cdn!);
      expect(s.latencyMs.p99, name).toBeGreaterThan(0);
    }
    // The same bytes as the page nginx serves.
    expect(byName['cdn-hit'].bytesPerResponse.mean).toBe(byName['home-cached'].bytesPerResponse.mean);
    expect(byName['cdn-hit'].ratioToStatic).toBeGreaterThan(0);
    // Scenarios that do not go through the CDN never show a CDN hit ratio.
    expect(byName['home-cached'].cdnHitRatio).toBeNull();
  });

  it('measures every scenario, with numbers, and no errors', () => {
    expect(report.scenarios.map((s) => s.name)).toEqual([...scenarioNames]);
    for (const s of report.scenarios) {
      expect(s.status, `${s.name}: ${s.reason ?? s.invalidReasons.join('; ')}`).toBe('ok');
      expect(s.requests, s.name).toBeGreaterThan(0);
      expect(s.requestsPerSecond, s.name).toBeGreaterThan(0);
      for (const k of ['mean', 'p50', 'p99', 'max'] as const) expect(Number.isFinite(s.latencyMs[k]) && s.latencyMs[k] > 0, `${s.name} ${k}`).toBe(true);
      expect(s.latencyMs.p50).toBeLessThanOrEqual(s.latencyMs.p99);
      expect(s.latencyMs.p99).toBeLessThanOrEqual(s.latencyMs.max);
      expect(s.non2xx, s.name).toBe(0);
      expect(s.statuses['200'], s.name).toBe(s.requests);
      // home-l1-light runs at 3 connections (the capacity model's second rate).
      expect(s.connections, s.name).toBe(s.name === 'home-l1-light' ? 3 : 64);
    }
  });

  it('compares bytes per response with the real page (no redirect or error page counted as success)', () => {
    const byName = Object.fromEntries(report.scenarios.map((s) => [s.name, s]));
    const home = byName['home-cached'].bytesPerResponse;
    expect(home.min).toBe(home.max);
    expect(home.min).toBeGreaterThan(2000);
    // The static file is the home page's size, byte for byte.
    expect(byName.static.bytesPerResponse.mean).toBe(home.mean);
    expect(byName['home-uncached'].bytesPerResponse.mean).toBe(home.mean);
    for (const s of report.scenarios) expect(s.wrongSizeBodies, s.name).toBe(0);
  });

  it('switches cache layers: uncached renders every request, zipf-mix reports a hit ratio, the author wrote', () => {
    const byName = Object.fromEntries(report.scenarios.map((s) => [s.name, s]));
    // Layers off and single-flight off: no L1/L2 hit at all, and every request rendered (a
    // request cut off at the end of the run may have rendered without being counted by wrk).
    const uncached = byName['home-uncached'];
    expect(uncached.appCache).toMatchObject({ hitsL1: 0, hitsL2: 0, staleServed: 0 });
    expect(uncached.appCache!.renders).toBeGreaterThanOrEqual(uncached.requests);
    expect(uncached.cacheHitRatio).toBe(0);
    expect(uncached.notes.join(' ')).not.toMatch(/not an uncached run/);
    // Edge bypassed, L1 on: (nearly) every request is an app L1 hit.
    const l1 = byName['home-l1'];
    expect(l1.appCache!.hitsL1).toBeGreaterThan(l1.requests * 0.9);
    expect(l1.cacheHitRatio!).toBeGreaterThan(0.9);
    expect(byName['home-cached'].cacheHitRatio!).toBeGreaterThan(0.9);
    expect(byName.static.cacheHitRatio).toBeNull();
    expect(byName['posts-cold'].cacheHitRatio!).toBeLessThan(0.5);
    expect(typeof byName['zipf-mix'].cacheHitRatio).toBe('number');
    expect(byName['read-write'].writer!.writes).toBeGreaterThanOrEqual(2);
    expect(byName['read-write'].writer!.non2xx).toBe(0);
  });

  it('reports ratios, targets, machine facts and the mix', () => {
    expect(report.ratios.homeCachedOverStatic).toBeGreaterThan(0);
    expect(report.ratios.homeUncachedOverHealth).toBeGreaterThan(0);
    // 5 on throughput, latency, hit ratio and errors; 6 against the node:http floor (req/s, CPU, RSS).
    expect(report.targets.map((t) => t.name)).toHaveLength(11);
    for (const t of report.targets) expect(typeof t.pass).toBe('boolean');
    expect(report.machine.cores).toBeGreaterThan(0);
    expect(report.machine.cpuModel.length).toBeGreaterThan(0);
    for (const v of ['node', 'nginx', 'postgres', 'redis', 'wrk'] as const) expect(report.machine.versions[v], v).toBeTruthy();
    expect(report.target).toMatchObject({ kind: 'local', apps: 3, dbReplicas: 2 });
    expect(report.mix!.postsAvailable).toBe(seedPosts);
    expect(report.mix!.posts).toBe(seedPosts);
    expect(report.mix!.listings).toBeGreaterThan(3);
  });

  it('runs the node:http floor behind nginx and reports every scenario as a ratio to it and to static', () => {
    const byName = Object.fromEntries(report.scenarios.map((s) => [s.name, s]));
    const floor = byName['node-floor'];
    expect(floor.status).toBe('ok');
    // The home page's bytes, from a server that is not the app: no page-cache counter moved.
    expect(floor.bytesPerResponse.mean).toBe(byName['home-cached'].bytesPerResponse.mean);
    expect(floor.appCache).toMatchObject({ hitsL1: 0, hitsL2: 0, renders: 0 });
    expect(floor.ratioToNodeFloor).toBeNull();
    for (const s of report.scenarios.filter((x) => x.status === 'ok' && x.name !== 'node-floor' && x.name !== 'static')) {
      expect(s.ratioToNodeFloor, s.name).toBeCloseTo(s.requestsPerSecond / floor.requestsPerSecond, 2);
      expect(s.ratioToStatic, s.name).toBeCloseTo(s.requestsPerSecond / byName.static.requestsPerSecond, 2);
    }
    expect(run.stderr).toMatch(/restored: the bench's node:http floor server \(pid \d+\) stopped/);
    expect(run.stderr).toMatch(/restored: the bench's nginx for node-floor \(pid \d+\) stopped/);
  });

  it('reports CPU µs per request per tier and each app\'s RSS, from the tiers that did the work', () => {
    const byName = Object.fromEntries(report.scenarios.map((s) => [s.name, s]));
    for (const s of report.scenarios.filter((x) => x.status === 'ok')) {
      const c = s.cpu!;
      expect(c, s.name).not.toBeNull();
      // Every request comes from wrk and passes nginx (through the CDN: only its misses do).
      if (!cdnScenarios.includes(s.name)) expect(c.microsPerRequest.nginx, `${s.name} nginx`).toBeGreaterThan(0);
      expect(c.microsPerRequest.loadgen, `${s.name} wrk`).toBeGreaterThan(0);
      expect(c.appRssBytes).toHaveLength(3);
      for (const a of c.appRssBytes) expect(a.bytes, `${s.name} RSS of ${a.pid}`).toBeGreaterThan(20 * 2 ** 20);
      expect(c.machine.cores).toBeGreaterThan(0.5);
    }
    // The app tier works for app requests (the floor server counts as the app tier in node-floor).
    for (const name of ['node-floor', 'health', 'home-l1', 'home-l1-light', 'home-l2', 'home-uncached', 'posts-cold', 'app-pinned']) expect(byName[name].cpu!.microsPerRequest.apps, name).toBeGreaterThan(0);
    // PostgreSQL renders; Redis serves L2 hits and stores rendered pages.
    for (const name of ['home-uncached', 'posts-cold']) expect(byName[name].cpu!.microsPerRequest.postgres, name).toBeGreaterThan(0);
    for (const name of ['home-l2', 'posts-cold']) expect(byName[name].cpu!.microsPerRequest.redis, name).toBeGreaterThan(0);
    // After zipf-mix every app's L1 holds pages (RSS less L1 is the second RSS figure).
    for (const a of byName['zipf-mix'].cpu!.appRssBytes) expect(a.l1Bytes, `L1 of ${a.pid}`).toBeGreaterThan(0);
    // A render costs the apps more than an L1 hit.
    expect(byName['home-uncached'].cpu!.microsPerRequest.apps!).toBeGreaterThan(byName['home-l1'].cpu!.microsPerRequest.apps!);
    for (const tier of ['nginx', 'apps', 'postgres', 'redis'] as const) expect(report.idleCoresPerTier![tier]).toBeGreaterThanOrEqual(0);
  });

  it('pins app-0 to one core for app-pinned and puts its affinity back', async () => {
    const pinned = report.scenarios.find((s) => s.name === 'app-pinned')!;
    expect(pinned.status).toBe('ok');
    expect(pinned.appCache!.hitsL1).toBeGreaterThan(pinned.requests * 0.9);
    const status = JSON.parse((await cli('status', '--json')).stdout) as { apps: { name: string; pid: number }[] };
    const app0 = status.apps.find((a) => a.name === 'app-0')!;
    const mine = spawnSync('taskset', ['-c', '-p', String(process.pid)], { encoding: 'utf8' }).stdout.split(':').pop()!.trim();
    expect(spawnSync('taskset', ['-c', '-p', String(app0.pid)], { encoding: 'utf8' }).stdout.split(':').pop()!.trim()).toBe(mine);
    expect(run.stderr).toMatch(/bench: app-pinned: app-0 \(pid \d+\) back on CPUs \S+/);
  });

  it('fits the capacity model, validates it on runs it was not fitted on, and projects deployments', () => {
    const c = report.capacity!;
    expect(c.model.fittedOn).toEqual(['home-cached', 'home-l1', 'home-l1-light', 'home-l2', 'home-uncached', 'posts-cold']);
    expect(c.model.wakeupMicros).toBeGreaterThanOrEqual(0);
    expect(c.model.utilization).toBeGreaterThan(0);
    expect(c.model.classes.render.postgres).toBeGreaterThan(0);
    expect(c.validation.map((v) => v.scenario)).toEqual(['zipf-mix', 'read-write', 'app-pinned']);
    for (const v of c.validation) {
      expect(v.predictedRequestsPerSecond, v.scenario).toBeGreaterThan(0);
      expect(Number.isFinite(v.error), v.scenario).toBe(true);
    }
    expect(c.deployments.map((d) => d.name)).toEqual(['this machine (2 cores)', 'one 16-core node', '3-node cluster (3 × 16 cores)']);
    const [here, node, cluster] = c.deployments;
    expect(node.requestsPerSecond).toBeGreaterThan(here.requestsPerSecond);
    expect(cluster.requestsPerSecond).toBeGreaterThan(node.requestsPerSecond);
    expect(cluster.replicas.apps).toBeGreaterThanOrEqual(node.replicas.apps);
    expect(c.measuredHere).toMatchObject({ scenario: 'zipf-mix', cores: 2 });
    expect(c.uncachedHere.requestsPerSecond).toBeGreaterThan(0);
  });

  it('leaves none of its own processes behind', () => {
    const leftovers = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(benchWorkPrefix);
      } catch {
        return false;
      }
    });
    expect(leftovers).toEqual([]);
  });

  it('writes latest.json, latest.svg and --out, and removes its static file', () => {
    expect(JSON.parse(readFileSync(join(resultsDir, 'latest.json'), 'utf8'))).toEqual(report);
    expect(JSON.parse(readFileSync(outFile, 'utf8'))).toEqual(report);
    const svg = readFileSync(join(resultsDir, 'latest.svg'), 'utf8');
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    for (const name of scenarioNames) expect(svg).toContain(`>${name}</text>`);
    const staticDir = join(projectRoot(), 'app', 'static');
    expect(existsSync(staticDir) ? readdirSync(staticDir).filter((f) => f.startsWith(`bench-home-${process.pid}`)) : []).toEqual([]);
  });

  it("every metric the Grafana dashboard queries is on the apps' /metrics (the DB router's once it is wired)", async () => {
    // app/db/router.ts defines these; app/create-deps.ts still uses a temporary single-node Db,
    // so they may be absent. Anything else missing means a dashboard panel would stay empty.
    // (nginx_* come from nginx-prometheus-exporter, not from the apps, and are not matched here.)
    const notFromApps = new Set(['aidiary_db_reads_total', 'aidiary_db_writes_total', 'aidiary_db_read_fallbacks_total', 'aidiary_db_replica_lag_bytes', 'aidiary_db_pool_in_use']);
    const dashboard = JSON.parse(readFileSync(join(projectRoot(), 'infra', 'observability', 'grafana-dashboard.json'), 'utf8')) as { panels: { targets?: { expr: string }[] }[] };
    const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
    const queried = new Set(exprs.flatMap((e) => e.match(/\b(?:aidiary|nodejs)_[a-z0-9_]+/g) ?? []).map((n) => n.replace(/_(bucket|count|sum)$/, '')));
    expect(queried.size).toBeGreaterThan(10);
    const status = JSON.parse((await cli('status', '--json')).stdout) as { apps: { port: number }[] };
    for (const app of status.apps) {
      const text = await (await fetch(`http://127.0.0.1:${app.port}/metrics`)).text();
      const exposed = new Set([...text.matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]));
      const missing = [...queried].filter((n) => !exposed.has(n) && !notFromApps.has(n));
      expect(missing, `port ${app.port}`).toEqual([]);
    }
  });

  it('the table mode (no --json) prints one row per chosen scenario with the min-max of its rounds, the CPU table and the target lines', async () => {
    const table = await cli('bench', '--duration', '1', '--warmup', '1', '--rounds', '2', '--scenario', 'health,home-cached', '--results-dir', resultsDir);
    expect(table.code, table.stderr.slice(-1000)).toBe(0);
    expect(table.stdout).toMatch(/median of 2 interleaved rounds/);
    expect(table.stdout).toMatch(/^health\s+\d+\s+\d+-\d+\s/m);
    expect(table.stdout).toMatch(/^home-cached\s+\d+\s+\d+-\d+\s/m);
    expect(table.stdout).toMatch(/^CPU µs\/request\s+nginx\s+apps\s+postgres\s+redis\s+cdn\s+wrk/m);
    expect(table.stdout).toMatch(/^health\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[\d.]+/m);
    expect(table.stdout).not.toMatch(/^zipf-mix/m);
    expect(table.stdout).toMatch(/PASS  no errors/);
  }, 120_000);
});
