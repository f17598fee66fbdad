import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp } from '../../infra/local/app-processes';
import { pgNodes, redisNodes, appNodes } from '../../infra/local/cluster-layout';
import { readMonitoringConfig } from '../../infra/local/monitoring';
import { postmasterPid, startPostgres, stopPostgres } from '../../infra/local/postgres';
import { startRedis, stopRedis } from '../../infra/local/redis';
import { projectRoot, StateDir } from '../../infra/local/state';
import { get, runCli } from './helpers-cluster';

// The monitored local cluster, for real: `up --monitoring --monitoring-profile short` (2 s scrape
// and evaluation, second-scale `for`), then through Prometheus's HTTP API: every scrape target up;
// three alerts fire and clear (a stopped replica → AidiaryReplicaNotStreaming; 5xx injected on
// the apps' loopback control ports → AidiaryHighErrorRate; a killed app → AidiaryAppDown); every
// Grafana dashboard query runs and names only metrics Prometheus has metadata for, after a mixed
// load with a 404 and a Redis restart; scrape targets follow `scale`; `down` stops it all.

const root = mkdtempSync(join(tmpdir(), 'aidiary-monitoring-'));
const stateDir = join(root, 'state');
const cli = (...args: string[]) => runCli([...args, '--state-dir', stateDir]);
let prom = '';
let lb = '';

async function api(path: string, params: Record<string, string> = {}): Promise<any> {
  const res = await fetch(`${prom}${path}?${new URLSearchParams(params)}`);
  const body = await res.json() as { status: string; data: unknown; error?: string };
  if (body.status !== 'success') throw new Error(`${path} ${JSON.stringify(params)}: ${body.error}`);
  return body.data;
}

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 45_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

type Alert = { labels: Record<string, string>; state: 'pending' | 'firing' };
const alerts = async (name: string): Promise<Alert[]> => ((await api('/api/v1/alerts')).alerts as Alert[]).filter((a) => a.labels.alertname === name);
const firing = (name: string, match: Record<string, string> = {}) => until(`${name} firing`, async () => {
  const a = (await alerts(name)).find((x) => x.state === 'firing' && Object.entries(match).every(([k, v]) => x.labels[k] === v));
  return a ?? false;
});
const cleared = (name: string) => until(`${name} cleared`, async () => (await alerts(name)).length === 0);

const status = async () => JSON.parse((await cli('status', '--json')).stdout);
const state = new StateDir(stateDir);
const topology = () => state.read()!.topology;

beforeAll(async () => {
  const r = await cli('up', '--detach', '--base-port', 'auto', '--apps', '2', '--db-replicas', '1', '--monitoring', '--monitoring-profile', 'short');
  expect(r.code, r.stderr).toBe(0);
  prom = `http://127.0.0.1:${readMonitoringConfig(stateDir)!.basePort}`;
  lb = `http://127.0.0.1:${topology().ports.lb}`;
}, 90_000);

afterAll(async () => {
  await cli('down');
  // PostgreSQL's files live outside a 0700 temp dir (infra/local/postgres.ts choosePgHome): remove them too
  const pgHome = state.read()?.pgHome;
  if (pgHome && pgHome !== state.root) rmSync(pgHome, { recursive: true, force: true });
  rmSync(root, { recursive: true, force: true });
}, 60_000);

describe('monitored local cluster (short profile)', () => {
  it('status --json lists every monitoring process, healthy, with its URL; every scrape target is up', async () => {
    const s = await status();
    const names = s.monitoring.map((m: { name: string }) => m.name).sort();
    expect(names).toEqual(['mon-mtail', 'mon-nginx-exporter', 'mon-pg-0-exporter', 'mon-pg-1-exporter', 'mon-prometheus', 'mon-redis-cache-exporter', 'mon-redis-sessions-exporter']);
    for (const m of s.monitoring) {
      expect(m.healthy, m.name).toBe(true);
      expect(m.pid, m.name).toBeGreaterThan(0);
      expect(m.url).toBe(`http://127.0.0.1:${m.port}${m.name === 'mon-prometheus' ? '/' : '/metrics'}`);
      // never a package's default port (its systemd service may hold it)
      expect([9090, 9187, 9121, 9113, 3903]).not.toContain(m.port);
    }
    const targets = await until('every target up', async () => {
      const t = (await api('/api/v1/targets')).activeTargets as { labels: { job: string }; health: string; scrapeUrl: string }[];
      return t.length === 9 && t.every((x) => x.health === 'up') ? t : false;
    });
    expect([...new Set(targets.map((t) => t.labels.job))].sort()).toEqual(['aidiary-app', 'aidiary-edge', 'aidiary-edge-log', 'aidiary-postgres', 'aidiary-redis', 'prometheus']);
    // the exporters log in: PostgreSQL as the pg_monitor role, Redis as the ACL user `exporter`
    const up = async (q: string) => (await api('/api/v1/query', { query: q })).result.map((r: { value: [number, string] }) => r.value[1]);
    expect(await up('pg_up')).toEqual(['1', '1']);
    expect(await up('redis_up')).toEqual(['1', '1']);
    expect(await up('cnpg_pg_replication_slots_active{node="pg-0"}')).toEqual(['1']);
  }, 60_000);

  it('a stopped replica fires AidiaryReplicaNotStreaming and a killed app fires AidiaryAppDown; both clear once they are back', async () => {
    const t = topology();
    const replica = pgNodes(state, t).find((n) => n.node.name === 'pg-1')!.node;
    const app = appNodes(t).find((a) => a.name === 'app-1')!;
    await stopPostgres(replica, 'fast');
    process.kill(state.readPid('app-1')!, 'SIGKILL');
    const [slot, down] = await Promise.all([firing('AidiaryReplicaNotStreaming', { slot_name: 'pg_1' }), firing('AidiaryAppDown', { instance: `127.0.0.1:${app.port}` })]);
    expect(slot.labels.severity).toBe('page');
    expect(down.labels.job).toBe('aidiary-app');
    await startPostgres(replica);
    state.writePid(replica.name, postmasterPid(replica)!);
    await startApp({ root: projectRoot(), state, topology: t, app, secrets: state.appSecretRefs() });
    await Promise.all([cleared('AidiaryReplicaNotStreaming'), cleared('AidiaryAppDown')]);
  }, 120_000);

  it('5xx injected through the loopback control ports above 1 % fires AidiaryHighErrorRate, which clears when it stops', async () => {
    const s = await status();
    const setRatio = (errorRatio: number) => Promise.all(s.apps.map(async (a: { controlPort: number }) => {
      const res = await fetch(`http://127.0.0.1:${a.controlPort}/faults/errors`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ errorRatio }) });
      expect(res.status).toBe(200);
    }));
    // the public listener has no such route; the control port refuses a bad ratio
    expect((await get(`${lb}/faults/errors`)).status).toBe(404);
    const bad = await fetch(`http://127.0.0.1:${s.apps[0].controlPort}/faults/errors`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ errorRatio: 2 }) });
    expect(bad.status).toBe(400);
    let stop = false;
    let n = 0;
    const statuses: number[] = [];
    const load = (async () => {
      while (!stop) {
        // distinct URLs: every request reaches an app (the edge micro-cache would answer repeats)
        statuses.push((await get(`${lb}/?m=${n++}`)).status);
        await new Promise((r) => setTimeout(r, 40));
      }
    })();
    try {
      await setRatio(0.1);
      await firing('AidiaryHighErrorRate');
      expect(statuses.filter((x) => x >= 500).length).toBeGreaterThan(0);
      await setRatio(0);
      await cleared('AidiaryHighErrorRate');
    } finally {
      stop = true;
      await load;
      await setRatio(0);
    }
  }, 120_000);

  it('every Grafana dashboard query runs, and every metric it names has metadata after a mixed load with a 404 and a Redis restart', async () => {
    for (let i = 0; i < 20; i++) await get(`${lb}/?mixed=${i}`);
    expect((await get(`${lb}/no-such-page-${Date.now()}`)).status).toBe(404);
    await get(`${lb}/`);
    await get(`${lb}/login`);
    // Redis restart: the cache role goes away and comes back (cache errors, reconnects)
    const cache = redisNodes(state, topology()).find((r) => r.role === 'cache')!;
    await stopRedis(state.readPid(cache.name)!);
    for (let i = 0; i < 5; i++) await get(`${lb}/?during-redis-restart=${i}`);
    state.writePid(cache.name, await startRedis(cache));
    for (let i = 0; i < 10; i++) await get(`${lb}/?after=${i}`);
    await new Promise((r) => setTimeout(r, 5000)); // two scrapes

    const dashboard = JSON.parse(readFileSync(join(projectRoot(), 'infra/observability/grafana-dashboard.json'), 'utf8'));
    const exprs: string[] = [];
    const walk = (panels: any[]) => panels.forEach((p) => { for (const t of p.targets ?? []) exprs.push(t.expr); walk(p.panels ?? []); });
    walk(dashboard.panels);
    const varMetrics = dashboard.templating.list.filter((v: any) => v.type === 'query').map((v: any) => /label_values\(([a-zA-Z_:][\w:]*)/.exec(v.query)![1]);
    expect(exprs.length).toBeGreaterThan(20);
    const metadata = await api('/api/v1/metadata') as Record<string, unknown>;
    const known = (m: string) => m in metadata || [/_bucket$/, /_count$/, /_sum$/].some((s) => s.test(m) && m.replace(s, '') in metadata);
    const missing: string[] = [];
    const named = new Set(exprs.flatMap((e) => metricNames(substituteGrafanaVariables(e))));
    // the extraction sees the names (and only names): the check below could fail
    for (const m of ['aidiary_http_request_duration_seconds_bucket', 'aidiary_cache_hits_total', 'nginx_connections_active', 'nginx_access_responses_total', 'redis_up', 'pg_up']) expect(named, m).toContain(m);
    for (const w of ['rate', 'sum', 'histogram_quantile', 'le', 'route', 'app']) expect(named, w).not.toContain(w);
    expect(known('aidiary_no_such_metric_total')).toBe(false);
    for (const raw of exprs) {
      const expr = substituteGrafanaVariables(raw);
      await api('/api/v1/query', { query: expr }); // throws with Prometheus's error when it does not parse or run
      for (const m of metricNames(expr)) if (!known(m)) missing.push(`${m} (in ${raw})`);
    }
    for (const m of varMetrics) if (!known(m)) missing.push(`${m} (template variable)`);
    expect(missing).toEqual([]);
  }, 90_000);

  it('scrape targets follow `aidiary scale` without a restart', async () => {
    const promPid = state.readPid('mon-prometheus');
    const appTargets = async () => ((await api('/api/v1/targets')).activeTargets as { labels: Record<string, string>; health: string }[])
      .filter((x) => x.labels.job === 'aidiary-app');
    expect((await cli('scale', '--apps', '3')).code).toBe(0);
    await until('app-2 scraped', async () => (await appTargets()).some((x) => x.labels.node === 'app-2' && x.health === 'up'));
    const fewer = await cli('scale', '--apps', '2', '--yes');
    expect(fewer.code, fewer.stderr).toBe(0);
    await until('app-2 gone from the targets', async () => !(await appTargets()).some((x) => x.labels.node === 'app-2'));
    // a replica added: its exporter starts and is scraped; removed: its exporter stops and its target goes
    const pgTargets = async () => ((await api('/api/v1/targets')).activeTargets as { labels: Record<string, string>; health: string }[])
      .filter((x) => x.labels.job === 'aidiary-postgres');
    const grow = await cli('scale', '--db-replicas', '2');
    expect(grow.code, grow.stderr).toBe(0);
    await until('pg-2 scraped', async () => (await pgTargets()).some((x) => x.labels.node === 'pg-2' && x.health === 'up'));
    const exporterPid = state.readPid('mon-pg-2-exporter')!;
    expect(exporterPid).toBeGreaterThan(0);
    const shrink = await cli('scale', '--db-replicas', '1', '--yes');
    expect(shrink.code, shrink.stderr).toBe(0);
    await until('pg-2 gone from the targets', async () => !(await pgTargets()).some((x) => x.labels.node === 'pg-2'));
    expect(() => process.kill(exporterPid, 0)).toThrow();
    expect(state.readPid('mon-prometheus')).toBe(promPid);
    expect(await cleared('AidiaryAppDown')).toBe(true);
    expect(await cleared('AidiaryReplicaNotStreaming')).toBe(true);
  }, 120_000);

  it('down stops every monitoring process', async () => {
    const pids = (await status()).monitoring.map((m: { pid: number }) => m.pid);
    const r = await cli('down');
    expect(r.code).toBe(0);
    for (const pid of pids) expect(() => process.kill(pid, 0), String(pid)).toThrow();
    expect((await status()).monitoring).toEqual([]);
  }, 60_000);

  it('npm start with AIDIARY_MONITORING=1 (foreground up) starts monitoring again, and Ctrl-C stops it with the cluster', async () => {
    const child = spawn(process.execPath, ['bin/aidiary.mjs', 'up', '--state-dir', stateDir], {
      cwd: projectRoot(), stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, AIDIARY_MONITORING: '1' },
    });
    let output = '';
    child.stdout!.on('data', (c) => { output += c; });
    child.stderr!.on('data', (c) => { output += c; });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await until('foreground cluster with monitoring', async () => {
        if (child.exitCode !== null) throw new Error(`up exited early (${child.exitCode}):\n${output.slice(-3000)}`);
        return output.includes('running in the foreground') && output.includes('monitoring: Prometheus on');
      }, 60_000);
      const mon = (await status()).monitoring as { pid: number; healthy: boolean }[];
      expect(mon).toHaveLength(7);
      expect(mon.every((m) => m.healthy)).toBe(true);
      child.kill('SIGINT');
      expect(await exited).toBe(0);
      for (const m of mon) expect(() => process.kill(m.pid, 0), String(m.pid)).toThrow();
      expect(output).toMatch(/stop monitoring: done/);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 90_000);
});

/** Grafana's variables by fixed rules: `$app` (every app) → `.*`, `$__rate_interval` → `1m`. */
function substituteGrafanaVariables(expr: string): string {
  return expr.replace(/\$__rate_interval|\$\{__rate_interval\}/g, '1m').replace(/\$__interval|\$\{__interval\}/g, '1m').replace(/\$\{?app\}?/g, '.*');
}

const promqlWords = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'inf', 'nan']);

/** Metric names of a PromQL expression: identifiers that are not functions, keywords, label names or strings. */
function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '');
  const names = [...stripped.matchAll(/(?<![\w:.])[a-zA-Z_:][\w:]*(?![\w:])(?!\s*\()/g)].map((m) => m[0])
    .filter((w) => !promqlWords.has(w.toLowerCase()) && !/^\d/.test(w));
  // histogram_quantile(0.99, …) etc: the regex's lookahead already drops function names
  return [...new Set(names)];
}
