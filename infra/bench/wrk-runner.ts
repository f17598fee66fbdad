import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { projectRoot } from '../local/state';
import { parseWrkOutput, type WrkResult } from './wrk-result';

// Runs wrk (C, installed by apt: a Node load generator tops out near half of wrk on 2 cores) with
// one of our Lua scripts and parses the JSON its done() hook prints.

export const wrkBinary = existsSync('/usr/bin/wrk') ? '/usr/bin/wrk' : 'wrk';

export type WrkScript = 'single' | 'sequence';

/** What sequence.lua writes on stderr when a thread has requested every path of its stride. */
const exhaustedMark = 'sequence-exhausted';

export interface WrkRun {
  url: string;
  script: WrkScript;
  connections: number;
  threads: number;
  durationSeconds: number;
  /** A response slower than this drops out of wrk's histogram and counts as a timeout. */
  timeoutSeconds?: number;
  headers?: Record<string, string>;
  expectBytes?: { min: number; max: number };
  /** sequence.lua: file of paths, one per line, and a start offset. */
  pathsFile?: string;
  offset?: number;
  /** sequence.lua: stop once every path was requested (never re-request one). */
  once?: boolean;
  /** Aborting it stops wrk (the bench was interrupted); the run then rejects. */
  signal?: AbortSignal;
  /** Pin wrk to these CPUs (a taskset list, e.g. "1"): taskset execs wrk in place, same pid. */
  cpus?: string;
}

/** The wrk/ directory of Lua scripts, found from the source tree (works from dist/ too). */
export function wrkScriptPath(script: WrkScript): string {
  const fromSource = join(dirname(new URL(import.meta.url).pathname), 'wrk', `${script}.lua`);
  if (existsSync(fromSource)) return fromSource;
  return join(projectRoot(), 'infra', 'bench', 'wrk', `${script}.lua`);
}

export function wrkArgs(run: WrkRun): string[] {
  const connections = Math.max(run.connections, run.threads);
  const args = [
    `-t${run.threads}`, `-c${connections}`, `-d${Math.max(1, Math.round(run.durationSeconds))}s`,
    '--timeout', `${run.timeoutSeconds ?? 10}s`,
    '-s', wrkScriptPath(run.script),
    run.url,
    '--',
    `threads=${run.threads}`,
  ];
  for (const [name, value] of Object.entries(run.headers ?? {})) args.push(`header=${name}:${value}`);
  if (run.expectBytes) args.push(`min_bytes=${run.expectBytes.min}`, `max_bytes=${run.expectBytes.max}`);
  if (run.pathsFile) args.push(`paths=${run.pathsFile}`, `offset=${run.offset ?? 0}`);
  if (run.once) args.push('once=1');
  return args;
}

export function runWrk(run: WrkRun): Promise<WrkResult> {
  return new Promise((resolve, reject) => {
    // Interrupted before it started: an abort listener added now would never fire.
    if (run.signal?.aborted) {
      reject(run.signal.reason);
      return;
    }
    const [cmd, argv] = run.cpus ? ['taskset', ['-c', run.cpus, wrkBinary, ...wrkArgs(run)]] : [wrkBinary, wrkArgs(run)];
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    // once=1: wrk's main thread sleeps for the whole -d even after every thread stopped, but a
    // SIGINT ends the sleep and wrk still prints its report: send it when every thread is done.
    let exhaustedThreads = 0;
    child.stderr.on('data', (c: Buffer) => {
      const text = c.toString('utf8');
      const marks = text.split('\n').filter((line) => line === exhaustedMark).length;
      if (marks === 0) err.push(c);
      exhaustedThreads += marks;
      if (run.once && marks > 0 && exhaustedThreads >= run.threads && child.exitCode === null) child.kill('SIGINT');
    });
    child.on('error', (e) => reject(new Error(`cannot run ${wrkBinary} (apt install wrk)`, { cause: e })));
    const stop = () => { if (child.exitCode === null) child.kill('SIGTERM'); };
    run.signal?.addEventListener('abort', stop, { once: true });
    child.on('close', (code) => {
      run.signal?.removeEventListener('abort', stop);
      if (run.signal?.aborted) {
        reject(run.signal.reason);
        return;
      }
      const stdout = Buffer.concat(out).toString('utf8');
      if (code !== 0) {
        reject(new Error(`wrk exited with ${code}: ${Buffer.concat(err).toString('utf8').trim() || stdout.slice(-300)}`));
        return;
      }
      try {
        resolve(parseWrkOutput(stdout));
      } catch (e) {
        reject(e);
      }
    });
  });
}
