import { spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../app/project-root';
import { backupsDir } from '../../infra/local/backup';
import { BASE_PORT_SPAN, localTopology } from '../../infra/local/cluster-layout';
import { freePortBlock } from '../../infra/local/process';
import { StateDir } from '../../infra/local/state';
import type { ClusterStatus } from '../../infra/local/status';
import { runBuiltCli } from '../integration/built-cli-helpers';

// The CLI contract of ARCHITECTURE.md, checked on the built CLI (`node dist/cli.mjs`, as operators
// and the images run it) with no terminal and no inherited AIDIARY_* variables: help and
// --version, exit codes, bad values named with the fix, confirmation of destructive commands, and
// the status shape. No cluster runs: `recorded` holds a cluster recorded in its state dir but
// stopped (what `aidiary down` leaves), which is all these answers need; they never change it.

const root = mkdtempSync(join(tmpdir(), 'aidiary-cli-contract-'));
const empty = join(root, 'empty');
const recorded = join(root, 'recorded');
const version = (JSON.parse(readFileSync(join(projectRoot(), 'package.json'), 'utf8')) as { version: string }).version;
const cli = (args: string[], env: Record<string, string> = {}) => runBuiltCli(args, env, { timeoutMs: 20_000 });
let stateJson = '';

beforeAll(async () => {
  mkdirSync(empty);
  const state = new StateDir(recorded);
  state.ensureLayout();
  state.write({ version: 1, topology: localTopology({ basePort: await freePortBlock(BASE_PORT_SPAN) }), createdAt: new Date().toISOString(), seeded: true, supervisorPid: null });
  stateJson = readFileSync(state.stateFile, 'utf8');
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

/** The state is exactly as written: a refused, declined or dry-run command changed nothing. */
const unchanged = () => expect(readFileSync(join(recorded, 'state.json'), 'utf8')).toBe(stateJson);

describe('help and version', () => {
  it('aidiary --help lists every command and the exit codes; no command at all is a usage error', async () => {
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    for (const c of ['up', 'status', 'down', 'scale', 'failover', 'logs', 'seed', 'migrate', 'admin', 'release', 'drill', 'bench', 'backup', 'restore']) {
      expect(help.stdout).toMatch(new RegExp(`^  ${c}\\b`, 'm'));
    }
    expect(help.stdout).toContain('Exit codes: 0 ok, 1 failure, 2 usage error');
    const none = await cli([]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('Usage: aidiary');
  });

  it('aidiary <command> --help lists the command\'s options, the ones the old usage text left out included', async () => {
    const expected: Record<string, string[]> = {
      up: ['--detach', '--apps', '--db-replicas', '--port', '--base-port', '--seed-posts', '--state-dir', '--json', '--out'],
      failover: ['--to', '--planned', '--yes', '--dry-run'],
      bench: ['--duration', '--warmup', '--connections', '--threads', '--scenario', '--rounds', '--url', '--results-dir'],
      logs: ['--lines', '--request-id', '--follow'],
      restore: ['--time', '--yes', '--dry-run'],
      scale: ['--apps', '--db-replicas', '--yes', '--dry-run'],
    };
    for (const [command, options] of Object.entries(expected)) {
      const r = await cli([command, '--help']);
      expect(r.code, command).toBe(0);
      expect(r.stdout).toContain(`Usage: aidiary ${command}`);
      for (const o of options) expect(r.stdout, `${command} ${o}`).toContain(o);
    }
    const sub = await cli(['admin', 'reset-password', '--help']);
    expect(sub.code).toBe(0);
    expect(sub.stdout).toContain('--password-file');
  });

  it('--version prints package.json\'s version', async () => {
    const r = await cli(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(version);
  });
});

describe('usage errors exit 2 naming the option and the fix', () => {
  it.each([
    [['logs', '--lines', 'abc'], /aidiary logs: option '-n, --lines <n>' argument 'abc' is invalid\. Give a whole number ≥ 1\./],
    [['scale', '--apps', '-1'], /aidiary scale: option '--apps <n>' argument '-1' is invalid\. Give a whole number from 1 to 64\./],
    [['up', '--port', '99999'], /aidiary up: option '--port <p>' argument '99999' is invalid\. Give a whole number from 1 to 65535\./],
    [['restore', '--time', 'yesterday'], /Give a date-time such as 2026-01-31T12:00:00Z/],
    [['failover', '--to', 'primary'], /Give a PostgreSQL node name such as pg-1/],
    [['status', '--jsn'], /unknown option '--jsn'\n\(Did you mean --json\?\)/],
    [['stauts'], /aidiary: unknown command 'stauts'\n\(Did you mean status\?\)/],
    [['drill'], /aidiary drill: missing required argument 'scenario'/],
    [['drill', 'kill-app', '--target', 'k8s'], /aidiary drill: option '--target <where>' argument 'k8s' is invalid\. Give one of: local, docker, kubernetes\./],
    [['drill', 'kill-app', '--target', 'docker'], /aidiary drill: --target docker needs --admin-password-file FILE/],
    [['drill', 'restore', '--target', 'kubernetes', '--url', 'https://blog.example', '--admin-password-file', 'pw'], /restore on --target kubernetes: the restore drill runs on the local cluster only/],
    [['drill', 'kill-app', '--namespace', 'blog', '--state-dir', recorded], /aidiary drill: --namespace: only with --target docker or kubernetes; the local cluster is found through --state-dir/],
    [['scale', '--state-dir', recorded], /aidiary scale: give --apps N and\/or --db-replicas M/],
  ])('%j', async (args, message) => {
    const r = await cli(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(/--help/);
    expect(r.stdout).toBe('');
  });
});

describe('exit 3: no cluster in the state dir', () => {
  it.each([['status'], ['down'], ['scale', '--apps', '2'], ['failover'], ['logs'], ['restore']])('%s', async (...args) => {
    const r = await cli([...args, '--state-dir', empty]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`no cluster in ${empty}; run \`aidiary up\` first`);
  });
});

describe('status of a recorded cluster whose nodes are down', () => {
  it('exits 4 (degraded) with the grown --json shape, also written by --out', async () => {
    const out = join(root, 'status.json');
    const r = await cli(['status', '--json', '--out', out, '--state-dir', recorded]);
    expect(r.code).toBe(4);
    const s = JSON.parse(r.stdout) as ClusterStatus;
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual(s);
    expect(s.monitoring).toEqual([]);
    expect(s.cdn).toBeNull();
    expect(s.postgres.map((p) => p.name)).toEqual(['pg-0', 'pg-1', 'pg-2']);
    for (const p of s.postgres) {
      expect(p).toMatchObject({ healthy: false, pid: null, streaming: null, timeline: null, replayLagBytes: null, lagBytes: null });
    }
    const text = await cli(['status', '--state-dir', recorded]);
    expect(text.code).toBe(4);
    expect(text.stdout).toMatch(/^pg-1 +replica +- +\d+ +DOWN/m);
  });
});

describe('confirmation of destructive commands (no terminal here)', () => {
  it('an unplanned failover without --yes exits 2 naming --yes and AIDIARY_ASSUME_YES, and changes nothing', async () => {
    const r = await cli(['failover', '--state-dir', recorded]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no terminal to confirm on; pass --yes \(or set AIDIARY_ASSUME_YES=1\)/);
    unchanged();
  });

  it('a scale-down that removes a DB node asks; one that removes apps only does not', async () => {
    const r = await cli(['scale', '--db-replicas', '1', '--state-dir', recorded]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/pass --yes/);
    unchanged();
    // Past the question, the runner refuses on its own terms (the cluster is stopped): exit 1, not 2.
    const apps = await cli(['scale', '--apps', '2', '--state-dir', recorded]);
    expect(apps.code).toBe(1);
    expect(apps.stderr).toMatch(/not running/);
  });

  it('--yes and AIDIARY_ASSUME_YES=1 answer the question (the stopped cluster then fails the scale with exit 1)', async () => {
    for (const [args, env] of [[['--yes'], {}], [[], { AIDIARY_ASSUME_YES: '1' }]] as const) {
      const r = await cli(['scale', '--db-replicas', '1', ...args, '--state-dir', recorded], env);
      expect(r.code, JSON.stringify(env)).toBe(1);
      expect(r.stderr).not.toMatch(/pass --yes/);
      expect(r.stderr).toMatch(/not running/);
    }
    unchanged();
  });

  it('--dry-run prints the plan, asks nothing and changes nothing (text and --json)', async () => {
    const scale = await cli(['scale', '--db-replicas', '1', '--apps', '4', '--dry-run', '--state-dir', recorded]);
    expect(scale.code).toBe(0);
    expect(scale.stdout).toContain('plan: scale to 4 app(s) and 1 DB replica(s) (now 3 and 2)');
    expect(scale.stdout).toContain('add app-3 and put it behind nginx');
    expect(scale.stdout).toMatch(/stop pg-2, drop its replication slot and delete its data directory \//);
    expect(scale.stdout).toContain('(dry run: nothing changed)');
    const failover = await cli(['failover', '--to', 'pg-2', '--dry-run', '--json', '--state-dir', recorded]);
    expect(failover.code).toBe(0);
    const plan = JSON.parse(failover.stdout) as { dryRun: boolean; command: string; summary: string; steps: string[] };
    expect(plan).toMatchObject({ dryRun: true, command: 'failover' });
    expect(plan.steps.join('\n')).toContain('promote pg-2');
    const planned = await cli(['failover', '--planned', '--dry-run', '--state-dir', recorded]);
    expect(planned.stdout).toContain('no write is lost');
    unchanged();
  });

  it('restore: no backup is a failure before any question; with one, the plan names it and the flag is needed', async () => {
    const none = await cli(['restore', '--state-dir', recorded]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('no base backup; run `aidiary backup` first');
    const dir = join(backupsDir(recorded), 'b1');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(backupsDir(recorded), 'b1.json'), JSON.stringify({ id: 'b1', dir, fromNode: 'pg-0', startedAt: '2026-01-01T00:00:00Z', finishedAt: '2026-01-01T00:00:01Z' }));
    const refused = await cli(['restore', '--state-dir', recorded]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/restore pg-0 from backup b1 to the end of the WAL archive: .*pass --yes/);
    const dry = await cli(['restore', '--time', '2026-02-01T00:00:00Z', '--dry-run', '--state-dir', recorded]);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('plan: restore pg-0 from backup b1 to 2026-02-01T00:00:00.000Z');
    expect(dry.stdout).toContain('re-clone the replicas from it: pg-1, pg-2');
    const early = await cli(['restore', '--time', '2025-01-01T00:00:00Z', '--state-dir', recorded]);
    expect(early.code).toBe(1);
    expect(early.stderr).toContain('no base backup finished before 2025-01-01T00:00:00.000Z');
    unchanged();
  });

  it('on a terminal the question is asked and "n" declines (exit 1, nothing changed)', async () => {
    // util-linux `script` gives the CLI a pseudo-terminal, as an operator's shell would.
    const command = `${process.execPath} ${join(projectRoot(), 'dist', 'cli.mjs')} scale --db-replicas 1 --state-dir ${recorded}`;
    const r = await new Promise<{ code: number | null; out: string }>((resolve, reject) => {
      const child = spawn('script', ['-qec', command, '/dev/null'], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', TERM: 'dumb' }, stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('[y/N]') && child.stdin.writable) child.stdin.end('n\n');
      });
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, out }));
    });
    expect(r.out).toContain('plan: scale to 3 app(s) and 1 DB replica(s)');
    expect(r.out).toContain('aidiary scale: go ahead? [y/N]');
    expect(r.out).toContain('scale: not confirmed; nothing changed');
    expect(r.code).toBe(1);
    unchanged();
  });
});

describe('logs', () => {
  const logs = join(recorded, 'logs');
  const rid = 'a3f9c2d4e5b60718293a4b5c6d7e8f90';
  beforeAll(() => {
    writeFileSync(join(logs, 'lb-access.log'), `127.0.0.1 [t] "GET / HTTP/1.1" 200 5 rt=0.001 up=127.0.0.1:1 ut=0.001 edge=MISS rid=${rid} client_rid="-"\n127.0.0.1 [t] "GET /x HTTP/1.1" 200 5 rid=0000 client_rid="-"\n`);
    writeFileSync(join(logs, 'app-0.log'), `{"level":30,"reqId":"${rid}","msg":"request completed"}\n{"level":30,"reqId":"other","msg":"request completed"}\n`);
    writeFileSync(join(logs, 'pg-0.log'), Array.from({ length: 50 }, (_, i) => `pg line ${i}`).join('\n') + '\n');
  });

  it('one node\'s tail, every log prefixed, and one request across edge and apps', async () => {
    const one = await cli(['logs', 'pg-0', '--lines', '3', '--state-dir', recorded]);
    expect(one.code).toBe(0);
    expect(one.stdout).toBe('pg line 47\npg line 48\npg line 49\n');
    const all = await cli(['logs', '-n', '1', '--state-dir', recorded]);
    expect(all.stdout.split('\n').filter(Boolean).sort()).toEqual(['app-0 | {"level":30,"reqId":"other","msg":"request completed"}', 'lb-access | 127.0.0.1 [t] "GET /x HTTP/1.1" 200 5 rid=0000 client_rid="-"', 'pg-0 | pg line 49']);
    const request = await cli(['logs', '--request-id', rid, '--json', '--state-dir', recorded]);
    expect(request.code).toBe(0);
    const found = JSON.parse(request.stdout) as { lines: { node: string; line: string }[] };
    expect(found.lines.map((l) => l.node).sort()).toEqual(['app-0', 'lb-access']);
    expect(found.lines.every((l) => l.line.includes(rid))).toBe(true);
    const unknown = await cli(['logs', 'pg-9', '--state-dir', recorded]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('no log for "pg-9"; known: app-0, lb-access, pg-0');
    const badId = await cli(['logs', '--request-id', 'x y', '--state-dir', recorded]);
    expect(badId.code).toBe(2);
  });

  it('-f prints appended lines (filtered by --request-id) until Ctrl-C, then exits 0', async () => {
    const child = spawn(process.execPath, [join(projectRoot(), 'dist', 'cli.mjs'), 'logs', '-f', '--request-id', rid, '--state-dir', recorded], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '' } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    const waitFor = async (text: string) => {
      for (let i = 0; i < 100 && !out.includes(text); i++) await new Promise((r) => setTimeout(r, 50));
      expect(out).toContain(text);
    };
    await waitFor('edge=MISS');
    appendFileSync(join(logs, 'app-0.log'), `{"reqId":"other","msg":"not this one"}\n{"reqId":"${rid}","msg":"followed"}\n`);
    await waitFor('"msg":"followed"');
    expect(out).not.toContain('not this one');
    const code = await new Promise<number | null>((resolve) => { child.on('close', resolve); child.kill('SIGINT'); });
    expect(code).toBe(0);
  });
});

