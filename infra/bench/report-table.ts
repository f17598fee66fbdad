import type { BenchReport } from './bench-report';
import { formatCapacity } from './capacity-table';

// The human table printed on stdout (JSON goes there instead with --json).

const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '-');
const ratio = (x: number | null) => (x === null ? '-' : x.toFixed(3));

/** Columns padded to their widest cell; numbers right-aligned; the last column free. */
export function alignRows(rows: string[][], numeric: Set<number>): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => (i === rows[0].length - 1 ? 0 : (row[i] ?? '').length))));
  return rows.map((row) => row.map((c, i) => (i === row.length - 1 ? c : numeric.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd());
}

/** CPU µs per request per tier and the largest app RSS, one row per measured scenario. */
function cpuLines(r: BenchReport): string[] {
  const measured = r.scenarios.filter((s) => s.status !== 'not-run' && s.cpu);
  if (measured.length === 0) return [];
  const cell = (v: number | null) => (v === null ? '-' : fmt(v, 1));
  const rows: string[][] = [['CPU µs/request', 'nginx', 'apps', 'postgres', 'redis', 'cdn', 'wrk', 'serving', 'cores free', 'app RSS MB (max; its L1)']];
  for (const s of measured) {
    const c = s.cpu!;
    const largest = c.appRssBytes.reduce<(typeof c.appRssBytes)[number] | null>((x, y) => (x === null || (y.bytes ?? 0) > (x.bytes ?? 0) ? y : x), null);
    rows.push([
      s.name, cell(c.microsPerRequest.nginx), cell(c.microsPerRequest.apps), cell(c.microsPerRequest.postgres), cell(c.microsPerRequest.redis),
      cell(c.microsPerRequest.cdn), cell(c.microsPerRequest.loadgen), cell(c.servingMicrosPerRequest),
      `${fmt(c.machine.cores - c.machine.othersCores, 2)}/${fmt(c.machine.cores, 0)}`,
      largest?.bytes == null ? '-' : `${fmt(largest.bytes / 2 ** 20, 0)}${typeof largest.l1Bytes === 'number' ? `; ${fmt(largest.l1Bytes / 2 ** 20, 0)}` : ''}`,
    ]);
  }
  return ['', ...alignRows(rows, new Set([1, 2, 3, 4, 5, 6, 7, 8, 9])),
    '(utime+stime over each tier\'s process trees, reaped children included, less the tier\'s idle background; serving: every tier but wrk;',
    ' cores free: the machine\'s cores less what processes outside the tiers took during the run)'];
}

export function formatReport(r: BenchReport): string {
  const rows: string[][] = [['scenario', 'req/s', 'min-max', '× static', '× floor', 'mean ms', 'p50 ms', 'p99 ms', 'max ms', 'non-2xx', 'hit %', 'B/resp', 'result']];
  for (const s of r.scenarios) {
    if (s.status === 'not-run') {
      rows.push([s.name, '-', '-', '-', '-', '-', '-', '-', '-', '-', '-', '-', `not run: ${s.reason ?? ''}`]);
      continue;
    }
    const rounds = s.roundsRequestsPerSecond;
    const errors = s.non2xx + s.socketErrors.connect + s.socketErrors.read + s.socketErrors.write + s.socketErrors.timeout;
    rows.push([
      s.name,
      fmt(s.requestsPerSecond, 0),
      rounds.length > 1 ? `${fmt(Math.min(...rounds), 0)}-${fmt(Math.max(...rounds), 0)}` : '-',
      ratio(s.ratioToStatic),
      ratio(s.ratioToNodeFloor),
      fmt(s.latencyMs.mean, 2),
      fmt(s.latencyMs.p50, 2),
      fmt(s.latencyMs.p99, 2),
      fmt(s.latencyMs.max, 1),
      String(errors),
      s.cdnHitRatio !== null ? `${fmt(s.cdnHitRatio * 100, 2)} cdn` : s.cacheHitRatio === null ? '-' : fmt(s.cacheHitRatio * 100, 2),
      String(s.bytesPerResponse.mean),
      s.status === 'ok' ? 'ok' : `INVALID: ${s.invalidReasons.join('; ')}`,
    ]);
  }
  const lines = alignRows(rows, new Set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]));

  const m = r.machine;
  const out = [
    `aidiary bench: ${r.target.url} (${r.target.kind}${r.target.apps !== null ? `, ${r.target.apps} apps, ${r.target.dbReplicas} DB replicas` : ''})`,
    `machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB, Linux ${m.kernel}; node ${m.versions.node}, nginx ${m.versions.nginx ?? '?'}, postgres ${m.versions.postgres ?? '?'}, redis ${m.versions.redis ?? '?'}, wrk ${m.versions.wrk ?? '?'}`,
    `settings: ${r.settings.connections} connections, ${r.settings.threads} wrk threads, ${r.settings.warmupSeconds} s warm-up + ${r.settings.durationSeconds} s measured per scenario${r.settings.rounds > 1 ? `, median of ${r.settings.rounds} interleaved rounds (min-max of the rounds shown; ratios: median of same-round ratios; CPU: median over rounds)` : ''}`,
  ];
  if (r.mix) out.push(`mix: Zipf s=${r.mix.zipfS} over ${r.mix.posts} posts (of ${r.mix.postsAvailable}) + ${r.mix.listings} listings, ${Math.round(r.mix.listingShare * 100)} % listings; warm-up: ${r.mix.warmup}`);
  out.push('', ...lines, ...cpuLines(r), '');
  for (const s of r.scenarios) for (const note of s.notes) out.push(`note: ${s.name}: ${note}`);
  const named = (x: number | null) => (x === null ? 'not measured' : x.toFixed(3));
  out.push(`ratios: home-cached / static = ${named(r.ratios.homeCachedOverStatic)}; home-uncached / health = ${named(r.ratios.homeUncachedOverHealth)}`);
  for (const t of r.targets) out.push(`${t.pass === null ? 'N/A ' : t.pass ? 'PASS' : 'FAIL'}  ${t.name}: ${t.measured} (target ${t.target})`);
  if (r.capacity) out.push('', ...formatCapacity(r.capacity), '');
  out.push(r.valid ? 'run: valid (0 errors in every measured scenario)' : 'run: INVALID (errors above; throughput with errors is not throughput)');
  if (r.files.json) out.push(`results: ${r.files.json}`);
  if (r.files.chart) out.push(`chart: ${r.files.chart}`);
  return out.join('\n');
}
