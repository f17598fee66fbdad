import type { BenchReport } from './bench-report';

// The human table printed on stdout (JSON goes there instead with --json).

const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '-');

export function formatReport(r: BenchReport): string {
  const rows: string[][] = [['scenario', 'req/s', 'mean ms', 'p50 ms', 'p99 ms', 'max ms', 'non-2xx', 'hit %', 'B/resp', 'result']];
  for (const s of r.scenarios) {
    if (s.status === 'not-run') {
      rows.push([s.name, '-', '-', '-', '-', '-', '-', '-', '-', `not run: ${s.reason ?? ''}`]);
      continue;
    }
    const errors = s.non2xx + s.socketErrors.connect + s.socketErrors.read + s.socketErrors.write + s.socketErrors.timeout;
    rows.push([
      s.name,
      fmt(s.requestsPerSecond, 0),
      fmt(s.latencyMs.mean, 2),
      fmt(s.latencyMs.p50, 2),
      fmt(s.latencyMs.p99, 2),
      fmt(s.latencyMs.max, 1),
      String(errors),
      s.cacheHitRatio === null ? '-' : fmt(s.cacheHitRatio * 100, 2),
      String(s.bytesPerResponse.mean),
      s.status === 'ok' ? 'ok' : `INVALID: ${s.invalidReasons.join('; ')}`,
    ]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => (i === rows[0].length - 1 ? 0 : row[i].length))));
  const numeric = new Set([1, 2, 3, 4, 5, 6, 7, 8]);
  const lines = rows.map((row) => row.map((c, i) => (i === row.length - 1 ? c : numeric.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd());

  const m = r.machine;
  const out = [
    `aidiary bench: ${r.target.url} (${r.target.kind}${r.target.apps !== null ? `, ${r.target.apps} apps, ${r.target.dbReplicas} DB replicas` : ''})`,
    `machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB, Linux ${m.kernel}; node ${m.versions.node}, nginx ${m.versions.nginx ?? '?'}, postgres ${m.versions.postgres ?? '?'}, redis ${m.versions.redis ?? '?'}, wrk ${m.versions.wrk ?? '?'}`,
    `settings: ${r.settings.connections} connections, ${r.settings.threads} wrk threads, ${r.settings.warmupSeconds} s warm-up + ${r.settings.durationSeconds} s measured per scenario${r.settings.rounds > 1 ? `, median of ${r.settings.rounds} interleaved rounds` : ''}`,
  ];
  if (r.mix) out.push(`mix: Zipf s=${r.mix.zipfS} over ${r.mix.posts} posts (of ${r.mix.postsAvailable}) + ${r.mix.listings} listings, ${Math.round(r.mix.listingShare * 100)} % listings; warm-up: ${r.mix.warmup}`);
  out.push('', ...lines, '');
  for (const s of r.scenarios) for (const note of s.notes) out.push(`note: ${s.name}: ${note}`);
  const ratio = (x: number | null) => (x === null ? 'not measured' : x.toFixed(3));
  out.push(`ratios: home-cached / static = ${ratio(r.ratios.homeCachedOverStatic)}; home-uncached / health = ${ratio(r.ratios.homeUncachedOverHealth)}`);
  for (const t of r.targets) out.push(`${t.pass === null ? 'N/A ' : t.pass ? 'PASS' : 'FAIL'}  ${t.name}: ${t.measured} (target ${t.target})`);
  out.push(r.valid ? 'run: valid (0 errors in every measured scenario)' : 'run: INVALID (errors above; throughput with errors is not throughput)');
  if (r.files.json) out.push(`results: ${r.files.json}`);
  if (r.files.chart) out.push(`chart: ${r.files.chart}`);
  return out.join('\n');
}
