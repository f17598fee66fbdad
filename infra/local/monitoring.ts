import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { alertRulesHeader, productionProfile, renderAlertRulesYaml, shortProfile } from '../observability/alert-rules';
import { postgresExporterQueries } from '../observability/postgres-queries';
import { redisUsers } from '../redis-settings';
import type { Topology } from '../topology';
import { appNodes, pgNodes, redisNodes } from './cluster-layout';
import { isHealthy } from './http-probe';
import { postmasterPid, superuserQuery } from './postgres';
import { isNodeProcess } from './preflight';
import { freePortBlock, isAlive, isPortFree, sleep, spawnDetached, stopPid } from './process';
import { projectRoot, StateDir } from './state';

// `aidiary up --monitoring`: Debian's Prometheus, PostgreSQL/Redis/nginx exporters and mtail as
// local processes on loopback, beside the cluster. Each listens on a port of its own block (chosen
// once, recorded in monitoring/monitoring.json; never the packages' default ports, which their
// systemd services may hold), keeps its files under <state>/monitoring, and logs in read-only:
// PostgreSQL as `aidiary_monitor` (pg_monitor), Redis as the ACL user `exporter`. Passwords reach
// the exporters through password files or the environment, never a command line.
// Scrape targets that follow `scale` (apps, PostgreSQL nodes) come from file_sd files that
// syncMonitoring() rewrites; Prometheus picks them up without a restart.
// Pid files are named `mon-*`: `down` stops every recorded process, these included.

export type MonitoringProfile = 'production' | 'short';

export interface MonitoringConfig { basePort: number; profile: MonitoringProfile }

export interface MonitoringProcessStatus { name: string; pid: number | null; port: number; url: string; healthy: boolean }

export const monitorRole = 'aidiary_monitor';
/** Ports of the block: fixed slots, then one PostgreSQL exporter per node (pg-K at pgExporterBase + K). */
const slot = { prometheus: 0, nginxExporter: 1, mtail: 2, redisExporter: { sessions: 3, cache: 4 }, pgExporterBase: 5 } as const;
const maxPgNodes = 9;
const blockSize = slot.pgExporterBase + maxPgNodes;

const intervals: Record<MonitoringProfile, string> = { production: '15s', short: '2s' };

function dir(state: StateDir) { return join(state.root, 'monitoring'); }
function configFile(state: StateDir) { return join(dir(state), 'monitoring.json'); }
function targetsDir(state: StateDir) { return join(dir(state), 'targets'); }
export function monitorPasswordFile(state: StateDir) { return join(state.secretsDir, 'pg-monitor-password'); }

export function readMonitoringConfig(stateDir: string): MonitoringConfig | null {
  const file = configFile(new StateDir(stateDir));
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as MonitoringConfig) : null;
}

function atomicWrite(file: string, text: string, mode = 0o644) {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode });
  renameSync(tmp, file);
}

interface Proc { name: string; port: number; path: string; command: string; args: string[]; env?: NodeJS.ProcessEnv }

function pgExporterName(pgName: string) { return `mon-${pgName}-exporter`; }

/** Every monitoring process the topology needs, with its port and the path that answers when it is healthy. */
function processes(state: StateDir, t: Topology, c: MonitoringConfig): Proc[] {
  const d = dir(state);
  const host = '127.0.0.1';
  const listen = (port: number) => `${host}:${port}`;
  const redisPassword = state.readSecret(state.redisPasswordFile('exporter'));
  const procs: Proc[] = [
    {
      name: 'mon-prometheus', port: c.basePort + slot.prometheus, path: '/-/ready', command: 'prometheus',
      args: [
        `--config.file=${join(d, 'prometheus.yml')}`, `--storage.tsdb.path=${join(d, 'prometheus-data')}`,
        `--web.listen-address=${listen(c.basePort + slot.prometheus)}`, '--storage.tsdb.retention.time=2d', '--log.level=warn',
      ],
    },
    {
      name: 'mon-nginx-exporter', port: c.basePort + slot.nginxExporter, path: '/metrics', command: 'prometheus-nginx-exporter',
      args: [`-nginx.scrape-uri=http://${t.host}:${t.ports.stubStatus}/stub_status`, `-web.listen-address=${listen(c.basePort + slot.nginxExporter)}`],
    },
    {
      name: 'mon-mtail', port: c.basePort + slot.mtail, path: '/metrics', command: 'mtail',
      args: ['-progs', join(d, 'mtail'), '-logs', state.logFile('lb-access'), '-address', host, '-port', String(c.basePort + slot.mtail), '-logtostderr', '-emit_prog_label=false'],
    },
    ...redisNodes(state, t).map((r): Proc => ({
      name: `mon-${r.name}-exporter`, port: c.basePort + slot.redisExporter[r.role], path: '/metrics', command: 'prometheus-redis-exporter',
      args: [`-redis.addr=redis://${r.host}:${r.port}`, `-redis.user=${redisUsers.exporter}`, `-web.listen-address=${listen(c.basePort + slot.redisExporter[r.role])}`],
      env: { ...process.env, REDIS_PASSWORD: redisPassword },
    })),
    ...pgNodes(state, t).map(({ node }): Proc => {
      const port = c.basePort + slot.pgExporterBase + Number(node.name.replace(/^pg-/, ''));
      return {
        name: pgExporterName(node.name), port, path: '/metrics', command: 'prometheus-postgres-exporter',
        args: [`--web.listen-address=${listen(port)}`, `--extend.query-path=${join(d, 'postgres-queries.yaml')}`, '--log.level=warn'],
        env: {
          ...process.env,
          DATA_SOURCE_URI: `${node.host}:${node.port}/postgres?sslmode=disable`,
          DATA_SOURCE_USER: monitorRole,
          DATA_SOURCE_PASS_FILE: monitorPasswordFile(state),
        },
      };
    }),
  ];
  return procs;
}

/** nginx's access log: the state dir's logs/lb-access.log (nginx/render.ts writes it there). */
function writeConfigFiles(state: StateDir, t: Topology, c: MonitoringConfig, root: string) {
  const d = dir(state);
  mkdirSync(join(d, 'mtail'), { recursive: true });
  mkdirSync(targetsDir(state), { recursive: true });
  const every = intervals[c.profile];
  const profile = c.profile === 'short' ? shortProfile : productionProfile;
  atomicWrite(join(d, 'rules.yml'), renderAlertRulesYaml(profile, { header: `${alertRulesHeader}\nProfile: ${c.profile}.` }));
  atomicWrite(join(d, 'postgres-queries.yaml'), `${JSON.stringify(postgresExporterQueries(), null, 2)}\n`);
  atomicWrite(join(d, 'mtail', 'nginx-access.mtail'), readFileSync(join(root, 'infra/observability/nginx-access.mtail'), 'utf8'));
  const local = (port: number) => `127.0.0.1:${port}`;
  const redis = redisNodes(state, t).map((r) => ({ targets: [local(c.basePort + slot.redisExporter[r.role])], labels: { role: r.role } }));
  // JSON is YAML: Prometheus reads this file as its YAML config.
  const config = {
    global: { scrape_interval: every, evaluation_interval: every, scrape_timeout: c.profile === 'short' ? '1s' : '10s', external_labels: { cluster: 'local' } },
    rule_files: [join(d, 'rules.yml')],
    scrape_configs: [
      { job_name: 'prometheus', static_configs: [{ targets: [local(c.basePort + slot.prometheus)] }] },
      { job_name: 'aidiary-app', metrics_path: '/metrics', file_sd_configs: [{ files: [join(targetsDir(state), 'apps.json')], refresh_interval: '5s' }] },
      { job_name: 'aidiary-edge', static_configs: [{ targets: [local(c.basePort + slot.nginxExporter)] }] },
      { job_name: 'aidiary-edge-log', static_configs: [{ targets: [local(c.basePort + slot.mtail)] }] },
      { job_name: 'aidiary-redis', static_configs: redis },
      { job_name: 'aidiary-postgres', file_sd_configs: [{ files: [join(targetsDir(state), 'postgres.json')], refresh_interval: '5s' }] },
    ],
  };
  atomicWrite(join(d, 'prometheus.yml'), `# Generated by infra/local/monitoring.ts at every start.\n${JSON.stringify(config, null, 2)}\n`);
}

/** file_sd target lists from the current topology: apps and PostgreSQL exporters appear and disappear with `scale`. */
function writeTargets(state: StateDir, t: Topology, c: MonitoringConfig) {
  const apps = appNodes(t).map((a) => ({ targets: [`${t.host}:${a.port}`], labels: { node: a.name } }));
  const pg = pgNodes(state, t).map(({ node }) => ({
    targets: [`127.0.0.1:${c.basePort + slot.pgExporterBase + Number(node.name.replace(/^pg-/, ''))}`], labels: { node: node.name },
  }));
  atomicWrite(join(targetsDir(state), 'apps.json'), `${JSON.stringify(apps, null, 2)}\n`);
  atomicWrite(join(targetsDir(state), 'postgres.json'), `${JSON.stringify(pg, null, 2)}\n`);
}

/** The read-only monitoring role (pg_monitor), created or given its password on the primary; replicas get it by replication. */
async function ensureMonitorRole(state: StateDir, t: Topology) {
  const file = monitorPasswordFile(state);
  if (!existsSync(file)) writeFileSync(file, `${randomBytes(24).toString('base64url')}\n`, { mode: 0o600 });
  const password = state.readSecret(file);
  for (const { node } of pgNodes(state, t)) {
    if (!postmasterPid(node)) continue;
    const [r] = await superuserQuery<{ r: boolean }>(node, 'SELECT pg_is_in_recovery() AS r');
    if (r.r) continue;
    const exists = (await superuserQuery(node, 'SELECT 1 FROM pg_roles WHERE rolname = $1', [monitorRole])).length > 0;
    // base64url has no quote: the literal cannot be broken out of; the password travels inside the protocol only.
    await superuserQuery(node, `${exists ? 'ALTER' : 'CREATE'} ROLE ${monitorRole} LOGIN PASSWORD '${password}'`);
    await superuserQuery(node, `GRANT pg_monitor TO ${monitorRole}`);
    return;
  }
  throw new Error('no running PostgreSQL primary to create the monitoring role on; check `aidiary status`');
}

async function startProcess(state: StateDir, p: Proc): Promise<void> {
  if (isNodeProcess(p.name, state.readPid(p.name))) return;
  if (!(await isPortFree(p.port))) throw new Error(`port ${p.port} for ${p.name} is taken; stop what holds it, or remove ${configFile(state)} to pick a new block`);
  const pid = spawnDetached(p.command, { args: p.args, logFile: state.logFile(p.name), env: p.env ?? process.env, cwd: dir(state) });
  state.writePid(p.name, pid);
}

async function waitHealthy(state: StateDir, p: Proc, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await isHealthy(`http://127.0.0.1:${p.port}${p.path}`))) {
    const pid = state.readPid(p.name);
    if (!isAlive(pid)) throw new Error(`${p.name} exited; see ${state.logFile(p.name)}`);
    if (Date.now() > deadline) throw new Error(`${p.name} not healthy after ${timeoutMs} ms; see ${state.logFile(p.name)}`);
    await sleep(100);
  }
}

/**
 * A free block that also stays clear of every port the cluster may still take: apps up to 64
 * and PostgreSQL nodes up to 9 get ports of their own as `scale` adds them.
 */
async function monitoringBlock(t: Topology): Promise<number> {
  const reserved: [number, number][] = [
    [t.ports.appBase, t.ports.appBase + 63], [t.ports.pgBase, t.ports.pgBase + maxPgNodes - 1],
    ...[t.ports.lb, t.ports.stubStatus, t.ports.redisSessions, t.ports.redisCache].map((p): [number, number] => [p, p]),
  ];
  for (let attempt = 0; attempt < 20; attempt++) {
    const base = await freePortBlock(blockSize);
    if (reserved.every(([lo, hi]) => base + blockSize - 1 < lo || base > hi)) return base;
  }
  throw new Error('no free port block for monitoring clear of the cluster\'s ports');
}

/** Starts (or completes) the monitoring processes of a running cluster. */
export async function startMonitoring(stateDir: string, opts: { profile?: MonitoringProfile; log?: (m: string) => void } = {}): Promise<MonitoringProcessStatus[]> {
  const state = new StateDir(stateDir);
  const s = state.read();
  if (!s) throw new Error(`no cluster in ${state.root}; run \`aidiary up\` first`);
  const t = s.topology;
  const missing = ['prometheus', 'prometheus-postgres-exporter', 'prometheus-redis-exporter', 'prometheus-nginx-exporter', 'mtail'].filter((b) => !existsSync(`/usr/bin/${b}`));
  if (missing.length) throw new Error(`monitoring needs Debian's ${missing.join(', ')}; run \`sudo node scripts/ensure-system.mjs --with-monitoring\``);
  const previous = readMonitoringConfig(stateDir);
  let basePort = previous?.basePort;
  if (basePort === undefined) basePort = await monitoringBlock(t);
  const c: MonitoringConfig = { basePort, profile: opts.profile ?? previous?.profile ?? 'production' };
  mkdirSync(dir(state), { recursive: true });
  atomicWrite(configFile(state), `${JSON.stringify(c, null, 2)}\n`);
  await ensureMonitorRole(state, t);
  writeConfigFiles(state, t, c, projectRoot());
  writeTargets(state, t, c);
  const procs = processes(state, t, c);
  for (const p of procs) await startProcess(state, p);
  await Promise.all(procs.map((p) => waitHealthy(state, p)));
  opts.log?.(`monitoring: Prometheus on http://127.0.0.1:${c.basePort + slot.prometheus}/ (${c.profile} profile)`);
  return monitoringStatus(stateDir);
}

/**
 * After `scale`: rewrites the file_sd targets and starts/stops PostgreSQL exporters so that they
 * match the topology. A no-op when monitoring does not run.
 */
export async function syncMonitoring(stateDir: string): Promise<void> {
  const state = new StateDir(stateDir);
  const c = readMonitoringConfig(stateDir);
  const s = state.read();
  if (!c || !s || !isNodeProcess('mon-prometheus', state.readPid('mon-prometheus'))) return;
  const t = s.topology;
  const procs = processes(state, t, c);
  for (const p of procs) await startProcess(state, p);
  await Promise.all(procs.map((p) => waitHealthy(state, p)));
  const wanted = new Set(procs.map((p) => p.name));
  for (const { node, pid } of state.pidFiles()) {
    if (!node.startsWith('mon-') || wanted.has(node)) continue;
    if (isNodeProcess(node, pid)) await stopPid(pid!);
    state.removePid(node);
  }
  writeTargets(state, t, c);
}

/** Stops every monitoring process (down also does, through the pid files). */
export async function stopMonitoring(stateDir: string): Promise<string[]> {
  const state = new StateDir(stateDir);
  const stopped: string[] = [];
  await Promise.all(state.pidFiles().filter((p) => p.node.startsWith('mon-')).map(async ({ node, pid }) => {
    if (isNodeProcess(node, pid)) await stopPid(pid!);
    state.removePid(node);
    stopped.push(node);
  }));
  return stopped.sort();
}

/** `status --json`'s `monitoring` list: empty when monitoring was never started in this state dir. */
export async function monitoringStatus(stateDir: string): Promise<MonitoringProcessStatus[]> {
  const state = new StateDir(stateDir);
  const c = readMonitoringConfig(stateDir);
  const s = state.read();
  if (!c || !s) return [];
  const running = state.pidFiles().filter((p) => p.node.startsWith('mon-')).map((p) => p.node);
  // Listed while any runs: a stopped cluster's monitoring list is empty, like its other pids.
  if (!running.length) return [];
  return Promise.all(processes(state, s.topology, c).map(async (p) => {
    const pid = state.readPid(p.name);
    const live = isNodeProcess(p.name, pid) ? pid : null;
    const url = `http://127.0.0.1:${p.port}${p.name === 'mon-prometheus' ? '/' : p.path}`;
    return { name: p.name, pid: live, port: p.port, url, healthy: live !== null && (await isHealthy(`http://127.0.0.1:${p.port}${p.path}`)) };
  }));
}
