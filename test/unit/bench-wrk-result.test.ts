import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseWrkOutput, WrkOutputError } from '../../infra/bench/wrk-result';
import { runWrk, wrkArgs } from '../../infra/bench/wrk-runner';

const luaLine = (over: Record<string, unknown> = {}) => `BENCH_JSON ${JSON.stringify({
  duration_us: 2_000_000, requests: 10_000, bytes: 123_456,
  errors: { connect: 0, read: 0, write: 0, status: 3, timeout: 1 },
  latency_us: { min: 80, max: 25_000, mean: 1_234.5, stdev: 400, percentiles: { 50: 1000, 75: 1500, 90: 2000, 99: 9_876, '99.9': 20_000 } },
  statuses: { 200: 9_990, 302: 7, 404: 3 },
  responses: 10_000, body_bytes: 10_000_000, body_min: 0, body_max: 1200, wrong_size: 10, repeats: 0,
  ...over,
})}`;

describe('parseWrkOutput', () => {
  it('reads the done() JSON line, converts µs to ms and counts 3xx as non-2xx', () => {
    const text = `Running 2s test @ http://x/\n  2 threads and 8 connections\nRequests/sec: 5000.00\n${luaLine()}\n`;
    const r = parseWrkOutput(text);
    expect(r.requestsPerSecond).toBe(5000);
    expect(r.latencyMs).toMatchObject({ mean: 1.235, p50: 1, p75: 1.5, p90: 2, p99: 9.876, p999: 20, max: 25 });
    // wrk itself would report only the 3 × 404 as errors; the 302s count too.
    expect(r.non2xx).toBe(10);
    expect(r.statuses).toEqual({ 200: 9_990, 302: 7, 404: 3 });
    expect(r.socketErrors.timeout).toBe(1);
    expect(r.bytesPerResponse).toEqual({ mean: 1000, min: 0, max: 1200 });
    expect(r.wrongSizeBodies).toBe(10);
  });

  it('with active_us (a once=1 list ran out) req/s is over the active time, not wrk\'s -d', () => {
    const r = parseWrkOutput(luaLine({ active_us: 500_000, requests: 1000 }));
    expect(r.exhausted).toBe(true);
    expect(r.durationSeconds).toBe(0.5);
    expect(r.requestsPerSecond).toBe(2000);
    expect(parseWrkOutput(luaLine({ active_us: 0 })).exhausted).toBe(false);
  });

  it('an empty status table (no response at all) parses as zero', () => {
    const r = parseWrkOutput(luaLine({ statuses: {}, requests: 0, responses: 0, body_min: -1, body_max: 0 }));
    expect(r.non2xx).toBe(0);
    expect(r.requestsPerSecond).toBe(0);
    expect(r.bytesPerResponse.min).toBe(0);
  });

  it('refuses output without the JSON line, malformed JSON and a wrong shape', () => {
    expect(() => parseWrkOutput('Requests/sec: 1000\n')).toThrow(WrkOutputError);
    expect(() => parseWrkOutput('BENCH_JSON {not json')).toThrow(/malformed/);
    expect(() => parseWrkOutput('BENCH_JSON {"requests": 1}')).toThrow(/unexpected shape/);
  });

  it('builds wrk arguments with the Lua script and key=value script arguments', () => {
    const args = wrkArgs({ url: 'http://127.0.0.1:1/', script: 'sequence', connections: 1, threads: 2, durationSeconds: 3, headers: { 'X-A': 'b' }, pathsFile: '/tmp/p', offset: 5, expectBytes: { min: 1, max: 2 } });
    expect(args.slice(0, 3)).toEqual(['-t2', '-c2', '-d3s']);
    expect(args[args.indexOf('-s') + 1]).toMatch(/infra\/bench\/wrk\/sequence\.lua$/);
    expect(args.slice(args.indexOf('--'))).toEqual(['--', 'threads=2', 'header=X-A:b', 'min_bytes=1', 'max_bytes=2', 'paths=/tmp/p', 'offset=5']);
  });
});

// The Lua scripts run in real wrk against a real HTTP server whose answers we control.
describe('wrk Lua scripts against a real server', () => {
  let server: Server;
  let base: string;
  let dir: string;
  const seen: { path: string; bench: string | undefined }[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push({ path: req.url ?? '', bench: req.headers['x-bench'] as string | undefined });
      if (req.url === '/loop') {
        res.writeHead(302, { location: '/loop' });
        res.end();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('y'.repeat(req.url === '/big' ? 5000 : 1000));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const addr = server.address();
    if (!addr || typeof addr === 'string') throw new Error('no port');
    base = `http://127.0.0.1:${addr.port}`;
    dir = mkdtempSync(join(tmpdir(), 'bench-lua-'));
  });

  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('single.lua: per-status counts, bytes per response, headers sent', async () => {
    seen.length = 0;
    const r = await runWrk({ url: `${base}/x`, script: 'single', connections: 2, threads: 1, durationSeconds: 1, headers: { 'X-Bench': 'yes' }, expectBytes: { min: 1000, max: 1000 } });
    expect(r.requests).toBeGreaterThan(50);
    expect(r.statuses).toEqual({ 200: r.requests });
    expect(r.non2xx).toBe(0);
    expect(r.bytesPerResponse).toEqual({ mean: 1000, min: 1000, max: 1000 });
    expect(r.wrongSizeBodies).toBe(0);
    expect(r.latencyMs.p99).toBeGreaterThan(0);
    expect(seen.every((s) => s.bench === 'yes')).toBe(true);
  });

  it('single.lua: a redirect loop is non-2xx and wrong-size, though wrk would call it success', async () => {
    const r = await runWrk({ url: `${base}/loop`, script: 'single', connections: 2, threads: 1, durationSeconds: 1, expectBytes: { min: 1000, max: 1000 } });
    expect(r.requests).toBeGreaterThan(50);
    expect(r.non2xx).toBe(r.requests);
    expect(r.statuses['302']).toBe(r.requests);
    expect(r.wrongSizeBodies).toBe(r.requests);
  });

  it('sequence.lua: threads stride over the list, wrapping counts as repeats', async () => {
    const file = join(dir, 'paths.txt');
    writeFileSync(file, '/a\n/big\n/c\n/d\n');
    seen.length = 0;
    const r = await runWrk({ url: `${base}/`, script: 'sequence', connections: 2, threads: 2, durationSeconds: 1, pathsFile: file, expectBytes: { min: 1000, max: 1000 } });
    const paths = new Set(seen.map((s) => s.path));
    expect(paths).toEqual(new Set(['/a', '/big', '/c', '/d']));
    // Counted when a request is issued: requests still in flight at the end count too, and wrk
    // issues a fresh one when it reconnects a connection (measured once: 3 over, with 2 connections).
    expect(r.repeatedPaths).toBeGreaterThanOrEqual(r.requests - 4);
    expect(r.repeatedPaths).toBeLessThanOrEqual(r.requests - 4 + 4);
    // Only /big (5000 B) is outside the 1000-byte bound: one wrong-size body per /big answered.
    const big = seen.filter((s) => s.path === '/big').length;
    expect(big).toBeGreaterThan(10);
    expect(Math.abs(r.wrongSizeBodies - big)).toBeLessThanOrEqual(2);
    expect(r.bytesPerResponse.max).toBe(5000);
  });

  it('sequence.lua once=1: every path once, then stop; req/s over the active time', async () => {
    const file = join(dir, 'once.txt');
    writeFileSync(file, Array.from({ length: 300 }, (_, i) => `/p${i}`).join('\n') + '\n');
    seen.length = 0;
    const started = Date.now();
    const r = await runWrk({ url: `${base}/`, script: 'sequence', connections: 4, threads: 2, durationSeconds: 10, pathsFile: file, once: true });
    const paths = seen.map((s) => s.path);
    // A thread stops at the first answer after its stride ran out, but wrk finishes the event-loop
    // pass it is in: another of its connections may still send one request generated past the end
    // (seen once in a full run under load). Each such request is counted as a repeat, so the report
    // shows every path the server saw twice; at most one per connection.
    const duplicates = paths.length - new Set(paths).size;
    expect(duplicates).toBeLessThanOrEqual(r.repeatedPaths);
    expect(new Set(paths).size).toBeGreaterThan(290);
    expect(r.repeatedPaths).toBeLessThanOrEqual(4);
    expect(r.exhausted).toBe(true);
    expect(r.durationSeconds).toBeLessThan(3);
    expect(r.requestsPerSecond).toBeCloseTo(r.requests / r.durationSeconds, 0);
    // The runner ends wrk (SIGINT) once every thread is done, instead of waiting out its -d.
    expect(Date.now() - started).toBeLessThan(6000);
  });
});
