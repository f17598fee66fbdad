import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { InvalidArgumentError } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { integer, port } from '../../infra/cli/args';
import { confirm, type ConfirmIo, type Plan } from '../../infra/cli/confirm';
import { exitCodeOf, exitCodes, NoClusterError, UsageError } from '../../infra/cli/exit-codes';
import { buildProgram } from '../../infra/cli/main';
import { localTopology } from '../../infra/local/cluster-layout';
import { emitResult } from '../../infra/cli/output';

// The CLI's building blocks (infra/cli/args.ts, confirm.ts, output.ts, exit-codes.ts) and the
// program's declared commands. The built CLI is exercised end to end in test/e2e/cli-contract.test.ts.

const plan: Plan = { summary: 'scale to 3 app(s) and 1 DB replica(s)', steps: ['stop pg-2 and delete its data directory'] };

/** Streams standing for a terminal (or not), and the stderr text written to them. */
function io(opts: { tty: boolean; answer?: string; env?: NodeJS.ProcessEnv }): ConfirmIo & { written: () => string } {
  const stdin = Object.assign(new PassThrough(), { isTTY: opts.tty });
  const stderr = Object.assign(new PassThrough(), { isTTY: opts.tty });
  const chunks: string[] = [];
  stderr.on('data', (c: Buffer) => {
    chunks.push(c.toString());
    // Answer once the question is on screen, as a person would.
    if (opts.answer !== undefined && c.toString().includes('[y/N]')) stdin.write(`${opts.answer}\n`);
  });
  return { stdin, stderr, env: opts.env ?? {}, written: () => chunks.join('') };
}

afterEach(() => vi.restoreAllMocks());

describe('option values', () => {
  it('integer() takes whole numbers in range and says what it wants otherwise', () => {
    const lines = integer(1);
    expect(lines('200')).toBe(200);
    for (const bad of ['abc', '1.5', '0', '-1', '', '1e3', '0x10']) {
      expect(() => lines(bad), bad).toThrow(InvalidArgumentError);
    }
    expect(() => lines('abc')).toThrow('Give a whole number ≥ 1.');
    const apps = integer(1, 64);
    expect(apps('64')).toBe(64);
    expect(() => apps('65')).toThrow('Give a whole number from 1 to 64.');
  });

  it('port() is 1-65535', () => {
    expect(port('8080')).toBe(8080);
    expect(() => port('99999')).toThrow('from 1 to 65535');
    expect(() => port('0')).toThrow(InvalidArgumentError);
  });
});

describe('confirmation of destructive commands', () => {
  it('--dry-run prints the plan and decides nothing else', async () => {
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const t = io({ tty: false });
    expect(await confirm('scale', plan, { dryRun: true, yes: true }, true, t)).toBe('dry-run');
    const text = out.mock.calls.map((c) => String(c[0])).join('');
    expect(text).toContain('plan: scale to 3 app(s) and 1 DB replica(s)');
    expect(text).toContain('1. stop pg-2 and delete its data directory');
    expect(text).toContain('dry run: nothing changed');
  });

  it('--dry-run --json prints the plan as JSON', async () => {
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    expect(await confirm('scale', plan, { dryRun: true, json: true }, true, io({ tty: true }))).toBe('dry-run');
    expect(JSON.parse(out.mock.calls.map((c) => String(c[0])).join(''))).toEqual({ dryRun: true, command: 'scale', ...plan });
  });

  it('without a terminal: refused as a usage error naming --yes and AIDIARY_ASSUME_YES', async () => {
    const attempt = confirm('scale', plan, {}, true, io({ tty: false }));
    await expect(attempt).rejects.toThrow(UsageError);
    await expect(confirm('scale', plan, {}, true, io({ tty: false }))).rejects.toThrow(/pass --yes \(or set AIDIARY_ASSUME_YES=1\)/);
  });

  it('--yes or AIDIARY_ASSUME_YES=1 proceeds without asking; other values of the variable do not count', async () => {
    expect(await confirm('scale', plan, { yes: true }, true, io({ tty: false }))).toBe('proceed');
    expect(await confirm('scale', plan, {}, true, io({ tty: false, env: { AIDIARY_ASSUME_YES: '1' } }))).toBe('proceed');
    await expect(confirm('scale', plan, {}, true, io({ tty: false, env: { AIDIARY_ASSUME_YES: 'true' } }))).rejects.toThrow(UsageError);
  });

  it('on a terminal: shows the plan and asks; only y/yes goes ahead', async () => {
    for (const [answer, decision] of [['y', 'proceed'], ['YES', 'proceed'], ['n', 'declined'], ['', 'declined'], ['sure', 'declined']] as const) {
      const t = io({ tty: true, answer });
      expect(await confirm('scale', plan, {}, true, t), `answer "${answer}"`).toBe(decision);
      expect(t.written()).toContain('plan: scale to 3 app(s)');
      expect(t.written()).toContain('aidiary scale: go ahead? [y/N]');
    }
  });

  it('a plan given as a function is made only when shown: --yes never probes the cluster', async () => {
    const makePlan = vi.fn(async () => plan);
    expect(await confirm('failover', makePlan, { yes: true }, true, io({ tty: false }))).toBe('proceed');
    expect(await confirm('failover', makePlan, {}, false, io({ tty: false }))).toBe('proceed');
    expect(makePlan).not.toHaveBeenCalled();
    await expect(confirm('failover', makePlan, {}, true, io({ tty: false }))).rejects.toThrow(`${plan.summary}: this cannot be undone`);
    expect(makePlan).toHaveBeenCalledTimes(1);
  });

  it('a non-destructive variant (planned switchover, fewer apps) does not ask', async () => {
    expect(await confirm('failover', plan, {}, false, io({ tty: false }))).toBe('proceed');
  });
});

describe('output and exit codes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'aidiary-cli-args-'));
  afterEach(() => rmSync(join(dir, 'out.json'), { force: true }));

  it('--out writes the JSON with or without --json; --json replaces the text on stdout', () => {
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const file = join(dir, 'out.json');
    emitResult({ out: file }, { a: 1 }, 'a is 1');
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ a: 1 });
    expect(out.mock.calls.map((c) => String(c[0]))).toEqual(['a is 1\n']);
    out.mockClear();
    emitResult({ json: true }, { a: 2 }, 'a is 2');
    expect(JSON.parse(out.mock.calls.map((c) => String(c[0])).join(''))).toEqual({ a: 2 });
  });

  it('maps errors to the documented codes', () => {
    expect(exitCodes).toEqual({ ok: 0, failure: 1, usage: 2, noCluster: 3, degraded: 4 });
    expect(exitCodeOf(new UsageError('x'))).toBe(2);
    expect(exitCodeOf(new NoClusterError('/tmp/x'))).toBe(3);
    expect(exitCodeOf(new Error('x'))).toBe(1);
    expect(new NoClusterError('/tmp/x').message).toMatch(/^no cluster in \/tmp\/x; run `aidiary up` first/);
  });
});

describe('topology options are kept in the state', () => {
  it('counts given once are what the next up (no flags) and scale start from, as the runner builds them', () => {
    // infra/local/runner.ts: up → localTopology({ apps, dbReplicas, port }, previous.topology);
    // scale → localTopology({ apps, dbReplicas }, recorded topology).
    const created = localTopology({ apps: 5, dbReplicas: 1, basePort: 30000 });
    const nextUp = localTopology({ apps: undefined, dbReplicas: undefined, port: undefined }, created);
    expect([nextUp.appReplicas, nextUp.dbReplicas, nextUp.ports.lb]).toEqual([5, 1, 30000]);
    const scaled = localTopology({ dbReplicas: 2 }, nextUp);
    expect([scaled.appReplicas, scaled.dbReplicas]).toEqual([5, 2]);
  });
});

describe('the program', () => {
  const program = buildProgram(() => {});
  const byName = (n: string) => program.commands.find((c) => c.name() === n)!;

  it('declares every command, each with its own help', () => {
    expect(program.commands.map((c) => c.name()).sort()).toEqual(
      ['admin', 'backup', 'bench', 'down', 'drill', 'failover', 'logs', 'migrate', 'release', 'restore', 'scale', 'seed', 'status', 'up']);
    for (const c of program.commands) expect(c.description(), c.name()).not.toBe('');
  });

  it('every command that reports takes --json and --out; every local-cluster command takes --state-dir', () => {
    for (const c of program.commands.filter((x) => x.name() !== 'admin')) {
      const flags = c.options.map((o) => o.long);
      expect(flags, c.name()).toEqual(expect.arrayContaining(['--json', '--out']));
      if (!['migrate', 'release'].includes(c.name())) expect(flags, c.name()).toContain('--state-dir');
    }
  });

  it('the destructive commands take --yes and --dry-run', () => {
    for (const name of ['restore', 'failover', 'scale']) {
      expect(byName(name).options.map((o) => o.long), name).toEqual(expect.arrayContaining(['--yes', '--dry-run']));
    }
    expect(byName('failover').options.map((o) => o.long)).toContain('--planned');
    expect(byName('bench').options.map((o) => o.long)).toContain('--rounds');
    expect(byName('logs').options.map((o) => o.long)).toEqual(expect.arrayContaining(['--request-id', '--follow', '--lines']));
  });
});
