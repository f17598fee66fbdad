import type { CapacityReport } from './capacity-report';
import { maxPredictionError } from './capacity-report';

// The capacity model's lines in the bench table: what it was fitted on, how well it predicted
// the runs it was not fitted on, and the deployment projections next to this machine's measurement.

const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
const int = (x: number) => Math.round(x).toLocaleString('en-US');

export function formatCapacity(c: CapacityReport): string[] {
  const m = c.model;
  const cls = (k: keyof typeof m.classes) => {
    const x = m.classes[k];
    return `${k} nginx ${x.nginx.toFixed(0)} + apps ${x.apps.toFixed(0)} + pg ${x.postgres.toFixed(0)} + redis ${x.redis.toFixed(0)} µs (wrk ${x.loadgen.toFixed(0)})`;
  };
  const out = [
    `capacity model: fitted on ${m.fittedOn.join(', ')}; utilization ${m.utilization.toFixed(3)} of ${m.cores} cores`,
    `  µs per request: ${cls('edgeHit')}; ${cls('appHit')};`,
    `                  ${cls('l2Hit')}; ${cls('render')};`,
    `                  ${cls('loggedIn')}; edge store +${m.edgeStoreNginxMicros.toFixed(0)} µs nginx per anonymous request reaching an app;`,
    `                  each app event-loop wake-up +${m.wakeupMicros.toFixed(0)} µs apps (home-l1: ${m.saturatedWakeupsPerRequest.toFixed(3)} wake-ups per request)`,
  ];
  for (const v of c.validation) {
    const verdict = v.withinTarget === null ? 'N/A ' : v.withinTarget ? 'PASS' : 'FAIL';
    out.push(`${verdict}  model predicts ${v.scenario}: ${int(v.predictedRequestsPerSecond)} req/s, measured ${int(v.measuredRequestsPerSecond)} (error ${v.error === null ? '?' : pct(v.error)}, target ±${pct(maxPredictionError)}; ${v.cores}, ${pct(v.availableShare)} of it free)`);
    const tiers = (['nginx', 'apps', 'postgres', 'redis', 'loadgen'] as const).map((t) => `${t === 'loadgen' ? 'wrk' : t} ${v.predictedMicros[t].toFixed(0)}/${v.measuredMicros[t].toFixed(0)}`);
    out.push(`        µs per request predicted/measured: ${tiers.join(', ')} (wrk charged as measured; ${v.wakeupsPerRequest === null ? 'wake-ups not recorded' : `${v.wakeupsPerRequest.toFixed(3)} app wake-ups per request`})`);
  }
  const p = c.planning;
  out.push(`projection for anonymous hit ratio ${pct(p.inputs.anonymousHitRatio)} (edge share of hits ${pct(p.inputs.edgeShareOfHits)}), logged-in share ${pct(p.inputs.loggedInShare)}: ${(p.microsPerRequest.nginx + p.microsPerRequest.apps + p.microsPerRequest.postgres + p.microsPerRequest.redis).toFixed(0)} µs CPU per request (nginx ${p.microsPerRequest.nginx}, apps ${p.microsPerRequest.apps}, pg ${p.microsPerRequest.postgres}, redis ${p.microsPerRequest.redis})`);
  const rows = [['deployment', 'req/s', 'nginx workers', 'app processes', 'PostgreSQL nodes', 'Redis processes']];
  if (c.measuredHere) rows.push([`measured here: ${c.measuredHere.scenario} (${c.measuredHere.cores} cores, wrk included)`, int(c.measuredHere.requestsPerSecond), '', '', '', '']);
  for (const d of [...c.deployments, c.uncachedHere]) {
    rows.push([d.name, int(d.requestsPerSecond), String(d.replicas.nginxWorkers), String(d.replicas.apps), String(d.replicas.postgresNodes), String(d.replicas.redisProcesses)]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  out.push(...rows.map((r) => `  ${r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ')}`.trimEnd()));
  for (const note of c.notes) out.push(`  note: ${note}`);
  return out;
}
