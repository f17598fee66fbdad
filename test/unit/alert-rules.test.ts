import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { alertRules, alertRulesHeader, productionProfile, renderAlertRulesYaml, shortProfile } from '../../infra/observability/alert-rules';
import { renderedRulesPath } from '../../infra/observability/render-alert-rules';

// The alert rules under Debian's promtool: `check rules` (syntax, templates) for both profiles and
// `test rules` with synthetic series at the production profile's durations, for every alert: it
// fires after its `for`, not before, and a healthy series set fires nothing.

const dir = mkdtempSync(join(tmpdir(), 'aidiary-alert-rules-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function promtool(...args: string[]) {
  const r = spawnSync('promtool', args, { cwd: dir, encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

interface Case {
  alert: string;
  series: { series: string; values: string }[];
  /** minutes: pending (not yet firing) at `before`, firing at `at` */
  before?: number;
  at: number;
  labels: Record<string, string>;
  /** series of the same shape at healthy values: never fires */
  healthy: { series: string; values: string }[];
}

const MiB = 1024 * 1024;
const cases: Case[] = [
  {
    alert: 'AidiaryHighLatencyP99',
    series: [
      { series: 'aidiary_http_request_duration_seconds_bucket{app="app-0",route="/",method="GET",status="2xx",le="0.05"}', values: '0+50x40' },
      { series: 'aidiary_http_request_duration_seconds_bucket{app="app-0",route="/",method="GET",status="2xx",le="0.1"}', values: '0+97x40' },
      { series: 'aidiary_http_request_duration_seconds_bucket{app="app-0",route="/",method="GET",status="2xx",le="0.25"}', values: '0+100x40' },
      { series: 'aidiary_http_request_duration_seconds_bucket{app="app-0",route="/",method="GET",status="2xx",le="+Inf"}', values: '0+100x40' },
    ],
    before: 8, at: 15, labels: { severity: 'page' },
    healthy: [
      { series: 'aidiary_http_request_duration_seconds_bucket{app="app-0",route="/",method="GET",status="2xx",le="0.05"}', values: '0+99x40' },
      { series: 'aidiary_http_request_duration_seconds_bucket{app="app-0",route="/",method="GET",status="2xx",le="0.1"}', values: '0+100x40' },
      { series: 'aidiary_http_request_duration_seconds_bucket{app="app-0",route="/",method="GET",status="2xx",le="+Inf"}', values: '0+100x40' },
    ],
  },
  {
    alert: 'AidiaryHighErrorRate',
    series: [
      { series: 'aidiary_http_request_duration_seconds_count{app="app-0",route="/",method="GET",status="2xx"}', values: '0+490x40' },
      { series: 'aidiary_http_request_duration_seconds_count{app="app-1",route="/",method="GET",status="5xx"}', values: '0+10x40' },
    ],
    before: 4, at: 10, labels: { severity: 'page' },
    healthy: [
      { series: 'aidiary_http_request_duration_seconds_count{app="app-0",route="/",method="GET",status="2xx"}', values: '0+496x40' },
      { series: 'aidiary_http_request_duration_seconds_count{app="app-0",route="/",method="GET",status="4xx"}', values: '0+100x40' },
      { series: 'aidiary_http_request_duration_seconds_count{app="app-1",route="/",method="GET",status="5xx"}', values: '0+4x40' },
    ],
  },
  {
    alert: 'AidiaryAppDown',
    series: [{ series: 'up{job="aidiary-app",instance="127.0.0.1:3001"}', values: '1 1 1 0x30' }],
    before: 3, at: 5, labels: { severity: 'page', job: 'aidiary-app', instance: '127.0.0.1:3001' },
    healthy: [{ series: 'up{job="aidiary-app",instance="127.0.0.1:3001"}', values: '1x30' }],
  },
  {
    alert: 'AidiaryEdgeDown',
    series: [{ series: 'nginx_up{job="aidiary-edge",instance="127.0.0.1:9113"}', values: '1 1 0x30' }],
    before: 2, at: 4, labels: { severity: 'page', job: 'aidiary-edge', instance: '127.0.0.1:9113' },
    healthy: [
      { series: 'nginx_up{job="aidiary-edge",instance="127.0.0.1:9113"}', values: '1x30' },
      { series: 'up{job="aidiary-edge",instance="127.0.0.1:9113"}', values: '1x30' },
    ],
  },
  {
    alert: 'AidiaryReplicaLagHigh',
    series: [{ series: 'aidiary_db_replica_lag_bytes{app="app-0",node="pg-2"}', values: `0 0 ${20 * MiB}x30` }],
    before: 5, at: 8, labels: { severity: 'ticket', node: 'pg-2' },
    healthy: [{ series: 'aidiary_db_replica_lag_bytes{app="app-0",node="pg-2"}', values: `${8 * MiB}x30` }],
  },
  {
    alert: 'AidiaryReplicaNotStreaming',
    series: [
      { series: 'cnpg_pg_replication_slots_active{instance="127.0.0.1:9187",slot_name="replica_2",slot_type="physical",database=""}', values: '1 1 0x30' },
      { series: 'cnpg_pg_replication_in_recovery{instance="127.0.0.1:9187"}', values: '0x30' },
      // a replica's copy of a slot is inactive by nature: never an alert
      { series: 'cnpg_pg_replication_slots_active{instance="127.0.0.1:9188",slot_name="replica_2",slot_type="physical",database=""}', values: '0x30' },
      { series: 'cnpg_pg_replication_in_recovery{instance="127.0.0.1:9188"}', values: '1x30' },
    ],
    before: 3, at: 6, labels: { severity: 'page', instance: '127.0.0.1:9187', slot_name: 'replica_2', slot_type: 'physical' },
    healthy: [
      { series: 'cnpg_pg_replication_slots_active{instance="127.0.0.1:9187",slot_name="replica_2",slot_type="physical",database=""}', values: '1x30' },
      { series: 'cnpg_pg_replication_in_recovery{instance="127.0.0.1:9187"}', values: '0x30' },
    ],
  },
  {
    alert: 'AidiarySyncDurabilityDegraded',
    series: [
      { series: 'cnpg_aidiary_sync_standbys_configured{instance="127.0.0.1:9187"}', values: '1x30' },
      { series: 'cnpg_aidiary_sync_standbys_attached{instance="127.0.0.1:9187"}', values: '1 1 0x30' },
    ],
    before: 3, at: 6, labels: { severity: 'page', instance: '127.0.0.1:9187' },
    healthy: [
      { series: 'cnpg_aidiary_sync_standbys_configured{instance="127.0.0.1:9187"}', values: '1x30' },
      { series: 'cnpg_aidiary_sync_standbys_attached{instance="127.0.0.1:9187"}', values: '2x30' },
      { series: 'cnpg_aidiary_sync_standbys_configured{instance="127.0.0.1:9188"}', values: '0x30' },
      { series: 'cnpg_aidiary_sync_standbys_attached{instance="127.0.0.1:9188"}', values: '0x30' },
    ],
  },
  {
    alert: 'AidiaryFailoverHappened',
    series: [{ series: 'cnpg_pg_replication_in_recovery{instance="127.0.0.1:9188"}', values: '1x10 0x30' }],
    at: 12, labels: { severity: 'ticket', instance: '127.0.0.1:9188' },
    healthy: [{ series: 'cnpg_pg_replication_in_recovery{instance="127.0.0.1:9188"}', values: '1x40' }],
  },
  {
    alert: 'AidiarySessionsRedisUnreachable',
    series: [
      { series: 'aidiary_session_store_up{app="app-1",instance="127.0.0.1:3001"}', values: '1 1 0x30' },
      { series: 'aidiary_session_store_up{app="app-0",instance="127.0.0.1:3000"}', values: '1x30' },
    ],
    before: 2, at: 5, labels: { severity: 'page', app: 'app-1' },
    healthy: [{ series: 'aidiary_session_store_up{app="app-1",instance="127.0.0.1:3001"}', values: '1x30' }],
  },
  {
    alert: 'AidiaryCacheHitRatioLow',
    series: [
      { series: 'aidiary_cache_hits_total{app="app-0",layer="l1"}', values: '0+80x60' },
      { series: 'aidiary_cache_stale_served_total{app="app-0"}', values: '0+5x60' },
      { series: 'aidiary_cache_renders_total{app="app-0",stored="true"}', values: '0+15x60' },
    ],
    before: 10, at: 30, labels: { severity: 'ticket' },
    healthy: [
      { series: 'aidiary_cache_hits_total{app="app-0",layer="l1"}', values: '0+97x60' },
      { series: 'aidiary_cache_stale_served_total{app="app-0"}', values: '0+1x60' },
      { series: 'aidiary_cache_renders_total{app="app-0",stored="true"}', values: '0+2x60' },
    ],
  },
  {
    alert: 'AidiaryWalGrowing',
    series: [{ series: 'cnpg_aidiary_wal_bytes{instance="127.0.0.1:9187"}', values: `${1024 * MiB} ${3072 * MiB}x40` }],
    before: 10, at: 20, labels: { severity: 'ticket', instance: '127.0.0.1:9187' },
    healthy: [{ series: 'cnpg_aidiary_wal_bytes{instance="127.0.0.1:9187"}', values: `${512 * MiB}x40` }],
  },
  {
    alert: 'AidiaryDatabaseDiskGrowth',
    // 1 GiB per 10 min from 40 GiB: 24 h ahead is far past 50 GiB
    series: [{ series: 'cnpg_pg_database_size_bytes{instance="127.0.0.1:9187",datname="aidiary"}', values: `${40 * 1024 * MiB}+${(1024 * MiB) / 10}x60` }],
    before: 10, at: 30, labels: { severity: 'ticket', instance: '127.0.0.1:9187', datname: 'aidiary' },
    healthy: [{ series: 'cnpg_pg_database_size_bytes{instance="127.0.0.1:9187",datname="aidiary"}', values: `${10 * 1024 * MiB}+${MiB}x60` }],
  },
  {
    alert: 'AidiaryBackupTooOld',
    // the last backup finished at t=0 (epoch 0): 26 h later it is too old, with 30 m for
    series: [{ series: 'cnpg_collector_last_available_backup_timestamp{instance="127.0.0.1:9187"}', values: '0x1700' }],
    before: 26 * 60 + 20, at: 26 * 60 + 40, labels: { severity: 'page' },
    healthy: [{ series: 'cnpg_collector_last_available_backup_timestamp{instance="127.0.0.1:9187"}', values: '0+60x1700' }],
  },
  {
    alert: 'AidiaryJobsFailing',
    series: [
      { series: 'aidiary_jobs_finished_total{app="app-0",queue="scheduled",job="sweep",outcome="completed"}', values: '0+1x30' },
      { series: 'aidiary_jobs_finished_total{app="app-0",queue="scheduled",job="sweep",outcome="failed"}', values: '0x5 1x30' },
    ],
    at: 8, labels: { severity: 'ticket', queue: 'scheduled', job: 'sweep' },
    healthy: [{ series: 'aidiary_jobs_finished_total{app="app-0",queue="scheduled",job="sweep",outcome="completed"}', values: '0+1x30' }],
  },
  {
    alert: 'AidiaryCdnPurgeDeadLetters',
    series: [
      { series: 'aidiary_cdn_purge_dead_letters{app="app-0"}', values: '0x5 1x30' },
      { series: 'aidiary_cdn_purge_dead_letters{app="app-1"}', values: '0x5 1x30' },
    ],
    before: 4, at: 8, labels: { severity: 'ticket' },
    healthy: [{ series: 'aidiary_cdn_purge_dead_letters{app="app-0"}', values: '0x30' }],
  },
];

/** The production rules without annotations (their $value renderings are not what is tested here). */
function rulesForTest(): string {
  const groups = alertRules(productionProfile).map((g) => ({ ...g, rules: g.rules.map(({ annotations: _a, ...r }) => r) }));
  return JSON.stringify({ groups });
}

function testFile(): string {
  const tests = cases.flatMap((c) => {
    const alertEvals = [
      ...(c.before !== undefined ? [{ eval_time: `${c.before}m`, alertname: c.alert, exp_alerts: [] }] : []),
      { eval_time: `${c.at}m`, alertname: c.alert, exp_alerts: [{ exp_labels: c.labels }] },
    ];
    return [
      { name: `${c.alert} fires`, interval: '1m', input_series: c.series, alert_rule_test: alertEvals },
      {
        name: `${c.alert} stays quiet when healthy`,
        interval: '1m',
        input_series: c.healthy,
        // every alert, not only this one: healthy values of one signal must not trip another
        alert_rule_test: alertRules(productionProfile)[0].rules.map((r) => ({ eval_time: `${c.at}m`, alertname: r.alert, exp_alerts: [] })),
      },
    ];
  });
  return JSON.stringify({ rule_files: ['rules.json'], evaluation_interval: '1m', tests });
}

describe('alert rules (promtool)', () => {
  it('the committed rules file is the production rendering of the template', () => {
    expect(readFileSync(renderedRulesPath, 'utf8')).toBe(renderAlertRulesYaml(productionProfile, { header: alertRulesHeader }));
  });

  it('promtool check rules accepts both profiles', () => {
    writeFileSync(join(dir, 'short.yml'), renderAlertRulesYaml(shortProfile, { interval: '2s' }));
    const prod = promtool('check', 'rules', renderedRulesPath);
    expect(prod.output).toContain('SUCCESS: 15 rules found');
    expect(prod.status).toBe(0);
    const short = promtool('check', 'rules', join(dir, 'short.yml'));
    expect(short.status, short.output).toBe(0);
  });

  it('promtool check rules rejects a broken expression (the check can fail)', () => {
    writeFileSync(join(dir, 'bad.yml'), renderAlertRulesYaml(productionProfile).replace('> 0.1', '> > 0.1'));
    expect(promtool('check', 'rules', join(dir, 'bad.yml')).status).not.toBe(0);
  });

  it('every alert has a test case and an actionable summary', () => {
    const rules = alertRules(productionProfile)[0].rules;
    expect(cases.map((c) => c.alert).sort()).toEqual(rules.map((r) => r.alert).sort());
    for (const r of rules) {
      expect(r.annotations.summary.length, r.alert).toBeGreaterThan(20);
      expect(r.annotations.description.length, r.alert).toBeGreaterThan(40);
    }
  });

  it('promtool test rules: every alert fires after its `for` at production values and stays quiet when healthy', () => {
    writeFileSync(join(dir, 'rules.json'), rulesForTest());
    writeFileSync(join(dir, 'tests.json'), testFile());
    const r = promtool('test', 'rules', 'tests.json');
    expect(r.output).toContain('SUCCESS');
    expect(r.status, r.output).toBe(0);
  });

  it('promtool test rules fails when an expectation is wrong (the test can fail)', () => {
    writeFileSync(join(dir, 'rules.json'), rulesForTest());
    const wrong = JSON.parse(testFile());
    wrong.tests[0].alert_rule_test[0].exp_alerts = [{ exp_labels: { severity: 'page' } }];
    writeFileSync(join(dir, 'wrong.json'), JSON.stringify(wrong));
    expect(promtool('test', 'rules', 'wrong.json').status).not.toBe(0);
  });

  it('the reference Prometheus config (infra/observability/prometheus.yml) and the rules it loads pass promtool check config', () => {
    const r = promtool('check', 'config', renderedRulesPath.replace(/alert-rules\.yml$/, 'prometheus.yml'));
    expect(r.output).toContain('SUCCESS: 15 rules found');
    expect(r.status, r.output).toBe(0);
  });

  it('the mtail program turns nginx access-log lines (log_format aidiary) into edge status and latency metrics', () => {
    mkdirSync(join(dir, 'progs'), { recursive: true });
    copyFileSync(renderedRulesPath.replace(/alert-rules\.yml$/, 'nginx-access.mtail'), join(dir, 'progs', 'nginx-access.mtail'));
    const line = (status: number, rt: string) => `127.0.0.1 [2026-12-06T07:00:00+00:00] "GET /p HTTP/1.1" ${status} 512 rt=${rt} up=127.0.0.1:3000 ut=${rt} edge=MISS rid=0123abcd client_rid="-"`;
    writeFileSync(join(dir, 'access.log'), `${[line(200, '0.004'), line(200, '0.300'), line(404, '0.001'), line(502, '1.200')].join('\n')}\n`);
    // -port 0: never mtail's default port (3903), which a system service may hold
    const out = execFileSync('mtail', ['-progs', join(dir, 'progs'), '-logs', join(dir, 'access.log'), '-one_shot', '-one_shot_format', 'prometheus', '-address', '127.0.0.1', '-port', '0', '-emit_prog_label=false'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    expect(out).toContain('nginx_access_responses_total{status="200"} 2');
    expect(out).toContain('nginx_access_responses_total{status="404"} 1');
    expect(out).toContain('nginx_access_responses_total{status="502"} 1');
    expect(out).toContain('nginx_access_request_duration_seconds_bucket{class="2xx-3xx",le="0.005"} 1');
    expect(out).toContain('nginx_access_request_duration_seconds_bucket{class="2xx-3xx",le="0.5"} 2');
    expect(out).toContain('nginx_access_request_duration_seconds_count{class="5xx"} 1');
  });

  it('promtool is Debian\'s', () => {
    expect(execFileSync('promtool', ['--version'], { encoding: 'utf8' })).toMatch(/promtool, version 2\./);
  });
});
