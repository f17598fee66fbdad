import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAuthorWriter, type AuthorWriter, type WriterReport } from './author-writer';
import {
  checkTargets, computeRatios, invalidReasons, maxUncachedHitRatio, medianRun, notRun, addScenarioRatios, scenarioNames,
  type BenchReport, type ScenarioName, type ScenarioResult,
} from './bench-report';
import { buildCapacityReport, defaultPlanning, type PlanningInputs } from './capacity-report';
import { median } from './process-cpu';
import { affinityOf, pinProcess, startFloorServer, startSideNginx, tasksetAvailable, type SideProcess } from './side-processes';
import { cdnHitRatio, stubStatusRequests } from './stub-status';
import { cpuTiers, measureIdle, scenarioCpu, snapshotTiers, ticksPerSecond, type CpuTier, type IdleRates, type ScenarioCpu, type TierRoots } from './tier-sampler';
import type { BenchTarget } from './bench-target';
import { ControlClient, type CacheLayers } from './control-client';
import { machineFacts } from './machine-facts';
import { renderChartSvg } from './report-chart';
import { scenarioSpecs, type Requirement, type ScenarioSpec, type Via } from './scenarios';
import { discoverUrlMix } from './url-mix';
import { runWrk, type WrkRun } from './wrk-runner';
import type { WrkResult } from './wrk-result';
import { zipfSequence } from './zipf';
import { withRestoreStack, type RestoreStack } from '../restore-stack';

// `aidiary bench`: each scenario sets its cache layers, warms up, then measures with wrk; the
// report carries same-run ratios and the issue-8 targets (absolute numbers depend on the machine).
// What it changes on the cluster (cache layers, a static file, the author's posts) is registered
// on a restore stack (infra/restore-stack.ts) as it is changed: put back at the end, or at Ctrl-C.

export const edgeBypassHeader = 'X-Bench-Bypass-Edge';
/** The bench's temp dir (URL lists, the side nginx's prefix, the floor's body): in its side processes' command lines. */
export const benchWorkPrefix = 'aidiary-bench-work-';

export interface BenchOptions {
  target: BenchTarget;
  durationSeconds: number;
  warmupSeconds?: number;
  connections: number;
  threads?: number;
  scenarios?: ScenarioName[];
  /** Interleaved rounds; each scenario reports its median round by req/s. */
  rounds?: number;
  /** Directory for latest.json and latest.svg; null writes neither. */
  resultsDir: string | null;
  /** Also write the JSON here (--out). */
  outFile?: string;
  /** The capacity projection's request mix and node shape (defaults: capacity-report.ts). */
  planning?: PlanningInputs;
  progress?: (message: string) => void;
}

const zipfS = 1;
const mixSequenceLength = 100_000;
/** Upper bound of the zipf-mix warm-up crawl (it stops as soon as every URL was requested). */
const crawlMaxSeconds = 120;
/** Length of the no-load sample of each tier's background CPU. */
const idleSeconds = 3;

async function fetchBody(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Buffer; headers: Headers }> {
  const res = await fetch(url, { headers, redirect: 'manual', signal: AbortSignal.timeout(30_000) });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()), headers: res.headers };
}

/** True when nginx skips its micro-cache for the bench header (or has no micro-cache at all). */
async function edgeBypassWorks(baseUrl: string): Promise<{ ok: boolean; reason: string }> {
  const seen: string[] = [];
  for (let i = 0; i < 2; i++) {
    const r = await fetchBody(`${baseUrl}/`, { [edgeBypassHeader]: '1' });
    seen.push(r.headers.get('x-edge-cache') ?? '(none)');
  }
  if (seen.every((s) => s === 'BYPASS' || s === '(none)')) return { ok: true, reason: '' };
  return { ok: false, reason: `nginx does not honour ${edgeBypassHeader} (X-Edge-Cache: ${seen.join(', ')})` };
}

/**
 * The current home page, not a stale copy: the edge (proxy_cache_use_stale updating) and the app
 * (stale-while-revalidate) may answer one request with an old version right after a write.
 */
async function freshHomePage(baseUrl: string, canBypassEdge: boolean): Promise<{ status: number; body: Buffer }> {
  const headers: Record<string, string> = canBypassEdge ? { [edgeBypassHeader]: '1' } : {};
  let last = await fetchBody(`${baseUrl}/`, headers);
  for (let i = 0; i < 10; i++) {
    const stale = /STALE|UPDATING/i.test(`${last.headers.get('x-cache') ?? ''} ${last.headers.get('x-edge-cache') ?? ''}`);
    if (last.status === 200 && !stale) break;
    await new Promise((r) => setTimeout(r, 300));
    last = await fetchBody(`${baseUrl}/`, headers);
  }
  if (last.status !== 200) throw new Error(`GET / answered ${last.status}; the stack is not serving`);
  return last;
}

/**
 * One round of each scenario as reported: the median round by req/s, every round's req/s, and
 * CPU µs per request per tier as the median over rounds (CPU time is steadier than req/s, but a
 * round disturbed by another process still shows; the median drops it).
 */
function combineRounds(runs: ScenarioResult[]): ScenarioResult {
  const measured = runs.filter((r) => r.status !== 'not-run');
  if (measured.length === 0) return runs[0];
  const chosen = { ...medianRun(measured) };
  chosen.roundsRequestsPerSecond = measured.map((r) => r.requestsPerSecond);
  // One bad round makes the scenario invalid: errors are never averaged away.
  chosen.invalidReasons = [...new Set(measured.flatMap((r) => r.invalidReasons))];
  chosen.notes = [...new Set(measured.flatMap((r) => r.notes))];
  chosen.status = chosen.invalidReasons.length > 0 ? 'invalid' : 'ok';
  const cpus = measured.map((r) => r.cpu).filter((c): c is ScenarioCpu => c !== null);
  if (chosen.cpu && cpus.length > 1) {
    const per = {} as Record<CpuTier, number | null>;
    for (const tier of cpuTiers) {
      const values = cpus.map((c) => c.microsPerRequest[tier]).filter((v): v is number => v !== null);
      per[tier] = median(values);
    }
    const serving = cpus.map((c) => c.servingMicrosPerRequest).filter((v): v is number => v !== null);
    chosen.cpu = { ...chosen.cpu, microsPerRequest: per, servingMicrosPerRequest: median(serving) };
  }
  return chosen;
}

/** Accept bodies within ±pct of the reference size: a redirect or an error page is far off. */
const around = (bytes: number, pct: number) => ({ min: Math.floor(bytes * (1 - pct)), max: Math.ceil(bytes * (1 + pct)) });

export async function runBench(opts: BenchOptions): Promise<BenchReport> {
  const say = opts.progress ?? (() => {});
  return withRestoreStack(say, (stack) => benchWith(opts, stack));
}

async function benchWith(opts: BenchOptions, stack: RestoreStack): Promise<BenchReport> {
  const say = opts.progress ?? (() => {});
  // Every wrk run stops at Ctrl-C, so that the restore stack has the machine to itself.
  const wrk = (run: WrkRun) => runWrk({ ...run, signal: stack.signal });
  const t = opts.target;
  const startedAt = new Date().toISOString();
  const threads = Math.max(1, Math.min(opts.threads ?? cpus().length, opts.connections));
  const warmupSeconds = opts.warmupSeconds ?? Math.min(5, Math.max(1, Math.round(opts.durationSeconds / 2)));
  const rounds = Math.max(1, opts.rounds ?? 1);
  const wanted = new Set(opts.scenarios ?? scenarioNames);
  const specs = scenarioSpecs.filter((s) => wanted.has(s.name));
  const control = new ControlClient(t.apps);
  const work = mkdtempSync(join(tmpdir(), benchWorkPrefix));
  let originalLayers: CacheLayers | null = null;
  let layersUndo: (() => void) | null = null;
  /** Switches the apps' cache layers; the first switch registers putting the original ones back. */
  const setLayers = async (layers: CacheLayers) => {
    await control.setLayers(layers);
    if (!layersUndo && originalLayers) {
      const back = originalLayers;
      layersUndo = stack.push(
        `cache layers back to L1 ${back.l1 ? 'on' : 'off'}, L2 ${back.l2 ? 'on' : 'off'} on ${t.apps.map((a) => a.name).join(', ')}`,
        () => control.setLayers(back),
      );
    }
  };

  say(`machine facts, then discovering URLs on ${t.baseUrl}`);
  const machine = machineFacts();

  try {
    // ---- what this target can do -------------------------------------------------------------
    const missing = new Map<Requirement, string>();
    if (t.kind === 'url') missing.set('control', '--url mode: no cache-layer switches');
    else if (!control.available) missing.set('control', `no control port on ${t.apps.filter((a) => a.controlPort === null).map((a) => a.name).join(', ') || 'any app'} (AIDIARY_CONTROL_PORT unset)`);
    if (!missing.has('control')) {
      originalLayers = await control.layers().catch(() => null);
      if (!originalLayers) missing.set('control', 'the page cache is off in this cluster (nothing to switch)');
    }
    if (!t.staticRoot) missing.set('static-root', '--url mode: cannot place a static file');
    if (!t.author) missing.set('author', 'no author credentials (set AIDIARY_BENCH_AUTHOR_PASSWORD or AIDIARY_ADMIN_PASSWORD)');
    if (specs.some((s) => s.bypassEdge)) {
      const edge = await edgeBypassWorks(t.baseUrl);
      if (!edge.ok) missing.set('edge-bypass', edge.reason);
    }
    if (!t.cluster) missing.set('side', '--url mode: the bench cannot start its own nginx next to the stack');
    if (!tasksetAvailable()) missing.set('pin', 'taskset not found (apt install util-linux)');
    else if (cpus().length < 2) missing.set('pin', 'a single core: nothing to pin the app apart from nginx and wrk');
    else if (!t.cluster?.apps[0]) missing.set('pin', 'no running app to pin');
    if ('unavailable' in t.cdn) missing.set('cdn', t.cdn.unavailable);
    for (const spec of specs) {
      const blocked = spec.requires.filter((r) => missing.has(r));
      if (blocked.length > 0) say(`${spec.name}: skipped, ${blocked.map((b) => missing.get(b)).join('; ')}`);
    }

    // ---- CPU per tier: the cluster's process trees, plus the bench's own side processes ---------
    const roots: TierRoots | null = t.cluster ? structuredClone(t.cluster.roots) : null;
    const appPids = t.cluster ? t.cluster.apps.map((a) => a.pid) : [];
    const sides = new Map<Via, SideProcess>();
    /** Starts a side process once and counts it in its tier; stopped with the rest at the end. */
    const startSide = async (what: string, tier: 'nginx' | 'apps', start: () => Promise<SideProcess>): Promise<SideProcess> => {
      const p = await start();
      stack.push(`the bench's ${what} (pid ${p.pid}) stopped`, () => p.stop());
      roots?.[tier].push(p.pid);
      return p;
    };

    // ---- inputs: the home page size, the static copy, the URL mixes ---------------------------
    const home = await freshHomePage(t.baseUrl, !missing.has('edge-bypass') && t.kind === 'local');
    const homeBytes = home.body.length;
    const health = await fetchBody(`${t.baseUrl}/health`);
    const healthBytes = health.body.length;
    let staticPath: string | null = null;
    if (t.staticRoot && wanted.has('static')) {
      // The home page's own bytes, so nginx sends the same size as the cached page (pid-named:
      // concurrent benches never share or delete each other's file).
      mkdirSync(t.staticRoot, { recursive: true });
      staticPath = `/static/bench-home-${process.pid}.html`;
      const staticFile = join(t.staticRoot, `bench-home-${process.pid}.html`);
      writeFileSync(staticFile, home.body);
      stack.push(`the bench's static file ${staticFile} removed`, () => rmSync(staticFile, { force: true }));
      const check = await fetchBody(`${t.baseUrl}${staticPath}`);
      if (check.status !== 200 || check.body.length !== homeBytes) missing.set('static-root', `nginx did not serve ${staticPath} (${check.status}, ${check.body.length} B)`);
    }
    const needMix = specs.some((s) => s.requestKind === 'zipf-mix' || s.requestKind === 'posts-cold');
    const bypassHeaders: Record<string, string> = !missing.has('edge-bypass') && t.kind === 'local' ? { [edgeBypassHeader]: '1' } : {};
    const mix = needMix ? await discoverUrlMix(t.baseUrl, { headers: bypassHeaders }) : null;
    const files = { mix: join(work, 'zipf-mix.txt'), crawl: join(work, 'crawl.txt'), coldWarm: join(work, 'cold-warmup.txt'), cold: join(work, 'cold.txt') };
    if (mix) {
      writeFileSync(files.mix, zipfSequence(mix, mixSequenceLength, zipfS, 42).join('\n') + '\n');
      // Every URL of the mix once: a site in steady state has its pages cached; without this a
      // 10-second run measures mostly the cold tail (Zipf s=1 over 10,000 posts: ~1,100 first-seen
      // URLs in 5,700 requests after a 2,500-request warm-up, a hit-ratio ceiling of ~81 %).
      writeFileSync(files.crawl, [...mix.listings, ...mix.posts].join('\n') + '\n');
      // Warm-up on the oldest fifth, measure on the rest: the measured posts are never warmed.
      const split = Math.max(1, Math.floor(mix.posts.length * 0.8));
      writeFileSync(files.cold, mix.posts.slice(0, split).join('\n') + '\n');
      writeFileSync(files.coldWarm, (mix.posts.slice(split).length > 0 ? mix.posts.slice(split) : mix.posts).join('\n') + '\n');
      say(`mix: ${mix.posts.length} posts (of ${mix.postsAvailable}), ${mix.listings.length} listings; home page ${homeBytes} B`);
      if (mix.postsAvailable < 10_000) say(`note: the issue's mix is over 10,000 posts; this site has ${mix.postsAvailable}`);
    }

    /** The base URL a scenario's requests go to, starting the bench's side processes on first use. */
    const baseUrlFor = async (via: Via): Promise<string> => {
      const cluster = t.cluster;
      if (via === 'lb') return t.baseUrl;
      if (via === 'cdn') return 'url' in t.cdn ? t.cdn.url : t.baseUrl;
      if (!cluster) throw new Error(`${via}: no local cluster`);
      let side = sides.get(via);
      if (!side) {
        const probeHeaders = { [edgeBypassHeader]: '1' };
        if (via === 'floor') {
          const floor = await startSide('node:http floor server', 'apps', () => startFloorServer(work, home.body, cluster.topology.appKeepAliveTimeoutMs));
          say(`node-floor: node:http server pid ${floor.pid} on ${floor.url}, behind the bench's nginx`);
          side = await startSide('nginx for node-floor', 'nginx', () => startSideNginx({ work, name: 'nginx-floor', topology: cluster.topology, staticRoot: t.staticRoot!, servers: [{ host: '127.0.0.1', port: floor.port }], probeHeaders }));
        } else {
          // nginx and wrk on the other cores, so that core 0 is the pinned app's alone.
          const app = cluster.apps[0];
          side = await startSide(`nginx for app-pinned (${app.name} only)`, 'nginx', () => startSideNginx({ work, name: 'nginx-pinned', topology: cluster.topology, staticRoot: t.staticRoot!, servers: [{ host: cluster.topology.host, port: app.port }], cpus: otherCpus, probeHeaders }));
        }
        sides.set(via, side);
      }
      return side.url;
    };
    const otherCpus = cpus().length >= 2 ? `1-${cpus().length - 1}` : '0';

    // Each tier's background CPU with no load, subtracted from every run's CPU per request: at a few
    // hundred req/s the apps' timers and pollers would otherwise count as request work.
    let idle: IdleRates | null = null;
    if (roots) {
      say(`measuring each tier's idle CPU for ${idleSeconds} s`);
      // The restore stack's sleep: a Ctrl-C during the sample ends it at once.
      idle = await measureIdle(roots, idleSeconds, (ms) => stack.sleep(ms));
    }

    // ---- one scenario round -------------------------------------------------------------------
    const runOne = async (spec: ScenarioSpec, round: number): Promise<ScenarioResult> => {
      const blocked = spec.requires.filter((r) => missing.has(r));
      if (spec.requestKind === 'static-file' && !staticPath) blocked.push('static-root');
      if (blocked.length > 0) return notRun(spec.name, spec.description, blocked.map((b) => missing.get(b) ?? b).join('; '), opts.connections);
      if (spec.layers && !missing.has('control')) await setLayers(spec.layers);
      if (spec.requestKind === 'posts-cold') await control.flush();

      const baseUrl = await baseUrlFor(spec.via);
      let unpin: (() => Promise<void>) | null = null;
      if (spec.via === 'pinned') {
        const app = t.cluster!.apps[0];
        const before = affinityOf(app.pid);
        pinProcess(app.pid, '0');
        const undo = stack.push(`${app.name} (pid ${app.pid}) unpinned (CPUs ${before})`, () => pinProcess(app.pid, before));
        unpin = async () => {
          undo();
          pinProcess(app.pid, before);
          say(`app-pinned: ${app.name} (pid ${app.pid}) back on CPUs ${before}`);
        };
      }
      try {
        return await measureOne(spec, round, baseUrl);
      } finally {
        await unpin?.();
      }
    };

    const measureOne = async (spec: ScenarioSpec, round: number, baseUrl: string): Promise<ScenarioResult> => {
      const headers: Record<string, string> = spec.bypassEdge ? { [edgeBypassHeader]: '1' } : {};
      const connections = spec.connections ?? opts.connections;
      const base: Omit<WrkRun, 'durationSeconds'> = { url: `${baseUrl}/`, script: 'single', connections, threads: Math.min(threads, connections), headers, cpus: spec.via === 'pinned' ? otherCpus : undefined };
      let measure: Omit<WrkRun, 'durationSeconds'>;
      let warm: Omit<WrkRun, 'durationSeconds'>;
      switch (spec.requestKind) {
        case 'static-file':
          measure = warm = { ...base, url: `${baseUrl}${staticPath}`, expectBytes: { min: homeBytes, max: homeBytes } };
          break;
        case 'health':
          measure = warm = { ...base, url: `${baseUrl}/health`, expectBytes: around(healthBytes, 0.5) };
          break;
        case 'home':
          measure = warm = { ...base };
          break;
        case 'posts-cold':
          warm = { ...base, script: 'sequence', pathsFile: files.coldWarm, expectBytes: { min: 512, max: Number.MAX_SAFE_INTEGER } };
          measure = { ...warm, pathsFile: files.cold, once: true };
          break;
        case 'zipf-mix':
          warm = { ...base, script: 'sequence', pathsFile: files.mix, offset: 0, expectBytes: { min: 512, max: Number.MAX_SAFE_INTEGER } };
          measure = { ...warm, offset: mixSequenceLength / 2 };
          break;
      }
      const label = `${spec.name}${rounds > 1 ? ` (round ${round + 1}/${rounds})` : ''}`;
      if (spec.requestKind === 'zipf-mix') {
        say(`${label}: warm-up crawl of every URL in the mix once (at most ${crawlMaxSeconds} s)`);
        const crawl = await wrk({ ...warm, pathsFile: files.crawl, offset: 0, once: true, durationSeconds: crawlMaxSeconds });
        if (!crawl.exhausted) say(`${label}: the crawl did not finish in ${crawlMaxSeconds} s (${crawl.requests} of ${mix!.posts.length + mix!.listings.length} URLs)`);
      }
      say(`${label}: warm-up ${warmupSeconds} s`);
      const warmResult = await wrk({ ...warm, durationSeconds: warmupSeconds });
      if (spec.requestKind === 'home') {
        // The reference size is taken after the warm-up, as this scenario sees the page: a write
        // just before (read-write's clean-up) can leave a stale copy of another size at the edge.
        const ref = await fetchBody(measure.url, headers);
        if (ref.status !== 200) throw new Error(`${spec.name}: GET / answered ${ref.status} after the warm-up`);
        measure = { ...measure, expectBytes: around(ref.body.length, 0.1) };
      }
      if (spec.requestKind === 'posts-cold') await control.flush();
      // Hit ratios only mean something for pages served through the page cache.
      const pageScenario = spec.requestKind !== 'static-file' && spec.requestKind !== 'health';
      const rendersBefore = missing.has('control') || !pageScenario ? null : await control.renders();
      const countersBefore = rendersBefore === null ? null : await control.counters();
      let writer: AuthorWriter | null = null;
      let writerUndo: (() => void) | null = null;
      if (spec.withWriter) {
        const w = await startAuthorWriter(t.baseUrl, t.author!);
        writer = w;
        writerUndo = stack.push('the author writer stopped, its posts deleted', () => w.stop());
      }
      say(`${label}: measuring ${opts.durationSeconds} s at ${connections} connections`);
      let result: WrkResult;
      let writerReport: WriterReport | undefined;
      const viaCdn = spec.via === 'cdn' && t.cluster;
      const nginxBefore = viaCdn ? await stubStatusRequests(t.cluster!.stubStatusUrl) : 0;
      const cpuBefore = roots ? snapshotTiers(roots) : null;
      let cpuAfter: typeof cpuBefore = null;
      try {
        result = await wrk({ ...measure, durationSeconds: opts.durationSeconds });
        cpuAfter = roots ? snapshotTiers(roots) : null;
      } finally {
        if (writer && !stack.interrupted) {
          writerUndo?.();
          writerReport = await writer.stop();
        }
      }
      const nginxAfter = viaCdn ? await stubStatusRequests(t.cluster!.stubStatusUrl) : 0;
      const rendersAfter = rendersBefore === null ? null : await control.renders();
      const countersAfter = countersBefore === null ? null : await control.counters();
      const appCache = countersBefore && countersAfter ? {
        hitsL1: countersAfter.hitsL1 - countersBefore.hitsL1,
        hitsL2: countersAfter.hitsL2 - countersBefore.hitsL2,
        staleServed: countersAfter.staleServed - countersBefore.staleServed,
        renders: countersAfter.renders - countersBefore.renders,
      } : null;
      const renders = rendersBefore === null || rendersAfter === null ? null : rendersAfter - rendersBefore;
      const cacheHitRatio = renders === null || result.requests === 0 ? null : Math.max(0, 1 - renders / result.requests);
      const out: ScenarioResult = {
        name: spec.name, description: spec.description, status: 'ok', connections,
        durationSeconds: Math.round(result.durationSeconds * 100) / 100,
        requests: result.requests, requestsPerSecond: result.requestsPerSecond, latencyMs: result.latencyMs,
        statuses: result.statuses, non2xx: result.non2xx, socketErrors: result.socketErrors,
        bytesPerResponse: result.bytesPerResponse, wrongSizeBodies: result.wrongSizeBodies, repeatedPaths: result.repeatedPaths,
        cacheHitRatio: cacheHitRatio === null ? null : Math.round(cacheHitRatio * 10_000) / 10_000, renders, appCache,
        writer: writerReport, invalidReasons: [], notes: [], roundsRequestsPerSecond: [result.requestsPerSecond],
        ratioToStatic: null, ratioToNodeFloor: null,
        cpu: roots && idle && cpuBefore && cpuAfter ? scenarioCpu(cpuBefore, cpuAfter, result.requests, roots, appPids, idle) : null,
        // The status read before the run is counted by nginx too (the one after is not yet, as it is served).
        cdnHitRatio: viaCdn ? cdnHitRatio(nginxBefore, nginxAfter, 1, result.requests) : null,
      };
      if (out.cpu && !missing.has('control')) {
        // RSS less the L1's bytes: what the process holds besides its page cache.
        const l1 = await control.l1Bytes();
        const nameOf = new Map(t.cluster!.apps.map((a) => [a.pid, a.name]));
        for (const a of out.cpu.appRssBytes) a.l1Bytes = l1.get(nameOf.get(a.pid) ?? '') ?? null;
      }
      out.invalidReasons = invalidReasons(out);
      const warmErrors = invalidReasons({ ...warmResult, writer: undefined });
      if (warmErrors.length > 0) out.notes.push(`warm-up had errors: ${warmErrors.join('; ')}`);
      if (result.exhausted) out.notes.push(`every post of the measured list was requested once after ${out.durationSeconds} s (of ${opts.durationSeconds} s); req/s is over that time`);
      if (result.repeatedPaths > 0 && spec.requestKind === 'posts-cold') out.notes.push(`${result.repeatedPaths} of ${result.requests} requests repeated a post (not first requests)`);
      if (spec.name === 'home-uncached' && out.cacheHitRatio !== null && out.cacheHitRatio > maxUncachedHitRatio) {
        out.notes.push(`only ${renders} renders for ${result.requests} requests: the app coalesced or cached, so this is not an uncached run`);
      }
      if (out.invalidReasons.length > 0) out.status = 'invalid';
      const cpuNote = out.cpu ? `, CPU µs/req nginx ${out.cpu.microsPerRequest.nginx} apps ${out.cpu.microsPerRequest.apps} pg ${out.cpu.microsPerRequest.postgres} redis ${out.cpu.microsPerRequest.redis} wrk ${out.cpu.microsPerRequest.loadgen}` : '';
      say(`${label}: ${Math.round(out.requestsPerSecond)} req/s, p99 ${out.latencyMs.p99} ms, ${out.non2xx} non-2xx${out.cacheHitRatio === null ? '' : `, hit ${(out.cacheHitRatio * 100).toFixed(2)} %`}${out.cdnHitRatio === null ? '' : `, CDN hit ${(out.cdnHitRatio * 100).toFixed(2)} %`}${cpuNote}`);
      return out;
    };

    // ---- interleaved rounds ---------------------------------------------------------------------
    const perScenario = new Map<ScenarioName, ScenarioResult[]>();
    for (let round = 0; round < rounds; round++) {
      for (const spec of specs) {
        const r = await runOne(spec, round);
        perScenario.set(spec.name, [...(perScenario.get(spec.name) ?? []), r]);
      }
    }
    const scenarios = specs.map((spec) => combineRounds(perScenario.get(spec.name)!));
    addScenarioRatios(scenarios);

    const ratios = computeRatios(scenarios);
    const report: BenchReport = {
      startedAt,
      finishedAt: new Date().toISOString(),
      target: { kind: t.kind, url: t.baseUrl, apps: t.topology?.apps ?? null, dbReplicas: t.topology?.dbReplicas ?? null },
      settings: { durationSeconds: opts.durationSeconds, warmupSeconds, connections: opts.connections, threads, rounds },
      machine,
      mix: mix ? { zipfS, posts: mix.posts.length, postsAvailable: mix.postsAvailable, listings: mix.listings.length, listingShare: mix.listingShare, warmup: 'zipf-mix and read-write: one request to every URL of the mix, then the Zipf sequence' } : null,
      scenarios,
      ratios,
      targets: checkTargets(scenarios, ratios),
      idleCoresPerTier: idle ? Object.fromEntries(cpuTiers.map((tier) => [tier, Math.round((idle![tier] / ticksPerSecond()) * 1000) / 1000])) as Record<CpuTier, number> : null,
      capacity: buildCapacityReport(scenarios, cpus().length, opts.planning ?? defaultPlanning),
      valid: scenarios.every((s) => s.status !== 'invalid'),
      files: { json: null, chart: null },
    };
    if (opts.resultsDir) {
      mkdirSync(opts.resultsDir, { recursive: true });
      report.files = { json: join(opts.resultsDir, 'latest.json'), chart: join(opts.resultsDir, 'latest.svg') };
      writeFileSync(report.files.chart!, renderChartSvg(report));
      writeFileSync(report.files.json!, JSON.stringify(report, null, 2) + '\n');
    }
    if (opts.outFile) writeFileSync(opts.outFile, JSON.stringify(report, null, 2) + '\n');
    return report;
  } finally {
    // The cluster is put back by the restore stack (at the end of runBench, or at Ctrl-C).
    rmSync(work, { recursive: true, force: true });
  }
}
