import { describe, expect, it } from 'vitest';
import {
  addScenarioRatios, checkTargets, computeRatios, invalidReasons, medianRun, notRun, scenarioNames, type BenchReport, type ScenarioName, type ScenarioResult,
} from '../../infra/bench/bench-report';
import { cdnFromStatus, staticRootFromNginxConf, urlTarget } from '../../infra/bench/bench-target';
import { renderChartSvg } from '../../infra/bench/report-chart';
import { formatReport } from '../../infra/bench/report-table';
import { parseScenarioList } from '../../infra/bench/scenarios';
import { listingLinks, pathsFromSitemap } from '../../infra/bench/url-mix';

function measured(name: ScenarioName, rps: number, over: Partial<ScenarioResult> = {}): ScenarioResult {
  return {
    ...notRun(name, `${name} scenario`, '', 64),
    status: 'ok', reason: undefined, durationSeconds: 10, requests: rps * 10, requestsPerSecond: rps,
    latencyMs: { mean: 2, p50: 1.5, p75: 2, p90: 3, p99: 8, p999: 12, max: 30, stdev: 1 },
    statuses: { 200: rps * 10 }, bytesPerResponse: { mean: 9000, min: 9000, max: 9000 }, roundsRequestsPerSecond: [rps],
    ...over,
  };
}

const fullRun = (): ScenarioResult[] => [
  measured('static', 50_000),
  measured('health', 30_000),
  measured('home-cached', 46_000),
  measured('home-l1', 20_000),
  measured('home-uncached', 8_000),
  measured('posts-cold', 900, { cacheHitRatio: 0.01 }),
  measured('zipf-mix', 25_000, { cacheHitRatio: 0.995 }),
  measured('read-write', 20_000, { cacheHitRatio: 0.95 }),
];

function report(scenarios: ScenarioResult[]): BenchReport {
  const ratios = computeRatios(scenarios);
  return {
    startedAt: '2026-11-29T07:00:00.000Z', finishedAt: '2026-11-29T07:02:00.000Z',
    target: { kind: 'local', url: 'http://127.0.0.1:8080', apps: 3, dbReplicas: 2 },
    settings: { durationSeconds: 10, warmupSeconds: 5, connections: 64, threads: 2, rounds: 1 },
    machine: { cpuModel: 'Test <CPU> & co', cores: 2, memoryGiB: 8, kernel: '6.1', versions: { node: 'v20', nginx: '1.22.1', postgres: '15', redis: '7', wrk: '4.1' } },
    mix: { zipfS: 1, posts: 10_000, postsAvailable: 10_000, listings: 20, listingShare: 0.3, warmup: 'crawl then zipf' },
    scenarios, ratios, targets: checkTargets(scenarios, ratios), idleCoresPerTier: null, capacity: null, valid: scenarios.every((s) => s.status !== 'invalid'),
    files: { json: '/x/latest.json', chart: '/x/latest.svg' },
  };
}

describe('ratios and targets', () => {
  it('passes every target on a good run', () => {
    const r = report(fullRun());
    expect(r.ratios).toEqual({ homeCachedOverStatic: 0.92, homeUncachedOverHealth: 0.267 });
    expect(r.targets.slice(0, 5).map((t) => t.pass)).toEqual([true, true, true, true, true]);
    // No node-floor and no CPU figures in this run: those targets are not judged.
    expect(r.targets.slice(5).map((t) => t.pass)).toEqual([null, null, null, null, null, null]);
  });

  it('fails each target on its own miss', () => {
    const s = fullRun();
    s[2] = measured('home-cached', 30_000, { latencyMs: { ...s[2].latencyMs, p99: 25 } });
    s[4] = measured('home-uncached', 807);
    s[6] = measured('zipf-mix', 25_000, { cacheHitRatio: 0.96 });
    s[1] = measured('health', 30_000, { statuses: { 200: 100, 502: 1 }, non2xx: 1 });
    s[1].invalidReasons = invalidReasons(s[1]);
    s[1].status = 'invalid';
    const r = report(s);
    expect(r.targets.slice(0, 5).map((t) => t.pass)).toEqual([false, false, false, false, false]);
    expect(r.targets[4].measured).toBe('errors in health');
    expect(r.valid).toBe(false);
  });

  it('home-uncached only counts when its requests were really rendered', () => {
    const s = fullRun();
    s[4] = measured('home-uncached', 8_000, { cacheHitRatio: 0.95 });
    const r = report(s);
    expect(r.targets[1].pass).toBe(false);
    expect(r.targets[1].measured).toBe('0.267, but not an uncached run: 95.0 % of requests were not rendered');
    s[4] = measured('home-uncached', 8_000, { cacheHitRatio: 0.01 });
    expect(report(s).targets[1]).toMatchObject({ pass: true, measured: '0.267' });
  });

  it('reports a target as not measured (null) when its scenario did not run, and does not judge p99 at another concurrency', () => {
    const s = fullRun();
    s[0] = notRun('static', 'static', '--url mode', 64);
    s[6] = measured('zipf-mix', 25_000, { cacheHitRatio: null });
    s[2] = measured('home-cached', 40_000, { connections: 16 });
    const r = report(s);
    expect(r.ratios.homeCachedOverStatic).toBeNull();
    expect(r.targets[0]).toMatchObject({ pass: null, measured: 'not measured' });
    expect(r.targets[2]).toMatchObject({ pass: null, measured: '8 ms at 16 connections' });
    expect(r.targets[3].pass).toBeNull();
  });

  it('invalidReasons names non-2xx statuses, socket errors, wrong sizes and failed writes', () => {
    const reasons = invalidReasons({
      requests: 10, non2xx: 3, statuses: { 200: 7, 301: 2, 500: 1 }, wrongSizeBodies: 2,
      socketErrors: { connect: 1, read: 0, write: 0, timeout: 4 },
      writer: { writes: 5, non2xx: 1, failures: ['POST /api/posts: 403'], latencyMs: { mean: 10, max: 20 } },
    });
    expect(reasons).toEqual([
      '3 non-2xx (2×301, 1×500)',
      '5 socket errors (connect 1, read 0, write 0, timeout 4)',
      '2 bodies of an unexpected size',
      '1 failed writes (POST /api/posts: 403)',
    ]);
    expect(invalidReasons({ requests: 0, non2xx: 0, statuses: {}, wrongSizeBodies: 0, socketErrors: { connect: 0, read: 0, write: 0, timeout: 0 } })).toEqual(['no request completed']);
  });

  it('judges the node:http floor targets: req/s through nginx, app CPU per request, render CPU, RSS', () => {
    const cpu = (apps: number, postgres: number, rssMiB = 120): ScenarioResult['cpu'] => ({
      microsPerRequest: { nginx: 20, apps, postgres, redis: 1, cdn: null, loadgen: 10 }, servingMicrosPerRequest: 21 + apps + postgres,
      coresBusy: { nginx: 0, apps: 0, postgres: 0, redis: 0, cdn: 0, loadgen: 0 }, machine: { cores: 2, busyCores: 2, othersCores: 0 },
      appRssBytes: [{ pid: 1, bytes: 100 * 2 ** 20 }, { pid: 2, bytes: rssMiB * 2 ** 20 }],
    });
    const s = [
      ...fullRun(),
      measured('node-floor', 20_000, { cpu: cpu(30, 0) }),
    ];
    s[1] = measured('health', 19_000, { cpu: cpu(45, 0) }); // 0.95 × floor; 1.5 × floor's app CPU
    s[3] = measured('home-l1', 15_000, { cpu: cpu(80, 0) }); // 0.75 × floor (miss); 2.67 × (miss)
    s[4] = measured('home-uncached', 5_000, { cpu: cpu(340, 260) }); // PostgreSQL over 250 µs
    s[6] = measured('zipf-mix', 25_000, { cacheHitRatio: 0.995, cpu: cpu(40, 1, 149) });
    addScenarioRatios(s);
    const floor = checkTargets(s, computeRatios(s)).slice(5);
    expect(floor.map((t) => [t.name, t.pass])).toEqual([
      ['health / node-floor (req/s)', true],
      ['home-l1 / node-floor (req/s)', false],
      ['app CPU per request, /health / node-floor', true],
      ['app CPU per request, home L1 hit / node-floor', false],
      ['uncached home render CPU (home-uncached)', false],
      ['app RSS after zipf-mix (largest app)', true],
    ]);
    expect(floor[1].measured).toBe('0.750');
    expect(floor[3].measured).toBe('2.67 × (80 µs vs 30 µs)');
    expect(floor[4].measured).toBe('340 µs apps, 260 µs PostgreSQL');
    expect(floor[5].measured).toBe('149 MB');
    // Over 150 MB passes when the process holds at most 90 MB besides its L1 page cache.
    const big = (l1MiB: number | null) => {
      const z = measured('zipf-mix', 25_000, { cacheHitRatio: 0.995, cpu: cpu(40, 1, 200) });
      z.cpu!.appRssBytes = [{ pid: 2, bytes: 200 * 2 ** 20, l1Bytes: l1MiB === null ? null : l1MiB * 2 ** 20 }];
      return checkTargets([...s.filter((x) => x.name !== 'zipf-mix'), z], computeRatios(s)).find((t) => t.name.startsWith('app RSS'))!;
    };
    expect(big(120)).toMatchObject({ pass: true, measured: '200 MB, 80 MB without its L1' });
    expect(big(100)).toMatchObject({ pass: false, measured: '200 MB, 100 MB without its L1' });
    expect(big(null)).toMatchObject({ pass: false, measured: '200 MB' });
    expect(s.find((x) => x.name === 'home-cached')!.ratioToNodeFloor).toBe(2.3);
    expect(s.find((x) => x.name === 'node-floor')!.ratioToNodeFloor).toBeNull();
    expect(s.find((x) => x.name === 'node-floor')!.ratioToStatic).toBe(0.4);
  });

  it('with interleaved rounds the ratio is the median of same-round ratios', () => {
    const s = fullRun();
    s[0] = measured('static', 50_000, { roundsRequestsPerSecond: [50_000, 20_000, 60_000] });
    s[2] = measured('home-cached', 42_000, { roundsRequestsPerSecond: [45_000, 19_000, 30_000] });
    // Per round: 0.9, 0.95, 0.5 → median 0.9 (the ratio of medians would say 0.84).
    expect(computeRatios(s).homeCachedOverStatic).toBe(0.9);
  });

  it('medianRun picks the middle round by req/s', () => {
    expect(medianRun([{ requestsPerSecond: 5 }, { requestsPerSecond: 1 }, { requestsPerSecond: 3 }]).requestsPerSecond).toBe(3);
    expect(medianRun([{ requestsPerSecond: 5 }, { requestsPerSecond: 1 }]).requestsPerSecond).toBe(1);
    expect(() => medianRun([])).toThrow();
  });
});

describe('table and chart', () => {
  it('the table has one row per scenario with the numbers, the ratios and PASS/FAIL lines', () => {
    const s = fullRun();
    s[3] = notRun('home-l1', 'home-l1', 'nginx does not honour X-Bench-Bypass-Edge', 64);
    const text = formatReport(report(s));
    for (const x of s) expect(text).toMatch(new RegExp(`^${x.name}\\s`, 'm'));
    // req/s, min-max (one round: -), × static, × floor (not set: -), mean, p50, p99, max, errors, hit %, bytes.
    expect(text).toMatch(/^home-cached\s+46000\s+-\s+-\s+-\s+2\.00\s+1\.50\s+8\.00\s+30\.0\s+0\s+-\s+9000\s+ok$/m);
    expect(text).toMatch(/^zipf-mix .* 99\.50 /m);
    expect(text).toContain('not run: nginx does not honour X-Bench-Bypass-Edge');
    expect(text).toContain('home-cached / static = 0.920');
    expect(text).toContain('PASS  zipf-mix cache hit ratio: 99.50 % (target ≥ 99 %)');
    expect(text).toContain('machine: Test <CPU> & co, 2 cores');
    s[5].notes.push('12 of 900 requests wrapped');
    expect(formatReport(report(s))).toContain('note: posts-cold: 12 of 900 requests wrapped');
  });

  it('the chart is well-formed SVG with a bar per measured scenario and escaped text', () => {
    const s = fullRun();
    s[3] = notRun('home-l1', 'home-l1', 'x', 64);
    const svg = renderChartSvg(report(s));
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('Test &lt;CPU&gt; &amp; co');
    expect(svg).not.toContain('<CPU>');
    // Two bars (req/s, p99) per measured scenario plus the background and the 4 tier swatches; no CPU figures, no CPU bars.
    expect((svg.match(/<rect /g) ?? []).length).toBe(1 + 4 + 7 * 2);
    expect(svg).not.toContain('class="cpu"');
    // With CPU figures: one stacked segment per tier that used CPU.
    s[1].cpu = {
      microsPerRequest: { nginx: 20, apps: 100, postgres: 0, redis: 2, cdn: null, loadgen: 10 }, servingMicrosPerRequest: 122,
      coresBusy: { nginx: 0, apps: 0, postgres: 0, redis: 0, cdn: 0, loadgen: 0 }, machine: { cores: 2, busyCores: 2, othersCores: 0 }, appRssBytes: [],
    };
    const withCpu = renderChartSvg(report(s));
    expect((withCpu.match(/class="cpu"/g) ?? []).length).toBe(3);
    expect(withCpu).toContain('>122</text>');
    expect(svg).toContain('not run');
    // The widest req/s bar (static) spans the whole panel scale (50,000 → nice max 50,000).
    expect(svg).toMatch(/<rect x="130" y="\d+" width="330\.0"/);
  });
});

describe('inputs', () => {
  it('parses --scenario lists and refuses unknown names', () => {
    expect(parseScenarioList(undefined)).toEqual([...scenarioNames]);
    expect(parseScenarioList('health, home-cached')).toEqual(['health', 'home-cached']);
    expect(() => parseScenarioList('health,nope')).toThrow(/unknown scenario "nope"/);
  });

  it('reads post paths from a sitemap and listing links from HTML', () => {
    const xml = '<urlset><url><loc>http://h/posts/a-b</loc></url><url><loc> https://h/posts/c?x=1&amp;y=2 </loc></url><url><loc>http://h/about</loc></url></urlset>';
    expect(pathsFromSitemap(xml)).toEqual(['/posts/a-b', '/posts/c']);
    const html = '<a href="/category/dev">d</a><a href="/tag/pg">t</a><a href="/author/admin">a</a><a href="/page/2">n</a><a href="/2025/10/">m</a><a href="/posts/x">p</a><a href="/tag/pg">again</a>';
    expect(listingLinks(html)).toEqual(['/category/dev', '/tag/pg', '/author/admin', '/page/2', '/2025/10/']);
  });

  it('reads the cdn entry of status --json: none, or its url without the trailing slash', () => {
    expect(cdnFromStatus(null)).toBeNull();
    expect(cdnFromStatus(undefined)).toBeNull();
    expect(cdnFromStatus({ kind: 'varnish', url: 'http://127.0.0.1:8084/', pid: 42, port: 8084, healthy: true }))
      .toEqual({ kind: 'varnish', url: 'http://127.0.0.1:8084', pid: 42, healthy: true });
    expect(cdnFromStatus({ kind: 'varnish', url: 'http://127.0.0.1:8084/', pid: null, port: 8084, healthy: false })).toMatchObject({ pid: null, healthy: false });
    expect(() => cdnFromStatus({ kind: 'varnish' })).toThrow(/no url/);
  });

  it('a target without a CDN says how to start one (the bench prints it as the CDN scenarios\' skip reason)', () => {
    expect(urlTarget('https://blog.example.org/x').cdn).toEqual({ unavailable: '--url mode: no cluster state to find a CDN in' });
  });

  it('finds the static root in a rendered nginx.conf', () => {
    const conf = '        location /static/ {\n            alias "/work/main/app/static/";\n            try_files $uri =404;';
    expect(staticRootFromNginxConf(conf)).toBe('/work/main/app/static');
    expect(staticRootFromNginxConf('server {}')).toBeNull();
  });
});
