import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, closeSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderNginxConfig } from '../../nginx/render';
import type { Topology } from '../topology';
import { nginxBinary } from '../local/preflight';
import { freePort, isRoot, sleep, stopPid } from '../local/process';

// Processes the bench starts next to the cluster for two scenarios and stops at the end:
// - the node:http floor: a bare `node:http` server answering the home page's bytes, the least a
//   Node process can do per request (what the app tier is compared with);
// - a side nginx: the cluster's own nginx config (nginx/render.ts, same topology, same proxy and
//   upstream settings, access log on) rendered with another upstream list: the floor server, or
//   one app pinned to a core. A separate master on its own loopback port, so the cluster's nginx is
//   never reloaded under the bench.

/** The floor server's code: no framework, no routing, one preloaded body (run with `node -e`). */
const floorServerCode = `
const http = require('node:http');
const fs = require('node:fs');
const [port, bodyFile, keepAliveMs] = process.argv.slice(1);
const body = fs.readFileSync(bodyFile);
const headers = { 'content-type': 'text/html; charset=utf-8', 'content-length': String(body.length) };
const server = http.createServer((req, res) => { res.writeHead(200, headers); res.end(body); });
// Longer than nginx's upstream keep-alive, as the apps' (nginx closes idle sockets first).
server.keepAliveTimeout = Number(keepAliveMs);
server.headersTimeout = Number(keepAliveMs) + 5000;
server.listen(Number(port), '127.0.0.1', () => process.stdout.write('listening\\n'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;

export interface SideProcess {
  pid: number;
  /** Base URL (no trailing slash) or host:port. */
  url: string;
  port: number;
  stop(): Promise<void>;
}

function spawnLogged(command: string, args: string[], logFile: string, cpus?: string): ChildProcess {
  const fd = openSync(logFile, 'a');
  try {
    // taskset execs the command in place: the pid is the server's own.
    const [cmd, argv] = cpus ? ['taskset', ['-c', cpus, command, ...args]] : [command, args];
    return spawn(cmd, argv, { stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
}

async function waitForOk(url: string, headers: Record<string, string>, child: ChildProcess, what: string, logFile: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  let last = '';
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited (${child.exitCode}) before it answered; see ${logFile}`);
    try {
      const res = await fetch(url, { headers, signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(100);
  }
  throw new Error(`${what} did not answer 200 at ${url} within 20 s (${last}); see ${logFile}`);
}

export async function startFloorServer(work: string, body: Buffer, keepAliveMs: number): Promise<SideProcess> {
  const bodyFile = join(work, 'floor-body.html');
  writeFileSync(bodyFile, body);
  const port = await freePort();
  const log = join(work, 'node-floor.log');
  const child = spawnLogged(process.execPath, ['-e', floorServerCode, String(port), bodyFile, String(keepAliveMs)], log);
  await waitForOk(`http://127.0.0.1:${port}/`, {}, child, 'the node:http floor server', log);
  return { pid: child.pid!, url: `http://127.0.0.1:${port}`, port, stop: () => stopPid(child.pid!, 'SIGTERM', 5000) };
}

/**
 * nginx with the cluster's config and `servers` as its upstream. `cpus` pins it (taskset list);
 * `probeHeaders` go with the readiness request (the edge bypass, so the probe reaches the upstream).
 */
export async function startSideNginx(opts: {
  work: string;
  name: string;
  topology: Topology;
  staticRoot: string;
  servers: { host: string; port: number }[];
  cpus?: string;
  probeHeaders?: Record<string, string>;
}): Promise<SideProcess> {
  const prefix = join(opts.work, opts.name);
  mkdirSync(join(prefix, 'tmp'), { recursive: true });
  const listenPort = await freePort();
  let stubStatusPort = await freePort();
  while (stubStatusPort === listenPort) stubStatusPort = await freePort();
  const conf = renderNginxConfig({
    topology: opts.topology,
    upstream: { kind: 'static', servers: opts.servers },
    listenPort,
    stubStatusPort,
    paths: {
      prefix,
      pidFile: join(prefix, 'nginx.pid'),
      errorLog: join(prefix, 'error.log'),
      accessLog: join(prefix, 'access.log'),
      cacheDir: join(prefix, 'cache'),
      tempDir: join(prefix, 'tmp'),
      staticRoot: opts.staticRoot,
    },
    // The bench's temp dir is 0700: under root the workers run as root, as the cluster's do when
    // `nobody` cannot reach its files (infra/local/nginx-process.ts).
    workerUser: isRoot() ? 'root' : undefined,
  });
  const confFile = join(prefix, 'nginx.conf');
  writeFileSync(confFile, conf);
  const log = join(prefix, 'error.log');
  const check = spawnSync(nginxBinary(), ['-t', '-q', '-p', prefix, '-c', confFile, '-e', log], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`nginx rejected the bench's ${opts.name} config ${confFile}: ${(check.stderr || check.stdout).trim()}`);
  const child = spawnLogged(nginxBinary(), ['-p', prefix, '-c', confFile, '-e', log], log, opts.cpus);
  const url = `http://127.0.0.1:${listenPort}`;
  await waitForOk(`${url}/`, opts.probeHeaders ?? {}, child, `the bench's ${opts.name} nginx`, log);
  return { pid: child.pid!, url, port: listenPort, stop: () => stopPid(child.pid!, 'SIGQUIT', 10_000) };
}

/** The affinity list of a process (`taskset -c -p`), e.g. "0,1" or "0-1". */
export function affinityOf(pid: number): string {
  const r = spawnSync('taskset', ['-c', '-p', String(pid)], { encoding: 'utf8' });
  const m = (r.stdout ?? '').match(/affinity list:\s*(\S+)/);
  if (r.status !== 0 || !m) throw new Error(`taskset -c -p ${pid}: ${(r.stderr || r.stdout || '').trim() || `exit ${r.status}`}`);
  return m[1];
}

/** Pins every thread of a process (taskset -a) to a CPU list. */
export function pinProcess(pid: number, cpus: string): void {
  const r = spawnSync('taskset', ['-a', '-c', '-p', cpus, String(pid)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`taskset -a -c -p ${cpus} ${pid}: ${(r.stderr || r.stdout || '').trim() || `exit ${r.status}`}`);
}

export function tasksetAvailable(): boolean {
  return spawnSync('taskset', ['-V'], { stdio: 'ignore' }).status === 0;
}
