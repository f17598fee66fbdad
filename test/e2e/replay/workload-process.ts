import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, fchownSync, openSync, readFileSync } from 'node:fs';
import { httpGet } from '../../../infra/local/http-probe';
import type { Probe } from './declared-workloads';
import type { LocalWorkload } from './localize';

// Runs a localized workload as a process with exactly its argv, environment (nothing inherited
// from the test), working directory and user, and keeps the tail of its output for messages.

export interface Exit { code: number | null; signal: NodeJS.Signals | null; error?: Error }

const asUser = (u: { uid: number; gid: number }) => (process.getuid?.() === 0 && (u.uid !== 0 || u.gid !== 0) ? { uid: u.uid, gid: u.gid } : {});

export class WorkloadProcess {
  readonly exited: Promise<Exit>;
  private done: Exit | null = null;
  private readonly child: ChildProcess;

  /**
   * Output goes to `logFile`, owned by the workload's user: a program that reopens /dev/stdout or
   * /dev/stderr (nginx's error_log) needs a file or a pipe there, as in a container, not a socket.
   */
  constructor(readonly w: LocalWorkload, readonly logFile: string) {
    const fd = openSync(logFile, 'a', 0o640);
    try {
      fchownSync(fd, w.user.uid, w.user.gid);
      this.child = spawn(w.argv[0], w.argv.slice(1), { cwd: w.cwd, env: w.env, ...asUser(w.user), detached: true, stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd);
    }
    this.exited = new Promise((resolve) => {
      this.child.once('error', (error) => { this.done = { code: null, signal: null, error }; resolve(this.done); });
      this.child.once('exit', (code, signal) => { this.done = { code, signal }; resolve(this.done); });
    });
  }

  /** The output so far. */
  output(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  running(): boolean {
    return this.done === null;
  }

  tail(n = 40): string {
    const lines = this.output().split('\n').filter((l) => l.trim()).slice(-n);
    return lines.length ? lines.map((l) => `    | ${l}`).join('\n') : '    | (no output)';
  }

  /** What happened, for a failure message: exit status or the spawn error. */
  status(): string {
    if (!this.done) return 'still running';
    if (this.done.error) return `could not start \`${this.w.argv[0]}\`: ${this.done.error.message}`;
    return this.done.signal ? `killed by ${this.done.signal}` : `exited with code ${this.done.code}`;
  }

  /** The signal to the process, then SIGKILL to its whole group after `timeoutMs`. */
  async stop(signal: NodeJS.Signals, timeoutMs = 15_000): Promise<void> {
    if (!this.running() || !this.child.pid) return;
    try {
      process.kill(this.child.pid, signal);
    } catch { /* gone */ }
    const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), timeoutMs).unref());
    if (await Promise.race([this.exited, timer]) === 'timeout') {
      try {
        process.kill(-this.child.pid, 'SIGKILL');
      } catch { /* gone */ }
      await this.exited;
    }
    // Children that outlived their parent (nginx workers, postgres backends) go with the group.
    try {
      process.kill(-this.child.pid, 'SIGKILL');
    } catch { /* none left */ }
  }
}

export function failure(w: LocalWorkload, expected: string, detail: string, proc?: WorkloadProcess): Error {
  return new Error([
    `${w.name} (${w.declared.source}, stack ${w.declared.stack}): expected ${expected}; ${detail}`,
    `  argv: ${JSON.stringify(w.argv)}`,
    `  address ${w.address}, root ${w.root}`,
    ...(proc ? ['  last output:', proc.tail()] : []),
  ].join('\n'));
}

/** Runs an exec probe inside the workload (the container's user, env, cwd); resolves to its exit code and output. */
export function runInside(w: LocalWorkload, argv: string[], timeoutMs = 5000): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), { cwd: w.cwd, env: w.env, ...asUser(w.probeUser), stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
    let output = '';
    child.stdout!.on('data', (c: Buffer) => { output += c.toString(); });
    child.stderr!.on('data', (c: Buffer) => { output += c.toString(); });
    child.once('error', (err) => resolve({ code: null, output: err.message }));
    child.once('exit', (code) => resolve({ code, output: output.trim() }));
  });
}

/** One try of the declared readiness probe: exec (exit 0) or httpGet (200-399 on the pod address). */
export async function probeOnce(w: LocalWorkload, probe: Probe): Promise<{ ok: boolean; detail: string }> {
  if (probe.kind === 'exec') {
    const r = await runInside(w, probe.argv);
    return { ok: r.code === 0, detail: `${JSON.stringify(probe.argv)} → exit ${r.code}${r.output ? `: ${r.output.slice(0, 300)}` : ''}` };
  }
  const url = `${probe.scheme}://${w.address}:${probe.port}${probe.path}`;
  try {
    const res = await httpGet(url, 2000);
    return { ok: res.status >= 200 && res.status < 400, detail: `GET ${url} → ${res.status}` };
  } catch (err) {
    return { ok: false, detail: `GET ${url} → ${(err as Error).message}` };
  }
}
