import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { descendants, processState, signalTree } from '../../infra/drills/process-tree';

// A PostgreSQL-shaped tree: a leader whose children each run in their own session (setsid, as
// every postmaster child does), so the leader's pid and process group do not reach them.

const children: ChildProcess[] = [];

async function setsidTree(): Promise<{ root: number; kids: number[] }> {
  const child = spawn('sh', ['-c', 'setsid sleep 60 & setsid sleep 60 & wait'], { detached: true, stdio: 'ignore' });
  children.push(child);
  const root = child.pid!;
  const deadline = Date.now() + 5000;
  // Ready once both children run `sleep` in a session of their own (before that, a forked shell
  // is still in the leader's group).
  const ownSession = (pid: number) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const [, , , session] = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
      return session === pid && stat.includes('(sleep)');
    } catch {
      return false;
    }
  };
  while (!(descendants(root).length === 2 && descendants(root).every(ownSession)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return { root, kids: descendants(root) };
}

const states = (pids: number[]) => pids.map(processState);

/** Signals are delivered asynchronously (the target must run to stop): poll until the states settle. */
async function settled(pids: number[], done: (s: (string | null)[]) => boolean): Promise<(string | null)[]> {
  const deadline = Date.now() + 3000;
  while (!done(states(pids)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  return states(pids);
}
const allStopped = (s: (string | null)[]) => s.every((x) => x === 'T');
const noneStopped = (s: (string | null)[]) => s.every((x) => x !== 'T');

afterEach(() => {
  for (const c of children.splice(0)) {
    try { signalTree(c.pid!, 'SIGKILL'); } catch { /* gone */ }
  }
});

describe('signalTree', () => {
  it('finds children that left the process group', async () => {
    const { root, kids } = await setsidTree();
    expect(kids).toHaveLength(2);
    // What the drill did before: a signal to the process group stops the leader only.
    process.kill(-root, 'SIGSTOP');
    expect(await settled([root], allStopped)).toEqual(['T']);
    await new Promise((r) => setTimeout(r, 100));
    expect(noneStopped(states(kids))).toBe(true);
    process.kill(-root, 'SIGCONT');
  });

  it('freezes and resumes the leader and every descendant', async () => {
    const { root, kids } = await setsidTree();
    expect(signalTree(root, 'SIGSTOP').sort()).toEqual([root, ...kids].sort());
    expect(await settled([root, ...kids], allStopped)).toEqual(['T', 'T', 'T']);
    signalTree(root, 'SIGCONT');
    expect(noneStopped(await settled([root, ...kids], noneStopped))).toBe(true);
  });

  it('kills the whole tree, children included', async () => {
    const { root, kids } = await setsidTree();
    signalTree(root, 'SIGKILL');
    const deadline = Date.now() + 5000;
    // Killed children are reaped by init (a zombie counts as gone: state Z).
    const alive = () => [root, ...kids].filter((pid) => !['Z', null].includes(processState(pid)));
    while (alive().length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(alive()).toEqual([]);
  });
});
