import type { BenchReport } from './bench-report';

// A dependency-free SVG chart: req/s, p99 latency and CPU µs per request (stacked by tier) per
// scenario as horizontal bars. Hand-written because a plotting library would be a heavy
// dependency for a dozen bars.

const tierColors: [keyof NonNullable<BenchReport['scenarios'][number]['cpu']>['microsPerRequest'], string][] = [
  ['nginx', '#2d8a4e'], ['apps', '#3b7dd8'], ['postgres', '#8a4ed8'], ['redis', '#d83b3b'], ['cdn', '#999999'],
];

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function niceMax(x: number): number {
  if (x <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}

export function renderChartSvg(r: BenchReport): string {
  const rowH = 28;
  const labelW = 130;
  const panelW = 330;
  const gap = 40;
  const top = 70;
  const rows = r.scenarios;
  const height = top + rows.length * rowH + 60;
  const width = labelW + panelW * 3 + gap * 2 + 40;
  const maxRps = niceMax(Math.max(...rows.map((s) => s.requestsPerSecond), 1));
  const maxP99 = niceMax(Math.max(...rows.map((s) => s.latencyMs.p99), 1));
  const x0 = labelW;
  const x1 = labelW + panelW + gap;
  const x2 = x1 + panelW + gap;
  const serving = (s: BenchReport['scenarios'][number]) => (s.cpu ? tierColors.reduce((sum, [t]) => sum + (s.cpu!.microsPerRequest[t] ?? 0), 0) : 0);
  const maxCpu = niceMax(Math.max(...rows.map(serving), 1));
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="10" y="20" font-size="15" font-weight="bold">${esc(`aidiary bench — ${r.startedAt.slice(0, 16).replace('T', ' ')} UTC`)}</text>`,
    `<text x="10" y="38" fill="#555">${esc(`${r.machine.cpuModel}, ${r.machine.cores} cores · ${r.settings.connections} connections · ${r.settings.durationSeconds} s per scenario${r.valid ? '' : ' · RUN INVALID (errors)'}`)}</text>`,
    `<text x="${x0}" y="${top - 10}" font-weight="bold">req/s (0–${maxRps.toLocaleString('en-US')})</text>`,
    `<text x="${x1}" y="${top - 10}" font-weight="bold">p99 latency, ms (0–${maxP99})</text>`,
    `<text x="${x2}" y="${top - 10}" font-weight="bold">CPU µs/request (0–${maxCpu.toLocaleString('en-US')}): ${tierColors.slice(0, 4).map(([t]) => t).join(', ')}</text>`,
    ...tierColors.slice(0, 4).map(([t, color], i) => `<rect x="${x2 + i * 70}" y="${top - 32}" width="10" height="10" fill="${color}"/><text x="${x2 + i * 70 + 14}" y="${top - 23}" font-size="10">${t}</text>`),
  ];
  rows.forEach((s, i) => {
    const y = top + i * rowH;
    parts.push(`<text x="${labelW - 8}" y="${y + 17}" text-anchor="end">${esc(s.name)}</text>`);
    if (s.status === 'not-run') {
      parts.push(`<text x="${x0 + 4}" y="${y + 17}" fill="#999">not run</text>`);
      return;
    }
    const color = s.status === 'ok' ? '#3b7dd8' : '#d83b3b';
    const w0 = Math.max(1, (s.requestsPerSecond / maxRps) * panelW);
    const w1 = Math.max(1, (s.latencyMs.p99 / maxP99) * panelW);
    parts.push(`<rect x="${x0}" y="${y + 4}" width="${w0.toFixed(1)}" height="${rowH - 8}" fill="${color}"/>`);
    parts.push(`<text x="${x0 + w0 + 4 > x0 + panelW - 60 ? x0 + w0 - 4 : x0 + w0 + 4}" y="${y + 17}" text-anchor="${x0 + w0 + 4 > x0 + panelW - 60 ? 'end' : 'start'}" fill="${x0 + w0 + 4 > x0 + panelW - 60 ? '#fff' : '#000'}">${Math.round(s.requestsPerSecond).toLocaleString('en-US')}</text>`);
    parts.push(`<rect x="${x1}" y="${y + 4}" width="${w1.toFixed(1)}" height="${rowH - 8}" fill="#e39a2d"/>`);
    parts.push(`<text x="${x1 + w1 + 4 > x1 + panelW - 50 ? x1 + w1 - 4 : x1 + w1 + 4}" y="${y + 17}" text-anchor="${x1 + w1 + 4 > x1 + panelW - 50 ? 'end' : 'start'}">${s.latencyMs.p99}</text>`);
    if (s.cpu) {
      let x = x2;
      for (const [tier, fill] of tierColors) {
        const w = ((s.cpu.microsPerRequest[tier] ?? 0) / maxCpu) * panelW;
        if (w <= 0) continue;
        parts.push(`<rect class="cpu" x="${x.toFixed(1)}" y="${y + 4}" width="${w.toFixed(1)}" height="${rowH - 8}" fill="${fill}"/>`);
        x += w;
      }
      parts.push(`<text x="${Math.min(x + 4, x2 + panelW - 40).toFixed(1)}" y="${y + 17}">${Math.round(serving(s))}</text>`);
    }
  });
  const yb = top + rows.length * rowH + 20;
  const ratio = (x: number | null) => (x === null ? 'n/a' : x.toFixed(3));
  parts.push(`<text x="10" y="${yb}">${esc(`home-cached / static = ${ratio(r.ratios.homeCachedOverStatic)} (target ≥ 0.9) · home-uncached / health = ${ratio(r.ratios.homeUncachedOverHealth)} (target ≥ 0.25)`)}</text>`);
  const zipf = r.scenarios.find((s) => s.name === 'zipf-mix');
  if (zipf?.cacheHitRatio != null) parts.push(`<text x="10" y="${yb + 18}">${esc(`zipf-mix hit ratio ${(zipf.cacheHitRatio * 100).toFixed(2)} % (target ≥ 99 %)`)}</text>`);
  parts.push('</svg>', '');
  return parts.join('\n');
}
